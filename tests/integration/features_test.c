/* Runtime features on sim, one test enclave selector each: run echo, the
 * enclave's own environment, exit calls (handlers, fallback,
 * overriding a built-in), nested re-entry, files, logging, time, randomness,
 * instance independence and symbol isolation. Output limits and the file
 * policy run on every backend in tests/conformance. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "asylo/files.h" /* file flags and limits, shared with the host */
#include "sim_test_support.h"

/* The enclave defines a function of the same name returning 42; this
 * executable is linked with -rdynamic so the dynamic linker could bind the
 * enclave's call to this one if the image were not built -Bsymbolic. */
__attribute__((visibility("default"))) int asylo_test_collision(void);
__attribute__((visibility("default"))) int asylo_test_collision(void) {
    return 7;
}

static asylo_manager *manager;

static int setup(void **state) {
    (void)state;
    manager = sim_manager();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    asylo_manager_destroy(manager);
    return 0;
}

static void destroy(asylo_client *client) {
    asylo_status status;
    expect_ok("destroy", asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status);
}

/* --- run and output bounds ----------------------------------------------- */

static void test_run_echo_sizes(void **state) {
    (void)state;
    asylo_client *client = sim_load(manager, "echo");
    static const size_t sizes[] = {0, 1, 64 << 10, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t size = sizes[i];
        uint8_t *input = malloc(size == 0 ? 1 : size);
        assert_non_null(input);
        for (size_t j = 0; j < size; j++) {
            input[j] = (uint8_t)(j * 31 + i);
        }
        asylo_buffer output = {0};
        asylo_status status;
        expect_ok("run echo", asylo_client_run(client, input, size, &output, &status), &status);
        assert_int_equal(output.size, size);
        if (size > 0) {
            assert_memory_equal(output.data, input, size);
        }
        asylo_buffer_free(&output);
        free(input);
    }
    destroy(client);
}

/* --- environment ----------------------------------------------------------- */

static void expect_getenv(asylo_client *client, const char *name, const char *value) {
    asylo_buffer output = {0};
    asylo_status status;
    asylo_code code = asylo_client_call(client, TEST_GETENV, name, strlen(name), &output, &status);
    if (value == NULL) {
        expect_status("getenv of an unset name", code, &status, ASYLO_NOT_FOUND,
                      ASYLO_ORIGIN_ENCLAVE, "is unset");
        return;
    }
    expect_ok("getenv", code, &status);
    assert_int_equal(output.size, strlen(value));
    assert_memory_equal(output.data, value, output.size);
    asylo_buffer_free(&output);
}

static void test_environment_is_the_enclaves_own(void **state) {
    (void)state;
    assert_int_equal(setenv("ASYLO_TEST_HOST_ONLY", "host-secret", 1), 0);
    static const asylo_environment_variable environment[] = {
        {"GREETING", "hello enclave"}, {"EMPTY", ""}, {"PATH", "/enclave/bin"}};
    asylo_client *client = sim_load_env(manager, "env", environment, 3);
    expect_getenv(client, "GREETING", "hello enclave");
    expect_getenv(client, "EMPTY", "");
    expect_getenv(client, "PATH", "/enclave/bin"); /* not the host's PATH */
    expect_getenv(client, "ASYLO_TEST_HOST_ONLY", NULL);
    expect_getenv(client, "HOME", NULL);
    destroy(client);
    /* Without an environment, nothing at all. */
    client = sim_load(manager, "no-env");
    expect_getenv(client, "PATH", NULL);
    expect_getenv(client, "GREETING", NULL);
    destroy(client);
    unsetenv("ASYLO_TEST_HOST_ONLY");
}

/* --- exit calls -------------------------------------------------------------- */

static int echo_calls;

static asylo_code host_echo(void *context, asylo_client *client, uint32_t selector,
                            const uint8_t *input, size_t input_size, asylo_output *output,
                            asylo_status *status) {
    assert_ptr_equal(context, &echo_calls);
    assert_int_equal(selector, TEST_HOST_ECHO);
    assert_non_null(client);
    echo_calls++;
    if (asylo_output_write(output, "echo:", 5, status) != ASYLO_OK) {
        return status->code;
    }
    return asylo_output_write(output, input, input_size, status);
}

static uint32_t fallback_selector;

static asylo_code host_fallback(void *context, asylo_client *client, uint32_t selector,
                                const uint8_t *input, size_t input_size, asylo_output *output,
                                asylo_status *status) {
    (void)context, (void)client, (void)input, (void)input_size;
    fallback_selector = selector;
    return asylo_output_write(output, "fallback", 8, status);
}

/* TEST_EXIT_CALL: the enclave calls `selector` with `payload`. */
static asylo_code exit_call(asylo_client *client, uint32_t selector, const char *payload,
                            asylo_buffer *output, asylo_status *status) {
    uint8_t input[64];
    size_t size = strlen(payload);
    assert_true(size + 4 <= sizeof input);
    memcpy(input, &selector, 4);
    memcpy(input + 4, payload, size);
    return asylo_client_call(client, TEST_EXIT_CALL, input, size + 4, output, status);
}

static void test_exit_calls(void **state) {
    (void)state;
    asylo_exit_handler handlers[] = {{TEST_HOST_ECHO, host_echo, &echo_calls}};
    asylo_load_config config;
    sim_config(&config, "exits");
    config.exit_handlers = handlers;
    config.exit_handler_count = 1;
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("load", asylo_manager_load(manager, &config, &client, &status), &status);
    /* The handlers were copied at load. */
    handlers[0].handler = NULL;

    asylo_buffer output = {0};
    echo_calls = 0;
    expect_ok("exit call to a host handler",
              exit_call(client, TEST_HOST_ECHO, "ping", &output, &status), &status);
    assert_int_equal(echo_calls, 1);
    assert_int_equal(output.size, 9);
    assert_memory_equal(output.data, "echo:ping", 9);
    asylo_buffer_free(&output);

    expect_status("exit call to an unregistered selector",
                  exit_call(client, TEST_HOST_UNHANDLED, "", &output, &status), &status,
                  ASYLO_NOT_FOUND, ASYLO_ORIGIN_HOST, "the host has no handler for exit selector");
    /* A reserved selector is refused inside the enclave before it leaves. */
    expect_status("exit call to a reserved selector",
                  exit_call(client, ASYLO_SELECTOR_TIME_WALL, "", &output, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE, "exit selector 0x101 is reserved");
    destroy(client);

    /* With a fallback, unknown selectors reach it. */
    handlers[0].handler = host_echo;
    config.name = "fallback";
    config.exit_fallback = host_fallback;
    expect_ok("load", asylo_manager_load(manager, &config, &client, &status), &status);
    fallback_selector = 0;
    expect_ok("exit call to the fallback",
              exit_call(client, TEST_HOST_UNHANDLED, "", &output, &status), &status);
    assert_int_equal(fallback_selector, TEST_HOST_UNHANDLED);
    assert_int_equal(output.size, 8);
    assert_memory_equal(output.data, "fallback", 8);
    asylo_buffer_free(&output);
    expect_ok("exit call 0xfffffff0 to the fallback",
              exit_call(client, 0xfffffff0u, "", &output, &status), &status);
    assert_int_equal(fallback_selector, 0xfffffff0u);
    asylo_buffer_free(&output);
    /* A registered handler still wins over the fallback. */
    fallback_selector = 0;
    expect_ok("registered beats fallback", exit_call(client, TEST_HOST_ECHO, "x", &output, &status),
              &status);
    assert_int_equal(fallback_selector, 0);
    asylo_buffer_free(&output);
    destroy(client);
}

static int wall_calls;

static asylo_code fixed_wall_time(void *context, asylo_client *client, uint32_t selector,
                                  const uint8_t *input, size_t input_size, asylo_output *output,
                                  asylo_status *status) {
    (void)context, (void)client, (void)input;
    assert_int_equal(selector, ASYLO_SELECTOR_TIME_WALL);
    assert_int_equal(input_size, 0);
    wall_calls++;
    int64_t fixed = INT64_C(1234567890123456789);
    return asylo_output_write(output, &fixed, sizeof fixed, status);
}

static void test_override_builtin(void **state) {
    (void)state;
    asylo_exit_handler handlers[] = {{ASYLO_SELECTOR_TIME_WALL, fixed_wall_time, NULL}};
    asylo_load_config config;
    sim_config(&config, "override");
    config.exit_handlers = handlers;
    config.exit_handler_count = 1;
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("load", asylo_manager_load(manager, &config, &client, &status), &status);
    asylo_buffer output = {0};
    wall_calls = 0;
    expect_ok("time with an overridden wall clock",
              asylo_client_call(client, TEST_TIME, NULL, 0, &output, &status), &status);
    assert_int_equal(wall_calls, 1);
    assert_int_equal(output.size, 16);
    int64_t times[2];
    memcpy(times, output.data, sizeof times);
    assert_true(times[0] == INT64_C(1234567890123456789));
    /* The monotonic clock is still the built-in. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t monotonic = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    assert_true(times[1] > 0 && times[1] <= monotonic);
    asylo_buffer_free(&output);
    destroy(client);
}

/* --- nested re-entry ------------------------------------------------------------ */

static int reenter_calls;

static asylo_code host_reenter(void *context, asylo_client *client, uint32_t selector,
                               const uint8_t *input, size_t input_size, asylo_output *output,
                               asylo_status *status) {
    (void)context, (void)selector;
    reenter_calls++;
    asylo_buffer below = {0};
    asylo_code code = asylo_client_call(client, TEST_RUN_NESTED, input, input_size, &below, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, below.data, below.size, status);
    }
    asylo_buffer_free(&below);
    return code;
}

static void test_nested_reentry(void **state) {
    (void)state;
    asylo_exit_handler handlers[] = {{TEST_HOST_REENTER, host_reenter, NULL}};
    asylo_load_config config;
    sim_config(&config, "nested");
    config.exit_handlers = handlers;
    config.exit_handler_count = 1;
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("load", asylo_manager_load(manager, &config, &client, &status), &status);

    asylo_buffer output = {0};
    reenter_calls = 0;
    expect_ok("nested depth 5", call_u32(client, TEST_RUN_NESTED, 5, &output, &status), &status);
    assert_int_equal(buffer_u32(&output), 5);
    assert_int_equal(reenter_calls, 5);
    asylo_buffer_free(&output);

    /* Depth d makes d + 1 entries on this thread: 15 is the deepest allowed. */
    expect_ok("nested to the limit",
              call_u32(client, TEST_RUN_NESTED, ASYLO_MAX_CALL_DEPTH - 1, &output, &status),
              &status);
    assert_int_equal(buffer_u32(&output), ASYLO_MAX_CALL_DEPTH - 1);
    asylo_buffer_free(&output);
    expect_status("nested past ASYLO_MAX_CALL_DEPTH",
                  call_u32(client, TEST_RUN_NESTED, ASYLO_MAX_CALL_DEPTH, &output, &status),
                  &status, ASYLO_RESOURCE_EXHAUSTED, ANY_ORIGIN,
                  "calls into enclaves nest more than 16 deep on this thread");
    expect_status("nested far past the limit",
                  call_u32(client, TEST_RUN_NESTED, 1000, &output, &status), &status,
                  ASYLO_RESOURCE_EXHAUSTED, ANY_ORIGIN, "nest more than 16 deep");
    /* The depth unwinds: a plain call works again. */
    expect_ok("after", call_u32(client, TEST_RUN_NESTED, 2, &output, &status), &status);
    assert_int_equal(buffer_u32(&output), 2);
    asylo_buffer_free(&output);
    destroy(client);
}

/* --- files ----------------------------------------------------------------------- */

static asylo_code file_roundtrip(asylo_client *client, const char *path, const void *data,
                                 uint32_t size, asylo_buffer *output, asylo_status *status) {
    uint32_t path_size = (uint32_t)strlen(path);
    size_t total = 4 + path_size + 4 + size;
    uint8_t *input = malloc(total);
    assert_non_null(input);
    memcpy(input, &path_size, 4);
    memcpy(input + 4, path, path_size);
    memcpy(input + 4 + path_size, &size, 4);
    if (size > 0) {
        memcpy(input + 8 + path_size, data, size);
    }
    asylo_code code = asylo_client_call(client, TEST_FILE_ROUNDTRIP, input, total, output, status);
    free(input);
    return code;
}

static asylo_code file_open(asylo_client *client, const char *path, uint32_t flags,
                            asylo_status *status) {
    uint8_t input[512];
    size_t size = strlen(path);
    assert_true(size + 4 <= sizeof input);
    memcpy(input, &flags, 4);
    memcpy(input + 4, path, size);
    return asylo_client_call(client, TEST_FILE_OPEN, input, size + 4, NULL, status);
}

static asylo_client *load_with_file_root(const char *name, const char *root) {
    asylo_load_config config;
    sim_config(&config, name);
    config.file_root = root;
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("load with a file root", asylo_manager_load(manager, &config, &client, &status),
              &status);
    return client;
}

static void test_files(void **state) {
    (void)state;
    char directory[512];
    make_temp_dir(directory, sizeof directory);
    asylo_client *client = load_with_file_root("files", directory);
    /* Paths from the enclave are relative to the file root. */
    const char *path = "data.bin";
    char host_path[1024];
    snprintf(host_path, sizeof host_path, "%s/%s", directory, path);

    static const uint32_t sizes[] = {0, 1, 4096, ASYLO_MAX_FILE_IO_SIZE};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *data = malloc(sizes[i] == 0 ? 1 : sizes[i]);
        assert_non_null(data);
        for (uint32_t j = 0; j < sizes[i]; j++) {
            data[j] = (uint8_t)(j ^ (j >> 8));
        }
        asylo_buffer output = {0};
        asylo_status status;
        expect_ok("file round trip", file_roundtrip(client, path, data, sizes[i], &output, &status),
                  &status);
        assert_int_equal(output.size, sizes[i]);
        if (sizes[i] > 0) {
            assert_memory_equal(output.data, data, sizes[i]);
        }
        asylo_buffer_free(&output);
        free(data);
        /* The enclave unlinked its file. */
        assert_int_equal(access(host_path, F_OK), -1);
    }

    asylo_buffer output = {0};
    asylo_status status;
    expect_ok("bad handle", asylo_client_call(client, TEST_BAD_HANDLE, NULL, 0, &output, &status),
              &status);
    assert_int_equal(buffer_u32(&output), ASYLO_INVALID_ARGUMENT);
    asylo_buffer_free(&output);

    expect_status("file_open of a missing file",
                  file_open(client, "missing.txt", ASYLO_FILE_READ, &status), &status,
                  ASYLO_NOT_FOUND, ASYLO_ORIGIN_HOST,
                  "file_open 'missing.txt': No such file or directory");
    expect_status("file_open with no read/write flag",
                  file_open(client, "missing.txt", ASYLO_FILE_CREATE, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST,
                  "neither ASYLO_FILE_READ nor ASYLO_FILE_WRITE");
    expect_status("file_open with an unknown flag",
                  file_open(client, "missing.txt", ASYLO_FILE_READ | 0x100, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST, "unknown flag bits 0x100");
    /* Exclusive create of an existing file. */
    int fd = open(host_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    expect_status("file_open exclusive of an existing file",
                  file_open(client, path,
                            ASYLO_FILE_WRITE | ASYLO_FILE_CREATE | ASYLO_FILE_EXCLUSIVE, &status),
                  &status, ASYLO_ALREADY_EXISTS, ASYLO_ORIGIN_HOST, "File exists");
    expect_ok("file_open of an existing file", file_open(client, path, ASYLO_FILE_READ, &status),
              &status);
    unlink(host_path);
    /* A directory that does not exist. */
    expect_status("file round trip into a missing directory",
                  file_roundtrip(client, "no/such/dir/file", "x", 1, &output, &status), &status,
                  ASYLO_NOT_FOUND, ASYLO_ORIGIN_HOST, "No such file or directory");
    destroy(client);
    remove_temp_dir(directory);
}

/* --- logging --------------------------------------------------------------------- */

static void test_log_reaches_stderr(void **state) {
    (void)state;
    asylo_log_set_level(ASYLO_LOG_INFO);
    asylo_client *client = sim_load(manager, "logger-7");
    char path[] = "/tmp/asylo-sim-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    static const char text[] = "hello from inside\nsecond line";
    asylo_status status;
    asylo_code code = asylo_client_call(client, TEST_LOG, text, sizeof text - 1, NULL, &status);
    dup2(saved, STDERR_FILENO);
    close(saved);
    expect_ok("log", code, &status);
    char captured[2048];
    ssize_t size = pread(fd, captured, sizeof captured - 1, 0);
    close(fd);
    assert_true(size > 0);
    captured[size] = '\0';
    printf("captured: %s", captured);
    assert_non_null(strstr(captured, " info enclave enclave=logger-7: hello from inside?second "
                                     "line\n"));
    /* One line: the newline inside the text was neutralised. */
    assert_ptr_equal(strchr(captured, '\n'), captured + size - 1);
    destroy(client);
}

/* --- time and randomness --------------------------------------------------------- */

static int64_t now_ns(clockid_t clock) {
    struct timespec now;
    clock_gettime(clock, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static void test_time_and_random(void **state) {
    (void)state;
    asylo_client *client = sim_load(manager, "clock");
    int64_t wall_before = now_ns(CLOCK_REALTIME);
    int64_t monotonic_before = now_ns(CLOCK_MONOTONIC);
    asylo_buffer output = {0};
    asylo_status status;
    expect_ok("time", asylo_client_call(client, TEST_TIME, NULL, 0, &output, &status), &status);
    int64_t wall_after = now_ns(CLOCK_REALTIME);
    int64_t monotonic_after = now_ns(CLOCK_MONOTONIC);
    assert_int_equal(output.size, 16);
    int64_t times[2];
    memcpy(times, output.data, sizeof times);
    asylo_buffer_free(&output);
    assert_true(times[0] >= wall_before && times[0] <= wall_after);
    assert_true(times[1] >= monotonic_before && times[1] <= monotonic_after);

    asylo_buffer first = {0};
    asylo_buffer second = {0};
    expect_ok("random", asylo_client_call(client, TEST_RANDOM, NULL, 0, &first, &status), &status);
    expect_ok("random", asylo_client_call(client, TEST_RANDOM, NULL, 0, &second, &status), &status);
    assert_int_equal(first.size, 32);
    assert_int_equal(second.size, 32);
    assert_memory_not_equal(first.data, second.data, 32);
    static const uint8_t zeros[32];
    assert_memory_not_equal(first.data, zeros, 32);
    asylo_buffer_free(&first);
    asylo_buffer_free(&second);
    destroy(client);
}

/* --- isolation between instances and from the host -------------------------------- */

static uint64_t count(asylo_client *client) {
    asylo_buffer output = {0};
    asylo_status status;
    expect_ok("counter", asylo_client_call(client, TEST_COUNTER, NULL, 0, &output, &status),
              &status);
    uint64_t value = buffer_u64(&output);
    asylo_buffer_free(&output);
    return value;
}

static void test_instances_are_independent(void **state) {
    (void)state;
    asylo_client *a = sim_load(manager, "instance-a");
    asylo_client *b = sim_load(manager, "instance-b");
    assert_int_equal(count(a), 1);
    assert_int_equal(count(a), 2);
    assert_int_equal(count(a), 3);
    assert_int_equal(count(b), 1);
    assert_int_equal(count(a), 4);
    assert_int_equal(count(b), 2);
    /* Entry tables are separate too: finalizing one leaves the other. */
    asylo_status status;
    expect_ok("finalize a", asylo_client_finalize(a, NULL, 0, &status), &status);
    assert_int_equal(count(b), 3);
    destroy(a);
    /* A reload starts from zero. */
    a = sim_load(manager, "instance-a");
    assert_int_equal(count(a), 1);
    destroy(a);
    destroy(b);
}

static void test_symbol_collision(void **state) {
    (void)state;
    /* The host really exports its version (otherwise this proves nothing). */
    int (*exported)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "asylo_test_collision");
    assert_non_null(exported);
    assert_int_equal(exported(), 7);
    asylo_client *client = sim_load(manager, "collision");
    asylo_buffer output = {0};
    asylo_status status;
    expect_ok("collision", asylo_client_call(client, TEST_COLLISION, NULL, 0, &output, &status),
              &status);
    assert_int_equal(buffer_u32(&output), 42);
    asylo_buffer_free(&output);
    destroy(client);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_echo_sizes),
        cmocka_unit_test(test_environment_is_the_enclaves_own),
        cmocka_unit_test(test_exit_calls),
        cmocka_unit_test(test_override_builtin),
        cmocka_unit_test(test_nested_reentry),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_log_reaches_stderr),
        cmocka_unit_test(test_time_and_random),
        cmocka_unit_test(test_instances_are_independent),
        cmocka_unit_test(test_symbol_collision),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
