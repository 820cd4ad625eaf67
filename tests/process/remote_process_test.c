/* remote on top of process: asylo-remote-proxy (started by local
 * provisioning with --backend=process) runs the enclave in the sandbox; a
 * crash there comes back to the host as a status, the proxy and the host
 * live, and a new load works. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "asylo/asylo.h"
#include "test_enclave_selectors.h"

static asylo_code load(asylo_manager *manager, asylo_remote_provision **provision,
                       asylo_client **client, asylo_status *status) {
    asylo_local_provision_options local;
    asylo_local_provision_options_init(&local);
    local.proxy_path = ASYLO_PROXY_PATH;
    asylo_code code = asylo_local_provision_create(&local, provision, status);
    if (code != ASYLO_OK) {
        return code;
    }
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.provision = *provision;
    remote.target_backend = "process";
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "behind-proxy";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote;
    return asylo_manager_load(manager, &config, client, status);
}

static void test_remote_over_process(void **state) {
    (void)state;
    asylo_manager *manager;
    asylo_status status;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    for (int round = 0; round < 2; round++) {
        asylo_remote_provision *provision = NULL;
        asylo_client *client = NULL;
        asylo_code code = load(manager, &provision, &client, &status);
        if (code == ASYLO_FAILED_PRECONDITION && strstr(status.message, "sandbox needs")) {
            printf("SKIP: %s\n", status.message);
            asylo_remote_provision_destroy(provision);
            asylo_manager_destroy(manager);
            skip();
        }
        if (code != ASYLO_OK) {
            fail_msg("load: %s", status.message);
        }
        asylo_buffer output = {0};
        assert_int_equal(asylo_client_run(client, "abc", 3, &output, &status), ASYLO_OK);
        assert_int_equal(output.size, 3);
        asylo_buffer_free(&output);
        if (round == 0) {
            code = asylo_client_call(client, TEST_HOSTILE_NULL_DEREF, NULL, 0, &output, &status);
            printf("| crash behind the proxy | %s | %s | %s |\n", asylo_code_name(code),
                   asylo_origin_name(status.origin), status.message);
            assert_int_equal(code, ASYLO_ABORTED);
            assert_non_null(strstr(status.message, "SIGSEGV"));
        }
        asylo_manager_destroy_client(manager, client, NULL, 0, &status);
        asylo_remote_provision_destroy(provision);
    }
    asylo_manager_destroy(manager);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_remote_over_process)};
    return cmocka_run_group_tests_name("process.remote", tests, NULL, NULL);
}
