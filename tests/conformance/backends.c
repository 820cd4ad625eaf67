#include "backends.h"

#include <string.h>

static const char *remote_listen_address = "unix:";
static bool remote_ssl;
static const char *remote_certs_dir;

void conf_remote_transport(const char *listen_address, bool ssl, const char *certs_dir) {
    remote_listen_address = listen_address;
    remote_ssl = ssl;
    remote_certs_dir = certs_dir;
}

static bool prepare_nothing(conf_slot *slot, asylo_load_config *config, asylo_status *status) {
    (void)slot, (void)config, (void)status;
    return true;
}

static void release_nothing(conf_slot *slot) {
    (void)slot;
}

/* One local provision per enclave: a provision serves one enclave at a time. */
static bool prepare_remote(conf_slot *slot, asylo_load_config *config, asylo_status *status) {
    if (!util_remote_setup(&slot->remote, ASYLO_PROXY_PATH, remote_listen_address, remote_ssl,
                           remote_certs_dir, status)) {
        return false;
    }
    slot->has_remote = true;
    config->backend_config = &slot->remote.config;
    return true;
}

static void release_remote(conf_slot *slot) {
    if (slot->has_remote) {
        util_remote_teardown(&slot->remote);
        slot->has_remote = false;
    }
}

conf_backend conf_backend_named(const char *name) {
    if (strcmp(name, "sim") == 0) {
        return (conf_backend){name, true, prepare_nothing, release_nothing, TEST_ENCLAVE_PATH};
    }
    if (strcmp(name, "remote") == 0) {
        return (conf_backend){name, false, prepare_remote, release_remote, TEST_ENCLAVE_PATH};
    }
    if (strcmp(name, "kvm") == 0) {
        return (conf_backend){name, false, prepare_nothing, release_nothing, TEST_ENCLAVE_KVM_PATH};
    }
    return (conf_backend){name, false, prepare_nothing, release_nothing, TEST_ENCLAVE_PATH};
}
