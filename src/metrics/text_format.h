/* Pieces of the Prometheus text exposition format 0.0.4: number formatting,
 * escaping, and an appending writer whose first error sticks. */
#ifndef ASYLO_METRICS_TEXT_FORMAT_H
#define ASYLO_METRICS_TEXT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>

#include "asylo/status.h"
#include "common/bytes.h"

/* The Content-Type of what asylo__metrics_render writes. */
#define ASYLO__METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Big enough for any formatted double. */
#define ASYLO__METRICS_NUMBER_SIZE 32

/* Formats value the way Prometheus clients do: "+Inf", "-Inf", "NaN",
 * integers below 2^53 without exponent or fraction ("1024"), otherwise the
 * shortest text that reads back as the same double ("0.1", "1.5e-07").
 * Returns buffer. */
const char *asylo__metrics_format_number(double value, char buffer[ASYLO__METRICS_NUMBER_SIZE]);

typedef struct asylo__metrics_text {
    asylo__bytes *out;
    asylo_status status; /* the first failure; code OK while none */
} asylo__metrics_text;

void asylo__metrics_text_init(asylo__metrics_text *text, asylo__bytes *out);
void asylo__metrics_text_put(asylo__metrics_text *text, const char *piece);
void asylo__metrics_text_number(asylo__metrics_text *text, double value);
/* HELP text: escapes backslash and newline. */
void asylo__metrics_text_help(asylo__metrics_text *text, const char *help);
/* A label value: escapes backslash, double quote and newline. */
void asylo__metrics_text_label_value(asylo__metrics_text *text, const char *value);
asylo_code asylo__metrics_text_status(const asylo__metrics_text *text, asylo_status *status);

#endif
