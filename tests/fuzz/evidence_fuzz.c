/* The attestation verifier (asylo_attestation_verify, src/identity/
 * evidence_verify.c): evidence (EAT in COSE_Sign1) arrives from a remote
 * enclave. Input: the evidence. The policy trusts one fixed platform key and
 * nonce; only evidence that key signed may verify, and the fuzzer cannot
 * sign, so anything that verifies must be a seed this target wrote. The
 * input is also parsed as a TPM quote's TPMS_ATTEST. Set
 * ASYLO_FUZZ_WRITE_SEEDS=<dir> to write valid evidence there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "asylo/attestation.h"
#include "common/bytes_output.h"
#include "fuzz.h"
#include "identity/evidence.h"
#include "identity/tpm_quote.h"

static const uint8_t nonce[16] = "fuzzing nonce!!";
static uint8_t platform_key[ASYLO_PLATFORM_KEY_SIZE];

static void write_seed(const char *directory) {
    asylo_enclave_identity identity = {.product_id = 3, .svn = 9, .is_signed = 1};
    memset(identity.measurement, 0xab, 32);
    memset(identity.signer_id, 0xcd, 32);
    strcpy(identity.backend, "sim");
    asylo__bytes_output token;
    asylo__bytes_output_init(&token, ASYLO_EVIDENCE_MAX_SIZE);
    asylo_status status;
    FUZZ_CHECK(asylo__evidence_issue(&identity, nonce, sizeof nonce, (const uint8_t *)"user", 4,
                                     &token.output, &status) == ASYLO_OK);
    asylo_buffer evidence = {0};
    asylo__bytes_output_release(&token, &evidence);
    char path[4096];
    snprintf(path, sizeof path, "%s/valid", directory);
    FILE *file = fopen(path, "wb");
    FUZZ_CHECK(file != NULL);
    FUZZ_CHECK(fwrite(evidence.data, 1, evidence.size, file) == evidence.size);
    fclose(file);
    asylo_buffer_free(&evidence);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* A fixed platform key in a private state directory, so seeds written
     * once verify in every later run. */
    static char directory[] = "/tmp/asylo-fuzz-evidence-XXXXXX";
    FUZZ_CHECK(mkdtemp(directory) != NULL);
    setenv("ASYLO_STATE_DIR", directory, 1);
    static const uint8_t fixed_key[32] = {0xc9, 0xaf, 0xa9, 0xd8, 0x45, 0xba, 0x75, 0x16,
                                          0x6b, 0x5c, 0x21, 0x57, 0x67, 0xb1, 0xd6, 0x93,
                                          0x4e, 0x50, 0xc3, 0xdb, 0x36, 0xe8, 0x9b, 0x12,
                                          0x7b, 0x8a, 0x62, 0x2b, 0x12, 0x0f, 0x67, 0x21};
    char key_path[sizeof directory + 32];
    snprintf(key_path, sizeof key_path, "%s/attestation.key", directory);
    FILE *file = fopen(key_path, "wb");
    FUZZ_CHECK(file != NULL);
    FUZZ_CHECK(fwrite(fixed_key, 1, sizeof fixed_key, file) == sizeof fixed_key);
    fclose(file);
    FUZZ_CHECK(chmod(key_path, 0600) == 0);
    asylo_status status;
    FUZZ_CHECK(asylo_platform_attestation_key(platform_key, &status) == ASYLO_OK);
    const char *seeds = getenv("ASYLO_FUZZ_WRITE_SEEDS");
    if (seeds != NULL) {
        write_seed(seeds);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    asylo_attestation_policy policy = {.nonce = nonce,
                                       .nonce_size = sizeof nonce,
                                       .trusted_keys = platform_key,
                                       .trusted_key_count = 1,
                                       .allow_debug = 1};
    asylo_attestation_claims claims;
    asylo_status status;
    asylo_code code = asylo_attestation_verify(data, size, &policy, &claims, &status);
    FUZZ_CHECK(asylo_code_is_valid((int)code));
    FUZZ_CHECK(memchr(status.message, '\0', sizeof status.message) != NULL);
    if (code == ASYLO_OK) {
        FUZZ_CHECK(claims.user_data_size <= sizeof claims.user_data);
        FUZZ_CHECK(claims.identity.product_id == 3 && claims.identity.svn == 9);
        FUZZ_CHECK(memchr(claims.root, '\0', sizeof claims.root) != NULL);
        FUZZ_CHECK(memchr(claims.profile, '\0', sizeof claims.profile) != NULL);
    }
    /* The TPM quote claim's TPMS_ATTEST parser (identity/tpm_quote.c) sits
     * behind the token's signature, which the fuzzer cannot make: feed it
     * the input directly as well (seeds: tpm_quote_* in the corpus). */
    asylo__tpm_quote_fields fields;
    code = asylo__tpm_quote_parse(data, size, &fields, &status);
    FUZZ_CHECK(code == ASYLO_OK || code == ASYLO_DATA_LOSS);
    if (code == ASYLO_OK) {
        FUZZ_CHECK(fields.extra_data + fields.extra_data_size <= data + size);
        FUZZ_CHECK(fields.select + fields.select_size <= data + size);
        FUZZ_CHECK(fields.pcr_digest + fields.pcr_digest_size == data + size);
    }
    return 0;
}
