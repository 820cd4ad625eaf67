/* POSIX calls inside a `process` enclave, forwarded to the host as its
 * built-in exit calls (docs/process.md lists them). */
#ifndef ASYLO_TOOLS_RUNNER_POSIX_H
#define ASYLO_TOOLS_RUNNER_POSIX_H

#include <stdbool.h>

#include "protocol/protocol.h"

/* Forwarded descriptors start here (nothing real is open this high). */
#define ASYLO__RUNNER_FORWARDED_FD_BASE 1000

/* Emulates system call `number` with `args` through `session` (the calling
 * thread's, inside an entry call). True with *result (a value or -errno)
 * when the call is one of the forwarded ones; false when it is not
 * forwarded (the caller then reports it as refused). */
bool asylo__runner_forward(asylo__protocol_session *session, long number, const long args[6],
                           long *result);

/* What a trapped call that is not forwarded (forwarding off, or outside an
 * entry call) returns instead of ending the enclave: read, write and close
 * fail with EBADF, fstat of a real descriptor is answered by the kernel and a
 * stat of a path finds nothing. False for every other call (refused). */
bool asylo__runner_unforwarded(long number, const long args[6], long *result);

#endif
