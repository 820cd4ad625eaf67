/* Starting the sandboxed runner: the image in a sealed memfd, the one empty
 * network namespace of this process, and the clone of the runner into its
 * namespaces (docs/process.md lists what each step closes). */
#ifndef ASYLO_BACKENDS_PROCESS_SPAWN_H
#define ASYLO_BACKENDS_PROCESS_SPAWN_H

#include <stdint.h>
#include <sys/types.h>

#include "asylo/status.h"

/* Copies the image into a sealed memfd (so the bytes measured are the bytes
 * the runner maps) and computes its SHA-256. */
asylo_code asylo__process_image_memfd(const char *path, int *memfd, uint8_t measurement[32],
                                      asylo_status *status);

/* Finds the runner: `configured`, else $ASYLO_ENCLAVE_RUNNER, else next to the
 * library that holds this code (libexec/asylo/, the same folder, ../tools/),
 * else the build tree. */
asylo_code asylo__process_find_runner(const char *configured, char *path, size_t size,
                                      asylo_status *status);

/* What the kernel offers for the sandbox; FAILED_PRECONDITION naming what is
 * missing unless allow_weaker. *namespaces says whether to use them. */
asylo_code asylo__process_sandbox_check(int allow_weaker, int *namespaces, asylo_status *status);

typedef struct asylo__spawn_plan {
    const char *runner_path;
    int region_fd;
    int image_fd;
    int liveness_fd; /* the runner's end */
    int namespaces;  /* 0 only when a weaker sandbox was accepted */
    void *header;    /* the region's header: the child writes why it failed */
} asylo__spawn_plan;

/* Clones the runner into new pid, ipc, uts, user and mount namespaces and the
 * shared empty network namespace, as uid nobody outside when we are root.
 * Returns its pid and a pidfd (close-on-exec). */
asylo_code asylo__process_spawn(const asylo__spawn_plan *plan, pid_t *pid, int *pidfd,
                                asylo_status *status);

#endif
