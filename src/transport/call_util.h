/* Private helpers shared by client_stream.c and server.c: deadlines, waiting
 * on a call's own completion queue, channel arguments, status mapping. */
#ifndef ASYLO_TRANSPORT_CALL_UTIL_H
#define ASYLO_TRANSPORT_CALL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "asylo/status.h"

/* Defaults: a ping every 0.5 s on an idle connection, and a peer that does
 * not answer it within 1 s is dead: noticed within ~1.5 s (measured 1.5-1.6 s
 * with a cut cable), while a slow WAN link still gets a whole second. */
#define ASYLO__DEFAULT_KEEPALIVE_TIME_MS 500
#define ASYLO__DEFAULT_KEEPALIVE_TIMEOUT_MS 1000
/* Bound on waits that gRPC guarantees to end (after a cancel, a finish). */
#define ASYLO__CLEANUP_WAIT_MS 5000

gpr_timespec asylo__deadline_after_ms(int64_t timeout_ms);

/* Waits for tag on a pluck queue. timeout_ms < 0 waits without a bound, in
 * finite slices (a hang then shows up in a debugger as a loop, not a wedge).
 * Returns the event; type GRPC_QUEUE_TIMEOUT when the time ran out. */
grpc_event asylo__pluck(grpc_completion_queue *cq, void *tag, int64_t timeout_ms);

/* Waits for a tag that gRPC guarantees to deliver (e.g. after cancelling the
 * call): logs every ASYLO__CLEANUP_WAIT_MS instead of giving up, because the
 * memory the batch uses cannot be freed before it completes. */
void asylo__pluck_until_done(grpc_completion_queue *cq, void *tag, const char *what);

/* Shuts down and destroys a pluck queue whose tags were all collected. */
void asylo__cq_destroy(grpc_completion_queue *cq);

/* Channel/server arguments: message size limits, keepalive. */
typedef struct asylo__channel_args {
    grpc_arg args[16];
    grpc_channel_args list;
} asylo__channel_args;

void asylo__channel_args_build(asylo__channel_args *args, bool is_server, size_t max_message_size,
                               int keepalive_time_ms, int keepalive_timeout_ms);

/* Maps a gRPC status and details (from RECV_STATUS_ON_CLIENT) to *status,
 * origin transport, naming the address. TLS handshake failures that gRPC
 * reports as UNAVAILABLE become UNAUTHENTICATED with an actionable message. */
asylo_code asylo__status_from_grpc(asylo_status *status, grpc_status_code code, const char *details,
                                   size_t details_length, const char *address);

#endif
