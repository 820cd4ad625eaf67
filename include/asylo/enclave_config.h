/* asylo/enclave_config.h: what the host hands an enclave at initialize.
 *
 * The host fills it in the load config; it is encoded, copied across the
 * boundary and decoded inside the enclave, where the trusted application's
 * initialize callback receives a read-only view that stays valid until the
 * enclave is finalized. */
#ifndef ASYLO_ENCLAVE_CONFIG_H
#define ASYLO_ENCLAVE_CONFIG_H

#include <stddef.h>

#include "asylo/log.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct asylo_environment_variable {
    const char *name;
    const char *value;
} asylo_environment_variable;

/* Limits checked on both sides of the boundary (INVALID_ARGUMENT past them). */
#define ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES 1024
#define ASYLO_ENCLAVE_CONFIG_MAX_NAME_SIZE 256
#define ASYLO_ENCLAVE_CONFIG_MAX_VALUE_SIZE 65536
#define ASYLO_ENCLAVE_CONFIG_MAX_USER_SIZE (16u << 20)

typedef struct asylo_enclave_config {
    /* The enclave's own environment, separate from the host's: read it inside
     * with asylo_enclave_getenv. Names must be non-empty without '='. */
    const asylo_environment_variable *environment;
    size_t environment_count;
    /* Enclave log lines above this level are dropped inside the enclave, so
     * they cost no exit call. */
    asylo_log_level log_level;
    /* Opaque bytes for the trusted application. */
    const void *user_config;
    size_t user_config_size;
} asylo_enclave_config;

#ifdef __cplusplus
}
#endif

#endif
