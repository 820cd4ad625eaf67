/* Keeps idle client connections read.
 *
 * gRPC C core reads a socket (a keepalive ping's acknowledgement, the peer's
 * own ping) only inside some thread's completion-queue wait, and each step of
 * such a wait handles one socket event. Our calling threads wait on their own
 * queues only while a call is in flight, so an idle channel used to be read
 * by gRPC's backup poller alone, one event per tick (200 ms): past about ten
 * idle channels in one process the acknowledgements piled up unread and
 * every connection was dropped ("keepalive watchdog timeout").
 *
 * So while at least one client channel is open, one thread per process
 * waits on a completion queue of its own whenever none of our calling threads
 * waits (with gRPC's default epoll1 engine every wait reads every socket).
 * It steps aside while calls are in flight, and for ASYLO__POLLER_QUIET_MS
 * after the last one, because a thread that polls for a calling thread costs
 * that call a thread hand-off (about a third of a round trip here).
 *
 * Thread-safe; acquire and release pair. */
#ifndef ASYLO_TRANSPORT_CHANNEL_POLLER_H
#define ASYLO_TRANSPORT_CHANNEL_POLLER_H

#include <stdbool.h>

/* Idle time before the thread polls, and the longest it polls at once (a
 * call starting meanwhile pays the hand-off until then). Both far below the
 * keepalive timeout (call_util.h), which is what bounds how long a ping's
 * answer may stay unread. */
#define ASYLO__POLLER_QUIET_MS 50
#define ASYLO__POLLER_SLICE_MS 100

/* Counts a channel; the first starts the thread. False (nothing counted)
 * when the thread could not be started. */
bool asylo__channel_poller_acquire(void);
/* Uncounts one; the last stops and joins the thread. */
void asylo__channel_poller_release(void);

/* Around a calling thread's wait on its stream's queue: that wait reads the
 * sockets meanwhile. */
void asylo__channel_poller_wait_begin(void);
void asylo__channel_poller_wait_end(void);

#endif
