/* asylo/crypto.h: the trusted crypto API for enclave code.
 *
 * The same functions on every backend, so enclave source does not depend on a
 * particular crypto library. Keys, digests and signatures are plain byte
 * arrays of fixed sizes (no library objects cross this API), which any
 * library can serve: the trusted runtime implements it with OpenSSL's
 * libcrypto today; a freestanding build (the future `kvm` guest) can back the
 * same header with BearSSL.
 *
 * Conventions:
 *   - Every function returns a canonical code and fills *status (which may be
 *     NULL) with a message; INVALID_ARGUMENT for NULL pointers with a nonzero
 *     size or sizes out of range, INTERNAL when the library fails.
 *   - Output buffers are caller-owned and of the documented size.
 *   - All functions are thread-safe and keep no state between calls.
 *   - Wipe keys with asylo_crypto_wipe when done with them.
 *
 * Formats:
 *   - P-256 public key: 65 bytes, SEC1 uncompressed point 0x04 || X || Y.
 *   - P-256 private key: 32 bytes, the big-endian scalar.
 *   - ECDSA signature: 64 bytes, raw r || s (each 32 bytes, big-endian), the
 *     form COSE (RFC 9053) and JOSE use; not DER.
 *   - ECDSA signs and verifies SHA-256(message): pass the message, not a hash. */
#ifndef ASYLO_CRYPTO_H
#define ASYLO_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ASYLO_SHA256_SIZE 32
#define ASYLO_HMAC_SHA256_SIZE 32
#define ASYLO_AES256_GCM_KEY_SIZE 32
#define ASYLO_AES256_GCM_NONCE_SIZE 12
#define ASYLO_AES256_GCM_TAG_SIZE 16
#define ASYLO_P256_PRIVATE_KEY_SIZE 32
#define ASYLO_P256_PUBLIC_KEY_SIZE 65
#define ASYLO_P256_SIGNATURE_SIZE 64
/* HKDF-SHA256 can expand to at most 255 blocks (RFC 5869 section 2.3). */
#define ASYLO_HKDF_SHA256_MAX_OUTPUT_SIZE (255u * 32u)
/* One call processes at most this many bytes of any input. */
#define ASYLO_CRYPTO_MAX_INPUT_SIZE ((size_t)1 << 30)

/* SHA-256 (FIPS 180-4) of data. */
asylo_code asylo_sha256(const void *data, size_t size, uint8_t digest[ASYLO_SHA256_SIZE],
                        asylo_status *status);

/* HMAC-SHA256 (RFC 2104) of data under key (any key size). */
asylo_code asylo_hmac_sha256(const void *key, size_t key_size, const void *data, size_t size,
                             uint8_t mac[ASYLO_HMAC_SHA256_SIZE], asylo_status *status);

/* HKDF-SHA256 (RFC 5869): extract with salt (may be empty), expand with info
 * (may be empty) into output_size bytes, 1..ASYLO_HKDF_SHA256_MAX_OUTPUT_SIZE. */
asylo_code asylo_hkdf_sha256(const void *salt, size_t salt_size, const void *ikm, size_t ikm_size,
                             const void *info, size_t info_size, uint8_t *output,
                             size_t output_size, asylo_status *status);

/* AES-256-GCM with a 96-bit nonce and a 128-bit tag. The ciphertext has the
 * plaintext's size; in-place operation (ciphertext == plaintext) is allowed.
 * Never reuse a nonce under one key: draw it from asylo_random_bytes. */
asylo_code asylo_aes256_gcm_seal(const uint8_t key[ASYLO_AES256_GCM_KEY_SIZE],
                                 const uint8_t nonce[ASYLO_AES256_GCM_NONCE_SIZE], const void *aad,
                                 size_t aad_size, const void *plaintext, size_t size,
                                 uint8_t *ciphertext, uint8_t tag[ASYLO_AES256_GCM_TAG_SIZE],
                                 asylo_status *status);
/* Decrypts and checks the tag. DATA_LOSS when the tag does not match (wrong
 * key, nonce, AAD, or modified bytes); the plaintext buffer is then wiped. */
asylo_code asylo_aes256_gcm_open(const uint8_t key[ASYLO_AES256_GCM_KEY_SIZE],
                                 const uint8_t nonce[ASYLO_AES256_GCM_NONCE_SIZE], const void *aad,
                                 size_t aad_size, const void *ciphertext, size_t size,
                                 const uint8_t tag[ASYLO_AES256_GCM_TAG_SIZE], uint8_t *plaintext,
                                 asylo_status *status);

/* Random bytes from the enclave's own CSPRNG (in the trusted runtime, not an
 * exit call to the host), for keys and nonces. */
asylo_code asylo_random_bytes(void *data, size_t size, asylo_status *status);

/* A fresh P-256 key pair. */
asylo_code asylo_p256_generate(uint8_t private_key[ASYLO_P256_PRIVATE_KEY_SIZE],
                               uint8_t public_key[ASYLO_P256_PUBLIC_KEY_SIZE],
                               asylo_status *status);
/* The public key of a private key. INVALID_ARGUMENT when the scalar is not
 * in [1, n-1]. */
asylo_code asylo_p256_public_key(const uint8_t private_key[ASYLO_P256_PRIVATE_KEY_SIZE],
                                 uint8_t public_key[ASYLO_P256_PUBLIC_KEY_SIZE],
                                 asylo_status *status);
/* ECDSA P-256 with SHA-256 over message; signature is raw r || s. */
asylo_code asylo_p256_sign(const uint8_t private_key[ASYLO_P256_PRIVATE_KEY_SIZE],
                           const void *message, size_t size,
                           uint8_t signature[ASYLO_P256_SIGNATURE_SIZE], asylo_status *status);
/* OK when signature (raw r || s) is valid for message under public_key;
 * UNAUTHENTICATED when it is not; INVALID_ARGUMENT when the public key is not
 * a point on P-256. */
asylo_code asylo_p256_verify(const uint8_t public_key[ASYLO_P256_PUBLIC_KEY_SIZE],
                             const void *message, size_t size,
                             const uint8_t signature[ASYLO_P256_SIGNATURE_SIZE],
                             asylo_status *status);

/* 1 when the two buffers are equal, 0 otherwise, in time independent of the
 * contents. */
int asylo_crypto_equal(const void *a, const void *b, size_t size);
/* Overwrites secret bytes in a way the compiler keeps. */
void asylo_crypto_wipe(void *data, size_t size);

#ifdef __cplusplus
}
#endif

#endif
