/* asylo/log.h: log levels and the host-side log sink.
 *
 * asylo-c writes one line per event to stderr:
 *   2026-11-25T16:50:00.123Z info proxy enclave=demo call=7: loaded with backend sim
 * Enclave log lines (made with asylo_enclave_log) arrive through the built-in
 * log exit call and are written the same way with component "enclave".
 * Nothing the library logs ever contains payload bytes, keys or tokens. */
#ifndef ASYLO_LOG_H
#define ASYLO_LOG_H

#include "asylo/export.h"
#include "asylo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum asylo_log_level {
    ASYLO_LOG_ERROR = 0,
    ASYLO_LOG_WARNING = 1,
    ASYLO_LOG_INFO = 2,
    ASYLO_LOG_DEBUG = 3,
} asylo_log_level;

/* "error", "warning", "info", "debug". */
ASYLO_API const char *asylo_log_level_name(asylo_log_level level);
/* Parses those names (case-insensitive); INVALID_ARGUMENT naming the choices. */
ASYLO_API asylo_code asylo_log_level_parse(const char *text, asylo_log_level *level,
                                           asylo_status *status);
/* Lines above this level are dropped. Default: info, or $ASYLO_LOG_LEVEL when
 * set at first use. Thread-safe. */
ASYLO_API void asylo_log_set_level(asylo_log_level level);
ASYLO_API asylo_log_level asylo_log_get_level(void);

#ifdef __cplusplus
}
#endif

#endif
