/* asylo/client.h: the host's handle on one loaded enclave.
 *
 * A client comes from asylo_manager_load and stays valid until
 * asylo_manager_destroy_client (or asylo_manager_destroy). It is the same for
 * every backend: only the load config differs.
 *
 * Lifecycle: uninitialized -> running -> finalizing -> finalized, or -> lost
 * from any of them when an isolated enclave dies (asylo_client_state). The manager
 * initializes during load and never hands out a client whose initialize
 * failed. Run and user calls are allowed only while running (otherwise
 * FAILED_PRECONDITION); after asylo_client_finalize every call fails that way.
 *
 * Threads: run and call may be made from many host threads at once, and from
 * inside exit handlers (nested, up to ASYLO_MAX_CALL_DEPTH deep). Finalize and
 * destroy wait for calls in flight to return (destroy also for a finalize on
 * another thread; on remote only up to a bound, see
 * asylo_manager_destroy_client); calling them from inside a call on the same
 * client, at any depth, fails with FAILED_PRECONDITION rather than deadlock. */
#ifndef ASYLO_CLIENT_H
#define ASYLO_CLIENT_H

#ifdef ASYLO_TRUSTED_H
#error "host headers and asylo/trusted.h (enclave code) cannot be included in one translation unit"
#endif

#include <stddef.h>
#include <stdint.h>

#include "asylo/buffer.h"
#include "asylo/export.h"
#include "asylo/selectors.h"
#include "asylo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct asylo_client asylo_client;

typedef enum asylo_client_state {
    ASYLO_CLIENT_UNINITIALIZED = 0,
    ASYLO_CLIENT_RUNNING = 1,
    ASYLO_CLIENT_FINALIZING = 2,
    ASYLO_CLIENT_FINALIZED = 3,
    /* The enclave instance is gone (crashed, exited, broke the sandbox's
     * rules, or was terminated): every call fails with the cause (UNAVAILABLE,
     * ABORTED or PERMISSION_DENIED, naming what happened); only destroy is
     * left to do. Isolating backends only (process). */
    ASYLO_CLIENT_LOST = 4,
} asylo_client_state;

/* Deepest nesting of host -> enclave -> host -> enclave ... per thread. */
#define ASYLO_MAX_CALL_DEPTH 16

/* Enters the enclave's run callback with input[0..input_size). On success
 * *output holds the enclave's output (possibly empty), owned by the caller,
 * freed with asylo_buffer_free. On failure *output is empty. Output larger than
 * the load config's max_output_size fails with RESOURCE_EXHAUSTED. */
ASYLO_API asylo_code asylo_client_run(asylo_client *client, const void *input, size_t input_size,
                                      asylo_buffer *output, asylo_status *status);

/* Enters the entry handler the enclave registered for `selector` (user range,
 * >= ASYLO_SELECTOR_USER_FIRST; INVALID_ARGUMENT otherwise; NOT_FOUND when the
 * enclave registered none). Output as for run. */
ASYLO_API asylo_code asylo_client_call(asylo_client *client, uint32_t selector, const void *input,
                                       size_t input_size, asylo_buffer *output,
                                       asylo_status *status);

/* Enters the enclave's finalize callback with final_input and moves the client
 * to finalized whatever it returns. The enclave stays loaded until destroy. A
 * second finalize gives FAILED_PRECONDITION. */
ASYLO_API asylo_code asylo_client_finalize(asylo_client *client, const void *final_input,
                                           size_t final_input_size, asylo_status *status);

ASYLO_API asylo_client_state asylo_client_get_state(const asylo_client *client);
/* "uninitialized", "running", "finalizing", "finalized", "lost". */
ASYLO_API const char *asylo_client_state_name(asylo_client_state state);
/* The enclave's name and backend, valid while the client lives. */
ASYLO_API const char *asylo_client_name(const asylo_client *client);
ASYLO_API const char *asylo_client_backend_name(const asylo_client *client);

#ifdef __cplusplus
}
#endif

#endif
