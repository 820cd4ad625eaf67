#include "provision/proxy_process.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"

extern char **environ;

#define TERM_WAIT_MS 500
#define KILL_WAIT_MS 5000
#define REAP_SLICE_MS 20
#define CHILD_CONTROL_FD 3

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* The pidfd calls through syscall(): not every libc wraps them. */
int asylo__pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

int asylo__pidfd_send_signal(int pidfd, int signal_number) {
#ifdef SYS_pidfd_send_signal
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal_number, NULL, 0);
#else
    (void)pidfd, (void)signal_number;
    errno = ENOSYS;
    return -1;
#endif
}

/* True when thread tid of process pid is traced by this process. */
static bool traced_by_us(pid_t pid, long tid) {
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task/%ld/status", (int)pid, tid);
    FILE *file = fopen(path, "re");
    if (file == NULL) {
        return false;
    }
    char line[128];
    long tracer = 0;
    while (fgets(line, sizeof line, file) != NULL) {
        if (sscanf(line, "TracerPid: %ld", &tracer) == 1) {
            break;
        }
    }
    fclose(file);
    return tracer == (long)getpid();
}

/* A thread of the proxy that called PTRACE_TRACEME is our tracee: once it
 * exits it stays a zombie until we reap it by its tid (__WALL), and until
 * then the proxy's leader cannot be reaped. Only threads that name us as
 * their tracer are waited for: such a tid stays allocated until we reap it,
 * so no other child of this process can be reaped by mistake. */
static void reap_traced_threads(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *directory = opendir(path);
    if (directory == NULL) {
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        long tid = strtol(entry->d_name, NULL, 10);
        if (tid <= 0 || tid == pid || !traced_by_us(pid, tid)) {
            continue;
        }
        siginfo_t info;
        memset(&info, 0, sizeof info);
        waitid(P_PID, (id_t)tid, &info, WEXITED | WNOHANG | __WALL);
    }
    closedir(directory);
}

static void mark_ended(asylo__proxy_process *process, bool known, int wait_status) {
    process->ended_pid = process->pid;
    process->end_known = known;
    process->end_status = wait_status;
    process->pid = -1;
    if (process->pidfd >= 0) {
        close(process->pidfd);
        process->pidfd = -1;
    }
}

/* One non-blocking attempt to reap the proxy; true once it is gone. */
static bool try_reap(asylo__proxy_process *process) {
    reap_traced_threads(process->pid);
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int result =
        process->pidfd >= 0
            ? waitid((idtype_t)P_PIDFD, (id_t)process->pidfd, &info, WEXITED | WNOHANG | __WALL)
            : waitid(P_PID, (id_t)process->pid, &info, WEXITED | WNOHANG | __WALL);
    if (result != 0) {
        if (errno == ECHILD) {
            /* Someone else (a SIGCHLD handler of the application) reaped it. */
            mark_ended(process, false, 0);
            return true;
        }
        return false;
    }
    if (info.si_pid == 0) {
        return false;
    }
    int wait_status =
        info.si_code == CLD_EXITED ? (info.si_status & 0xff) << 8 : (info.si_status & 0x7f);
    mark_ended(process, true, wait_status);
    return true;
}

bool asylo__proxy_process_wait(asylo__proxy_process *process, int64_t timeout_ms,
                               int *wait_status) {
    int ignored;
    int *status_out = wait_status != NULL ? wait_status : &ignored;
    *status_out = 0;
    if (process->pid < 0) {
        *status_out = process->end_status;
        return true;
    }
    int64_t deadline = asylo__monotonic_ms() + timeout_ms;
    for (;;) {
        if (try_reap(process)) {
            *status_out = process->end_status;
            return true;
        }
        int64_t left = deadline - asylo__monotonic_ms();
        if (left <= 0) {
            return false;
        }
        /* The pidfd turns readable when the whole thread group has exited;
         * a traced zombie thread delays that, so look again in slices. */
        int slice = left < REAP_SLICE_MS ? (int)left : REAP_SLICE_MS;
        if (process->pidfd >= 0) {
            struct pollfd poll_fd = {.fd = process->pidfd, .events = POLLIN};
            poll(&poll_fd, 1, slice);
        } else {
            struct timespec pause = {0, slice * 1000000L};
            nanosleep(&pause, NULL);
        }
    }
}

int asylo__proxy_process_signal(asylo__proxy_process *process, int signal_number) {
    if (process->pid < 0) {
        errno = ESRCH;
        return -1;
    }
    if (process->pidfd >= 0) {
        return asylo__pidfd_send_signal(process->pidfd, signal_number);
    }
    /* No pidfd (an old kernel): the pid is still our unreaped child unless
     * the application reaped it behind our back; ask the kernel first. */
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)process->pid, &info, WEXITED | WNOHANG | WNOWAIT | __WALL) != 0) {
        return -1;
    }
    return kill(process->pid, signal_number);
}

bool asylo__proxy_process_describe_end(const asylo__proxy_process *process, char *text,
                                       size_t size) {
    if (process->pid >= 0 || process->ended_pid <= 0) {
        return false;
    }
    int status = process->end_status;
    if (!process->end_known) {
        snprintf(text, size, "proxy %d ended (how is not known: it was reaped elsewhere)",
                 (int)process->ended_pid);
    } else if (WIFSIGNALED(status)) {
        const char *name = sigabbrev_np(WTERMSIG(status));
        snprintf(text, size, "proxy %d ended by signal %d (SIG%s)", (int)process->ended_pid,
                 WTERMSIG(status), name != NULL ? name : "?");
    } else {
        snprintf(text, size, "proxy %d exited with status %d", (int)process->ended_pid,
                 WEXITSTATUS(status));
    }
    return true;
}

asylo_code asylo__proxy_process_stop(asylo__proxy_process *process, int64_t exit_wait_ms,
                                     asylo_status *status) {
    if (process->control_fd >= 0) {
        close(process->control_fd);
        process->control_fd = -1;
    }
    pid_t pid = process->pid;
    if (pid < 0) {
        return asylo_status_ok(status);
    }
    int wait_status = 0;
    const char *how = "exited";
    bool reaped = asylo__proxy_process_wait(process, exit_wait_ms, &wait_status);
    if (!reaped) {
        asylo__proxy_process_signal(process, SIGTERM);
        how = "was stopped with SIGTERM";
        reaped = asylo__proxy_process_wait(process, TERM_WAIT_MS, &wait_status);
    }
    if (!reaped) {
        asylo__proxy_process_signal(process, SIGKILL);
        how = "was killed with SIGKILL";
        reaped = asylo__proxy_process_wait(process, KILL_WAIT_MS, &wait_status);
    }
    if (!reaped) {
        /* Bounded: report it rather than hang the destroying thread. */
        mark_ended(process, false, 0);
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                "proxy %d could not be reaped within %d ms of SIGKILL", (int)pid,
                                KILL_WAIT_MS);
    }
    if (!process->end_known) {
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                "proxy %d %s; how it ended is not known (it was reaped "
                                "elsewhere)",
                                (int)pid, how);
    }
    if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
        return asylo_status_ok(status);
    }
    if (WIFSIGNALED(wait_status)) {
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                "proxy %d %s (ended by signal %d)", (int)pid, how,
                                WTERMSIG(wait_status));
    }
    return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                            "proxy %d %s with status %d", (int)pid, how,
                            WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1);
}

/* Reads the proxy's one-line answer before the deadline. */
static asylo_code read_answer(asylo__proxy_process *process, const char *proxy_path,
                              int64_t deadline_ms, char *line, size_t size, asylo_status *status) {
    size_t used = 0;
    while (used + 1 < size) {
        int64_t left = deadline_ms - asylo__monotonic_ms();
        struct pollfd poll_fd = {.fd = process->control_fd, .events = POLLIN};
        int ready = left > 0 ? poll(&poll_fd, 1, (int)left) : 0;
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready == 0) {
            return asylo_status_set(status, ASYLO_DEADLINE_EXCEEDED, ASYLO_ORIGIN_BACKEND,
                                    "proxy '%s' did not report its address in time", proxy_path);
        }
        ssize_t got = read(process->control_fd, line + used, 1);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                    "proxy '%s' exited before reporting its address (see its "
                                    "log)",
                                    proxy_path);
        }
        if (line[used] == '\n') {
            line[used] = '\0';
            return ASYLO_OK;
        }
        used++;
    }
    return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                            "proxy's answer is longer than %zu bytes", size - 1);
}

static asylo_code make_token(char *token, size_t size, asylo_status *status) {
    unsigned char random_bytes[32];
    if (size < 2 * sizeof random_bytes + 1 ||
        getrandom(random_bytes, sizeof random_bytes, 0) != (ssize_t)sizeof random_bytes) {
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                                "cannot make a random token: %s", strerror(errno));
    }
    for (size_t i = 0; i < sizeof random_bytes; i++) {
        snprintf(token + 2 * i, 3, "%02x", random_bytes[i]);
    }
    asylo__secure_zero(random_bytes, sizeof random_bytes);
    return ASYLO_OK;
}

/* The proxy's argv; strings live in `storage`. */
#define MAX_ARGUMENTS 16
typedef struct proxy_arguments {
    char *argv[MAX_ARGUMENTS + 2];
    char storage[MAX_ARGUMENTS][PATH_MAX + 32];
    int count;
} proxy_arguments;

static void add_argument(proxy_arguments *arguments, const char *name, const char *value) {
    if (arguments->count >= MAX_ARGUMENTS) {
        return;
    }
    char *slot = arguments->storage[arguments->count];
    if (value == NULL) {
        snprintf(slot, sizeof arguments->storage[0], "%s", name);
    } else {
        snprintf(slot, sizeof arguments->storage[0], "%s=%s", name, value);
    }
    arguments->argv[++arguments->count] = slot;
}

static void build_arguments(const asylo__proxy_process_options *options,
                            proxy_arguments *arguments) {
    memset(arguments->argv, 0, sizeof arguments->argv);
    arguments->count = 0;
    arguments->argv[0] = (char *)options->proxy_path;
    add_argument(arguments, "--address", options->address);
    add_argument(arguments, "--enclave_path", options->enclave_path);
    if (options->backend != NULL) { /* NULL: the proxy's default */
        add_argument(arguments, "--backend", options->backend);
    }
    add_argument(arguments, "--control_fd", "3");
    if (options->log_level != NULL) {
        add_argument(arguments, "--log_level", options->log_level);
    }
    if (options->load_timeout_ms > 0) {
        char value[32];
        snprintf(value, sizeof value, "%lld", (long long)options->load_timeout_ms);
        add_argument(arguments, "--load_timeout_ms", value);
    }
    const asylo_security_options *security = options->security;
    if (security != NULL && security->type == ASYLO_SECURITY_SSL) {
        add_argument(arguments, "--security_type", "ssl");
        if (security->server_cert != NULL) {
            add_argument(arguments, "--ssl_server_cert", security->server_cert);
        }
        if (security->server_key != NULL) {
            add_argument(arguments, "--ssl_server_cred", security->server_key);
        }
        /* The proxy reads --ssl_root_certs as "require client certificates". */
        if (security->require_client_certificate && security->root_certs != NULL) {
            add_argument(arguments, "--ssl_root_certs", security->root_certs);
        }
    }
    if (options->owns_socket_dir) {
        add_argument(arguments, "--owns_socket_dir", NULL);
    }
    if (security != NULL && security->allow_insecure_non_local) {
        add_argument(arguments, "--allow_insecure_non_local", NULL);
    }
}

/* "error CODE TEXT" from the proxy keeps its code. */
static asylo_code proxy_error(const char *answer, asylo_status *status) {
    char *text = NULL;
    long code = strtol(answer, &text, 10);
    if (!asylo_code_is_valid((int)code) || code == ASYLO_OK) {
        code = ASYLO_UNAVAILABLE;
    }
    return asylo_status_set(status, (asylo_code)code, ASYLO_ORIGIN_BACKEND,
                            "proxy could not start: %s",
                            text != NULL && *text == ' ' ? text + 1 : answer);
}

asylo_code asylo__proxy_process_start(const asylo__proxy_process_options *options,
                                      asylo__proxy_process *process, asylo_status *status) {
    memset(process, 0, sizeof *process);
    process->pid = -1;
    process->pidfd = -1;
    process->control_fd = -1;
    proxy_arguments arguments;
    build_arguments(options, &arguments);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "cannot make the provisioning pipe: %s", strerror(errno));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    /* dup2 onto fd 3 clears close-on-exec there; every other fd of ours is
     * close-on-exec and stays behind. */
    posix_spawn_file_actions_adddup2(&actions, pair[1], CHILD_CONTROL_FD);
    /* Its own session (so its own process group): signals to the host's
     * group (a terminal's Ctrl-C, kill(0, ...)) do not reach it and its own
     * kill(0, ...) does not reach the host. It stays our child and the same
     * user, so kill(getppid(), ...) is still allowed by the kernel. */
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);
    pid_t pid = -1;
    int spawn_error =
        posix_spawn(&pid, options->proxy_path, &actions, &attributes, arguments.argv, environ);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    close(pair[1]);
    if (spawn_error != 0) {
        close(pair[0]);
        return asylo_status_set(status,
                                spawn_error == ENOENT   ? ASYLO_NOT_FOUND
                                : spawn_error == EACCES ? ASYLO_PERMISSION_DENIED
                                                        : ASYLO_UNAVAILABLE,
                                ASYLO_ORIGIN_BACKEND, "cannot start proxy '%s': %s",
                                options->proxy_path, strerror(spawn_error));
    }
    process->pid = pid;
    /* Our unreaped child cannot have been replaced yet: from here on every
     * signal and wait goes through this pidfd. */
    process->pidfd = asylo__pidfd_open(pid); /* close-on-exec by itself */
    process->control_fd = pair[0];

    char line[ASYLO_REMOTE_ADDRESS_SIZE + ASYLO_STATUS_MESSAGE_SIZE];
    asylo_code code = make_token(process->token, sizeof process->token, status);
    if (code == ASYLO_OK) {
        snprintf(line, sizeof line, "token %s\n", process->token);
        size_t length = strlen(line);
        /* MSG_NOSIGNAL: a proxy that already died must not SIGPIPE us. */
        if (send(process->control_fd, line, length, MSG_NOSIGNAL) != (ssize_t)length) {
            code =
                asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                 "proxy '%s' exited before taking its token", options->proxy_path);
        }
        asylo__secure_zero(line, sizeof line);
    }
    if (code == ASYLO_OK) {
        code = read_answer(process, options->proxy_path, options->deadline_ms, line, sizeof line,
                           status);
    }
    if (code == ASYLO_OK && strncmp(line, "error ", 6) == 0) {
        code = proxy_error(line + 6, status);
    } else if (code == ASYLO_OK &&
               (strncmp(line, "ready ", 6) != 0 || strlen(line + 6) >= sizeof process->address)) {
        code = asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                                "proxy answered something other than 'ready ADDRESS'");
    }
    if (code != ASYLO_OK) {
        /* A proxy that reported an error exits by itself: give it the grace
         * period. One that missed the deadline gets none: provisioning must
         * fail within its timeout, so stop it now. */
        asylo__proxy_process_stop(process, code == ASYLO_DEADLINE_EXCEEDED ? 0 : TERM_WAIT_MS,
                                  NULL);
        asylo__secure_zero(process->token, sizeof process->token);
        return code;
    }
    snprintf(process->address, sizeof process->address, "%s", line + 6);
    return asylo_status_ok(status);
}
