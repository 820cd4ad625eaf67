/* Remote attestation before the first call (docs/attestation.md, "Remote
 * binding"): after LOAD, the host sends a fresh nonce on the control stream;
 * the proxy answers with evidence made by the target's platform for the image
 * it is about to run, whose user data is the channel binding. The host checks
 * the token, the nonce, the binding and its policy; on any failure the load
 * fails with UNAUTHENTICATED and INITIALIZE is never sent, so no code of the
 * image runs. */
#include <stdlib.h>
#include <string.h>

#include "asylo/attestation.h"
#include "asylo/crypto.h"
#include "asylo/remote.pb-c.h"
#include "asylo/selectors.h"
#include "backends/remote/remote_state.h"
#include "common/bytes_output.h"
#include "common/log.h"
#include "identity/channel_binding.h"
#include "identity/image_identity.h"

#define ATTEST_NONCE_SIZE 32

/* The binding the proxy must have put in the token, from what this side sees
 * of the connection: the server certificate under ssl, else the token. */
static asylo_code expected_binding(remote_state *state, uint8_t binding[ASYLO__BINDING_SIZE],
                                   asylo_status *status) {
    if (state->security.type != ASYLO__SECURITY_SSL) {
        return asylo__binding_from_token(state->endpoint.token, binding, status);
    }
    char *pem = NULL;
    size_t pem_size = 0;
    asylo__client_stream_peer_certificate(state->control, &pem, &pem_size);
    asylo_code code;
    if (pem == NULL) {
        code = asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_TRANSPORT,
                                "the TLS connection to %s shows no server certificate to bind",
                                state->endpoint.address);
    } else {
        code = asylo__binding_from_cert_pem(pem, pem_size, "the proxy's TLS certificate", binding,
                                            status);
    }
    free(pem);
    return code;
}

/* Asks the proxy for evidence; *response is the unpacked reply. */
static asylo_code request_evidence(remote_state *state, const uint8_t *nonce,
                                   Asylo__Remote__AttestResponse **response, asylo_status *status) {
    Asylo__Remote__AttestRequest request = ASYLO__REMOTE__ATTEST_REQUEST__INIT;
    request.nonce.data = (uint8_t *)nonce;
    request.nonce.len = ATTEST_NONCE_SIZE;
    uint8_t packed[64];
    size_t size = asylo__remote__attest_request__pack(&request, packed);
    asylo__bytes_output reply;
    asylo__bytes_output_init(&reply, ASYLO_EVIDENCE_MAX_SIZE + 1024);
    asylo_code code = asylo__remote_call_on(state, state->control, ASYLO_SELECTOR_REMOTE_ATTEST,
                                            packed, size, &reply.output, status);
    code = asylo__bytes_output_verdict(&reply, code, "the proxy's attest reply", NULL, status);
    if (code == ASYLO_OK) {
        *response =
            asylo__remote__attest_response__unpack(NULL, reply.bytes.size, reply.bytes.data);
        if (*response == NULL || (*response)->platform_key.len != ASYLO_PLATFORM_KEY_SIZE) {
            code = asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_TRANSPORT,
                                    "malformed attest reply (%zu bytes)", reply.bytes.size);
        }
    }
    asylo__bytes_output_fini(&reply);
    return code;
}

/* A pin of the load config against what the token says. */
static asylo_code check_pin(const char *what, const uint8_t *expected, const uint8_t *actual,
                            asylo_status *status) {
    if (expected == NULL || memcmp(expected, actual, 32) == 0) {
        return ASYLO_OK;
    }
    char expected_hex[65], actual_hex[65];
    asylo__hex(expected, 32, expected_hex);
    asylo__hex(actual, 32, actual_hex);
    return asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_BACKEND,
                            "%s mismatch: expected %s, the enclave has %s", what, expected_hex,
                            actual_hex);
}

static void log_identity(remote_state *state, const asylo_attestation_claims *claims,
                         const uint8_t *platform_key, bool policy) {
    char measurement[65], signer[65], platform[65];
    asylo__hex(claims->identity.measurement, 32, measurement);
    asylo__hex(claims->identity.signer_id, 32, signer);
    uint8_t platform_id[32];
    asylo_sha256(platform_key, ASYLO_PLATFORM_KEY_SIZE, platform_id, NULL);
    asylo__hex(platform_id, 32, platform);
    asylo__log(policy ? ASYLO_LOG_INFO : ASYLO_LOG_WARNING, "remote", state->name, 0,
               "%s: measurement %s, signer id %s, product id %u, svn %u, %s, backend %s, root %s, "
               "platform key id %s",
               policy ? "attested"
                      : "no attestation policy: accepting whatever enclave the proxy "
                        "runs, which says",
               measurement, signer, (unsigned)claims->identity.product_id,
               (unsigned)claims->identity.svn, claims->identity.debug ? "debug" : "not debug",
               claims->identity.backend, claims->root, platform);
}

asylo_code asylo__remote_attest(remote_state *state, const asylo_remote_config *config,
                                const asylo__load_request *request, asylo_status *status) {
    uint8_t nonce[ATTEST_NONCE_SIZE], binding[ASYLO__BINDING_SIZE];
    uint8_t local_key[ASYLO_PLATFORM_KEY_SIZE];
    Asylo__Remote__AttestResponse *response = NULL;
    asylo_attestation_claims *claims = calloc(1, sizeof *claims);
    bool pinned = request->expected_measurement != NULL || request->expected_signer_id != NULL;
    bool verifying = false;
    asylo_attestation_policy policy;
    if (config->attestation != NULL) {
        policy = *config->attestation;
    } else {
        memset(&policy, 0, sizeof policy);
        policy.allow_debug = 1;
    }
    asylo_code code = claims == NULL ? asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED,
                                                        ASYLO_ORIGIN_BACKEND, "out of memory")
                                     : asylo_random_bytes(nonce, sizeof nonce, status);
    if (code == ASYLO_OK) {
        code = request_evidence(state, nonce, &response, status);
    }
    if (code == ASYLO_OK) {
        code = expected_binding(state, binding, status);
    }
    if (code != ASYLO_OK) {
        /* The target's own refusal of the image (not signed, tampered), a
         * transport failure or this machine's key store failing keeps its
         * code. */
        goto out;
    }
    policy.nonce = nonce;
    policy.nonce_size = sizeof nonce;
    if (policy.trusted_key_count == 0 && (config->attestation != NULL || pinned)) {
        /* A policy or a pin without keys trusts this machine's platform only
         * (a target on this machine); never the key the proxy offers. */
        code = asylo_platform_attestation_key(local_key, status);
        if (code != ASYLO_OK) {
            goto out;
        }
        policy.trusted_keys = local_key;
        policy.trusted_key_count = 1;
    } else if (policy.trusted_key_count == 0) {
        /* No policy: the proxy's own key, which proves the token is
         * well-formed, fresh and bound, but not who made it. */
        policy.trusted_keys = response->platform_key.data;
        policy.trusted_key_count = 1;
    }
    if (policy.expected_measurement == NULL) {
        policy.expected_measurement = request->expected_measurement;
    }
    if (policy.expected_signer_id == NULL) {
        policy.expected_signer_id = request->expected_signer_id;
    }
    verifying = true;
    code = asylo_attestation_verify(response->evidence.data, response->evidence.len, &policy,
                                    claims, status);
    if (code == ASYLO_OK && (claims->user_data_size != sizeof binding ||
                             memcmp(claims->user_data, binding, sizeof binding) != 0)) {
        char expected_hex[65], actual_hex[2 * ASYLO_EVIDENCE_MAX_USER_DATA_SIZE + 1];
        asylo__hex(binding, sizeof binding, expected_hex);
        asylo__hex(claims->user_data, claims->user_data_size, actual_hex);
        code = asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_BACKEND,
                                "the token is bound to another channel (relayed from another "
                                "proxy or connection?): expected binding %s, got %s",
                                expected_hex, actual_hex[0] ? actual_hex : "(none)");
    }
    if (code == ASYLO_OK) {
        code = check_pin("measurement", request->expected_measurement, claims->identity.measurement,
                         status);
    }
    if (code == ASYLO_OK) {
        code =
            check_pin("signer id", request->expected_signer_id, claims->identity.signer_id, status);
    }
    if (code == ASYLO_OK) {
        log_identity(state, claims, response->platform_key.data,
                     config->attestation != NULL || pinned);
    }
out:
    if (code != ASYLO_OK) {
        /* A token that fails any check leaves the host not knowing which
         * enclave it reached: UNAUTHENTICATED, the message names the check. */
        char presented[65] = "";
        if (verifying) {
            uint8_t key_id[32];
            asylo_sha256(response->platform_key.data, ASYLO_PLATFORM_KEY_SIZE, key_id, NULL);
            asylo__hex(key_id, sizeof key_id, presented);
        }
        asylo_status_prefix(status, "remote attestation of enclave '%s' at %s %s%s%s%s",
                            state->name, state->endpoint.address, verifying ? "refused" : "failed",
                            verifying ? " (the proxy presents platform key id " : "", presented,
                            verifying ? ")" : "");
        /* Out of memory here says nothing about the token: it keeps its
         * code, so the caller can tell "retry later" from "wrong enclave". */
        if (verifying && code != ASYLO_RESOURCE_EXHAUSTED) {
            code = ASYLO_UNAUTHENTICATED;
            if (status != NULL) {
                status->code = code;
            }
        }
    }
    if (response != NULL) {
        asylo__remote__attest_response__free_unpacked(response, NULL);
    }
    free(claims);
    return code;
}
