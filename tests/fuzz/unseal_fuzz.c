/* asylo_unseal (src/enclave/trusted_seal.c): a sealed blob comes back from
 * untrusted storage. Input: the blob. The host answers identity and seal key
 * honestly, so a blob that unseals must be one this target sealed: the
 * fuzzer cannot forge one. A second pass seals the input and checks that it
 * unseals to the same bytes. Set ASYLO_FUZZ_WRITE_SEEDS=<dir> to write
 * sealed seed blobs there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylo/seal.h"
#include "fake_host.h"
#include "fuzz.h"

static const char aad[] = "fuzz aad";

static void write_seed(const char *directory, const char *name, asylo_seal_policy policy,
                       const char *text) {
    asylo_buffer blob = {0};
    asylo_status status;
    FUZZ_CHECK(asylo_seal(policy, aad, sizeof aad, text, strlen(text), &blob, &status) == ASYLO_OK);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", directory, name);
    FILE *file = fopen(path, "wb");
    FUZZ_CHECK(file != NULL);
    FUZZ_CHECK(fwrite(blob.data, 1, blob.size, file) == blob.size);
    fclose(file);
    asylo_buffer_free(&blob);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fake_host_attach();
    const char *seeds = getenv("ASYLO_FUZZ_WRITE_SEEDS");
    if (seeds != NULL) {
        write_seed(seeds, "measurement", ASYLO_SEAL_MEASUREMENT, "sealed to the measurement");
        write_seed(seeds, "signer", ASYLO_SEAL_SIGNER, "sealed to the signer");
        write_seed(seeds, "empty", ASYLO_SEAL_SIGNER, "");
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fake_host_attach();
    fake_host_reply_now = (fake_host_reply){.code = ASYLO_OK};
    asylo_buffer plaintext = {0};
    asylo_status status;
    asylo_code code = asylo_unseal(data, size, aad, sizeof aad, &plaintext, &status);
    FUZZ_CHECK(asylo_code_is_valid((int)code));
    FUZZ_CHECK(code == ASYLO_OK || plaintext.data == NULL);
    asylo_buffer_free(&plaintext);

    asylo_buffer blob = {0};
    asylo_seal_policy policy =
        size > 0 && (data[0] & 1) ? ASYLO_SEAL_SIGNER : ASYLO_SEAL_MEASUREMENT;
    code = asylo_seal(policy, aad, sizeof aad, data, size, &blob, &status);
    FUZZ_CHECK(code == ASYLO_OK);
    code = asylo_unseal(blob.data, blob.size, aad, sizeof aad, &plaintext, &status);
    FUZZ_CHECK(code == ASYLO_OK);
    FUZZ_CHECK(plaintext.size == size);
    FUZZ_CHECK(size == 0 || memcmp(plaintext.data, data, size) == 0);
    asylo_buffer_free(&plaintext);
    asylo_buffer_free(&blob);
    return 0;
}
