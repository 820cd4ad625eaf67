/* asylo/attestation.h: evidence of which enclave runs, and its verifier.
 *
 * Evidence is an Entity Attestation Token (EAT, RFC 9711): a CWT whose claims
 * are signed with COSE_Sign1 (ES256) by the platform attestation key, a P-256
 * key held by the component that runs enclaves: in a 0600 file (the software
 * root, the default) or in a TPM 2.0 (the tpm root, which adds a quote); no
 * SGX/SEV/TDX. The exact format is in docs/attestation.md.
 *
 * Inside an enclave: asylo_enclave_get_evidence asks the backend (never the
 * host application; on the target machine under remote) for a token over
 * this enclave's identity, a verifier's nonce and the enclave's user data.
 *
 * On the host: asylo_attestation_verify checks a token against a policy and
 * returns its claims. Codes: DATA_LOSS for a malformed token;
 * UNAUTHENTICATED for a bad signature, an untrusted key, an algorithm other
 * than ES256 or a nonce that differs (e.g. a replayed token);
 * PERMISSION_DENIED for an identity the policy does not accept. The message
 * names the first check that failed. */
#ifndef ASYLO_ATTESTATION_H
#define ASYLO_ATTESTATION_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/buffer.h"
#include "asylo/export.h"
#include "asylo/identity.h"
#include "asylo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ASYLO_EVIDENCE_MIN_NONCE_SIZE 8
#define ASYLO_EVIDENCE_MAX_NONCE_SIZE 64
#define ASYLO_EVIDENCE_MAX_USER_DATA_SIZE 1024
#define ASYLO_EVIDENCE_MAX_SIZE 16384
#define ASYLO_PLATFORM_KEY_SIZE 65 /* P-256, SEC1 uncompressed */
#define ASYLO_EAT_PROFILE "tag:asylo-c.invalid,2026:eat-v1"

/* Enclave side: evidence for this enclave (free with asylo_buffer_free).
 * nonce: 8..64 bytes chosen by the verifier; user_data: up to 1024 bytes
 * (e.g. a hash of a public key the enclave made). */
asylo_code asylo_enclave_get_evidence(const void *nonce, size_t nonce_size, const void *user_data,
                                      size_t user_data_size, asylo_buffer *evidence,
                                      asylo_status *status);

/* Host side (and the policy of local attestation, below). */
typedef struct asylo_attestation_policy {
    /* The nonce the verifier sent (required). */
    const uint8_t *nonce;
    size_t nonce_size;
    /* Platform attestation public keys trusted to sign evidence:
     * trusted_key_count keys of ASYLO_PLATFORM_KEY_SIZE bytes each. */
    const uint8_t *trusted_keys;
    size_t trusted_key_count;
    /* Optional pins: 32 bytes each, or NULL. */
    const uint8_t *expected_measurement;
    const uint8_t *expected_signer_id;
    int check_product_id;
    uint32_t product_id;
    uint32_t min_svn;
    /* 0: a debug enclave is refused. */
    int allow_debug;
} asylo_attestation_policy;

typedef struct asylo_attestation_claims {
    asylo_enclave_identity identity;
    uint8_t ueid[33];  /* 0x01 (RAND) || SHA-256 of the platform key */
    char root[32];     /* what the trust rests on: "software" or "tpm" */
    char profile[64];  /* ASYLO_EAT_PROFILE */
    int64_t issued_at; /* seconds since the Unix epoch, the platform's clock */
    uint8_t user_data[ASYLO_EVIDENCE_MAX_USER_DATA_SIZE];
    size_t user_data_size;
} asylo_attestation_claims;

/* Enclave side, local attestation: verifies evidence another enclave on the
 * same platform made with asylo_enclave_get_evidence (passed here by the
 * host, which needs no trust), against `policy` (the nonce this enclave
 * chose, and its pins). The backend that runs this enclave answers (a
 * built-in exit no host handler can take; on the target under remote), with
 * this platform's attestation key as the only trusted key: policy's
 * trusted_keys are ignored. Codes as asylo_attestation_verify; *claims
 * (optional) filled on OK. */
asylo_code asylo_enclave_verify_evidence(const uint8_t *evidence, size_t evidence_size,
                                         const asylo_attestation_policy *policy,
                                         asylo_attestation_claims *claims, asylo_status *status);

/* Verifies `evidence` against `policy`; fills *claims (optional) on OK. */
ASYLO_API asylo_code asylo_attestation_verify(const uint8_t *evidence, size_t evidence_size,
                                              const asylo_attestation_policy *policy,
                                              asylo_attestation_claims *claims,
                                              asylo_status *status);

/* The public attestation key of this machine's platform (the state directory
 * of docs/sealing.md, created on first use), for a verifier that trusts the
 * platform it runs on (sim, or a remote target sharing the machine). */
ASYLO_API asylo_code asylo_platform_attestation_key(uint8_t public_key[ASYLO_PLATFORM_KEY_SIZE],
                                                    asylo_status *status);

#ifdef __cplusplus
}
#endif

#endif
