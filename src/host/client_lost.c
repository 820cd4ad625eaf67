/* Lost enclave instances and the bounded wait of destroy (backend interface
 * v2). Kept apart from client.c: these are the only places the core reacts to
 * an isolated enclave dying or not returning. */
#include <stdatomic.h>

#include "common/log.h"
#include "host/client_internal.h"

#define DEFAULT_DESTROY_TIMEOUT_MS 2000u

void asylo__client_on_lost(void *context, const asylo_status *cause) {
    asylo_client *client = context;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&client->lost, &expected, 1)) {
        return;
    }
    client->lost_cause = *cause;
    client->lost_cause.message[sizeof client->lost_cause.message - 1] = '\0';
    atomic_store(&client->lost, 2);
    /* Calls in flight see it from the backend; new ones from the gate. A
     * client already finalized stays finalized. */
    for (;;) {
        int state = asylo__call_gate_state(&client->gate);
        if (state == ASYLO_CLIENT_FINALIZED || state == ASYLO_CLIENT_LOST ||
            asylo__call_gate_transition(&client->gate, state, ASYLO_CLIENT_LOST, &state)) {
            break;
        }
    }
    asylo__log(ASYLO_LOG_WARNING, "host", client->name, 0, "enclave instance lost: %s",
               client->lost_cause.message);
}

asylo_code asylo__client_lost_status(const asylo_client *client, asylo_status *status) {
    if (atomic_load(&((asylo_client *)client)->lost) != 2) {
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                "enclave '%s' is lost", client->name);
    }
    if (status != NULL) {
        *status = client->lost_cause;
        asylo_status_prefix(status, "enclave '%s' is lost", client->name);
    }
    return client->lost_cause.code;
}

void asylo__client_bound_calls(asylo_client *client) {
    uint32_t bound =
        client->destroy_timeout_ms == 0 ? DEFAULT_DESTROY_TIMEOUT_MS : client->destroy_timeout_ms;
    if (asylo__call_gate_wait_drained_for(&client->gate, bound)) {
        return;
    }
    const asylo__backend *backend = client->backend;
    if (backend->interface_version < 2 || backend->terminate == NULL) {
        asylo__log(ASYLO_LOG_WARNING, "host", client->name, 0,
                   "calls still in flight after %u ms and backend %s cannot terminate the "
                   "enclave: destroy keeps waiting for them",
                   bound, backend->name);
        return;
    }
    asylo_status status;
    if (backend->terminate(client->backend_state, &status) != ASYLO_OK) {
        asylo__log(ASYLO_LOG_WARNING, "host", client->name, 0, "terminate failed: %s",
                   status.message);
        return;
    }
    asylo__log(ASYLO_LOG_INFO, "host", client->name, 0,
               "calls still in flight after %u ms: enclave terminated", bound);
}
