/* The registry and family registration: validates names, labels and buckets
 * and keeps families in registration order; see metrics.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "metrics/names.h"
#include "metrics/registry_internal.h"

const double asylo__metrics_latency_buckets[] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10,
};
const size_t asylo__metrics_latency_bucket_count =
    sizeof asylo__metrics_latency_buckets / sizeof asylo__metrics_latency_buckets[0];

/* Biggest accepted max_series: a typo must not reserve gigabytes. */
#define MAX_SERIES_LIMIT 65536

asylo_code asylo__metrics_registry_create(asylo__metrics_registry **registry,
                                          asylo_status *status) {
    if (registry == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "metrics registry: the output pointer is NULL");
    }
    *registry = NULL;
    asylo__metrics_registry *created = calloc(1, sizeof *created);
    if (created == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "metrics registry: out of memory");
    }
    pthread_mutex_init(&created->mutex, NULL);
    created->last_link = &created->first;
    *registry = created;
    return asylo_status_ok(status);
}

static void family_free(asylo__metric_family *family) {
    if (family == NULL) {
        return;
    }
    asylo__family_free_series(family);
    for (size_t i = 0; i < family->label_count && family->label_names != NULL; i++) {
        free(family->label_names[i]);
    }
    free(family->label_names);
    free(family->bounds);
    free(family->name);
    free(family->help);
    pthread_mutex_destroy(&family->mutex);
    free(family);
}

void asylo__metrics_registry_destroy(asylo__metrics_registry *registry) {
    if (registry == NULL) {
        return;
    }
    asylo__metric_family *family = registry->first;
    while (family != NULL) {
        asylo__metric_family *next = family->next;
        family_free(family);
        family = next;
    }
    pthread_mutex_destroy(&registry->mutex);
    free(registry);
}

static bool ends_with(const char *text, const char *suffix) {
    size_t text_size = strlen(text);
    size_t suffix_size = strlen(suffix);
    return text_size >= suffix_size && strcmp(text + text_size - suffix_size, suffix) == 0;
}

static const char *type_name(asylo__metric_type type) {
    switch (type) {
    case ASYLO__METRIC_COUNTER:
        return "counter";
    case ASYLO__METRIC_GAUGE:
        return "gauge";
    case ASYLO__METRIC_HISTOGRAM:
        return "histogram";
    }
    return "unknown";
}

static asylo_code check_desc(const asylo__metric_desc *desc, bool callback, size_t *bound_count,
                             asylo_status *status) {
    const char *name = desc->name;
    if (!asylo__metrics_valid_metric_name(name)) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "metric name '%s' is not valid: it must match "
                                "[a-zA-Z_:][a-zA-Z0-9_:]*",
                                name != NULL ? name : "(null)");
    }
    if (desc->type != ASYLO__METRIC_COUNTER && desc->type != ASYLO__METRIC_GAUGE &&
        desc->type != ASYLO__METRIC_HISTOGRAM) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "metric '%s': unknown type %d", name, (int)desc->type);
    }
    if (desc->type == ASYLO__METRIC_COUNTER && !ends_with(name, "_total")) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "counter '%s': counter names must end in \"_total\"", name);
    }
    if (callback && (desc->type == ASYLO__METRIC_HISTOGRAM || desc->label_count != 0)) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "metric '%s': callback metrics must be label-less counters or "
                                "gauges",
                                name);
    }
    if (desc->label_count > ASYLO__METRICS_MAX_LABELS) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "metric '%s': %zu labels, at most %d are allowed", name,
                                desc->label_count, ASYLO__METRICS_MAX_LABELS);
    }
    if (desc->label_count > 0 && desc->label_names == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "metric '%s': label_count is %zu but label_names is NULL", name,
                                desc->label_count);
    }
    for (size_t i = 0; i < desc->label_count; i++) {
        const char *label = desc->label_names[i];
        if (!asylo__metrics_valid_label_name(label)) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "metric '%s': label name '%s' is not valid: it must match "
                                    "[a-zA-Z_][a-zA-Z0-9_]* and not start with \"__\"",
                                    name, label != NULL ? label : "(null)");
        }
        if (desc->type == ASYLO__METRIC_HISTOGRAM && strcmp(label, "le") == 0) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "histogram '%s': label name \"le\" is reserved for buckets",
                                    name);
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(desc->label_names[k], label) == 0) {
                return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                        "metric '%s': label name '%s' appears twice", name, label);
            }
        }
    }
    if (desc->max_series > MAX_SERIES_LIMIT) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "metric '%s': max_series %zu is above the limit of %d", name,
                                desc->max_series, MAX_SERIES_LIMIT);
    }
    *bound_count = 0;
    if (desc->type != ASYLO__METRIC_HISTOGRAM) {
        if (desc->buckets != NULL || desc->bucket_count != 0) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "%s '%s': buckets are for histograms only",
                                    type_name(desc->type), name);
        }
        return asylo_status_ok(status);
    }
    const double *buckets = desc->buckets;
    size_t count = desc->bucket_count;
    if (buckets == NULL) {
        if (count != 0) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "histogram '%s': bucket_count is %zu but buckets is NULL", name,
                                    count);
        }
        buckets = asylo__metrics_latency_buckets;
        count = asylo__metrics_latency_bucket_count;
    }
    if (count > 0 && isinf(buckets[count - 1]) && buckets[count - 1] > 0) {
        count--; /* +Inf is always there */
    }
    if (count > ASYLO__METRICS_MAX_BUCKETS) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "histogram '%s': %zu buckets, at most %d are allowed", name, count,
                                ASYLO__METRICS_MAX_BUCKETS);
    }
    for (size_t i = 0; i < count; i++) {
        if (!isfinite(buckets[i])) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "histogram '%s': bucket bound %zu is not finite", name, i);
        }
        if (i > 0 && !(buckets[i] > buckets[i - 1])) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "histogram '%s': bucket bounds must be strictly increasing "
                                    "(bound %zu is %g after %g)",
                                    name, i, buckets[i], buckets[i - 1]);
        }
    }
    *bound_count = count;
    return asylo_status_ok(status);
}

/* The names a family occupies: its own and, for histograms, its series'. */
static size_t occupied_names(const char *name, asylo__metric_type type, char names[4][256]) {
    snprintf(names[0], sizeof names[0], "%s", name);
    if (type != ASYLO__METRIC_HISTOGRAM) {
        return 1;
    }
    snprintf(names[1], sizeof names[1], "%s_bucket", name);
    snprintf(names[2], sizeof names[2], "%s_sum", name);
    snprintf(names[3], sizeof names[3], "%s_count", name);
    return 4;
}

static const asylo__metric_family *find_clash(const asylo__metrics_registry *registry,
                                              const asylo__metric_desc *desc) {
    char wanted[4][256];
    char taken[4][256];
    size_t wanted_count = occupied_names(desc->name, desc->type, wanted);
    for (const asylo__metric_family *family = registry->first; family != NULL;
         family = family->next) {
        size_t taken_count = occupied_names(family->name, family->type, taken);
        for (size_t i = 0; i < wanted_count; i++) {
            for (size_t k = 0; k < taken_count; k++) {
                if (strcmp(wanted[i], taken[k]) == 0) {
                    return family;
                }
            }
        }
    }
    return NULL;
}

static char *copy_text(const char *text) {
    return strdup(text != NULL ? text : "");
}

static asylo_code add_family(asylo__metrics_registry *registry, const asylo__metric_desc *desc,
                             asylo__metric_callback callback, void *arg,
                             asylo__metric_family **family_out, asylo_status *status) {
    if (family_out != NULL) {
        *family_out = NULL;
    }
    if (registry == NULL || desc == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "metrics register: registry and desc must not be NULL");
    }
    size_t bound_count = 0;
    asylo_code code = check_desc(desc, callback != NULL, &bound_count, status);
    if (code != ASYLO_OK) {
        return code;
    }
    if (strlen(desc->name) > 200) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "metric name '%.40s...' is longer than 200 characters", desc->name);
    }
    asylo__metric_family *family = calloc(1, sizeof *family);
    if (family == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "metric '%s': out of memory", desc->name);
    }
    pthread_mutex_init(&family->mutex, NULL);
    family->type = desc->type;
    family->max_series =
        desc->max_series != 0 ? desc->max_series : ASYLO__METRICS_DEFAULT_MAX_SERIES;
    family->callback = callback;
    family->callback_arg = arg;
    family->last_link = &family->first;
    family->name = copy_text(desc->name);
    family->help = copy_text(desc->help);
    bool ok = family->name != NULL && family->help != NULL;
    if (ok && desc->label_count > 0) {
        family->label_names = calloc(desc->label_count, sizeof *family->label_names);
        ok = family->label_names != NULL;
        for (size_t i = 0; ok && i < desc->label_count; i++) {
            family->label_names[i] = copy_text(desc->label_names[i]);
            ok = family->label_names[i] != NULL;
            family->label_count = i + 1;
        }
    }
    if (ok && desc->type == ASYLO__METRIC_HISTOGRAM) {
        const double *buckets =
            desc->buckets != NULL ? desc->buckets : asylo__metrics_latency_buckets;
        family->bounds = calloc(bound_count > 0 ? bound_count : 1, sizeof *family->bounds);
        ok = family->bounds != NULL;
        if (ok) {
            memcpy(family->bounds, buckets, bound_count * sizeof *family->bounds);
            family->bound_count = bound_count;
        }
    }
    if (!ok) {
        family_free(family);
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "metric '%s': out of memory", desc->name);
    }
    if (callback == NULL) {
        code = asylo__family_init_series(family, status);
        if (code != ASYLO_OK) {
            family_free(family);
            return code;
        }
    }

    pthread_mutex_lock(&registry->mutex);
    const asylo__metric_family *clash = find_clash(registry, desc);
    if (clash != NULL) {
        pthread_mutex_unlock(&registry->mutex);
        code = asylo_status_set(status, ASYLO_ALREADY_EXISTS, ASYLO_ORIGIN_API,
                                "metric '%s' (%s) clashes with the registered %s '%s'", desc->name,
                                type_name(desc->type), type_name(clash->type), clash->name);
        family_free(family);
        return code;
    }
    *registry->last_link = family;
    registry->last_link = &family->next;
    pthread_mutex_unlock(&registry->mutex);
    if (family_out != NULL) {
        *family_out = family;
    }
    return asylo_status_ok(status);
}

asylo_code asylo__metrics_register(asylo__metrics_registry *registry,
                                   const asylo__metric_desc *desc, asylo__metric_family **family,
                                   asylo_status *status) {
    return add_family(registry, desc, NULL, NULL, family, status);
}

asylo_code asylo__metrics_register_callback(asylo__metrics_registry *registry,
                                            const asylo__metric_desc *desc,
                                            asylo__metric_callback callback, void *arg,
                                            asylo__metric_family **family, asylo_status *status) {
    if (callback == NULL) {
        if (family != NULL) {
            *family = NULL;
        }
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "metric '%s': the callback is NULL",
                                desc != NULL && desc->name != NULL ? desc->name : "(null)");
    }
    return add_family(registry, desc, callback, arg, family, status);
}

const char *asylo__metric_family_name(const asylo__metric_family *family) {
    return family != NULL ? family->name : NULL;
}

asylo__metric_type asylo__metric_family_type(const asylo__metric_family *family) {
    return family != NULL ? family->type : ASYLO__METRIC_GAUGE;
}

size_t asylo__metric_family_series_count(asylo__metric_family *family) {
    if (family == NULL) {
        return 0;
    }
    pthread_mutex_lock(&family->mutex);
    size_t count = family->series_count + (family->overflow != NULL && family->overflow->used);
    pthread_mutex_unlock(&family->mutex);
    return count;
}
