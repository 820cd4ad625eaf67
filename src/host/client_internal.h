/* The client as the host library sees it. Backends never see this. */
#ifndef ASYLO_HOST_CLIENT_INTERNAL_H
#define ASYLO_HOST_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "asylo/manager.h"
#include "backends/backend.h"
#include "host/call_gate.h"
#include "host/file_table.h"

struct asylo_client {
    asylo_manager *manager;
    struct asylo_client *next; /* the manager's list */
    char name[ASYLO_MAX_ENCLAVE_NAME_SIZE];
    const asylo__backend *backend;
    void *backend_state;
    size_t max_output_size;

    /* asylo_client_state and the run/call entries not yet returned. */
    asylo__call_gate gate;

    asylo_exit_handler *exit_handlers; /* sorted by selector */
    size_t exit_handler_count;
    asylo_exit_handler_fn exit_fallback;
    void *exit_fallback_context;
    asylo__file_table files;

    /* Set once when the backend reports the instance lost (client_lost.c). */
    asylo_status lost_cause;
    _Atomic int lost;
    uint32_t destroy_timeout_ms;
    /* Its share of the process's metrics endpoint, when its backend asked
     * for one (client_metrics.c); else NULL. */
    struct asylo__client_metrics *metrics;
};

/* Creates the client shell (no backend loaded yet). */
asylo_code asylo__client_create(asylo_manager *manager, const asylo_load_config *config,
                                const asylo__backend *backend, asylo_client **client,
                                asylo_status *status);
/* Loads with the backend and initializes; on failure unloads. */
asylo_code asylo__client_load(asylo_client *client, const asylo_load_config *config,
                              asylo_status *status);
/* True while this thread is inside a call on `client` (at any depth, e.g.
 * in one of its exit handlers): finalize and destroy from here would wait
 * for themselves. */
bool asylo__client_is_inside(const asylo_client *client);
/* Frees a client whose load failed. */
void asylo__client_discard(asylo_client *client);
/* Finalizes when running, unloads, frees. */
asylo_code asylo__client_destroy(asylo_client *client, const void *final_input,
                                 size_t final_input_size, asylo_status *status);

/* The host side of exit calls (exit_dispatch.c). */
asylo_code asylo__client_dispatch_exit(void *client, uint32_t selector, const uint8_t *input,
                                       size_t input_size, asylo_output *output,
                                       asylo_status *status);
/* Built-in exit calls (builtin_exits.c): NOT_FOUND for a selector it lacks. */
asylo_code asylo__builtin_exit(asylo_client *client, uint32_t selector, const uint8_t *input,
                               size_t input_size, asylo_output *output, asylo_status *status);

/* Lost instances and bounded destroy (client_lost.c). */
void asylo__client_on_lost(void *client, const asylo_status *cause);
/* The status a call gets on a lost client. */
asylo_code asylo__client_lost_status(const asylo_client *client, asylo_status *status);
/* How long destroy waits for calls in flight and the finalize: the remote
 * backend's own bound, the load config's destroy_timeout_ms for a backend
 * that can terminate, or -1 (no bound: sim cannot interrupt trusted code). */
int64_t asylo__client_destroy_wait_ms(asylo_client *client);
/* Past that bound: the backend abandons (remote) or terminates the enclave,
 * so calls in flight return promptly. */
void asylo__client_stop_calls(asylo_client *client);
/* Terminates the enclave if the destroy's finalize outlives wait_ms; NULL
 * (nothing to stop) where the backend bounds finalize itself or cannot. */
typedef struct asylo__destroy_watchdog asylo__destroy_watchdog;
asylo__destroy_watchdog *asylo__destroy_watchdog_start(asylo_client *client, int64_t wait_ms);
void asylo__destroy_watchdog_stop(asylo__destroy_watchdog *watchdog);

#endif
