/* Name and label checks; see names.h. */
#include "metrics/names.h"

#include <stdint.h>
#include <string.h>

static bool is_letter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

bool asylo__metrics_valid_metric_name(const char *name) {
    if (name == NULL || name[0] == '\0' || is_digit(name[0])) {
        return false;
    }
    for (const char *c = name; *c != '\0'; c++) {
        if (!is_letter(*c) && !is_digit(*c) && *c != '_' && *c != ':') {
            return false;
        }
    }
    return true;
}

bool asylo__metrics_valid_label_name(const char *name) {
    if (name == NULL || name[0] == '\0' || is_digit(name[0]) || strncmp(name, "__", 2) == 0) {
        return false;
    }
    for (const char *c = name; *c != '\0'; c++) {
        if (!is_letter(*c) && !is_digit(*c) && *c != '_') {
            return false;
        }
    }
    return true;
}

bool asylo__metrics_valid_utf8(const char *text, size_t size) {
    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0;
    while (i < size) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t length;
        uint32_t point;
        if (c >= 0xc2 && c <= 0xdf) {
            length = 2;
            point = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            length = 3;
            point = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            length = 4;
            point = c & 0x07;
        } else {
            return false;
        }
        if (size - i < length) {
            return false;
        }
        for (size_t k = 1; k < length; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            point = (point << 6) | (s[i + k] & 0x3f);
        }
        if ((length == 3 && point < 0x800) || (length == 4 && point < 0x10000) ||
            (point >= 0xd800 && point <= 0xdfff) || point > 0x10ffff) {
            return false;
        }
        i += length;
    }
    return true;
}
