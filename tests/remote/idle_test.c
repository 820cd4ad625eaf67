/* A remote enclave left idle keeps its connection.
 *
 * Regression test: while no call is in flight nobody polls the host's
 * channel, so keepalive answers were read only by gRPC's 5 s backup poller
 * and every connection idle for about 1.5 s was dropped ("keepalive watchdog
 * timeout"). src/transport/channel_poller.c now reads idle connections
 * (remote.idle_many checks many enclaves at once). */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "asylo/asylo.h"
#include "remote_util.h"

static void test_idle_connection_survives(void **state) {
    (void)state;
    asylo_status status;
    char text[ASYLO_STATUS_MESSAGE_SIZE + 64];
    asylo_manager *manager = NULL;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_local_provision_options local;
    asylo_local_provision_options_init(&local);
    local.proxy_path = ASYLO_PROXY_PATH;
    asylo_remote_provision *provision = NULL;
    assert_int_equal(asylo_local_provision_create(&local, &provision, &status), ASYLO_OK);
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.provision = provision;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "idle";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote;
    asylo_client *client = NULL;
    if (asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fail_msg("load: %s", asylo_status_format(&status, text, sizeof text));
    }
    /* Three idle periods, each well past the keepalive timeout of 1 s. */
    for (int round = 0; round < 3; round++) {
        util_sleep_ms(2500);
        asylo_buffer output = {0};
        if (asylo_client_run(client, "still there?", 12, &output, &status) != ASYLO_OK) {
            fail_msg("run after %d s idle: %s", (round + 1) * 5 / 2,
                     asylo_status_format(&status, text, sizeof text));
        }
        assert_int_equal(output.size, 12);
        assert_memory_equal(output.data, "still there?", 12);
        asylo_buffer_free(&output);
    }
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    asylo_manager_destroy(manager);
    asylo_remote_provision_destroy(provision);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idle_connection_survives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
