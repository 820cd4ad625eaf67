/* fleet.reprovision: a proxy that is gone between its provisioning and the
 * LOAD (its server was kill -9'd: a fleet member lost) makes the remote
 * backend finalize that provision and provision once more, so the load
 * succeeds; a second loss fails the load with UNAVAILABLE.
 *
 *   reprovision_test REMOTE_PROXY ENCLAVE
 *
 * A RemoteProvision hands out a dead endpoint (a unix socket nobody serves)
 * for its first `dead` provisions, then delegates to local provisioning. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asylo/client.h"
#include "asylo/manager.h"
#include "asylo/remote.h"

typedef struct flaky_provision {
    asylo_remote_provision base;
    asylo_remote_provision *inner;
    int dead; /* provisions left that return a dead endpoint */
    int provisions;
    int finalizes;
    int delegated; /* the current provision went to inner */
} flaky_provision;

static asylo_code flaky_run(asylo_remote_provision *base, const char *enclave_path,
                            const char *target_backend, int64_t timeout_ms,
                            asylo_remote_endpoint *endpoint, asylo_status *status) {
    flaky_provision *self = (flaky_provision *)base;
    self->provisions++;
    if (self->dead > 0) {
        self->dead--;
        self->delegated = 0;
        memset(endpoint, 0, sizeof *endpoint);
        snprintf(endpoint->address, sizeof endpoint->address, "unix:/tmp/asylo-fleet-gone-%d.sock",
                 (int)getpid());
        snprintf(endpoint->token, sizeof endpoint->token, "0000");
        snprintf(endpoint->enclave_path, sizeof endpoint->enclave_path, "%s", enclave_path);
        return asylo_status_ok(status);
    }
    self->delegated = 1;
    return self->inner->provision(self->inner, enclave_path, target_backend, timeout_ms, endpoint,
                                  status);
}

static asylo_code flaky_finalize(asylo_remote_provision *base, asylo_status *status) {
    flaky_provision *self = (flaky_provision *)base;
    self->finalizes++;
    return self->delegated ? self->inner->finalize(self->inner, status) : asylo_status_ok(status);
}

static void flaky_destroy(asylo_remote_provision *base) {
    (void)base;
}

/* Loads with `dead` dead endpoints first; returns the load's code. */
static asylo_code load_with(const char *proxy, const char *enclave, int dead,
                            flaky_provision *flaky, asylo_status *status) {
    asylo_local_provision_options local;
    asylo_local_provision_options_init(&local);
    local.proxy_path = proxy;
    local.listen_address = "unix:";
    memset(flaky, 0, sizeof *flaky);
    flaky->base.version = ASYLO_REMOTE_PROVISION_VERSION;
    flaky->base.provision = flaky_run;
    flaky->base.finalize = flaky_finalize;
    flaky->base.destroy = flaky_destroy;
    flaky->dead = dead;
    asylo_code code = asylo_local_provision_create(&local, &flaky->inner, status);
    asylo_manager *manager = NULL;
    asylo_client *client = NULL;
    if (code == ASYLO_OK) {
        code = asylo_manager_create(&manager, status);
    }
    if (code == ASYLO_OK) {
        asylo_remote_config remote;
        asylo_remote_config_init(&remote);
        remote.provision = &flaky->base;
        asylo_load_config load;
        asylo_load_config_init(&load);
        load.name = "reprovision";
        load.backend = "remote";
        load.enclave_path = enclave;
        load.backend_config = &remote;
        code = asylo_manager_load(manager, &load, &client, status);
    }
    if (client != NULL) {
        asylo_manager_destroy_client(manager, client, NULL, 0, NULL);
    }
    asylo_manager_destroy(manager);
    asylo_remote_provision_destroy(flaky->inner);
    return code;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: reprovision_test REMOTE_PROXY ENCLAVE\n");
        return 2;
    }
    asylo_status status;
    flaky_provision flaky;
    asylo_code code = load_with(argv[1], argv[2], 1, &flaky, &status);
    if (code != ASYLO_OK || flaky.provisions != 2 || flaky.finalizes != 2) {
        fprintf(stderr,
                "FAIL: one lost proxy: load %s (%s), %d provisions and %d finalizes "
                "(want OK, 2, 2)\n",
                asylo_code_name(code), code == ASYLO_OK ? "" : status.message, flaky.provisions,
                flaky.finalizes);
        return 1;
    }
    printf("one proxy lost before LOAD: provisioned again, loaded\n");
    code = load_with(argv[1], argv[2], 2, &flaky, &status);
    if (code != ASYLO_UNAVAILABLE || flaky.provisions != 2 || flaky.finalizes != 2) {
        fprintf(stderr,
                "FAIL: two lost proxies: load %s, %d provisions and %d finalizes "
                "(want UNAVAILABLE, 2, 2)\n",
                asylo_code_name(code), flaky.provisions, flaky.finalizes);
        return 1;
    }
    printf("two lost: UNAVAILABLE after one retry: %s\n", status.message);
    return 0;
}
