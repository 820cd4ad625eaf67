/* The identity test enclave: known-answer tests of asylo/crypto.h, its own
 * identity, and sealing, each on an entry selector. Built several times
 * (IDENTITY_VARIANT, keys, product ids, svns) so tests have images that
 * differ in exactly one identity field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylo/attestation.h"
#include "asylo/crypto.h"
#include "asylo/identity.h"
#include "asylo/seal.h"
#include "asylo/trusted.h"
#include "crypto_vectors.h"
#include "identity_enclave.h"

#ifndef IDENTITY_VARIANT
#define IDENTITY_VARIANT 0
#endif
#define STRINGIFY_INNER(x) #x
#define STRINGIFY(x) STRINGIFY_INNER(x)
/* Makes the image bytes (and so the measurement) differ between variants. */
__attribute__((used)) static const char variant_tag[] =
    "identity variant " STRINGIFY(IDENTITY_VARIANT);

#define MAX_VECTOR_SIZE 512

/* Decodes hex into out; returns the byte count. Vectors are ours: a bad one
 * is a test bug, reported as -1. */
static int unhex(const char *hex, uint8_t *out) {
    size_t length = strlen(hex);
    if (length % 2 != 0 || length / 2 > MAX_VECTOR_SIZE) {
        return -1;
    }
    for (size_t i = 0; i < length / 2; i++) {
        unsigned value;
        if (sscanf(hex + 2 * i, "%2x", &value) != 1) {
            return -1;
        }
        out[i] = (uint8_t)value;
    }
    return (int)(length / 2);
}

static asylo_code failed(asylo_status *status, const char *name, const char *what) {
    return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_ENCLAVE,
                            "known-answer test '%s' failed: %s", name, what);
}

static asylo_code run_sha_and_hmac(uint32_t *passed, asylo_status *status) {
    uint8_t expected[MAX_VECTOR_SIZE], key[MAX_VECTOR_SIZE], data[MAX_VECTOR_SIZE];
    uint8_t digest[32];
    for (size_t i = 0; i < sizeof sha256_vectors / sizeof sha256_vectors[0]; i++) {
        unhex(sha256_vectors[i].digest, expected);
        if (asylo_sha256(sha256_vectors[i].message, strlen(sha256_vectors[i].message), digest,
                         status) != ASYLO_OK ||
            memcmp(digest, expected, 32) != 0) {
            return failed(status, sha256_vectors[i].name, "digest differs");
        }
        (*passed)++;
    }
    for (size_t i = 0; i < sizeof hmac_vectors / sizeof hmac_vectors[0]; i++) {
        int key_size = unhex(hmac_vectors[i].key, key);
        int data_size = unhex(hmac_vectors[i].data, data);
        unhex(hmac_vectors[i].mac, expected);
        if (key_size < 0 || data_size < 0 ||
            asylo_hmac_sha256(key, (size_t)key_size, data, (size_t)data_size, digest, status) !=
                ASYLO_OK ||
            memcmp(digest, expected, 32) != 0) {
            return failed(status, hmac_vectors[i].name, "MAC differs");
        }
        (*passed)++;
    }
    return ASYLO_OK;
}

static asylo_code run_hkdf(uint32_t *passed, asylo_status *status) {
    uint8_t ikm[MAX_VECTOR_SIZE], salt[MAX_VECTOR_SIZE], info[MAX_VECTOR_SIZE];
    uint8_t expected[MAX_VECTOR_SIZE], okm[MAX_VECTOR_SIZE];
    for (size_t i = 0; i < sizeof hkdf_vectors / sizeof hkdf_vectors[0]; i++) {
        int ikm_size = unhex(hkdf_vectors[i].ikm, ikm);
        int salt_size = unhex(hkdf_vectors[i].salt, salt);
        int info_size = unhex(hkdf_vectors[i].info, info);
        int okm_size = unhex(hkdf_vectors[i].okm, expected);
        if (ikm_size < 0 || salt_size < 0 || info_size < 0 || okm_size <= 0 ||
            asylo_hkdf_sha256(salt, (size_t)salt_size, ikm, (size_t)ikm_size, info,
                              (size_t)info_size, okm, (size_t)okm_size, status) != ASYLO_OK ||
            memcmp(okm, expected, (size_t)okm_size) != 0) {
            return failed(status, hkdf_vectors[i].name, "output key material differs");
        }
        (*passed)++;
    }
    return ASYLO_OK;
}

static asylo_code run_gcm(uint32_t *passed, asylo_status *status) {
    uint8_t key[MAX_VECTOR_SIZE], iv[MAX_VECTOR_SIZE], plaintext[MAX_VECTOR_SIZE];
    uint8_t aad[MAX_VECTOR_SIZE], expected[MAX_VECTOR_SIZE], expected_tag[16];
    uint8_t out[MAX_VECTOR_SIZE], back[MAX_VECTOR_SIZE], tag[16];
    for (size_t i = 0; i < sizeof gcm_vectors / sizeof gcm_vectors[0]; i++) {
        const char *name = gcm_vectors[i].name;
        int key_size = unhex(gcm_vectors[i].key, key);
        int iv_size = unhex(gcm_vectors[i].iv, iv);
        int size = unhex(gcm_vectors[i].plaintext, plaintext);
        int aad_size = unhex(gcm_vectors[i].aad, aad);
        unhex(gcm_vectors[i].ciphertext, expected);
        unhex(gcm_vectors[i].tag, expected_tag);
        if (key_size != 32 || iv_size != 12 || size < 0 || aad_size < 0) {
            return failed(status, name, "malformed vector");
        }
        if (asylo_aes256_gcm_seal(key, iv, aad, (size_t)aad_size, plaintext, (size_t)size, out, tag,
                                  status) != ASYLO_OK ||
            memcmp(out, expected, (size_t)size) != 0 || memcmp(tag, expected_tag, 16) != 0) {
            return failed(status, name, "ciphertext or tag differs");
        }
        if (asylo_aes256_gcm_open(key, iv, aad, (size_t)aad_size, out, (size_t)size, tag, back,
                                  status) != ASYLO_OK ||
            memcmp(back, plaintext, (size_t)size) != 0) {
            return failed(status, name, "decryption differs");
        }
        /* A flipped tag bit must be refused as DATA_LOSS. */
        tag[0] ^= 1;
        if (asylo_aes256_gcm_open(key, iv, aad, (size_t)aad_size, out, (size_t)size, tag, back,
                                  NULL) != ASYLO_DATA_LOSS) {
            return failed(status, name, "a modified tag was accepted");
        }
        *passed += 3;
    }
    return ASYLO_OK;
}

static asylo_code run_ecdsa(uint32_t *passed, asylo_status *status) {
    uint8_t private_key[32], public_key[65], derived[65], signature[64];
    unhex(p256_private, private_key);
    unhex(p256_public, public_key);
    if (asylo_p256_public_key(private_key, derived, status) != ASYLO_OK ||
        memcmp(derived, public_key, 65) != 0) {
        return failed(status, "RFC 6979 A.2.5 key pair", "public key differs");
    }
    (*passed)++;
    for (size_t i = 0; i < sizeof ecdsa_vectors / sizeof ecdsa_vectors[0]; i++) {
        const char *message = ecdsa_vectors[i].message;
        unhex(ecdsa_vectors[i].signature, signature);
        if (asylo_p256_verify(public_key, message, strlen(message), signature, status) !=
            ASYLO_OK) {
            return failed(status, ecdsa_vectors[i].name, "published signature refused");
        }
        signature[63] ^= 1;
        if (asylo_p256_verify(public_key, message, strlen(message), signature, NULL) !=
            ASYLO_UNAUTHENTICATED) {
            return failed(status, ecdsa_vectors[i].name, "a modified signature was accepted");
        }
        *passed += 2;
    }
    /* Our own signatures verify; a point off the curve is refused. */
    uint8_t fresh_private[32], fresh_public[65];
    if (asylo_p256_generate(fresh_private, fresh_public, status) != ASYLO_OK ||
        asylo_p256_sign(fresh_private, "enclave", 7, signature, status) != ASYLO_OK ||
        asylo_p256_verify(fresh_public, "enclave", 7, signature, status) != ASYLO_OK ||
        asylo_p256_verify(fresh_public, "enclavf", 7, signature, NULL) != ASYLO_UNAUTHENTICATED) {
        return failed(status, "P-256 generate/sign/verify", "round trip failed");
    }
    asylo_crypto_wipe(fresh_private, sizeof fresh_private);
    fresh_public[64] ^= 1;
    if (asylo_p256_verify(fresh_public, "enclave", 7, signature, NULL) != ASYLO_INVALID_ARGUMENT) {
        return failed(status, "P-256 off-curve key", "not refused as INVALID_ARGUMENT");
    }
    uint8_t zero[32] = {0};
    if (asylo_p256_public_key(zero, derived, NULL) != ASYLO_INVALID_ARGUMENT) {
        return failed(status, "P-256 zero scalar", "not refused");
    }
    *passed += 3;
    return ASYLO_OK;
}

static asylo_code run_misuse(uint32_t *passed, asylo_status *status) {
    uint8_t out[32];
    uint8_t random_a[32] = {0}, random_b[32] = {0};
    if (asylo_sha256(NULL, 5, out, NULL) != ASYLO_INVALID_ARGUMENT ||
        asylo_hkdf_sha256(NULL, 0, "k", 1, NULL, 0, out, 0, NULL) != ASYLO_INVALID_ARGUMENT ||
        asylo_hkdf_sha256(NULL, 0, "k", 1, NULL, 0, out, 255 * 32 + 1, NULL) !=
            ASYLO_INVALID_ARGUMENT ||
        asylo_random_bytes(random_a, sizeof random_a, status) != ASYLO_OK ||
        asylo_random_bytes(random_b, sizeof random_b, status) != ASYLO_OK ||
        asylo_crypto_equal(random_a, random_b, sizeof random_a)) {
        return failed(status, "argument checks and randomness", "not as documented");
    }
    *passed += 1;
    return ASYLO_OK;
}

static asylo_code write_u32(asylo_output *output, uint32_t value, asylo_status *status) {
    uint8_t bytes[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
                        (uint8_t)(value >> 24)};
    return asylo_output_write(output, bytes, sizeof bytes, status);
}

static uint32_t read_u32(const uint8_t *bytes) {
    return (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
           (uint32_t)bytes[3] << 24;
}

static asylo_code kat_entry(void *context, const uint8_t *input, size_t input_size,
                            asylo_output *output, asylo_status *status) {
    (void)context, (void)input, (void)input_size;
    uint32_t passed = 0;
    asylo_code code = run_sha_and_hmac(&passed, status);
    if (code == ASYLO_OK) {
        code = run_hkdf(&passed, status);
    }
    if (code == ASYLO_OK) {
        code = run_gcm(&passed, status);
    }
    if (code == ASYLO_OK) {
        code = run_ecdsa(&passed, status);
    }
    if (code == ASYLO_OK) {
        code = run_misuse(&passed, status);
    }
    return code != ASYLO_OK ? code : write_u32(output, passed, status);
}

static asylo_code identity_entry(void *context, const uint8_t *input, size_t input_size,
                                 asylo_output *output, asylo_status *status) {
    (void)context, (void)input, (void)input_size;
    asylo_enclave_identity identity;
    asylo_code code = asylo_enclave_identity_get(&identity, status);
    return code != ASYLO_OK ? code : asylo_output_write(output, &identity, sizeof identity, status);
}

static asylo_code bad_request(asylo_status *status) {
    return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                            "malformed seal/unseal request");
}

static asylo_code seal_entry(void *context, const uint8_t *input, size_t input_size,
                             asylo_output *output, asylo_status *status) {
    (void)context;
    if (input_size < 8 || read_u32(input + 4) > input_size - 8) {
        return bad_request(status);
    }
    uint32_t aad_size = read_u32(input + 4);
    asylo_buffer blob = {0};
    asylo_code code = asylo_seal((asylo_seal_policy)read_u32(input), input + 8, aad_size,
                                 input + 8 + aad_size, input_size - 8 - aad_size, &blob, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, blob.data, blob.size, status);
    }
    asylo_buffer_free(&blob);
    return code;
}

static asylo_code unseal_entry(void *context, const uint8_t *input, size_t input_size,
                               asylo_output *output, asylo_status *status) {
    (void)context;
    if (input_size < 4 || read_u32(input) > input_size - 4) {
        return bad_request(status);
    }
    uint32_t aad_size = read_u32(input);
    asylo_buffer plaintext = {0};
    asylo_code code = asylo_unseal(input + 4 + aad_size, input_size - 4 - aad_size, input + 4,
                                   aad_size, &plaintext, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, plaintext.data, plaintext.size, status);
    }
    asylo_buffer_free(&plaintext);
    return code;
}

static asylo_code evidence_entry(void *context, const uint8_t *input, size_t input_size,
                                 asylo_output *output, asylo_status *status) {
    (void)context;
    if (input_size < 4 || read_u32(input) > input_size - 4) {
        return bad_request(status);
    }
    uint32_t nonce_size = read_u32(input);
    asylo_buffer evidence = {0};
    asylo_code code = asylo_enclave_get_evidence(input + 4, nonce_size, input + 4 + nonce_size,
                                                 input_size - 4 - nonce_size, &evidence, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, evidence.data, evidence.size, status);
    }
    asylo_buffer_free(&evidence);
    return code;
}

static uint8_t peer_nonce[32];

static asylo_code peer_nonce_entry(void *context, const uint8_t *input, size_t input_size,
                                   asylo_output *output, asylo_status *status) {
    (void)context, (void)input, (void)input_size;
    asylo_code code = asylo_random_bytes(peer_nonce, sizeof peer_nonce, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, peer_nonce, sizeof peer_nonce, status);
    }
    return code;
}

static asylo_code peer_verify_entry(void *context, const uint8_t *input, size_t input_size,
                                    asylo_output *output, asylo_status *status) {
    (void)context;
    if (input_size < 36) {
        return bad_request(status);
    }
    asylo_attestation_policy policy;
    memset(&policy, 0, sizeof policy);
    policy.nonce = peer_nonce;
    policy.nonce_size = sizeof peer_nonce;
    policy.expected_measurement = (read_u32(input) & 1) ? input + 4 : NULL;
    policy.allow_debug = 1;
    asylo_attestation_claims claims;
    asylo_code code =
        asylo_enclave_verify_evidence(input + 36, input_size - 36, &policy, &claims, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, claims.identity.measurement, 32, status);
    }
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, claims.user_data, claims.user_data_size, status);
    }
    return code;
}

static asylo_code identity_initialize(const asylo_enclave_config *config, asylo_status *status) {
    (void)config;
    static const struct {
        uint32_t selector;
        asylo_entry_handler_fn handler;
    } entries[] = {
        {IDENTITY_SELECTOR_KAT, kat_entry},
        {IDENTITY_SELECTOR_IDENTITY, identity_entry},
        {IDENTITY_SELECTOR_SEAL, seal_entry},
        {IDENTITY_SELECTOR_UNSEAL, unseal_entry},
        {IDENTITY_SELECTOR_EVIDENCE, evidence_entry},
        {IDENTITY_SELECTOR_PEER_NONCE, peer_nonce_entry},
        {IDENTITY_SELECTOR_PEER_VERIFY, peer_verify_entry},
    };
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        asylo_code code =
            asylo_enclave_register_entry(entries[i].selector, entries[i].handler, NULL, status);
        if (code != ASYLO_OK) {
            return code;
        }
    }
    return asylo_status_ok(status);
}

ASYLO_TRUSTED_APPLICATION(identity_initialize, NULL, NULL);
