/* The standard asylo families and recording helpers; see asylo_metrics.h. */
#include "metrics/asylo_metrics.h"

#include <stdio.h>
#include <string.h>

const double asylo__metrics_provision_buckets[] = {
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 300,
};
const size_t asylo__metrics_provision_bucket_count =
    sizeof asylo__metrics_provision_buckets / sizeof asylo__metrics_provision_buckets[0];

static const char *const call_labels[] = {"direction", "selector", "code"};
static const char *const duration_labels[] = {"direction", "selector"};
static const char *const provision_labels[] = {"result"};

asylo_code asylo__std_metrics_register(asylo__metrics_registry *registry,
                                       asylo__std_metrics *metrics, asylo_status *status) {
    if (metrics == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "standard metrics: the output pointer is NULL");
    }
    memset(metrics, 0, sizeof *metrics);
    const struct {
        asylo__metric_family **family;
        asylo__metric_desc desc;
    } families[] = {
        {&metrics->calls_total,
         {.name = "asylo_calls_total",
          .help = "Enclave calls completed, by direction (enter: host to enclave, exit: enclave "
                  "to host), selector and status code.",
          .type = ASYLO__METRIC_COUNTER,
          .label_names = call_labels,
          .label_count = 3}},
        {&metrics->call_duration_seconds,
         {.name = "asylo_call_duration_seconds",
          .help = "Time from the start of an enclave call to its result, in seconds.",
          .type = ASYLO__METRIC_HISTOGRAM,
          .label_names = duration_labels,
          .label_count = 2}},
        {&metrics->bytes_sent_total,
         {.name = "asylo_bytes_sent_total",
          .help = "Payload bytes this process sent to its peers.",
          .type = ASYLO__METRIC_COUNTER}},
        {&metrics->bytes_received_total,
         {.name = "asylo_bytes_received_total",
          .help = "Payload bytes this process received from its peers.",
          .type = ASYLO__METRIC_COUNTER}},
        {&metrics->enclaves_loaded,
         {.name = "asylo_enclaves_loaded",
          .help = "Enclaves loaded in this process now.",
          .type = ASYLO__METRIC_GAUGE}},
        {&metrics->provisions_total,
         {.name = "asylo_provisions_total",
          .help = "Provisioning requests finished, by result (the status code name).",
          .type = ASYLO__METRIC_COUNTER,
          .label_names = provision_labels,
          .label_count = 1}},
        {&metrics->provision_duration_seconds,
         {.name = "asylo_provision_duration_seconds",
          .help = "Time to provision an enclave, from request to result, in seconds.",
          .type = ASYLO__METRIC_HISTOGRAM,
          .buckets = asylo__metrics_provision_buckets,
          .bucket_count = sizeof asylo__metrics_provision_buckets /
                          sizeof asylo__metrics_provision_buckets[0]}},
        {&metrics->image_bytes_received_total,
         {.name = "asylo_image_bytes_received_total",
          .help = "Enclave image bytes received for provisioning.",
          .type = ASYLO__METRIC_COUNTER}},
        {&metrics->active_streams,
         {.name = "asylo_active_streams",
          .help = "Streams (remote enclave sessions) open now.",
          .type = ASYLO__METRIC_GAUGE}},
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        asylo_code code =
            asylo__metrics_register(registry, &families[i].desc, families[i].family, status);
        if (code != ASYLO_OK) {
            memset(metrics, 0, sizeof *metrics);
            return code;
        }
    }
    metrics->bytes_sent = asylo__counter_get(metrics->bytes_sent_total, NULL);
    metrics->bytes_received = asylo__counter_get(metrics->bytes_received_total, NULL);
    metrics->enclaves = asylo__gauge_get(metrics->enclaves_loaded, NULL);
    metrics->provision_duration = asylo__histogram_get(metrics->provision_duration_seconds, NULL);
    metrics->image_bytes_received = asylo__counter_get(metrics->image_bytes_received_total, NULL);
    metrics->streams = asylo__gauge_get(metrics->active_streams, NULL);
    return asylo_status_ok(status);
}

const char *asylo__call_direction_name(asylo__call_direction direction) {
    return direction == ASYLO__CALL_EXIT ? "exit" : "enter";
}

void asylo__metrics_call_series(const asylo__std_metrics *metrics, asylo__call_direction direction,
                                uint32_t selector, asylo_code code, asylo__call_series *series) {
    memset(series, 0, sizeof *series);
    if (metrics == NULL) {
        return;
    }
    char selector_text[16];
    snprintf(selector_text, sizeof selector_text, "%u", (unsigned)selector);
    /* The duration family takes the first two of these labels. */
    const char *labels[] = {asylo__call_direction_name(direction), selector_text,
                            asylo_code_name(code)};
    series->metrics = metrics;
    series->calls = asylo__counter_get(metrics->calls_total, labels);
    series->duration = asylo__histogram_get(metrics->call_duration_seconds, labels);
}

void asylo__metrics_record_call_series(const asylo__call_series *series, double seconds,
                                       uint64_t bytes_in, uint64_t bytes_out) {
    if (series == NULL || series->metrics == NULL) {
        return;
    }
    asylo__counter_inc(series->calls);
    asylo__histogram_observe(series->duration, seconds);
    asylo__metrics_record_bytes(series->metrics, bytes_in, bytes_out);
}

void asylo__metrics_record_call(const asylo__std_metrics *metrics, asylo__call_direction direction,
                                uint32_t selector, asylo_code code, double seconds,
                                uint64_t bytes_in, uint64_t bytes_out) {
    asylo__call_series series;
    asylo__metrics_call_series(metrics, direction, selector, code, &series);
    asylo__metrics_record_call_series(&series, seconds, bytes_in, bytes_out);
}

void asylo__metrics_record_bytes(const asylo__std_metrics *metrics, uint64_t bytes_in,
                                 uint64_t bytes_out) {
    if (metrics == NULL) {
        return;
    }
    if (bytes_in > 0) {
        asylo__counter_add(metrics->bytes_received, bytes_in);
    }
    if (bytes_out > 0) {
        asylo__counter_add(metrics->bytes_sent, bytes_out);
    }
}

void asylo__metrics_record_provision(const asylo__std_metrics *metrics, asylo_code result,
                                     double seconds) {
    if (metrics == NULL) {
        return;
    }
    const char *labels[] = {asylo_code_name(result)};
    asylo__counter_inc(asylo__counter_get(metrics->provisions_total, labels));
    asylo__histogram_observe(metrics->provision_duration, seconds);
}

void asylo__metrics_add_image_bytes(const asylo__std_metrics *metrics, uint64_t bytes) {
    if (metrics != NULL) {
        asylo__counter_add(metrics->image_bytes_received, bytes);
    }
}

void asylo__metrics_enclaves_loaded_add(const asylo__std_metrics *metrics, int delta) {
    if (metrics != NULL) {
        asylo__gauge_add(metrics->enclaves, delta);
    }
}

void asylo__metrics_active_streams_add(const asylo__std_metrics *metrics, int delta) {
    if (metrics != NULL) {
        asylo__gauge_add(metrics->streams, delta);
    }
}
