/* Series lookup by label values, with the bounded label-set table and its
 * overflow series; see metrics.h. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "metrics/metrics.h"
#include "metrics/names.h"
#include "metrics/registry_internal.h"

/* Series are cache-line aligned so hot handles of different series never
 * share a line. */
#define SERIES_ALIGNMENT 64

static uint64_t hash_values(const char *const *values, size_t count) {
    uint64_t hash = UINT64_C(1469598103934665603); /* FNV-1a */
    for (size_t i = 0; i < count; i++) {
        for (const unsigned char *c = (const unsigned char *)values[i]; *c != '\0'; c++) {
            hash = (hash ^ *c) * UINT64_C(1099511628211);
        }
        hash = (hash ^ 0xff) * UINT64_C(1099511628211); /* 0xff never occurs in UTF-8 */
    }
    return hash;
}

static asylo__series *series_new(const asylo__metric_family *family, const char *const *values,
                                 uint64_t hash) {
    asylo__series *series = NULL;
    if (posix_memalign((void **)&series, SERIES_ALIGNMENT, sizeof *series) != 0) {
        return NULL;
    }
    memset(series, 0, sizeof *series);
    series->hash = hash;
    if (family->label_count > 0) {
        size_t size = family->label_count * sizeof(char *);
        for (size_t i = 0; i < family->label_count; i++) {
            size += strlen(values[i]) + 1;
        }
        series->label_values = malloc(size);
        if (series->label_values == NULL) {
            free(series);
            return NULL;
        }
        char *text = (char *)(series->label_values + family->label_count);
        for (size_t i = 0; i < family->label_count; i++) {
            size_t length = strlen(values[i]) + 1;
            memcpy(text, values[i], length);
            series->label_values[i] = text;
            text += length;
        }
    }
    if (!asylo__series_value_init(series, family)) {
        free(series->label_values);
        free(series);
        return NULL;
    }
    return series;
}

static void series_free(asylo__series *series, const asylo__metric_family *family) {
    asylo__series_value_fini(series, family);
    free(series->label_values);
    free(series);
}

static void table_insert(asylo__metric_family *family, asylo__series *series) {
    size_t slot = series->hash & (family->table_size - 1);
    series->hash_next = family->table[slot];
    family->table[slot] = series;
}

static void list_append(asylo__metric_family *family, asylo__series *series) {
    *family->last_link = series;
    family->last_link = &series->list_next;
    family->series_count++;
}

asylo_code asylo__family_init_series(asylo__metric_family *family, asylo_status *status) {
    if (family->label_count == 0) {
        asylo__series *only = series_new(family, NULL, 0);
        if (only == NULL) {
            return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                    "metric '%s': out of memory", family->name);
        }
        list_append(family, only);
        return asylo_status_ok(status);
    }
    size_t table_size = 16;
    while (table_size < family->max_series) {
        table_size *= 2;
    }
    family->table = calloc(table_size, sizeof *family->table);
    if (family->table == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "metric '%s': out of memory", family->name);
    }
    family->table_size = table_size;
    const char *others[ASYLO__METRICS_MAX_LABELS];
    for (size_t i = 0; i < family->label_count; i++) {
        others[i] = ASYLO__METRICS_OVERFLOW_VALUE;
    }
    family->overflow = series_new(family, others, hash_values(others, family->label_count));
    if (family->overflow == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "metric '%s': out of memory", family->name);
    }
    table_insert(family, family->overflow);
    return asylo_status_ok(status);
}

void asylo__family_free_series(asylo__metric_family *family) {
    asylo__series *series = family->first;
    while (series != NULL) {
        asylo__series *next = series->list_next;
        series_free(series, family);
        series = next;
    }
    if (family->overflow != NULL) {
        series_free(family->overflow, family);
    }
    free(family->table);
    family->first = NULL;
    family->overflow = NULL;
    family->table = NULL;
}

/* Cuts text to at most ASYLO__METRICS_MAX_LABEL_VALUE bytes at a character
 * boundary and replaces bytes that are not valid UTF-8 with '?'. */
static const char *clean_value(const char *value, char *buffer) {
    if (value == NULL) {
        return "";
    }
    size_t length = strnlen(value, ASYLO__METRICS_MAX_LABEL_VALUE + 1);
    if (length <= ASYLO__METRICS_MAX_LABEL_VALUE && asylo__metrics_valid_utf8(value, length)) {
        return value;
    }
    if (length > ASYLO__METRICS_MAX_LABEL_VALUE) {
        length = ASYLO__METRICS_MAX_LABEL_VALUE;
    }
    size_t out = 0;
    size_t i = 0;
    while (i < length) {
        size_t step = 1;
        while (step <= 4 && i + step <= length) {
            if (asylo__metrics_valid_utf8(value + i, step)) {
                break;
            }
            step++;
        }
        if (step <= 4 && i + step <= length) {
            memcpy(buffer + out, value + i, step);
            out += step;
            i += step;
        } else if (i + 4 > length && (unsigned char)value[i] >= 0xc2 &&
                   (unsigned char)value[i] <= 0xf4) {
            break; /* a character cut by the length limit: drop it */
        } else {
            buffer[out++] = '?';
            i++;
        }
    }
    buffer[out] = '\0';
    return buffer;
}

static asylo__series *find(const asylo__metric_family *family, const char *const *values,
                           uint64_t hash) {
    for (asylo__series *series = family->table[hash & (family->table_size - 1)]; series != NULL;
         series = series->hash_next) {
        if (series->hash != hash) {
            continue;
        }
        size_t i = 0;
        while (i < family->label_count && strcmp(series->label_values[i], values[i]) == 0) {
            i++;
        }
        if (i == family->label_count) {
            return series;
        }
    }
    return NULL;
}

static asylo__series *lookup(asylo__metric_family *family, const char *const *label_values) {
    if (family->label_count == 0) {
        return family->first; /* fixed at registration: no lock needed */
    }
    char buffers[ASYLO__METRICS_MAX_LABELS][ASYLO__METRICS_MAX_LABEL_VALUE + 1];
    const char *values[ASYLO__METRICS_MAX_LABELS];
    for (size_t i = 0; i < family->label_count; i++) {
        values[i] = clean_value(label_values != NULL ? label_values[i] : NULL, buffers[i]);
    }
    uint64_t hash = hash_values(values, family->label_count);

    pthread_mutex_lock(&family->mutex);
    asylo__series *series = find(family, values, hash);
    bool warn = false;
    if (series == NULL && family->series_count < family->max_series) {
        series = series_new(family, values, hash);
        if (series != NULL) {
            table_insert(family, series);
            list_append(family, series);
        }
    }
    if (series == NULL) {
        /* Full (or out of memory): fold into the overflow series. */
        series = family->overflow;
        warn = !family->overflow_warned;
        family->overflow_warned = true;
    }
    if (series == family->overflow) {
        series->used = true;
    }
    pthread_mutex_unlock(&family->mutex);
    if (warn) {
        asylo__log(
            ASYLO_LOG_WARNING, "metrics", NULL, 0,
            "metric '%s' reached its limit of %zu label sets; further label sets are "
            "counted under the series with every label value \"" ASYLO__METRICS_OVERFLOW_VALUE "\"",
            family->name, family->max_series);
    }
    return series;
}

asylo__counter *asylo__counter_get(asylo__metric_family *family, const char *const *label_values) {
    if (family == NULL || family->callback != NULL || family->type != ASYLO__METRIC_COUNTER) {
        return NULL;
    }
    return &lookup(family, label_values)->value.counter;
}

asylo__gauge *asylo__gauge_get(asylo__metric_family *family, const char *const *label_values) {
    if (family == NULL || family->callback != NULL || family->type != ASYLO__METRIC_GAUGE) {
        return NULL;
    }
    return &lookup(family, label_values)->value.gauge;
}

asylo__histogram *asylo__histogram_get(asylo__metric_family *family,
                                       const char *const *label_values) {
    if (family == NULL || family->callback != NULL || family->type != ASYLO__METRIC_HISTOGRAM) {
        return NULL;
    }
    return &lookup(family, label_values)->value.histogram;
}
