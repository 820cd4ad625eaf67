/* The local RemoteProvision: spawns asylo-remote-proxy on this machine.
 *
 * A socketpair is the provisioning pipe: we write the one-time token into it,
 * the proxy answers "ready ADDRESS" once it listens (so no fixed port is
 * needed), and keeps its end open; if this process dies the proxy sees EOF and
 * exits by itself. posix_spawn, not fork: gRPC has threads running. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asylo/remote.h"
#include "common/bytes.h"
#include "common/log.h"

extern char **environ;

#define DEFAULT_START_TIMEOUT_MS 10000
#define EXIT_WAIT_MS 5000
#define TERM_WAIT_MS 2000
#define CHILD_CONTROL_FD 3

typedef struct local_provision {
    asylo_remote_provision base; /* first: the interface handed out */
    char *proxy_path;
    char *listen_address;
    char *log_level;
    char *paths[5]; /* owned copies of the security paths */
    asylo_security_options security;
    int64_t start_timeout_ms;
    bool provisioned;
    pid_t pid;
    int control_fd;
    char socket_directory[PATH_MAX];
} local_provision;

static int64_t now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Waits up to timeout_ms for the child; true when it was reaped (or is not
 * ours to reap). *wait_status gets its status. */
static bool wait_child(pid_t pid, int64_t timeout_ms, int *wait_status) {
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        pid_t done = waitpid(pid, wait_status, WNOHANG);
        if (done == pid || (done < 0 && errno == ECHILD)) {
            return true;
        }
        if (now_ms() >= deadline) {
            return false;
        }
        struct timespec pause = {0, 5 * 1000000L};
        nanosleep(&pause, NULL);
    }
}

/* Ends the proxy: it normally exits by itself once its control stream and
 * pipe close; otherwise SIGTERM, then SIGKILL. Never leaves a zombie. */
static asylo_code stop_proxy(local_provision *self, asylo_status *status) {
    if (self->control_fd >= 0) {
        close(self->control_fd);
        self->control_fd = -1;
    }
    int wait_status = 0;
    bool reaped = wait_child(self->pid, EXIT_WAIT_MS, &wait_status);
    const char *how = "exited";
    if (!reaped) {
        kill(self->pid, SIGTERM);
        how = "was stopped with SIGTERM";
        reaped = wait_child(self->pid, TERM_WAIT_MS, &wait_status);
    }
    if (!reaped) {
        kill(self->pid, SIGKILL);
        how = "was killed with SIGKILL";
        waitpid(self->pid, &wait_status, 0);
    }
    pid_t pid = self->pid;
    self->pid = -1;
    if (self->socket_directory[0] != '\0') {
        char socket_path[PATH_MAX + 16];
        snprintf(socket_path, sizeof socket_path, "%s/proxy.sock", self->socket_directory);
        unlink(socket_path);
        rmdir(self->socket_directory);
        self->socket_directory[0] = '\0';
    }
    if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
        return asylo_status_ok(status);
    }
    /* Reported, never fatal: a proxy's end must not take the host down. */
    if (WIFSIGNALED(wait_status)) {
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                "proxy %d %s (ended by signal %d)", (int)pid, how,
                                WTERMSIG(wait_status));
    }
    return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                            "proxy %d %s with status %d", (int)pid, how,
                            WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1);
}

/* Reads the proxy's one-line answer within the deadline. */
static asylo_code read_answer(local_provision *self, int64_t deadline_ms, char *line,
                              size_t size, asylo_status *status) {
    size_t used = 0;
    while (used + 1 < size) {
        int64_t left = deadline_ms - now_ms();
        struct pollfd poll_fd = {.fd = self->control_fd, .events = POLLIN};
        int ready = left > 0 ? poll(&poll_fd, 1, (int)left) : 0;
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready == 0) {
            return asylo_status_set(status, ASYLO_DEADLINE_EXCEEDED, ASYLO_ORIGIN_BACKEND,
                                    "proxy '%s' did not report its address in time",
                                    self->proxy_path);
        }
        ssize_t got = read(self->control_fd, line + used, 1);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                    "proxy '%s' exited before reporting its address (see its "
                                    "log above)",
                                    self->proxy_path);
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
    if (getrandom(random_bytes, sizeof random_bytes, 0) != (ssize_t)sizeof random_bytes ||
        size < 2 * sizeof random_bytes + 1) {
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                                "cannot make a random token: %s", strerror(errno));
    }
    for (size_t i = 0; i < sizeof random_bytes; i++) {
        snprintf(token + 2 * i, 3, "%02x", random_bytes[i]);
    }
    return ASYLO_OK;
}

/* Flags for the proxy, in argv form; strings live in `storage`. */
typedef struct proxy_arguments {
    char *argv[24];
    char storage[12][PATH_MAX + 32];
    int count;
    int stored;
} proxy_arguments;

static void add_argument(proxy_arguments *arguments, const char *name, const char *value) {
    if (arguments->count >= 22 || arguments->stored >= 12) {
        return;
    }
    char *slot = arguments->storage[arguments->stored++];
    if (value == NULL) {
        snprintf(slot, sizeof arguments->storage[0], "%s", name);
    } else {
        snprintf(slot, sizeof arguments->storage[0], "%s=%s", name, value);
    }
    arguments->argv[arguments->count++] = slot;
}

static asylo_code local_provision_run(asylo_remote_provision *base, const char *enclave_path,
                                      const char *target_backend, int64_t timeout_ms,
                                      asylo_remote_endpoint *endpoint, asylo_status *status) {
    local_provision *self = (local_provision *)base;
    if (self->provisioned) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                "this local provision already runs a proxy; one serves one "
                                "enclave (create another)");
    }
    int64_t deadline_ms = now_ms() + (timeout_ms > 0 ? timeout_ms : self->start_timeout_ms);
    memset(endpoint, 0, sizeof *endpoint);
    char absolute_path[PATH_MAX];
    if (realpath(enclave_path, absolute_path) == NULL) {
        return asylo_status_set(status, errno == ENOENT ? ASYLO_NOT_FOUND : ASYLO_INVALID_ARGUMENT,
                                ASYLO_ORIGIN_BACKEND, "enclave image '%s': %s", enclave_path,
                                strerror(errno));
    }
    snprintf(endpoint->enclave_path, sizeof endpoint->enclave_path, "%s", absolute_path);

    char address[PATH_MAX + 16];
    if (strcmp(self->listen_address, "unix:") == 0) {
        const char *directory = getenv("TMPDIR");
        snprintf(self->socket_directory, sizeof self->socket_directory, "%s/asylo-proxy-XXXXXX",
                 directory != NULL && directory[0] ? directory : "/tmp");
        if (mkdtemp(self->socket_directory) == NULL) {
            self->socket_directory[0] = '\0';
            return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                    "cannot make a private socket directory: %s",
                                    strerror(errno));
        }
        snprintf(address, sizeof address, "unix:%s/proxy.sock", self->socket_directory);
    } else {
        snprintf(address, sizeof address, "%s", self->listen_address);
    }

    proxy_arguments arguments = {0};
    arguments.argv[arguments.count++] = self->proxy_path;
    add_argument(&arguments, "--address", address);
    add_argument(&arguments, "--enclave_path", absolute_path);
    add_argument(&arguments, "--backend", target_backend);
    add_argument(&arguments, "--control_fd", "3");
    if (self->log_level != NULL) {
        add_argument(&arguments, "--log_level", self->log_level);
    }
    if (self->security.type == ASYLO_SECURITY_SSL) {
        add_argument(&arguments, "--security_type", "ssl");
        if (self->security.server_cert != NULL) {
            add_argument(&arguments, "--ssl_server_cert", self->security.server_cert);
        }
        if (self->security.server_key != NULL) {
            add_argument(&arguments, "--ssl_server_cred", self->security.server_key);
        }
        if (self->security.root_certs != NULL) {
            add_argument(&arguments, "--ssl_root_certs", self->security.root_certs);
        }
    }
    if (self->security.allow_insecure_non_local) {
        add_argument(&arguments, "--allow_insecure_non_local", NULL);
    }
    arguments.argv[arguments.count] = NULL;

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
    int spawn_error = posix_spawn(&pid, self->proxy_path, &actions, NULL, arguments.argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(pair[1]);
    if (spawn_error != 0) {
        close(pair[0]);
        return asylo_status_set(status,
                                spawn_error == ENOENT   ? ASYLO_NOT_FOUND
                                : spawn_error == EACCES ? ASYLO_PERMISSION_DENIED
                                                        : ASYLO_UNAVAILABLE,
                                ASYLO_ORIGIN_BACKEND, "cannot start proxy '%s': %s",
                                self->proxy_path, strerror(spawn_error));
    }
    self->pid = pid;
    self->control_fd = pair[0];
    self->provisioned = true;

    asylo_code code = make_token(endpoint->token, sizeof endpoint->token, status);
    char line[ASYLO_REMOTE_ADDRESS_SIZE + ASYLO_STATUS_MESSAGE_SIZE];
    if (code == ASYLO_OK) {
        snprintf(line, sizeof line, "token %s\n", endpoint->token);
        if (write(self->control_fd, line, strlen(line)) != (ssize_t)strlen(line)) {
            code = asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                    "proxy '%s' exited before taking its token",
                                    self->proxy_path);
        }
        asylo__secure_zero(line, sizeof line);
    }
    if (code == ASYLO_OK) {
        code = read_answer(self, deadline_ms, line, sizeof line, status);
    }
    if (code == ASYLO_OK && strncmp(line, "error ", 6) == 0) {
        /* "error CODE TEXT": keep the proxy's code (e.g. FAILED_PRECONDITION
         * for plaintext on a public address). */
        char *text = NULL;
        long proxy_code = strtol(line + 6, &text, 10);
        if (!asylo_code_is_valid((int)proxy_code) || proxy_code == ASYLO_OK) {
            proxy_code = ASYLO_UNAVAILABLE;
        }
        code = asylo_status_set(status, (asylo_code)proxy_code, ASYLO_ORIGIN_BACKEND,
                                "proxy could not start: %s",
                                text != NULL && *text == ' ' ? text + 1 : line + 6);
    } else if (code == ASYLO_OK &&
               (strncmp(line, "ready ", 6) != 0 ||
                strlen(line + 6) >= sizeof endpoint->address)) {
        code = asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                                "proxy answered something other than 'ready ADDRESS'");
    }
    if (code != ASYLO_OK) {
        self->provisioned = false;
        stop_proxy(self, NULL);
        memset(endpoint, 0, sizeof *endpoint);
        return code;
    }
    snprintf(endpoint->address, sizeof endpoint->address, "%s", line + 6);
    asylo__log(ASYLO_LOG_DEBUG, "provision", NULL, 0, "proxy %d listens on %s", (int)pid,
               endpoint->address);
    return asylo_status_ok(status);
}

static asylo_code local_provision_finalize(asylo_remote_provision *base, asylo_status *status) {
    local_provision *self = (local_provision *)base;
    if (!self->provisioned) {
        return asylo_status_ok(status);
    }
    self->provisioned = false;
    return stop_proxy(self, status);
}

static void local_provision_destroy(asylo_remote_provision *base) {
    local_provision *self = (local_provision *)base;
    local_provision_finalize(base, NULL);
    free(self->proxy_path);
    free(self->listen_address);
    free(self->log_level);
    for (size_t i = 0; i < sizeof self->paths / sizeof self->paths[0]; i++) {
        free(self->paths[i]);
    }
    free(self);
}

void asylo_local_provision_options_init(asylo_local_provision_options *options) {
    if (options != NULL) {
        memset(options, 0, sizeof *options);
        options->listen_address = "127.0.0.1:0";
    }
}

static char *copy_or_null(const char *text, bool *failed) {
    if (text == NULL) {
        return NULL;
    }
    char *copy = strdup(text);
    *failed |= copy == NULL;
    return copy;
}

asylo_code asylo_local_provision_create(const asylo_local_provision_options *options,
                                        asylo_remote_provision **provision,
                                        asylo_status *status) {
    if (provision == NULL || options == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "asylo_local_provision_create: options or provision is NULL");
    }
    *provision = NULL;
    if (options->proxy_path == NULL || options->proxy_path[0] == '\0') {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "local provisioning needs the path of asylo-remote-proxy "
                                "(--remote_proxy)");
    }
    struct stat info;
    if (stat(options->proxy_path, &info) != 0) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_API,
                                "remote proxy '%s': %s", options->proxy_path, strerror(errno));
    }
    if (!S_ISREG(info.st_mode) || access(options->proxy_path, X_OK) != 0) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_API,
                                "remote proxy '%s' is not an executable file",
                                options->proxy_path);
    }
    local_provision *self = calloc(1, sizeof *self);
    if (self == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory for a local provision");
    }
    bool failed = false;
    self->base.provision = local_provision_run;
    self->base.finalize = local_provision_finalize;
    self->base.destroy = local_provision_destroy;
    self->proxy_path = copy_or_null(options->proxy_path, &failed);
    self->listen_address = copy_or_null(
        options->listen_address != NULL ? options->listen_address : "127.0.0.1:0", &failed);
    self->log_level = copy_or_null(options->log_level, &failed);
    self->security = options->security;
    const char **fields[5] = {&self->security.server_cert, &self->security.server_key,
                              &self->security.root_certs, &self->security.client_cert,
                              &self->security.client_key};
    for (int i = 0; i < 5; i++) {
        self->paths[i] = copy_or_null(*fields[i], &failed);
        *fields[i] = self->paths[i];
    }
    self->start_timeout_ms =
        options->start_timeout_ms > 0 ? options->start_timeout_ms : DEFAULT_START_TIMEOUT_MS;
    self->pid = -1;
    self->control_fd = -1;
    if (failed) {
        local_provision_destroy(&self->base);
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory copying local provision options");
    }
    *provision = &self->base;
    return asylo_status_ok(status);
}
