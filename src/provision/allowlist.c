#include "provision/allowlist.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provision/provision_server.h"

static int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int asylo__sha256_parse(const char *text, size_t length, uint8_t digest[ASYLO__SHA256_SIZE]) {
    if (length != 2 * ASYLO__SHA256_SIZE) {
        return 0;
    }
    for (size_t i = 0; i < ASYLO__SHA256_SIZE; i++) {
        int high = hex_value(text[2 * i]);
        int low = hex_value(text[2 * i + 1]);
        if (high < 0 || low < 0) {
            return 0;
        }
        digest[i] = (uint8_t)(high << 4 | low);
    }
    return 1;
}

asylo_code asylo__allowlist_load(const char *path, uint8_t (**entries)[ASYLO__SHA256_SIZE],
                                 size_t *count, asylo_status *status) {
    *entries = NULL;
    *count = 0;
    FILE *file = fopen(path, "re");
    if (file == NULL) {
        return asylo_status_set(status, errno == ENOENT ? ASYLO_NOT_FOUND : ASYLO_PERMISSION_DENIED,
                                ASYLO_ORIGIN_API, "--allowlist '%s': %s", path, strerror(errno));
    }
    uint8_t(*list)[ASYLO__SHA256_SIZE] = calloc(ASYLO__MAX_ALLOWLIST_ENTRIES, sizeof *list);
    asylo_code code = list == NULL ? asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED,
                                                      ASYLO_ORIGIN_API, "out of memory")
                                   : ASYLO_OK;
    char line[256];
    size_t line_number = 0;
    while (code == ASYLO_OK && fgets(line, sizeof line, file) != NULL) {
        line_number++;
        if (strchr(line, '\n') == NULL && !feof(file)) {
            /* Read on, and a long line would split in two: the tail of a
             * comment could become an entry. */
            code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "--allowlist '%s' line %zu is longer than %zu bytes", path,
                                    line_number, sizeof line - 2);
            break;
        }
        size_t length = strcspn(line, "\r\n");
        line[length] = '\0';
        while (length > 0 && isspace((unsigned char)line[length - 1])) {
            line[--length] = '\0';
        }
        const char *start = line;
        while (isspace((unsigned char)*start)) {
            start++;
        }
        if (*start == '\0' || *start == '#') {
            continue;
        }
        if (*count == ASYLO__MAX_ALLOWLIST_ENTRIES) {
            code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                    "--allowlist '%s' has more than %d entries", path,
                                    ASYLO__MAX_ALLOWLIST_ENTRIES);
        } else if (!asylo__sha256_parse(start, strlen(start), list[*count])) {
            code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "--allowlist '%s' line %zu is not a SHA-256 in hex", path,
                                    line_number);
        } else {
            (*count)++;
        }
    }
    fclose(file);
    if (code != ASYLO_OK) {
        free(list);
        *count = 0;
        return code;
    }
    *entries = list;
    return asylo_status_ok(status);
}
