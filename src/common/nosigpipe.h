/* Writing to a pipe or socket whose reader is gone without SIGPIPE.
 *
 * A library must not let a peer that died first kill the program with the
 * default SIGPIPE disposition, and must not change that disposition either
 * (it belongs to the application). */
#ifndef ASYLO_COMMON_NOSIGPIPE_H
#define ASYLO_COMMON_NOSIGPIPE_H

#include <stddef.h>
#include <sys/types.h>

/* write(2) that fails with EPIPE instead of raising SIGPIPE: a socket gets
 * send(MSG_NOSIGNAL); anything else is written with SIGPIPE blocked on this
 * thread, and a SIGPIPE this write raised is consumed before unblocking (one
 * that was already pending stays pending). Retries EINTR. */
ssize_t asylo__write_nosigpipe(int fd, const void *data, size_t size);

#endif
