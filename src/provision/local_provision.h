/* Internal questions the remote backend asks a local provision (its public
 * side is asylo_local_provision_create in asylo/remote.h). */
#ifndef ASYLO_PROVISION_LOCAL_PROVISION_H
#define ASYLO_PROVISION_LOCAL_PROVISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asylo/remote.h"

typedef enum asylo__proxy_end {
    ASYLO__PROXY_END_UNKNOWN = 0, /* not a local provision: it cannot say */
    ASYLO__PROXY_END_RUNNING,     /* the proxy still runs (after the wait) */
    ASYLO__PROXY_END_DESCRIBED,   /* text says how it ended */
} asylo__proxy_end;

/* How the proxy of `provision` ended ("proxy 123 ended by signal 11
 * (SIGSEGV)", "proxy 123 exited with status 42"). A proxy that crashed
 * closes its sockets a moment before it can be reaped, so this waits for its
 * end up to wait_ms; concurrent callers share one such wait. Thread-safe. */
asylo__proxy_end asylo__local_provision_proxy_end(asylo_remote_provision *provision,
                                                  int64_t wait_ms, char *text, size_t size);

#endif
