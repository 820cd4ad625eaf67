/* Starting and stopping one asylo-remote-proxy process: shared by local
 * provisioning (a proxy for this host) and asylo-provision-server (proxies
 * for remote hosts).
 *
 * A socketpair is the provisioning pipe (the proxy's --control_fd): the
 * parent writes the one-time token into it, the proxy answers "ready ADDRESS"
 * (or "error CODE TEXT") once it listens, so no fixed port is needed; the
 * proxy keeps its end open and exits by itself when the parent dies. The
 * proxy is started with posix_spawn: gRPC has threads, so no fork. */
#ifndef ASYLO_PROVISION_PROXY_PROCESS_H
#define ASYLO_PROVISION_PROXY_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "asylo/remote.h"
#include "common/clock.h"

typedef struct asylo__proxy_process_options {
    const char *proxy_path;
    const char *address;                    /* where the proxy listens (port 0 allowed) */
    const char *enclave_path;               /* absolute path of the only image it serves */
    const char *backend;                    /* local backend for the enclave */
    const char *log_level;                  /* NULL: the proxy's default */
    const asylo_security_options *security; /* the proxy's (server) side; NULL: local */
    int64_t load_timeout_ms;                /* 0: the proxy's default */
    int64_t deadline_ms;  /* absolute (asylo__monotonic_ms, common/clock.h) bound on start */
    bool owns_socket_dir; /* address is unix:DIR/NAME and DIR was made for it */
} asylo__proxy_process_options;

typedef struct asylo__proxy_process {
    pid_t pid;       /* -1 when not running (reaped, or never started) */
    int pidfd;       /* the process itself since spawn; -1 when pid is -1 or the
                      * kernel has no pidfds (then pid is used, never once reaped) */
    int control_fd;  /* -1 when closed */
    pid_t ended_pid; /* the pid it had, once it ended (0 before) */
    int end_status;  /* its wait status once reaped here */
    bool end_known;  /* false: someone else reaped it, or it could not be */
    char address[ASYLO_REMOTE_ADDRESS_SIZE];
    char token[ASYLO_REMOTE_TOKEN_SIZE];
} asylo__proxy_process;

/* Spawns the proxy and waits (until deadline_ms) for its address. On failure
 * nothing is left running and the code is the proxy's own when it reported
 * one (e.g. UNAVAILABLE for a port in use), DEADLINE_EXCEEDED when it said
 * nothing in time, NOT_FOUND/PERMISSION_DENIED when it could not be started. */
asylo_code asylo__proxy_process_start(const asylo__proxy_process_options *options,
                                      asylo__proxy_process *process, asylo_status *status);

/* Waits up to timeout_ms for the proxy to exit; true once reaped (also when
 * someone else reaped it). *wait_status (may be NULL) gets its status.
 *
 * Reaping goes through the pidfd with __WALL, and first reaps any thread of
 * the proxy that made itself our tracee (PTRACE_TRACEME from an enclave):
 * such a thread's zombie would otherwise keep the proxy unreapable. Never
 * blocks longer than timeout_ms. Not thread-safe: callers serialize. */
bool asylo__proxy_process_wait(asylo__proxy_process *process, int64_t timeout_ms, int *wait_status);

/* Sends signal_number to the proxy through its pidfd (held since spawn, so a
 * reused pid is never signalled); nothing once it was reaped. 0 or -1 with
 * errno. */
int asylo__proxy_process_signal(asylo__proxy_process *process, int signal_number);

/* pidfd_open / pidfd_send_signal through syscall() (not every libc wraps
 * them); -1 with errno (ENOSYS on kernels before 5.3). */
int asylo__pidfd_open(pid_t pid);
int asylo__pidfd_send_signal(int pidfd, int signal_number);

/* How the proxy ended, for statuses: "proxy 123 ended by signal 11
 * (SIGSEGV)", "proxy 123 exited with status 42", or that its end is not
 * known. False (text untouched) while it has not ended. */
bool asylo__proxy_process_describe_end(const asylo__proxy_process *process, char *text,
                                       size_t size);

/* Closes the pipe (the proxy then finishes by itself), waits up to
 * exit_wait_ms, then SIGTERM, then SIGKILL (bounded: a process that cannot be
 * reaped even then is reported, not waited for forever). Returns OK
 * for a clean exit, else UNAVAILABLE describing how it ended (reported, never
 * fatal to the caller). Safe on a stopped process. */
asylo_code asylo__proxy_process_stop(asylo__proxy_process *process, int64_t exit_wait_ms,
                                     asylo_status *status);

#endif
