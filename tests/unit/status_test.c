/* Status values: code and origin names, set/prefix/format and the visible
 * "..." mark on every cut message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "asylo/status.h"

static void test_code_names_follow_the_x_macro(void **state) {
    (void)state;
    int count = 0;
#define CHECK_CODE(name, value)                                                                    \
    assert_int_equal(ASYLO_##name, value);                                                         \
    assert_string_equal(asylo_code_name(ASYLO_##name), #name);                                     \
    assert_true(asylo_code_is_valid(value));                                                       \
    count++;
    ASYLO_STATUS_CODES(CHECK_CODE)
#undef CHECK_CODE
    assert_int_equal(count, 17);
    assert_false(asylo_code_is_valid(-1));
    assert_false(asylo_code_is_valid(17));
    assert_false(asylo_code_is_valid(1000));
    assert_string_equal(asylo_code_name((asylo_code)17), "UNKNOWN_CODE");
    assert_string_equal(asylo_code_name((asylo_code)-3), "UNKNOWN_CODE");
}

static void test_origin_names(void **state) {
    (void)state;
    assert_string_equal(asylo_origin_name(ASYLO_ORIGIN_NONE), "none");
    assert_string_equal(asylo_origin_name(ASYLO_ORIGIN_API), "api");
    assert_string_equal(asylo_origin_name(ASYLO_ORIGIN_BACKEND), "backend");
    assert_string_equal(asylo_origin_name(ASYLO_ORIGIN_TRANSPORT), "transport");
    assert_string_equal(asylo_origin_name(ASYLO_ORIGIN_ENCLAVE), "enclave");
    assert_string_equal(asylo_origin_name(ASYLO_ORIGIN_HOST), "host");
    assert_string_equal(asylo_origin_name((asylo_origin)6), "unknown");
    assert_string_equal(asylo_origin_name((asylo_origin)-1), "unknown");
}

static void test_set_and_ok(void **state) {
    (void)state;
    asylo_status status;
    assert_int_equal(
        asylo_status_set(&status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_BACKEND, "no %s %d", "file", 7),
        ASYLO_NOT_FOUND);
    assert_int_equal(status.code, ASYLO_NOT_FOUND);
    assert_int_equal(status.origin, ASYLO_ORIGIN_BACKEND);
    assert_string_equal(status.message, "no file 7");

    /* OK never carries an origin. */
    assert_int_equal(asylo_status_set(&status, ASYLO_OK, ASYLO_ORIGIN_ENCLAVE, "fine"), ASYLO_OK);
    assert_int_equal(status.origin, ASYLO_ORIGIN_NONE);

    /* A NULL status only returns the code. */
    assert_int_equal(asylo_status_set(NULL, ASYLO_INTERNAL, ASYLO_ORIGIN_API, "x"), ASYLO_INTERNAL);

    assert_int_equal(asylo_status_set(&status, ASYLO_ABORTED, ASYLO_ORIGIN_HOST, NULL),
                     ASYLO_ABORTED);
    assert_string_equal(status.message, "");

    assert_int_equal(asylo_status_ok(&status), ASYLO_OK);
    assert_int_equal(status.code, ASYLO_OK);
    assert_int_equal(status.origin, ASYLO_ORIGIN_NONE);
    assert_string_equal(status.message, "");
    assert_int_equal(asylo_status_ok(NULL), ASYLO_OK);
}

static void fill(char *text, size_t length, char c) {
    memset(text, c, length);
    text[length] = '\0';
}

static void test_truncation_is_marked(void **state) {
    (void)state;
    asylo_status status;
    char text[2 * ASYLO_STATUS_MESSAGE_SIZE];

    /* 511 characters fit exactly: no mark. */
    fill(text, ASYLO_STATUS_MESSAGE_SIZE - 1, 'a');
    asylo_status_set(&status, ASYLO_UNKNOWN, ASYLO_ORIGIN_API, "%s", text);
    assert_int_equal(strlen(status.message), ASYLO_STATUS_MESSAGE_SIZE - 1);
    assert_int_equal(status.message[ASYLO_STATUS_MESSAGE_SIZE - 2], 'a');

    /* One more is cut and ends in "...". */
    fill(text, ASYLO_STATUS_MESSAGE_SIZE, 'b');
    asylo_status_set(&status, ASYLO_UNKNOWN, ASYLO_ORIGIN_API, "%s", text);
    assert_int_equal(strlen(status.message), ASYLO_STATUS_MESSAGE_SIZE - 1);
    assert_string_equal(status.message + ASYLO_STATUS_MESSAGE_SIZE - 4, "...");
    assert_int_equal(status.message[0], 'b');

    fill(text, sizeof text - 1, 'c');
    asylo_status_set(&status, ASYLO_UNKNOWN, ASYLO_ORIGIN_API, "%s", text);
    assert_int_equal(strlen(status.message), ASYLO_STATUS_MESSAGE_SIZE - 1);
    assert_string_equal(status.message + ASYLO_STATUS_MESSAGE_SIZE - 4, "...");
}

static void test_prefix(void **state) {
    (void)state;
    asylo_status status;
    asylo_status_set(&status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST, "no access");
    assert_int_equal(asylo_status_prefix(&status, "loading '%s'", "demo"), ASYLO_PERMISSION_DENIED);
    assert_string_equal(status.message, "loading 'demo': no access");
    assert_int_equal(status.code, ASYLO_PERMISSION_DENIED);
    assert_int_equal(status.origin, ASYLO_ORIGIN_HOST);

    /* Prefixes stack. */
    asylo_status_prefix(&status, "outer");
    assert_string_equal(status.message, "outer: loading 'demo': no access");

    /* A prefix that pushes the message over the size is marked. */
    char text[ASYLO_STATUS_MESSAGE_SIZE];
    fill(text, ASYLO_STATUS_MESSAGE_SIZE - 5, 'x');
    asylo_status_set(&status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE, "%s", text);
    asylo_status_prefix(&status, "context");
    assert_int_equal(strlen(status.message), ASYLO_STATUS_MESSAGE_SIZE - 1);
    assert_memory_equal(status.message, "context: xxx", 12);
    assert_string_equal(status.message + ASYLO_STATUS_MESSAGE_SIZE - 4, "...");
    assert_int_equal(status.code, ASYLO_DATA_LOSS);

    /* A prefix longer than a whole message. */
    char long_prefix[2 * ASYLO_STATUS_MESSAGE_SIZE];
    fill(long_prefix, sizeof long_prefix - 1, 'p');
    asylo_status_set(&status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE, "short");
    asylo_status_prefix(&status, "%s", long_prefix);
    assert_int_equal(strlen(status.message), ASYLO_STATUS_MESSAGE_SIZE - 1);
    assert_string_equal(status.message + ASYLO_STATUS_MESSAGE_SIZE - 4, "...");

    /* A message that lost its terminator is still handled. */
    memset(status.message, 'z', sizeof status.message);
    asylo_status_prefix(&status, "p");
    assert_int_equal(strlen(status.message), ASYLO_STATUS_MESSAGE_SIZE - 1);

    assert_int_equal(asylo_status_prefix(NULL, "x"), ASYLO_UNKNOWN);
}

static void test_format(void **state) {
    (void)state;
    asylo_status status;
    char buffer[ASYLO_STATUS_MESSAGE_SIZE + 64];
    asylo_status_set(&status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, "bad name");
    assert_string_equal(asylo_status_format(&status, buffer, sizeof buffer),
                        "INVALID_ARGUMENT (api): bad name");
    asylo_status_set(&status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT, "peer gone");
    assert_string_equal(asylo_status_format(&status, buffer, sizeof buffer),
                        "UNAVAILABLE (transport): peer gone");
    asylo_status_ok(&status);
    assert_string_equal(asylo_status_format(&status, buffer, sizeof buffer), "OK");
    assert_string_equal(asylo_status_format(NULL, buffer, sizeof buffer), "OK");

    /* Out-of-range values still format. */
    status.code = (asylo_code)99;
    status.origin = (asylo_origin)42;
    strcpy(status.message, "odd");
    assert_string_equal(asylo_status_format(&status, buffer, sizeof buffer),
                        "UNKNOWN_CODE (unknown): odd");

    /* A small buffer is cut, still terminated. */
    char small[8];
    asylo_status_set(&status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, "bad name");
    assert_string_equal(asylo_status_format(&status, small, sizeof small), "INVALID");

    /* An unterminated message is bounded. */
    memset(status.message, 'm', sizeof status.message);
    asylo_status_format(&status, buffer, sizeof buffer);
    assert_int_equal(strlen(buffer), strlen("INVALID_ARGUMENT (api): ") + sizeof status.message);

    assert_null(asylo_status_format(&status, NULL, 10));
    char untouched = 'u';
    assert_ptr_equal(asylo_status_format(&status, &untouched, 0), &untouched);
    assert_int_equal(untouched, 'u');
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_names_follow_the_x_macro),
        cmocka_unit_test(test_origin_names),
        cmocka_unit_test(test_set_and_ok),
        cmocka_unit_test(test_truncation_is_marked),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
