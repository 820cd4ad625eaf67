/* A host for the kill -9 test: loads the test enclave over the remote backend
 * with local provisioning, prints "proxy PID" and "calling", then blocks in a
 * call until it is killed.
 *
 *   remote_host_helper PROXY ENCLAVE exit|sleep [TMPDIR]
 *     exit   the call is an exit call whose host handler never returns (the
 *            proxy's thread waits on the network)
 *     sleep  the call is TEST_SLEEP 1500 ms (the proxy's thread is busy inside
 *            the enclave)
 *     TMPDIR given: the proxy listens on "unix:" (a socket directory made
 *            under TMPDIR) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asylo/asylo.h"
#include "remote_util.h"
#include "test_enclave_selectors.h"

#define HOST_BLOCK (TEST_HOST_ECHO + 0x40)

static asylo_code block_forever(void *context, asylo_client *client, uint32_t selector,
                                const uint8_t *input, size_t input_size, asylo_output *output,
                                asylo_status *status) {
    (void)context, (void)client, (void)selector, (void)input, (void)input_size, (void)output;
    printf("blocked\n");
    fflush(stdout);
    for (;;) {
        pause();
    }
    return asylo_status_ok(status);
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s PROXY ENCLAVE exit|sleep [TMPDIR]\n", argv[0]);
        return 2;
    }
    if (argc == 5) {
        setenv("TMPDIR", argv[4], 1); /* before any thread */
    }
    asylo_status status;
    asylo_remote_provision *provision;
    asylo_local_provision_options local;
    asylo_local_provision_options_init(&local);
    local.proxy_path = argv[1];
    local.log_level = "info";
    if (argc == 5) {
        local.listen_address = "unix:";
    }
    if (asylo_local_provision_create(&local, &provision, &status) != ASYLO_OK) {
        fprintf(stderr, "helper: %s\n", util_status_text(&status));
        return 1;
    }
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.provision = provision;
    static const asylo_exit_handler handlers[] = {{HOST_BLOCK, block_forever, NULL}};
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "killed-host";
    config.backend = "remote";
    config.enclave_path = argv[2];
    config.exit_handlers = handlers;
    config.exit_handler_count = 1;
    config.backend_config = &remote;
    asylo_manager *manager;
    asylo_client *client;
    if (asylo_manager_create(&manager, &status) != ASYLO_OK ||
        asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fprintf(stderr, "helper: %s\n", util_status_text(&status));
        return 1;
    }
    pid_t proxy;
    if (util_children(&proxy, 1) != 1) {
        fprintf(stderr, "helper: cannot find the proxy\n");
        return 1;
    }
    printf("proxy %d\ncalling\n", (int)proxy);
    fflush(stdout);
    asylo_buffer output = {0};
    if (strcmp(argv[3], "exit") == 0) {
        uint32_t selector = HOST_BLOCK;
        asylo_client_call(client, TEST_EXIT_CALL, &selector, 4, &output, &status);
    } else {
        uint32_t milliseconds = 1500;
        asylo_client_call(client, TEST_SLEEP, &milliseconds, 4, &output, &status);
        printf("returned\n");
        fflush(stdout);
        for (;;) {
            pause();
        }
    }
    return 1;
}
