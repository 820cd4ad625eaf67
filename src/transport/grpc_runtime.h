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
 * Why it matters: our calling threads wait on their own completion queues,
 * so while no call is in flight nobody polls a client channel, and a
 * keepalive ping's answer is read only by gRPC's backup poller (every 5 s by
 * default). A keepalive timeout shorter than that drops every idle
 * connection ("keepalive watchdog timeout"). The library's constructor
 * therefore sets GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS to
 * ASYLO__BACKUP_POLL_MS unless the environment already sets it, and only
 * while the process has a single thread (setenv races getenv on other
 * threads; nothing later writes the environment). This reports the interval
 * actually in force (gRPC's default when it was initialized before us or
 * the variable could not be set), so clients can keep their keepalive
 * timeout above it. */
#define ASYLO__BACKUP_POLL_MS 200
int asylo__grpc_backup_poll_ms(void);

#endif
