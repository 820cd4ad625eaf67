/* Name rules of the Prometheus data model. */
#ifndef ASYLO_METRICS_NAMES_H
#define ASYLO_METRICS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
bool asylo__metrics_valid_metric_name(const char *name);
/* [a-zA-Z_][a-zA-Z0-9_]*, and not "__"-prefixed (reserved by Prometheus). */
bool asylo__metrics_valid_label_name(const char *name);
/* True when text is valid UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF). */
bool asylo__metrics_valid_utf8(const char *text, size_t size);

#endif
