/* A host the observability tests drive: loads a remote enclave (the
 * quickstart enclave) on a proxy, calls run --calls times, --interval_ms
 * apart, and with --hold keeps the enclave loaded until its stdin closes, so
 * a test can scrape the proxy (and this host) while the enclave is live.
 *
 *   obs_host --enclave_path=P (--remote_address=A [--token=T] | --remote_proxy=PATH)
 *            [--calls=N] [--interval_ms=M] [--hold] [--metrics_port=N|any]
 *            [--message=TEXT] [--log_level=L] [--heartbeat_ms=M]
 *
 * While holding, every --heartbeat_ms (default 200; 0: never) it makes one
 * call the enclave refuses (the quickstart's decrypt selector with a 1-byte
 * input: INVALID_ARGUMENT), so the proxy also shows an error code, and the
 * connection carries traffic.
 *
 * stdout, one line each, flushed: "metrics ADDRESS" (with --metrics_port:
 * where this host's remote metrics are served), "calls N" once the calls are
 * done, "done" after the enclave is destroyed. Exit 0 when every call
 * succeeded. */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "asylo/asylo.h"

static const char *flag(const char *argument, const char *name) {
    size_t length = strlen(name);
    return strncmp(argument, name, length) == 0 && argument[length] == '=' ? argument + length + 1
                                                                           : NULL;
}

static int fail(const char *what, const asylo_status *status) {
    char text[ASYLO_STATUS_MESSAGE_SIZE + 64];
    fprintf(stderr, "obs_host: %s: %s\n", what, asylo_status_format(status, text, sizeof text));
    return 1;
}

int main(int argc, char **argv) {
    const char *enclave_path = NULL;
    const char *remote_address = NULL;
    const char *token = NULL;
    const char *remote_proxy = NULL;
    const char *message = "observability test message";
    long calls = 10;
    long interval_ms = 0;
    bool hold = false;
    long heartbeat_ms = 200;
    int metrics_port = 0;
    for (int i = 1; i < argc; i++) {
        const char *value;
        if ((value = flag(argv[i], "--enclave_path")) != NULL) {
            enclave_path = value;
        } else if ((value = flag(argv[i], "--remote_address")) != NULL) {
            remote_address = value;
        } else if ((value = flag(argv[i], "--token")) != NULL) {
            token = value;
        } else if ((value = flag(argv[i], "--remote_proxy")) != NULL) {
            remote_proxy = value;
        } else if ((value = flag(argv[i], "--message")) != NULL) {
            message = value;
        } else if ((value = flag(argv[i], "--calls")) != NULL) {
            calls = strtol(value, NULL, 10);
        } else if ((value = flag(argv[i], "--heartbeat_ms")) != NULL) {
            heartbeat_ms = strtol(value, NULL, 10);
        } else if ((value = flag(argv[i], "--interval_ms")) != NULL) {
            interval_ms = strtol(value, NULL, 10);
        } else if ((value = flag(argv[i], "--metrics_port")) != NULL) {
            metrics_port = strcmp(value, "any") == 0 ? ASYLO_REMOTE_METRICS_ANY_PORT
                                                     : (int)strtol(value, NULL, 10);
        } else if ((value = flag(argv[i], "--log_level")) != NULL) {
            asylo_log_level level;
            asylo_status status;
            if (asylo_log_level_parse(value, &level, &status) != ASYLO_OK) {
                return fail("--log_level", &status);
            }
            asylo_log_set_level(level);
        } else if (strcmp(argv[i], "--hold") == 0) {
            hold = true;
        } else {
            fprintf(stderr, "obs_host: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (enclave_path == NULL || (remote_address == NULL) == (remote_proxy == NULL)) {
        fprintf(stderr, "obs_host: needs --enclave_path and one of --remote_address, "
                        "--remote_proxy\n");
        return 2;
    }

    asylo_status status;
    asylo_remote_provision *provision = NULL;
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.metrics_port = metrics_port;
    if (remote_proxy != NULL) {
        asylo_local_provision_options local;
        asylo_local_provision_options_init(&local);
        local.proxy_path = remote_proxy;
        local.log_level = asylo_log_level_name(asylo_log_get_level());
        if (asylo_local_provision_create(&local, &provision, &status) != ASYLO_OK) {
            return fail("local provision", &status);
        }
        remote.provision = provision;
    } else {
        remote.address = remote_address;
        remote.token = token;
    }
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "observed";
    config.backend = "remote";
    config.backend_config = &remote;
    config.enclave_path = enclave_path;

    int exit_code = 1;
    asylo_manager *manager = NULL;
    asylo_client *client = NULL;
    if (asylo_manager_create(&manager, &status) != ASYLO_OK) {
        exit_code = fail("creating the manager", &status);
        goto out;
    }
    if (asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        exit_code = fail("loading", &status);
        goto out;
    }
    if (metrics_port != 0) {
        char address[128];
        if (asylo_remote_metrics_address(address, sizeof address, &status) != ASYLO_OK) {
            exit_code = fail("asylo_remote_metrics_address", &status);
            goto out;
        }
        printf("metrics %s\n", address);
        fflush(stdout);
    }
    for (long i = 0; i < calls; i++) {
        asylo_buffer sealed = {0};
        if (asylo_client_run(client, message, strlen(message), &sealed, &status) != ASYLO_OK) {
            exit_code = fail("run", &status);
            goto out;
        }
        asylo_buffer_free(&sealed);
        if (interval_ms > 0 && i + 1 < calls) {
            struct timespec pause = {interval_ms / 1000, (interval_ms % 1000) * 1000000L};
            nanosleep(&pause, NULL);
        }
    }
    printf("calls %ld\n", calls);
    fflush(stdout);
    while (hold) {
        struct pollfd input = {.fd = STDIN_FILENO, .events = POLLIN};
        int ready = poll(&input, 1, heartbeat_ms > 0 ? (int)heartbeat_ms : -1);
        if (ready > 0) {
            char buffer[256];
            if (read(STDIN_FILENO, buffer, sizeof buffer) <= 0) {
                break;
            }
        } else if (ready == 0) {
            asylo_buffer ignored = {0};
            asylo_code code =
                asylo_client_call(client, ASYLO_SELECTOR_USER_FIRST, "x", 1, &ignored, &status);
            asylo_buffer_free(&ignored);
            if (code != ASYLO_INVALID_ARGUMENT) {
                exit_code = fail("heartbeat call (expected INVALID_ARGUMENT)", &status);
                goto out;
            }
        }
    }
    exit_code = 0;
out:
    if (client != NULL &&
        asylo_manager_destroy_client(manager, client, NULL, 0, &status) != ASYLO_OK) {
        exit_code = fail("destroying the enclave", &status);
    }
    asylo_manager_destroy(manager);
    asylo_remote_provision_destroy(provision);
    if (exit_code == 0) {
        printf("done\n");
        fflush(stdout);
    }
    return exit_code;
}
