/* Faults of the remote backend, one group per argv[1] so ctest runs them in
 * parallel:
 *
 *   proxy_kill    kill -9 of the proxy while 8 host threads are inside
 *                 TEST_SLEEP 5000: every call returns UNAVAILABLE (at once
 *                 here; the test allows 4 s for a loaded machine), the host
 *                 lives on, destroy returns, the provision reaps the proxy
 *                 (no zombie in /proc), and a new remote enclave loads and
 *                 works afterwards. Also a frozen proxy (SIGSTOP): keepalive
 *                 fails the call with UNAVAILABLE.
 *   host_kill     kill -9 of a host (remote_host_helper) blocked in a call:
 *                 the proxy exits (at once: its sockets close; the test allows
 *                 6 s for a loaded machine) and logs "finishing". This test
 *                 is the proxy's subreaper (PR_SET_CHILD_SUBREAPER), so the
 *                 orphaned proxy becomes our child and is reaped here.
 *                 Listening on "unix:", it also removes its socket directory.
 *   size          a 2 MiB input with max_message_size 1 MiB gives
 *                 RESOURCE_EXHAUSTED and the next call on the enclave works;
 *                 a 2 MiB enclave output (TEST_BIG_OUTPUT) the same, and a
 *                 2 MiB answer of a host exit handler.
 *   output_limit  an enclave that ignores the output sink's RESOURCE_EXHAUSTED
 *                 and returns OK gets RESOURCE_EXHAUSTED on the host; an
 *                 output of exactly max_output_size passes, one byte more
 *                 does not (the limit counts payload bytes, not framing).
 *   deadlines     nothing listening -> UNAVAILABLE fast; a "proxy" that never
 *                 reports its address -> DEADLINE_EXCEEDED within
 *                 provision_timeout_ms; call_timeout_ms shorter than a
 *                 TEST_SLEEP -> DEADLINE_EXCEEDED and the next call works;
 *                 it bounds the whole call: an enclave bouncing exits
 *                 forever, each answered by a nested call, ends by it.
 *   load_timeout  a proxy no host loads exits 3 after --load_timeout_ms.
 *   proxy_end     the enclave ends its proxy: an enclave thread that becomes
 *                 the host's tracee (PTRACE_TRACEME) does not hang destroy;
 *                 an enclave that crashes (SIGSEGV) or calls exit(42): the
 *                 statuses of the call, of a call in flight and of destroy
 *                 name the signal or the exit status.
 *
 * Every status is printed with its code and message. */
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "asylo/asylo.h"
#include "remote_util.h"
#include "test_enclave_selectors.h"

static char dir[UTIL_PATH_SIZE];

static asylo_client *load_remote(asylo_manager *manager, const char *name,
                                 const asylo_remote_config *remote) {
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = name;
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = remote;
    asylo_client *client = NULL;
    asylo_status status;
    if (asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fail_msg("load %s: %s", name, util_status_text(&status));
    }
    return client;
}

static void expect_echo(asylo_client *client, const char *what) {
    asylo_buffer output = {0};
    asylo_status status;
    char input[64];
    memset(input, 'e', sizeof input);
    if (asylo_client_run(client, input, sizeof input, &output, &status) != ASYLO_OK) {
        fail_msg("%s: %s", what, util_status_text(&status));
    }
    assert_int_equal(output.size, sizeof input);
    assert_memory_equal(output.data, input, sizeof input);
    asylo_buffer_free(&output);
}

/* ---- (a) kill -9 of the proxy mid-call ---------------------------------- */

#define THREADS 8

typedef struct sleeper {
    asylo_client *client;
    asylo_code code;
    asylo_status status;
    int64_t returned_ms;
} sleeper;

static void *sleep_in_enclave(void *context) {
    sleeper *job = context;
    uint32_t milliseconds = 5000;
    asylo_buffer output = {0};
    job->code = asylo_client_call(job->client, TEST_SLEEP, &milliseconds, 4, &output, &job->status);
    job->returned_ms = util_now_ms();
    asylo_buffer_free(&output);
    return NULL;
}

static void test_proxy_kill(void **state) {
    (void)state;
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_client *client = load_remote(manager, "doomed", &remote.config);
    pid_t proxy;
    assert_int_equal(util_children(&proxy, 1), 1);

    pthread_t threads[THREADS];
    sleeper jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (sleeper){.client = client};
        assert_int_equal(pthread_create(&threads[i], NULL, sleep_in_enclave, &jobs[i]), 0);
    }
    util_sleep_ms(700); /* every thread is inside its 5 s sleep by now */
    int64_t killed_ms = util_now_ms();
    assert_int_equal(kill(proxy, SIGKILL), 0);
    int64_t slowest = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        int64_t after = jobs[i].returned_ms - killed_ms;
        slowest = after > slowest ? after : slowest;
        if (i == 0) {
            printf("in-flight call after kill -9: %s\n", util_status_text(&jobs[i].status));
        }
        if (jobs[i].code != ASYLO_UNAVAILABLE) {
            fail_msg("thread %d: %s", i, util_status_text(&jobs[i].status));
        }
    }
    printf("all %d calls returned UNAVAILABLE within %lld ms of the kill\n", THREADS,
           (long long)slowest);
    /* On one machine the socket closes at once (milliseconds); the bound
     * leaves a loaded machine room and stays below the sleeps' own end. */
    assert_true(slowest <= 4000);

    /* Later calls fail fast too. */
    asylo_buffer output = {0};
    int64_t start = util_now_ms();
    assert_int_equal(asylo_client_run(client, "x", 1, &output, &status), ASYLO_UNAVAILABLE);
    printf("call after the kill: %s (%lld ms)\n", util_status_text(&status),
           (long long)(util_now_ms() - start));
    assert_true(util_now_ms() - start <= 4000);

    start = util_now_ms();
    asylo_code code = asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    printf("destroy after the kill: %s (%lld ms)\n",
           code == ASYLO_OK ? "OK" : util_status_text(&status), (long long)(util_now_ms() - start));
    assert_true(util_now_ms() - start <= 10000);
    /* The provision reaped its proxy: no zombie, no child. */
    assert_false(util_process_exists(proxy));
    assert_int_equal(util_children_report("after destroy"), 0);

    /* The host lives on: a new remote enclave (same provision) works. */
    client = load_remote(manager, "reborn", &remote.config);
    expect_echo(client, "after the kill");
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    assert_int_equal(util_children_report("at the end"), 0);
}

/* A proxy that hangs (SIGSTOP: a frozen machine, a cut cable) is noticed by
 * keepalive: the call in flight fails with UNAVAILABLE within a few seconds. */
static void test_proxy_hang(void **state) {
    (void)state;
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_client *client = load_remote(manager, "frozen", &remote.config);
    pid_t proxy;
    assert_int_equal(util_children(&proxy, 1), 1);
    pthread_t thread;
    sleeper job = {.client = client};
    assert_int_equal(pthread_create(&thread, NULL, sleep_in_enclave, &job), 0);
    util_sleep_ms(300);
    int64_t stopped_ms = util_now_ms();
    assert_int_equal(kill(proxy, SIGSTOP), 0);
    pthread_join(thread, NULL);
    int64_t took = job.returned_ms - stopped_ms;
    printf("call in flight when the proxy froze: %s (%lld ms)\n", util_status_text(&job.status),
           (long long)took);
    /* The proxy is ours to end: it would thaw into a dead connection. */
    kill(proxy, SIGKILL);
    assert_int_equal(job.code, ASYLO_UNAVAILABLE);
    /* Keepalive needs about 2 s (plus up to 0.5 s asking the provision how
     * the proxy ended); without it the call would wait forever. The bound
     * leaves a loaded machine room. */
    assert_true(took <= 8000);
    asylo_code code = asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    printf("destroy after the freeze: %s\n", code == ASYLO_OK ? "OK" : util_status_text(&status));
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    assert_false(util_process_exists(proxy));
    assert_int_equal(util_children_report("after the frozen proxy"), 0);
}

/* ---- (b) kill -9 of the host -------------------------------------------- */

/* With tmpdir the proxy listens on "unix:", its socket directory under it. */
static void kill_host_and_watch_proxy(const char *mode, int64_t proxy_exit_bound_ms,
                                      const char *tmpdir) {
    char log_path[UTIL_PATH_SIZE + 32];
    snprintf(log_path, sizeof log_path, "%s/host_%s%s.log", dir, mode, tmpdir ? "_unix" : "");
    const char *arguments[] = {ASYLO_PROXY_PATH, TEST_ENCLAVE_PATH, mode, tmpdir, NULL};
    util_proxy host; /* the helper; its stderr (and its proxy's) goes to log_path */
    assert_true(util_proxy_spawn(&host, HOST_HELPER_PATH, arguments, NULL, log_path, false, 0));
    FILE *out = fdopen(dup(host.stdout_fd), "r");
    assert_non_null(out);
    char line[128];
    int proxy = 0;
    bool calling = false;
    while (!calling && fgets(line, sizeof line, out) != NULL) {
        sscanf(line, "proxy %d", &proxy);
        calling = strcmp(line, "calling\n") == 0;
    }
    if (strcmp(mode, "exit") == 0) {
        /* Wait until the host handler holds the call. */
        assert_non_null(fgets(line, sizeof line, out));
        assert_string_equal(line, "blocked\n");
    } else {
        util_sleep_ms(300); /* inside TEST_SLEEP 1500 */
    }
    fclose(out);
    assert_true(calling);
    assert_true(proxy > 0);
    assert_true(util_process_exists(proxy));
    int64_t killed_ms = util_now_ms();
    assert_int_equal(kill(host.pid, SIGKILL), 0);
    assert_true(util_proxy_wait(&host, 5000));
    assert_true(WIFSIGNALED(host.wait_status));
    /* As subreaper we inherit the orphaned proxy and reap it ourselves. */
    int wait_status = 0;
    bool exited = util_wait_child(proxy, 10000, &wait_status);
    int64_t took = util_now_ms() - killed_ms;
    char *log = util_read_file(log_path);
    printf("host blocked in %s call killed: proxy %d exited %s %d after %lld ms\n", mode, proxy,
           WIFEXITED(wait_status) ? "with code" : "by signal",
           WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : WTERMSIG(wait_status),
           (long long)took);
    const char *finishing = log != NULL ? strstr(log, "finishing") : NULL;
    if (finishing != NULL) {
        printf("proxy log: %.*s\n", (int)strcspn(finishing, "\n"), finishing);
    }
    if (!exited) {
        kill(proxy, SIGKILL);
        waitpid(proxy, NULL, 0);
        fail_msg("the proxy did not exit after its host died; log:\n%s", log ? log : "");
    }
    assert_true(took <= proxy_exit_bound_ms);
    assert_non_null(finishing);
    free(log);
    assert_int_equal(util_children_report("after the host kill"), 0);
}

static int count_socket_directories(const char *tmpdir) {
    DIR *directory = opendir(tmpdir);
    assert_non_null(directory);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        count += strncmp(entry->d_name, "asylo-proxy-", 12) == 0;
    }
    closedir(directory);
    return count;
}

/* The proxy owns its unix socket directory: a host killed with SIGKILL
 * cannot remove it, so the proxy does when it exits. */
static void test_host_kill_unix_socket_dir(void **state) {
    (void)state;
    char tmpdir[UTIL_PATH_SIZE + 32];
    snprintf(tmpdir, sizeof tmpdir, "%s/unix_tmp", dir);
    assert_int_equal(mkdir(tmpdir, 0700), 0);
    kill_host_and_watch_proxy("exit", 6000, tmpdir);
    /* The proxy was reaped: whatever it removes is removed by now. */
    int left = count_socket_directories(tmpdir);
    printf("socket directories left under %s after the host's kill -9: %d\n", tmpdir, left);
    assert_int_equal(left, 0);
}

static void test_host_kill_blocked_in_exit(void **state) {
    (void)state;
    kill_host_and_watch_proxy("exit", 6000, NULL);
}

/* The enclave itself is busy for 1.5 s: the proxy finalizes it when the call
 * returns, then exits (the sim backend cannot interrupt trusted code). */
static void test_host_kill_busy_enclave(void **state) {
    (void)state;
    kill_host_and_watch_proxy("sleep", 1500 + 6000, NULL);
}

/* ---- (c) size limits ------------------------------------------------------ */

/* Answers an exit call with `size` (u32 input) bytes. */
static asylo_code host_big_reply(void *context, asylo_client *client, uint32_t selector,
                                 const uint8_t *input, size_t input_size, asylo_output *output,
                                 asylo_status *status) {
    (void)context, (void)client, (void)selector;
    uint32_t size = 0;
    if (input_size == 4) {
        memcpy(&size, input, 4);
    }
    uint8_t *space = asylo_output_reserve(output, size, status);
    if (space == NULL) {
        return status->code;
    }
    memset(space, 0x11, size);
    return asylo_status_ok(status);
}

static void test_size_limits(void **state) {
    (void)state;
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    remote.config.max_message_size = 1u << 20;
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    static const asylo_exit_handler big_reply[] = {{TEST_HOST_ECHO, host_big_reply, NULL}};
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "bounded";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.exit_handlers = big_reply;
    config.exit_handler_count = 1;
    config.backend_config = &remote.config;
    asylo_client *client = NULL;
    assert_int_equal(asylo_manager_load(manager, &config, &client, &status), ASYLO_OK);

    size_t big = 2u << 20;
    uint8_t *input = calloc(1, big);
    assert_non_null(input);
    asylo_buffer output = {0};
    assert_int_equal(asylo_client_run(client, input, big, &output, &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    printf("2 MiB input, 1 MiB limit: %s\n", util_status_text(&status));
    free(input);
    expect_echo(client, "after an oversized input");

    uint32_t size = (uint32_t)big;
    assert_int_equal(asylo_client_call(client, TEST_BIG_OUTPUT, &size, 4, &output, &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    printf("2 MiB output, 1 MiB limit: %s\n", util_status_text(&status));
    assert_int_equal(output.size, 0);
    expect_echo(client, "after an oversized output");
    /* The host's answer to an exit call over the limit: the enclave gets
     * RESOURCE_EXHAUSTED instead and hands it back; the stream lives on. */
    uint32_t exit_input[2] = {TEST_HOST_ECHO, 2u << 20};
    assert_int_equal(
        asylo_client_call(client, TEST_EXIT_CALL, exit_input, sizeof exit_input, &output, &status),
        ASYLO_RESOURCE_EXHAUSTED);
    printf("2 MiB exit reply, 1 MiB limit: %s\n", util_status_text(&status));
    expect_echo(client, "after an oversized exit reply");
    exit_input[1] = 1000;
    assert_int_equal(
        asylo_client_call(client, TEST_EXIT_CALL, exit_input, sizeof exit_input, &output, &status),
        ASYLO_OK);
    assert_int_equal(output.size, 1000);
    asylo_buffer_free(&output);
    /* Just under the limit still passes. */
    size = (1u << 20) - 4096;
    assert_int_equal(asylo_client_call(client, TEST_BIG_OUTPUT, &size, 4, &output, &status),
                     ASYLO_OK);
    assert_int_equal(output.size, size);
    asylo_buffer_free(&output);

    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    assert_int_equal(util_children_report("after size limits"), 0);
}

/* ---- (c2) the output limit, on payload bytes ------------------------------- */

static asylo_code call_u32_remote(asylo_client *client, uint32_t selector, uint32_t value,
                                  asylo_buffer *output, asylo_status *status) {
    return asylo_client_call(client, selector, &value, sizeof value, output, status);
}

static void expect_exhausted(asylo_code got, const asylo_status *status, const char *what,
                             const char *needle) {
    printf("%s: %s\n", what, util_status_text(status));
    if (got != ASYLO_RESOURCE_EXHAUSTED || strstr(status->message, needle) == NULL) {
        fail_msg("%s: expected RESOURCE_EXHAUSTED with '%s', got %s", what, needle,
                 util_status_text(status));
    }
}

/* An enclave that ignores the sink's RESOURCE_EXHAUSTED and returns OK gets
 * RESOURCE_EXHAUSTED on the host, not a truncated OK (issue 9 item 29). */
static void test_output_limit_enforced(void **state) {
    (void)state;
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "hostile-output";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote.config;
    config.max_output_size = 100000;
    asylo_client *client = NULL;
    assert_int_equal(asylo_manager_load(manager, &config, &client, &status), ASYLO_OK);
    asylo_buffer output = {0};
    assert_int_equal(call_u32_remote(client, TEST_OUTPUT_IGNORING_LIMIT, 100000, &output, &status),
                     ASYLO_OK);
    assert_int_equal(output.size, 100000);
    asylo_buffer_free(&output);
    static const uint32_t over[] = {100001, 200000, 1u << 20};
    for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
        expect_exhausted(
            call_u32_remote(client, TEST_OUTPUT_IGNORING_LIMIT, over[i], &output, &status), &status,
            "hostile enclave over max_output_size",
            "output would exceed its limit of 100000 bytes");
        assert_null(output.data);
    }
    expect_echo(client, "after a hostile oversized output");
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    assert_int_equal(util_children_report("after the output limit"), 0);
}

/* A host exit handler that writes `size` (u32 input) bytes in 64 KiB pieces,
 * ignores every refusal and returns OK. */
static asylo_code host_ignoring_limit(void *context, asylo_client *client, uint32_t selector,
                                      const uint8_t *input, size_t input_size, asylo_output *output,
                                      asylo_status *status) {
    (void)context, (void)client, (void)selector;
    uint32_t size = 0;
    if (input_size == 4) {
        memcpy(&size, input, 4);
    }
    static uint8_t piece[64 * 1024];
    for (uint32_t written = 0; written < size; written += (uint32_t)sizeof piece) {
        asylo_status ignored;
        (void)asylo_output_write(output, piece, sizeof piece, &ignored);
    }
    return asylo_status_ok(status);
}

/* Limits count payload bytes, as on sim: an output of exactly max_output_size
 * passes, one byte more is RESOURCE_EXHAUSTED; an input of exactly
 * max_message_size goes through; and with the defaults a 64 MiB output (the
 * default max_output_size) comes back (issue 9 item 24). */
static void test_payload_limits_are_exact(void **state) {
    (void)state;
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    remote.config.max_message_size = 1u << 20;
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "exact";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote.config;
    config.max_output_size = 100000;
    asylo_client *client = NULL;
    assert_int_equal(asylo_manager_load(manager, &config, &client, &status), ASYLO_OK);
    asylo_buffer output = {0};
    if (call_u32_remote(client, TEST_BIG_OUTPUT, 100000, &output, &status) != ASYLO_OK) {
        fail_msg("output of exactly max_output_size: %s", util_status_text(&status));
    }
    assert_int_equal(output.size, 100000);
    asylo_buffer_free(&output);
    expect_exhausted(call_u32_remote(client, TEST_BIG_OUTPUT, 100001, &output, &status), &status,
                     "one byte over max_output_size", "limit of 100000 bytes");
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    util_remote_teardown(&remote);

    /* max_message_size: an input (echoed by run) of exactly the limit. */
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    remote.config.max_message_size = 1u << 20;
    config.name = "exact-message";
    config.backend_config = &remote.config;
    config.max_output_size = 0;
    static const asylo_exit_handler ignoring[] = {{TEST_HOST_ECHO, host_ignoring_limit, NULL}};
    config.exit_handlers = ignoring;
    config.exit_handler_count = 1;
    assert_int_equal(asylo_manager_load(manager, &config, &client, &status), ASYLO_OK);
    uint8_t *input = calloc(1, (1u << 20) + 1);
    assert_non_null(input);
    if (asylo_client_run(client, input, 1u << 20, &output, &status) != ASYLO_OK) {
        fail_msg("input of exactly max_message_size: %s", util_status_text(&status));
    }
    assert_int_equal(output.size, 1u << 20);
    asylo_buffer_free(&output);
    expect_exhausted(asylo_client_run(client, input, (1u << 20) + 1, &output, &status), &status,
                     "one byte over max_message_size", "maximum message size of 1048576");
    free(input);
    /* The host's own exit handler ignoring the limit of its reply: the
     * enclave gets RESOURCE_EXHAUSTED, not a truncated reply with OK. */
    uint32_t exit_input[2] = {TEST_HOST_ECHO, 2u << 20};
    expect_exhausted(
        asylo_client_call(client, TEST_EXIT_CALL, exit_input, sizeof exit_input, &output, &status),
        &status, "host exit handler over max_message_size",
        "returned OK but its output was refused");
    assert_null(output.data);
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    util_remote_teardown(&remote);

    /* Defaults everywhere: 64 MiB out, as on sim. */
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    config.name = "default-limits";
    config.backend_config = &remote.config;
    assert_int_equal(asylo_manager_load(manager, &config, &client, &status), ASYLO_OK);
    int64_t started = util_now_ms();
    if (call_u32_remote(client, TEST_BIG_OUTPUT, ASYLO_DEFAULT_MAX_OUTPUT_SIZE, &output, &status) !=
        ASYLO_OK) {
        fail_msg("64 MiB output with the defaults: %s", util_status_text(&status));
    }
    printf("64 MiB output over remote: %lld ms\n", (long long)(util_now_ms() - started));
    assert_int_equal(output.size, ASYLO_DEFAULT_MAX_OUTPUT_SIZE);
    assert_int_equal(output.data[ASYLO_DEFAULT_MAX_OUTPUT_SIZE - 1], 0xab);
    asylo_buffer_free(&output);
    expect_exhausted(call_u32_remote(client, TEST_BIG_OUTPUT, ASYLO_DEFAULT_MAX_OUTPUT_SIZE + 1,
                                     &output, &status),
                     &status, "one byte over the default", "limit of 67108864 bytes");
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    assert_int_equal(util_children_report("after exact limits"), 0);
}

/* ---- (d) deadlines -------------------------------------------------------- */

static void expect_load_failure(const asylo_remote_config *remote, const char *what,
                                asylo_code expected, int64_t bound_ms) {
    asylo_manager *manager;
    asylo_status status;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "unreachable";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = remote;
    int64_t start = util_now_ms();
    asylo_code code = asylo_manager_load(manager, &config, NULL, &status);
    int64_t took = util_now_ms() - start;
    printf("%s -> %s (%lld ms)\n", what, util_status_text(&status), (long long)took);
    asylo_manager_destroy(manager);
    assert_int_equal(code, expected);
    assert_true(took <= bound_ms);
}

static void test_nothing_listening(void **state) {
    (void)state;
    /* A port that is bound but not listening: connections are refused. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof address), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &length), 0);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", ntohs(address.sin_port));
    /* The transport retries a refused connection until connect_timeout_ms (the
     * server may still be starting; default 5000 ms), then reports the refusal
     * as UNAVAILABLE: bound it to 1 s here (checked below the default 5 s,
     * with room for a loaded machine). */
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.address = target;
    remote.connect_timeout_ms = 1000;
    expect_load_failure(&remote, "nothing listening on 127.0.0.1", ASYLO_UNAVAILABLE, 4000);
    close(fd);

    char socket_path[UTIL_PATH_SIZE + 32];
    snprintf(socket_path, sizeof socket_path, "unix:%s/nobody.sock", dir);
    remote.address = socket_path;
    expect_load_failure(&remote, "no unix socket", ASYLO_UNAVAILABLE, 4000);
}

static void test_proxy_never_ready(void **state) {
    (void)state;
    /* A "proxy" that takes its flags and never reports an address. */
    char script[UTIL_PATH_SIZE + 32];
    snprintf(script, sizeof script, "%s/silent-proxy.sh", dir);
    assert_true(util_write_file(script, "#!/bin/sh\nexec sleep 30\n"));
    assert_int_equal(chmod(script, 0700), 0);
    asylo_local_provision_options local;
    asylo_local_provision_options_init(&local);
    local.proxy_path = script;
    asylo_remote_provision *provision;
    asylo_status status;
    assert_int_equal(asylo_local_provision_create(&local, &provision, &status), ASYLO_OK);
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.provision = provision;
    remote.provision_timeout_ms = 1000;
    /* Below the default 10 s, with room for a loaded machine. */
    expect_load_failure(&remote, "proxy never reports (provision_timeout_ms 1000)",
                        ASYLO_DEADLINE_EXCEEDED, 5000);
    asylo_remote_provision_destroy(provision);
    assert_int_equal(util_children_report("after the silent proxy"), 0);
}

static void test_call_timeout(void **state) {
    (void)state;
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    remote.config.call_timeout_ms = 800;
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_client *client = load_remote(manager, "hurried", &remote.config);
    uint32_t milliseconds = 5000;
    asylo_buffer output = {0};
    int64_t start = util_now_ms();
    assert_int_equal(asylo_client_call(client, TEST_SLEEP, &milliseconds, 4, &output, &status),
                     ASYLO_DEADLINE_EXCEEDED);
    int64_t took = util_now_ms() - start;
    printf("TEST_SLEEP 5000 with call_timeout_ms 800: %s (%lld ms)\n", util_status_text(&status),
           (long long)took);
    /* The code says the deadline ended it; it cannot fire early, and it
     * fired well before the sleep's end (room for a loaded machine). */
    assert_true(took >= 790 && took <= 4500);
    /* The next call goes on a fresh stream and works. */
    expect_echo(client, "after a deadline");
    /* Destroy finalizes; the proxy's finalize waits for the enclave's sleep
     * (about 4 s more), and the finalize call has the same 800 ms
     * call_timeout_ms as every call (docs/remote.md): DEADLINE_EXCEEDED, and
     * the proxy is still stopped and reaped. */
    start = util_now_ms();
    asylo_code code = asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    printf("destroy while the timed-out call still sleeps on the proxy: %s (%lld ms)\n",
           code == ASYLO_OK ? "OK" : util_status_text(&status), (long long)(util_now_ms() - start));
    assert_int_equal(code, ASYLO_DEADLINE_EXCEEDED);
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    assert_int_equal(util_children_report("after the call timeout"), 0);
}

/* The host's turn of the bounce: enters the enclave again with a 1.5 s
 * TEST_SLEEP (nested in the exit call). */
static asylo_code host_sleep_nested(void *context, asylo_client *client, uint32_t selector,
                                    const uint8_t *input, size_t input_size, asylo_output *output,
                                    asylo_status *status) {
    (void)context, (void)selector, (void)input, (void)input_size, (void)output;
    uint32_t milliseconds = 1500;
    asylo_buffer ignored = {0};
    asylo_code code = asylo_client_call(client, TEST_SLEEP, &milliseconds, 4, &ignored, status);
    asylo_buffer_free(&ignored);
    return code;
}

/* call_timeout_ms bounds the whole call, not each nested entry: an enclave
 * that bounces exits forever, each answered by a nested 1.5 s call, gets
 * DEADLINE_EXCEEDED at 2 s. (A deadline restarted per nested entry let the
 * second nested call run to its end: 3 s at least.) */
static void test_call_timeout_bounds_whole_call(void **state) {
    (void)state;
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    remote.config.call_timeout_ms = 2000;
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    static const asylo_exit_handler handlers[] = {{TEST_HOST_REENTER, host_sleep_nested, NULL}};
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "bouncing";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote.config;
    config.exit_handlers = handlers;
    config.exit_handler_count = 1;
    asylo_client *client;
    if (asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fail_msg("load: %s", util_status_text(&status));
    }
    uint32_t selector = TEST_HOST_REENTER;
    asylo_buffer output = {0};
    int64_t start = util_now_ms();
    asylo_code code = asylo_client_call(client, TEST_EXIT_LOOP, &selector, 4, &output, &status);
    int64_t took = util_now_ms() - start;
    printf("exits bouncing forever with call_timeout_ms 2000: %s (%lld ms)\n",
           util_status_text(&status), (long long)took);
    assert_int_equal(code, ASYLO_DEADLINE_EXCEEDED);
    assert_non_null(strstr(status.message, "call_timeout_ms"));
    /* Not before the bound; well before the 3 s a per-entry deadline gives
     * (room for a loaded machine). */
    assert_true(took >= 1990 && took < 2900);
    start = util_now_ms();
    code = asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    printf("destroy after it: %s (%lld ms)\n", code == ASYLO_OK ? "OK" : util_status_text(&status),
           (long long)(util_now_ms() - start));
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    assert_int_equal(util_children_report("after the bouncing call"), 0);
}

/* ---- (f) how the proxy ends ---------------------------------------------- */

typedef struct destroyer {
    asylo_manager *manager;
    asylo_client *client;
    asylo_code code;
    asylo_status status;
    atomic_bool done;
} destroyer;

static void *destroy_client(void *context) {
    destroyer *job = context;
    job->code = asylo_manager_destroy_client(job->manager, job->client, NULL, 0, &job->status);
    atomic_store(&job->done, true);
    return NULL;
}

/* Destroys on another thread; a destroy still running after bound_ms is a
 * hang: reported, and the process ends there (the stuck thread cannot be
 * joined). */
static asylo_code destroy_bounded(asylo_manager *manager, asylo_client *client, int64_t bound_ms,
                                  asylo_status *status) {
    destroyer *job = calloc(1, sizeof *job);
    assert_non_null(job);
    job->manager = manager;
    job->client = client;
    atomic_init(&job->done, false);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, destroy_client, job), 0);
    int64_t start = util_now_ms();
    while (!atomic_load(&job->done) && util_now_ms() - start < bound_ms) {
        util_sleep_ms(20);
    }
    if (!atomic_load(&job->done)) {
        fprintf(stderr, "FAIL: destroy still blocked after %lld ms\n", (long long)bound_ms);
        fflush(NULL);
        _exit(1);
    }
    pthread_join(thread, NULL);
    asylo_code code = job->code;
    *status = job->status;
    printf("destroy: %s (%lld ms)\n", code == ASYLO_OK ? "OK" : util_status_text(status),
           (long long)(util_now_ms() - start));
    free(job);
    return code;
}

/* An enclave thread that makes itself the host's tracee (PTRACE_TRACEME)
 * must not make destroy hang: the provision reaps the traced thread too,
 * within its bounds. */
static void test_ptrace_traceme(void **state) {
    (void)state;
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_client *client = load_remote(manager, "traced", &remote.config);
    pid_t proxy;
    assert_int_equal(util_children(&proxy, 1), 1);
    /* Several calls: whichever proxy threads serve them become tracees. */
    int traced = 0;
    for (int i = 0; i < 4; i++) {
        int32_t result[2] = {-1, 0};
        asylo_buffer output = {0};
        assert_int_equal(asylo_client_call(client, TEST_PTRACE_TRACEME, NULL, 0, &output, &status),
                         ASYLO_OK);
        assert_int_equal(output.size, sizeof result);
        memcpy(result, output.data, sizeof result);
        asylo_buffer_free(&output);
        traced += result[0] == 0;
        if (i == 0) {
            printf("PTRACE_TRACEME in the enclave: %d (%s)\n", (int)result[0],
                   result[0] == 0 ? "now our tracee" : strerror(result[1]));
        }
    }
    if (traced == 0) {
        printf("SKIP-like: no enclave thread could become our tracee here\n");
    }
    asylo_code code = destroy_bounded(manager, client, 20000, &status);
    (void)code;
    assert_false(util_process_exists(proxy));
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    assert_int_equal(util_children_report("after the traced proxy"), 0);
}

/* The enclave ends its proxy (selector with no input): the call that did
 * it, a call in flight on another thread and destroy all say how, in their
 * status, not only that the peer is unreachable. */
static void expect_proxy_end_named(uint32_t selector, const char *what, const char *expected) {
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_client *client = load_remote(manager, what, &remote.config);
    pthread_t thread;
    sleeper job = {.client = client};
    assert_int_equal(pthread_create(&thread, NULL, sleep_in_enclave, &job), 0);
    util_sleep_ms(300); /* usually inside its sleep by now; either way its status must say */
    asylo_buffer output = {0};
    asylo_code code = asylo_client_call(client, selector, NULL, 0, &output, &status);
    printf("%s: the call: %s\n", what, util_status_text(&status));
    assert_int_equal(code, ASYLO_UNAVAILABLE);
    assert_non_null(strstr(status.message, expected));
    pthread_join(thread, NULL);
    printf("%s: the call in flight: %s\n", what, util_status_text(&job.status));
    assert_int_equal(job.code, ASYLO_UNAVAILABLE);
    assert_non_null(strstr(job.status.message, expected));
    code = destroy_bounded(manager, client, 20000, &status);
    assert_int_equal(code, ASYLO_UNAVAILABLE);
    assert_non_null(strstr(status.message, expected));
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    assert_int_equal(util_children_report(what), 0);
}

static void test_enclave_crash(void **state) {
    (void)state;
    expect_proxy_end_named(TEST_CRASH_SEGV, "crash", "ended by signal 11 (SIGSEGV)");
}

static void test_enclave_exit(void **state) {
    (void)state;
    expect_proxy_end_named(TEST_EXIT_42, "exit42", "exited with status 42");
}

/* ---- (e) no host ever loads ---------------------------------------------- */

static void test_load_timeout(void **state) {
    (void)state;
    char log_path[UTIL_PATH_SIZE + 32];
    snprintf(log_path, sizeof log_path, "%s/idle_proxy.log", dir);
    const char *arguments[] = {"--address=127.0.0.1:0", "--load_timeout_ms=500",
                               "--allow_any_enclave", NULL};
    util_proxy proxy;
    int64_t start = util_now_ms();
    assert_true(util_proxy_spawn(&proxy, ASYLO_PROXY_PATH, arguments, NULL, log_path, true, 10000));
    assert_true(util_proxy_wait(&proxy, 5000));
    int64_t took = util_now_ms() - start;
    printf("idle proxy with --load_timeout_ms=500 exited %d after %lld ms\n",
           WEXITSTATUS(proxy.wait_status), (long long)took);
    assert_true(WIFEXITED(proxy.wait_status));
    assert_int_equal(WEXITSTATUS(proxy.wait_status), 3);
    assert_true(took >= 500 && took <= 10000); /* room for a loaded machine */
    assert_true(util_file_contains(log_path, "no host loaded an enclave within 500 ms"));
}

int main(int argc, char **argv) {
    /* These faults are sim's: the enclave crashes, exits or hangs the proxy's
     * own process (a sandboxed enclave could not; conformance.remote runs the
     * proxy's default). */
    util_target_backend = "sim";
    if (argc != 2) {
        fprintf(stderr,
                "usage: %s proxy_kill|host_kill|size|output_limit|deadlines|"
                "load_timeout|proxy_end\n",
                argv[0]);
        return 2;
    }
    asylo_log_set_level(ASYLO_LOG_ERROR);
    /* Orphans of our children (the helper's proxy) become ours to reap. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (!util_make_temp_dir("asylo-remote-faults", dir, sizeof dir)) {
        return 1;
    }
    const struct CMUnitTest proxy_kill[] = {cmocka_unit_test(test_proxy_kill),
                                            cmocka_unit_test(test_proxy_hang)};
    const struct CMUnitTest host_kill[] = {cmocka_unit_test(test_host_kill_blocked_in_exit),
                                           cmocka_unit_test(test_host_kill_busy_enclave),
                                           cmocka_unit_test(test_host_kill_unix_socket_dir)};
    const struct CMUnitTest size[] = {cmocka_unit_test(test_size_limits)};
    const struct CMUnitTest output_limit[] = {cmocka_unit_test(test_output_limit_enforced),
                                              cmocka_unit_test(test_payload_limits_are_exact)};
    const struct CMUnitTest deadlines[] = {
        cmocka_unit_test(test_nothing_listening), cmocka_unit_test(test_proxy_never_ready),
        cmocka_unit_test(test_call_timeout), cmocka_unit_test(test_call_timeout_bounds_whole_call)};
    const struct CMUnitTest load_timeout[] = {cmocka_unit_test(test_load_timeout)};
    const struct CMUnitTest proxy_end[] = {cmocka_unit_test(test_ptrace_traceme),
                                           cmocka_unit_test(test_enclave_crash),
                                           cmocka_unit_test(test_enclave_exit)};
    int failed;
    if (strcmp(argv[1], "proxy_kill") == 0) {
        failed = cmocka_run_group_tests_name("proxy_kill", proxy_kill, NULL, NULL);
    } else if (strcmp(argv[1], "host_kill") == 0) {
        failed = cmocka_run_group_tests_name("host_kill", host_kill, NULL, NULL);
    } else if (strcmp(argv[1], "size") == 0) {
        failed = cmocka_run_group_tests_name("size", size, NULL, NULL);
    } else if (strcmp(argv[1], "output_limit") == 0) {
        failed = cmocka_run_group_tests_name("output_limit", output_limit, NULL, NULL);
    } else if (strcmp(argv[1], "deadlines") == 0) {
        failed = cmocka_run_group_tests_name("deadlines", deadlines, NULL, NULL);
    } else if (strcmp(argv[1], "proxy_end") == 0) {
        failed = cmocka_run_group_tests_name("proxy_end", proxy_end, NULL, NULL);
    } else if (strcmp(argv[1], "load_timeout") == 0) {
        failed = cmocka_run_group_tests_name("load_timeout", load_timeout, NULL, NULL);
    } else {
        fprintf(stderr, "unknown group '%s'\n", argv[1]);
        return 2;
    }
    /* Whatever a failed test left behind: report it, end it, reap it. */
    int left = util_children_report("at exit");
    util_kill_children();
    util_rmtree(dir);
    return failed == 0 && left == 0 ? 0 : 1;
}
