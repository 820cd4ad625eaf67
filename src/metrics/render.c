/* The text exposition walk over families and series; see render.h. */
#include "metrics/render.h"

#include <stdatomic.h>

#include "metrics/registry_internal.h"
#include "metrics/text_format.h"

static const char *type_word(asylo__metric_type type) {
    switch (type) {
    case ASYLO__METRIC_COUNTER:
        return "counter";
    case ASYLO__METRIC_GAUGE:
        return "gauge";
    case ASYLO__METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

/* Writes `{a="x",b="y"` plus `,le="..."` when le is set, then `}`; nothing
 * at all for a label-less sample. */
static void put_labels(asylo__metrics_text *text, const asylo__metric_family *family,
                       const asylo__series *series, const char *le) {
    if (family->label_count == 0 && le == NULL) {
        return;
    }
    asylo__metrics_text_put(text, "{");
    for (size_t i = 0; i < family->label_count; i++) {
        if (i > 0) {
            asylo__metrics_text_put(text, ",");
        }
        asylo__metrics_text_put(text, family->label_names[i]);
        asylo__metrics_text_put(text, "=\"");
        asylo__metrics_text_label_value(text, series->label_values[i]);
        asylo__metrics_text_put(text, "\"");
    }
    if (le != NULL) {
        asylo__metrics_text_put(text, family->label_count > 0 ? ",le=\"" : "le=\"");
        asylo__metrics_text_put(text, le);
        asylo__metrics_text_put(text, "\"");
    }
    asylo__metrics_text_put(text, "}");
}

static void put_sample(asylo__metrics_text *text, const asylo__metric_family *family,
                       const char *suffix, const asylo__series *series, const char *le,
                       double value) {
    asylo__metrics_text_put(text, family->name);
    asylo__metrics_text_put(text, suffix);
    if (series != NULL) {
        put_labels(text, family, series, le);
    }
    asylo__metrics_text_put(text, " ");
    asylo__metrics_text_number(text, value);
    asylo__metrics_text_put(text, "\n");
}

static void put_histogram(asylo__metrics_text *text, const asylo__metric_family *family,
                          const asylo__series *series) {
    const asylo__histogram *histogram = &series->value.histogram;
    /* Read every bucket once, so the buckets, +Inf and _count agree even
     * while observations race with the scrape. */
    uint64_t cumulative = 0;
    char le[ASYLO__METRICS_NUMBER_SIZE];
    for (size_t i = 0; i <= histogram->bound_count; i++) {
        cumulative += atomic_load_explicit(&histogram->buckets[i], memory_order_relaxed);
        const char *bound = i < histogram->bound_count
                                ? asylo__metrics_format_number(histogram->bounds[i], le)
                                : "+Inf";
        put_sample(text, family, "_bucket", series, bound, (double)cumulative);
    }
    put_sample(text, family, "_sum", series, NULL, asylo__histogram_sum(histogram));
    put_sample(text, family, "_count", series, NULL, (double)cumulative);
}

static void put_series(asylo__metrics_text *text, const asylo__metric_family *family,
                       const asylo__series *series) {
    switch (family->type) {
    case ASYLO__METRIC_COUNTER:
        put_sample(text, family, "", series, NULL, asylo__counter_value(&series->value.counter));
        break;
    case ASYLO__METRIC_GAUGE:
        put_sample(text, family, "", series, NULL, asylo__gauge_value(&series->value.gauge));
        break;
    case ASYLO__METRIC_HISTOGRAM:
        put_histogram(text, family, series);
        break;
    }
}

static void put_family(asylo__metrics_text *text, asylo__metric_family *family) {
    asylo__metrics_text_put(text, "# HELP ");
    asylo__metrics_text_put(text, family->name);
    asylo__metrics_text_put(text, " ");
    asylo__metrics_text_help(text, family->help);
    asylo__metrics_text_put(text, "\n# TYPE ");
    asylo__metrics_text_put(text, family->name);
    asylo__metrics_text_put(text, " ");
    asylo__metrics_text_put(text, type_word(family->type));
    asylo__metrics_text_put(text, "\n");
    if (family->callback != NULL) {
        double value = 0;
        if (family->callback(family->callback_arg, &value) == 0) {
            put_sample(text, family, "", NULL, NULL, value);
        }
        return;
    }
    pthread_mutex_lock(&family->mutex);
    for (const asylo__series *series = family->first; series != NULL; series = series->list_next) {
        put_series(text, family, series);
    }
    if (family->overflow != NULL && family->overflow->used) {
        put_series(text, family, family->overflow);
    }
    pthread_mutex_unlock(&family->mutex);
}

asylo_code asylo__metrics_render(asylo__metrics_registry *registry, asylo__bytes *out,
                                 asylo_status *status) {
    if (registry == NULL || out == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "metrics render: registry and out must not be NULL");
    }
    asylo__metrics_text text;
    asylo__metrics_text_init(&text, out);
    pthread_mutex_lock(&registry->mutex);
    for (asylo__metric_family *family = registry->first; family != NULL; family = family->next) {
        put_family(&text, family);
    }
    pthread_mutex_unlock(&registry->mutex);
    return asylo__metrics_text_status(&text, status);
}
