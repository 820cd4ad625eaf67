/* Metric families, their series and the values callers update.
 *
 * A registry holds metric families (counter, gauge, histogram); a family has a
 * name, help text and a fixed list of label names; each distinct tuple of label
 * values is one series. Callers look a series up once and keep the handle:
 *
 *     asylo__counter *calls = asylo__counter_get(family, (const char *[]){"enter", "OK"});
 *     ...
 *     asylo__counter_inc(calls);            // one atomic add, no lock
 *
 * Handles stay valid until the registry is destroyed. Lookups take the
 * family's mutex; updates through a handle are lock-free atomics.
 *
 * Bounded cardinality: a family holds at most `max_series` distinct label sets
 * (default ASYLO__METRICS_DEFAULT_MAX_SERIES). Past it, every new label set
 * folds into one overflow series whose label values are all "other" (the same
 * series a caller gets by asking for "other" in every label), and a warning is
 * logged once per family. Memory per family therefore never grows past
 * max_series + 1 series.
 *
 * Label values are kept as given when they are valid UTF-8 of at most
 * ASYLO__METRICS_MAX_LABEL_VALUE bytes; longer values are cut at a character
 * boundary and invalid bytes become '?', so the exposition is always valid.
 *
 * Update functions accept a NULL handle and do nothing, so code built with
 * metrics switched off can pass NULL everywhere. */
#ifndef ASYLO_METRICS_METRICS_H
#define ASYLO_METRICS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"

typedef struct asylo__metrics_registry asylo__metrics_registry;
typedef struct asylo__metric_family asylo__metric_family;
typedef struct asylo__counter asylo__counter;
typedef struct asylo__gauge asylo__gauge;
typedef struct asylo__histogram asylo__histogram;

typedef enum asylo__metric_type {
    ASYLO__METRIC_COUNTER = 0,
    ASYLO__METRIC_GAUGE = 1,
    ASYLO__METRIC_HISTOGRAM = 2,
} asylo__metric_type;

#define ASYLO__METRICS_DEFAULT_MAX_SERIES 256
#define ASYLO__METRICS_MAX_LABELS 8
#define ASYLO__METRICS_MAX_BUCKETS 64
#define ASYLO__METRICS_MAX_LABEL_VALUE 128
/* The label value of the overflow series. */
#define ASYLO__METRICS_OVERFLOW_VALUE "other"

/* Default latency buckets in seconds: 50us, 100us, 250us, 500us, 1ms, 2.5ms,
 * 5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s, 2.5s, 5s, 10s (+Inf). */
extern const double asylo__metrics_latency_buckets[];
extern const size_t asylo__metrics_latency_bucket_count;

/* What to register. Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and label names
 * [a-zA-Z_][a-zA-Z0-9_]* (not starting with "__"; "le" is reserved for
 * histograms); counter names must end in "_total" (text format 0.0.4 names the
 * family after its sample). */
typedef struct asylo__metric_desc {
    const char *name;
    const char *help; /* one line; backslashes and newlines are escaped */
    asylo__metric_type type;
    const char *const *label_names; /* label_count names, may be NULL when 0 */
    size_t label_count;             /* at most ASYLO__METRICS_MAX_LABELS */
    /* Histograms only: strictly increasing finite upper bounds (a trailing
     * +Inf is allowed and ignored; +Inf is always added). NULL means
     * asylo__metrics_latency_buckets. At most ASYLO__METRICS_MAX_BUCKETS. */
    const double *buckets;
    size_t bucket_count;
    size_t max_series; /* 0 means ASYLO__METRICS_DEFAULT_MAX_SERIES */
} asylo__metric_desc;

/* Reads a value at scrape time; returns 0 and sets *value, or non-zero to
 * leave the sample out of this scrape. Called from the scraping thread with
 * the registry locked: it must not register families or render. */
typedef int (*asylo__metric_callback)(void *arg, double *value);

asylo_code asylo__metrics_registry_create(asylo__metrics_registry **registry, asylo_status *status);
/* Frees every family and series; NULL is a no-op. No server may still be
 * serving the registry. */
void asylo__metrics_registry_destroy(asylo__metrics_registry *registry);

/* Registers a family. INVALID_ARGUMENT for a bad name, label name, bucket list
 * or limit; ALREADY_EXISTS when the name (or a _bucket/_sum/_count series name
 * of a histogram) is taken. *family stays owned by the registry. */
asylo_code asylo__metrics_register(asylo__metrics_registry *registry,
                                   const asylo__metric_desc *desc, asylo__metric_family **family,
                                   asylo_status *status);
/* Registers a label-less counter or gauge whose value is read by `callback`
 * at every scrape ("enclaves loaded now", process metrics). */
asylo_code asylo__metrics_register_callback(asylo__metrics_registry *registry,
                                            const asylo__metric_desc *desc,
                                            asylo__metric_callback callback, void *arg,
                                            asylo__metric_family **family, asylo_status *status);

const char *asylo__metric_family_name(const asylo__metric_family *family);
asylo__metric_type asylo__metric_family_type(const asylo__metric_family *family);
/* Distinct label sets held now, not counting an unused overflow series. */
size_t asylo__metric_family_series_count(asylo__metric_family *family);

/* Series lookup. label_values has the family's label_count entries (NULL may
 * be passed for a family without labels; a NULL entry means ""). Returns a
 * handle that stays valid until the registry is destroyed; NULL only when
 * family is NULL, is a callback family or has another type. */
asylo__counter *asylo__counter_get(asylo__metric_family *family, const char *const *label_values);
asylo__gauge *asylo__gauge_get(asylo__metric_family *family, const char *const *label_values);
asylo__histogram *asylo__histogram_get(asylo__metric_family *family,
                                       const char *const *label_values);

/* Counters only go up. inc/add are one relaxed atomic add. */
void asylo__counter_inc(asylo__counter *counter);
void asylo__counter_add(asylo__counter *counter, uint64_t amount);
/* For non-integral amounts; INVALID_ARGUMENT (and no change) for a negative,
 * NaN or infinite amount. */
asylo_code asylo__counter_add_double(asylo__counter *counter, double amount, asylo_status *status);
double asylo__counter_value(const asylo__counter *counter);

void asylo__gauge_set(asylo__gauge *gauge, double value);
void asylo__gauge_add(asylo__gauge *gauge, double delta);
void asylo__gauge_inc(asylo__gauge *gauge);
void asylo__gauge_dec(asylo__gauge *gauge);
double asylo__gauge_value(const asylo__gauge *gauge);

/* Adds one observation; NaN is ignored. */
void asylo__histogram_observe(asylo__histogram *histogram, double value);
uint64_t asylo__histogram_count(const asylo__histogram *histogram);
double asylo__histogram_sum(const asylo__histogram *histogram);

#endif
