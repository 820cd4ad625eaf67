/* Backend interface v2: sim and process report the SHA-256 of the image
 * exactly as loaded, and both backends agree with a digest of the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"

static asylo_code no_exits(void *context, uint32_t selector, const uint8_t *input,
                           size_t input_size, asylo_output *output, asylo_status *status) {
    (void)context, (void)input, (void)input_size, (void)output;
    return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_HOST, "no exit %u", selector);
}

static void file_digest(const char *path, uint8_t digest[32]) {
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    EVP_DigestInit_ex(context, EVP_sha256(), NULL);
    static uint8_t chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, file)) > 0) {
        EVP_DigestUpdate(context, chunk, got);
    }
    unsigned int size = 0;
    EVP_DigestFinal_ex(context, digest, &size);
    EVP_MD_CTX_free(context);
    fclose(file);
}

static void check_backend(const char *name, const uint8_t expected[32]) {
    const asylo__backend *backend = asylo__backend_find(name);
    assert_non_null(backend);
    assert_true(backend->interface_version >= 2);
    assert_non_null(backend->measurement);
    void *state = calloc(1, backend->state_size);
    asylo__load_request request = {.name = name,
                                   .enclave_path = TEST_ENCLAVE_PATH,
                                   .max_output_size = 1 << 20,
                                   .exits = {.context = NULL, .dispatch = no_exits}};
    asylo_status status;
    asylo_code code = backend->load(state, &request, &status);
    if (code == ASYLO_FAILED_PRECONDITION && strstr(status.message, "sandbox needs")) {
        printf("SKIP %s: %s\n", name, status.message);
        free(state);
        return;
    }
    if (code != ASYLO_OK) {
        fail_msg("%s load: %s", name, status.message);
    }
    uint8_t digest[32];
    assert_int_equal(backend->measurement(state, digest, &status), ASYLO_OK);
    assert_memory_equal(digest, expected, 32);
    backend->unload(state);
    free(state);
    printf("%s reports the image's SHA-256\n", name);
}

static void test_measurement(void **state) {
    (void)state;
    uint8_t expected[32];
    file_digest(TEST_ENCLAVE_PATH, expected);
    check_backend("sim", expected);
    check_backend("process", expected);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_measurement)};
    return cmocka_run_group_tests_name("process.measurement", tests, NULL, NULL);
}
