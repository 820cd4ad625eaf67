/* A bounded, deterministic fuzz loop over the evidence verifier
 * (asylo_attestation_verify): mutants of a real token must never crash (run
 * under ASan), never verify unless identical to the original, and always
 * return a canonical code. The token is issued in-process for a made-up
 * identity with a fixed platform key (RFC 6979's P-256 test key) written to a
 * temporary state directory, so only the ECDSA nonce varies between runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "asylo/attestation.h"
#include "common/bytes_output.h"
#include "asylo/selectors.h"
#include "identity/evidence.h"
#include "identity/identity_exits.h"

#define SEED UINT64_C(0x853c49e6748fea9b)
#define ITERATIONS 8000

static uint64_t rng_state;

static uint64_t next_random(void) {
    /* xorshift64*: fixed seed, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(0x2545f4914f6cdd1d);
}

static size_t random_below(size_t bound) {
    return bound == 0 ? 0 : (size_t)(next_random() % bound);
}

static void test_mutants_never_verify(void **state) {
    (void)state;
    char directory[] = "/tmp/asylo-evidence-fuzz-XXXXXX";
    assert_non_null(mkdtemp(directory));
    setenv("ASYLO_STATE_DIR", directory, 1);
    static const uint8_t fixed_key[32] = {0xc9, 0xaf, 0xa9, 0xd8, 0x45, 0xba, 0x75, 0x16,
                                          0x6b, 0x5c, 0x21, 0x57, 0x67, 0xb1, 0xd6, 0x93,
                                          0x4e, 0x50, 0xc3, 0xdb, 0x36, 0xe8, 0x9b, 0x12,
                                          0x7b, 0x8a, 0x62, 0x2b, 0x12, 0x0f, 0x67, 0x21};
    char key_path[128];
    snprintf(key_path, sizeof key_path, "%s/attestation.key", directory);
    FILE *key_file = fopen(key_path, "wb");
    assert_non_null(key_file);
    assert_int_equal(fwrite(fixed_key, 1, sizeof fixed_key, key_file), sizeof fixed_key);
    fclose(key_file);
    assert_int_equal(chmod(key_path, 0600), 0);
    asylo_enclave_identity identity = {.product_id = 3, .svn = 9, .is_signed = 1};
    memset(identity.measurement, 0xab, 32);
    memset(identity.signer_id, 0xcd, 32);
    strcpy(identity.backend, "sim");
    uint8_t nonce[16] = "fuzzing nonce!!";
    asylo__bytes_output token;
    asylo__bytes_output_init(&token, ASYLO_EVIDENCE_MAX_SIZE);
    asylo_status status;
    assert_int_equal(asylo__evidence_issue(&identity, nonce, sizeof nonce, (const uint8_t *)"u", 1,
                                           &token.output, &status),
                     ASYLO_OK);
    asylo_buffer original = {0};
    asylo__bytes_output_release(&token, &original);
    uint8_t key[ASYLO_PLATFORM_KEY_SIZE];
    assert_int_equal(asylo_platform_attestation_key(key, &status), ASYLO_OK);
    asylo_attestation_policy policy = {
        .nonce = nonce, .nonce_size = sizeof nonce, .trusted_keys = key, .trusted_key_count = 1};
    asylo_attestation_claims claims;
    assert_int_equal(
        asylo_attestation_verify(original.data, original.size, &policy, &claims, &status),
        ASYLO_OK);
    uint8_t *mutant = malloc(original.size + 16);
    assert_non_null(mutant);
    int refused = 0;
    rng_state = SEED;
    for (int i = 0; i < ITERATIONS; i++) {
        memcpy(mutant, original.data, original.size);
        size_t size = original.size;
        int rounds = 1 + (int)random_below(3);
        for (int r = 0; r < rounds; r++) {
            switch (random_below(4)) {
            case 0:
                mutant[random_below(size)] ^= (uint8_t)(1u << random_below(8));
                break;
            case 1:
                mutant[random_below(size)] = (uint8_t)next_random();
                break;
            case 2:
                size = 1 + random_below(size);
                break;
            default: /* a CBOR head byte of another major type or length */
                mutant[random_below(size)] = (uint8_t)(random_below(8) << 5 | random_below(32));
                break;
            }
        }
        asylo_code code = asylo_attestation_verify(mutant, size, &policy, &claims, &status);
        assert_true(asylo_code_is_valid((int)code));
        if (code == ASYLO_OK) {
            assert_int_equal(size, original.size);
            assert_memory_equal(mutant, original.data, size);
        } else {
            refused++;
        }
    }
    print_message("evidence verifier: %d of %d mutants refused, none verified\n", refused,
                  ITERATIONS);
    free(mutant);
    asylo_buffer_free(&original);
    unlink(key_path);
    rmdir(directory);
}

/* Heads that declare huge arrays, maps or strings in a few bytes: refused at
 * once, without allocating what they declare (libcbor 0.8 would). */
static void test_huge_declared_sizes(void **state) {
    (void)state;
    static const struct {
        uint8_t bytes[16];
        size_t size;
    } cases[] = {
        {{0xd2, 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 10},
        {{0xd2, 0x9a, 0x7f, 0xff, 0xff, 0xff}, 6},
        {{0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
         15},
        {{0xd2, 0x84, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 11},
        {{0xd2, 0x9f, 0x01, 0xff}, 4}, /* indefinite array */
        {{0xd2, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x01}, 12},
        {{0xd2, 0xd2, 0x80}, 3}, /* nested tag */
    };
    uint8_t key[ASYLO_PLATFORM_KEY_SIZE] = {4};
    uint8_t nonce[8] = {0};
    asylo_attestation_policy policy = {
        .nonce = nonce, .nonce_size = sizeof nonce, .trusted_keys = key, .trusted_key_count = 1};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        asylo_status status;
        assert_int_equal(
            asylo_attestation_verify(cases[i].bytes, cases[i].size, &policy, NULL, &status),
            ASYLO_DATA_LOSS);
    }
}

static void put_u32(uint8_t *bytes, uint32_t value) {
    for (int i = 0; i < 4; i++) {
        bytes[i] = (uint8_t)(value >> (8 * i));
    }
}

/* The VERIFY_EVIDENCE exit (local attestation) parses a request an enclave
 * built: a valid one verifies; every truncation and random mutation of it is
 * refused with a canonical code and never crashes; unknown flag bits and
 * nonce sizes past the end are INVALID_ARGUMENT. */
static void test_verify_exit_requests(void **state) {
    (void)state;
    char directory[] = "/tmp/asylo-verify-fuzz-XXXXXX";
    assert_non_null(mkdtemp(directory));
    setenv("ASYLO_STATE_DIR", directory, 1);
    asylo_enclave_identity identity = {.product_id = 3, .svn = 9, .is_signed = 1};
    memset(identity.measurement, 0xab, 32);
    strcpy(identity.backend, "sim");
    uint8_t nonce[16] = "verifying nonce";
    asylo__bytes_output token;
    asylo__bytes_output_init(&token, ASYLO_EVIDENCE_MAX_SIZE);
    asylo_status status;
    assert_int_equal(asylo__evidence_issue(&identity, nonce, sizeof nonce, (const uint8_t *)"ud", 2,
                                           &token.output, &status),
                     ASYLO_OK);
    size_t size = ASYLO__VERIFY_HEADER_SIZE + sizeof nonce + token.bytes.size;
    uint8_t *request = calloc(1, size), *mutant = malloc(size);
    assert_non_null(request);
    assert_non_null(mutant);
    put_u32(request, ASYLO__VERIFY_EXPECT_MEASUREMENT | ASYLO__VERIFY_CHECK_PRODUCT);
    memcpy(request + 4, identity.measurement, 32);
    put_u32(request + 68, 3);
    put_u32(request + 72, 9);
    put_u32(request + 76, sizeof nonce);
    memcpy(request + ASYLO__VERIFY_HEADER_SIZE, nonce, sizeof nonce);
    memcpy(request + ASYLO__VERIFY_HEADER_SIZE + sizeof nonce, token.bytes.data, token.bytes.size);
    asylo__bytes_output answer;
    asylo__bytes_output_init(&answer, 1 << 16);
    assert_int_equal(asylo__identity_exit(&identity, ASYLO_SELECTOR_VERIFY_EVIDENCE, request, size,
                                          &answer.output, &status),
                     ASYLO_OK);
    assert_int_equal(answer.bytes.size, ASYLO__VERIFY_ANSWER_HEADER_SIZE + 2);
    asylo__bytes_output_fini(&answer);
    for (size_t cut = 0; cut < size; cut += 1 + cut / 8) {
        asylo__bytes_output_init(&answer, 1 << 16);
        asylo_code code = asylo__identity_exit(&identity, ASYLO_SELECTOR_VERIFY_EVIDENCE, request,
                                               cut, &answer.output, &status);
        assert_int_not_equal(code, ASYLO_OK);
        assert_non_null(asylo_code_name(code));
        asylo__bytes_output_fini(&answer);
    }
    rng_state = SEED;
    for (int i = 0; i < 2000; i++) {
        memcpy(mutant, request, size);
        size_t flips = 1 + random_below(4);
        for (size_t f = 0; f < flips; f++) {
            mutant[random_below(size)] ^= (uint8_t)(1u << random_below(8));
        }
        asylo__bytes_output_init(&answer, 1 << 16);
        asylo_code code = asylo__identity_exit(&identity, ASYLO_SELECTOR_VERIFY_EVIDENCE, mutant,
                                               size, &answer.output, &status);
        /* A flip in unused policy bytes (the unpinned signer, min svn's
         * slack) may still verify; anything else must not. */
        if (code == ASYLO_OK) {
            assert_memory_equal(mutant + ASYLO__VERIFY_HEADER_SIZE,
                                request + ASYLO__VERIFY_HEADER_SIZE,
                                size - ASYLO__VERIFY_HEADER_SIZE);
        }
        asylo__bytes_output_fini(&answer);
    }
    asylo__bytes_output_init(&answer, 1 << 16);
    put_u32(mutant, 0x10);
    memcpy(mutant + 4, request + 4, size - 4);
    assert_int_equal(asylo__identity_exit(&identity, ASYLO_SELECTOR_VERIFY_EVIDENCE, mutant, size,
                                          &answer.output, &status),
                     ASYLO_INVALID_ARGUMENT);
    memcpy(mutant, request, size);
    put_u32(mutant + 76, 0xffffffffu);
    assert_int_equal(asylo__identity_exit(&identity, ASYLO_SELECTOR_VERIFY_EVIDENCE, mutant, size,
                                          &answer.output, &status),
                     ASYLO_INVALID_ARGUMENT);
    asylo__bytes_output_fini(&answer);
    free(request);
    free(mutant);
    asylo__bytes_output_fini(&token);
    char command[128];
    snprintf(command, sizeof command, "rm -rf %s", directory);
    assert_int_equal(system(command), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_huge_declared_sizes),
        cmocka_unit_test(test_mutants_never_verify),
        cmocka_unit_test(test_verify_exit_requests),
    };
    return cmocka_run_group_tests_name("evidence_fuzz", tests, NULL, NULL);
}
