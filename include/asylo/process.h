/* asylo/process.h: settings of the `process` backend.
 *
 * The `process` backend runs the unchanged enclave image in a separate,
 * sandboxed child process (asylo-enclave-runner) and calls it over shared
 * memory (docs/process.md). Its backend_config is optional: a load config
 * with backend = "process" and backend_config = NULL uses the defaults. */
#ifndef ASYLO_PROCESS_H
#define ASYLO_PROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/export.h"
#include "asylo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Checked by the backend: a config whose struct_size it does not know is
 * refused with INVALID_ARGUMENT. */
#define ASYLO_PROCESS_CONFIG_MAGIC UINT32_C(0x50524f43) /* "PROC" */

typedef struct asylo_process_config {
    uint32_t magic;       /* ASYLO_PROCESS_CONFIG_MAGIC, set by the init */
    uint32_t struct_size; /* sizeof(asylo_process_config), set by the init */
    /* The runner binary; NULL: $ASYLO_ENCLAVE_RUNNER, else the runner
     * installed next to libasylo (../libexec/asylo/ or the same folder). */
    const char *runner_path;
    /* Payload bytes one frame carries each way (0: 1 MiB). Inputs, outputs
     * and exit-call data larger than this fail with RESOURCE_EXHAUSTED
     * naming the size; they are not chunked. */
    size_t frame_payload_size;
    /* Load even where the kernel lacks part of the sandbox (user namespaces,
     * seccomp), with what remains. Off by default: a missing piece is then
     * FAILED_PRECONDITION naming it, never a silently weaker sandbox. */
    int allow_weaker_sandbox;
    /* Forward plain POSIX file calls made by enclave code (open, read,
     * write, close, lseek, stat, fstat, unlink; writes to stdout/stderr
     * become log lines) to the host as the built-in file exit calls, instead
     * of ending the enclave. The host answers them under the load config's
     * file_root like the asylo_enclave_file_* calls (nothing without one).
     * Off by default. docs/process.md lists the calls. */
    int forward_posix_calls;
} asylo_process_config;

ASYLO_API void asylo_process_config_init(asylo_process_config *config);

/* OK when this machine can run the full process sandbox: seccomp filtering,
 * user namespaces, root (which makes the namespaces) and the runner binary
 * found as a load would find it. Otherwise FAILED_PRECONDITION or NOT_FOUND
 * naming what is missing. asylo-remote-proxy asks once at start to choose
 * its default backend. */
ASYLO_API asylo_code asylo_process_sandbox_available(asylo_status *status);

#ifdef __cplusplus
}
#endif

#endif
