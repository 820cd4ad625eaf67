/* A bounded, deterministic fuzz loop over the parsers of untrusted image
 * bytes: the ELF section search (asylo__sig_locate), the signature block
 * decoder (asylo__sig_decode) and whole-image verification. The corpus is a
 * real signed image built by the tests. Mutants must never crash (run under
 * ASan); a decoded block must re-encode to the same bytes (the format is
 * canonical); a located section must lie inside the file; and no mutant of
 * a signed image other than the original verifies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "identity/image_identity.h"
#include "identity/sigblock.h"

#define SEED UINT64_C(0x2545f4914f6cdd1d)
#define BLOCK_ITERATIONS 50000
#define LOCATE_ITERATIONS 20000
#define VERIFY_ITERATIONS 300

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

static const uint32_t interesting[] = {0, 1, 2, 0x40, 0x200, 0x7fffffff, 0x80000000, 0xffffffff};

/* Flips bits, sets bytes or writes interesting u32s within [lo, hi). */
static void mutate(uint8_t *data, size_t lo, size_t hi) {
    int rounds = 1 + (int)random_below(4);
    for (int r = 0; r < rounds; r++) {
        size_t at = lo + random_below(hi - lo);
        switch (random_below(3)) {
        case 0:
            data[at] ^= (uint8_t)(1u << random_below(8));
            break;
        case 1:
            data[at] = (uint8_t)next_random();
            break;
        default:
            if (at + 4 <= hi) {
                uint32_t value =
                    interesting[random_below(sizeof interesting / sizeof interesting[0])];
                for (int i = 0; i < 4; i++) {
                    data[at + (size_t)i] = (uint8_t)(value >> (8 * i));
                }
            }
            break;
        }
    }
}

static asylo__image corpus;

static int setup(void **state) {
    (void)state;
    asylo_status status;
    return asylo__image_read(SIGNED_IMAGE_PATH, &corpus, &status) == ASYLO_OK && corpus.has_section
               ? 0
               : -1;
}

static int teardown(void **state) {
    (void)state;
    asylo__image_fini(&corpus);
    return 0;
}

static void test_block_decoder(void **state) {
    (void)state;
    rng_state = SEED;
    uint8_t block[ASYLO__SIG_BLOCK_SIZE], encoded[ASYLO__SIG_BLOCK_SIZE];
    asylo__sig_block decoded;
    asylo_status status;
    assert_int_equal(asylo__sig_decode(corpus.block, sizeof corpus.block, &decoded, &status),
                     ASYLO_OK);
    int accepted = 0;
    for (int i = 0; i < BLOCK_ITERATIONS; i++) {
        memcpy(block, corpus.block, sizeof block);
        /* Mostly the used part, sometimes the zero tail. */
        mutate(block, 0, random_below(8) == 0 ? sizeof block : ASYLO__SIG_USED_SIZE);
        size_t size = random_below(16) == 0 ? random_below(sizeof block + 1) : sizeof block;
        asylo_code code = asylo__sig_decode(block, size, &decoded, &status);
        assert_true(asylo_code_is_valid((int)code));
        if (code == ASYLO_OK) {
            asylo__sig_encode(&decoded, encoded);
            assert_memory_equal(encoded, block, sizeof block);
            accepted++;
        }
    }
    print_message("block decoder: %d of %d mutants decoded, all canonical\n", accepted,
                  BLOCK_ITERATIONS);
}

static void test_section_locator(void **state) {
    (void)state;
    rng_state = SEED ^ 1;
    uint8_t *image = malloc(corpus.size);
    assert_non_null(image);
    /* Where the ELF header and the section header table are: the bytes the
     * locator reads. */
    uint64_t table_offset;
    memcpy(&table_offset, corpus.bytes + 0x28, sizeof table_offset);
    assert_true(table_offset < corpus.size);
    int found = 0;
    for (int i = 0; i < LOCATE_ITERATIONS; i++) {
        memcpy(image, corpus.bytes, corpus.size);
        if (random_below(2) == 0) {
            mutate(image, 0, 64);
        } else {
            mutate(image, (size_t)table_offset, corpus.size);
        }
        size_t size = random_below(16) == 0 ? random_below(corpus.size + 1) : corpus.size;
        asylo__sig_location location;
        asylo_status status;
        asylo_code code = asylo__sig_locate(image, size, "fuzz", &location, &status);
        assert_true(asylo_code_is_valid((int)code));
        if (code == ASYLO_OK) {
            assert_int_equal(location.size, ASYLO__SIG_BLOCK_SIZE);
            assert_true(location.offset <= size && location.size <= size - location.offset);
            assert_true(location.offset >= 64);
            found++;
        }
    }
    free(image);
    print_message("section locator: %d of %d mutants located, all within bounds\n", found,
                  LOCATE_ITERATIONS);
}

static void test_no_mutant_verifies(void **state) {
    (void)state;
    rng_state = SEED ^ 2;
    char path[] = "/tmp/asylo-sigfuzz-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    uint8_t *image = malloc(corpus.size);
    assert_non_null(image);
    int refused = 0;
    for (int i = 0; i < VERIFY_ITERATIONS; i++) {
        memcpy(image, corpus.bytes, corpus.size);
        /* Half inside the block, half anywhere. */
        if (random_below(2) == 0) {
            mutate(image, corpus.location.offset, corpus.location.offset + ASYLO__SIG_USED_SIZE);
        } else {
            mutate(image, 0, corpus.size);
        }
        if (memcmp(image, corpus.bytes, corpus.size) == 0) {
            continue;
        }
        FILE *file = fopen(path, "wb");
        assert_non_null(file);
        assert_int_equal(fwrite(image, 1, corpus.size, file), corpus.size);
        fclose(file);
        asylo__image read;
        asylo_enclave_identity identity;
        asylo_status status;
        if (asylo__image_read(path, &read, &status) == ASYLO_OK) {
            asylo_code code = asylo__image_verify(&read, path, &identity, &status);
            asylo__image_fini(&read);
            if (code == ASYLO_OK) {
                fail_msg("mutant %d of a signed image verified", i);
            }
        }
        refused++;
    }
    unlink(path);
    free(image);
    print_message("verification: %d mutants of a signed image, all refused\n", refused);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_decoder),
        cmocka_unit_test(test_section_locator),
        cmocka_unit_test(test_no_mutant_verifies),
    };
    return cmocka_run_group_tests_name("sigblock_fuzz", tests, setup, teardown);
}
