/* Internal logging: one line per event on stderr (see asylo/log.h). */
#ifndef ASYLO_COMMON_LOG_H
#define ASYLO_COMMON_LOG_H

#include <stdint.h>

#include "asylo/log.h"

/* enclave may be NULL; call_id 0 means "no call". Never pass secret bytes. */
void asylo__log(asylo_log_level level, const char *component, const char *enclave, uint64_t call_id,
                const char *format, ...) __attribute__((format(printf, 5, 6)));
int asylo__log_enabled(asylo_log_level level);

#endif
