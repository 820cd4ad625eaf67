#include "common/nosigpipe.h"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static ssize_t write_with_sigpipe_blocked(int fd, const void *data, size_t size) {
    sigset_t pipe_only;
    sigset_t previous;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &previous);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE) == 1;
    ssize_t written;
    do {
        written = write(fd, data, size);
    } while (written < 0 && errno == EINTR);
    int error = errno;
    if (written < 0 && error == EPIPE && !was_pending) {
        /* The SIGPIPE went to this thread (it is synchronous): take it. */
        struct timespec now = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &now) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    errno = error;
    return written;
}

ssize_t asylo__write_nosigpipe(int fd, const void *data, size_t size) {
    ssize_t written;
    do {
        written = send(fd, data, size, MSG_NOSIGNAL);
    } while (written < 0 && errno == EINTR);
    if (written < 0 && errno == ENOTSOCK) {
        return write_with_sigpipe_blocked(fd, data, size);
    }
    return written;
}
