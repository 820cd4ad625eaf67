/* The guest runtime with musl's static C library: musl's own start-up
 * (__libc_start_main) runs in the guest before READY, so enclave code gets an
 * ordinary C environment: malloc from the guest heap (brk and mmap, served by
 * the VMM from memory the guest already has), stdio to the host's stdout and
 * stderr, clocks, errno, and musl's thread pointer and stack canary in %fs
 * (set by arch_prctl, which the VMM carries out). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "guest/guest.h"
#include "guest/guest_internal.h"

int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv, void (*init)(void),
                      void (*fini)(void), void (*ldso)(void));

static void (*serve_function)(void);

static int libc_main(int argc, char **argv, char **envp) {
    (void)argc;
    (void)argv;
    (void)envp;
    serve_function();
    return 0;
}

/* What a kernel would put on the first stack: argc 0, an empty argv and
 * environment, and the auxiliary vector {AT_PAGESZ 4096, AT_NULL}. */
static char *start_block[] = {0, 0, (char *)6, (char *)4096, 0, 0};

void asylo__guest_copy(void *to, const void *from, size_t size) {
    memcpy(to, from, size);
}

void asylo__guest_runtime_start(void (*serve)(void)) {
    serve_function = serve;
    __libc_start_main(libc_main, 0, start_block, 0, 0, 0);
    __builtin_unreachable();
}

/* musl's nanosleep (and sleep, usleep on top of it) replaced: a SLEEP frame
 * instead of a system call, so that while this call sleeps in the host,
 * calls from other host threads can enter the guest (nested on it). */
int nanosleep(const struct timespec *request, struct timespec *remaining) {
    if (request == NULL || request->tv_sec < 0 || request->tv_nsec < 0 ||
        request->tv_nsec >= 1000000000) {
        errno = EINVAL;
        return -1;
    }
    /* request and remaining may be the same object: read it first. */
    int code = asylo_guest_sleep((uint64_t)request->tv_sec, (uint64_t)request->tv_nsec);
    if (remaining != NULL) {
        remaining->tv_sec = 0;
        remaining->tv_nsec = 0;
    }
    if (code != 0) {
        errno = EINTR;
        return -1;
    }
    return 0;
}
