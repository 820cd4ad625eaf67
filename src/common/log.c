/* The stderr log sink: timestamps in UTC, one write(2) per line so lines from
 * concurrent threads and processes never interleave mid-line. */
#include "common/log.h"
#include "common/nosigpipe.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* -1 until first use, when $ASYLO_LOG_LEVEL (or info) is read. */
static atomic_int current_level = -1;

const char *asylo_log_level_name(asylo_log_level level) {
    switch (level) {
    case ASYLO_LOG_ERROR:
        return "error";
    case ASYLO_LOG_WARNING:
        return "warning";
    case ASYLO_LOG_INFO:
        return "info";
    case ASYLO_LOG_DEBUG:
        return "debug";
    }
    return "unknown";
}

asylo_code asylo_log_level_parse(const char *text, asylo_log_level *level, asylo_status *status) {
    static const asylo_log_level levels[] = {ASYLO_LOG_ERROR, ASYLO_LOG_WARNING, ASYLO_LOG_INFO,
                                             ASYLO_LOG_DEBUG};
    for (size_t i = 0; text != NULL && i < sizeof levels / sizeof levels[0]; i++) {
        if (strcasecmp(text, asylo_log_level_name(levels[i])) == 0) {
            *level = levels[i];
            return asylo_status_ok(status);
        }
    }
    return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                            "unknown log level '%s': use error, warning, info or debug",
                            text == NULL ? "(null)" : text);
}

void asylo_log_set_level(asylo_log_level level) {
    atomic_store(&current_level, (int)level);
}

asylo_log_level asylo_log_get_level(void) {
    int level = atomic_load(&current_level);
    if (level < 0) {
        asylo_log_level parsed = ASYLO_LOG_INFO;
        const char *from_environment = getenv("ASYLO_LOG_LEVEL");
        if (from_environment != NULL && from_environment[0] != '\0') {
            asylo_log_level_parse(from_environment, &parsed, NULL);
        }
        int expected = -1;
        atomic_compare_exchange_strong(&current_level, &expected, (int)parsed);
        level = atomic_load(&current_level);
    }
    return (asylo_log_level)level;
}

int asylo__log_enabled(asylo_log_level level) {
    return (int)level <= (int)asylo_log_get_level();
}

/* Writes one line; suffix (may be empty) survives a cut message. */
static void write_line(asylo_log_level level, const char *component, const char *enclave,
                       uint64_t call_id, const char *suffix, const char *format, va_list args) {
    char line[1024];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm utc;
    gmtime_r(&now.tv_sec, &utc);
    size_t length = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &utc);
    int written =
        snprintf(line + length, sizeof line - length, ".%03ldZ %s %s", now.tv_nsec / 1000000L,
                 asylo_log_level_name(level), component == NULL ? "asylo" : component);
    length += written > 0 ? (size_t)written : 0;
    if (enclave != NULL && length < sizeof line) {
        written = snprintf(line + length, sizeof line - length, " enclave=%s", enclave);
        length += written > 0 ? (size_t)written : 0;
    }
    if (call_id != 0 && length < sizeof line) {
        written = snprintf(line + length, sizeof line - length, " call=%llu",
                           (unsigned long long)call_id);
        length += written > 0 ? (size_t)written : 0;
    }
    if (length < sizeof line) {
        written = snprintf(line + length, sizeof line - length, ": ");
        length += written > 0 ? (size_t)written : 0;
    }
    size_t suffix_length = strlen(suffix);
    size_t message_room = sizeof line - 1 - suffix_length; /* the newline and the suffix */
    if (length < message_room) {
        written = vsnprintf(line + length, message_room - length, format, args);
        length += written > 0 ? (size_t)written : 0;
    }
    if (length >= message_room - 1) {
        length = message_room - 1; /* the line was cut */
    }
    memcpy(line + length, suffix, suffix_length);
    length += suffix_length;
    /* Control characters (an enclave's log text is untrusted) become '?', so one
     * event stays one line. */
    for (size_t i = 0; i < length; i++) {
        if ((unsigned char)line[i] < 0x20) {
            line[i] = '?';
        }
    }
    line[length++] = '\n';
    ssize_t ignored = asylo__write_nosigpipe(STDERR_FILENO, line, length);
    (void)ignored;
}

void asylo__log(asylo_log_level level, const char *component, const char *enclave, uint64_t call_id,
                const char *format, ...) {
    if (!asylo__log_enabled(level)) {
        return;
    }
    va_list args;
    va_start(args, format);
    write_line(level, component, enclave, call_id, "", format, args);
    va_end(args);
}

/* One lock for every call site's limit: only limited (refusal) lines take it. */
static pthread_mutex_t limit_lock = PTHREAD_MUTEX_INITIALIZER;

void asylo__log_limited(asylo__log_limit *limit, int64_t now_ms, asylo_log_level level,
                        const char *component, const char *enclave, uint64_t call_id,
                        const char *format, ...) {
    if (!asylo__log_enabled(level)) {
        return;
    }
    pthread_mutex_lock(&limit_lock);
    if (now_ms - limit->window_start_ms >= 1000 || now_ms < limit->window_start_ms) {
        limit->window_start_ms = now_ms;
        limit->written = 0;
    }
    bool write_it = limit->written < ASYLO__LOG_LIMIT_PER_SECOND;
    uint64_t suppressed = 0;
    if (write_it) {
        limit->written++;
        suppressed = limit->suppressed;
        limit->suppressed = 0;
    } else {
        limit->suppressed++;
    }
    pthread_mutex_unlock(&limit_lock);
    if (!write_it) {
        return;
    }
    char suffix[64] = "";
    if (suppressed > 0) {
        snprintf(suffix, sizeof suffix, " (suppressed %llu similar message%s)",
                 (unsigned long long)suppressed, suppressed == 1 ? "" : "s");
    }
    va_list args;
    va_start(args, format);
    write_line(level, component, enclave, call_id, suffix, format, args);
    va_end(args);
}
