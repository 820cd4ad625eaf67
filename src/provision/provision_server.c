/* The provision server's bookkeeping: limits, the proxies it runs, their
 * ports and images, and cleaning up after proxies, clients and earlier runs.
 *
 * Each running proxy has a monitor thread that waits for it to exit
 * (waitid with WNOWAIT, so the pid cannot be reused while the record is
 * live), then removes its record, its pid file and, when no other proxy uses
 * it, its image. Whoever stops a proxy only signals it and waits for the
 * monitor to do that. */
#include "provision/provision_server.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/clock.h"
#include "common/log.h"
#include "provision/allowlist.h"

#define PROXY_START_TIMEOUT_MS 10000
#define PORT_ATTEMPTS 8
#define STOP_WAIT_MS 5000
#define KILL_WAIT_MS 2000

static void pid_file_path(const asylo__provision_server *server, const char *id,
                          char path[PATH_MAX]) {
    snprintf(path, PATH_MAX, "%s/proxies/%s.pid", server->store.directory, id);
}

/* Whether pid is an asylo-remote-proxy serving an image of this store: a
 * pid file may outlive its process (a reboot, a crash) and its pid be reused,
 * also by the proxy of another server of the same user. */
static bool is_our_proxy(const asylo__provision_server *server, pid_t pid) {
    char path[64];
    char command[PATH_MAX + 512];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *file = fopen(path, "re");
    if (file == NULL) {
        return false;
    }
    size_t got = fread(command, 1, sizeof command - 1, file);
    fclose(file);
    command[got] = '\0';
    if (strstr(command, "asylo-remote-proxy") == NULL) {
        return false;
    }
    char images[sizeof server->store.directory + 32];
    snprintf(images, sizeof images, "--enclave_path=%s/images/", server->store.directory);
    /* The arguments are NUL-separated. */
    for (size_t at = 0; at < got; at += strlen(command + at) + 1) {
        if (strncmp(command + at, images, strlen(images)) == 0) {
            return true;
        }
    }
    return false;
}

/* Stops proxies an earlier, crashed run left behind (their pid files say
 * which), checking that each pid really is an asylo-remote-proxy of this
 * store. */
static void stop_stale_proxies(asylo__provision_server *server) {
    char directory_path[PATH_MAX];
    snprintf(directory_path, sizeof directory_path, "%s/proxies", server->store.directory);
    DIR *directory = opendir(directory_path);
    if (directory == NULL) {
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (entry->d_name[0] == '.') {
            continue;
        }
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", directory_path, entry->d_name);
        FILE *file = strstr(entry->d_name, ".pid") != NULL ? fopen(path, "re") : NULL;
        long pid = 0;
        if (file != NULL) {
            if (fscanf(file, "%ld", &pid) != 1) {
                pid = 0;
            }
            fclose(file);
        }
        /* The pidfd pins one process: the check and the signals below all
         * reach it, never another process that has reused the pid since. */
        int pidfd = pid > 1 ? asylo__pidfd_open((pid_t)pid) : -1;
        if (pidfd >= 0 && is_our_proxy(server, (pid_t)pid)) {
            asylo__log(ASYLO_LOG_WARNING, "provision", NULL, 0,
                       "stopping proxy %ld left by an earlier run", pid);
            asylo__pidfd_send_signal(pidfd, SIGTERM);
            struct pollfd exited = {.fd = pidfd, .events = POLLIN};
            while (poll(&exited, 1, KILL_WAIT_MS) < 0 && errno == EINTR) {
            }
            if (!(exited.revents & POLLIN)) {
                asylo__pidfd_send_signal(pidfd, SIGKILL);
            }
        }
        if (pidfd >= 0) {
            close(pidfd);
        }
        unlink(path);
    }
    closedir(directory);
}

asylo_code asylo__provision_server_init(asylo__provision_server *server,
                                        const asylo__provision_server_options *options,
                                        asylo_status *status) {
    memset(server, 0, sizeof *server);
    server->options = *options;
    server->store.lock_fd = -1;
    pthread_mutex_init(&server->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&server->changed, &attributes);
    pthread_condattr_destroy(&attributes);
    asylo_code code = asylo__address_parse(options->address, &server->address, status);
    if (code == ASYLO_OK && options->proxy_port_low > options->proxy_port_high) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "--proxy_ports: %u-%u is an empty range", options->proxy_port_low,
                                options->proxy_port_high);
    }
    if (code == ASYLO_OK) {
        code = asylo__image_store_open(&server->store, options->storage_directory, status);
    }
    if (code == ASYLO_OK) {
        stop_stale_proxies(server);
    }
    if (code == ASYLO_OK && options->allowlist_path != NULL) {
        code = asylo__allowlist_load(options->allowlist_path, &server->allowlist,
                                     &server->allowlist_count, status);
    }
    return code;
}

size_t asylo__provision_server_running(asylo__provision_server *server) {
    pthread_mutex_lock(&server->lock);
    size_t count = server->proxy_count;
    pthread_mutex_unlock(&server->lock);
    return count;
}

static bool allowed_image(const asylo__provision_server *server,
                          const uint8_t sha256[ASYLO__SHA256_SIZE]) {
    if (server->allowlist == NULL) {
        return true;
    }
    for (size_t i = 0; i < server->allowlist_count; i++) {
        if (memcmp(server->allowlist[i], sha256, ASYLO__SHA256_SIZE) == 0) {
            return true;
        }
    }
    return false;
}

asylo_code asylo__provision_reserve(asylo__provision_server *server, const char *identity,
                                    const uint8_t sha256[ASYLO__SHA256_SIZE], uint64_t image_size,
                                    const char *backend, asylo__provisioned_proxy **slot,
                                    asylo_status *status) {
    *slot = NULL;
    const char *allowed_backend =
        server->options.allowed_backend ? server->options.allowed_backend : "sim";
    if (backend[0] != '\0' && strcmp(backend, allowed_backend) != 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "this server runs enclaves with the '%s' backend, not '%s'",
                                allowed_backend, backend);
    }
    if (image_size == 0 || image_size > server->options.max_image_size) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "image of %llu bytes is empty or over this server's "
                                "--max_image_size of %llu bytes",
                                (unsigned long long)image_size,
                                (unsigned long long)server->options.max_image_size);
    }
    if (!allowed_image(server, sha256)) {
        char hex[ASYLO__SHA256_HEX_SIZE];
        asylo__sha256_hex(sha256, hex);
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_API,
                                "image %s is not on this server's --allowlist", hex);
    }
    asylo__provisioned_proxy *proxy = calloc(1, sizeof *proxy);
    if (proxy == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory for a proxy record");
    }
    uint8_t id_bytes[16];
    if (getrandom(id_bytes, sizeof id_bytes, 0) != (ssize_t)sizeof id_bytes) {
        free(proxy);
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_API,
                                "cannot make a proxy id: %s", strerror(errno));
    }
    for (size_t i = 0; i < sizeof id_bytes; i++) {
        snprintf(proxy->id + 2 * i, 3, "%02x", id_bytes[i]);
    }
    snprintf(proxy->identity, sizeof proxy->identity, "%s", identity ? identity : "");
    asylo__sha256_hex(sha256, proxy->sha256_hex);
    proxy->process.pid = -1;
    proxy->process.control_fd = -1;

    asylo_code code = ASYLO_OK;
    pthread_mutex_lock(&server->lock);
    size_t same_client = 0;
    size_t same_client_uploads = 0;
    bool authenticated = identity != NULL && identity[0] != '\0';
    for (asylo__provisioned_proxy *other = server->proxies; other != NULL; other = other->next) {
        bool same = authenticated && strcmp(other->identity, identity) == 0;
        same_client += same;
        same_client_uploads += same && !other->proxy_slot;
    }
    size_t max_uploads = server->options.max_uploads;
    if (server->draining) {
        code = asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_API,
                                "the provision server is shutting down; try another");
    } else if (server->upload_count >= max_uploads) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "this server already receives its --max_uploads of %zu uploads; "
                                "try again shortly",
                                max_uploads);
    } else if (same_client_uploads > 0 && max_uploads > 1 &&
               server->upload_count + 1 >= max_uploads) {
        /* Under mutual TLS one client (one certificate) cannot take the last
         * upload slot while it already uploads: another client gets it. */
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "client '%s' already uploads and the last of the --max_uploads "
                                "of %zu is kept for other clients; try again shortly",
                                identity, max_uploads);
    } else if (server->proxy_count >= server->options.max_proxies) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "this server already runs its --max_proxies of %zu proxies",
                                server->options.max_proxies);
    } else if (same_client >= server->options.max_proxies_per_client) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "client '%s' already has its --max_proxies_per_client of %zu "
                                "proxies",
                                identity, server->options.max_proxies_per_client);
    } else {
        proxy->next = server->proxies;
        server->proxies = proxy;
        server->upload_count++;
    }
    pthread_mutex_unlock(&server->lock);
    if (code != ASYLO_OK) {
        free(proxy);
        return code;
    }
    *slot = proxy;
    return asylo_status_ok(status);
}

/* Removes a record (lock held); the image goes when nothing else uses it. */
static void remove_locked(asylo__provision_server *server, asylo__provisioned_proxy *proxy) {
    bool image_shared = false;
    for (asylo__provisioned_proxy **link = &server->proxies; *link != NULL;) {
        if (*link == proxy) {
            *link = proxy->next;
            continue;
        }
        image_shared |= strcmp((*link)->sha256_hex, proxy->sha256_hex) == 0;
        link = &(*link)->next;
    }
    if (proxy->proxy_slot) {
        server->proxy_count--;
    } else {
        server->upload_count--;
    }
    if (!image_shared) {
        asylo__image_store_remove(&server->store, proxy->sha256_hex);
    }
    char path[PATH_MAX];
    pid_file_path(server, proxy->id, path);
    unlink(path);
    if (server->address.family == ASYLO__ADDRESS_UNIX) {
        snprintf(path, sizeof path, "%s/proxies/%s.sock", server->store.directory, proxy->id);
        unlink(path);
    }
    pthread_cond_broadcast(&server->changed);
}

void asylo__provision_unreserve(asylo__provision_server *server, asylo__provisioned_proxy *slot) {
    if (slot == NULL) {
        return;
    }
    pthread_mutex_lock(&server->lock);
    remove_locked(server, slot);
    pthread_mutex_unlock(&server->lock);
    free(slot);
}

typedef struct monitor_context {
    asylo__provision_server *server;
    asylo__provisioned_proxy *proxy;
} monitor_context;

static void *monitor_proxy(void *opaque) {
    monitor_context context = *(monitor_context *)opaque;
    free(opaque);
    asylo__provisioned_proxy *proxy = context.proxy;
    siginfo_t info;
    memset(&info, 0, sizeof info);
    /* Wait without reaping: until we hold the lock, the pid stays ours. */
    while (waitid(P_PID, (id_t)proxy->process.pid, &info, WEXITED | WNOWAIT) != 0 &&
           errno == EINTR) {
    }
    pthread_mutex_lock(&context.server->lock);
    int wait_status = 0;
    pid_t pid = proxy->process.pid;
    /* Reaps it (it has exited) and closes its pidfd. */
    if (!asylo__proxy_process_wait(&proxy->process, 1000, &wait_status) &&
        proxy->process.pidfd >= 0) {
        close(proxy->process.pidfd);
        proxy->process.pidfd = -1;
    }
    asylo__log(ASYLO_LOG_INFO, "provision", NULL, 0, "proxy %s (pid %d) ended with %s %d",
               proxy->id, (int)pid, WIFSIGNALED(wait_status) ? "signal" : "status",
               WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : WEXITSTATUS(wait_status));
    proxy->process.pid = -1;
    if (proxy->process.control_fd >= 0) {
        close(proxy->process.control_fd);
        proxy->process.control_fd = -1;
    }
    remove_locked(context.server, proxy);
    pthread_mutex_unlock(&context.server->lock);
    free(proxy);
    return NULL;
}

static void write_pid_file(asylo__provision_server *server, asylo__provisioned_proxy *proxy) {
    char path[PATH_MAX];
    pid_file_path(server, proxy->id, path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        char line[32];
        int length = snprintf(line, sizeof line, "%d\n", (int)proxy->process.pid);
        ssize_t ignored = write(fd, line, (size_t)length);
        (void)ignored;
        close(fd);
    }
}

/* The next port in the range no running proxy holds, from `after`. */
static uint16_t next_free_port(asylo__provision_server *server, uint32_t after) {
    for (uint32_t port = after; port <= server->options.proxy_port_high; port++) {
        bool used = false;
        for (asylo__provisioned_proxy *other = server->proxies; other != NULL;
             other = other->next) {
            used |= other->port == port;
        }
        if (!used) {
            return (uint16_t)port;
        }
    }
    return 0;
}

static asylo_code shutting_down(asylo_status *status) {
    return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_API,
                            "the provision server is shutting down; try another");
}

asylo_code asylo__provision_claim(asylo__provision_server *server, asylo__provisioned_proxy *slot,
                                  asylo_status *status) {
    /* A drain that began during the upload takes no new proxy: it would
     * wait for it, then kill it. The upload's slot becomes a proxy's, if
     * one is free (uploads and proxies are counted apart). */
    pthread_mutex_lock(&server->lock);
    bool draining = server->draining;
    bool full = !slot->proxy_slot && server->proxy_count >= server->options.max_proxies;
    if (!draining && !full && !slot->proxy_slot) {
        slot->proxy_slot = true;
        server->upload_count--;
        server->proxy_count++;
        pthread_cond_broadcast(&server->changed);
    }
    pthread_mutex_unlock(&server->lock);
    if (draining) {
        return shutting_down(status);
    }
    if (full) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "this server already runs its --max_proxies of %zu proxies",
                                server->options.max_proxies);
    }
    return asylo_status_ok(status);
}

asylo_code asylo__provision_spawn(asylo__provision_server *server, asylo__provisioned_proxy *slot,
                                  const char *backend, asylo_status *status) {
    char image_path[PATH_MAX];
    asylo__image_store_path(&server->store, slot->sha256_hex, image_path);
    asylo__proxy_process_options options = {
        .proxy_path = server->options.proxy_path,
        .enclave_path = image_path,
        /* "": the client left the choice to this server. */
        .backend = backend[0] != '\0'                ? backend
                   : server->options.allowed_backend ? server->options.allowed_backend
                                                     : "sim",
        .log_level = server->options.log_level,
        .security = &server->options.security,
        .load_timeout_ms = server->options.proxy_load_timeout_ms,
    };
    asylo_code code = ASYLO_UNAVAILABLE;
    uint32_t candidate = server->options.proxy_port_low;
    for (int attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
        char address[PATH_MAX + 16];
        uint16_t port = 0;
        if (server->address.family == ASYLO__ADDRESS_UNIX) {
            snprintf(address, sizeof address, "unix:%s/proxies/%s.sock", server->store.directory,
                     slot->id);
        } else {
            pthread_mutex_lock(&server->lock);
            port = next_free_port(server, candidate);
            slot->port = port;
            pthread_mutex_unlock(&server->lock);
            if (port == 0) {
                return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                        "no free port left in --proxy_ports %u-%u",
                                        server->options.proxy_port_low,
                                        server->options.proxy_port_high);
            }
            asylo__address bind_address;
            asylo__address_with_port(&server->address, port, &bind_address);
            snprintf(address, sizeof address, "%s", asylo__address_target(&bind_address));
            candidate = (uint32_t)port + 1;
        }
        options.address = address;
        options.deadline_ms = asylo__monotonic_ms() + PROXY_START_TIMEOUT_MS;
        code = asylo__proxy_process_start(&options, &slot->process, status);
        /* UNAVAILABLE from the proxy is a bind failure: someone else holds the
         * port, so try the next one. */
        if (code != ASYLO_UNAVAILABLE || server->address.family == ASYLO__ADDRESS_UNIX) {
            break;
        }
    }
    return code;
}

asylo_code asylo__provision_register(asylo__provision_server *server,
                                     asylo__provisioned_proxy *slot, asylo_status *status) {
    monitor_context *context = malloc(sizeof *context);
    pthread_t monitor;
    pthread_mutex_lock(&server->lock);
    if (server->draining) {
        /* Not yet monitored: ours to stop (it finishes when its pipe closes). */
        pthread_mutex_unlock(&server->lock);
        free(context);
        asylo__proxy_process_stop(&slot->process, STOP_WAIT_MS, NULL);
        return shutting_down(status);
    }
    slot->running = true;
    write_pid_file(server, slot);
    if (context != NULL) {
        *context = (monitor_context){server, slot};
    }
    if (context == NULL || pthread_create(&monitor, NULL, monitor_proxy, context) != 0) {
        pthread_mutex_unlock(&server->lock);
        free(context);
        asylo__proxy_process_stop(&slot->process, 0, NULL);
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "cannot start a monitor thread for the proxy");
    }
    pthread_detach(monitor);
    pthread_mutex_unlock(&server->lock);
    asylo__log(ASYLO_LOG_INFO, "provision", NULL, 0,
               "proxy %s (pid %d) serves image %.16s... on %s for client '%s'", slot->id,
               (int)slot->process.pid, slot->sha256_hex, slot->process.address,
               slot->identity[0] ? slot->identity : "(no certificate)");
    return asylo_status_ok(status);
}

asylo_code asylo__provision_start(asylo__provision_server *server, asylo__provisioned_proxy *slot,
                                  const char *backend, asylo_status *status) {
    asylo_code code = asylo__provision_claim(server, slot, status);
    if (code == ASYLO_OK) {
        code = asylo__provision_spawn(server, slot, backend, status);
    }
    return code == ASYLO_OK ? asylo__provision_register(server, slot, status) : code;
}

static asylo__provisioned_proxy *find_locked(asylo__provision_server *server, const char *id) {
    for (asylo__provisioned_proxy *proxy = server->proxies; proxy != NULL; proxy = proxy->next) {
        if (proxy->running && strcmp(proxy->id, id) == 0) {
            return proxy;
        }
    }
    return NULL;
}

/* Signals a proxy (lock held): closing its pipe asks it to finish; signal
 * numbers escalate. Safe because the monitor has not reaped it yet. */
static void signal_locked(asylo__provisioned_proxy *proxy, int signal_number) {
    if (proxy->process.control_fd >= 0) {
        close(proxy->process.control_fd);
        proxy->process.control_fd = -1;
    }
    if (signal_number != 0 && proxy->process.pid > 0) {
        asylo__proxy_process_signal(&proxy->process, signal_number);
    }
}

/* Waits (lock held) until the proxy's record is gone or the time passes. */
static bool wait_gone_locked(asylo__provision_server *server, const char *id, int64_t timeout_ms) {
    struct timespec deadline;
    asylo__timespec_after_ms(&deadline, timeout_ms);
    while (find_locked(server, id) != NULL) {
        if (pthread_cond_timedwait(&server->changed, &server->lock, &deadline) == ETIMEDOUT) {
            return find_locked(server, id) == NULL;
        }
    }
    return true;
}

asylo_code asylo__provision_stop(asylo__provision_server *server, const char *id, const char *token,
                                 asylo_status *status) {
    pthread_mutex_lock(&server->lock);
    asylo__provisioned_proxy *proxy = find_locked(server, id);
    if (proxy == NULL) {
        pthread_mutex_unlock(&server->lock);
        /* Already gone (its host closed it): releasing is done. */
        return asylo_status_ok(status);
    }
    size_t token_length = strlen(proxy->process.token);
    if (token == NULL || strlen(token) != token_length ||
        CRYPTO_memcmp(token, proxy->process.token, token_length) != 0) {
        pthread_mutex_unlock(&server->lock);
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_API,
                                "wrong token for proxy %s", id);
    }
    signal_locked(proxy, 0);
    if (!wait_gone_locked(server, id, STOP_WAIT_MS)) {
        proxy = find_locked(server, id);
        if (proxy != NULL) {
            signal_locked(proxy, SIGTERM);
        }
        if (!wait_gone_locked(server, id, KILL_WAIT_MS) && (proxy = find_locked(server, id))) {
            signal_locked(proxy, SIGKILL);
            wait_gone_locked(server, id, KILL_WAIT_MS);
        }
    }
    pthread_mutex_unlock(&server->lock);
    return asylo_status_ok(status);
}

void asylo__provision_server_drain(asylo__provision_server *server, int64_t grace_ms) {
    pthread_mutex_lock(&server->lock);
    server->draining = true;
    for (asylo__provisioned_proxy *proxy = server->proxies; proxy != NULL; proxy = proxy->next) {
        if (proxy->running) {
            signal_locked(proxy, SIGTERM);
        }
    }
    struct timespec deadline;
    asylo__timespec_after_ms(&deadline, grace_ms);
    while (server->proxy_count + server->upload_count > 0) {
        if (pthread_cond_timedwait(&server->changed, &server->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    for (asylo__provisioned_proxy *proxy = server->proxies; proxy != NULL; proxy = proxy->next) {
        if (proxy->running) {
            signal_locked(proxy, SIGKILL);
        }
    }
    asylo__timespec_after_ms(&deadline, KILL_WAIT_MS);
    while (server->proxy_count + server->upload_count > 0) {
        if (pthread_cond_timedwait(&server->changed, &server->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&server->lock);
}

void asylo__provision_server_fini(asylo__provision_server *server) {
    asylo__image_store_close(&server->store);
    free(server->allowlist);
    server->allowlist = NULL;
    pthread_cond_destroy(&server->changed);
    pthread_mutex_destroy(&server->lock);
}
