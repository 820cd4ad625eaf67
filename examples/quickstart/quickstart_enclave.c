/* The quickstart enclave. At initialize it makes a random AES-256-GCM key that
 * never leaves it; run encrypts the host's message under that key; the
 * decrypt entry call proves the round trip. The key is wiped at finalize. */
#include <string.h>

#include "asylo/crypto.h"
#include "asylo/trusted.h"
#include "quickstart.h"

/* Only asylo/crypto.h: the same source builds for every backend. */
static uint8_t key[ASYLO_AES256_GCM_KEY_SIZE];

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
    uint8_t *plaintext = asylo_output_reserve(output, size, status);
    if (plaintext == NULL && size > 0) {
        return status->code;
    }
    if (asylo_aes256_gcm_open(key, input, NULL, 0, input + QUICKSTART_NONCE_SIZE, size,
                              input + input_size - QUICKSTART_TAG_SIZE, plaintext,
                              status) != ASYLO_OK) {
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE,
                                "ciphertext failed authentication: it was not made by this "
                                "enclave or was altered");
    }
    return ASYLO_OK;
}

static asylo_code quickstart_initialize(const asylo_enclave_config *config, asylo_status *status) {
    (void)config;
    if (asylo_random_bytes(key, sizeof key, status) != ASYLO_OK) {
        return asylo_status_prefix(status, "could not make a random key inside the enclave");
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
    if (asylo_random_bytes(sealed, QUICKSTART_NONCE_SIZE, status) != ASYLO_OK) {
        return status->code;
    }
    return asylo_aes256_gcm_seal(key, sealed, NULL, 0, input, input_size,
                                 sealed + QUICKSTART_NONCE_SIZE,
                                 sealed + QUICKSTART_NONCE_SIZE + input_size, status);
}

static asylo_code quickstart_finalize(const uint8_t *input, size_t input_size,
                                      asylo_status *status) {
    (void)input, (void)input_size;
    asylo_crypto_wipe(key, sizeof key);
    return asylo_status_ok(status);
}

ASYLO_TRUSTED_APPLICATION(quickstart_initialize, quickstart_run, quickstart_finalize);
