/* asylo_seal / asylo_unseal (asylo/seal.h; format in docs/sealing.md).
 *
 * The key comes from the SEAL_KEY exit, which the backend answers from the
 * identity it verified at load and the platform root it holds; the enclave
 * only chooses the policy, a random key id and (for the signer policy) an svn
 * not above its own. Blob, integers little-endian:
 *
 *   offset size
 *      0     4  magic "ASLB"
 *      4     4  format version (1)
 *      8     4  policy (1 measurement, 2 signer)
 *     12     4  AEAD (1 AES-256-GCM)
 *     16     4  svn (the sealer's)
 *     20     4  product id (signer policy; 0 otherwise)
 *     24    16  key id
 *     40    32  identity: measurement (policy 1) or signer id (policy 2)
 *     72    12  nonce
 *     84     4  reserved, 0
 *     88     n  ciphertext
 *   88+n    16  tag; the AEAD's AAD is bytes [0, 88) || the caller's AAD */
#include <stdlib.h>
#include <string.h>

#include "asylo/crypto.h"
#include "asylo/identity.h"
#include "asylo/seal.h"
#include "enclave/runtime_internal.h"
#include "identity/identity_exits.h"

#define HEADER_SIZE 88u
#define FORMAT_VERSION 1u
#define AEAD_AES256_GCM 1u
#define KEY_ID_SIZE 16u

static void put_u32(uint8_t *bytes, uint32_t value) {
    for (int i = 0; i < 4; i++) {
        bytes[i] = (uint8_t)(value >> (8 * i));
    }
}

static uint32_t get_u32(const uint8_t *bytes) {
    return (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
           (uint32_t)bytes[3] << 24;
}

static const char *policy_name(uint32_t policy) {
    return policy == ASYLO_SEAL_MEASUREMENT ? "measurement" : "signer";
}

static asylo_code seal_key(uint32_t policy, const uint8_t key_id[KEY_ID_SIZE], uint32_t svn,
                           uint8_t key[32], asylo_status *status) {
    uint8_t request[ASYLO__SEAL_KEY_REQUEST_SIZE];
    put_u32(request, policy);
    memcpy(request + 4, key_id, KEY_ID_SIZE);
    put_u32(request + 20, svn);
    asylo_buffer answer = {0};
    asylo_code code =
        asylo__enclave_exit(ASYLO_SELECTOR_SEAL_KEY, request, sizeof request, 32, &answer, status);
    if (code == ASYLO_OK && answer.size != 32) {
        code = asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE,
                                "the seal key answer is %zu bytes, expected 32", answer.size);
    }
    if (code == ASYLO_OK) {
        memcpy(key, answer.data, 32);
    }
    asylo_buffer_free(&answer);
    return code;
}

/* AAD of the AEAD: the header, then the caller's AAD. */
static uint8_t *join_aad(const uint8_t *header, const void *aad, size_t aad_size,
                         asylo_status *status) {
    uint8_t *joined = malloc(HEADER_SIZE + aad_size);
    if (joined == NULL) {
        asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_ENCLAVE,
                         "no memory for %zu bytes of sealing AAD", aad_size);
        return NULL;
    }
    memcpy(joined, header, HEADER_SIZE);
    if (aad_size > 0) {
        memcpy(joined + HEADER_SIZE, aad, aad_size);
    }
    return joined;
}

static asylo_code check_sizes(const void *aad, size_t aad_size, const void *data, size_t size,
                              const void *out, const char *function, asylo_status *status) {
    if (out == NULL || (aad == NULL && aad_size > 0) || (data == NULL && size > 0)) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "%s: NULL buffer with a nonzero size", function);
    }
    if (aad_size > ASYLO_MAX_SEAL_SIZE || size > ASYLO_MAX_SEAL_SIZE + HEADER_SIZE + 16) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "%s: input of %zu bytes or AAD of %zu bytes is over the %u-byte "
                                "limit",
                                function, size, aad_size, ASYLO_MAX_SEAL_SIZE);
    }
    return ASYLO_OK;
}

asylo_code asylo_seal(asylo_seal_policy policy, const void *aad, size_t aad_size,
                      const void *plaintext, size_t plaintext_size, asylo_buffer *blob,
                      asylo_status *status) {
    asylo_code code =
        check_sizes(aad, aad_size, plaintext, plaintext_size, blob, "asylo_seal", status);
    if (code != ASYLO_OK) {
        return code;
    }
    blob->data = NULL;
    blob->size = 0;
    if (plaintext_size > ASYLO_MAX_SEAL_SIZE ||
        (policy != ASYLO_SEAL_MEASUREMENT && policy != ASYLO_SEAL_SIGNER)) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "asylo_seal: unknown policy %d or plaintext over %u bytes",
                                (int)policy, ASYLO_MAX_SEAL_SIZE);
    }
    asylo_enclave_identity self;
    code = asylo_enclave_identity_get(&self, status);
    if (code != ASYLO_OK) {
        return code;
    }
    uint8_t key[32];
    uint8_t *joined = NULL;
    size_t size = HEADER_SIZE + plaintext_size + ASYLO_AES256_GCM_TAG_SIZE;
    uint8_t *out = calloc(1, size);
    if (out == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_ENCLAVE,
                                "asylo_seal: no memory for a %zu-byte blob", size);
    }
    memcpy(out, "ASLB", 4);
    put_u32(out + 4, FORMAT_VERSION);
    put_u32(out + 8, (uint32_t)policy);
    put_u32(out + 12, AEAD_AES256_GCM);
    put_u32(out + 16, self.svn);
    put_u32(out + 20, policy == ASYLO_SEAL_SIGNER ? self.product_id : 0);
    memcpy(out + 40, policy == ASYLO_SEAL_SIGNER ? self.signer_id : self.measurement, 32);
    code = asylo_random_bytes(out + 24, KEY_ID_SIZE, status);
    if (code == ASYLO_OK) {
        code = asylo_random_bytes(out + 72, ASYLO_AES256_GCM_NONCE_SIZE, status);
    }
    if (code == ASYLO_OK) {
        code = seal_key((uint32_t)policy, out + 24, policy == ASYLO_SEAL_SIGNER ? self.svn : 0, key,
                        status);
    }
    if (code != ASYLO_OK) {
        asylo_status_prefix(status, "sealing under the %s policy", policy_name(policy));
        goto out;
    }
    joined = join_aad(out, aad, aad_size, status);
    if (joined == NULL) {
        code = status != NULL ? status->code : ASYLO_RESOURCE_EXHAUSTED;
        goto out;
    }
    code = asylo_aes256_gcm_seal(key, out + 72, joined, HEADER_SIZE + aad_size, plaintext,
                                 plaintext_size, out + HEADER_SIZE,
                                 out + HEADER_SIZE + plaintext_size, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    blob->data = out;
    blob->size = size;
    out = NULL;
    code = asylo_status_ok(status);
out:
    asylo_crypto_wipe(key, sizeof key);
    free(joined);
    if (out != NULL) {
        asylo_crypto_wipe(out, size);
        free(out);
    }
    return code;
}

static asylo_code corrupt(asylo_status *status, const char *what) {
    return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE,
                            "asylo_unseal: the blob %s", what);
}

static asylo_code hex_mismatch(asylo_status *status, uint32_t policy, const char *what,
                               const uint8_t *sealed, const uint8_t *own) {
    static const char digits[] = "0123456789abcdef";
    char sealed_hex[65], own_hex[65];
    for (int i = 0; i < 32; i++) {
        sealed_hex[2 * i] = digits[sealed[i] >> 4];
        sealed_hex[2 * i + 1] = digits[sealed[i] & 0xf];
        own_hex[2 * i] = digits[own[i] >> 4];
        own_hex[2 * i + 1] = digits[own[i] & 0xf];
    }
    sealed_hex[64] = own_hex[64] = '\0';
    return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_ENCLAVE,
                            "asylo_unseal: the blob is sealed under the %s policy to %s %s; this "
                            "enclave's is %s",
                            policy_name(policy), what, sealed_hex, own_hex);
}

/* Checks the header against this enclave's identity. */
static asylo_code check_policy(const uint8_t *header, const asylo_enclave_identity *self,
                               asylo_status *status) {
    uint32_t policy = get_u32(header + 8);
    if (policy == ASYLO_SEAL_MEASUREMENT) {
        if (!asylo_crypto_equal(header + 40, self->measurement, 32)) {
            return hex_mismatch(status, policy, "measurement", header + 40, self->measurement);
        }
        return ASYLO_OK;
    }
    if (!self->is_signed || !asylo_crypto_equal(header + 40, self->signer_id, 32)) {
        return hex_mismatch(status, policy, "signer", header + 40, self->signer_id);
    }
    if (get_u32(header + 20) != self->product_id) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_ENCLAVE,
                                "asylo_unseal: the blob is sealed under the signer policy for "
                                "product id %u; this enclave is product %u",
                                get_u32(header + 20), self->product_id);
    }
    if (get_u32(header + 16) > self->svn) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_ENCLAVE,
                                "asylo_unseal: the blob is sealed under the signer policy at svn "
                                "%u; this enclave is svn %u (an older version may not read a "
                                "newer version's data)",
                                get_u32(header + 16), self->svn);
    }
    return ASYLO_OK;
}

asylo_code asylo_unseal(const void *blob, size_t blob_size, const void *aad, size_t aad_size,
                        asylo_buffer *plaintext, asylo_status *status) {
    asylo_code code =
        check_sizes(aad, aad_size, blob, blob_size, plaintext, "asylo_unseal", status);
    if (code != ASYLO_OK) {
        return code;
    }
    plaintext->data = NULL;
    plaintext->size = 0;
    const uint8_t *bytes = blob;
    if (blob_size < 8 || memcmp(bytes, "ASLB", 4) != 0) {
        return corrupt(status, "is not a sealed blob (no ASLB magic)");
    }
    uint32_t version = get_u32(bytes + 4);
    if (version > FORMAT_VERSION) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_ENCLAVE,
                                "asylo_unseal: the blob is format version %u; this runtime reads "
                                "version %u (upgrade asylo-c)",
                                version, FORMAT_VERSION);
    }
    if (version != FORMAT_VERSION || blob_size < HEADER_SIZE + ASYLO_AES256_GCM_TAG_SIZE) {
        return corrupt(status, "is truncated or has format version 0");
    }
    uint32_t policy = get_u32(bytes + 8);
    if ((policy != ASYLO_SEAL_MEASUREMENT && policy != ASYLO_SEAL_SIGNER) ||
        get_u32(bytes + 84) != 0 ||
        (policy == ASYLO_SEAL_MEASUREMENT && get_u32(bytes + 20) != 0)) {
        return corrupt(status, "header has an unknown policy or nonzero reserved bytes");
    }
    if (get_u32(bytes + 12) != AEAD_AES256_GCM) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_ENCLAVE,
                                "asylo_unseal: AEAD scheme %u is unknown to this runtime (1: "
                                "AES-256-GCM)",
                                get_u32(bytes + 12));
    }
    asylo_enclave_identity self;
    code = asylo_enclave_identity_get(&self, status);
    if (code != ASYLO_OK) {
        return code;
    }
    code = check_policy(bytes, &self, status);
    if (code != ASYLO_OK) {
        return code;
    }
    uint8_t key[32];
    uint8_t *joined = NULL;
    size_t size = blob_size - HEADER_SIZE - ASYLO_AES256_GCM_TAG_SIZE;
    uint8_t *out = malloc(size == 0 ? 1 : size);
    if (out == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_ENCLAVE,
                                "asylo_unseal: no memory for %zu bytes", size);
    }
    code = seal_key(policy, bytes + 24, policy == ASYLO_SEAL_SIGNER ? get_u32(bytes + 16) : 0, key,
                    status);
    if (code != ASYLO_OK) {
        asylo_status_prefix(status, "unsealing under the %s policy", policy_name(policy));
        goto out;
    }
    joined = join_aad(bytes, aad, aad_size, status);
    if (joined == NULL) {
        code = status != NULL ? status->code : ASYLO_RESOURCE_EXHAUSTED;
        goto out;
    }
    code =
        asylo_aes256_gcm_open(key, bytes + 72, joined, HEADER_SIZE + aad_size, bytes + HEADER_SIZE,
                              size, bytes + HEADER_SIZE + size, out, status);
    if (code != ASYLO_OK) {
        code = corrupt(status, "does not authenticate: it was modified, truncated, or the AAD "
                               "differs from the one it was sealed with");
        goto out;
    }
    plaintext->data = out;
    plaintext->size = size;
    out = NULL;
    code = asylo_status_ok(status);
out:
    asylo_crypto_wipe(key, sizeof key);
    free(joined);
    free(out);
    return code;
}
