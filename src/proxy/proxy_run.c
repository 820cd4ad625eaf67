/* The life of an asylo-remote-proxy process (proxy_run.h): its token, its
 * server, the provisioning pipe, stop signals, the drain and shutdown. */
#include "proxy/proxy_run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "observability/observability.h"
#include "proxy/proxy.h"
#include "transport/client_stream.h"
#include "transport/security_options.h"

#define TOKEN_WAIT_MS 10000
#define SHUTDOWN_GRACE_MS 1000

/* Reads one line of at most size-1 bytes from fd within timeout_ms. */
static asylo_code read_line(int fd, char *line, size_t size, int64_t timeout_ms,
                            asylo_status *status) {
    size_t used = 0;
    while (used + 1 < size) {
        struct pollfd poll_fd = {.fd = fd, .events = POLLIN};
        int ready = poll(&poll_fd, 1, (int)timeout_ms);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            return asylo_status_set(status, ASYLO_DEADLINE_EXCEEDED, ASYLO_ORIGIN_API,
                                    "no line on the control fd within %lld ms",
                                    (long long)timeout_ms);
        }
        ssize_t got = read(fd, line + used, 1);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_API,
                                    "the control fd closed before a full line arrived");
        }
        if (line[used] == '\n') {
            line[used] = '\0';
            return asylo_status_ok(status);
        }
        used++;
    }
    return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                            "control line longer than %zu bytes", size - 1);
}

static asylo_code read_token(const asylo__proxy_run_options *flags, char *token, size_t size,
                             asylo_status *status) {
    token[0] = '\0';
    if (flags->control_fd >= 0) {
        char line[ASYLO__PROXY_TOKEN_SIZE + 16];
        asylo_code code =
            read_line((int)flags->control_fd, line, sizeof line, TOKEN_WAIT_MS, status);
        if (code != ASYLO_OK) {
            return code;
        }
        if (strncmp(line, "token ", 6) != 0 || strlen(line + 6) >= size) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "control fd: expected 'token T', got something else");
        }
        snprintf(token, size, "%s", strcmp(line + 6, "-") == 0 ? "" : line + 6);
        return asylo_status_ok(status);
    }
    if (flags->token_file != NULL) {
        char *content = NULL;
        size_t content_size = 0;
        asylo_code code = asylo__security_read_file("--token_file", flags->token_file, size - 1,
                                                    &content, &content_size, status);
        if (code != ASYLO_OK) {
            return code;
        }
        while (content_size > 0 &&
               (content[content_size - 1] == '\n' || content[content_size - 1] == '\r')) {
            content[--content_size] = '\0';
        }
        snprintf(token, size, "%s", content);
        free(content);
        if (token[0] == '\0') {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "--token_file '%s' is empty", flags->token_file);
        }
    }
    return asylo_status_ok(status);
}

static void report(int control_fd, const char *line) {
    if (control_fd >= 0) {
        ssize_t ignored = write(control_fd, line, strlen(line));
        (void)ignored;
    } else {
        fputs(line, stdout);
        fflush(stdout);
    }
}

/* The watcher and signal threads below are detached and hold a pointer to
 * main's proxy; main sets proxy_gone (under proxy_gone_lock) before it tears
 * the proxy down, and they finish it only while it is not gone.
 * ThreadSanitizer saw both lock the proxy's mutex while main destroyed it (a
 * SIGTERM or the control fd's EOF arriving during shutdown). */
static pthread_mutex_t proxy_gone_lock = PTHREAD_MUTEX_INITIALIZER;
static bool proxy_gone;

static void finish_unless_gone(asylo__proxy *proxy, const char *reason) {
    pthread_mutex_lock(&proxy_gone_lock);
    if (!proxy_gone) {
        asylo__proxy_finish(proxy, reason);
    }
    pthread_mutex_unlock(&proxy_gone_lock);
}

static void mark_proxy_gone(void) {
    pthread_mutex_lock(&proxy_gone_lock);
    proxy_gone = true;
    pthread_mutex_unlock(&proxy_gone_lock);
}

/* Watches the control fd: EOF means the provisioning host is gone. */
static void *watch_control_fd(void *context) {
    asylo__proxy *proxy = ((void **)context)[0];
    int fd = (int)(intptr_t)((void **)context)[1];
    for (;;) {
        struct pollfd poll_fd = {.fd = fd, .events = POLLIN};
        if (poll(&poll_fd, 1, -1) < 0 && errno == EINTR) {
            continue;
        }
        char byte;
        ssize_t got = read(fd, &byte, 1);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            finish_unless_gone(proxy, "the provisioning host closed the control fd");
            return NULL;
        }
    }
}

/* The drain: a bounded wait that a second stop signal cuts short. */
static pthread_mutex_t drain_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t drain_changed = PTHREAD_COND_INITIALIZER;
static bool drain_cut;

static void cut_drain(void) {
    pthread_mutex_lock(&drain_lock);
    drain_cut = true;
    pthread_cond_broadcast(&drain_changed);
    pthread_mutex_unlock(&drain_lock);
}

static void drain(int64_t drain_ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += drain_ms / 1000;
    deadline.tv_nsec += (drain_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&drain_lock);
    while (!drain_cut &&
           pthread_cond_timedwait(&drain_changed, &drain_lock, &deadline) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&drain_lock);
}

/* SIGTERM and SIGINT end the proxy cleanly (the enclave is finalized); a
 * second one ends the drain at once. */
static void *wait_for_signal(void *context) {
    asylo__proxy *proxy = context;
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    finish_unless_gone(proxy, signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
    sigwait(&signals, &signal_number);
    asylo__log(ASYLO_LOG_INFO, "proxy", NULL, 0, "second stop signal: ending the drain now");
    cut_drain();
    return NULL;
}

/* The unix socket directory this proxy owns (--owns_socket_dir), removed
 * at exit: a return from main, exit() (also from an enclave), the host gone. */
static char owned_socket_path[PATH_MAX];
static char owned_socket_dir[PATH_MAX];

static void remove_owned_socket_dir(void) {
    if (owned_socket_dir[0] != '\0') {
        unlink(owned_socket_path);
        rmdir(owned_socket_dir);
    }
}

static void own_socket_dir(const asylo__proxy_run_options *flags) {
    const char *path = strncmp(flags->address, "unix:", 5) == 0 ? flags->address + 5 : NULL;
    const char *slash = path != NULL ? strrchr(path, '/') : NULL;
    if (!flags->owns_socket_dir || slash == NULL || slash == path ||
        strlen(path) >= sizeof owned_socket_path) {
        return;
    }
    snprintf(owned_socket_path, sizeof owned_socket_path, "%s", path);
    snprintf(owned_socket_dir, sizeof owned_socket_dir, "%.*s", (int)(slash - path), path);
    atexit(remove_owned_socket_dir);
}

int asylo__proxy_run(const asylo__proxy_run_options *flags) {
    own_socket_dir(flags);
    /* Block the stop signals before gRPC starts threads, so only the waiter
     * thread receives them; a dead provisioning pipe must not kill us. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    int control_fd = flags->control_fd;
    if (control_fd >= 0) {
        fcntl(control_fd, F_SETFD, FD_CLOEXEC);
    }

    asylo_status status;
    asylo__proxy_options options = {.enclave_path = flags->enclave_path,
                                    .allowed_backend = flags->backend};
    asylo__proxy proxy;
    asylo__server *server = NULL;
    asylo__observability observability;
    memset(&observability, 0, sizeof observability);
    int exit_code = 1;
    char line[ASYLO_STATUS_MESSAGE_SIZE + 64];
    if (read_token(flags, options.token, sizeof options.token, &status) != ASYLO_OK ||
        asylo__observability_start(flags->observability, "proxy", &observability, &status) !=
            ASYLO_OK) {
        goto fail_early;
    }
    options.metrics = observability.metrics;
    /* Remote attestation binds the certificate the host sees under ssl. */
    options.server_cert =
        flags->security->type == ASYLO_SECURITY_SSL ? flags->security->server_cert : NULL;
    if (asylo__proxy_init(&proxy, &options, &status) != ASYLO_OK) {
        asylo__observability_stop(&observability);
        goto fail_early;
    }
    asylo__security_options security;
    asylo__security_from_public(flags->security, &security);
    asylo__server_options server_options = {.address = flags->address, .security = &security};
    if (asylo__server_create(&server_options, &server, &status) != ASYLO_OK ||
        asylo__server_add_method(server, ASYLO__COMMUNICATE_METHOD, asylo__proxy_serve_stream,
                                 &proxy, &status) != ASYLO_OK ||
        asylo__observability_add_health(&observability, server, ASYLO__PROXY_HEALTH_SERVICE,
                                        &status) != ASYLO_OK) {
        asylo__server_shutdown(server, 0);
        asylo__proxy_fini(&proxy);
        asylo__observability_stop(&observability);
        goto fail_early;
    }
    asylo__observability_set_serving(&observability, true);
    pthread_t signal_thread;
    pthread_create(&signal_thread, NULL, wait_for_signal, &proxy);
    pthread_detach(signal_thread);
    void *watch_context[2] = {&proxy, (void *)(intptr_t)control_fd};
    if (control_fd >= 0) {
        pthread_t watcher;
        pthread_create(&watcher, NULL, watch_control_fd, watch_context);
        pthread_detach(watcher);
    }
    if (control_fd < 0 && observability.url[0] != '\0') {
        snprintf(line, sizeof line, "asylo-remote-proxy: metrics on %s\n", observability.url);
        report(control_fd, line);
    }
    snprintf(line, sizeof line,
             control_fd >= 0 ? "ready %s\n" : "asylo-remote-proxy: listening on %s\n",
             asylo__server_address(server));
    report(control_fd, line);
    asylo__log(ASYLO_LOG_INFO, "proxy", NULL, 0, "listening on %s (%s security)",
               asylo__server_address(server),
               flags->security->type == ASYLO_SECURITY_SSL ? "ssl" : "local");

    bool loaded = asylo__proxy_wait(&proxy, flags->load_timeout_ms);
    asylo__observability_set_serving(&observability, false);
    if (flags->drain_ms > 0) {
        asylo__log(ASYLO_LOG_INFO, "proxy", asylo__proxy_enclave_name(&proxy), 0,
                   "draining for %lld ms (health: NOT_SERVING)", (long long)flags->drain_ms);
        drain(flags->drain_ms);
    }
    asylo__proxy_start_exit_watchdog(&proxy, ASYLO__PROXY_EXIT_BOUND_MS);
    asylo__server_shutdown(server, SHUTDOWN_GRACE_MS);
    mark_proxy_gone();
    asylo__proxy_fini(&proxy);
    asylo__observability_stop(&observability);
    asylo__log(ASYLO_LOG_INFO, "proxy", NULL, 0, "stopped");
    exit_code = loaded ? 0 : 3;
    return exit_code;

fail_early:
    asylo__log(ASYLO_LOG_ERROR, "proxy", NULL, 0, "cannot start: %s",
               asylo_status_format(&status, line, sizeof line));
    if (control_fd >= 0) {
        /* "error CODE MESSAGE": the provisioner returns our code unchanged. */
        char error_line[sizeof line + 16];
        snprintf(error_line, sizeof error_line, "error %d %s\n", (int)status.code, line);
        report(control_fd, error_line);
    }
    return exit_code;
}
