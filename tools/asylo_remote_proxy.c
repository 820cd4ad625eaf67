/* asylo-remote-proxy: serves one enclave to one remote host.
 * Thin main(): flags, then src/proxy does the work. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "asylo/process.h"
#include "asylo/remote.h"
#include "transport/security_options.h"
#include "common/log.h"
#include "observability/observability.h"
#include "proxy/proxy.h"
#include "tools/server_memory.h"
#include "tools/tool_flags.h"
#include "transport/client_stream.h"
#include "transport/grpc_runtime.h"

#define TOKEN_WAIT_MS 10000
#define SHUTDOWN_GRACE_MS 1000
/* The service name the health check answers besides "". */
#define HEALTH_SERVICE "asylo.remote.RemoteEnclaveProxy"

typedef struct proxy_flags {
    const char *address;
    const char *enclave_path;
    const char *backend;
    const char *token_file;
    int64_t control_fd;
    int64_t load_timeout_ms;
    int64_t drain_ms;
    bool owns_socket_dir;
    bool allow_any_enclave;
    asylo_security_options security;
    asylo__observability_flags observability;
} proxy_flags;

static void usage(FILE *out) {
    fprintf(out,
            "Usage: asylo-remote-proxy [options]\n"
            "\n"
            "Serves one enclave to one remote host over gRPC (asylo-c's remote backend).\n"
            "The host dials this proxy; the proxy never dials out. The enclave runs here\n"
            "with a local backend; logging, file and user exit calls go back to the host,\n"
            "time and randomness are answered here. The proxy exits when its host closes\n"
            "the enclave's control stream or disappears (kill, network loss: ~2 s).\n"
            "If its shutdown then takes over 3 s (an enclave call that never returns),\n"
            "it exits with code 4 without finalizing the enclave.\n"
            "\n"
            "Options:\n"
            "  --address=ADDR          where to listen (default 127.0.0.1:0 = a free port):\n"
            "                          IPv4 a.b.c.d:PORT, IPv6 [::1]:PORT, unix:/path\n"
            "  --enclave_path=PATH     serve only this enclave image\n"
            "  --allow_any_enclave     without --enclave_path and --token_file, load any\n"
            "                          image path a client names; the proxy refuses to start\n"
            "                          that way unless this flag is given (or --control_fd)\n"
            "  --backend=NAME          local backend for the enclave: process (the default\n"
            "                          where its sandbox works: namespaces, seccomp, root,\n"
            "                          asylo-enclave-runner; checked once at start) or sim\n"
            "                          (the default elsewhere, logged with what is missing;\n"
            "                          --backend=sim keeps the enclave in this process)\n"
            "  --token_file=PATH       require this one-time token (file content) on every\n"
            "                          stream\n"
            "  --control_fd=N          provisioning pipe: read 'token T' from it, write\n"
            "                          'ready ADDR' to it, exit when it closes\n"
            "  --load_timeout_ms=MS    exit if no host loads an enclave in time (30000)\n"
            "  --drain_ms=MS           once finishing (host gone, SIGTERM/SIGINT, control fd\n"
            "                          closed), keep answering for MS before shutting down:\n"
            "                          health checks say NOT_SERVING, running calls go on,\n"
            "                          new streams are refused (default 0; a second signal\n"
            "                          cuts it short)\n"
            "  --owns_socket_dir       with --address=unix:DIR/NAME: DIR was made for this\n"
            "                          proxy; remove the socket and DIR when exiting, on\n"
            "                          every exit path except a crash (local provisioning\n"
            "                          passes it, as its host may die without cleaning up)\n"
            "  --log_level=LEVEL       error, warning, info (default) or debug\n"
            "%s"
            "%s"
            "  --help                  this text\n"
            "\n"
            "The gRPC health service (grpc.health.v1.Health/Check) answers on the same\n"
            "address, for \"\" and \"" HEALTH_SERVICE "\": SERVING while the proxy\n"
            "runs, NOT_SERVING once it is finishing.\n"
            "\n"
            "Without --control_fd it prints 'asylo-remote-proxy: listening on ADDR' on\n"
            "stdout once ready, preceded by 'asylo-remote-proxy: metrics on URL' with\n"
            "--metrics_port.\n",
            asylo__observability_usage(), asylo_security_usage());
}

static int parse_flags(int argc, char **argv, proxy_flags *flags) {
    memset(flags, 0, sizeof *flags);
    flags->address = "127.0.0.1:0";
    flags->backend = NULL; /* chosen at start: choose_backend */
    flags->control_fd = -1;
    flags->load_timeout_ms = 30000;
    asylo__observability_flags_init(&flags->observability);
    for (int i = 1; i < argc; i++) {
        const char *argument = argv[i];
        const char *value;
        asylo_status status;
        int consumed = 0;
        if (asylo_security_parse_flag(&flags->security, argument, i + 1 < argc ? argv[i + 1] : NULL,
                                      &consumed, &status) != ASYLO_OK ||
            (consumed == 0 && asylo__observability_parse_flag(&flags->observability, argument,
                                                              i + 1 < argc ? argv[i + 1] : NULL,
                                                              &consumed, &status) != ASYLO_OK)) {
            fprintf(stderr, "asylo-remote-proxy: %s\n", status.message);
            return 2;
        }
        if (consumed > 0) {
            i += consumed - 1;
        } else if (strcmp(argument, "--help") == 0 || strcmp(argument, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--address")) != NULL) {
            flags->address = value;
        } else if (strcmp(argument, "--owns_socket_dir") == 0) {
            flags->owns_socket_dir = true;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--enclave_path")) != NULL) {
            flags->enclave_path = value;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--backend")) != NULL) {
            flags->backend = value;
        } else if (strcmp(argument, "--allow_any_enclave") == 0) {
            flags->allow_any_enclave = true;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--token_file")) != NULL) {
            flags->token_file = value;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--control_fd")) != NULL) {
            if (asylo__flag_integer("--control_fd", value, 0, 1 << 20, &flags->control_fd,
                                    &status) != ASYLO_OK) {
                fprintf(stderr, "asylo-remote-proxy: %s\n", status.message);
                return 2;
            }
        } else if ((value = asylo__flag_value(argc, argv, &i, "--load_timeout_ms")) != NULL) {
            if (asylo__flag_integer("--load_timeout_ms", value, 1, 86400000,
                                    &flags->load_timeout_ms, &status) != ASYLO_OK) {
                fprintf(stderr, "asylo-remote-proxy: %s\n", status.message);
                return 2;
            }
        } else if ((value = asylo__flag_value(argc, argv, &i, "--drain_ms")) != NULL) {
            if (asylo__flag_integer("--drain_ms", value, 0, 600000, &flags->drain_ms, &status) !=
                ASYLO_OK) {
                fprintf(stderr, "asylo-remote-proxy: %s\n", status.message);
                return 2;
            }
        } else if ((value = asylo__flag_value(argc, argv, &i, "--log_level")) != NULL) {
            asylo_log_level level;
            if (asylo_log_level_parse(value, &level, &status) != ASYLO_OK) {
                fprintf(stderr, "asylo-remote-proxy: --log_level: %s\n", status.message);
                return 2;
            }
            asylo_log_set_level(level);
        } else {
            fprintf(stderr, "asylo-remote-proxy: unknown flag '%s' (see --help)\n", argument);
            return 2;
        }
    }
    /* On a server, --ssl_root_certs means mutual TLS. */
    flags->security.require_client_certificate = flags->security.root_certs != NULL;
    /* Started by hand with neither, any client that reaches the address
     * could make it load any file path as an enclave. A provisioner
     * (--control_fd) passes the image it chose. */
    if (flags->control_fd < 0 && flags->token_file == NULL && flags->enclave_path == NULL &&
        !flags->allow_any_enclave) {
        fprintf(stderr,
                "asylo-remote-proxy: refusing to start: without --enclave_path or --token_file "
                "any client could load any image path; give one of them, or "
                "--allow_any_enclave to accept that (see --help)\n");
        return 2;
    }
    return 0;
}

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

static asylo_code read_token(const proxy_flags *flags, char *token, size_t size,
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

static void own_socket_dir(const proxy_flags *flags) {
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

/* Without --backend: process where this machine can run its sandbox (the
 * enclave then cannot kill, trace, read or write this proxy or its host),
 * sim otherwise, saying once what is missing. */
static void choose_backend(proxy_flags *flags) {
    if (flags->backend != NULL) {
        return;
    }
    asylo_status status;
    if (asylo_process_sandbox_available(&status) == ASYLO_OK) {
        flags->backend = "process";
        return;
    }
    flags->backend = "sim";
    asylo__log(ASYLO_LOG_WARNING, "proxy", NULL, 0,
               "enclaves run on sim, inside this proxy's process: the process backend cannot "
               "run here (%s)",
               status.message);
}

int main(int argc, char **argv) {
    /* Before anything else: no ptrace attach, no /proc/PID/mem or environ by
     * other processes of the same user (the host included), no core dump of
     * an enclave's secrets (with sim the enclave runs in this process; the
     * process backend, the default where it works, sandboxes it apart). */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    asylo__tune_server_memory();
    asylo__raise_fd_limit();
    proxy_flags flags;
    int parsed = parse_flags(argc, argv, &flags);
    if (parsed != 0) {
        return parsed == 1 ? 0 : 2;
    }
    own_socket_dir(&flags);
    choose_backend(&flags);
    /* Block the stop signals before gRPC starts threads, so only the waiter
     * thread receives them; a dead provisioning pipe must not kill us. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    int control_fd = (int)flags.control_fd;
    if (control_fd >= 0) {
        fcntl(control_fd, F_SETFD, FD_CLOEXEC);
    }

    asylo_status status;
    asylo__proxy_options options = {.enclave_path = flags.enclave_path,
                                    .allowed_backend = flags.backend};
    asylo__proxy proxy;
    asylo__server *server = NULL;
    asylo__observability observability;
    memset(&observability, 0, sizeof observability);
    int exit_code = 1;
    char line[ASYLO_STATUS_MESSAGE_SIZE + 64];
    if (read_token(&flags, options.token, sizeof options.token, &status) != ASYLO_OK ||
        asylo__observability_start(&flags.observability, "proxy", &observability, &status) !=
            ASYLO_OK) {
        goto fail_early;
    }
    options.metrics = observability.metrics;
    /* Remote attestation binds the certificate the host sees under ssl. */
    options.server_cert =
        flags.security.type == ASYLO_SECURITY_SSL ? flags.security.server_cert : NULL;
    if (asylo__proxy_init(&proxy, &options, &status) != ASYLO_OK) {
        asylo__observability_stop(&observability);
        goto fail_early;
    }
    asylo__security_options security;
    asylo__security_from_public(&flags.security, &security);
    asylo__server_options server_options = {.address = flags.address, .security = &security};
    if (asylo__server_create(&server_options, &server, &status) != ASYLO_OK ||
        asylo__server_add_method(server, ASYLO__COMMUNICATE_METHOD, asylo__proxy_serve_stream,
                                 &proxy, &status) != ASYLO_OK ||
        asylo__observability_add_health(&observability, server, HEALTH_SERVICE, &status) !=
            ASYLO_OK) {
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
               flags.security.type == ASYLO_SECURITY_SSL ? "ssl" : "local");

    bool loaded = asylo__proxy_wait(&proxy, flags.load_timeout_ms);
    asylo__observability_set_serving(&observability, false);
    if (flags.drain_ms > 0) {
        asylo__log(ASYLO_LOG_INFO, "proxy", asylo__proxy_enclave_name(&proxy), 0,
                   "draining for %lld ms (health: NOT_SERVING)", (long long)flags.drain_ms);
        drain(flags.drain_ms);
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
