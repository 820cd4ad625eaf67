/* Answers the IDENTITY and SEAL_KEY exits (layout in identity_exits.h). The
 * input comes from the enclave: sizes are checked exactly. */
#include "identity/identity_exits.h"

#include <string.h>

#include "asylo/crypto.h"
#include "asylo/selectors.h"
#include "identity/evidence.h"
#include "identity/platform.h"

static void put_u32(uint8_t *bytes, uint32_t value) {
    for (int i = 0; i < 4; i++) {
        bytes[i] = (uint8_t)(value >> (8 * i));
    }
}

static uint32_t get_u32(const uint8_t *bytes) {
    return (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
           (uint32_t)bytes[3] << 24;
}

int asylo__identity_exit_is_builtin(uint32_t selector) {
    return selector == ASYLO_SELECTOR_IDENTITY || selector == ASYLO_SELECTOR_SEAL_KEY ||
           selector == ASYLO_SELECTOR_EVIDENCE;
}

static asylo_code answer_identity(const asylo_enclave_identity *identity, size_t input_size,
                                  asylo_output *output, asylo_status *status) {
    if (input_size != 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "identity exit takes no input (got %zu bytes)", input_size);
    }
    uint8_t wire[ASYLO__IDENTITY_WIRE_SIZE] = {0};
    put_u32(wire, ASYLO__IDENTITY_WIRE_VERSION);
    memcpy(wire + 4, identity->measurement, 32);
    memcpy(wire + 36, identity->signer_id, 32);
    put_u32(wire + 68, identity->product_id);
    put_u32(wire + 72, identity->svn);
    put_u32(wire + 76, (identity->is_signed ? ASYLO__IDENTITY_FLAG_SIGNED : 0u) |
                           (identity->debug ? ASYLO__IDENTITY_FLAG_DEBUG : 0u));
    size_t name_size = strnlen(identity->backend, sizeof identity->backend - 1);
    memcpy(wire + 80, identity->backend, name_size);
    return asylo_output_write(output, wire, sizeof wire, status);
}

static asylo_code answer_seal_key(const asylo_enclave_identity *identity, const uint8_t *input,
                                  size_t input_size, asylo_output *output, asylo_status *status) {
    if (input == NULL || input_size != ASYLO__SEAL_KEY_REQUEST_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "seal key exit: request is %zu bytes, expected %u", input_size,
                                ASYLO__SEAL_KEY_REQUEST_SIZE);
    }
    uint8_t key[32];
    asylo_code code = asylo__seal_key_derive(identity, get_u32(input), input + 4,
                                             get_u32(input + 20), key, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, key, sizeof key, status);
    }
    asylo_crypto_wipe(key, sizeof key);
    return code;
}

static asylo_code answer_evidence(const asylo_enclave_identity *identity, const uint8_t *input,
                                  size_t input_size, asylo_output *output, asylo_status *status) {
    /* in: u32 nonce size, nonce, u32 user data size, user data; exact. */
    size_t nonce_size = input_size >= 4 ? get_u32(input) : SIZE_MAX;
    size_t user_at = nonce_size <= input_size - 4 && input_size - 4 - nonce_size >= 4
                         ? 4 + nonce_size
                         : SIZE_MAX;
    if (input == NULL || user_at == SIZE_MAX ||
        get_u32(input + user_at) != input_size - user_at - 4) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "evidence exit: malformed request of %zu bytes", input_size);
    }
    return asylo__evidence_issue(identity, input + 4, nonce_size, input + user_at + 4,
                                 input_size - user_at - 4, output, status);
}

asylo_code asylo__identity_exit(const asylo_enclave_identity *identity, uint32_t selector,
                                const uint8_t *input, size_t input_size, asylo_output *output,
                                asylo_status *status) {
    switch (selector) {
    case ASYLO_SELECTOR_IDENTITY:
        return answer_identity(identity, input_size, output, status);
    case ASYLO_SELECTOR_SEAL_KEY:
        return answer_seal_key(identity, input, input_size, output, status);
    case ASYLO_SELECTOR_EVIDENCE:
        return answer_evidence(identity, input, input_size, output, status);
    default:
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_BACKEND,
                                "selector 0x%x is not an identity exit", selector);
    }
}
