#include "provision/proxy_process.h"

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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"

extern char **environ;

#define TERM_WAIT_MS 500
#define CHILD_CONTROL_FD 3

bool asylo__proxy_process_wait(asylo__proxy_process *process, int64_t timeout_ms,
                               int *wait_status) {
    int ignored;
    int *status_out = wait_status != NULL ? wait_status : &ignored;
    *status_out = 0;
    if (process->pid < 0) {
        return true;
    }
    int64_t deadline = asylo__monotonic_ms() + timeout_ms;
    for (;;) {
        pid_t done = waitpid(process->pid, status_out, WNOHANG);
        if (done == process->pid || (done < 0 && errno == ECHILD)) {
            process->pid = -1;
            return true;
        }
        if (asylo__monotonic_ms() >= deadline) {
            return false;
        }
        struct timespec pause = {0, 5 * 1000000L};
        nanosleep(&pause, NULL);
    }
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
        kill(pid, SIGTERM);
        how = "was stopped with SIGTERM";
        reaped = asylo__proxy_process_wait(process, TERM_WAIT_MS, &wait_status);
    }
    if (!reaped) {
        kill(pid, SIGKILL);
        how = "was killed with SIGKILL";
        waitpid(pid, &wait_status, 0);
        process->pid = -1;
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
    add_argument(arguments, "--backend", options->backend);
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
    pid_t pid = -1;
    int spawn_error =
        posix_spawn(&pid, options->proxy_path, &actions, NULL, arguments.argv, environ);
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
    process->control_fd = pair[0];

    char line[ASYLO_REMOTE_ADDRESS_SIZE + ASYLO_STATUS_MESSAGE_SIZE];
    asylo_code code = make_token(process->token, sizeof process->token, status);
    if (code == ASYLO_OK) {
        snprintf(line, sizeof line, "token %s\n", process->token);
        size_t length = strlen(line);
        if (write(process->control_fd, line, length) != (ssize_t)length) {
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
