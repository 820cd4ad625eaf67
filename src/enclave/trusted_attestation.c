/* asylo_enclave_get_evidence: the EVIDENCE exit, answered by the backend that
 * loaded this enclave (on the target machine under remote). */
#include <string.h>

#include "asylo/attestation.h"
#include "enclave/runtime_internal.h"

static void put_u32(uint8_t *bytes, uint32_t value) {
    for (int i = 0; i < 4; i++) {
        bytes[i] = (uint8_t)(value >> (8 * i));
    }
}

asylo_code asylo_enclave_get_evidence(const void *nonce, size_t nonce_size, const void *user_data,
                                      size_t user_data_size, asylo_buffer *evidence,
                                      asylo_status *status) {
    if (evidence == NULL || nonce == NULL || nonce_size < ASYLO_EVIDENCE_MIN_NONCE_SIZE ||
        nonce_size > ASYLO_EVIDENCE_MAX_NONCE_SIZE ||
        user_data_size > ASYLO_EVIDENCE_MAX_USER_DATA_SIZE ||
        (user_data == NULL && user_data_size > 0)) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "asylo_enclave_get_evidence: nonce of %d..%d bytes and user data "
                                "of at most %d bytes (got %zu and %zu)",
                                ASYLO_EVIDENCE_MIN_NONCE_SIZE, ASYLO_EVIDENCE_MAX_NONCE_SIZE,
                                ASYLO_EVIDENCE_MAX_USER_DATA_SIZE, nonce_size, user_data_size);
    }
    uint8_t request[4 + ASYLO_EVIDENCE_MAX_NONCE_SIZE + 4 + ASYLO_EVIDENCE_MAX_USER_DATA_SIZE];
    put_u32(request, (uint32_t)nonce_size);
    memcpy(request + 4, nonce, nonce_size);
    put_u32(request + 4 + nonce_size, (uint32_t)user_data_size);
    if (user_data_size > 0) {
        memcpy(request + 8 + nonce_size, user_data, user_data_size);
    }
    asylo_code code =
        asylo__enclave_exit(ASYLO_SELECTOR_EVIDENCE, request, 8 + nonce_size + user_data_size,
                            ASYLO_EVIDENCE_MAX_SIZE, evidence, status);
    if (code != ASYLO_OK) {
        asylo_status_prefix(status, "asking the backend for evidence");
    }
    return code;
}
