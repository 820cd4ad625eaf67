/* The shapes behind the opaque metrics handles, shared by the registry, the
 * series lookup, the value updates and the renderer. Not for other parts. */
#ifndef ASYLO_METRICS_REGISTRY_INTERNAL_H
#define ASYLO_METRICS_REGISTRY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "metrics/metrics.h"

/* Doubles live in atomics as their bit patterns. */
struct asylo__counter {
    _Atomic uint64_t whole;         /* integral increments */
    _Atomic uint64_t fraction_bits; /* double: sum of asylo__counter_add_double */
};

struct asylo__gauge {
    _Atomic uint64_t bits; /* double */
};

struct asylo__histogram {
    const double *bounds; /* the family's bounds, bound_count of them */
    size_t bound_count;
    _Atomic uint64_t sum_bits; /* double */
    /* bound_count + 1 non-cumulative counts; the last one is (bound, +Inf].
     * The count of observations is their sum, so _count always equals the
     * +Inf bucket. */
    _Atomic uint64_t *buckets;
};

typedef struct asylo__series {
    struct asylo__series *hash_next; /* chain in the family's table */
    struct asylo__series *list_next; /* registration order, for rendering */
    uint64_t hash;
    bool used;           /* overflow series: handed out at least once */
    char **label_values; /* label_count strings, one allocation */
    union {
        asylo__counter counter;
        asylo__gauge gauge;
        asylo__histogram histogram;
    } value;
} asylo__series;

struct asylo__metric_family {
    struct asylo__metric_family *next;
    char *name;
    char *help;
    asylo__metric_type type;
    size_t label_count;
    char **label_names;
    double *bounds; /* histograms: finite upper bounds */
    size_t bound_count;
    size_t max_series;
    asylo__metric_callback callback; /* callback families have no series */
    void *callback_arg;

    pthread_mutex_t mutex; /* guards everything below */
    asylo__series **table; /* table_size chains */
    size_t table_size;     /* a power of two */
    asylo__series *first;
    asylo__series **last_link;
    size_t series_count;     /* in the list; the overflow series is not */
    asylo__series *overflow; /* labelled families: the all-"other" series */
    bool overflow_warned;
};

struct asylo__metrics_registry {
    pthread_mutex_t mutex; /* guards the family list and scrapes */
    asylo__metric_family *first;
    asylo__metric_family **last_link;
};

/* series.c: creates the family's table and its first series (the only one of
 * a label-less family, the overflow series of a labelled one). */
asylo_code asylo__family_init_series(asylo__metric_family *family, asylo_status *status);
void asylo__family_free_series(asylo__metric_family *family);

/* values.c: zeroes a new series' value; allocates histogram buckets. */
bool asylo__series_value_init(asylo__series *series, const asylo__metric_family *family);
void asylo__series_value_fini(asylo__series *series, const asylo__metric_family *family);

uint64_t asylo__metrics_double_bits(double value);
double asylo__metrics_bits_double(uint64_t bits);

#endif
