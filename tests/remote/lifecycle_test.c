/* Destroying remote enclaves in awkward moments, one group per argv[1] so
 * ctest runs them in parallel:
 *
 *   provision_first  the provision is destroyed before the client that uses
 *                    it: the client keeps working, its destroy stops the
 *                    proxy and carries out the provision's destroy (no crash,
 *                    no leak, no process left).
 *   frozen           the proxy is SIGSTOPped (a frozen machine): destroy
 *                    returns within 4 s and the proxy is killed and reaped.
 *   spin_destroy     a call spins forever inside the enclave (call_timeout_ms
 *                    0, the default): destroy gives up after its wait,
 *                    cancels the call (which returns), and returns within
 *                    its bound with the proxy gone.
 *   spin_host_kill   a host whose call spins forever in the enclave is
 *                    killed with SIGKILL: its proxy exits by itself within a
 *                    bound (its exit watchdog), not at 100% CPU forever. This
 *                    binary is its own host (argv[1] "spin_host") and the
 *                    test is the proxy's subreaper.
 *
 * Every status is printed with its code and message; no proxy is left. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "asylo/asylo.h"
#include "remote_util.h"
#include "test_enclave_selectors.h"

/* Host exit selector: the enclave says it is about to spin. */
#define HOST_SPINNING 0x12a0

static atomic_int spinning;

static asylo_code on_spinning(void *context, asylo_client *client, uint32_t selector,
                              const uint8_t *input, size_t input_size, asylo_output *output,
                              asylo_status *status) {
    (void)context, (void)client, (void)selector, (void)input, (void)input_size, (void)output;
    atomic_store(&spinning, 1);
    if (context != NULL) {
        printf("spinning\n");
        fflush(stdout);
    }
    return asylo_status_ok(status);
}

static asylo_client *load_remote_with(asylo_manager *manager, const char *name,
                                      const asylo_remote_config *remote, void *spin_context,
                                      const char *enclave_path) {
    const asylo_exit_handler handlers[] = {{HOST_SPINNING, on_spinning, spin_context}};
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = name;
    config.backend = "remote";
    config.enclave_path = enclave_path;
    config.backend_config = remote;
    config.exit_handlers = handlers;
    config.exit_handler_count = 1;
    asylo_client *client = NULL;
    asylo_status status;
    if (asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fail_msg("load %s: %s", name, util_status_text(&status));
    }
    return client;
}

static asylo_client *load_remote(asylo_manager *manager, const char *name,
                                 const asylo_remote_config *remote) {
    return load_remote_with(manager, name, remote, NULL, TEST_ENCLAVE_PATH);
}

static void expect_echo(asylo_client *client, const char *what) {
    asylo_buffer output = {0};
    asylo_status status;
    if (asylo_client_run(client, "echo", 4, &output, &status) != ASYLO_OK) {
        fail_msg("%s: %s", what, util_status_text(&status));
    }
    assert_int_equal(output.size, 4);
    assert_memory_equal(output.data, "echo", 4);
    asylo_buffer_free(&output);
}

/* ---- provision_first ------------------------------------------------------ */

static void test_provision_destroyed_first(void **state) {
    (void)state;
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_client *client = load_remote(manager, "outlives-its-provision", &remote.config);
    pid_t proxy;
    assert_int_equal(util_children(&proxy, 1), 1);

    /* Destroyed while the client still uses it: deferred, not done. */
    asylo_remote_provision_destroy(remote.provision);
    remote.provision = NULL;
    remote.config.provision = NULL;
    expect_echo(client, "run after the provision's destroy");
    assert_true(util_process_exists(proxy));

    /* The client's destroy stops the proxy, then destroys the provision. */
    int64_t start = util_now_ms();
    asylo_code code = asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    printf("destroy after the provision's destroy: %s in %lld ms\n",
           code == ASYLO_OK ? "OK" : util_status_text(&status), (long long)(util_now_ms() - start));
    assert_int_equal(code, ASYLO_OK);
    assert_false(util_process_exists(proxy));
    asylo_manager_destroy(manager);
    assert_int_equal(util_children_report("after provision_first"), 0);
    /* NULL is harmless. */
    asylo_remote_provision_destroy(NULL);
}

/* ---- frozen ------------------------------------------------------------- */

static void test_frozen_proxy(void **state) {
    (void)state;
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_client *client = load_remote(manager, "frozen", &remote.config);
    expect_echo(client, "run before the freeze");
    pid_t proxy;
    assert_int_equal(util_children(&proxy, 1), 1);
    assert_int_equal(kill(proxy, SIGSTOP), 0);
    int64_t start = util_now_ms();
    asylo_code code = asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    int64_t took = util_now_ms() - start;
    printf("destroy with the proxy frozen: %s in %lld ms\n",
           code == ASYLO_OK ? "OK" : util_status_text(&status), (long long)took);
    bool gone = !util_process_exists(proxy);
    if (!gone) {
        kill(proxy, SIGKILL);
    }
    assert_true(gone);
    assert_true(took < 4000);
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    assert_int_equal(util_children_report("after the frozen proxy"), 0);
}

/* ---- spin_destroy --------------------------------------------------------- */

typedef struct spinner {
    asylo_client *client;
    asylo_code code;
    asylo_status status;
} spinner;

static void *spin_in_enclave(void *context) {
    spinner *job = context;
    uint32_t selector = HOST_SPINNING;
    job->code = asylo_client_call(job->client, TEST_SPIN, &selector, 4, NULL, &job->status);
    return NULL;
}

static void wait_spinning(void) {
    for (int i = 0; i < 2000 && !atomic_load(&spinning); i++) {
        util_sleep_ms(5);
    }
    assert_true(atomic_load(&spinning));
}

static void test_spin_destroy(void **state) {
    (void)state;
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    assert_int_equal(remote.config.call_timeout_ms, 0);
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_client *client = load_remote(manager, "spinner", &remote.config);
    pid_t proxy;
    assert_int_equal(util_children(&proxy, 1), 1);
    atomic_store(&spinning, 0);
    spinner job = {.client = client};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, spin_in_enclave, &job), 0);
    wait_spinning();

    int64_t start = util_now_ms();
    asylo_code code = asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    int64_t took = util_now_ms() - start;
    printf("destroy with a call spinning in the enclave: %s in %lld ms\n",
           util_status_text(&status), (long long)took);
    pthread_join(thread, NULL);
    printf("the spinning call: %s\n", util_status_text(&job.status));
    bool gone = !util_process_exists(proxy);
    if (!gone) {
        kill(proxy, SIGKILL);
    }
    assert_true(gone);
    assert_int_equal(code, ASYLO_DEADLINE_EXCEEDED);
    assert_non_null(strstr(status.message, "not finalized"));
    assert_true(job.code != ASYLO_OK);
    /* 5 s wait for the call, then the proxy is stopped: well under 10 s. */
    assert_true(took < 9000);
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    assert_int_equal(util_children_report("after the spinning destroy"), 0);
}

/* ---- spin_host_kill ------------------------------------------------------- */

/* The host this test kills: prints "proxy PID", then "spinning" from inside
 * a call that never returns. */
static int spin_host(void) {
    util_remote remote;
    asylo_status status;
    asylo_manager *manager;
    if (!util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status) ||
        asylo_manager_create(&manager, &status) != ASYLO_OK) {
        fprintf(stderr, "spin host: %s\n", util_status_text(&status));
        return 1;
    }
    asylo_client *client =
        load_remote_with(manager, "spin-host", &remote.config, (void *)1, TEST_ENCLAVE_PATH);
    pid_t proxy;
    if (client == NULL || util_children(&proxy, 1) != 1) {
        return 1;
    }
    printf("proxy %d\n", (int)proxy);
    fflush(stdout);
    uint32_t selector = HOST_SPINNING;
    asylo_client_call(client, TEST_SPIN, &selector, 4, NULL, &status);
    for (;;) {
        pause();
    }
}

static void test_spin_host_kill(void **state) {
    (void)state;
    char self[UTIL_PATH_SIZE];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(length > 0);
    self[length] = '\0';
    char dir[UTIL_PATH_SIZE];
    assert_true(util_make_temp_dir("spin-host", dir, sizeof dir));
    char log_path[UTIL_PATH_SIZE + 32];
    snprintf(log_path, sizeof log_path, "%s/host.log", dir);
    const char *arguments[] = {"spin_host", NULL};
    util_proxy host;
    assert_true(util_proxy_spawn(&host, self, arguments, NULL, log_path, false, 0));
    FILE *out = fdopen(dup(host.stdout_fd), "r");
    assert_non_null(out);
    char line[128];
    int proxy = 0;
    bool spinning_now = false;
    while (!spinning_now && fgets(line, sizeof line, out) != NULL) {
        sscanf(line, "proxy %d", &proxy);
        spinning_now = strcmp(line, "spinning\n") == 0;
    }
    fclose(out);
    if (!spinning_now || proxy <= 0) {
        char *log = util_read_file(log_path);
        util_proxy_kill(&host);
        fail_msg("the host did not start spinning; its log:\n%s", log ? log : "");
    }
    int64_t killed_ms = util_now_ms();
    assert_int_equal(kill(host.pid, SIGKILL), 0);
    assert_true(util_proxy_wait(&host, 5000));
    /* As subreaper we inherit the orphaned proxy and reap it ourselves. */
    int wait_status = 0;
    bool exited = util_wait_child(proxy, 15000, &wait_status);
    int64_t took = util_now_ms() - killed_ms;
    char *log = util_read_file(log_path);
    printf("host killed while its enclave spins: proxy %d %s after %lld ms (%s %d)\n", proxy,
           exited ? "exited" : "still running", (long long)took,
           WIFEXITED(wait_status) ? "exit code" : "signal",
           WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : WTERMSIG(wait_status));
    const char *watchdog = log != NULL ? strstr(log, "did not finish within") : NULL;
    if (watchdog != NULL) {
        printf("proxy log: %.*s\n", (int)strcspn(watchdog, "\n"), watchdog);
    }
    if (!exited) {
        kill(proxy, SIGKILL);
        waitpid(proxy, NULL, 0);
        fail_msg("the proxy outlived its host by 15 s; log:\n%s", log ? log : "");
    }
    free(log);
    util_rmtree(dir);
    /* Noticed at once (the provisioning pipe closes), then the 3 s watchdog. */
    assert_true(took < 8000);
    assert_int_equal(util_children_report("after the host kill"), 0);
}

int main(int argc, char **argv) {
    /* A frozen or spinning enclave inside the proxy's own process (sim) is
     * what these destroy bounds are about. */
    util_target_backend = "sim";
    if (argc != 2) {
        fprintf(stderr, "usage: %s provision_first|frozen|spin_destroy|spin_host_kill\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "spin_host") == 0) {
        return spin_host();
    }
    /* Orphaned proxies become our children, so none escapes the test. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGPIPE, SIG_IGN);
    int failed = 1;
    if (strcmp(argv[1], "provision_first") == 0) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_provision_destroyed_first)};
        failed = cmocka_run_group_tests_name("provision_first", tests, NULL, NULL);
    } else if (strcmp(argv[1], "frozen") == 0) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_frozen_proxy)};
        failed = cmocka_run_group_tests_name("frozen", tests, NULL, NULL);
    } else if (strcmp(argv[1], "spin_destroy") == 0) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_spin_destroy)};
        failed = cmocka_run_group_tests_name("spin_destroy", tests, NULL, NULL);
    } else if (strcmp(argv[1], "spin_host_kill") == 0) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_spin_host_kill)};
        failed = cmocka_run_group_tests_name("spin_host_kill", tests, NULL, NULL);
    } else {
        fprintf(stderr, "unknown group '%s'\n", argv[1]);
        return 2;
    }
    if (util_kill_children() > 0) {
        fprintf(stderr, "children were left behind: killed\n");
        failed = 1;
    }
    return failed;
}
