/* Encodes an asylo_enclave_config for the trip across the boundary (and the
 * network) and decodes it on the other side, checking every limit in
 * asylo/enclave_config.h: the decoder treats its input as hostile. */
#ifndef ASYLO_COMMON_ENCLAVE_CONFIG_CODEC_H
#define ASYLO_COMMON_ENCLAVE_CONFIG_CODEC_H

#include "asylo/enclave_config.h"
#include "common/bytes.h"

/* INVALID_ARGUMENT naming the offending variable when the config breaks a
 * limit or a name is empty or holds '='. */
asylo_code asylo__enclave_config_validate(const asylo_enclave_config *config, asylo_status *status);
asylo_code asylo__enclave_config_encode(const asylo_enclave_config *config, asylo__bytes *out,
                                        asylo_status *status);

/* A decoded config owns all its strings; free with asylo__decoded_config_fini. */
typedef struct asylo__decoded_config {
    asylo_enclave_config config;
    asylo_environment_variable *variables;
    char *strings; /* one block holding every name and value */
    size_t strings_size;
    void *user_config;
} asylo__decoded_config;

asylo_code asylo__enclave_config_decode(const uint8_t *data, size_t size,
                                        asylo__decoded_config *decoded, asylo_status *status);
void asylo__decoded_config_fini(asylo__decoded_config *decoded);

#endif
