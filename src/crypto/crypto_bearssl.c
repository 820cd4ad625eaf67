/* asylo/crypto.h served by BearSSL (Debian's libbearssl-dev), for kvm guests,
 * which have no OpenSSL: the same API and the same byte formats as
 * crypto_openssl.c. Constant-time implementations throughout (ct64 AES,
 * ctmul64 GHASH, i31 ECDSA). Random bytes come from an HMAC-DRBG in the
 * guest, seeded from RDRAND (the CPU, not the host) and topped up with
 * getrandom (forwarded to the host). */
#include <bearssl.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "asylo/crypto.h"

/* BearSSL's Debian build is fortified against glibc; musl has no _chk
 * functions, so the checks are done here. */
void *__memcpy_chk(void *to, const void *from, size_t size, size_t to_size);
void *__memmove_chk(void *to, const void *from, size_t size, size_t to_size);
void *__memset_chk(void *to, int value, size_t size, size_t to_size);

void *__memcpy_chk(void *to, const void *from, size_t size, size_t to_size) {
    if (size > to_size) {
        __builtin_trap();
    }
    return memcpy(to, from, size);
}

void *__memmove_chk(void *to, const void *from, size_t size, size_t to_size) {
    if (size > to_size) {
        __builtin_trap();
    }
    return memmove(to, from, size);
}

void *__memset_chk(void *to, int value, size_t size, size_t to_size) {
    if (size > to_size) {
        __builtin_trap();
    }
    return memset(to, value, size);
}

static asylo_code bad_argument(asylo_status *status, const char *what) {
    return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE, "%s", what);
}

static int too_big(size_t size) {
    return size > ASYLO_CRYPTO_MAX_INPUT_SIZE;
}

asylo_code asylo_sha256(const void *data, size_t size, uint8_t digest[ASYLO_SHA256_SIZE],
                        asylo_status *status) {
    if ((data == NULL && size > 0) || digest == NULL || too_big(size)) {
        return bad_argument(status, "asylo_sha256: NULL data or digest, or input too large");
    }
    br_sha256_context context;
    br_sha256_init(&context);
    br_sha256_update(&context, data, size);
    br_sha256_out(&context, digest);
    return asylo_status_ok(status);
}

asylo_code asylo_hmac_sha256(const void *key, size_t key_size, const void *data, size_t size,
                             uint8_t mac[ASYLO_HMAC_SHA256_SIZE], asylo_status *status) {
    if ((key == NULL && key_size > 0) || (data == NULL && size > 0) || mac == NULL ||
        too_big(size) || too_big(key_size)) {
        return bad_argument(status, "asylo_hmac_sha256: NULL argument or input too large");
    }
    br_hmac_key_context key_context;
    br_hmac_context context;
    br_hmac_key_init(&key_context, &br_sha256_vtable, key, key_size);
    br_hmac_init(&context, &key_context, 0);
    br_hmac_update(&context, data, size);
    br_hmac_out(&context, mac);
    asylo_crypto_wipe(&key_context, sizeof key_context);
    asylo_crypto_wipe(&context, sizeof context);
    return asylo_status_ok(status);
}

asylo_code asylo_hkdf_sha256(const void *salt, size_t salt_size, const void *ikm, size_t ikm_size,
                             const void *info, size_t info_size, uint8_t *output,
                             size_t output_size, asylo_status *status) {
    if ((salt == NULL && salt_size > 0) || (ikm == NULL && ikm_size > 0) ||
        (info == NULL && info_size > 0) || output == NULL || output_size == 0 ||
        output_size > ASYLO_HKDF_SHA256_MAX_OUTPUT_SIZE || too_big(ikm_size)) {
        return bad_argument(status, "asylo_hkdf_sha256: NULL argument or output size out of "
                                    "range");
    }
    static const uint8_t empty = 0;
    br_hkdf_context context;
    /* An empty salt is HMAC with an empty key, the same as RFC 5869's zeros. */
    br_hkdf_init(&context, &br_sha256_vtable, salt_size > 0 ? salt : &empty, salt_size);
    br_hkdf_inject(&context, ikm, ikm_size);
    br_hkdf_flip(&context);
    br_hkdf_produce(&context, info_size > 0 ? info : &empty, info_size, output, output_size);
    asylo_crypto_wipe(&context, sizeof context);
    return asylo_status_ok(status);
}

static void gcm_start(br_gcm_context *gcm, br_aes_ct64_ctr_keys *keys, const uint8_t *key,
                      const uint8_t *nonce, const void *aad, size_t aad_size) {
    br_aes_ct64_ctr_init(keys, key, ASYLO_AES256_GCM_KEY_SIZE);
    br_gcm_init(gcm, &keys->vtable, br_ghash_ctmul64);
    br_gcm_reset(gcm, nonce, ASYLO_AES256_GCM_NONCE_SIZE);
    if (aad_size > 0) {
        br_gcm_aad_inject(gcm, aad, aad_size);
    }
    br_gcm_flip(gcm);
}

asylo_code asylo_aes256_gcm_seal(const uint8_t key[ASYLO_AES256_GCM_KEY_SIZE],
                                 const uint8_t nonce[ASYLO_AES256_GCM_NONCE_SIZE], const void *aad,
                                 size_t aad_size, const void *plaintext, size_t size,
                                 uint8_t *ciphertext, uint8_t tag[ASYLO_AES256_GCM_TAG_SIZE],
                                 asylo_status *status) {
    if (key == NULL || nonce == NULL || tag == NULL || (aad == NULL && aad_size > 0) ||
        ((plaintext == NULL || ciphertext == NULL) && size > 0) || too_big(size) ||
        too_big(aad_size)) {
        return bad_argument(status, "asylo_aes256_gcm_seal: NULL argument or input too large");
    }
    br_aes_ct64_ctr_keys keys;
    br_gcm_context gcm;
    gcm_start(&gcm, &keys, key, nonce, aad, aad_size);
    if (size > 0) {
        memmove(ciphertext, plaintext, size);
        br_gcm_run(&gcm, 1, ciphertext, size);
    }
    br_gcm_get_tag(&gcm, tag);
    asylo_crypto_wipe(&keys, sizeof keys);
    asylo_crypto_wipe(&gcm, sizeof gcm);
    return asylo_status_ok(status);
}

asylo_code asylo_aes256_gcm_open(const uint8_t key[ASYLO_AES256_GCM_KEY_SIZE],
                                 const uint8_t nonce[ASYLO_AES256_GCM_NONCE_SIZE], const void *aad,
                                 size_t aad_size, const void *ciphertext, size_t size,
                                 const uint8_t tag[ASYLO_AES256_GCM_TAG_SIZE], uint8_t *plaintext,
                                 asylo_status *status) {
    if (key == NULL || nonce == NULL || tag == NULL || (aad == NULL && aad_size > 0) ||
        ((plaintext == NULL || ciphertext == NULL) && size > 0) || too_big(size) ||
        too_big(aad_size)) {
        return bad_argument(status, "asylo_aes256_gcm_open: NULL argument or input too large");
    }
    br_aes_ct64_ctr_keys keys;
    br_gcm_context gcm;
    gcm_start(&gcm, &keys, key, nonce, aad, aad_size);
    if (size > 0) {
        memmove(plaintext, ciphertext, size);
        br_gcm_run(&gcm, 0, plaintext, size);
    }
    int valid = br_gcm_check_tag(&gcm, tag);
    asylo_crypto_wipe(&keys, sizeof keys);
    asylo_crypto_wipe(&gcm, sizeof gcm);
    if (!valid) {
        if (size > 0) {
            asylo_crypto_wipe(plaintext, size);
        }
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE,
                                "AES-256-GCM tag mismatch: wrong key, nonce or AAD, or modified "
                                "ciphertext");
    }
    return asylo_status_ok(status);
}

/* The guest is single-threaded: one DRBG, seeded on first use. */
static br_hmac_drbg_context drbg;
static int drbg_seeded;

static int rdrand64(uint64_t *value) {
    for (int attempt = 0; attempt < 10; attempt++) {
        unsigned char ok;
        __asm__ volatile("rdrand %0; setc %1" : "=r"(*value), "=qm"(ok));
        if (ok) {
            return 1;
        }
    }
    return 0;
}

static asylo_code seed(asylo_status *status) {
    uint64_t words[8];
    for (size_t i = 0; i < 8; i++) {
        if (!rdrand64(&words[i])) {
            return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_ENCLAVE,
                                    "RDRAND failed ten times: no entropy for the guest's DRBG");
        }
    }
    br_hmac_drbg_init(&drbg, &br_sha256_vtable, words, sizeof words);
    uint8_t host[32];
    if (getrandom(host, sizeof host, 0) == (ssize_t)sizeof host) {
        br_hmac_drbg_update(&drbg, host, sizeof host);
    }
    asylo_crypto_wipe(words, sizeof words);
    asylo_crypto_wipe(host, sizeof host);
    drbg_seeded = 1;
    return ASYLO_OK;
}

asylo_code asylo_random_bytes(void *data, size_t size, asylo_status *status) {
    if (data == NULL && size > 0) {
        return bad_argument(status, "asylo_random_bytes: NULL data");
    }
    if (!drbg_seeded && seed(status) != ASYLO_OK) {
        return status != NULL ? status->code : ASYLO_UNAVAILABLE;
    }
    uint64_t fresh;
    if (rdrand64(&fresh)) {
        br_hmac_drbg_update(&drbg, &fresh, sizeof fresh);
    }
    br_hmac_drbg_generate(&drbg, data, size);
    return asylo_status_ok(status);
}

/* The order n of P-256, big-endian. */
static const uint8_t p256_order[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

static int scalar_valid(const uint8_t *scalar) {
    int zero = 1;
    int less = 0;
    int decided = 0;
    for (size_t i = 0; i < 32; i++) {
        zero &= scalar[i] == 0;
        if (!decided && scalar[i] != p256_order[i]) {
            less = scalar[i] < p256_order[i];
            decided = 1;
        }
    }
    return !zero && less;
}

asylo_code asylo_p256_public_key(const uint8_t private_key[ASYLO_P256_PRIVATE_KEY_SIZE],
                                 uint8_t public_key[ASYLO_P256_PUBLIC_KEY_SIZE],
                                 asylo_status *status) {
    if (private_key == NULL || public_key == NULL) {
        return bad_argument(status, "asylo_p256_public_key: NULL argument");
    }
    if (!scalar_valid(private_key)) {
        return bad_argument(status, "P-256 private key is not in [1, n-1]");
    }
    br_ec_private_key secret = {
        .curve = BR_EC_secp256r1, .x = (unsigned char *)private_key, .xlen = 32};
    br_ec_public_key public;
    if (br_ec_compute_pub(&br_ec_p256_m31, &public, public_key, &secret) !=
        ASYLO_P256_PUBLIC_KEY_SIZE) {
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_ENCLAVE,
                                "BearSSL could not compute a P-256 public key");
    }
    return asylo_status_ok(status);
}

asylo_code asylo_p256_generate(uint8_t private_key[ASYLO_P256_PRIVATE_KEY_SIZE],
                               uint8_t public_key[ASYLO_P256_PUBLIC_KEY_SIZE],
                               asylo_status *status) {
    if (private_key == NULL || public_key == NULL) {
        return bad_argument(status, "asylo_p256_generate: NULL argument");
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        asylo_code code = asylo_random_bytes(private_key, ASYLO_P256_PRIVATE_KEY_SIZE, status);
        if (code != ASYLO_OK) {
            return code;
        }
        if (scalar_valid(private_key)) {
            return asylo_p256_public_key(private_key, public_key, status);
        }
    }
    return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_ENCLAVE,
                            "no valid P-256 scalar in 100 draws");
}

asylo_code asylo_p256_sign(const uint8_t private_key[ASYLO_P256_PRIVATE_KEY_SIZE],
                           const void *message, size_t size,
                           uint8_t signature[ASYLO_P256_SIGNATURE_SIZE], asylo_status *status) {
    if (private_key == NULL || (message == NULL && size > 0) || signature == NULL ||
        too_big(size)) {
        return bad_argument(status, "asylo_p256_sign: NULL argument or input too large");
    }
    if (!scalar_valid(private_key)) {
        return bad_argument(status, "P-256 private key is not in [1, n-1]");
    }
    uint8_t digest[ASYLO_SHA256_SIZE];
    asylo_sha256(message, size, digest, NULL);
    br_ec_private_key secret = {
        .curve = BR_EC_secp256r1, .x = (unsigned char *)private_key, .xlen = 32};
    size_t length =
        br_ecdsa_i31_sign_raw(&br_ec_p256_m31, &br_sha256_vtable, digest, &secret, signature);
    if (length != ASYLO_P256_SIGNATURE_SIZE) {
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_ENCLAVE,
                                "BearSSL ECDSA signing failed");
    }
    return asylo_status_ok(status);
}

asylo_code asylo_p256_verify(const uint8_t public_key[ASYLO_P256_PUBLIC_KEY_SIZE],
                             const void *message, size_t size,
                             const uint8_t signature[ASYLO_P256_SIGNATURE_SIZE],
                             asylo_status *status) {
    if (public_key == NULL || (message == NULL && size > 0) || signature == NULL || too_big(size)) {
        return bad_argument(status, "asylo_p256_verify: NULL argument or input too large");
    }
    /* Multiplying by one succeeds only for a point on the curve. */
    uint8_t point[ASYLO_P256_PUBLIC_KEY_SIZE];
    static const uint8_t one = 1;
    memcpy(point, public_key, sizeof point);
    if (public_key[0] != 0x04 ||
        br_ec_p256_m31.mul(point, sizeof point, &one, 1, BR_EC_secp256r1) != 1) {
        return bad_argument(status, "P-256 public key is not an uncompressed point on the curve");
    }
    uint8_t digest[ASYLO_SHA256_SIZE];
    asylo_sha256(message, size, digest, NULL);
    br_ec_public_key key = {
        .curve = BR_EC_secp256r1, .q = (unsigned char *)public_key, .qlen = sizeof point};
    if (br_ecdsa_i31_vrfy_raw(&br_ec_p256_m31, digest, sizeof digest, &key, signature,
                              ASYLO_P256_SIGNATURE_SIZE) != 1) {
        return asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_ENCLAVE,
                                "ECDSA P-256 signature does not verify");
    }
    return asylo_status_ok(status);
}

int asylo_crypto_equal(const void *a, const void *b, size_t size) {
    const volatile uint8_t *left = a;
    const volatile uint8_t *right = b;
    uint8_t difference = 0;
    for (size_t i = 0; i < size; i++) {
        difference |= (uint8_t)(left[i] ^ right[i]);
    }
    return difference == 0;
}

void asylo_crypto_wipe(void *data, size_t size) {
    if (data != NULL && size > 0) {
        memset(data, 0, size);
        __asm__ volatile("" : : "r"(data) : "memory");
    }
}
