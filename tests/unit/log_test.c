/* Log levels: names, parsing, $ASYLO_LOG_LEVEL at first use, and the shape
 * of a line on stderr. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

/* Runs first, before anything has read the level. */
static void test_level_from_environment_at_first_use(void **state) {
    (void)state;
    assert_int_equal(asylo_log_get_level(), ASYLO_LOG_DEBUG); /* main set it */
    /* Later changes of the variable are not read again. */
    setenv("ASYLO_LOG_LEVEL", "error", 1);
    assert_int_equal(asylo_log_get_level(), ASYLO_LOG_DEBUG);
    unsetenv("ASYLO_LOG_LEVEL");
}

static void test_level_names(void **state) {
    (void)state;
    assert_string_equal(asylo_log_level_name(ASYLO_LOG_ERROR), "error");
    assert_string_equal(asylo_log_level_name(ASYLO_LOG_WARNING), "warning");
    assert_string_equal(asylo_log_level_name(ASYLO_LOG_INFO), "info");
    assert_string_equal(asylo_log_level_name(ASYLO_LOG_DEBUG), "debug");
    assert_string_equal(asylo_log_level_name((asylo_log_level)4), "unknown");
    assert_string_equal(asylo_log_level_name((asylo_log_level)-1), "unknown");
}

static void test_parse(void **state) {
    (void)state;
    static const struct {
        const char *text;
        asylo_log_level level;
    } good[] = {
        {"error", ASYLO_LOG_ERROR},     {"ERROR", ASYLO_LOG_ERROR}, {"warning", ASYLO_LOG_WARNING},
        {"Warning", ASYLO_LOG_WARNING}, {"info", ASYLO_LOG_INFO},   {"INFO", ASYLO_LOG_INFO},
        {"debug", ASYLO_LOG_DEBUG},     {"dEbUg", ASYLO_LOG_DEBUG},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        asylo_log_level level = (asylo_log_level)99;
        asylo_status status;
        assert_int_equal(asylo_log_level_parse(good[i].text, &level, &status), ASYLO_OK);
        assert_int_equal(level, good[i].level);
        assert_int_equal(status.code, ASYLO_OK);
        assert_int_equal(asylo_log_level_parse(good[i].text, &level, NULL), ASYLO_OK);
    }
    static const char *const bad[] = {"",      "warn", "verbose", "info ",
                                      " info", "2",    "debugx",  "errors"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        asylo_log_level level = ASYLO_LOG_WARNING;
        asylo_status status;
        assert_int_equal(asylo_log_level_parse(bad[i], &level, &status), ASYLO_INVALID_ARGUMENT);
        assert_int_equal(level, ASYLO_LOG_WARNING); /* untouched */
        assert_int_equal(status.origin, ASYLO_ORIGIN_API);
        char expected[128];
        snprintf(expected, sizeof expected,
                 "unknown log level '%s': use error, warning, info or debug", bad[i]);
        assert_string_equal(status.message, expected);
    }
    asylo_log_level level;
    asylo_status status;
    assert_int_equal(asylo_log_level_parse(NULL, &level, &status), ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "'(null)'"));
}

static void test_set_and_get(void **state) {
    (void)state;
    asylo_log_set_level(ASYLO_LOG_WARNING);
    assert_int_equal(asylo_log_get_level(), ASYLO_LOG_WARNING);
    assert_true(asylo__log_enabled(ASYLO_LOG_ERROR));
    assert_true(asylo__log_enabled(ASYLO_LOG_WARNING));
    assert_false(asylo__log_enabled(ASYLO_LOG_INFO));
    assert_false(asylo__log_enabled(ASYLO_LOG_DEBUG));
    asylo_log_set_level(ASYLO_LOG_DEBUG);
    assert_true(asylo__log_enabled(ASYLO_LOG_DEBUG));
}

/* Runs `log` with stderr sent to a file; returns what was written (static). */
static const char *capture_stderr(void (*log)(void)) {
    static char captured[16384];
    char path[] = "/tmp/asylo-log-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    log();
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    ssize_t size = pread(fd, captured, sizeof captured - 1, 0);
    close(fd);
    assert_true(size >= 0);
    captured[size] = '\0';
    return captured;
}

static void log_one_line(void) {
    asylo__log(ASYLO_LOG_WARNING, "proxy", "demo", 7, "loaded %s", "fine\nforged line\r");
}

static void log_without_enclave(void) {
    asylo__log(ASYLO_LOG_ERROR, NULL, NULL, 0, "plain");
}

static void log_filtered(void) {
    asylo_log_set_level(ASYLO_LOG_ERROR);
    asylo__log(ASYLO_LOG_INFO, "host", "demo", 0, "dropped");
    asylo_log_set_level(ASYLO_LOG_DEBUG);
}

static void log_long(void) {
    char text[3000];
    memset(text, 'q', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    asylo__log(ASYLO_LOG_INFO, "host", NULL, 0, "%s", text);
}

static void test_line_shape(void **state) {
    (void)state;
    asylo_log_set_level(ASYLO_LOG_DEBUG);
    const char *line = capture_stderr(log_one_line);
    /* 2026-11-25T16:50:00.123Z warning proxy enclave=demo call=7: loaded ... */
    assert_int_equal(strlen(line) > 25, 1);
    assert_int_equal(line[4], '-');
    assert_int_equal(line[10], 'T');
    assert_int_equal(line[19], '.');
    assert_int_equal(line[23], 'Z');
    assert_string_equal(line + 24,
                        " warning proxy enclave=demo call=7: loaded fine?forged line?\n");

    line = capture_stderr(log_without_enclave);
    assert_string_equal(line + 24, " error asylo: plain\n");

    line = capture_stderr(log_filtered);
    assert_string_equal(line, "");

    /* A long line is cut but stays one line. */
    line = capture_stderr(log_long);
    assert_int_equal(strlen(line), 1023);
    assert_int_equal(line[1022], '\n');
    assert_ptr_equal(strchr(line, '\n'), line + 1022);
}

/* 200 refusals in one second, then one more a second later. */
static asylo__log_limit burst_limit;
static void log_burst(void) {
    for (int i = 0; i < 200; i++) {
        asylo__log_limited(&burst_limit, 5000 + i, ASYLO_LOG_WARNING, "transport", NULL, 0,
                           "refused a call from peer %d", i);
    }
}
static void log_after_burst(void) {
    asylo__log_limited(&burst_limit, 6000, ASYLO_LOG_WARNING, "transport", NULL, 0,
                       "refused a call from peer %d", 200);
}
static void log_long_after_burst(void) {
    char text[3000];
    memset(text, 'q', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    for (int i = 0; i < ASYLO__LOG_LIMIT_PER_SECOND + 3; i++) {
        asylo__log_limited(&burst_limit, 8000, ASYLO_LOG_WARNING, "transport", NULL, 0, "%s", text);
    }
    asylo__log_limited(&burst_limit, 9500, ASYLO_LOG_WARNING, "transport", NULL, 0, "%s", text);
}
static void log_two_sites(void) {
    ASYLO__LOG_LIMITED(ASYLO_LOG_WARNING, "a", NULL, 0, "site one");
    ASYLO__LOG_LIMITED(ASYLO_LOG_WARNING, "b", NULL, 0, "site two");
}

static size_t count_lines(const char *text) {
    size_t lines = 0;
    for (const char *at = strchr(text, '\n'); at != NULL; at = strchr(at + 1, '\n')) {
        lines++;
    }
    return lines;
}

static void test_rate_limit(void **state) {
    (void)state;
    asylo_log_set_level(ASYLO_LOG_DEBUG);
    /* A 200-refusal burst wrote 200 lines: now the first few only. */
    const char *text = capture_stderr(log_burst);
    assert_int_equal(count_lines(text), ASYLO__LOG_LIMIT_PER_SECOND);
    assert_non_null(strstr(text, "refused a call from peer 0\n"));
    assert_null(strstr(text, "suppressed"));
    /* The next line written says how many were dropped. */
    text = capture_stderr(log_after_burst);
    assert_int_equal(count_lines(text), 1);
    char expected[128];
    snprintf(expected, sizeof expected,
             ": refused a call from peer 200 (suppressed %d similar messages)\n",
             200 - ASYLO__LOG_LIMIT_PER_SECOND);
    assert_non_null(strstr(text, expected));
    /* The count survives a line cut for length. */
    text = capture_stderr(log_long_after_burst);
    assert_int_equal(count_lines(text), ASYLO__LOG_LIMIT_PER_SECOND + 1);
    size_t length = strlen(text);
    const char *last = text + length - 1;
    while (last > text && last[-1] != '\n') {
        last--;
    }
    assert_int_equal(strlen(last), 1023);
    assert_non_null(strstr(last, "qqq (suppressed 3 similar messages)\n"));
    /* Each call site has its own limit; filtered lines are not counted. */
    asylo_log_set_level(ASYLO_LOG_ERROR);
    for (int i = 0; i < 10; i++) {
        log_two_sites();
    }
    asylo_log_set_level(ASYLO_LOG_DEBUG);
    text = capture_stderr(log_two_sites);
    assert_int_equal(count_lines(text), 2);
    assert_null(strstr(text, "suppressed"));
}

int main(void) {
    setenv("ASYLO_LOG_LEVEL", "debug", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_from_environment_at_first_use),
        cmocka_unit_test(test_level_names),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_set_and_get),
        cmocka_unit_test(test_line_shape),
        cmocka_unit_test(test_rate_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
