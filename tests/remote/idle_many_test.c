/* Many remote enclaves left idle in one host process keep their connections.
 *
 * Regression test: while no host thread waits on a completion queue, the
 * acknowledgements of the client's keepalive pings were read only by gRPC's
 * backup poller, which handles one socket event per tick. With 10 or more
 * idle enclaves the acknowledgements piled up unread and every connection
 * was dropped within a few seconds ("keepalive watchdog timeout"), while a
 * single idle enclave survived. The enclaves here are idle long enough for
 * two whole keepalive periods (a ping, then its timeout) to pass. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "asylo/asylo.h"
#include "remote_util.h"
#include "transport/call_util.h"

/* Run by hand with more: remote_idle_many_test [ENCLAVES [IDLE_MS]]. */
#define DEFAULT_ENCLAVES 16
#define MAX_ENCLAVES 256
/* Two keepalive periods plus a second of slack: a connection whose ping
 * answers go unread is dropped within one period. */
#define DEFAULT_IDLE_MS                                                                            \
    (2 * (ASYLO__DEFAULT_KEEPALIVE_TIME_MS + ASYLO__DEFAULT_KEEPALIVE_TIMEOUT_MS) + 1000)

static int enclaves = DEFAULT_ENCLAVES;
static int idle_ms = DEFAULT_IDLE_MS;

static void test_many_idle_enclaves_survive(void **state) {
    (void)state;
    asylo_status status;
    char text[ASYLO_STATUS_MESSAGE_SIZE + 64];
    asylo_manager *manager = NULL;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_local_provision_options local;
    asylo_local_provision_options_init(&local);
    local.proxy_path = ASYLO_PROXY_PATH;
    /* One local provision runs one proxy: one each. */
    asylo_remote_provision *provisions[MAX_ENCLAVES] = {0};
    asylo_remote_config remotes[MAX_ENCLAVES];
    asylo_client *clients[MAX_ENCLAVES] = {0};
    char names[MAX_ENCLAVES][32];
    for (int i = 0; i < enclaves; i++) {
        assert_int_equal(asylo_local_provision_create(&local, &provisions[i], &status), ASYLO_OK);
        asylo_remote_config_init(&remotes[i]);
        remotes[i].provision = provisions[i];
        snprintf(names[i], sizeof names[i], "idle-%d", i);
        asylo_load_config config;
        asylo_load_config_init(&config);
        config.name = names[i];
        config.backend = "remote";
        config.enclave_path = TEST_ENCLAVE_PATH;
        config.backend_config = &remotes[i];
        if (asylo_manager_load(manager, &config, &clients[i], &status) != ASYLO_OK) {
            fail_msg("load %s: %s", names[i], asylo_status_format(&status, text, sizeof text));
        }
    }
    /* Nothing in this process waits on gRPC meanwhile. */
    util_sleep_ms(idle_ms);
    int failed = 0;
    for (int i = 0; i < enclaves; i++) {
        asylo_buffer output = {0};
        if (asylo_client_run(clients[i], "still there?", 12, &output, &status) != ASYLO_OK) {
            print_error("%s lost after %d ms idle: %s\n", names[i], idle_ms,
                        asylo_status_format(&status, text, sizeof text));
            failed++;
            continue;
        }
        if (output.size != 12 || memcmp(output.data, "still there?", 12) != 0) {
            print_error("%s answered %zu wrong bytes\n", names[i], output.size);
            failed++;
        }
        asylo_buffer_free(&output);
    }
    for (int i = 0; i < enclaves; i++) {
        /* A lost enclave's destroy reports UNAVAILABLE: only the calls count. */
        asylo_manager_destroy_client(manager, clients[i], NULL, 0, &status);
    }
    asylo_manager_destroy(manager);
    for (int i = 0; i < enclaves; i++) {
        asylo_remote_provision_destroy(provisions[i]);
    }
    assert_int_equal(util_children_report("after destroying every enclave"), 0);
    if (failed > 0) {
        fail_msg("%d of %d idle enclaves did not answer after %d ms idle", failed, enclaves,
                 idle_ms);
    }
}

int main(int argc, char **argv) {
    if (argc > 1) {
        enclaves = atoi(argv[1]);
        if (enclaves < 1 || enclaves > MAX_ENCLAVES) {
            fprintf(stderr, "usage: %s [ENCLAVES (1-%d) [IDLE_MS]]\n", argv[0], MAX_ENCLAVES);
            return 2;
        }
    }
    if (argc > 2) {
        idle_ms = atoi(argv[2]);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_idle_enclaves_survive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
