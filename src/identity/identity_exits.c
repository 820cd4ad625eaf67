/* Answers the IDENTITY and SEAL_KEY exits (layout in identity_exits.h). The
 * input comes from the enclave: sizes are checked exactly. */
#include "identity/identity_exits.h"

#include <stdlib.h>
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
           selector == ASYLO_SELECTOR_EVIDENCE || selector == ASYLO_SELECTOR_VERIFY_EVIDENCE;
}

static void encode_identity(const asylo_enclave_identity *identity,
                            uint8_t wire[ASYLO__IDENTITY_WIRE_SIZE]) {
    memset(wire, 0, ASYLO__IDENTITY_WIRE_SIZE);
    put_u32(wire, ASYLO__IDENTITY_WIRE_VERSION);
    memcpy(wire + 4, identity->measurement, 32);
    memcpy(wire + 36, identity->signer_id, 32);
    put_u32(wire + 68, identity->product_id);
    put_u32(wire + 72, identity->svn);
    put_u32(wire + 76, (identity->is_signed ? ASYLO__IDENTITY_FLAG_SIGNED : 0u) |
                           (identity->debug ? ASYLO__IDENTITY_FLAG_DEBUG : 0u));
    size_t name_size = strnlen(identity->backend, sizeof identity->backend - 1);
    memcpy(wire + 80, identity->backend, name_size);
}

static asylo_code answer_identity(const asylo_enclave_identity *identity, size_t input_size,
                                  asylo_output *output, asylo_status *status) {
    if (input_size != 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "identity exit takes no input (got %zu bytes)", input_size);
    }
    uint8_t wire[ASYLO__IDENTITY_WIRE_SIZE];
    encode_identity(identity, wire);
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

/* Local attestation: another enclave's evidence, checked for the asking
 * enclave against its policy with this platform's key as the only trusted
 * key (both enclaves run on this platform). */
static asylo_code answer_verify(const uint8_t *input, size_t input_size, asylo_output *output,
                                asylo_status *status) {
    size_t nonce_size = input != NULL && input_size >= ASYLO__VERIFY_HEADER_SIZE
                            ? get_u32(input + ASYLO__VERIFY_HEADER_SIZE - 4)
                            : SIZE_MAX;
    if (nonce_size > input_size - ASYLO__VERIFY_HEADER_SIZE ||
        (get_u32(input) & ~ASYLO__VERIFY_FLAGS) != 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "verify evidence exit: malformed request of %zu bytes", input_size);
    }
    uint32_t flags = get_u32(input);
    uint8_t public_key[ASYLO_PLATFORM_KEY_SIZE];
    asylo_code code = asylo__platform_attestation_public_key(public_key, status);
    if (code != ASYLO_OK) {
        return code;
    }
    asylo_attestation_policy policy = {
        .nonce = input + ASYLO__VERIFY_HEADER_SIZE,
        .nonce_size = nonce_size,
        .trusted_keys = public_key,
        .trusted_key_count = 1,
        .expected_measurement = flags & ASYLO__VERIFY_EXPECT_MEASUREMENT ? input + 4 : NULL,
        .expected_signer_id = flags & ASYLO__VERIFY_EXPECT_SIGNER ? input + 36 : NULL,
        .check_product_id = (flags & ASYLO__VERIFY_CHECK_PRODUCT) != 0,
        .product_id = get_u32(input + 68),
        .min_svn = get_u32(input + 72),
        .allow_debug = (flags & ASYLO__VERIFY_ALLOW_DEBUG) != 0,
    };
    const uint8_t *evidence = input + ASYLO__VERIFY_HEADER_SIZE + nonce_size;
    size_t evidence_size = input_size - ASYLO__VERIFY_HEADER_SIZE - nonce_size;
    asylo_attestation_claims *claims = calloc(1, sizeof *claims);
    uint8_t *answer = malloc(ASYLO__VERIFY_ANSWER_HEADER_SIZE + ASYLO_EVIDENCE_MAX_USER_DATA_SIZE);
    if (claims == NULL || answer == NULL) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "verify evidence exit: out of memory");
        goto out;
    }
    code = asylo_attestation_verify(evidence, evidence_size, &policy, claims, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    encode_identity(&claims->identity, answer);
    size_t at = ASYLO__IDENTITY_WIRE_SIZE;
    memset(answer + at, 0, 32);
    memcpy(answer + at, claims->root, strnlen(claims->root, 31));
    at += 32;
    uint64_t issued_at = (uint64_t)claims->issued_at;
    put_u32(answer + at, (uint32_t)issued_at);
    put_u32(answer + at + 4, (uint32_t)(issued_at >> 32));
    at += 8;
    memcpy(answer + at, claims->ueid, sizeof claims->ueid);
    at += sizeof claims->ueid;
    memcpy(answer + at, claims->user_data, claims->user_data_size);
    at += claims->user_data_size;
    code = asylo_output_write(output, answer, at, status);
out:
    free(claims);
    free(answer);
    return code;
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
    case ASYLO_SELECTOR_VERIFY_EVIDENCE:
        return answer_verify(input, input_size, output, status);
    default:
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_BACKEND,
                                "selector 0x%x is not an identity exit", selector);
    }
}
