/* Status values: the code/origin names and message formatting. Compiled into
 * both the host library and the trusted runtime, so it uses nothing but libc. */
#include "asylo/status.h"

#include <stdio.h>
#include <string.h>

const char *asylo_code_name(asylo_code code) {
    switch (code) {
#define CODE_NAME(name, value)                                                                     \
    case ASYLO_##name:                                                                             \
        return #name;
        ASYLO_STATUS_CODES(CODE_NAME)
#undef CODE_NAME
    }
    return "UNKNOWN_CODE";
}

const char *asylo_origin_name(asylo_origin origin) {
    switch (origin) {
#define ORIGIN_NAME(name, value, text)                                                             \
    case ASYLO_ORIGIN_##name:                                                                      \
        return text;
        ASYLO_STATUS_ORIGINS(ORIGIN_NAME)
#undef ORIGIN_NAME
    }
    return "unknown";
}

int asylo_code_is_valid(int code) {
    return code >= ASYLO_OK && code <= ASYLO_UNAUTHENTICATED;
}

/* Marks a cut message with "..." so a reader knows text was lost. */
static void mark_truncated(char *message, size_t size, int written) {
    if (written >= 0 && (size_t)written >= size && size > 4) {
        memcpy(message + size - 4, "...", 4);
    }
}

asylo_code asylo_status_setv(asylo_status *status, asylo_code code, asylo_origin origin,
                             const char *format, va_list args) {
    if (status == NULL) {
        return code;
    }
    status->code = code;
    status->origin = code == ASYLO_OK ? ASYLO_ORIGIN_NONE : origin;
    if (format == NULL) {
        status->message[0] = '\0';
        return code;
    }
    int written = vsnprintf(status->message, sizeof status->message, format, args);
    if (written < 0) {
        status->message[0] = '\0';
    }
    mark_truncated(status->message, sizeof status->message, written);
    return code;
}

asylo_code asylo_status_set(asylo_status *status, asylo_code code, asylo_origin origin,
                            const char *format, ...) {
    va_list args;
    va_start(args, format);
    asylo_status_setv(status, code, origin, format, args);
    va_end(args);
    return code;
}

asylo_code asylo_status_ok(asylo_status *status) {
    if (status != NULL) {
        status->code = ASYLO_OK;
        status->origin = ASYLO_ORIGIN_NONE;
        status->message[0] = '\0';
    }
    return ASYLO_OK;
}

asylo_code asylo_status_prefix(asylo_status *status, const char *format, ...) {
    if (status == NULL) {
        return ASYLO_UNKNOWN;
    }
    char prefix[ASYLO_STATUS_MESSAGE_SIZE];
    va_list args;
    va_start(args, format);
    int prefix_length = vsnprintf(prefix, sizeof prefix, format, args);
    va_end(args);
    if (prefix_length < 0) {
        return status->code;
    }
    char old[ASYLO_STATUS_MESSAGE_SIZE];
    memcpy(old, status->message, sizeof old);
    old[sizeof old - 1] = '\0';
    int written = snprintf(status->message, sizeof status->message, "%s: %s", prefix, old);
    mark_truncated(status->message, sizeof status->message, written);
    return status->code;
}

const char *asylo_status_format(const asylo_status *status, char *buffer, size_t buffer_size) {
    if (buffer == NULL || buffer_size == 0) {
        return buffer;
    }
    if (status == NULL) {
        snprintf(buffer, buffer_size, "OK");
        return buffer;
    }
    if (status->code == ASYLO_OK) {
        snprintf(buffer, buffer_size, "OK");
    } else {
        snprintf(buffer, buffer_size, "%s (%s): %.*s", asylo_code_name(status->code),
                 asylo_origin_name(status->origin), (int)sizeof status->message, status->message);
    }
    return buffer;
}
