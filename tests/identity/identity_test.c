/* Identity, signing checks at load, trusted crypto known answers and sealing,
 * on one backend (argv[1]: sim or remote). Remote enclaves run behind a
 * proxy spawned by local provisioning, which inherits ASYLO_STATE_DIR at
 * load: the platform root then lives where the test says, as it would on a
 * target machine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "asylo/asylo.h"
#include "asylo/attestation.h"
#include "asylo/identity.h"
#include "asylo/seal.h"
#include "identity/image_identity.h"
#include "identity_enclave.h"
#include "remote_util.h"

static const char *backend;
static util_remote remote;
static char temp_dir[UTIL_PATH_SIZE];
static char state_dir[UTIL_PATH_SIZE];
static asylo_manager *manager;

static int is_remote(void) {
    return strcmp(backend, "remote") == 0;
}

/* The backend that runs the image: remote's proxy uses sim. */
static const char *local_backend(void) {
    return is_remote() ? "sim" : backend;
}

static void load_config(asylo_load_config *config, const char *name, const char *path) {
    asylo_load_config_init(config);
    config->name = name;
    config->backend = backend;
    config->enclave_path = path;
    if (is_remote()) {
        config->backend_config = &remote.config;
    }
}

static asylo_code try_load(const char *name, const char *path, int debug, asylo_client **client,
                           asylo_status *status) {
    asylo_load_config config;
    load_config(&config, name, path);
    config.debug = debug;
    return asylo_manager_load(manager, &config, client, status);
}

static asylo_client *load(const char *name, const char *path) {
    asylo_client *client = NULL;
    asylo_status status;
    asylo_code code = try_load(name, path, 0, &client, &status);
    if (code != ASYLO_OK) {
        fail_msg("loading %s: %s", path, util_status_text(&status));
    }
    return client;
}

static void unload(asylo_client *client) {
    asylo_status status;
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
}

static asylo_code call(asylo_client *client, uint32_t selector, const void *input, size_t size,
                       asylo_buffer *output, asylo_status *status) {
    return asylo_client_call(client, selector, input, size, output, status);
}

static void put_u32(uint8_t *bytes, uint32_t value) {
    for (int i = 0; i < 4; i++) {
        bytes[i] = (uint8_t)(value >> (8 * i));
    }
}

/* Seals in a fresh load of `path` and unloads it again. */
static void seal_in(const char *path, asylo_seal_policy policy, const char *aad,
                    const char *plaintext, asylo_buffer *blob) {
    asylo_client *client = load("sealer", path);
    size_t aad_size = strlen(aad), size = strlen(plaintext);
    uint8_t *request = malloc(8 + aad_size + size);
    assert_non_null(request);
    put_u32(request, (uint32_t)policy);
    put_u32(request + 4, (uint32_t)aad_size);
    memcpy(request + 8, aad, aad_size);
    memcpy(request + 8 + aad_size, plaintext, size);
    asylo_status status;
    asylo_code code =
        call(client, IDENTITY_SELECTOR_SEAL, request, 8 + aad_size + size, blob, &status);
    free(request);
    if (code != ASYLO_OK) {
        fail_msg("sealing in %s: %s", path, util_status_text(&status));
    }
    unload(client);
}

/* Unseals in a fresh load of `path`; returns the code, output in *plaintext. */
static asylo_code unseal_in(const char *path, const uint8_t *blob, size_t blob_size,
                            const char *aad, asylo_buffer *plaintext, asylo_status *status) {
    asylo_client *client = load("unsealer", path);
    size_t aad_size = strlen(aad);
    uint8_t *request = malloc(4 + aad_size + blob_size);
    assert_non_null(request);
    put_u32(request, (uint32_t)aad_size);
    memcpy(request + 4, aad, aad_size);
    memcpy(request + 4 + aad_size, blob, blob_size);
    asylo_code code = call(client, IDENTITY_SELECTOR_UNSEAL, request, 4 + aad_size + blob_size,
                           plaintext, status);
    free(request);
    unload(client);
    return code;
}

static void expect_unseal(const char *path, const asylo_buffer *blob, const char *aad,
                          asylo_code expected, const char *needle, const char *plaintext) {
    asylo_buffer out = {0};
    asylo_status status;
    asylo_code code = unseal_in(path, blob->data, blob->size, aad, &out, &status);
    if (code != expected || (needle != NULL && strstr(status.message, needle) == NULL)) {
        fail_msg("unseal in %s: expected %s with '%s', got %s", path, asylo_code_name(expected),
                 needle ? needle : "", util_status_text(&status));
    }
    if (plaintext != NULL) {
        assert_int_equal(out.size, strlen(plaintext));
        assert_memory_equal(out.data, plaintext, out.size);
    }
    asylo_buffer_free(&out);
}

static void test_known_answers_inside_enclave(void **state) {
    (void)state;
    asylo_client *client = load("kat", IDENTITY_A_PATH);
    asylo_buffer out = {0};
    asylo_status status;
    asylo_code code = call(client, IDENTITY_SELECTOR_KAT, NULL, 0, &out, &status);
    if (code != ASYLO_OK) {
        fail_msg("%s", util_status_text(&status));
    }
    assert_int_equal(out.size, 4);
    uint32_t passed = (uint32_t)out.data[0] | (uint32_t)out.data[1] << 8;
    /* 3 SHA + 4 HMAC + 3 HKDF + 4x3 GCM + 1 + 2x2 + 3 ECDSA + 1 misuse. */
    assert_int_equal(passed, 31);
    print_message("%u known-answer and negative crypto checks passed inside the enclave (%s)\n",
                  passed, backend);
    asylo_buffer_free(&out);
    unload(client);
}

static void test_identity_inside_enclave(void **state) {
    (void)state;
    asylo__image image;
    asylo_enclave_identity expected;
    asylo_status status;
    assert_int_equal(asylo__image_read(IDENTITY_A_PATH, &image, &status), ASYLO_OK);
    assert_int_equal(asylo__image_verify(&image, IDENTITY_A_PATH, &expected, &status), ASYLO_OK);
    asylo__image_fini(&image);

    asylo_client *client = load("who", IDENTITY_A_PATH);
    asylo_buffer out = {0};
    assert_int_equal(call(client, IDENTITY_SELECTOR_IDENTITY, NULL, 0, &out, &status), ASYLO_OK);
    assert_int_equal(out.size, sizeof(asylo_enclave_identity));
    asylo_enclave_identity got;
    memcpy(&got, out.data, sizeof got);
    asylo_buffer_free(&out);
    unload(client);
    assert_memory_equal(got.measurement, expected.measurement, 32);
    assert_memory_equal(got.signer_id, expected.signer_id, 32);
    assert_int_equal(got.product_id, 7);
    assert_int_equal(got.svn, 2);
    assert_int_equal(got.is_signed, 1);
    assert_int_equal(got.debug, 0);
    assert_string_equal(got.backend, local_backend()); /* remote: the proxy's */
}

static void test_seal_round_trip_across_loads(void **state) {
    (void)state;
    asylo_buffer blob = {0};
    seal_in(IDENTITY_A_PATH, ASYLO_SEAL_MEASUREMENT, "context", "the secret", &blob);
    expect_unseal(IDENTITY_A_PATH, &blob, "context", ASYLO_OK, NULL, "the secret");
    /* The AAD is bound: another AAD is DATA_LOSS. */
    expect_unseal(IDENTITY_A_PATH, &blob, "contexT", ASYLO_DATA_LOSS, "does not authenticate",
                  NULL);
    asylo_buffer_free(&blob);
    seal_in(IDENTITY_A_PATH, ASYLO_SEAL_SIGNER, "", "signer secret", &blob);
    expect_unseal(IDENTITY_A_PATH, &blob, "", ASYLO_OK, NULL, "signer secret");
    asylo_buffer_free(&blob);
    /* The root was made on first use, private to its owner. */
    char root[UTIL_PATH_SIZE];
    util_join(root, sizeof root, state_dir, "sealing-root.key");
    struct stat info;
    assert_int_equal(stat(root, &info), 0);
    assert_int_equal(info.st_mode & 0777, 0600);
    assert_int_equal(info.st_size, 32);
}

static void test_seal_policies_across_images(void **state) {
    (void)state;
    asylo_buffer blob = {0};
    seal_in(IDENTITY_A_PATH, ASYLO_SEAL_MEASUREMENT, "", "only A", &blob);
    expect_unseal(IDENTITY_A2_PATH, &blob, "", ASYLO_PERMISSION_DENIED,
                  "sealed under the measurement policy", NULL);
    asylo_buffer_free(&blob);

    seal_in(IDENTITY_A_PATH, ASYLO_SEAL_SIGNER, "", "same signer", &blob);
    expect_unseal(IDENTITY_A2_PATH, &blob, "", ASYLO_OK, NULL, "same signer");
    expect_unseal(IDENTITY_OTHER_PRODUCT_PATH, &blob, "", ASYLO_PERMISSION_DENIED,
                  "signer policy for product id 7", NULL);
    expect_unseal(IDENTITY_OTHER_SIGNER_PATH, &blob, "", ASYLO_PERMISSION_DENIED,
                  "sealed under the signer policy to signer", NULL);
    /* svn rollback: an older version cannot read a newer version's data... */
    expect_unseal(IDENTITY_OLD_PATH, &blob, "", ASYLO_PERMISSION_DENIED, "svn 2", NULL);
    asylo_buffer_free(&blob);
    /* ...but a newer version reads an older one's. */
    seal_in(IDENTITY_OLD_PATH, ASYLO_SEAL_SIGNER, "", "from svn 1", &blob);
    expect_unseal(IDENTITY_A_PATH, &blob, "", ASYLO_OK, NULL, "from svn 1");
    asylo_buffer_free(&blob);
}

static void test_tampered_blobs(void **state) {
    (void)state;
    asylo_buffer blob = {0};
    seal_in(IDENTITY_A_PATH, ASYLO_SEAL_SIGNER, "aad", "tamper with me", &blob);
    uint8_t *copy = malloc(blob.size);
    assert_non_null(copy);
    /* One load for all the refusals: unseal has no state. */
    asylo_client *client = load("tamper", IDENTITY_A_PATH);
    uint8_t request[4 + 3 + 256];
    assert_true(blob.size <= 256);
    put_u32(request, 3);
    memcpy(request + 4, "aad", 3);
    int refused = 0;
    for (size_t i = 0; i < blob.size; i++) {
        memcpy(copy, blob.data, blob.size);
        copy[i] ^= 0x20;
        memcpy(request + 7, copy, blob.size);
        asylo_buffer out = {0};
        asylo_status status;
        asylo_code code =
            call(client, IDENTITY_SELECTOR_UNSEAL, request, 7 + blob.size, &out, &status);
        asylo_buffer_free(&out);
        if (code == ASYLO_OK) {
            fail_msg("a blob with byte %zu flipped was unsealed", i);
        }
        /* Version field: a newer format is FAILED_PRECONDITION. */
        if (i == 4) {
            assert_int_equal(code, ASYLO_FAILED_PRECONDITION);
        }
        refused++;
    }
    /* Truncations. */
    for (size_t size = 0; size < blob.size; size += 7) {
        memcpy(request + 7, blob.data, size);
        asylo_buffer out = {0};
        asylo_status status;
        assert_int_equal(call(client, IDENTITY_SELECTOR_UNSEAL, request, 7 + size, &out, &status),
                         ASYLO_DATA_LOSS);
        asylo_buffer_free(&out);
    }
    unload(client);
    print_message("%d bit-flipped blobs refused\n", refused);
    free(copy);
    asylo_buffer_free(&blob);
}

static void test_another_platform_root(void **state) {
    (void)state;
    asylo_buffer blob = {0};
    seal_in(IDENTITY_A_PATH, ASYLO_SEAL_MEASUREMENT, "", "platform bound", &blob);
    char other[UTIL_PATH_SIZE];
    util_join(other, sizeof other, temp_dir, "other-platform");
    setenv("ASYLO_STATE_DIR", other, 1);
    expect_unseal(IDENTITY_A_PATH, &blob, "", ASYLO_DATA_LOSS, "does not authenticate", NULL);
    setenv("ASYLO_STATE_DIR", state_dir, 1);
    expect_unseal(IDENTITY_A_PATH, &blob, "", ASYLO_OK, NULL, "platform bound");
    asylo_buffer_free(&blob);
}

static void test_exposed_root_refused(void **state) {
    (void)state;
    asylo_buffer blob = {0};
    seal_in(IDENTITY_A_PATH, ASYLO_SEAL_MEASUREMENT, "", "x", &blob);
    char root[UTIL_PATH_SIZE];
    util_join(root, sizeof root, state_dir, "sealing-root.key");
    assert_int_equal(chmod(root, 0644), 0);
    expect_unseal(IDENTITY_A_PATH, &blob, "", ASYLO_PERMISSION_DENIED, "mode 0644", NULL);
    assert_int_equal(chmod(root, 0600), 0);
    expect_unseal(IDENTITY_A_PATH, &blob, "", ASYLO_OK, NULL, "x");
    asylo_buffer_free(&blob);
}

static void test_unsigned_image(void **state) {
    (void)state;
    asylo_client *client = NULL;
    asylo_status status;
    if (is_remote()) {
        /* The proxy loads without debug: an unsigned image is refused on the
         * target. */
        assert_int_not_equal(try_load("unsigned", IDENTITY_UNSIGNED_PATH, 0, &client, &status),
                             ASYLO_OK);
        return;
    }
    assert_int_equal(try_load("unsigned", IDENTITY_UNSIGNED_PATH, 0, &client, &status),
                     ASYLO_PERMISSION_DENIED);
    assert_non_null(strstr(status.message, "not signed"));
    assert_non_null(strstr(status.message, IDENTITY_UNSIGNED_PATH));
    assert_int_equal(try_load("unsigned", IDENTITY_UNSIGNED_PATH, 1, &client, &status), ASYLO_OK);
    asylo_buffer out = {0};
    assert_int_equal(call(client, IDENTITY_SELECTOR_IDENTITY, NULL, 0, &out, &status), ASYLO_OK);
    asylo_enclave_identity got;
    memcpy(&got, out.data, sizeof got);
    asylo_buffer_free(&out);
    assert_int_equal(got.is_signed, 0);
    assert_int_equal(got.debug, 1);
    uint8_t zero[32] = {0};
    assert_memory_equal(got.signer_id, zero, 32);
    uint8_t request[8] = {0};
    put_u32(request, ASYLO_SEAL_SIGNER);
    assert_int_equal(call(client, IDENTITY_SELECTOR_SEAL, request, sizeof request, &out, &status),
                     ASYLO_FAILED_PRECONDITION);
    unload(client);
}

/* Copies `path` to the temp dir with byte `offset` XOR `mask`. */
static void tampered_copy(const char *path, long offset, uint8_t mask, char *out, size_t size) {
    static int counter;
    char name[64];
    snprintf(name, sizeof name, "tampered-%d.so", counter++);
    util_join(out, size, temp_dir, name);
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    fseek(in, 0, SEEK_END);
    long length = ftell(in);
    fseek(in, 0, SEEK_SET);
    uint8_t *bytes = malloc((size_t)length);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, (size_t)length, in), (size_t)length);
    fclose(in);
    if (offset < 0) {
        offset += length;
    }
    bytes[offset] ^= mask;
    FILE *file = fopen(out, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(bytes, 1, (size_t)length, file), (size_t)length);
    fclose(file);
    free(bytes);
}

static void expect_load_refused(const char *path, asylo_code expected, const char *needle) {
    asylo_client *client = NULL;
    asylo_status status;
    asylo_code code = try_load("refused", path, 0, &client, &status);
    if (code != expected || strstr(status.message, needle) == NULL) {
        fail_msg("load of %s: expected %s with '%s', got %s", path, asylo_code_name(expected),
                 needle, util_status_text(&status));
    }
}

static void test_tampered_images_refused(void **state) {
    (void)state;
    asylo__image image;
    asylo_status status;
    assert_int_equal(asylo__image_read(IDENTITY_A_PATH, &image, &status), ASYLO_OK);
    long block = (long)image.location.offset;
    asylo__image_fini(&image);
    char path[UTIL_PATH_SIZE];
    /* A code or data byte: the measurement no longer matches. */
    tampered_copy(IDENTITY_A_PATH, block / 2, 0x01, path, sizeof path);
    expect_load_refused(path, ASYLO_DATA_LOSS, "modified after signing");
    /* The signature itself. */
    tampered_copy(IDENTITY_A_PATH, block + 129 + 10, 0x01, path, sizeof path);
    expect_load_refused(path, ASYLO_PERMISSION_DENIED, "does not verify");
    /* The svn (a signed field). */
    tampered_copy(IDENTITY_A_PATH, block + 24, 0x04, path, sizeof path);
    expect_load_refused(path, ASYLO_PERMISSION_DENIED, "does not verify");
    /* The format version. */
    tampered_copy(IDENTITY_A_PATH, block + 8, 0x02, path, sizeof path);
    expect_load_refused(path, ASYLO_FAILED_PRECONDITION, "format version 3");
    /* A byte of the zero tail. */
    tampered_copy(IDENTITY_A_PATH, block + 300, 0x01, path, sizeof path);
    expect_load_refused(path, ASYLO_DATA_LOSS, "nonzero reserved");
    /* Even a debug load refuses a present but bad signature. */
    tampered_copy(IDENTITY_A_PATH, block + 129 + 10, 0x01, path, sizeof path);
    asylo_client *client = NULL;
    assert_int_equal(try_load("debug", path, 1, &client, &status), ASYLO_PERMISSION_DENIED);
}

static void test_pins(void **state) {
    (void)state;
    asylo__image image;
    asylo_enclave_identity identity;
    asylo_status status;
    assert_int_equal(asylo__image_read(IDENTITY_A_PATH, &image, &status), ASYLO_OK);
    assert_int_equal(asylo__image_verify(&image, IDENTITY_A_PATH, &identity, &status), ASYLO_OK);
    asylo__image_fini(&image);
    asylo_load_config config;
    load_config(&config, "pinned", IDENTITY_A_PATH);
    config.expected_measurement = identity.measurement;
    config.expected_signer_id = identity.signer_id;
    asylo_client *client = NULL;
    asylo_code code = asylo_manager_load(manager, &config, &client, &status);
    if (code != ASYLO_OK) {
        fail_msg("pinned load: %s", util_status_text(&status));
    }
    unload(client);
    /* remote: the pins are checked through remote attestation, before the
     * enclave runs (docs/attestation.md, "Remote binding"). */
    asylo_code refused = is_remote() ? ASYLO_UNAUTHENTICATED : ASYLO_PERMISSION_DENIED;
    uint8_t wrong[32];
    memcpy(wrong, identity.measurement, 32);
    wrong[0] ^= 0xff;
    config.expected_measurement = wrong;
    assert_int_equal(asylo_manager_load(manager, &config, &client, &status), refused);
    char hex[65];
    asylo__hex(identity.measurement, 32, hex);
    assert_non_null(strstr(status.message, hex));
    asylo__hex(wrong, 32, hex);
    assert_non_null(strstr(status.message, hex));
    config.expected_measurement = NULL;
    config.expected_signer_id = wrong;
    assert_int_equal(asylo_manager_load(manager, &config, &client, &status), refused);
    assert_non_null(strstr(status.message, "signer id"));
}

static asylo_code get_evidence(const char *path, int debug, const uint8_t *nonce, size_t nonce_size,
                               asylo_buffer *token, asylo_status *status) {
    asylo_client *client = NULL;
    asylo_code code = try_load("attested", path, debug, &client, status);
    if (code != ASYLO_OK) {
        return code;
    }
    uint8_t request[4 + 64 + 16];
    put_u32(request, (uint32_t)nonce_size);
    memcpy(request + 4, nonce, nonce_size);
    memcpy(request + 4 + nonce_size, "user data here!!", 16);
    code = call(client, IDENTITY_SELECTOR_EVIDENCE, request, 4 + nonce_size + 16, token, status);
    unload(client);
    return code;
}

static void test_evidence(void **state) {
    (void)state;
    asylo__image image;
    asylo_enclave_identity expected;
    asylo_status status;
    assert_int_equal(asylo__image_read(IDENTITY_A_PATH, &image, &status), ASYLO_OK);
    assert_int_equal(asylo__image_verify(&image, IDENTITY_A_PATH, &expected, &status), ASYLO_OK);
    asylo__image_fini(&image);
    uint8_t nonce[32];
    for (size_t i = 0; i < sizeof nonce; i++) {
        nonce[i] = (uint8_t)(i * 7 + 1);
    }
    asylo_buffer token = {0};
    if (get_evidence(IDENTITY_A_PATH, 0, nonce, sizeof nonce, &token, &status) != ASYLO_OK) {
        fail_msg("evidence: %s", util_status_text(&status));
    }
    uint8_t key[ASYLO_PLATFORM_KEY_SIZE];
    assert_int_equal(asylo_platform_attestation_key(key, &status), ASYLO_OK);
    asylo_attestation_policy policy = {
        .nonce = nonce,
        .nonce_size = sizeof nonce,
        .trusted_keys = key,
        .trusted_key_count = 1,
        .expected_measurement = expected.measurement,
        .expected_signer_id = expected.signer_id,
        .check_product_id = 1,
        .product_id = 7,
        .min_svn = 2,
    };
    asylo_attestation_claims claims;
    if (asylo_attestation_verify(token.data, token.size, &policy, &claims, &status) != ASYLO_OK) {
        fail_msg("verify: %s", util_status_text(&status));
    }
    assert_memory_equal(claims.identity.measurement, expected.measurement, 32);
    assert_int_equal(claims.identity.svn, 2);
    assert_int_equal(claims.identity.debug, 0);
    assert_string_equal(claims.root, "software");
    assert_string_equal(claims.identity.backend, local_backend());
    assert_int_equal(claims.user_data_size, 16);
    assert_memory_equal(claims.user_data, "user data here!!", 16);
    /* Each policy field refuses on its own, naming what failed. */
    policy.min_svn = 3;
    assert_int_equal(asylo_attestation_verify(token.data, token.size, &policy, &claims, &status),
                     ASYLO_PERMISSION_DENIED);
    assert_non_null(strstr(status.message, "svn 2 is below the policy's minimum 3"));
    policy.min_svn = 2;
    policy.product_id = 8;
    assert_int_equal(asylo_attestation_verify(token.data, token.size, &policy, &claims, &status),
                     ASYLO_PERMISSION_DENIED);
    policy.product_id = 7;
    uint8_t other_nonce[32] = {0};
    policy.nonce = other_nonce;
    assert_int_equal(asylo_attestation_verify(token.data, token.size, &policy, &claims, &status),
                     ASYLO_UNAUTHENTICATED);
    assert_non_null(strstr(status.message, "nonce"));
    policy.nonce = nonce;
    uint8_t other_key[ASYLO_PLATFORM_KEY_SIZE];
    memcpy(other_key, key, sizeof key);
    other_key[64] ^= 1; /* off the curve: skipped as untrusted */
    policy.trusted_keys = other_key;
    assert_int_equal(asylo_attestation_verify(token.data, token.size, &policy, &claims, &status),
                     ASYLO_UNAUTHENTICATED);
    policy.trusted_keys = key;
    policy.trusted_key_count = 0;
    assert_int_equal(asylo_attestation_verify(token.data, token.size, &policy, &claims, &status),
                     ASYLO_INVALID_ARGUMENT);
    policy.trusted_key_count = 1;
    assert_int_equal(
        asylo_attestation_verify(token.data, token.size - 1, &policy, &claims, &status),
        ASYLO_DATA_LOSS);
    asylo_buffer_free(&token);
    /* Nonce sizes are checked in the enclave and by the backend. */
    assert_int_equal(get_evidence(IDENTITY_A_PATH, 0, nonce, 4, &token, &status),
                     ASYLO_INVALID_ARGUMENT);
    if (!is_remote()) {
        /* A debug enclave's evidence says so; the default policy refuses it. */
        assert_int_equal(get_evidence(IDENTITY_UNSIGNED_PATH, 1, nonce, 8, &token, &status),
                         ASYLO_OK);
        policy.nonce_size = 8;
        policy.expected_measurement = NULL;
        policy.expected_signer_id = NULL;
        policy.check_product_id = 0;
        policy.min_svn = 0;
        assert_int_equal(
            asylo_attestation_verify(token.data, token.size, &policy, &claims, &status),
            ASYLO_PERMISSION_DENIED);
        assert_non_null(strstr(status.message, "debug"));
        policy.allow_debug = 1;
        assert_int_equal(
            asylo_attestation_verify(token.data, token.size, &policy, &claims, &status), ASYLO_OK);
        assert_int_equal(claims.identity.debug, 1);
        asylo_buffer_free(&token);
    }
}

static int answered_by_host;

/* Local attestation through the host: B (identity_a2) makes a nonce, A
 * (identity_a) makes evidence for it with its user data, the host carries it
 * back, B verifies it inside with the platform's help. Under remote each
 * enclave has its own proxy on this machine (one platform). */
static asylo_code peer_verify(asylo_client *verifier, int pin, const uint8_t *measurement,
                              const asylo_buffer *token, asylo_buffer *out, asylo_status *status) {
    uint8_t *request = calloc(1, 36 + token->size);
    assert_non_null(request);
    put_u32(request, pin ? 1u : 0u);
    memcpy(request + 4, measurement, 32);
    memcpy(request + 36, token->data, token->size);
    asylo_code code =
        call(verifier, IDENTITY_SELECTOR_PEER_VERIFY, request, 36 + token->size, out, status);
    free(request);
    return code;
}

static void test_local_attestation(void **state) {
    (void)state;
    uint8_t measurement_a[32];
    asylo__image image;
    asylo_status status;
    assert_int_equal(asylo__image_read(IDENTITY_A_PATH, &image, &status), ASYLO_OK);
    memcpy(measurement_a, image.measurement, 32);
    asylo__image_fini(&image);
    util_remote second;
    asylo_load_config config;
    load_config(&config, "verifier", IDENTITY_A2_PATH);
    if (is_remote()) {
        assert_true(util_remote_setup(&second, ASYLO_PROXY_PATH, "unix:", false, NULL, &status));
        config.backend_config = &second.config;
    }
    asylo_client *verifier = NULL;
    if (asylo_manager_load(manager, &config, &verifier, &status) != ASYLO_OK) {
        fail_msg("verifier: %s", util_status_text(&status));
    }
    asylo_client *prover = load("prover", IDENTITY_A_PATH);
    asylo_buffer nonce = {0}, token = {0}, old_token = {0}, out = {0};
    assert_int_equal(call(verifier, IDENTITY_SELECTOR_PEER_NONCE, NULL, 0, &nonce, &status),
                     ASYLO_OK);
    assert_int_equal(nonce.size, 32);
    uint8_t request[4 + 32 + 16];
    put_u32(request, 32);
    memcpy(request + 4, nonce.data, 32);
    memcpy(request + 36, "prover's pubkey!", 16);
    assert_int_equal(
        call(prover, IDENTITY_SELECTOR_EVIDENCE, request, sizeof request, &token, &status),
        ASYLO_OK);
    /* The right enclave, pinned: its measurement and user data come back. */
    if (peer_verify(verifier, 1, measurement_a, &token, &out, &status) != ASYLO_OK) {
        fail_msg("local attestation: %s", util_status_text(&status));
    }
    assert_int_equal(out.size, 32 + 16);
    assert_memory_equal(out.data, measurement_a, 32);
    assert_memory_equal(out.data + 32, "prover's pubkey!", 16);
    asylo_buffer_free(&out);
    /* Another measurement pinned: PERMISSION_DENIED naming it. */
    uint8_t wrong[32];
    memcpy(wrong, measurement_a, 32);
    wrong[5] ^= 1;
    assert_int_equal(peer_verify(verifier, 1, wrong, &token, &out, &status),
                     ASYLO_PERMISSION_DENIED);
    char hex[65];
    asylo__hex(wrong, 32, hex);
    assert_non_null(strstr(status.message, hex));
    /* A bit flipped by the host on the way: refused. */
    token.data[token.size / 2] ^= 0x10;
    asylo_code code = peer_verify(verifier, 0, measurement_a, &token, &out, &status);
    assert_true(code == ASYLO_UNAUTHENTICATED || code == ASYLO_DATA_LOSS);
    token.data[token.size / 2] ^= 0x10;
    /* Replayed after the verifier moved on to a new nonce: UNAUTHENTICATED. */
    old_token = token;
    token = (asylo_buffer){0};
    asylo_buffer_free(&nonce);
    assert_int_equal(call(verifier, IDENTITY_SELECTOR_PEER_NONCE, NULL, 0, &nonce, &status),
                     ASYLO_OK);
    assert_int_equal(peer_verify(verifier, 0, measurement_a, &old_token, &out, &status),
                     ASYLO_UNAUTHENTICATED);
    assert_non_null(strstr(status.message, "nonce"));
    asylo_buffer_free(&nonce);
    asylo_buffer_free(&old_token);
    unload(prover);
    unload(verifier);
    if (is_remote()) {
        util_remote_teardown(&second);
    }
}

static asylo_code fake_identity(void *context, asylo_client *client, uint32_t selector,
                                const uint8_t *input, size_t input_size, asylo_output *output,
                                asylo_status *status) {
    (void)context, (void)client, (void)selector, (void)input, (void)input_size;
    answered_by_host++;
    uint8_t lie[112] = {1};
    return asylo_output_write(output, lie, sizeof lie, status);
}

static void test_host_cannot_answer_identity(void **state) {
    (void)state;
    asylo_exit_handler handlers[] = {
        {.selector = ASYLO_SELECTOR_IDENTITY, .handler = fake_identity},
        {.selector = ASYLO_SELECTOR_SEAL_KEY, .handler = fake_identity},
        {.selector = ASYLO_SELECTOR_EVIDENCE, .handler = fake_identity},
        {.selector = ASYLO_SELECTOR_VERIFY_EVIDENCE, .handler = fake_identity},
    };
    asylo_load_config config;
    load_config(&config, "lied-to", IDENTITY_A_PATH);
    config.exit_handlers = handlers;
    config.exit_handler_count = 4;
    asylo_client *client = NULL;
    asylo_status status;
    assert_int_equal(asylo_manager_load(manager, &config, &client, &status), ASYLO_OK);
    asylo_buffer out = {0};
    assert_int_equal(call(client, IDENTITY_SELECTOR_IDENTITY, NULL, 0, &out, &status), ASYLO_OK);
    asylo_enclave_identity got;
    memcpy(&got, out.data, sizeof got);
    asylo_buffer_free(&out);
    assert_int_equal(got.product_id, 7);
    uint8_t request[8 + 1] = {0};
    put_u32(request, ASYLO_SEAL_MEASUREMENT);
    assert_int_equal(call(client, IDENTITY_SELECTOR_SEAL, request, sizeof request, &out, &status),
                     ASYLO_OK);
    asylo_buffer_free(&out);
    /* Local attestation's verify exit too: the backend answers (and refuses
     * this garbage token), the host's handler is never asked. */
    assert_int_equal(call(client, IDENTITY_SELECTOR_PEER_NONCE, NULL, 0, &out, &status), ASYLO_OK);
    asylo_buffer_free(&out);
    uint8_t garbage[36 + 10] = {0};
    assert_int_equal(
        call(client, IDENTITY_SELECTOR_PEER_VERIFY, garbage, sizeof garbage, &out, &status),
        ASYLO_DATA_LOSS);
    unload(client);
    assert_int_equal(answered_by_host, 0);
}

static int setup(void **state) {
    (void)state;
    asylo_status status;
    if (!util_make_temp_dir("asylo-identity", temp_dir, sizeof temp_dir)) {
        return -1;
    }
    util_join(state_dir, sizeof state_dir, temp_dir, "state");
    setenv("ASYLO_STATE_DIR", state_dir, 1);
    if (is_remote() &&
        !util_remote_setup(&remote, ASYLO_PROXY_PATH, "unix:", false, NULL, &status)) {
        fprintf(stderr, "remote setup: %s\n", util_status_text(&status));
        return -1;
    }
    return asylo_manager_create(&manager, &status) == ASYLO_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    asylo_manager_destroy(manager);
    if (is_remote()) {
        util_remote_teardown(&remote);
    }
    util_rmtree(temp_dir);
    return util_children_report("at the end") == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    /* The identity claims checked here are those of sim's evidence
     * (backend "sim"). */
    util_target_backend = "sim";
    if (argc != 2 || (strcmp(argv[1], "sim") != 0 && strcmp(argv[1], "remote") != 0 &&
                      strcmp(argv[1], "process") != 0)) {
        fprintf(stderr, "usage: identity_test sim|remote|process\n");
        return 2;
    }
    backend = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers_inside_enclave),
        cmocka_unit_test(test_identity_inside_enclave),
        cmocka_unit_test(test_seal_round_trip_across_loads),
        cmocka_unit_test(test_seal_policies_across_images),
        cmocka_unit_test(test_tampered_blobs),
        cmocka_unit_test(test_another_platform_root),
        cmocka_unit_test(test_exposed_root_refused),
        cmocka_unit_test(test_unsigned_image),
        cmocka_unit_test(test_tampered_images_refused),
        cmocka_unit_test(test_pins),
        cmocka_unit_test(test_host_cannot_answer_identity),
        cmocka_unit_test(test_evidence),
        cmocka_unit_test(test_local_attestation),
    };
    return cmocka_run_group_tests_name(backend, tests, setup, teardown);
}
