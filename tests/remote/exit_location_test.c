/* Where exit calls run (DESIGN "The remote backend", asylo/remote.h):
 * "logging, file and user host calls run on the host machine; anything that
 * hands back a pointer or memory, and time, runs on the target".
 *
 * The host registers handlers overriding built-in exit calls and counts them:
 *
 *   ASYLO_SELECTOR_TIME_WALL  over sim the override IS called (the enclave
 *                             reads the host's fake clock, 42 ns); over remote
 *                             it is NOT: the proxy answers time next to the
 *                             enclave, so the enclave sees the real clock.
 *   ASYLO_SELECTOR_RANDOM     same: over remote randomness comes from the
 *                             target and the host's override is never asked.
 *   ASYLO_SELECTOR_LOG        IS called over remote: the proxy forwards
 *                             logging to the host, with the enclave's text.
 *   files                     TEST_FILE_ROUNDTRIP with a relative path over
 *                             remote, with the proxy started in one directory
 *                             and the host's file root (and cwd) another: the
 *                             file is created in the HOST's root (the FILE_UNLINK
 *                             override sees it there and not in the proxy's
 *                             cwd, then removes it itself), so file exit calls
 *                             run in the host process.
 *
 * Result (measured here): exactly as the design says; see the assertions. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "asylo/asylo.h"
#include "asylo/files.h" /* file flags */
#include "remote_util.h"
#include "test_enclave_selectors.h"

#define FAKE_WALL_NS 42

static char temp_dir[UTIL_PATH_SIZE];
static char host_dir[UTIL_PATH_SIZE];
static char proxy_dir[UTIL_PATH_SIZE];

static int time_calls;
static int random_calls;
static int log_calls;
static char last_log[256];
static int unlink_calls;
static bool unlink_saw_file_in_host_cwd;
static bool unlink_saw_file_in_proxy_cwd;

static uint32_t read_u32(const uint8_t *bytes) {
    return (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
           (uint32_t)bytes[3] << 24;
}

static asylo_code fake_time(void *context, asylo_client *client, uint32_t selector,
                            const uint8_t *input, size_t input_size, asylo_output *output,
                            asylo_status *status) {
    (void)context, (void)client, (void)selector, (void)input, (void)input_size;
    time_calls++;
    int64_t nanoseconds = FAKE_WALL_NS;
    return asylo_output_write(output, &nanoseconds, sizeof nanoseconds, status);
}

static asylo_code fake_random(void *context, asylo_client *client, uint32_t selector,
                              const uint8_t *input, size_t input_size, asylo_output *output,
                              asylo_status *status) {
    (void)context, (void)client, (void)selector;
    random_calls++;
    if (input_size != 4) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST, "bad size");
    }
    uint32_t size = read_u32(input);
    uint8_t *space = asylo_output_reserve(output, size, status);
    if (space == NULL) {
        return status->code;
    }
    memset(space, 0, size);
    return asylo_status_ok(status);
}

/* LOG: u32 level, blob text (common/builtins.h). */
static asylo_code record_log(void *context, asylo_client *client, uint32_t selector,
                             const uint8_t *input, size_t input_size, asylo_output *output,
                             asylo_status *status) {
    (void)context, (void)client, (void)selector, (void)output;
    log_calls++;
    if (input_size >= 8) {
        uint32_t length = read_u32(input + 4);
        if (length <= input_size - 8) {
            snprintf(last_log, sizeof last_log, "%.*s", (int)length, (const char *)input + 8);
        }
    }
    return asylo_status_ok(status);
}

/* FILE_UNLINK: blob path. Looks where the file is, then removes it. */
static asylo_code observe_unlink(void *context, asylo_client *client, uint32_t selector,
                                 const uint8_t *input, size_t input_size, asylo_output *output,
                                 asylo_status *status) {
    (void)context, (void)client, (void)selector, (void)output;
    unlink_calls++;
    char path[PATH_MAX];
    uint32_t length = input_size >= 4 ? read_u32(input) : UINT32_MAX;
    if (length == UINT32_MAX || length != input_size - 4 || length >= sizeof path) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST, "bad unlink");
    }
    memcpy(path, input + 4, length);
    path[length] = '\0';
    char in_proxy[UTIL_PATH_SIZE + PATH_MAX];
    snprintf(in_proxy, sizeof in_proxy, "%s/%s", proxy_dir, path);
    unlink_saw_file_in_host_cwd = util_exists(path);
    unlink_saw_file_in_proxy_cwd = util_exists(in_proxy);
    if (unlink(path) != 0) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_HOST, "unlink %s failed",
                                path);
    }
    return asylo_status_ok(status);
}

static const asylo_exit_handler handlers[] = {
    {ASYLO_SELECTOR_LOG, record_log, NULL},
    {ASYLO_SELECTOR_TIME_WALL, fake_time, NULL},
    {ASYLO_SELECTOR_RANDOM, fake_random, NULL},
    {ASYLO_SELECTOR_FILE_UNLINK, observe_unlink, NULL},
};

static void reset_counts(void) {
    time_calls = random_calls = log_calls = unlink_calls = 0;
    last_log[0] = '\0';
    unlink_saw_file_in_host_cwd = unlink_saw_file_in_proxy_cwd = false;
}

static asylo_client *load_rooted(asylo_manager *manager, const char *backend,
                                 const asylo_remote_config *remote, const char *file_root,
                                 bool overrides) {
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = backend;
    config.backend = backend;
    config.enclave_path = TEST_ENCLAVE_PATH;
    if (overrides) {
        config.exit_handlers = handlers;
        config.exit_handler_count = sizeof handlers / sizeof handlers[0];
    }
    config.backend_config = remote;
    config.file_root = file_root;
    asylo_client *client = NULL;
    asylo_status status;
    if (asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fail_msg("load %s: %s", backend, util_status_text(&status));
    }
    return client;
}

/* The host's files live in host_dir, its file root. */
static asylo_client *load(asylo_manager *manager, const char *backend,
                          const asylo_remote_config *remote) {
    return load_rooted(manager, backend, remote, host_dir, true);
}

static void read_times(asylo_client *client, int64_t *wall, int64_t *monotonic) {
    asylo_buffer output = {0};
    asylo_status status;
    assert_int_equal(asylo_client_call(client, TEST_TIME, NULL, 0, &output, &status), ASYLO_OK);
    assert_int_equal(output.size, 16);
    memcpy(wall, output.data, 8);
    memcpy(monotonic, output.data + 8, 8);
    asylo_buffer_free(&output);
}

static void call_ok(asylo_client *client, uint32_t selector, const void *input, size_t size) {
    asylo_buffer output = {0};
    asylo_status status;
    if (asylo_client_call(client, selector, input, size, &output, &status) != ASYLO_OK) {
        fail_msg("call %#x: %s", selector, util_status_text(&status));
    }
    asylo_buffer_free(&output);
}

/* Over sim every built-in override runs in this process: the baseline. */
static void test_sim_calls_host_overrides(void **state) {
    (void)state;
    asylo_manager *manager;
    asylo_status status;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_client *client = load(manager, "sim", NULL);
    reset_counts();
    int64_t wall, monotonic;
    read_times(client, &wall, &monotonic);
    assert_int_equal(time_calls, 1);
    assert_int_equal(wall, FAKE_WALL_NS);
    call_ok(client, TEST_RANDOM, NULL, 0);
    assert_int_equal(random_calls, 1);
    call_ok(client, TEST_LOG, "over sim", 8);
    assert_int_equal(log_calls, 1);
    assert_string_equal(last_log, "over sim");
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    asylo_manager_destroy(manager);
}

static void test_remote_time_on_target_log_and_files_on_host(void **state) {
    (void)state;
    char saved_cwd[PATH_MAX];
    assert_non_null(getcwd(saved_cwd, sizeof saved_cwd));
    /* The proxy starts in proxy_dir (it inherits our cwd at spawn) ... */
    assert_int_equal(chdir(proxy_dir), 0);
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_client *client = load(manager, "remote", &remote.config);
    /* ... and the host works in host_dir from now on. */
    assert_int_equal(chdir(host_dir), 0);
    pid_t proxy;
    assert_int_equal(util_children(&proxy, 1), 1);
    char link[64], proxy_cwd[PATH_MAX] = {0};
    snprintf(link, sizeof link, "/proc/%d/cwd", (int)proxy);
    assert_true(readlink(link, proxy_cwd, sizeof proxy_cwd - 1) > 0);
    assert_string_equal(proxy_cwd, proxy_dir);

    reset_counts();
    /* Time: answered by the proxy, never by the host's override. */
    int64_t wall, monotonic;
    read_times(client, &wall, &monotonic);
    assert_int_equal(time_calls, 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t host_wall = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    assert_true(wall > host_wall - 60 * INT64_C(1000000000) && wall <= host_wall);
    /* Randomness too. */
    call_ok(client, TEST_RANDOM, NULL, 0);
    assert_int_equal(random_calls, 0);
    /* Logging: forwarded to the host, text intact. */
    call_ok(client, TEST_LOG, "over remote", 11);
    assert_int_equal(log_calls, 1);
    assert_string_equal(last_log, "over remote");
    /* Files: relative to the host's cwd. */
    static const char data[] = "written through the host";
    uint8_t input[4 + 13 + 4 + sizeof data];
    uint32_t length = 13;
    memcpy(input, &length, 4);
    memcpy(input + 4, "roundtrip.txt", 13);
    length = sizeof data;
    memcpy(input + 17, &length, 4);
    memcpy(input + 21, data, sizeof data);
    asylo_buffer output = {0};
    if (asylo_client_call(client, TEST_FILE_ROUNDTRIP, input, sizeof input, &output, &status) !=
        ASYLO_OK) {
        fail_msg("file roundtrip: %s", util_status_text(&status));
    }
    assert_int_equal(output.size, sizeof data);
    assert_memory_equal(output.data, data, sizeof data);
    asylo_buffer_free(&output);
    assert_int_equal(unlink_calls, 1);
    assert_true(unlink_saw_file_in_host_cwd);
    assert_false(unlink_saw_file_in_proxy_cwd);
    assert_false(util_exists("roundtrip.txt"));

    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    assert_int_equal(util_children_report("after teardown"), 0);
    assert_int_equal(chdir(saved_cwd), 0);
}

static void expect_refused(asylo_code got, const asylo_status *status, const char *what,
                           const char *needle) {
    if (got != ASYLO_PERMISSION_DENIED || status->origin != ASYLO_ORIGIN_HOST ||
        strstr(status->message, needle) == NULL) {
        fail_msg("%s: expected PERMISSION_DENIED from the host with '%s', got %s", what, needle,
                 util_status_text(status));
    }
}

static asylo_code remote_file_open(asylo_client *client, const char *path, uint32_t flags,
                                   asylo_status *status) {
    uint8_t input[4 + UTIL_PATH_SIZE];
    size_t size = strlen(path);
    assert_true(size < UTIL_PATH_SIZE);
    memcpy(input, &flags, 4);
    memcpy(input + 4, path, size);
    return asylo_client_call(client, TEST_FILE_OPEN, input, 4 + size, NULL, status);
}

/* A compromised target sends whatever paths it likes; the host's file root
 * holds them to host_dir (issue 9 item 6), and without a root nothing opens. */
static void test_remote_file_policy(void **state) {
    (void)state;
    char secret[UTIL_PATH_SIZE], link[UTIL_PATH_SIZE];
    util_join(secret, sizeof secret, temp_dir, "secret.txt");
    assert_true(util_write_file(secret, "secret"));
    util_join(link, sizeof link, host_dir, "escape");
    assert_int_equal(symlink(temp_dir, link), 0);
    asylo_status status;
    for (int rooted = 1; rooted >= 0; rooted--) {
        util_remote remote;
        assert_true(
            util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
        asylo_manager *manager;
        assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
        asylo_client *client =
            load_rooted(manager, "remote", &remote.config, rooted ? host_dir : NULL, false);
        if (rooted) {
            expect_refused(remote_file_open(client, secret, ASYLO_FILE_READ, &status), &status,
                           "absolute path", "absolute");
            expect_refused(remote_file_open(client, "../secret.txt", ASYLO_FILE_READ, &status),
                           &status, "'..'", "'..'");
            expect_refused(remote_file_open(client, "escape/secret.txt", ASYLO_FILE_WRITE, &status),
                           &status, "symlink out of the root", "symbolic link");
            expect_refused(
                asylo_client_call(client, TEST_FILE_UNLINK, secret, strlen(secret), NULL, &status),
                &status, "unlink of an absolute path", "absolute");
            expect_refused(
                asylo_client_call(client, TEST_FILE_UNLINK, "escape/secret.txt", 17, NULL, &status),
                &status, "unlink through a symlink", "symbolic link");
            /* Inside the root it works, over the wire. */
            if (remote_file_open(client, "inside.txt", ASYLO_FILE_WRITE | ASYLO_FILE_CREATE,
                                 &status) != ASYLO_OK) {
                fail_msg("open inside the root: %s", util_status_text(&status));
            }
            char inside[UTIL_PATH_SIZE];
            util_join(inside, sizeof inside, host_dir, "inside.txt");
            assert_true(util_exists(inside));
            assert_int_equal(
                asylo_client_call(client, TEST_FILE_UNLINK, "inside.txt", 10, NULL, &status),
                ASYLO_OK);
            assert_false(util_exists(inside));
        } else {
            expect_refused(remote_file_open(client, "inside.txt", ASYLO_FILE_READ, &status),
                           &status, "no file root", "asylo_load_config.file_root");
            expect_refused(
                asylo_client_call(client, TEST_FILE_UNLINK, secret, strlen(secret), NULL, &status),
                &status, "unlink with no file root", "asylo_load_config.file_root");
        }
        assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
        asylo_manager_destroy(manager);
        util_remote_teardown(&remote);
    }
    char *text = util_read_file(secret);
    assert_non_null(text);
    assert_string_equal(text, "secret");
    free(text);
    unlink(link);
    assert_int_equal(util_children_report("after teardown"), 0);
}

int main(void) {
    asylo_log_set_level(ASYLO_LOG_WARNING);
    char made[UTIL_PATH_SIZE];
    if (!util_make_temp_dir("asylo-remote-exits", made, sizeof made) ||
        realpath(made, temp_dir) == NULL) {
        return 1;
    }
    util_join(host_dir, sizeof host_dir, temp_dir, "host");
    util_join(proxy_dir, sizeof proxy_dir, temp_dir, "proxy");
    if (mkdir(host_dir, 0700) != 0 || mkdir(proxy_dir, 0700) != 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_calls_host_overrides),
        cmocka_unit_test(test_remote_time_on_target_log_and_files_on_host),
        cmocka_unit_test(test_remote_file_policy),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    util_rmtree(temp_dir);
    return failed == 0 ? 0 : 1;
}
