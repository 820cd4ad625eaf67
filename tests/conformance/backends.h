/* What the conformance suite needs to know about one backend: how to prepare
 * a load (its backend_config) and which outcome it documents for an enclave
 * that crashes, aborts, exits or spins. A backend that needs no
 * backend_config and isolates the enclave needs no entry here: the defaults
 * fit it (docs/testing.md, "The conformance suite"). */
#ifndef ASYLO_TESTS_CONFORMANCE_BACKENDS_H
#define ASYLO_TESTS_CONFORMANCE_BACKENDS_H

#include <stdbool.h>

#include "asylo/asylo.h"
#include "remote_util.h"

/* Per loaded enclave: whatever the backend config points into. */
typedef struct conf_slot {
    bool has_remote;
    util_remote remote;
} conf_slot;

typedef struct conf_backend {
    const char *name;
    /* The enclave runs in the host process: a crash, abort or exit in it ends
     * the host, and an infinite loop cannot be interrupted (sim). Otherwise a
     * faulting enclave fails its calls with UNAVAILABLE or ABORTED naming the
     * cause, and destroy returns within DESTROY_BOUND_MS. */
    bool in_host_process;
    /* Fills config->backend_config for one load into slot; false with
     * *status set when it cannot. */
    bool (*prepare)(conf_slot *slot, asylo_load_config *config, asylo_status *status);
    /* Releases what prepare made (after destroy). */
    void (*release)(conf_slot *slot);
    /* The test enclave's image for this backend: the .so, or for kvm the
     * .kvm built from the same sources. */
    const char *enclave_path;
} conf_backend;

/* Transport of the remote backend: "127.0.0.1:0", "[::1]:0" or "unix:", and
 * mutual TLS with the certificates in certs_dir when ssl. */
void conf_remote_transport(const char *listen_address, bool ssl, const char *certs_dir);

/* The entry for `name`: a known one, or the defaults for an isolating
 * backend that needs no config. */
conf_backend conf_backend_named(const char *name);

#endif
