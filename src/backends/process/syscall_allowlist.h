/* The one table of system calls the sandboxed enclave runner may make, by
 * number only (the kernel caches number-only filters: about 44 ns a call
 * here). Anything else traps (SIGSYS) and is reported to the host as
 * PERMISSION_DENIED naming the call.
 *
 * Two stages stack: while the runner loads the image (dynamic loader,
 * constructors) the loader's calls are allowed too; once loaded, a second
 * filter allows only the calls marked "always". Of the calls it traps, the
 * runner forwards a few POSIX file calls to the host as exit calls
 * (tools/runner_posix.c); the rest end the enclave. */
#ifndef ASYLO_BACKENDS_PROCESS_SYSCALL_ALLOWLIST_H
#define ASYLO_BACKENDS_PROCESS_SYSCALL_ALLOWLIST_H

#include <stddef.h>

typedef enum asylo__syscall_stage {
    ASYLO__SYSCALL_ALWAYS = 1,  /* in both filters */
    ASYLO__SYSCALL_LOADING = 2, /* only while the image loads */
} asylo__syscall_stage;

typedef struct asylo__syscall_rule {
    int number;
    const char *name;
    asylo__syscall_stage stage;
    const char *why;
} asylo__syscall_rule;

extern const asylo__syscall_rule asylo__syscall_allowlist[];
extern const size_t asylo__syscall_allowlist_count;

#endif
