/* Counter, gauge and histogram updates: relaxed atomics, no locks; see
 * metrics.h. Relaxed ordering is enough: a scrape wants each value, not an
 * order between values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "metrics/registry_internal.h"

uint64_t asylo__metrics_double_bits(double value) {
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

double asylo__metrics_bits_double(uint64_t bits) {
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* Adds to a double kept as bits; a compare-and-swap loop. */
static void add_double_bits(_Atomic uint64_t *bits, double delta) {
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    for (;;) {
        uint64_t wanted = asylo__metrics_double_bits(asylo__metrics_bits_double(old) + delta);
        if (atomic_compare_exchange_weak_explicit(bits, &old, wanted, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            return;
        }
    }
}

bool asylo__series_value_init(asylo__series *series, const asylo__metric_family *family) {
    switch (family->type) {
    case ASYLO__METRIC_COUNTER:
        atomic_init(&series->value.counter.whole, 0);
        atomic_init(&series->value.counter.fraction_bits, asylo__metrics_double_bits(0.0));
        return true;
    case ASYLO__METRIC_GAUGE:
        atomic_init(&series->value.gauge.bits, asylo__metrics_double_bits(0.0));
        return true;
    case ASYLO__METRIC_HISTOGRAM: {
        asylo__histogram *histogram = &series->value.histogram;
        histogram->bounds = family->bounds;
        histogram->bound_count = family->bound_count;
        atomic_init(&histogram->sum_bits, asylo__metrics_double_bits(0.0));
        histogram->buckets = calloc(family->bound_count + 1, sizeof *histogram->buckets);
        if (histogram->buckets == NULL) {
            return false;
        }
        for (size_t i = 0; i <= family->bound_count; i++) {
            atomic_init(&histogram->buckets[i], 0);
        }
        return true;
    }
    }
    return false;
}

void asylo__series_value_fini(asylo__series *series, const asylo__metric_family *family) {
    if (family->type == ASYLO__METRIC_HISTOGRAM) {
        free(series->value.histogram.buckets);
        series->value.histogram.buckets = NULL;
    }
}

void asylo__counter_inc(asylo__counter *counter) {
    if (counter != NULL) {
        atomic_fetch_add_explicit(&counter->whole, 1, memory_order_relaxed);
    }
}

void asylo__counter_add(asylo__counter *counter, uint64_t amount) {
    if (counter != NULL) {
        atomic_fetch_add_explicit(&counter->whole, amount, memory_order_relaxed);
    }
}

asylo_code asylo__counter_add_double(asylo__counter *counter, double amount, asylo_status *status) {
    if (!isfinite(amount) || amount < 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "counters only go up: refusing to add %g", amount);
    }
    if (counter != NULL && amount > 0) {
        add_double_bits(&counter->fraction_bits, amount);
    }
    return asylo_status_ok(status);
}

double asylo__counter_value(const asylo__counter *counter) {
    if (counter == NULL) {
        return 0;
    }
    uint64_t whole = atomic_load_explicit(&counter->whole, memory_order_relaxed);
    uint64_t fraction = atomic_load_explicit(&counter->fraction_bits, memory_order_relaxed);
    return (double)whole + asylo__metrics_bits_double(fraction);
}

void asylo__gauge_set(asylo__gauge *gauge, double value) {
    if (gauge != NULL) {
        atomic_store_explicit(&gauge->bits, asylo__metrics_double_bits(value),
                              memory_order_relaxed);
    }
}

void asylo__gauge_add(asylo__gauge *gauge, double delta) {
    if (gauge != NULL) {
        add_double_bits(&gauge->bits, delta);
    }
}

void asylo__gauge_inc(asylo__gauge *gauge) {
    asylo__gauge_add(gauge, 1);
}

void asylo__gauge_dec(asylo__gauge *gauge) {
    asylo__gauge_add(gauge, -1);
}

double asylo__gauge_value(const asylo__gauge *gauge) {
    if (gauge == NULL) {
        return 0;
    }
    return asylo__metrics_bits_double(atomic_load_explicit(&gauge->bits, memory_order_relaxed));
}

void asylo__histogram_observe(asylo__histogram *histogram, double value) {
    if (histogram == NULL || isnan(value)) {
        return;
    }
    /* Buckets are few (17 by default): a linear scan beats a binary search. */
    size_t bucket = 0;
    while (bucket < histogram->bound_count && value > histogram->bounds[bucket]) {
        bucket++;
    }
    atomic_fetch_add_explicit(&histogram->buckets[bucket], 1, memory_order_relaxed);
    add_double_bits(&histogram->sum_bits, value);
}

uint64_t asylo__histogram_count(const asylo__histogram *histogram) {
    if (histogram == NULL) {
        return 0;
    }
    uint64_t count = 0;
    for (size_t i = 0; i <= histogram->bound_count; i++) {
        count += atomic_load_explicit(&histogram->buckets[i], memory_order_relaxed);
    }
    return count;
}

double asylo__histogram_sum(const asylo__histogram *histogram) {
    if (histogram == NULL) {
        return 0;
    }
    return asylo__metrics_bits_double(
        atomic_load_explicit(&histogram->sum_bits, memory_order_relaxed));
}
