/* asylo/crypto.h backed by OpenSSL 3's libcrypto.
 *
 * A leaf like src/common: it includes only public headers, and is built into
 * the trusted runtime (for enclave code) and into the host library (for the
 * signature, sealing-key and measurement code of src/identity). Another
 * implementation of the same header (e.g. BearSSL for a freestanding guest)
 * replaces this one file. Only non-deprecated OpenSSL 3 interfaces are used. */
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <string.h>

#include "asylo/crypto.h"

static asylo_code bad_argument(asylo_status *status, const char *function, const char *what) {
    return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, "%s: %s", function,
                            what);
}

static asylo_code library_failed(asylo_status *status, const char *function) {
    return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_API,
                            "%s: the crypto library failed", function);
}

/* A (pointer, size) pair is acceptable when the size is bounded and a NULL
 * pointer comes only with size 0. */
static int input_ok(const void *data, size_t size) {
    return size <= ASYLO_CRYPTO_MAX_INPUT_SIZE && (data != NULL || size == 0);
}

int asylo_crypto_equal(const void *a, const void *b, size_t size) {
    if (size == 0) {
        return 1;
    }
    return CRYPTO_memcmp(a, b, size) == 0;
}

void asylo_crypto_wipe(void *data, size_t size) {
    if (data != NULL && size > 0) {
        OPENSSL_cleanse(data, size);
    }
}

asylo_code asylo_sha256(const void *data, size_t size, uint8_t digest[ASYLO_SHA256_SIZE],
                        asylo_status *status) {
    if (!input_ok(data, size) || digest == NULL) {
        return bad_argument(status, "asylo_sha256", "NULL buffer or input too large");
    }
    static const uint8_t empty[1];
    if (EVP_Digest(size == 0 ? empty : data, size, digest, NULL, EVP_sha256(), NULL) != 1) {
        return library_failed(status, "asylo_sha256");
    }
    return asylo_status_ok(status);
}

asylo_code asylo_hmac_sha256(const void *key, size_t key_size, const void *data, size_t size,
                             uint8_t mac[ASYLO_HMAC_SHA256_SIZE], asylo_status *status) {
    if (!input_ok(key, key_size) || !input_ok(data, size) || mac == NULL || key_size > INT_MAX) {
        return bad_argument(status, "asylo_hmac_sha256", "NULL buffer or input too large");
    }
    static const uint8_t empty[1];
    unsigned int mac_size = 0;
    if (HMAC(EVP_sha256(), key_size == 0 ? empty : key, (int)key_size, size == 0 ? empty : data,
             size, mac, &mac_size) == NULL ||
        mac_size != ASYLO_HMAC_SHA256_SIZE) {
        return library_failed(status, "asylo_hmac_sha256");
    }
    return asylo_status_ok(status);
}

asylo_code asylo_hkdf_sha256(const void *salt, size_t salt_size, const void *ikm, size_t ikm_size,
                             const void *info, size_t info_size, uint8_t *output,
                             size_t output_size, asylo_status *status) {
    if (!input_ok(salt, salt_size) || !input_ok(ikm, ikm_size) || !input_ok(info, info_size) ||
        output == NULL) {
        return bad_argument(status, "asylo_hkdf_sha256", "NULL buffer or input too large");
    }
    if (output_size == 0 || output_size > ASYLO_HKDF_SHA256_MAX_OUTPUT_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "asylo_hkdf_sha256: output size %zu is outside 1..%u", output_size,
                                ASYLO_HKDF_SHA256_MAX_OUTPUT_SIZE);
    }
    asylo_code code = ASYLO_OK;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *context = kdf == NULL ? NULL : EVP_KDF_CTX_new(kdf);
    /* OpenSSL wants non-NULL pointers even for empty parameters. */
    static uint8_t empty[1];
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm_size ? (void *)ikm : empty,
                                          ikm_size),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt_size ? (void *)salt : empty,
                                          salt_size),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info_size ? (void *)info : empty,
                                          info_size),
        OSSL_PARAM_construct_end(),
    };
    if (context == NULL || EVP_KDF_derive(context, output, output_size, params) != 1) {
        code = library_failed(status, "asylo_hkdf_sha256");
        goto out;
    }
    code = asylo_status_ok(status);
out:
    EVP_KDF_CTX_free(context);
    EVP_KDF_free(kdf);
    return code;
}

/* One EVP pass in either direction. */
static int gcm_pass(int encrypt, const uint8_t *key, const uint8_t *nonce, const void *aad,
                    size_t aad_size, const void *in, size_t size, uint8_t *out, uint8_t *tag) {
    int ok = 0;
    int length = 0;
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    if (context == NULL ||
        EVP_CipherInit_ex(context, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) != 1 ||
        EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, ASYLO_AES256_GCM_NONCE_SIZE, NULL) !=
            1 ||
        EVP_CipherInit_ex(context, NULL, NULL, key, nonce, encrypt) != 1) {
        goto out;
    }
    if (aad_size > 0 && EVP_CipherUpdate(context, NULL, &length, aad, (int)aad_size) != 1) {
        goto out;
    }
    if (size > 0 && EVP_CipherUpdate(context, out, &length, in, (int)size) != 1) {
        goto out;
    }
    if (!encrypt &&
        EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, ASYLO_AES256_GCM_TAG_SIZE, tag) != 1) {
        goto out;
    }
    uint8_t final_block[16];
    if (EVP_CipherFinal_ex(context, final_block, &length) != 1) {
        goto out;
    }
    if (encrypt &&
        EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, ASYLO_AES256_GCM_TAG_SIZE, tag) != 1) {
        goto out;
    }
    ok = 1;
out:
    EVP_CIPHER_CTX_free(context);
    return ok;
}

static int gcm_arguments_ok(const uint8_t *key, const uint8_t *nonce, const void *aad,
                            size_t aad_size, const void *in, size_t size, const void *out,
                            const uint8_t *tag) {
    return key != NULL && nonce != NULL && tag != NULL && input_ok(aad, aad_size) &&
           input_ok(in, size) && (out != NULL || size == 0) && aad_size <= INT_MAX &&
           size <= INT_MAX;
}

asylo_code asylo_aes256_gcm_seal(const uint8_t key[ASYLO_AES256_GCM_KEY_SIZE],
                                 const uint8_t nonce[ASYLO_AES256_GCM_NONCE_SIZE], const void *aad,
                                 size_t aad_size, const void *plaintext, size_t size,
                                 uint8_t *ciphertext, uint8_t tag[ASYLO_AES256_GCM_TAG_SIZE],
                                 asylo_status *status) {
    if (!gcm_arguments_ok(key, nonce, aad, aad_size, plaintext, size, ciphertext, tag)) {
        return bad_argument(status, "asylo_aes256_gcm_seal", "NULL buffer or input too large");
    }
    if (!gcm_pass(1, key, nonce, aad, aad_size, plaintext, size, ciphertext, tag)) {
        return library_failed(status, "asylo_aes256_gcm_seal");
    }
    return asylo_status_ok(status);
}

asylo_code asylo_aes256_gcm_open(const uint8_t key[ASYLO_AES256_GCM_KEY_SIZE],
                                 const uint8_t nonce[ASYLO_AES256_GCM_NONCE_SIZE], const void *aad,
                                 size_t aad_size, const void *ciphertext, size_t size,
                                 const uint8_t tag[ASYLO_AES256_GCM_TAG_SIZE], uint8_t *plaintext,
                                 asylo_status *status) {
    if (!gcm_arguments_ok(key, nonce, aad, aad_size, ciphertext, size, plaintext, tag)) {
        return bad_argument(status, "asylo_aes256_gcm_open", "NULL buffer or input too large");
    }
    uint8_t tag_copy[ASYLO_AES256_GCM_TAG_SIZE];
    memcpy(tag_copy, tag, sizeof tag_copy);
    if (!gcm_pass(0, key, nonce, aad, aad_size, ciphertext, size, plaintext, tag_copy)) {
        asylo_crypto_wipe(plaintext, size);
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_API,
                                "asylo_aes256_gcm_open: the authentication tag does not match "
                                "(wrong key or AAD, or the bytes were modified)");
    }
    return asylo_status_ok(status);
}

asylo_code asylo_random_bytes(void *data, size_t size, asylo_status *status) {
    if (!input_ok(data, size) || size > INT_MAX) {
        return bad_argument(status, "asylo_random_bytes", "NULL buffer or size too large");
    }
    if (size > 0 && RAND_bytes(data, (int)size) != 1) {
        return library_failed(status, "asylo_random_bytes");
    }
    return asylo_status_ok(status);
}

/* Builds an EVP_PKEY for P-256 from a raw private scalar and/or a public
 * point; NULL on failure. */
static EVP_PKEY *p256_key(const uint8_t *private_key, const uint8_t *public_key) {
    EVP_PKEY *key = NULL;
    BIGNUM *scalar = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *context = NULL;
    OSSL_PARAM_BLD *builder = OSSL_PARAM_BLD_new();
    if (builder == NULL ||
        OSSL_PARAM_BLD_push_utf8_string(builder, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
            1 ||
        OSSL_PARAM_BLD_push_octet_string(builder, OSSL_PKEY_PARAM_PUB_KEY, public_key,
                                         ASYLO_P256_PUBLIC_KEY_SIZE) != 1) {
        goto out;
    }
    if (private_key != NULL) {
        scalar = BN_bin2bn(private_key, ASYLO_P256_PRIVATE_KEY_SIZE, NULL);
        if (scalar == NULL ||
            OSSL_PARAM_BLD_push_BN(builder, OSSL_PKEY_PARAM_PRIV_KEY, scalar) != 1) {
            goto out;
        }
    }
    params = OSSL_PARAM_BLD_to_param(builder);
    context = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (params == NULL || context == NULL || EVP_PKEY_fromdata_init(context) != 1 ||
        EVP_PKEY_fromdata(context, &key,
                          private_key != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                          params) != 1) {
        key = NULL;
    }
out:
    EVP_PKEY_CTX_free(context);
    OSSL_PARAM_free(params);
    BN_clear_free(scalar);
    OSSL_PARAM_BLD_free(builder);
    return key;
}

/* Checks that public_key is an uncompressed point on P-256. */
static int p256_point_ok(const uint8_t *public_key) {
    int ok = 0;
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    EC_POINT *point = group == NULL ? NULL : EC_POINT_new(group);
    if (point != NULL && public_key[0] == 0x04 &&
        EC_POINT_oct2point(group, point, public_key, ASYLO_P256_PUBLIC_KEY_SIZE, NULL) == 1 &&
        EC_POINT_is_on_curve(group, point, NULL) == 1 && !EC_POINT_is_at_infinity(group, point)) {
        ok = 1;
    }
    EC_POINT_free(point);
    EC_GROUP_free(group);
    return ok;
}

asylo_code asylo_p256_public_key(const uint8_t private_key[ASYLO_P256_PRIVATE_KEY_SIZE],
                                 uint8_t public_key[ASYLO_P256_PUBLIC_KEY_SIZE],
                                 asylo_status *status) {
    if (private_key == NULL || public_key == NULL) {
        return bad_argument(status, "asylo_p256_public_key", "NULL key buffer");
    }
    asylo_code code = ASYLO_OK;
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    EC_POINT *point = group == NULL ? NULL : EC_POINT_new(group);
    BIGNUM *scalar = BN_bin2bn(private_key, ASYLO_P256_PRIVATE_KEY_SIZE, NULL);
    if (point == NULL || scalar == NULL) {
        code = library_failed(status, "asylo_p256_public_key");
        goto out;
    }
    if (BN_is_zero(scalar) || BN_cmp(scalar, EC_GROUP_get0_order(group)) >= 0) {
        code = bad_argument(status, "asylo_p256_public_key",
                            "the private key is not a scalar in [1, n-1] of P-256");
        goto out;
    }
    if (EC_POINT_mul(group, point, scalar, NULL, NULL, NULL) != 1 ||
        EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, public_key,
                           ASYLO_P256_PUBLIC_KEY_SIZE, NULL) != ASYLO_P256_PUBLIC_KEY_SIZE) {
        code = library_failed(status, "asylo_p256_public_key");
        goto out;
    }
    code = asylo_status_ok(status);
out:
    BN_clear_free(scalar);
    EC_POINT_free(point);
    EC_GROUP_free(group);
    return code;
}

asylo_code asylo_p256_generate(uint8_t private_key[ASYLO_P256_PRIVATE_KEY_SIZE],
                               uint8_t public_key[ASYLO_P256_PUBLIC_KEY_SIZE],
                               asylo_status *status) {
    if (private_key == NULL || public_key == NULL) {
        return bad_argument(status, "asylo_p256_generate", "NULL key buffer");
    }
    /* Rejection sampling: a random 256-bit string is a valid scalar with
     * probability about 1 - 2^-32; bound the loop anyway. */
    for (int attempt = 0; attempt < 16; attempt++) {
        if (RAND_priv_bytes(private_key, ASYLO_P256_PRIVATE_KEY_SIZE) != 1) {
            return library_failed(status, "asylo_p256_generate");
        }
        asylo_code code = asylo_p256_public_key(private_key, public_key, status);
        if (code != ASYLO_INVALID_ARGUMENT) {
            return code;
        }
    }
    asylo_crypto_wipe(private_key, ASYLO_P256_PRIVATE_KEY_SIZE);
    return library_failed(status, "asylo_p256_generate");
}

asylo_code asylo_p256_sign(const uint8_t private_key[ASYLO_P256_PRIVATE_KEY_SIZE],
                           const void *message, size_t size,
                           uint8_t signature[ASYLO_P256_SIGNATURE_SIZE], asylo_status *status) {
    if (private_key == NULL || signature == NULL || !input_ok(message, size)) {
        return bad_argument(status, "asylo_p256_sign", "NULL buffer or message too large");
    }
    uint8_t public_key[ASYLO_P256_PUBLIC_KEY_SIZE];
    asylo_code code = asylo_p256_public_key(private_key, public_key, status);
    if (code != ASYLO_OK) {
        return code;
    }
    EVP_PKEY *key = p256_key(private_key, public_key);
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    uint8_t der[80];
    size_t der_size = sizeof der;
    ECDSA_SIG *parsed = NULL;
    static const uint8_t empty[1];
    if (key == NULL || context == NULL ||
        EVP_DigestSignInit(context, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(context, der, &der_size, size == 0 ? empty : message, size) != 1) {
        code = library_failed(status, "asylo_p256_sign");
        goto out;
    }
    const uint8_t *cursor = der;
    parsed = d2i_ECDSA_SIG(NULL, &cursor, (long)der_size);
    if (parsed == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(parsed), signature, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(parsed), signature + 32, 32) != 32) {
        code = library_failed(status, "asylo_p256_sign");
        goto out;
    }
    code = asylo_status_ok(status);
out:
    ECDSA_SIG_free(parsed);
    EVP_MD_CTX_free(context);
    EVP_PKEY_free(key);
    return code;
}

asylo_code asylo_p256_verify(const uint8_t public_key[ASYLO_P256_PUBLIC_KEY_SIZE],
                             const void *message, size_t size,
                             const uint8_t signature[ASYLO_P256_SIGNATURE_SIZE],
                             asylo_status *status) {
    if (public_key == NULL || signature == NULL || !input_ok(message, size)) {
        return bad_argument(status, "asylo_p256_verify", "NULL buffer or message too large");
    }
    if (!p256_point_ok(public_key)) {
        return bad_argument(status, "asylo_p256_verify",
                            "the public key is not an uncompressed point on P-256");
    }
    asylo_code code = ASYLO_OK;
    EVP_PKEY *key = p256_key(NULL, public_key);
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    ECDSA_SIG *parsed = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(signature, 32, NULL);
    BIGNUM *s = BN_bin2bn(signature + 32, 32, NULL);
    uint8_t *der = NULL;
    static const uint8_t empty[1];
    if (key == NULL || context == NULL || parsed == NULL || r == NULL || s == NULL ||
        ECDSA_SIG_set0(parsed, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        code = library_failed(status, "asylo_p256_verify");
        goto out;
    }
    int der_size = i2d_ECDSA_SIG(parsed, &der);
    if (der_size <= 0 || EVP_DigestVerifyInit(context, NULL, EVP_sha256(), NULL, key) != 1) {
        code = library_failed(status, "asylo_p256_verify");
        goto out;
    }
    if (EVP_DigestVerify(context, der, (size_t)der_size, size == 0 ? empty : message, size) != 1) {
        code = asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_API,
                                "asylo_p256_verify: the signature does not match the message "
                                "and public key");
        goto out;
    }
    code = asylo_status_ok(status);
out:
    OPENSSL_free(der);
    ECDSA_SIG_free(parsed);
    EVP_MD_CTX_free(context);
    EVP_PKEY_free(key);
    return code;
}
