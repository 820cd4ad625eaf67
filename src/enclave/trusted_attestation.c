/* asylo_enclave_get_evidence and asylo_enclave_verify_evidence: the EVIDENCE
 * and VERIFY_EVIDENCE exits, answered by the backend that loaded this enclave
 * (on the target machine under remote). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylo/attestation.h"
#include "enclave/runtime_internal.h"
#include "identity/identity_exits.h"

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

static uint32_t get_u32(const uint8_t *bytes) {
    return (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
           (uint32_t)bytes[3] << 24;
}

/* The answer crossed the boundary: its shape is checked exactly. */
static asylo_code decode_claims(const asylo_buffer *answer, asylo_attestation_claims *claims,
                                asylo_status *status) {
    const uint8_t *at = answer->data;
    size_t user_data_size = answer->size - ASYLO__VERIFY_ANSWER_HEADER_SIZE;
    if (answer->size < ASYLO__VERIFY_ANSWER_HEADER_SIZE ||
        user_data_size > ASYLO_EVIDENCE_MAX_USER_DATA_SIZE ||
        !asylo__identity_wire_decode(at, ASYLO__IDENTITY_WIRE_SIZE, &claims->identity) ||
        at[ASYLO__IDENTITY_WIRE_SIZE + 31] != 0) {
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE,
                                "the verify evidence answer is malformed (%zu bytes)",
                                answer->size);
    }
    at += ASYLO__IDENTITY_WIRE_SIZE;
    memcpy(claims->root, at, 32);
    at += 32;
    claims->issued_at = (int64_t)((uint64_t)get_u32(at) | (uint64_t)get_u32(at + 4) << 32);
    at += 8;
    memcpy(claims->ueid, at, sizeof claims->ueid);
    at += sizeof claims->ueid;
    snprintf(claims->profile, sizeof claims->profile, "%s", ASYLO_EAT_PROFILE);
    memcpy(claims->user_data, at, user_data_size);
    claims->user_data_size = user_data_size;
    return asylo_status_ok(status);
}

asylo_code asylo_enclave_verify_evidence(const uint8_t *evidence, size_t evidence_size,
                                         const asylo_attestation_policy *policy,
                                         asylo_attestation_claims *claims, asylo_status *status) {
    if (evidence == NULL || evidence_size == 0 || evidence_size > ASYLO_EVIDENCE_MAX_SIZE ||
        policy == NULL || policy->nonce == NULL ||
        policy->nonce_size < ASYLO_EVIDENCE_MIN_NONCE_SIZE ||
        policy->nonce_size > ASYLO_EVIDENCE_MAX_NONCE_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "asylo_enclave_verify_evidence: evidence of 1..%d bytes (got %zu) "
                                "and a policy with a nonce of %d..%d bytes",
                                ASYLO_EVIDENCE_MAX_SIZE, evidence_size,
                                ASYLO_EVIDENCE_MIN_NONCE_SIZE, ASYLO_EVIDENCE_MAX_NONCE_SIZE);
    }
    size_t request_size = ASYLO__VERIFY_HEADER_SIZE + policy->nonce_size + evidence_size;
    uint8_t *request = calloc(1, request_size);
    asylo_buffer answer = {0};
    asylo_code code;
    if (request == NULL) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_ENCLAVE,
                                "asylo_enclave_verify_evidence: out of memory");
        goto out;
    }
    uint32_t flags = (policy->expected_measurement ? ASYLO__VERIFY_EXPECT_MEASUREMENT : 0u) |
                     (policy->expected_signer_id ? ASYLO__VERIFY_EXPECT_SIGNER : 0u) |
                     (policy->check_product_id ? ASYLO__VERIFY_CHECK_PRODUCT : 0u) |
                     (policy->allow_debug ? ASYLO__VERIFY_ALLOW_DEBUG : 0u);
    put_u32(request, flags);
    if (policy->expected_measurement != NULL) {
        memcpy(request + 4, policy->expected_measurement, 32);
    }
    if (policy->expected_signer_id != NULL) {
        memcpy(request + 36, policy->expected_signer_id, 32);
    }
    put_u32(request + 68, policy->product_id);
    put_u32(request + 72, policy->min_svn);
    put_u32(request + 76, (uint32_t)policy->nonce_size);
    memcpy(request + ASYLO__VERIFY_HEADER_SIZE, policy->nonce, policy->nonce_size);
    memcpy(request + ASYLO__VERIFY_HEADER_SIZE + policy->nonce_size, evidence, evidence_size);
    code = asylo__enclave_exit(ASYLO_SELECTOR_VERIFY_EVIDENCE, request, request_size,
                               ASYLO__VERIFY_ANSWER_HEADER_SIZE + ASYLO_EVIDENCE_MAX_USER_DATA_SIZE,
                               &answer, status);
    if (code != ASYLO_OK) {
        asylo_status_prefix(status, "local attestation: the platform refused the evidence");
        goto out;
    }
    asylo_attestation_claims local;
    memset(&local, 0, sizeof local);
    code = decode_claims(&answer, &local, status);
    if (code == ASYLO_OK && claims != NULL) {
        *claims = local;
    }
out:
    free(request);
    asylo_buffer_free(&answer);
    return code;
}
