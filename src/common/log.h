/* Internal logging: one line per event on stderr (see asylo/log.h). */
#ifndef ASYLO_COMMON_LOG_H
#define ASYLO_COMMON_LOG_H

#include <stdint.h>

#include "asylo/log.h"
#include "common/clock.h"

/* enclave may be NULL; call_id 0 means "no call". Never pass secret bytes. */
void asylo__log(asylo_log_level level, const char *component, const char *enclave, uint64_t call_id,
                const char *format, ...) __attribute__((format(printf, 5, 6)));
int asylo__log_enabled(asylo_log_level level);

/* Rate limit of one call site (a refusal a hostile client can repeat at
 * will): at most ASYLO__LOG_LIMIT_PER_SECOND lines per second; the next line
 * written after some were dropped ends with "(suppressed N similar
 * messages)". Zero-initialised; one per call site (ASYLO__LOG_LIMITED). */
typedef struct asylo__log_limit {
    int64_t window_start_ms;
    uint32_t written;    /* lines written in the current second */
    uint64_t suppressed; /* lines dropped since the last one written */
} asylo__log_limit;
#define ASYLO__LOG_LIMIT_PER_SECOND 5

/* now_ms: a monotonic time in ms (asylo__monotonic_ms(); tests pass their
 * own). Thread-safe. */
void asylo__log_limited(asylo__log_limit *limit, int64_t now_ms, asylo_log_level level,
                        const char *component, const char *enclave, uint64_t call_id,
                        const char *format, ...) __attribute__((format(printf, 7, 8)));

/* asylo__log with a rate limit of its own for this call site. */
#define ASYLO__LOG_LIMITED(level, component, enclave, call_id, ...)                                \
    do {                                                                                           \
        static asylo__log_limit asylo__call_site_limit;                                            \
        asylo__log_limited(&asylo__call_site_limit, asylo__monotonic_ms(), level, component,       \
                           enclave, call_id, __VA_ARGS__);                                         \
    } while (0)

#endif
