/* remote on top of kvm: asylo-remote-proxy, started by local provisioning
 * with --backend=kvm, runs the test enclave's kvm image in its micro-VM and
 * the host calls it. A shared object sent to a kvm proxy, and the kvm image
 * sent to a sim proxy, are refused with INVALID_ARGUMENT naming the variant.
 * Skips (77) where /dev/kvm is unusable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "asylo/asylo.h"
#include "backends/kvm/kvm_vm.h"
#include "test_enclave_selectors.h"

static asylo_code load(asylo_manager *manager, const char *backend, const char *path,
                       asylo_remote_provision **provision, asylo_client **client,
                       asylo_status *status) {
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
    remote.target_backend = backend;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "kvm-behind-proxy";
    config.backend = "remote";
    config.enclave_path = path;
    config.backend_config = &remote;
    return asylo_manager_load(manager, &config, client, status);
}

static void test_remote_over_kvm(void **state) {
    (void)state;
    asylo_manager *manager;
    asylo_status status;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_remote_provision *provision = NULL;
    asylo_client *client = NULL;
    asylo_code code = load(manager, "kvm", TEST_ENCLAVE_KVM, &provision, &client, &status);
    if (code != ASYLO_OK) {
        fail_msg("load: %s", status.message);
    }
    asylo_buffer output = {0};
    assert_int_equal(asylo_client_run(client, "abc", 3, &output, &status), ASYLO_OK);
    assert_int_equal(output.size, 3);
    assert_memory_equal(output.data, "abc", 3);
    asylo_buffer_free(&output);
    code = asylo_client_call(client, TEST_GETENV, "PATH", 4, &output, &status);
    printf("| getenv behind a kvm proxy | %s |\n", asylo_code_name(code));
    asylo_buffer_free(&output);
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    asylo_remote_provision_destroy(provision);

    /* The wrong variant for the proxy's backend, both ways. */
    const char *backends[] = {"kvm", "sim"};
    const char *paths[] = {SIM_TEST_ENCLAVE, TEST_ENCLAVE_KVM};
    for (int i = 0; i < 2; i++) {
        provision = NULL;
        client = NULL;
        code = load(manager, backends[i], paths[i], &provision, &client, &status);
        printf("| %s proxy given %s | %s | %s |\n", backends[i], i == 0 ? "a .so" : "a .kvm",
               asylo_code_name(code), status.message);
        assert_int_equal(code, ASYLO_INVALID_ARGUMENT);
        assert_non_null(strstr(status.message, i == 0 ? "BACKENDS kvm" : "kvm backend"));
        asylo_remote_provision_destroy(provision);
    }
    asylo_manager_destroy(manager);
}

int main(void) {
    asylo_status status;
    if (asylo__kvm_probe(&status) != ASYLO_OK) {
        printf("SKIP: %s\n", status.message);
        return 77;
    }
    alarm(120);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_remote_over_kvm)};
    return cmocka_run_group_tests_name("kvm.remote", tests, NULL, NULL);
}
