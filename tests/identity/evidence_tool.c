/* The C side of the evidence interoperability test (evidence_test.py):
 *
 *   evidence_tool issue IMAGE OUTDIR NONCE_HEX
 *       loads IMAGE on sim, asks it for evidence over the nonce and writes
 *       OUTDIR/token.cbor, OUTDIR/platform.pub (65 bytes) and
 *       OUTDIR/measurement.hex
 *   evidence_tool attest IMAGE OUTDIR NONCE_HEX cert PEM_FILE | token TEXT
 *       runs the proxy's ATTEST (remote binding) in this process for IMAGE,
 *       the proxy holding that TLS certificate or one-time token, and writes
 *       the evidence it returns to OUTDIR/bound.cbor
 *   evidence_tool verify TOKEN PLATFORM_KEY NONCE_HEX [MEASUREMENT_HEX]
 *       runs asylo_attestation_verify; prints OK or the code and message;
 *       exit 0 on OK, 1 otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/frame.h"
#include "asylo/asylo.h"
#include "asylo/attestation.h"
#include "identity/image_identity.h"
#include "asylo/remote.pb-c.h"
#include "asylo/selectors.h"
#include "common/bytes_output.h"
#include "identity_enclave.h"
#include "proxy/proxy.h"

static int unhex(const char *hex, uint8_t *out, size_t max) {
    size_t length = strlen(hex);
    if (length % 2 != 0 || length / 2 > max) {
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

static int write_file(const char *dir, const char *name, const void *data, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen(path, "wb");
    if (file == NULL || fwrite(data, 1, size, file) != size) {
        fprintf(stderr, "cannot write %s\n", path);
        if (file != NULL) {
            fclose(file);
        }
        return 0;
    }
    return fclose(file) == 0;
}

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return NULL;
    }
    uint8_t *data = malloc(ASYLO_EVIDENCE_MAX_SIZE + 1);
    *size = data == NULL ? 0 : fread(data, 1, ASYLO_EVIDENCE_MAX_SIZE + 1, file);
    fclose(file);
    return data;
}

static int issue(const char *image, const char *dir, const char *nonce_hex) {
    uint8_t request[4 + 64 + 32];
    int nonce_size = unhex(nonce_hex, request + 4, 64);
    if (nonce_size < 0) {
        return 2;
    }
    request[0] = (uint8_t)nonce_size;
    request[1] = request[2] = request[3] = 0;
    memcpy(request + 4 + nonce_size, "hash of the enclave's public key", 32);
    asylo_status status;
    asylo_manager *manager = NULL;
    asylo_client *client = NULL;
    asylo_buffer token = {0};
    int result = 1;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "attested";
    config.backend = "sim";
    config.enclave_path = image;
    uint8_t key[ASYLO_PLATFORM_KEY_SIZE];
    asylo__image read;
    asylo_enclave_identity identity;
    if (asylo_manager_create(&manager, &status) != ASYLO_OK ||
        asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK ||
        asylo_client_call(client, IDENTITY_SELECTOR_EVIDENCE, request, 4 + (size_t)nonce_size + 32,
                          &token, &status) != ASYLO_OK ||
        asylo_platform_attestation_key(key, &status) != ASYLO_OK ||
        asylo__image_read(image, &read, &status) != ASYLO_OK) {
        fprintf(stderr, "issue: %s\n", status.message);
        goto out;
    }
    asylo__image_verify(&read, image, &identity, &status);
    asylo__image_fini(&read);
    char hex[65];
    asylo__hex(identity.measurement, 32, hex);
    if (write_file(dir, "token.cbor", token.data, token.size) &&
        write_file(dir, "platform.pub", key, sizeof key) &&
        write_file(dir, "measurement.hex", hex, 64)) {
        result = 0;
    }
out:
    asylo_buffer_free(&token);
    asylo_manager_destroy(manager);
    return result;
}

static int verify(int argc, char **argv) {
    size_t token_size = 0, key_size = 0;
    uint8_t *token = read_file(argv[0], &token_size);
    uint8_t *key = read_file(argv[1], &key_size);
    uint8_t nonce[64], measurement[32];
    int nonce_size = unhex(argv[2], nonce, sizeof nonce);
    int result = 2;
    if (token == NULL || key == NULL || key_size != ASYLO_PLATFORM_KEY_SIZE || nonce_size < 0 ||
        (argc == 4 && unhex(argv[3], measurement, 32) != 32)) {
        fprintf(stderr, "verify: bad arguments\n");
        goto out;
    }
    asylo_attestation_policy policy = {
        .nonce = nonce,
        .nonce_size = (size_t)nonce_size,
        .trusted_keys = key,
        .trusted_key_count = 1,
        .expected_measurement = argc == 4 ? measurement : NULL,
        .allow_debug = 1,
    };
    asylo_attestation_claims claims;
    asylo_status status;
    if (asylo_attestation_verify(token, token_size, &policy, &claims, &status) == ASYLO_OK) {
        char hex[65];
        asylo__hex(claims.identity.measurement, 32, hex);
        printf("OK %s root=%s\n", hex, claims.root);
        result = 0;
    } else {
        printf("%s: %s\n", asylo_code_name(status.code), status.message);
        result = 1;
    }
out:
    free(token);
    free(key);
    return result;
}

/* One entry call through the proxy's dispatcher; the reply (RETURN with the
 * output in *storage, or ERROR with the status) in *reply. 0 on RETURN. */
static int proxy_enter(asylo__proxy *proxy, uint32_t selector, const uint8_t *payload, size_t size,
                       asylo__bytes_output *storage, asylo__frame *reply) {
    bool is_control = false;
    asylo__bytes_output_init(storage, 1 << 20);
    asylo_status status;
    asylo_code code = asylo__proxy_serve_entry(proxy, 1, selector, payload, size, &is_control,
                                               &storage->output, &status);
    asylo__frame_init(reply);
    reply->call_id = 1;
    reply->selector = selector;
    if (code != ASYLO_OK) {
        reply->kind = ASYLO__FRAME_ERROR;
        reply->status = status;
        fprintf(stderr, "selector 0x%x: %s\n", (unsigned)selector, status.message);
        return 1;
    }
    reply->kind = ASYLO__FRAME_RETURN;
    reply->payload = storage->bytes.data;
    reply->payload_size = storage->bytes.size;
    return 0;
}

static int attest(const char *image, const char *dir, const char *nonce_hex, const char *kind,
                  const char *value) {
    uint8_t nonce[64];
    int nonce_size = unhex(nonce_hex, nonce, sizeof nonce);
    asylo__proxy_options options;
    memset(&options, 0, sizeof options);
    if (strcmp(kind, "cert") == 0) {
        options.server_cert = value;
    } else {
        snprintf(options.token, sizeof options.token, "%s", value);
    }
    asylo__proxy proxy;
    asylo_status status;
    if (nonce_size < 0 || asylo__proxy_init(&proxy, &options, &status) != ASYLO_OK) {
        fprintf(stderr, "attest: bad nonce or %s\n", status.message);
        return 1;
    }
    Asylo__Remote__LoadRequest load = ASYLO__REMOTE__LOAD_REQUEST__INIT;
    load.name = "bound";
    load.backend = "sim";
    load.enclave_path = (char *)image;
    load.protocol_version = ASYLO__WIRE_PROTOCOL_VERSION;
    uint8_t packed[4096];
    size_t size = asylo__remote__load_request__pack(&load, packed);
    asylo__bytes_output storage;
    asylo__frame reply;
    int failed = proxy_enter(&proxy, ASYLO_SELECTOR_REMOTE_LOAD, packed, size, &storage, &reply);
    asylo__bytes_output_fini(&storage);
    Asylo__Remote__AttestRequest request = ASYLO__REMOTE__ATTEST_REQUEST__INIT;
    request.nonce.data = nonce;
    request.nonce.len = (size_t)nonce_size;
    size = asylo__remote__attest_request__pack(&request, packed);
    if (!failed) {
        failed = proxy_enter(&proxy, ASYLO_SELECTOR_REMOTE_ATTEST, packed, size, &storage, &reply);
    }
    Asylo__Remote__AttestResponse *response =
        failed ? NULL
               : asylo__remote__attest_response__unpack(NULL, reply.payload_size, reply.payload);
    failed = response == NULL ||
             !write_file(dir, "bound.cbor", response->evidence.data, response->evidence.len);
    if (response != NULL) {
        asylo__remote__attest_response__free_unpacked(response, NULL);
    }
    asylo__bytes_output_fini(&storage);
    asylo__proxy_fini(&proxy);
    return failed;
}

int main(int argc, char **argv) {
    if (argc == 7 && strcmp(argv[1], "attest") == 0 &&
        (strcmp(argv[5], "cert") == 0 || strcmp(argv[5], "token") == 0)) {
        return attest(argv[2], argv[3], argv[4], argv[5], argv[6]);
    }
    if (argc == 5 && strcmp(argv[1], "issue") == 0) {
        return issue(argv[2], argv[3], argv[4]);
    }
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "verify") == 0) {
        return verify(argc - 2, argv + 2);
    }
    fprintf(stderr, "usage: evidence_tool issue IMAGE OUTDIR NONCE_HEX | attest IMAGE OUTDIR "
                    "NONCE_HEX cert PEM|token TEXT | verify TOKEN KEY NONCE_HEX "
                    "[MEASUREMENT_HEX]\n");
    return 2;
}
