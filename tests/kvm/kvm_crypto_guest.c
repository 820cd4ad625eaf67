/* asylo/crypto.h on BearSSL inside a kvm guest: known-answer checks, and
 * outputs the host checks against its own (OpenSSL) implementation. */
#include <stdint.h>
#include <string.h>

#include "asylo/crypto.h"
#include "guest/guest.h"

enum {
    CRYPTO_SELF_TEST = 1, /* out: "ok" or the first failure */
    CRYPTO_SEAL = 2,      /* in: key 32, nonce 12, plaintext; out: ciphertext || tag */
    CRYPTO_SIGN = 3,      /* in: message; out: public key 65 || signature 64 */
};

static int fail(asylo_guest_call *call, const char *message) {
    call->error = message;
    return ASYLO_INTERNAL;
}

static int self_test(asylo_guest_call *call) {
    static const uint8_t abc_sha256[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                           0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                           0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                           0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    uint8_t digest[32];
    if (asylo_sha256("abc", 3, digest, NULL) != ASYLO_OK || memcmp(digest, abc_sha256, 32) != 0) {
        return fail(call, "SHA-256 of abc is wrong");
    }
    uint8_t key[32];
    uint8_t nonce[12];
    uint8_t text[100];
    uint8_t tag[16];
    asylo_status status;
    if (asylo_random_bytes(key, sizeof key, &status) != ASYLO_OK ||
        asylo_random_bytes(nonce, sizeof nonce, &status) != ASYLO_OK) {
        return fail(call, "random bytes failed");
    }
    memset(text, 'p', sizeof text);
    if (asylo_aes256_gcm_seal(key, nonce, "aad", 3, text, sizeof text, text, tag, &status) !=
            ASYLO_OK ||
        asylo_aes256_gcm_open(key, nonce, "aad", 3, text, sizeof text, tag, text, &status) !=
            ASYLO_OK ||
        text[0] != 'p' || text[99] != 'p') {
        return fail(call, "AES-256-GCM round trip failed");
    }
    asylo_aes256_gcm_seal(key, nonce, "aad", 3, text, sizeof text, text, tag, &status);
    text[5] ^= 1;
    if (asylo_aes256_gcm_open(key, nonce, "aad", 3, text, sizeof text, tag, text, &status) !=
        ASYLO_DATA_LOSS) {
        return fail(call, "AES-256-GCM accepted a modified ciphertext");
    }
    uint8_t private_key[32];
    uint8_t public_key[65];
    uint8_t signature[64];
    if (asylo_p256_generate(private_key, public_key, &status) != ASYLO_OK ||
        asylo_p256_sign(private_key, "message", 7, signature, &status) != ASYLO_OK ||
        asylo_p256_verify(public_key, "message", 7, signature, &status) != ASYLO_OK) {
        return fail(call, "P-256 sign and verify failed");
    }
    signature[10] ^= 1;
    if (asylo_p256_verify(public_key, "message", 7, signature, &status) != ASYLO_UNAUTHENTICATED) {
        return fail(call, "P-256 accepted a modified signature");
    }
    public_key[40] ^= 1;
    if (asylo_p256_verify(public_key, "message", 7, signature, &status) != ASYLO_INVALID_ARGUMENT) {
        return fail(call, "P-256 accepted a point off the curve");
    }
    memcpy(call->output, "ok", 2);
    call->output_size = 2;
    return ASYLO_OK;
}

int asylo_guest_enter(uint32_t selector, asylo_guest_call *call) {
    asylo_status status;
    switch (selector) {
    case CRYPTO_SELF_TEST:
        return self_test(call);
    case CRYPTO_SEAL: {
        if (call->input_size < 44 || call->input_size - 44 + 16 > call->output_capacity) {
            return fail(call, "seal wants key 32, nonce 12, plaintext");
        }
        size_t size = call->input_size - 44;
        asylo_code code =
            asylo_aes256_gcm_seal(call->input, call->input + 32, NULL, 0, call->input + 44, size,
                                  call->output, call->output + size, &status);
        call->output_size = size + 16;
        return code;
    }
    case CRYPTO_SIGN: {
        uint8_t private_key[32];
        asylo_code code = asylo_p256_generate(private_key, call->output, &status);
        if (code == ASYLO_OK) {
            code = asylo_p256_sign(private_key, call->input, call->input_size, call->output + 65,
                                   &status);
        }
        call->output_size = 65 + 64;
        return code;
    }
    default:
        return fail(call, "unknown selector");
    }
}
