/* fleet_tool: loads enclaves one after another through a provision-server
 * target (one server or a fleet) and says which server ran each, for
 * tests/fleet/fleet_test.sh.
 *
 *   fleet_tool --target=T --image=PATH [--count=N] [--hold] [--deadline_ms=MS]
 *              [security flags]
 *
 * Each load: provision, load with the remote backend, one call, destroy
 * (with --hold: all stay loaded until stdin closes). Sequential loads share
 * one provision object, as an application loading one enclave after another
 * would (its channel, and so round_robin's turn, carries over); --fresh
 * makes a new one per load, like separate processes; --hold needs one per
 * enclave. Prints one line per
 * load, "load I ok server=HOST ms=T call=CODE" or "load I failed CODE ms=T:
 * MESSAGE", then "server HOST count=K" per server and "summary ok=K
 * failed=F". Exit 0 when every load succeeded, 1 otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asylo/client.h"
#include "asylo/manager.h"
#include "asylo/remote.h"
#include "common/clock.h"
#include "test_enclave_selectors.h"
#include "transport/address.h"

#define MAX_LOADS 256

/* A RemoteProvision around the server provision that remembers where the
 * proxy went. */
typedef struct recording_provision {
    asylo_remote_provision base;
    asylo_remote_provision *inner;
    char proxy_host[ASYLO__ADDRESS_MAX_HOST + 1];
} recording_provision;

static asylo_code recording_run(asylo_remote_provision *base, const char *enclave_path,
                                const char *target_backend, int64_t timeout_ms,
                                asylo_remote_endpoint *endpoint, asylo_status *status) {
    recording_provision *self = (recording_provision *)base;
    asylo_code code = self->inner->provision(self->inner, enclave_path, target_backend, timeout_ms,
                                             endpoint, status);
    asylo__address address;
    if (code == ASYLO_OK && asylo__address_parse(endpoint->address, &address, NULL) == ASYLO_OK) {
        snprintf(self->proxy_host, sizeof self->proxy_host, "%s", address.host);
    }
    return code;
}

static asylo_code recording_finalize(asylo_remote_provision *base, asylo_status *status) {
    recording_provision *self = (recording_provision *)base;
    return self->inner->finalize(self->inner, status);
}

static void recording_destroy(asylo_remote_provision *base) {
    recording_provision *self = (recording_provision *)base;
    asylo_remote_provision_destroy(self->inner);
    free(self);
}

static const char *flag_value(const char *argument, const char *name) {
    size_t length = strlen(name);
    return strncmp(argument, name, length) == 0 && argument[length] == '=' ? argument + length + 1
                                                                           : NULL;
}

typedef struct server_count {
    char host[ASYLO__ADDRESS_MAX_HOST + 1];
    int count;
} server_count;

int main(int argc, char **argv) {
    const char *target = NULL;
    const char *image = NULL;
    int count = 1;
    int hold = 0;
    int fresh = 0;
    long long deadline_ms = 0;
    asylo_provision_server_options options;
    asylo_provision_server_options_init(&options);
    for (int i = 1; i < argc; i++) {
        const char *value;
        int consumed = 0;
        asylo_status status;
        if (asylo_security_parse_flag(&options.security, argv[i], NULL, &consumed, &status) !=
            ASYLO_OK) {
            fprintf(stderr, "fleet_tool: %s\n", status.message);
            return 2;
        }
        if (consumed > 0) {
            continue;
        }
        if ((value = flag_value(argv[i], "--target")) != NULL) {
            target = value;
        } else if ((value = flag_value(argv[i], "--image")) != NULL) {
            image = value;
        } else if ((value = flag_value(argv[i], "--count")) != NULL) {
            count = atoi(value);
        } else if ((value = flag_value(argv[i], "--deadline_ms")) != NULL) {
            deadline_ms = atoll(value);
        } else if (strcmp(argv[i], "--hold") == 0) {
            hold = 1;
        } else if (strcmp(argv[i], "--fresh") == 0) {
            fresh = 1;
        } else {
            fprintf(stderr, "fleet_tool: unknown flag '%s'\n", argv[i]);
            return 2;
        }
    }
    if (target == NULL || image == NULL || count < 1 || count > MAX_LOADS) {
        fprintf(stderr, "fleet_tool: --target and --image are required, --count 1..%d\n",
                MAX_LOADS);
        return 2;
    }
    options.server_address = target;
    asylo_status status;
    asylo_manager *manager = NULL;
    if (asylo_manager_create(&manager, &status) != ASYLO_OK) {
        fprintf(stderr, "fleet_tool: %s\n", status.message);
        return 2;
    }
    static asylo_client *clients[MAX_LOADS];
    static recording_provision *provisions[MAX_LOADS];
    static server_count servers[MAX_LOADS];
    int server_total = 0;
    int ok = 0;
    for (int i = 0; i < count; i++) {
        int64_t start = asylo__monotonic_ms();
        recording_provision *provision = NULL;
        asylo_code code = ASYLO_OK;
        if (!hold && !fresh && i > 0 && provisions[0] != NULL) {
            provision = provisions[0];
            provision->proxy_host[0] = '\0';
        } else if ((provision = calloc(1, sizeof *provision)) == NULL) {
            code = ASYLO_RESOURCE_EXHAUSTED;
        } else {
            provision->base.version = ASYLO_REMOTE_PROVISION_VERSION;
            provision->base.provision = recording_run;
            provision->base.finalize = recording_finalize;
            provision->base.destroy = recording_destroy;
            code = asylo_provision_server_provision_create(&options, &provision->inner, &status);
            if (code != ASYLO_OK) {
                free(provision);
                provision = NULL;
            }
        }
        asylo_client *client = NULL;
        if (code == ASYLO_OK) {
            asylo_remote_config remote;
            asylo_remote_config_init(&remote);
            remote.provision = &provision->base;
            remote.security = options.security;
            remote.provision_timeout_ms = deadline_ms;
            asylo_load_config load;
            asylo_load_config_init(&load);
            load.name = "fleet_tool";
            load.backend = "remote";
            load.enclave_path = image;
            load.backend_config = &remote;
            code = asylo_manager_load(manager, &load, &client, &status);
        }
        /* One call shows the enclave runs; it fails only when the enclave's
         * server died under it, which is not a failed load. */
        asylo_code call = ASYLO_OK;
        if (code == ASYLO_OK) {
            asylo_buffer output = {0};
            call = asylo_client_call(client, TEST_COUNTER, NULL, 0, &output, NULL);
            asylo_buffer_free(&output);
        }
        long long took = (long long)(asylo__monotonic_ms() - start);
        if (code == ASYLO_OK) {
            ok++;
            printf("load %d ok server=%s ms=%lld call=%s\n", i, provision->proxy_host, took,
                   asylo_code_name(call));
            int at = 0;
            while (at < server_total && strcmp(servers[at].host, provision->proxy_host) != 0) {
                at++;
            }
            if (at == server_total) {
                snprintf(servers[at].host, sizeof servers[at].host, "%s", provision->proxy_host);
                server_total++;
            }
            servers[at].count++;
        } else {
            printf("load %d failed %s ms=%lld: %s\n", i, asylo_code_name(code), took,
                   status.message);
        }
        fflush(stdout);
        clients[i] = client;
        if (provisions[0] == NULL || hold || fresh) {
            provisions[i] = provision;
        }
        if (!hold) {
            if (client != NULL) {
                asylo_manager_destroy_client(manager, client, NULL, 0, NULL);
                clients[i] = NULL;
            }
            if (fresh) {
                asylo_remote_provision_destroy(provision == NULL ? NULL : &provision->base);
                provisions[i] = NULL;
            }
        }
    }
    for (int i = 0; i < server_total; i++) {
        printf("server %s count=%d\n", servers[i].host, servers[i].count);
    }
    printf("summary ok=%d failed=%d\n", ok, count - ok);
    fflush(stdout);
    if (hold) {
        char byte;
        while (read(0, &byte, 1) > 0) {
        }
    }
    for (int i = 0; i < count; i++) {
        if (clients[i] != NULL) {
            asylo_manager_destroy_client(manager, clients[i], NULL, 0, NULL);
        }
        if (provisions[i] != NULL) {
            asylo_remote_provision_destroy(&provisions[i]->base);
        }
    }
    asylo_manager_destroy(manager);
    return ok == count ? 0 : 1;
}
