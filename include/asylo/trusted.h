/* asylo/trusted.h: the API for code inside an enclave.
 *
 * An enclave author writes three callbacks and declares them once:
 *
 *     static asylo_code my_initialize(const asylo_enclave_config *config, asylo_status *status);
 *     static asylo_code my_run(const uint8_t *input, size_t input_size, asylo_output *output,
 *                              asylo_status *status);
 *     static asylo_code my_finalize(const uint8_t *input, size_t input_size,
 *                                   asylo_status *status);
 *     ASYLO_TRUSTED_APPLICATION(my_initialize, my_run, my_finalize);
 *
 * and builds the image with the CMake function asylo_add_enclave. Any callback
 * may be NULL (initialize/finalize then succeed doing nothing; run gives
 * UNIMPLEMENTED).
 *
 * Threads: several host threads may be inside one enclave at once, so run and
 * entry handlers must be thread-safe. Initialize runs alone before any of
 * them; finalize runs alone after all of them have returned.
 *
 * Everything that comes from the host (inputs, outputs of exit calls) is
 * untrusted: the runtime checks sizes before handing it over, and handlers
 * should validate content. A callback reports failure by returning a code and
 * filling *status (asylo_status_set); the code reaches the host unchanged
 * with origin "enclave". */
#ifndef ASYLO_TRUSTED_H
#define ASYLO_TRUSTED_H

/* Enclave code and host code never share a translation unit: the enclave
 * cannot call the host API, and on an isolating backend it is not there.
 * Constants both sides need live in headers both may include (files.h,
 * selectors.h, status.h, buffer.h, enclave_config.h, log.h). */
#if defined(ASYLO_MANAGER_H) || defined(ASYLO_CLIENT_H) || defined(ASYLO_REMOTE_H)
#error                                                                                             \
    "asylo/trusted.h (enclave code) and the host headers (asylo/asylo.h, manager.h, client.h, remote.h) cannot be included in one translation unit"
#endif

#include <stddef.h>
#include <stdint.h>

#include "asylo/buffer.h"
#include "asylo/enclave_config.h"
#include "asylo/files.h"
#include "asylo/log.h"
#include "asylo/selectors.h"
#include "asylo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef asylo_code (*asylo_trusted_initialize_fn)(const asylo_enclave_config *config,
                                                  asylo_status *status);
typedef asylo_code (*asylo_trusted_run_fn)(const uint8_t *input, size_t input_size,
                                           asylo_output *output, asylo_status *status);
typedef asylo_code (*asylo_trusted_finalize_fn)(const uint8_t *input, size_t input_size,
                                                asylo_status *status);

typedef struct asylo_trusted_application {
    asylo_trusted_initialize_fn initialize;
    asylo_trusted_run_fn run;
    asylo_trusted_finalize_fn finalize;
} asylo_trusted_application;

/* Declares the enclave's trusted application. Use exactly once per image. */
#define ASYLO_TRUSTED_APPLICATION(initialize_fn, run_fn, finalize_fn)                              \
    const asylo_trusted_application asylo__trusted_application = {(initialize_fn), (run_fn),       \
                                                                  (finalize_fn)}

/* --- Entry handlers: more entry points, by selector -------------------- */

typedef asylo_code (*asylo_entry_handler_fn)(void *context, const uint8_t *input, size_t input_size,
                                             asylo_output *output, asylo_status *status);

/* Registers a handler the host reaches with asylo_client_call. The selector
 * must be in the user range (>= ASYLO_SELECTOR_USER_FIRST): INVALID_ARGUMENT
 * otherwise, ALREADY_EXISTS when taken, RESOURCE_EXHAUSTED past
 * ASYLO_MAX_ENTRY_HANDLERS. Call it from initialize (or later); thread-safe. */
#define ASYLO_MAX_ENTRY_HANDLERS 256
asylo_code asylo_enclave_register_entry(uint32_t selector, asylo_entry_handler_fn handler,
                                        void *context, asylo_status *status);

/* --- Exit calls: asking the host -------------------------------------- */

/* Calls the host handler registered for `selector` (user range) and returns
 * its output in *output, which the caller frees with asylo_buffer_free.
 * Output is bounded by ASYLO_MAX_EXIT_OUTPUT_SIZE (RESOURCE_EXHAUSTED past it).
 * NOT_FOUND when the host has no handler for the selector. */
#define ASYLO_MAX_EXIT_OUTPUT_SIZE (64u << 20)
asylo_code asylo_enclave_exit_call(uint32_t selector, const void *input, size_t input_size,
                                   asylo_buffer *output, asylo_status *status);

/* The enclave's own environment, from the enclave config (not the host's);
 * NULL when unset or before initialize. */
const char *asylo_enclave_getenv(const char *name);

/* Built-in exit calls. Where each runs under the remote backend: logging and
 * files on the host machine, time and randomness on the target machine. */

/* Logs one line on the host (component "enclave"). Lines above the config's
 * log level cost nothing. Never log secrets. */
void asylo_enclave_log(asylo_log_level level, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Nanoseconds since the Unix epoch / since an arbitrary fixed point. */
asylo_code asylo_enclave_time_wall(int64_t *nanoseconds, asylo_status *status);
asylo_code asylo_enclave_time_monotonic(int64_t *nanoseconds, asylo_status *status);
/* Fills data with random bytes from the host OS. Untrusted: the host could
 * lie. Key material should come from the enclave's own generator (e.g.
 * OpenSSL's RAND_bytes). At most ASYLO_MAX_FILE_IO_SIZE bytes per call. */
asylo_code asylo_enclave_random(void *data, size_t size, asylo_status *status);

/* A small POSIX-style file subset, performed by the host on its file system.
 * The host sees every byte: encrypt what must stay secret. Handles are only
 * valid for the enclave that opened them; the host closes leftovers at
 * unload. Reads and writes move at most ASYLO_MAX_FILE_IO_SIZE per call. */
/* Flags and limits: asylo/files.h. */

asylo_code asylo_enclave_file_open(const char *path, uint32_t flags, uint32_t mode, int *handle,
                                   asylo_status *status);
asylo_code asylo_enclave_file_read(int handle, void *data, size_t size, size_t *read_size,
                                   asylo_status *status);
asylo_code asylo_enclave_file_write(int handle, const void *data, size_t size, size_t *written_size,
                                    asylo_status *status);
asylo_code asylo_enclave_file_close(int handle, asylo_status *status);
asylo_code asylo_enclave_file_unlink(const char *path, asylo_status *status);

#ifdef __cplusplus
}
#endif

#endif
