/* The enclave config codec (src/common/enclave_config_codec.c): the enclave
 * decodes what the host sent, the proxy decodes what the network sent. A
 * config that decodes must validate, encode and decode to the same values. */
#include <string.h>

#include "common/enclave_config_codec.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    asylo__decoded_config decoded;
    asylo_status status;
    asylo_code code = asylo__enclave_config_decode(data, size, &decoded, &status);
    FUZZ_CHECK(asylo_code_is_valid((int)code));
    if (code != ASYLO_OK) {
        return 0;
    }
    FUZZ_CHECK(asylo__enclave_config_validate(&decoded.config, &status) == ASYLO_OK);
    asylo__bytes encoded;
    asylo__bytes_init(&encoded, ASYLO__BYTES_DEFAULT_LIMIT);
    FUZZ_CHECK(asylo__enclave_config_encode(&decoded.config, &encoded, &status) == ASYLO_OK);
    asylo__decoded_config again;
    FUZZ_CHECK(asylo__enclave_config_decode(encoded.data, encoded.size, &again, &status) ==
               ASYLO_OK);
    FUZZ_CHECK(again.config.environment_count == decoded.config.environment_count);
    for (size_t i = 0; i < again.config.environment_count; i++) {
        FUZZ_CHECK(strcmp(again.config.environment[i].name, decoded.config.environment[i].name) ==
                   0);
        FUZZ_CHECK(strcmp(again.config.environment[i].value, decoded.config.environment[i].value) ==
                   0);
    }
    FUZZ_CHECK(again.config.user_config_size == decoded.config.user_config_size);
    FUZZ_CHECK(again.config.user_config_size == 0 ||
               memcmp(again.config.user_config, decoded.config.user_config,
                      again.config.user_config_size) == 0);
    asylo__decoded_config_fini(&again);
    asylo__bytes_fini(&encoded);
    asylo__decoded_config_fini(&decoded);
    return 0;
}
