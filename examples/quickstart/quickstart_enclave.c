/* The quickstart enclave. At initialize it makes a random AES-256-GCM key that
 * never leaves it; run encrypts the host's message under that key; the
 * decrypt entry call proves the round trip. The key is wiped at finalize. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "asylo/trusted.h"
#include "quickstart.h"

static unsigned char key[32];

static asylo_code crypto_failure(const char *what, asylo_status *status) {
    return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_ENCLAVE,
                            "AES-256-GCM %s failed inside the enclave", what);
}

/* One EVP pass in either direction; `tag` is written when encrypting and
 * checked when decrypting. */
static asylo_code gcm(int encrypt, const unsigned char *nonce, const unsigned char *in, size_t size,
                      unsigned char *out, unsigned char *tag, asylo_status *status) {
    asylo_code code = ASYLO_OK;
    int length = 0;
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    if (context == NULL ||
        EVP_CipherInit_ex(context, EVP_aes_256_gcm(), NULL, key, nonce, encrypt) != 1 ||
        EVP_CipherUpdate(context, out, &length, in, (int)size) != 1) {
        code = crypto_failure(encrypt ? "encryption" : "decryption", status);
        goto out;
    }
    if (!encrypt &&
        EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, QUICKSTART_TAG_SIZE, tag) != 1) {
        code = crypto_failure("tag setup", status);
        goto out;
    }
    if (EVP_CipherFinal_ex(context, out + length, &length) != 1) {
        code = encrypt ? crypto_failure("encryption", status)
                       : asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE,
                                          "ciphertext failed authentication: it was not made "
                                          "by this enclave or was altered");
        goto out;
    }
    if (encrypt &&
        EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, QUICKSTART_TAG_SIZE, tag) != 1) {
        code = crypto_failure("tag", status);
    }
out:
    EVP_CIPHER_CTX_free(context);
    return code;
}

static asylo_code quickstart_decrypt(void *context, const uint8_t *input, size_t input_size,
                                     asylo_output *output, asylo_status *status) {
    (void)context;
    if (input_size < QUICKSTART_NONCE_SIZE + QUICKSTART_TAG_SIZE ||
        input_size > QUICKSTART_NONCE_SIZE + QUICKSTART_TAG_SIZE + QUICKSTART_MAX_MESSAGE_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "decrypt needs nonce || ciphertext || tag: got %zu bytes",
                                input_size);
    }
    size_t size = input_size - QUICKSTART_NONCE_SIZE - QUICKSTART_TAG_SIZE;
    unsigned char tag[QUICKSTART_TAG_SIZE];
    memcpy(tag, input + input_size - QUICKSTART_TAG_SIZE, sizeof tag);
    uint8_t *plaintext = asylo_output_reserve(output, size, status);
    if (plaintext == NULL && size > 0) {
        return status->code;
    }
    return gcm(0, input, input + QUICKSTART_NONCE_SIZE, size, plaintext, tag, status);
}

static asylo_code quickstart_initialize(const asylo_enclave_config *config, asylo_status *status) {
    (void)config;
    if (RAND_bytes(key, sizeof key) != 1) {
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_ENCLAVE,
                                "could not make a random key inside the enclave");
    }
    asylo_enclave_log(ASYLO_LOG_INFO, "made a fresh AES-256-GCM key");
    return asylo_enclave_register_entry(QUICKSTART_SELECTOR_DECRYPT, quickstart_decrypt, NULL,
                                        status);
}

static asylo_code quickstart_run(const uint8_t *input, size_t input_size, asylo_output *output,
                                 asylo_status *status) {
    if (input_size == 0 || input_size > QUICKSTART_MAX_MESSAGE_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "message must be 1 to %u bytes, got %zu",
                                QUICKSTART_MAX_MESSAGE_SIZE, input_size);
    }
    uint8_t *sealed = asylo_output_reserve(
        output, QUICKSTART_NONCE_SIZE + input_size + QUICKSTART_TAG_SIZE, status);
    if (sealed == NULL) {
        return status->code;
    }
    /* A random 96-bit nonce per message: safe for far more messages than a
     * demo key will ever see. */
    if (RAND_bytes(sealed, QUICKSTART_NONCE_SIZE) != 1) {
        return crypto_failure("nonce", status);
    }
    return gcm(1, sealed, input, input_size, sealed + QUICKSTART_NONCE_SIZE,
               sealed + QUICKSTART_NONCE_SIZE + input_size, status);
}

static asylo_code quickstart_finalize(const uint8_t *input, size_t input_size,
                                      asylo_status *status) {
    (void)input, (void)input_size;
    OPENSSL_cleanse(key, sizeof key);
    return asylo_status_ok(status);
}

ASYLO_TRUSTED_APPLICATION(quickstart_initialize, quickstart_run, quickstart_finalize);
