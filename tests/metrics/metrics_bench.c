/* Cost of the hot-path metric operations, single-threaded and uncontended:
 * the median over batches of the time per operation.
 *
 *   metrics_bench [--quick]
 *
 * --quick runs few batches (a smoke test; numbers are then rough). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/asylo_metrics.h"
#include "metrics/metrics.h"

#define BATCH 1000

static double now_ns(void) {
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (double)time.tv_sec * 1e9 + (double)time.tv_nsec;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct context {
    asylo__counter *counter;
    asylo__gauge *gauge;
    asylo__histogram *histogram;
    asylo__metric_family *calls;
    asylo__std_metrics *std;
    asylo__call_series series;
} context;

static void op_counter_inc(context *c, int i) {
    (void)i;
    asylo__counter_inc(c->counter);
}

static void op_gauge_add(context *c, int i) {
    (void)i;
    asylo__gauge_add(c->gauge, 1);
}

static void op_histogram_observe(context *c, int i) {
    asylo__histogram_observe(c->histogram, 0.0001 * (i % 64));
}

static void op_counter_get(context *c, int i) {
    static const char *const codes[] = {"OK", "INTERNAL", "NOT_FOUND", "UNAVAILABLE"};
    asylo__counter_inc(
        asylo__counter_get(c->calls, (const char *[]){"enter", "4096", codes[i & 3]}));
}

static void op_record_call(context *c, int i) {
    asylo__metrics_record_call(c->std, ASYLO__CALL_ENTER, 4096, ASYLO_OK, 0.0001 * (i % 64), 64,
                               64);
}

static void op_record_call_series(context *c, int i) {
    asylo__metrics_record_call_series(&c->series, 0.0001 * (i % 64), 64, 64);
}

static void measure(const char *name, void (*op)(context *, int), context *c, int batches) {
    double *samples = malloc((size_t)batches * sizeof *samples);
    for (int b = 0; b < batches; b++) {
        double start = now_ns();
        for (int i = 0; i < BATCH; i++) {
            op(c, i);
        }
        samples[b] = (now_ns() - start) / BATCH;
    }
    qsort(samples, (size_t)batches, sizeof *samples, compare);
    printf("%-40s median %6.1f ns/op  (p10 %.1f, p90 %.1f; %d x %d ops)\n", name,
           samples[batches / 2], samples[batches / 10], samples[batches * 9 / 10], batches, BATCH);
    free(samples);
}

int main(int argc, char **argv) {
    int batches = argc > 1 && strcmp(argv[1], "--quick") == 0 ? 21 : 2001;
    asylo__metrics_registry *registry = NULL;
    asylo__std_metrics std;
    asylo_status status;
    if (asylo__metrics_registry_create(&registry, &status) != ASYLO_OK ||
        asylo__std_metrics_register(registry, &std, &status) != ASYLO_OK) {
        fprintf(stderr, "setup: %s\n", status.message);
        return 1;
    }
    asylo__metric_family *gauges = NULL;
    asylo__metric_desc desc = {.name = "bench_gauge", .help = "g", .type = ASYLO__METRIC_GAUGE};
    asylo__metrics_register(registry, &desc, &gauges, NULL);
    context c = {
        .counter = std.bytes_sent,
        .gauge = asylo__gauge_get(gauges, NULL),
        .histogram =
            asylo__histogram_get(std.call_duration_seconds, (const char *[]){"enter", "4096"}),
        .calls = std.calls_total,
        .std = &std,
    };
    asylo__metrics_call_series(&std, ASYLO__CALL_ENTER, 4096, ASYLO_OK, &c.series);
    measure("counter_inc (cached handle)", op_counter_inc, &c, batches);
    measure("gauge_add (cached handle)", op_gauge_add, &c, batches);
    measure("histogram_observe (cached, 17 buckets)", op_histogram_observe, &c, batches);
    measure("counter_get(3 labels) + inc", op_counter_get, &c, batches);
    measure("metrics_record_call (2 lookups + 4 updates)", op_record_call, &c, batches);
    measure("metrics_record_call_series (cached series)", op_record_call_series, &c, batches);
    asylo__metrics_registry_destroy(registry);
    return 0;
}
