/* The local RemoteProvision: starts asylo-remote-proxy on this machine
 * (proxy_process.c does the spawning and the handshake). */
#include "provision/local_provision.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "asylo/remote.h"
#include "transport/security_options.h"
#include "common/log.h"
#include "common/struct_size.h"
#include "provision/proxy_process.h"

#define DEFAULT_START_TIMEOUT_MS 10000
/* A proxy exits within milliseconds once its streams and pipe close; one that
 * does not is frozen or stuck and is killed (destroy: docs/remote.md). */
#define EXIT_WAIT_MS 1000

typedef struct local_provision {
    asylo_remote_provision base; /* first: the interface handed out */
    char *proxy_path;
    char *listen_address;
    char *log_level;
    asylo__owned_security security; /* the proxy's (server) side */
    int64_t start_timeout_ms;
    bool provisioned;
    /* Guards process: calls that fail on several threads ask how it ended
     * while finalize may stop it. */
    pthread_mutex_t lock;
    int64_t end_wait_deadline_ms; /* the shared wait for its end; 0: none */
    asylo__proxy_process process;
    char socket_directory[PATH_MAX];
} local_provision;

static void remove_socket_directory(local_provision *self) {
    if (self->socket_directory[0] != '\0') {
        char socket_path[PATH_MAX + 16];
        snprintf(socket_path, sizeof socket_path, "%s/proxy.sock", self->socket_directory);
        unlink(socket_path);
        rmdir(self->socket_directory);
        self->socket_directory[0] = '\0';
    }
}

/* "unix:" alone asks for a socket in a fresh private (0700) directory. */
static asylo_code choose_address(local_provision *self, char *address, size_t size,
                                 asylo_status *status) {
    if (strcmp(self->listen_address, "unix:") != 0) {
        snprintf(address, size, "%s", self->listen_address);
        return ASYLO_OK;
    }
    const char *directory = getenv("TMPDIR");
    snprintf(self->socket_directory, sizeof self->socket_directory, "%s/asylo-proxy-XXXXXX",
             directory != NULL && directory[0] ? directory : "/tmp");
    if (mkdtemp(self->socket_directory) == NULL) {
        self->socket_directory[0] = '\0';
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                "cannot make a private socket directory: %s", strerror(errno));
    }
    snprintf(address, size, "unix:%s/proxy.sock", self->socket_directory);
    return ASYLO_OK;
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
    memset(endpoint, 0, sizeof *endpoint);
    char absolute_path[PATH_MAX];
    if (realpath(enclave_path, absolute_path) == NULL) {
        return asylo_status_set(status, errno == ENOENT ? ASYLO_NOT_FOUND : ASYLO_INVALID_ARGUMENT,
                                ASYLO_ORIGIN_BACKEND, "enclave image '%s': %s", enclave_path,
                                strerror(errno));
    }
    char address[PATH_MAX + 16];
    asylo_code code = choose_address(self, address, sizeof address, status);
    if (code != ASYLO_OK) {
        return code;
    }
    asylo__proxy_process_options options = {
        .proxy_path = self->proxy_path,
        .address = address,
        .enclave_path = absolute_path,
        .backend = target_backend,
        .log_level = self->log_level,
        .security = &self->security.options,
        /* The proxy removes its directory when it exits, also when this
         * host was killed and cannot. */
        .owns_socket_dir = self->socket_directory[0] != '\0',
        .deadline_ms =
            asylo__monotonic_ms() + (timeout_ms > 0 ? timeout_ms : self->start_timeout_ms),
    };
    pthread_mutex_lock(&self->lock);
    self->end_wait_deadline_ms = 0;
    code = asylo__proxy_process_start(&options, &self->process, status);
    pthread_mutex_unlock(&self->lock);
    if (code != ASYLO_OK) {
        remove_socket_directory(self);
        return code;
    }
    self->provisioned = true;
    snprintf(endpoint->address, sizeof endpoint->address, "%s", self->process.address);
    snprintf(endpoint->token, sizeof endpoint->token, "%s", self->process.token);
    snprintf(endpoint->enclave_path, sizeof endpoint->enclave_path, "%s", absolute_path);
    asylo__log(ASYLO_LOG_DEBUG, "provision", NULL, 0, "proxy %d listens on %s",
               (int)self->process.pid, endpoint->address);
    return asylo_status_ok(status);
}

static asylo_code local_provision_finalize(asylo_remote_provision *base, asylo_status *status) {
    local_provision *self = (local_provision *)base;
    if (!self->provisioned) {
        return asylo_status_ok(status);
    }
    self->provisioned = false;
    pthread_mutex_lock(&self->lock);
    asylo_code code = asylo__proxy_process_stop(&self->process, EXIT_WAIT_MS, status);
    pthread_mutex_unlock(&self->lock);
    remove_socket_directory(self);
    return code;
}

static void local_provision_destroy(asylo_remote_provision *base);

asylo__proxy_end asylo__local_provision_proxy_end(asylo_remote_provision *base, int64_t wait_ms,
                                                  char *text, size_t size) {
    if (base == NULL || base->destroy != local_provision_destroy) {
        return ASYLO__PROXY_END_UNKNOWN;
    }
    local_provision *self = (local_provision *)base;
    pthread_mutex_lock(&self->lock);
    int64_t now = asylo__monotonic_ms();
    if (self->end_wait_deadline_ms == 0 || now > self->end_wait_deadline_ms + wait_ms) {
        self->end_wait_deadline_ms = now + wait_ms;
    }
    asylo__proxy_end end = ASYLO__PROXY_END_RUNNING;
    for (;;) {
        asylo__proxy_process_wait(&self->process, 0, NULL);
        if (asylo__proxy_process_describe_end(&self->process, text, size)) {
            end = ASYLO__PROXY_END_DESCRIBED;
            break;
        }
        if (self->process.pid < 0 || asylo__monotonic_ms() >= self->end_wait_deadline_ms) {
            break;
        }
        /* Others may look meanwhile: the lock is not held while sleeping. */
        pthread_mutex_unlock(&self->lock);
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
        pthread_mutex_lock(&self->lock);
    }
    pthread_mutex_unlock(&self->lock);
    return end;
}

static void local_provision_destroy(asylo_remote_provision *base) {
    local_provision *self = (local_provision *)base;
    local_provision_finalize(base, NULL);
    free(self->proxy_path);
    free(self->listen_address);
    free(self->log_level);
    asylo__owned_security_fini(&self->security);
    pthread_mutex_destroy(&self->lock);
    free(self);
}

void asylo_local_provision_options_init(asylo_local_provision_options *options) {
    if (options != NULL) {
        memset(options, 0, sizeof *options);
        options->struct_size = sizeof *options;
        options->listen_address = "127.0.0.1:0";
        asylo_security_options_init(&options->security);
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
                                        asylo_remote_provision **provision, asylo_status *status) {
    if (provision == NULL || options == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "asylo_local_provision_create: options or provision is NULL");
    }
    *provision = NULL;
    /* Read only the fields the caller's struct has; the rest keep defaults. */
    asylo_local_provision_options adopted;
    asylo_local_provision_options_init(&adopted);
    asylo_code code =
        asylo__struct_adopt(options, &adopted, sizeof adopted,
                            ASYLO__V1_SIZE(asylo_local_provision_options, start_timeout_ms),
                            "asylo_local_provision_options", status);
    if (code == ASYLO_OK) {
        code = asylo__security_options_adopt(&options->security, &adopted.security, status);
    }
    if (code != ASYLO_OK) {
        return code;
    }
    options = &adopted;
    if (options->proxy_path == NULL || options->proxy_path[0] == '\0') {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "local provisioning needs the path of asylo-remote-proxy "
                                "(--remote_proxy)");
    }
    struct stat info;
    if (stat(options->proxy_path, &info) != 0) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_API, "remote proxy '%s': %s",
                                options->proxy_path, strerror(errno));
    }
    if (!S_ISREG(info.st_mode) || access(options->proxy_path, X_OK) != 0) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_API,
                                "remote proxy '%s' is not an executable file", options->proxy_path);
    }
    if (options->security.require_client_certificate && options->security.root_certs == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "local provision: require_client_certificate (mutual TLS) needs "
                                "root_certs (--ssl_root_certs), the CAs client certificates must "
                                "chain to");
    }
    local_provision *self = calloc(1, sizeof *self);
    if (self == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory for a local provision");
    }
    bool failed = false;
    pthread_mutex_init(&self->lock, NULL);
    self->base.version = ASYLO_REMOTE_PROVISION_VERSION;
    self->base.provision = local_provision_run;
    self->base.finalize = local_provision_finalize;
    self->base.destroy = local_provision_destroy;
    self->proxy_path = copy_or_null(options->proxy_path, &failed);
    self->listen_address = copy_or_null(
        options->listen_address != NULL ? options->listen_address : "127.0.0.1:0", &failed);
    self->log_level = copy_or_null(options->log_level, &failed);
    failed |= !asylo__owned_security_copy(&self->security, &options->security);
    self->start_timeout_ms =
        options->start_timeout_ms > 0 ? options->start_timeout_ms : DEFAULT_START_TIMEOUT_MS;
    self->process.pid = -1;
    self->process.pidfd = -1;
    self->process.control_fd = -1;
    if (failed) {
        local_provision_destroy(&self->base);
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory copying local provision options");
    }
    *provision = &self->base;
    return asylo_status_ok(status);
}
