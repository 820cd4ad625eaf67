/* The allow-list table (syscall_allowlist.h). Keep it short: every line is a
 * door out of the sandbox. */
#include "backends/process/syscall_allowlist.h"

#include <sys/syscall.h>

#define ALWAYS(name, why)                                                                          \
    { SYS_##name, #name, ASYLO__SYSCALL_ALWAYS, why }
#define LOADING(name, why)                                                                         \
    { SYS_##name, #name, ASYLO__SYSCALL_LOADING, why }

const asylo__syscall_rule asylo__syscall_allowlist[] = {
    LOADING(read, "the loader; later trapped: forwarded if asked, else EBADF"),
    LOADING(write, "later trapped: forwarded if asked (stdout/stderr as log lines), else EBADF"),
    LOADING(close, "the loader; later trapped: forwarded if asked, else EBADF"),
    ALWAYS(fstat, "malloc and stdio ask about fds"),
    LOADING(newfstatat, "the loader; later trapped: fstat() of a real fd answered with "
                        "fstat, a path forwarded as FILE_STAT if asked, else ENOENT"),
    ALWAYS(mmap, "memory (malloc, thread stacks); bounded by RLIMIT_AS"),
    ALWAYS(munmap, "memory"),
    ALWAYS(mprotect, "memory (RELRO, guard pages)"),
    ALWAYS(mremap, "memory (realloc)"),
    ALWAYS(brk, "memory (malloc)"),
    ALWAYS(madvise, "memory (free)"),
    ALWAYS(futex, "the shared-memory channel and locks"),
    ALWAYS(sched_yield, "lock back-off"),
    ALWAYS(rt_sigaction, "abort() and the runner's crash reporters"),
    ALWAYS(rt_sigprocmask, "abort() and threads"),
    ALWAYS(rt_sigreturn, "return from a signal handler"),
    ALWAYS(sigaltstack, "crash reporting on stack overflow"),
    ALWAYS(tgkill, "abort() signals its own thread (other processes are not visible)"),
    ALWAYS(getpid, "abort(), raise()"),
    ALWAYS(gettid, "abort(), raise()"),
    ALWAYS(getppid, "harmless: 0 inside the sandbox's pid namespace"),
    ALWAYS(clock_gettime, "time (usually vDSO, no system call)"),
    ALWAYS(clock_getres, "time"),
    ALWAYS(gettimeofday, "time"),
    ALWAYS(clock_nanosleep, "nanosleep()"),
    ALWAYS(nanosleep, "nanosleep() on older C libraries"),
    ALWAYS(getrandom, "randomness"),
    ALWAYS(poll, "the runner's wait for the host to go away"),
    ALWAYS(restart_syscall, "restarting an interrupted wait"),
    ALWAYS(prlimit64, "the C library reads its stack limit"),
    ALWAYS(exit, "a thread ends"),
    ALWAYS(exit_group, "the process ends (exit(n) is reported to the host)"),
    LOADING(openat, "the dynamic loader opens the image's libraries"),
    LOADING(pread64, "the dynamic loader reads ELF headers"),
    LOADING(lseek, "the dynamic loader"),
    LOADING(access, "the dynamic loader"),
    LOADING(readlink, "the dynamic loader"),
    LOADING(chroot, "closing the file system view once loaded"),
    LOADING(chdir, "closing the file system view once loaded"),
    LOADING(capset, "dropping the runner's capabilities once loaded"),
    LOADING(seccomp, "loading the strict filter (filters only ever narrow)"),
    LOADING(capget, "dropping the runner's capabilities once loaded"),
};

const size_t asylo__syscall_allowlist_count =
    sizeof asylo__syscall_allowlist / sizeof asylo__syscall_allowlist[0];
