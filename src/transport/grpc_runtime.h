/* Reference-counted gRPC core runtime.
 *
 * gRPC starts threads in grpc_init() and stops them in grpc_shutdown(). Every
 * transport object (channel, stream, server) holds one reference for its
 * lifetime, so the runtime is up exactly while something uses it.
 *
 * Thread-safe. Calls must pair: one release per acquire. Do not fork() while
 * a reference is held (gRPC's threads do not survive it; use posix_spawn). */
#ifndef ASYLO_TRANSPORT_GRPC_RUNTIME_H
#define ASYLO_TRANSPORT_GRPC_RUNTIME_H

void asylo__grpc_acquire(void);
void asylo__grpc_release(void);

/* How often gRPC's backup poller reads idle connections, in milliseconds.
 *
 * Idle client connections are read by the channel poller's thread
 * (channel_poller.h); gRPC's backup poller, which handles one socket event
 * per tick, is only a fallback (e.g. with a GRPC_POLL_STRATEGY other than
 * the default epoll1, where a wait reads only its own queue's sockets). The
 * library's constructor sets GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS to
 * ASYLO__BACKUP_POLL_MS unless the environment already sets it, and only
 * while the process has a single thread (setenv races getenv on other
 * threads; nothing later writes the environment). */
#define ASYLO__BACKUP_POLL_MS 200

#endif
