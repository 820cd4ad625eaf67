/* A bounded, deterministic fuzz loop over the enclave config decoder (the
 * enclave's first contact with host bytes). Random buffers and mutations of
 * valid encodings must never crash (run it under ASan), and whatever decodes
 * must obey every limit and re-encode to exactly the same bytes: the format
 * is canonical. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/enclave_config_codec.h"

#define ITERATIONS 20000
#define SEED UINT64_C(0x9e3779b97f4a7c15)
#define MAX_INPUT 4096

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

/* A valid encoding with random content. */
static void random_valid_encoding(asylo__bytes *out) {
    asylo_environment_variable environment[8];
    char names[8][12];
    char values[8][24];
    size_t count = random_below(9);
    for (size_t i = 0; i < count; i++) {
        size_t name_length = 1 + random_below(sizeof names[i] - 1);
        for (size_t j = 0; j < name_length; j++) {
            names[i][j] = (char)('A' + random_below(26));
        }
        names[i][name_length] = '\0';
        size_t value_length = random_below(sizeof values[i]);
        for (size_t j = 0; j < value_length; j++) {
            values[i][j] = (char)(1 + random_below(255)); /* anything but NUL */
        }
        values[i][value_length] = '\0';
        environment[i].name = names[i];
        environment[i].value = values[i];
    }
    uint8_t user[64];
    size_t user_size = random_below(sizeof user + 1);
    for (size_t i = 0; i < user_size; i++) {
        user[i] = (uint8_t)next_random();
    }
    asylo_enclave_config config = {
        .environment = count == 0 ? NULL : environment,
        .environment_count = count,
        .log_level = (asylo_log_level)random_below(4),
        .user_config = user_size == 0 ? NULL : user,
        .user_config_size = user_size,
    };
    asylo__bytes_init(out, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo_status status;
    assert_int_equal(asylo__enclave_config_encode(&config, out, &status), ASYLO_OK);
}

static const uint32_t interesting[] = {0,          1,          2,        3,       4,     255,
                                       256,        1024,       1025,     65536,   65537, 0x7fffffff,
                                       0x80000000, 0xffffffff, 16777216, 16777217};

/* Changes the encoding in place (or its size); never grows past MAX_INPUT. */
static void mutate(uint8_t *data, size_t *size) {
    int rounds = 1 + (int)random_below(4);
    for (int r = 0; r < rounds; r++) {
        switch (random_below(6)) {
        case 0: /* flip a bit */
            if (*size > 0) {
                data[random_below(*size)] ^= (uint8_t)(1u << random_below(8));
            }
            break;
        case 1: /* set a byte */
            if (*size > 0) {
                data[random_below(*size)] = (uint8_t)next_random();
            }
            break;
        case 2: /* cut */
            *size = random_below(*size + 1);
            break;
        case 3: /* overwrite an aligned u32 with an interesting value */
            if (*size >= 4) {
                size_t at = random_below(*size / 4) * 4;
                uint32_t value =
                    interesting[random_below(sizeof interesting / sizeof interesting[0])];
                for (int i = 0; i < 4; i++) {
                    data[at + (size_t)i] = (uint8_t)(value >> (8 * i));
                }
            }
            break;
        case 4: /* insert random bytes */
            if (*size < MAX_INPUT - 8) {
                size_t at = random_below(*size + 1);
                size_t count = 1 + random_below(8);
                memmove(data + at + count, data + at, *size - at);
                for (size_t i = 0; i < count; i++) {
                    data[at + i] = (uint8_t)next_random();
                }
                *size += count;
            }
            break;
        default: /* delete bytes */
            if (*size > 0) {
                size_t at = random_below(*size);
                size_t count = 1 + random_below(*size - at);
                memmove(data + at, data + at + count, *size - at - count);
                *size -= count;
            }
            break;
        }
    }
}

typedef struct tally {
    unsigned accepted;
    unsigned refused;
} tally;

/* Decodes an exact-size heap copy (so ASan catches any over-read) and checks
 * what comes back. */
static void decode_and_check(const uint8_t *data, size_t size, tally *counts) {
    uint8_t *copy = malloc(size == 0 ? 1 : size);
    assert_non_null(copy);
    if (size > 0) {
        memcpy(copy, data, size);
    }
    asylo__decoded_config decoded;
    asylo_status status;
    asylo_code code = asylo__enclave_config_decode(copy, size, &decoded, &status);
    if (code != ASYLO_OK) {
        assert_int_equal(code, ASYLO_INVALID_ARGUMENT);
        assert_int_equal(status.origin, ASYLO_ORIGIN_API);
        assert_true(strlen(status.message) > 0);
        assert_null(decoded.variables);
        assert_null(decoded.strings);
        assert_null(decoded.user_config);
        counts->refused++;
        free(copy);
        return;
    }
    counts->accepted++;
    const asylo_enclave_config *config = &decoded.config;
    assert_true(config->environment_count <= ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES);
    assert_true((int)config->log_level >= ASYLO_LOG_ERROR &&
                (int)config->log_level <= ASYLO_LOG_DEBUG);
    assert_true(config->user_config_size <= ASYLO_ENCLAVE_CONFIG_MAX_USER_SIZE);
    for (size_t i = 0; i < config->environment_count; i++) {
        const char *name = config->environment[i].name;
        assert_true(strlen(name) > 0);
        assert_true(strlen(name) < ASYLO_ENCLAVE_CONFIG_MAX_NAME_SIZE);
        assert_null(strchr(name, '='));
        assert_true(strlen(config->environment[i].value) <= ASYLO_ENCLAVE_CONFIG_MAX_VALUE_SIZE);
    }
    /* Canonical: what decoded re-encodes to the same bytes. */
    asylo__bytes again;
    asylo__bytes_init(&again, ASYLO__BYTES_DEFAULT_LIMIT);
    assert_int_equal(asylo__enclave_config_encode(config, &again, &status), ASYLO_OK);
    assert_int_equal(again.size, size);
    assert_memory_equal(again.data, copy, size);
    asylo__bytes_fini(&again);
    asylo__decoded_config_fini(&decoded);
    free(copy);
}

static void test_fuzz_decoder(void **state) {
    (void)state;
    rng_state = SEED;
    tally counts = {0, 0};
    uint8_t *buffer = malloc(MAX_INPUT);
    assert_non_null(buffer);
    for (int iteration = 0; iteration < ITERATIONS; iteration++) {
        size_t size;
        switch (iteration % 4) {
        case 0: { /* pure noise */
            size = random_below(256);
            for (size_t i = 0; i < size; i++) {
                buffer[i] = (uint8_t)next_random();
            }
            break;
        }
        case 1: { /* a plausible header, then noise */
            size = 12 + random_below(128);
            for (size_t i = 0; i < size; i++) {
                buffer[i] = (uint8_t)next_random();
            }
            uint32_t header[3] = {1, (uint32_t)random_below(5), (uint32_t)random_below(4)};
            for (int field = 0; field < 3; field++) {
                for (int i = 0; i < 4; i++) {
                    buffer[field * 4 + i] = (uint8_t)(header[field] >> (8 * i));
                }
            }
            break;
        }
        default: { /* a valid encoding, mutated (or, one time in 8, left as is) */
            asylo__bytes valid;
            random_valid_encoding(&valid);
            assert_true(valid.size <= MAX_INPUT / 2);
            memcpy(buffer, valid.data, valid.size);
            size = valid.size;
            asylo__bytes_fini(&valid);
            if (random_below(8) != 0) {
                mutate(buffer, &size);
            }
            break;
        }
        }
        decode_and_check(buffer, size, &counts);
    }
    free(buffer);
    printf("fuzz: %d inputs, %u accepted, %u refused (seed 0x%llx)\n", ITERATIONS, counts.accepted,
           counts.refused, (unsigned long long)SEED);
    /* The mix reaches both outcomes. */
    assert_true(counts.accepted > ITERATIONS / 50);
    assert_true(counts.refused > ITERATIONS / 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fuzz_decoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
