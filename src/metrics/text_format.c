/* Number formatting and escaping for the text format; see text_format.h. */
#include "metrics/text_format.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *asylo__metrics_format_number(double value, char buffer[ASYLO__METRICS_NUMBER_SIZE]) {
    if (isnan(value)) {
        return strcpy(buffer, "NaN");
    }
    if (isinf(value)) {
        return strcpy(buffer, value > 0 ? "+Inf" : "-Inf");
    }
    if (value == 0) {
        return strcpy(buffer, "0"); /* also for -0 */
    }
    if (fabs(value) < 9007199254740992.0 && value == (double)(int64_t)value) {
        snprintf(buffer, ASYLO__METRICS_NUMBER_SIZE, "%.0f", value);
        return buffer;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buffer, ASYLO__METRICS_NUMBER_SIZE, "%.*g", precision, value);
        if (strtod(buffer, NULL) == value) {
            break;
        }
    }
    return buffer;
}

void asylo__metrics_text_init(asylo__metrics_text *text, asylo__bytes *out) {
    text->out = out;
    asylo_status_ok(&text->status);
}

static void put_bytes(asylo__metrics_text *text, const char *data, size_t size) {
    if (text->status.code != ASYLO_OK || size == 0) {
        return;
    }
    asylo__bytes_append(text->out, data, size, &text->status);
}

void asylo__metrics_text_put(asylo__metrics_text *text, const char *piece) {
    put_bytes(text, piece, strlen(piece));
}

void asylo__metrics_text_number(asylo__metrics_text *text, double value) {
    char buffer[ASYLO__METRICS_NUMBER_SIZE];
    asylo__metrics_text_put(text, asylo__metrics_format_number(value, buffer));
}

/* Copies runs of plain characters in one append each. */
static void put_escaped(asylo__metrics_text *text, const char *value, bool quote) {
    const char *run = value;
    for (const char *c = value;; c++) {
        const char *escape = NULL;
        if (*c == '\\') {
            escape = "\\\\";
        } else if (*c == '\n') {
            escape = "\\n";
        } else if (quote && *c == '"') {
            escape = "\\\"";
        } else if (*c != '\0') {
            continue;
        }
        put_bytes(text, run, (size_t)(c - run));
        if (escape == NULL) {
            return;
        }
        put_bytes(text, escape, 2);
        run = c + 1;
    }
}

void asylo__metrics_text_help(asylo__metrics_text *text, const char *help) {
    put_escaped(text, help, false);
}

void asylo__metrics_text_label_value(asylo__metrics_text *text, const char *value) {
    put_escaped(text, value, true);
}

asylo_code asylo__metrics_text_status(const asylo__metrics_text *text, asylo_status *status) {
    if (status != NULL) {
        *status = text->status;
    }
    return text->status.code;
}
