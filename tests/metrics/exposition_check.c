/* See exposition_check.h. A small parser for exactly what the text format
 * allows in a sample line: name, optional {label="value",...}, value. */
#include "exposition_check.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 8192
#define MAX_GROUPS 2048
#define KEY_SIZE 1024

typedef struct sample {
    char name[256];
    char key[KEY_SIZE];   /* name{labels} exactly as written */
    char group[KEY_SIZE]; /* labels without le, for histograms */
    char le[64];          /* the le value, "" when none */
    double value;
} sample;

typedef struct group {
    char family[256];
    char labels[KEY_SIZE];
    double last_bound;
    double last_count;
    bool has_inf;
    double inf_count;
    bool has_count;
    double count;
} group;

static int failf(char *error, size_t size, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(error, size, format, args);
    va_end(args);
    return -1;
}

/* Parses one sample line into *out; returns 0 or -1 for a malformed line. */
static int parse_sample(const char *line, size_t length, sample *out) {
    memset(out, 0, sizeof *out);
    size_t i = 0;
    while (i < length && line[i] != '{' && line[i] != ' ') {
        i++;
    }
    if (i == 0 || i >= sizeof out->name) {
        return -1;
    }
    memcpy(out->name, line, i);
    size_t group_size = 0;
    if (i < length && line[i] == '{') {
        i++;
        bool first = true;
        while (i < length && line[i] != '}') {
            size_t name_start = i;
            while (i < length && line[i] != '=') {
                i++;
            }
            if (i + 1 >= length || line[i + 1] != '"') {
                return -1;
            }
            size_t name_end = i;
            i += 2;
            size_t value_start = i;
            while (i < length && line[i] != '"') {
                i += line[i] == '\\' ? 2 : 1;
            }
            if (i >= length) {
                return -1;
            }
            size_t value_end = i;
            i++; /* closing quote */
            bool is_le = name_end - name_start == 2 && strncmp(line + name_start, "le", 2) == 0;
            if (is_le) {
                size_t size = value_end - value_start;
                if (size >= sizeof out->le) {
                    return -1;
                }
                memcpy(out->le, line + value_start, size);
            } else {
                int written =
                    snprintf(out->group + group_size, sizeof out->group - group_size, "%s%.*s",
                             first ? "" : ",", (int)(i - name_start), line + name_start);
                if (written < 0 || (size_t)written >= sizeof out->group - group_size) {
                    return -1;
                }
                group_size += (size_t)written;
                first = false;
            }
            if (i < length && line[i] == ',') {
                i++;
            }
        }
        if (i >= length) {
            return -1;
        }
        i++; /* '}' */
    }
    if (i >= KEY_SIZE || i >= length || line[i] != ' ') {
        return -1;
    }
    memcpy(out->key, line, i);
    char *end = NULL;
    char value[64];
    size_t value_size = length - i - 1;
    if (value_size == 0 || value_size >= sizeof value) {
        return -1;
    }
    memcpy(value, line + i + 1, value_size);
    value[value_size] = '\0';
    out->value = strtod(value, &end);
    return *end == '\0' ? 0 : -1;
}

static int compare_keys(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool has_suffix(const char *name, const char *family, const char *suffix) {
    size_t family_size = strlen(family);
    return strncmp(name, family, family_size) == 0 && strcmp(name + family_size, suffix) == 0;
}

static group *find_group(group *groups, size_t *count, const char *family, const char *labels) {
    for (size_t i = 0; i < *count; i++) {
        if (strcmp(groups[i].family, family) == 0 && strcmp(groups[i].labels, labels) == 0) {
            return &groups[i];
        }
    }
    if (*count == MAX_GROUPS) {
        return NULL;
    }
    group *created = &groups[(*count)++];
    memset(created, 0, sizeof *created);
    snprintf(created->family, sizeof created->family, "%s", family);
    snprintf(created->labels, sizeof created->labels, "%s", labels);
    created->last_bound = -INFINITY;
    return created;
}

int exposition_check(const char *text, char *error, size_t error_size) {
    size_t text_size = strlen(text);
    if (text_size > 0 && text[text_size - 1] != '\n') {
        return failf(error, error_size, "the exposition does not end with a newline");
    }
    char(*histograms)[256] = calloc(MAX_ITEMS, sizeof *histograms);
    size_t histogram_count = 0;
    char **keys = calloc(MAX_ITEMS, sizeof *keys);
    size_t key_count = 0;
    group *groups = calloc(MAX_GROUPS, sizeof *groups);
    size_t group_count = 0;
    sample *current = malloc(sizeof *current);
    int result = 0;
    for (const char *line = text; *line != '\0' && result == 0;) {
        const char *newline = strchr(line, '\n');
        size_t length = (size_t)(newline - line);
        if (strncmp(line, "# TYPE ", 7) == 0 && length > 17 &&
            strncmp(line + length - 10, " histogram", 10) == 0 && histogram_count < MAX_ITEMS) {
            snprintf(histograms[histogram_count++], sizeof histograms[0], "%.*s",
                     (int)(length - 17), line + 7);
        } else if (length > 0 && line[0] != '#') {
            if (parse_sample(line, length, current) != 0) {
                result = failf(error, error_size, "malformed sample line: %.*s", (int)length, line);
                break;
            }
            if (key_count == MAX_ITEMS) {
                result = failf(error, error_size, "more than %d samples", MAX_ITEMS);
                break;
            }
            keys[key_count++] = strdup(current->key);
            for (size_t h = 0; h < histogram_count; h++) {
                const char *family = histograms[h];
                bool bucket = has_suffix(current->name, family, "_bucket");
                bool count = has_suffix(current->name, family, "_count");
                if (!bucket && !count) {
                    continue;
                }
                group *g = find_group(groups, &group_count, family, current->group);
                if (g == NULL) {
                    result = failf(error, error_size, "too many histogram series");
                    break;
                }
                if (count) {
                    g->has_count = true;
                    g->count = current->value;
                    continue;
                }
                if (current->le[0] == '\0') {
                    result = failf(error, error_size, "bucket without le: %s", current->key);
                    break;
                }
                double bound =
                    strcmp(current->le, "+Inf") == 0 ? INFINITY : strtod(current->le, NULL);
                if (g->has_inf) {
                    result = failf(error, error_size, "bucket after le=\"+Inf\": %s", current->key);
                } else if (!(bound > g->last_bound)) {
                    result =
                        failf(error, error_size, "le bounds not increasing at %s", current->key);
                } else if (current->value < g->last_count) {
                    result = failf(error, error_size, "buckets not cumulative at %s", current->key);
                }
                g->last_bound = bound;
                g->last_count = current->value;
                if (isinf(bound)) {
                    g->has_inf = true;
                    g->inf_count = current->value;
                }
            }
        }
        line = newline + 1;
    }
    for (size_t i = 0; result == 0 && i < group_count; i++) {
        if (groups[i].last_bound == -INFINITY) {
            continue; /* only _count seen: reported below through has_inf */
        }
        if (!groups[i].has_inf) {
            result = failf(error, error_size, "histogram %s{%s} has no le=\"+Inf\" bucket",
                           groups[i].family, groups[i].labels);
        } else if (!groups[i].has_count || groups[i].count != groups[i].inf_count) {
            result = failf(error, error_size, "histogram %s{%s}: _count differs from +Inf bucket",
                           groups[i].family, groups[i].labels);
        }
    }
    for (size_t i = 0; result == 0 && i < group_count; i++) {
        if (groups[i].has_count && !groups[i].has_inf) {
            result = failf(error, error_size, "histogram %s{%s} has _count but no buckets",
                           groups[i].family, groups[i].labels);
        }
    }
    if (result == 0) {
        qsort(keys, key_count, sizeof *keys, compare_keys);
        for (size_t i = 1; i < key_count; i++) {
            if (strcmp(keys[i - 1], keys[i]) == 0) {
                result = failf(error, error_size, "duplicate sample %s", keys[i]);
                break;
            }
        }
    }
    for (size_t i = 0; i < key_count; i++) {
        free(keys[i]);
    }
    free(keys);
    free(groups);
    free(histograms);
    free(current);
    return result;
}
