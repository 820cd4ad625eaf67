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

#endif
