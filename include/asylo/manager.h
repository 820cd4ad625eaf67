/* asylo/manager.h: loads enclaves by name, hands out clients, destroys them.
 *
 *     asylo_manager *manager;
 *     asylo_manager_create(&manager, &status);
 *     asylo_load_config config;
 *     asylo_load_config_init(&config);
 *     config.name = "demo";
 *     config.backend = "sim";
 *     config.enclave_path = "demo_enclave.so";
 *     asylo_client *client;
 *     if (asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) ...
 *     asylo_client_run(client, ...);
 *     asylo_manager_destroy_client(manager, client, NULL, 0, &status);
 *     asylo_manager_destroy(manager);
 *
 * A manager is thread-safe: load, get and destroy may run from several threads.
 * Every destroy and free function of the API (asylo_manager_destroy,
 * asylo_manager_destroy_client, asylo_buffer_free,
 * asylo_remote_provision_destroy) takes NULL as a harmless no-op.
 * There may be several managers in one process; enclave names are unique
 * within one manager. */
#ifndef ASYLO_MANAGER_H
#define ASYLO_MANAGER_H

#ifdef ASYLO_TRUSTED_H
#error "host headers and asylo/trusted.h (enclave code) cannot be included in one translation unit"
#endif

#include <stddef.h>
#include <stdint.h>

#include "asylo/buffer.h"
#include "asylo/client.h"
#include "asylo/enclave_config.h"
#include "asylo/export.h"
#include "asylo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct asylo_manager asylo_manager;

/* A host handler for an exit call. It runs on the thread that entered the
 * enclave (for the remote backend too), may re-enter `client` (nested), and
 * writes its result into `output`. Its input is untrusted enclave output:
 * validate it. A non-OK code reaches the enclave with origin "host". */
typedef asylo_code (*asylo_exit_handler_fn)(void *context, asylo_client *client, uint32_t selector,
                                            const uint8_t *input, size_t input_size,
                                            asylo_output *output, asylo_status *status);

typedef struct asylo_exit_handler {
    uint32_t selector; /* user range, or a built-in selector to override it */
    asylo_exit_handler_fn handler;
    void *context;
} asylo_exit_handler;

#define ASYLO_MAX_EXIT_HANDLERS 256
#define ASYLO_MAX_ENCLAVE_NAME_SIZE 128
#define ASYLO_DEFAULT_MAX_OUTPUT_SIZE (64u << 20)

typedef struct asylo_load_config {
    /* Set by asylo_load_config_init: the size of this struct the program was
     * compiled with (asylo/version.h). 0 or a size no asylo-c layout had is
     * INVALID_ARGUMENT naming asylo_load_config. */
    size_t struct_size;
    /* Unique within the manager: 1..127 bytes of [A-Za-z0-9._-]. */
    const char *name;
    /* Which backend runs the enclave: "sim", "process", "remote". Required: asylo-c never
     * picks a weaker backend for you. */
    const char *backend;
    /* Path of the enclave image (for remote: on the target machine, or the
     * local file a provisioner sends). */
    const char *enclave_path;
    /* For development: with sim, keeps the loaded copy of the image on disk
     * until unload so debuggers and sanitizers can name enclave frames, and
     * allows an unsigned image (a load without debug needs a valid asylo-sign
     * signature). The enclave's identity then says debug. */
    int debug;
    /* Handed to the enclave's initialize. */
    asylo_enclave_config enclave_config;
    /* Host handlers by selector; copied at load. A handler for a built-in
     * selector replaces the built-in. */
    const asylo_exit_handler *exit_handlers;
    size_t exit_handler_count;
    /* Called for selectors with no handler and no built-in; NULL gives the
     * enclave NOT_FOUND. */
    asylo_exit_handler_fn exit_fallback;
    void *exit_fallback_context;
    /* Backend-specific settings, e.g. a const asylo_remote_config * for
     * "remote", an optional const asylo_process_config * for "process";
     * NULL for "sim". Each backend checks the type it gets. */
    const void *backend_config;
    /* Largest output accepted from one call (0: ASYLO_DEFAULT_MAX_OUTPUT_SIZE). */
    size_t max_output_size;
    /* The only directory the enclave's file exit calls (asylo_enclave_file_*)
     * may use, opened once at load; NULL (the default) refuses them all with
     * PERMISSION_DENIED. Paths from the enclave are untrusted (over remote
     * they come from another machine): they must be relative, have no ".."
     * and cross no symbolic link, and only regular files beneath this
     * directory open. The same on every backend: the policy runs on the host. */
    const char *file_root;
    /* Identity pins (docs/attestation.md): when non-NULL, the 32 bytes the
     * image's measurement / signer id must equal, else the load fails with
     * PERMISSION_DENIED naming expected and actual. Checked by the backend
     * that verifies the image (sim); the remote backend checks them by
     * remote attestation before the enclave runs (UNAUTHENTICATED naming
     * expected and actual; asylo_remote_config.attestation in remote.h). */
    const uint8_t *expected_measurement;
    const uint8_t *expected_signer_id;
    /* ---- limits (appended; 0 = the backend's default). Each backend
     * enforces what it can: docs/backends.md lists which. ---- */
    /* Bytes of address space the enclave may use (process: RLIMIT_AS of the
     * sandboxed runner). */
    uint64_t memory_limit_size;
    /* Calls in flight at once, nested calls on one thread counting once
     * (process: enclave threads; default 8). Past it: RESOURCE_EXHAUSTED. */
    uint32_t max_concurrent_calls;
    /* Bytes of stack per enclave thread (process: default 8 MiB). */
    uint64_t stack_size;
    /* How long destroy waits for calls in flight before it terminates the
     * enclave (0: 2000 ms). A backend that cannot terminate (sim) keeps
     * waiting, as before, and logs that it does. */
    uint32_t destroy_timeout_ms;
} asylo_load_config;

/* Zeroes *config and sets defaults (struct_size, log level info). */
ASYLO_API void asylo_load_config_init(asylo_load_config *config);

ASYLO_API asylo_code asylo_manager_create(asylo_manager **manager, asylo_status *status);

/* Destroys every enclave still loaded (finalizing each with an empty final
 * input) and frees the manager. NULL is a no-op. Must not race with other
 * calls on the same manager. Called from inside a call on one of its
 * enclaves (an exit handler) it would wait for itself: it then logs an error
 * and destroys nothing. */
ASYLO_API void asylo_manager_destroy(asylo_manager *manager);

/* Loads and initializes an enclave. Errors: INVALID_ARGUMENT (bad config, not
 * an enclave image: the message names the path and what is wrong), NOT_FOUND
 * (no such file or backend), ALREADY_EXISTS (name in use), whatever the
 * backend or the enclave's initialize returned. On failure nothing stays
 * loaded. *client (optional) receives the new client. */
ASYLO_API asylo_code asylo_manager_load(asylo_manager *manager, const asylo_load_config *config,
                                        asylo_client **client, asylo_status *status);

/* NOT_FOUND when no enclave of that name is loaded. The client is borrowed:
 * valid until it is destroyed. */
ASYLO_API asylo_code asylo_manager_get_client(asylo_manager *manager, const char *name,
                                              asylo_client **client, asylo_status *status);

/* Finalizes the enclave with final_input (unless already finalized), unloads
 * it and frees the client. Waits for calls in flight, and for a finalize
 * another thread is running. The client is gone even when finalize fails;
 * that failure is what this returns. A NULL client is a no-op returning OK
 * (whatever the manager); a NULL manager with a client is INVALID_ARGUMENT,
 * and a client this manager does not hold (already destroyed) NOT_FOUND.
 *
 * From inside a call on `client` (one of its exit handlers, at any nesting
 * depth, also through another enclave's handler) it returns
 * FAILED_PRECONDITION and leaves the client loaded: waiting there would wait
 * for itself. A handler that asks another thread to destroy the client and
 * waits for that thread deadlocks the same way; destroy cannot see that.
 *
 * How long it waits depends on the backend. sim cannot interrupt trusted
 * code: destroy waits as long as the calls in flight take (forever for an
 * enclave that spins). remote waits for the calls in flight and the
 * finalize together at most the config's call_timeout_ms (5 s when 0), then
 * cancels those calls (they return CANCELLED), skips finalize and returns
 * DEADLINE_EXCEEDED; once the proxy is known dead or unresponsive it does
 * not wait at all (UNAVAILABLE). Stopping the proxy adds at most about 1.5 s
 * with local provisioning, so a destroy after the peer is known dead
 * returns within 2.5 s (docs/remote.md, "Faults and deadlines"). A host exit
 * handler still running on a calling thread is always waited for. */
ASYLO_API asylo_code asylo_manager_destroy_client(asylo_manager *manager, asylo_client *client,
                                                  const void *final_input, size_t final_input_size,
                                                  asylo_status *status);

/* Names of the backends built into this library, NULL past the end. */
ASYLO_API const char *asylo_backend_name_at(size_t index);

#ifdef __cplusplus
}
#endif

#endif
