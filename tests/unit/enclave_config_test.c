/* The enclave config codec: round trips, and every limit on both the
 * encoding (host) side and the decoding (enclave) side. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/enclave_config_codec.h"

static asylo_enclave_config empty_config(void) {
    asylo_enclave_config config;
    memset(&config, 0, sizeof config);
    config.log_level = ASYLO_LOG_INFO;
    return config;
}

/* Encodes, decodes and compares; returns the decoded copy for more checks. */
static void round_trip(const asylo_enclave_config *config) {
    asylo__bytes encoded;
    asylo__bytes_init(&encoded, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo_status status;
    assert_int_equal(asylo__enclave_config_encode(config, &encoded, &status), ASYLO_OK);
    asylo__decoded_config decoded;
    assert_int_equal(asylo__enclave_config_decode(encoded.data, encoded.size, &decoded, &status),
                     ASYLO_OK);
    assert_int_equal(decoded.config.log_level, config->log_level);
    assert_int_equal(decoded.config.environment_count, config->environment_count);
    for (size_t i = 0; i < config->environment_count; i++) {
        assert_string_equal(decoded.config.environment[i].name, config->environment[i].name);
        const char *value = config->environment[i].value;
        assert_string_equal(decoded.config.environment[i].value, value == NULL ? "" : value);
    }
    assert_int_equal(decoded.config.user_config_size, config->user_config_size);
    if (config->user_config_size > 0) {
        assert_memory_equal(decoded.config.user_config, config->user_config,
                            config->user_config_size);
    } else {
        assert_null(decoded.config.user_config);
    }
    asylo__decoded_config_fini(&decoded);
    asylo__decoded_config_fini(&decoded); /* twice is harmless */
    asylo__bytes_fini(&encoded);
}

static void test_round_trip(void **state) {
    (void)state;
    asylo_enclave_config config = empty_config();
    round_trip(&config);

    static const asylo_environment_variable environment[] = {
        {"HOME", "/enclave"}, {"EMPTY", ""}, {"UNSET_VALUE", NULL}, {"X", "a=b=c"}};
    static const uint8_t user[] = {0, 1, 2, 0, 255};
    config.environment = environment;
    config.environment_count = 4;
    config.log_level = ASYLO_LOG_DEBUG;
    config.user_config = user;
    config.user_config_size = sizeof user;
    round_trip(&config);
    config.log_level = ASYLO_LOG_ERROR;
    round_trip(&config);
}

static void test_maximum_sizes_round_trip(void **state) {
    (void)state;
    /* 1024 variables, the longest name, the longest value, the largest user
     * config: all accepted. */
    asylo_environment_variable *environment =
        calloc(ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES, sizeof *environment);
    char(*names)[16] = calloc(ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES, sizeof *names);
    char *long_name = malloc(ASYLO_ENCLAVE_CONFIG_MAX_NAME_SIZE);
    char *long_value = malloc(ASYLO_ENCLAVE_CONFIG_MAX_VALUE_SIZE + 1);
    uint8_t *user = malloc(ASYLO_ENCLAVE_CONFIG_MAX_USER_SIZE);
    assert_non_null(environment);
    assert_non_null(names);
    assert_non_null(long_name);
    assert_non_null(long_value);
    assert_non_null(user);
    memset(long_name, 'N', ASYLO_ENCLAVE_CONFIG_MAX_NAME_SIZE - 1);
    long_name[ASYLO_ENCLAVE_CONFIG_MAX_NAME_SIZE - 1] = '\0';
    memset(long_value, 'v', ASYLO_ENCLAVE_CONFIG_MAX_VALUE_SIZE);
    long_value[ASYLO_ENCLAVE_CONFIG_MAX_VALUE_SIZE] = '\0';
    memset(user, 0x77, ASYLO_ENCLAVE_CONFIG_MAX_USER_SIZE);
    for (size_t i = 0; i < ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES; i++) {
        snprintf(names[i], sizeof names[i], "V%zu", i);
        environment[i].name = names[i];
        environment[i].value = names[i];
    }
    environment[0].name = long_name;
    environment[1].value = long_value;
    asylo_enclave_config config = empty_config();
    config.environment = environment;
    config.environment_count = ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES;
    config.user_config = user;
    config.user_config_size = ASYLO_ENCLAVE_CONFIG_MAX_USER_SIZE;
    round_trip(&config);
    free(environment);
    free(names);
    free(long_name);
    free(long_value);
    free(user);
}

/* validate/encode must refuse `config` with INVALID_ARGUMENT and `needle`. */
static void expect_refused(const asylo_enclave_config *config, const char *needle) {
    asylo__bytes encoded;
    asylo__bytes_init(&encoded, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo_status status;
    assert_int_equal(asylo__enclave_config_validate(config, &status), ASYLO_INVALID_ARGUMENT);
    assert_int_equal(status.origin, ASYLO_ORIGIN_API);
    if (strstr(status.message, needle) == NULL) {
        fail_msg("expected '%s' in '%s'", needle, status.message);
    }
    assert_int_equal(asylo__enclave_config_encode(config, &encoded, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_int_equal(encoded.size, 0);
    asylo__bytes_fini(&encoded);
}

static void test_encode_limits(void **state) {
    (void)state;
    asylo_enclave_config config = empty_config();

    asylo_environment_variable *many = calloc(ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES + 1, sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i <= ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES; i++) {
        many[i].name = "A";
        many[i].value = "";
    }
    config.environment = many;
    config.environment_count = ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES + 1;
    expect_refused(&config, "1025 environment variables; the limit is 1024");
    free(many);

    config = empty_config();
    config.environment_count = 1;
    expect_refused(&config, "environment is NULL");

    asylo_environment_variable one[1];
    config.environment = one;
    config.environment_count = 1;
    one[0] = (asylo_environment_variable){"A=B", "v"};
    expect_refused(&config, "name containing '='");
    one[0] = (asylo_environment_variable){"=", "v"};
    expect_refused(&config, "name containing '='");
    one[0] = (asylo_environment_variable){"", "v"};
    expect_refused(&config, "empty name");
    one[0] = (asylo_environment_variable){NULL, "v"};
    expect_refused(&config, "empty name");

    char long_name[ASYLO_ENCLAVE_CONFIG_MAX_NAME_SIZE + 1];
    memset(long_name, 'L', ASYLO_ENCLAVE_CONFIG_MAX_NAME_SIZE);
    long_name[ASYLO_ENCLAVE_CONFIG_MAX_NAME_SIZE] = '\0';
    one[0] = (asylo_environment_variable){long_name, "v"};
    expect_refused(&config, "longer than 255 bytes");

    char *long_value = malloc(ASYLO_ENCLAVE_CONFIG_MAX_VALUE_SIZE + 2);
    assert_non_null(long_value);
    memset(long_value, 'v', ASYLO_ENCLAVE_CONFIG_MAX_VALUE_SIZE + 1);
    long_value[ASYLO_ENCLAVE_CONFIG_MAX_VALUE_SIZE + 1] = '\0';
    one[0] = (asylo_environment_variable){"BIG", long_value};
    expect_refused(&config, "value of BIG is longer than 65536 bytes");
    free(long_value);

    config = empty_config();
    static const uint8_t user = 1;
    config.user_config = &user; /* never read: the size alone is refused */
    config.user_config_size = ASYLO_ENCLAVE_CONFIG_MAX_USER_SIZE + 1;
    expect_refused(&config, "user config of 16777217 bytes is over the 16777216 byte limit");
    config.user_config = NULL;
    config.user_config_size = 3;
    expect_refused(&config, "user_config is NULL");

    config = empty_config();
    config.log_level = (asylo_log_level)4;
    expect_refused(&config, "log level 4 is not an asylo_log_level");
    config.log_level = (asylo_log_level)-1;
    expect_refused(&config, "log level -1");
}

/* --- decoding hostile input --------------------------------------------- */

typedef struct encoding {
    asylo__bytes bytes;
    asylo__writer writer;
} encoding;

static void encoding_start(encoding *e, uint32_t version, uint32_t level, uint32_t count) {
    asylo__bytes_init(&e->bytes, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer_init(&e->writer, &e->bytes);
    asylo__write_u32(&e->writer, version);
    asylo__write_u32(&e->writer, level);
    asylo__write_u32(&e->writer, count);
}

static void expect_decode_refused(encoding *e, const char *needle) {
    assert_int_equal(asylo__writer_status(&e->writer, NULL), ASYLO_OK);
    asylo__decoded_config decoded;
    asylo_status status;
    assert_int_equal(asylo__enclave_config_decode(e->bytes.data, e->bytes.size, &decoded, &status),
                     ASYLO_INVALID_ARGUMENT);
    if (strstr(status.message, needle) == NULL) {
        fail_msg("expected '%s' in '%s'", needle, status.message);
    }
    /* Nothing is left allocated on failure, and fini is still safe. */
    assert_null(decoded.variables);
    assert_null(decoded.strings);
    assert_null(decoded.user_config);
    asylo__decoded_config_fini(&decoded);
    asylo__bytes_fini(&e->bytes);
}

static void test_decode_refuses(void **state) {
    (void)state;
    encoding e;

    encoding_start(&e, 2, ASYLO_LOG_INFO, 0);
    asylo__write_blob(&e.writer, NULL, 0);
    expect_decode_refused(&e, "enclave config format 2 is not the supported format 1");
    encoding_start(&e, 0, ASYLO_LOG_INFO, 0);
    asylo__write_blob(&e.writer, NULL, 0);
    expect_decode_refused(&e, "format 0 is not the supported format 1");

    encoding_start(&e, 1, 4, 0);
    asylo__write_blob(&e.writer, NULL, 0);
    expect_decode_refused(&e, "log level 4 or 0 variables out of range");

    encoding_start(&e, 1, ASYLO_LOG_INFO, ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES + 1);
    expect_decode_refused(&e, "1025 variables out of range");
    encoding_start(&e, 1, ASYLO_LOG_INFO, UINT32_MAX);
    expect_decode_refused(&e, "out of range");

    encoding_start(&e, 1, ASYLO_LOG_INFO, 1);
    asylo__write_string(&e.writer, "A=B");
    asylo__write_string(&e.writer, "v");
    asylo__write_blob(&e.writer, NULL, 0);
    expect_decode_refused(&e, "'=' in its name");

    encoding_start(&e, 1, ASYLO_LOG_INFO, 1);
    asylo__write_string(&e.writer, "");
    asylo__write_string(&e.writer, "v");
    asylo__write_blob(&e.writer, NULL, 0);
    expect_decode_refused(&e, "variable 0 has an empty name");

    encoding_start(&e, 1, ASYLO_LOG_INFO, 2);
    asylo__write_string(&e.writer, "OK");
    asylo__write_string(&e.writer, "v");
    asylo__write_blob(&e.writer, "N\0M", 3);
    asylo__write_string(&e.writer, "v");
    asylo__write_blob(&e.writer, NULL, 0);
    expect_decode_refused(&e, "variable 1 has");

    encoding_start(&e, 1, ASYLO_LOG_INFO, 1);
    asylo__write_string(&e.writer, "NAME");
    asylo__write_blob(&e.writer, "va\0lue", 6);
    asylo__write_blob(&e.writer, NULL, 0);
    expect_decode_refused(&e, "NUL byte");

    char long_name[ASYLO_ENCLAVE_CONFIG_MAX_NAME_SIZE];
    memset(long_name, 'L', sizeof long_name);
    encoding_start(&e, 1, ASYLO_LOG_INFO, 1);
    asylo__write_blob(&e.writer, long_name, sizeof long_name); /* 256 > 255 */
    asylo__write_string(&e.writer, "v");
    asylo__write_blob(&e.writer, NULL, 0);
    expect_decode_refused(&e, "field longer than its limit at byte 16");

    char *long_value = calloc(1, ASYLO_ENCLAVE_CONFIG_MAX_VALUE_SIZE + 1);
    assert_non_null(long_value);
    memset(long_value, 'v', ASYLO_ENCLAVE_CONFIG_MAX_VALUE_SIZE + 1);
    encoding_start(&e, 1, ASYLO_LOG_INFO, 1);
    asylo__write_string(&e.writer, "N");
    asylo__write_blob(&e.writer, long_value, ASYLO_ENCLAVE_CONFIG_MAX_VALUE_SIZE + 1);
    asylo__write_blob(&e.writer, NULL, 0);
    expect_decode_refused(&e, "field longer than its limit");
    free(long_value);

    /* An oversized user config is refused from its declared length alone. */
    encoding_start(&e, 1, ASYLO_LOG_INFO, 0);
    asylo__write_u32(&e.writer, ASYLO_ENCLAVE_CONFIG_MAX_USER_SIZE + 1);
    expect_decode_refused(&e, "field longer than its limit at byte 16");
    encoding_start(&e, 1, ASYLO_LOG_INFO, 0);
    asylo__write_u32(&e.writer, 100);
    asylo__write_u32(&e.writer, 0);
    expect_decode_refused(&e, "field runs past the end of the input");

    encoding_start(&e, 1, ASYLO_LOG_INFO, 0);
    asylo__write_blob(&e.writer, "u", 1);
    asylo__write_u32(&e.writer, 0);
    expect_decode_refused(&e, "unexpected trailing bytes at byte 17");

    /* Missing user config blob. */
    encoding_start(&e, 1, ASYLO_LOG_INFO, 0);
    expect_decode_refused(&e, "truncated integer at byte 12");

    /* Fewer variables than announced. */
    encoding_start(&e, 1, ASYLO_LOG_INFO, 3);
    asylo__write_string(&e.writer, "A");
    asylo__write_string(&e.writer, "1");
    asylo__write_blob(&e.writer, NULL, 0);
    expect_decode_refused(&e, "malformed enclave config");
}

/* Every strict prefix of a valid encoding is refused; the full one decodes. */
static void test_every_truncation_refused(void **state) {
    (void)state;
    static const asylo_environment_variable environment[] = {{"ONE", "1"}, {"TWO", "22"}};
    static const uint8_t user[] = {9, 8, 7};
    asylo_enclave_config config = empty_config();
    config.environment = environment;
    config.environment_count = 2;
    config.user_config = user;
    config.user_config_size = sizeof user;
    asylo__bytes encoded;
    asylo__bytes_init(&encoded, ASYLO__BYTES_DEFAULT_LIMIT);
    assert_int_equal(asylo__enclave_config_encode(&config, &encoded, NULL), ASYLO_OK);
    for (size_t size = 0; size < encoded.size; size++) {
        /* A private copy of exactly `size` bytes, so ASan sees any over-read. */
        uint8_t *copy = malloc(size == 0 ? 1 : size);
        assert_non_null(copy);
        memcpy(copy, encoded.data, size);
        asylo__decoded_config decoded;
        asylo_status status;
        assert_int_equal(asylo__enclave_config_decode(copy, size, &decoded, &status),
                         ASYLO_INVALID_ARGUMENT);
        assert_non_null(strstr(status.message, "malformed enclave config"));
        asylo__decoded_config_fini(&decoded);
        free(copy);
    }
    asylo__decoded_config decoded;
    assert_int_equal(asylo__enclave_config_decode(encoded.data, encoded.size, &decoded, NULL),
                     ASYLO_OK);
    asylo__decoded_config_fini(&decoded);
    assert_int_equal(asylo__enclave_config_decode(NULL, 0, &decoded, NULL), ASYLO_INVALID_ARGUMENT);
    asylo__bytes_fini(&encoded);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_maximum_sizes_round_trip),
        cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_decode_refuses),
        cmocka_unit_test(test_every_truncation_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
