/* Destroying remote enclaves in awkward moments, one group per argv[1] so
 * ctest runs them in parallel:
 *
 *   provision_first  the provision is destroyed before the client that uses
 *                    it: the client keeps working, its destroy stops the
 *                    proxy and carries out the provision's destroy (no crash,
 *                    no leak, no process left).
 *
 * Every status is printed with its code and message; no proxy is left. */
#include <pthread.h>
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
    asylo_code code = asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    printf("destroy after the provision's destroy: %s\n",
           code == ASYLO_OK ? "OK" : util_status_text(&status));
    assert_int_equal(code, ASYLO_OK);
    assert_false(util_process_exists(proxy));
    asylo_manager_destroy(manager);
    assert_int_equal(util_children_report("after provision_first"), 0);
    /* NULL is harmless. */
    asylo_remote_provision_destroy(NULL);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s provision_first\n", argv[0]);
        return 2;
    }
    /* Orphaned proxies become our children, so none escapes the test. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGPIPE, SIG_IGN);
    int failed = 1;
    if (strcmp(argv[1], "provision_first") == 0) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_provision_destroyed_first)};
        failed = cmocka_run_group_tests_name("provision_first", tests, NULL, NULL);
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
