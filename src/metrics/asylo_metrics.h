/* The standard asylo metric families, registered in one call, and helpers
 * that record one event in all the families it touches.
 *
 * Families (see docs/observability.md for meanings and label bounds):
 *   asylo_calls_total{direction,selector,code}        counter
 *   asylo_call_duration_seconds{direction,selector}   histogram (latency buckets)
 *   asylo_bytes_sent_total                            counter
 *   asylo_bytes_received_total                        counter
 *   asylo_enclaves_loaded                             gauge
 *   asylo_provisions_total{result}                    counter
 *   asylo_provision_duration_seconds                  histogram (provision buckets)
 *   asylo_image_bytes_received_total                  counter
 *   asylo_active_streams                              gauge
 *
 * Every helper accepts a NULL asylo__std_metrics and does nothing, so a binary
 * started without --metrics_port passes NULL. */
#ifndef ASYLO_METRICS_ASYLO_METRICS_H
#define ASYLO_METRICS_ASYLO_METRICS_H

#include <stdint.h>

#include "asylo/status.h"
#include "metrics/metrics.h"

/* Upper bounds of asylo_provision_duration_seconds: 10 ms to 5 min. */
extern const double asylo__metrics_provision_buckets[];
extern const size_t asylo__metrics_provision_bucket_count;

typedef enum asylo__call_direction {
    ASYLO__CALL_ENTER = 0, /* host -> enclave ("enter") */
    ASYLO__CALL_EXIT = 1,  /* enclave -> host ("exit") */
} asylo__call_direction;

typedef struct asylo__std_metrics {
    asylo__metric_family *calls_total;
    asylo__metric_family *call_duration_seconds;
    asylo__metric_family *bytes_sent_total;
    asylo__metric_family *bytes_received_total;
    asylo__metric_family *enclaves_loaded;
    asylo__metric_family *provisions_total;
    asylo__metric_family *provision_duration_seconds;
    asylo__metric_family *image_bytes_received_total;
    asylo__metric_family *active_streams;
    /* Handles of the label-less families, looked up once. */
    asylo__counter *bytes_sent;
    asylo__counter *bytes_received;
    asylo__gauge *enclaves;
    asylo__histogram *provision_duration;
    asylo__counter *image_bytes_received;
    asylo__gauge *streams;
} asylo__std_metrics;

/* Registers the nine families on registry and fills *metrics. Fails (and
 * leaves *metrics zeroed) when a name is already taken. */
asylo_code asylo__std_metrics_register(asylo__metrics_registry *registry,
                                       asylo__std_metrics *metrics, asylo_status *status);

/* "enter" or "exit". */
const char *asylo__call_direction_name(asylo__call_direction direction);

/* One finished enclave call: counts it in asylo_calls_total (code is the
 * asylo_code name, e.g. "OK"; selector in decimal), observes seconds in
 * asylo_call_duration_seconds and adds the bytes this process received
 * (bytes_in) and sent (bytes_out). Takes the calls and duration families'
 * locks once each to find the series. */
void asylo__metrics_record_call(const asylo__std_metrics *metrics, asylo__call_direction direction,
                                uint32_t selector, asylo_code code, double seconds,
                                uint64_t bytes_in, uint64_t bytes_out);
/* The series of one (direction, selector, code), looked up once, for a caller
 * that records the same kind of call often: recording through it costs a few
 * atomic adds and no lock (see docs/observability.md for measured costs). */
typedef struct asylo__call_series {
    const asylo__std_metrics *metrics; /* NULL: recording is a no-op */
    asylo__counter *calls;
    asylo__histogram *duration;
} asylo__call_series;

void asylo__metrics_call_series(const asylo__std_metrics *metrics, asylo__call_direction direction,
                                uint32_t selector, asylo_code code, asylo__call_series *series);
/* Same effect as asylo__metrics_record_call for the series' labels. */
void asylo__metrics_record_call_series(const asylo__call_series *series, double seconds,
                                       uint64_t bytes_in, uint64_t bytes_out);
/* Bytes moved outside calls (handshakes, control messages). */
void asylo__metrics_record_bytes(const asylo__std_metrics *metrics, uint64_t bytes_in,
                                 uint64_t bytes_out);
/* One finished provisioning: asylo_provisions_total{result=<code name>} and
 * asylo_provision_duration_seconds. */
void asylo__metrics_record_provision(const asylo__std_metrics *metrics, asylo_code result,
                                     double seconds);
/* Image bytes as they arrive, so a long upload shows progress. */
void asylo__metrics_add_image_bytes(const asylo__std_metrics *metrics, uint64_t bytes);
/* +1 when an enclave is loaded, -1 when it is destroyed. */
void asylo__metrics_enclaves_loaded_add(const asylo__std_metrics *metrics, int delta);
/* +1 when a stream opens, -1 when it closes. */
void asylo__metrics_active_streams_add(const asylo__std_metrics *metrics, int delta);

#endif
