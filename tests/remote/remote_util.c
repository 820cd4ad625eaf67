#include "remote_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int64_t util_now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void util_sleep_ms(int64_t milliseconds) {
    struct timespec delay = {(time_t)(milliseconds / 1000), (long)(milliseconds % 1000) * 1000000L};
    while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {
    }
}

bool util_make_temp_dir(const char *prefix, char *path, size_t size) {
    const char *base = getenv("TMPDIR");
    snprintf(path, size, "%s/%s-XXXXXX", base != NULL && base[0] ? base : "/tmp", prefix);
    return mkdtemp(path) != NULL;
}

static int remove_entry(const char *path, const struct stat *info, int type, struct FTW *ftw) {
    (void)info, (void)type, (void)ftw;
    remove(path);
    return 0;
}

void util_rmtree(const char *path) {
    if (path != NULL && path[0] != '\0') {
        nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

void util_join(char *out, size_t size, const char *dir, const char *name) {
    snprintf(out, size, "%s/%s", dir, name);
}

bool util_write_file(const char *path, const char *content) {
    FILE *file = fopen(path, "w");
    if (file == NULL) {
        return false;
    }
    bool ok = fputs(content, file) >= 0;
    return fclose(file) == 0 && ok;
}

char *util_read_file(const char *path) {
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return NULL;
    }
    size_t capacity = 4096, used = 0;
    char *text = malloc(capacity);
    while (text != NULL) {
        size_t got = fread(text + used, 1, capacity - used - 1, file);
        used += got;
        if (got == 0) {
            break;
        }
        if (capacity - used < 2) {
            capacity *= 2;
            char *bigger = realloc(text, capacity);
            if (bigger == NULL) {
                free(text);
            }
            text = bigger;
        }
    }
    fclose(file);
    if (text != NULL) {
        text[used] = '\0';
    }
    return text;
}

bool util_file_contains(const char *path, const char *needle) {
    char *text = util_read_file(path);
    bool found = text != NULL && strstr(text, needle) != NULL;
    free(text);
    return found;
}

bool util_exists(const char *path) {
    struct stat info;
    return stat(path, &info) == 0;
}

bool util_make_certs(const char *script, const char *dir) {
    char *const argv[] = {"/bin/sh", (char *)script, (char *)dir, NULL};
    pid_t pid;
    if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0) {
        return false;
    }
    int wait_status = 0;
    if (!util_wait_child(pid, 30000, &wait_status)) {
        kill(pid, SIGKILL);
        waitpid(pid, &wait_status, 0);
        return false;
    }
    return WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
}

bool util_ipv6_loopback_available(char *reason, size_t size) {
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(reason, size, "no IPv6 sockets: %s", strerror(errno));
        return false;
    }
    struct sockaddr_in6 address = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&address, sizeof address) == 0;
    if (!ok) {
        snprintf(reason, size, "cannot bind [::1]:0: %s", strerror(errno));
    }
    close(fd);
    return ok;
}

bool util_wait_child(pid_t pid, int64_t timeout_ms, int *wait_status) {
    int64_t deadline = util_now_ms() + timeout_ms;
    int ignored;
    for (;;) {
        pid_t done = waitpid(pid, wait_status != NULL ? wait_status : &ignored, WNOHANG);
        if (done == pid) {
            return true;
        }
        if (done < 0 && errno != EINTR) {
            return false;
        }
        if (util_now_ms() >= deadline) {
            return false;
        }
        util_sleep_ms(5);
    }
}

bool util_process_exists(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    return util_exists(path);
}

bool util_wait_gone(pid_t pid, int64_t timeout_ms) {
    int64_t deadline = util_now_ms() + timeout_ms;
    while (util_process_exists(pid)) {
        if (util_now_ms() >= deadline) {
            return false;
        }
        util_sleep_ms(5);
    }
    return true;
}

/* Reads pid's state character and parent from /proc/PID/stat. */
static bool read_stat(pid_t pid, char *state, pid_t *parent, char *name, size_t name_size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *text = util_read_file(path);
    if (text == NULL) {
        return false;
    }
    /* "pid (comm) S ppid ...": comm may hold spaces and parentheses. */
    char *open = strchr(text, '(');
    char *close = strrchr(text, ')');
    bool ok = false;
    if (open != NULL && close != NULL && close > open) {
        snprintf(name, name_size, "%.*s", (int)(close - open - 1), open + 1);
        int parent_value;
        ok = sscanf(close + 1, " %c %d", state, &parent_value) == 2;
        *parent = parent_value;
    }
    free(text);
    return ok;
}

static int scan_children(pid_t *pids, int max, const char *when) {
    DIR *proc = opendir("/proc");
    if (proc == NULL) {
        return 0;
    }
    pid_t self = getpid();
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end != '\0' || pid <= 0) {
            continue;
        }
        char state, name[64];
        pid_t parent;
        if (!read_stat((pid_t)pid, &state, &parent, name, sizeof name) || parent != self) {
            continue;
        }
        if (when != NULL) {
            fprintf(stderr, "%s: child %ld (%s) state %c\n", when, pid, name, state);
        }
        if (pids != NULL && count < max) {
            pids[count] = (pid_t)pid;
        }
        count++;
    }
    closedir(proc);
    return count;
}

int util_children(pid_t *pids, int max) {
    return scan_children(pids, max, NULL);
}

int util_children_report(const char *when) {
    return scan_children(NULL, 0, when);
}

int util_kill_children(void) {
    pid_t pids[UTIL_MAX_CHILDREN];
    int count = util_children(pids, UTIL_MAX_CHILDREN);
    for (int i = 0; i < count && i < UTIL_MAX_CHILDREN; i++) {
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
    }
    return count;
}

const char *util_target_backend;

bool util_proxy_spawn(util_proxy *proxy, const char *path, const char *const *arguments,
                      const char *cwd, const char *log_path, bool expect_listening,
                      int64_t timeout_ms) {
    memset(proxy, 0, sizeof *proxy);
    proxy->pid = -1;
    proxy->stdout_fd = -1;
    snprintf(proxy->log_path, sizeof proxy->log_path, "%s", log_path);
    char *argv[64];
    int count = 0;
    argv[count++] = (char *)path;
    for (int i = 0; arguments[i] != NULL && count < 62; i++) {
        argv[count++] = (char *)arguments[i];
    }
    /* A proxy started by hand gets the test's backend (given first, so an
     * explicit --backend in `arguments` wins: later flags do). */
    char backend_flag[64];
    const char *name = strrchr(path, '/');
    if (util_target_backend != NULL &&
        strcmp(name != NULL ? name + 1 : path, "asylo-remote-proxy") == 0) {
        snprintf(backend_flag, sizeof backend_flag, "--backend=%s", util_target_backend);
        memmove(&argv[2], &argv[1], (size_t)(count - 1) * sizeof argv[0]);
        argv[1] = backend_flag;
        count++;
    }
    argv[count] = NULL;
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        return false;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (cwd != NULL) {
        posix_spawn_file_actions_addchdir_np(&actions, cwd);
    }
    int error = posix_spawn(&proxy->pid, path, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (error != 0) {
        close(out[0]);
        fprintf(stderr, "cannot spawn %s: %s\n", path, strerror(error));
        proxy->pid = -1;
        return false;
    }
    proxy->stdout_fd = out[0];
    if (!expect_listening) {
        return true;
    }
    char line[512];
    size_t used = 0;
    int64_t deadline = util_now_ms() + timeout_ms;
    while (used + 1 < sizeof line) {
        int64_t left = deadline - util_now_ms();
        struct pollfd poll_fd = {.fd = proxy->stdout_fd, .events = POLLIN};
        if (left <= 0 || poll(&poll_fd, 1, (int)left) <= 0) {
            fprintf(stderr, "proxy %d: no 'listening on' line in %lld ms\n", (int)proxy->pid,
                    (long long)timeout_ms);
            return false;
        }
        if (read(proxy->stdout_fd, line + used, 1) != 1) {
            fprintf(stderr, "proxy %d: stdout closed before 'listening on'\n", (int)proxy->pid);
            return false;
        }
        if (line[used] == '\n') {
            line[used] = '\0';
            const char *marker = strstr(line, "listening on ");
            if (marker == NULL) {
                used = 0;
                continue;
            }
            snprintf(proxy->address, sizeof proxy->address, "%s", marker + strlen("listening on "));
            return true;
        }
        used++;
    }
    return false;
}

bool util_proxy_wait(util_proxy *proxy, int64_t timeout_ms) {
    if (proxy->pid <= 0) {
        return false;
    }
    if (!proxy->reaped) {
        proxy->reaped = util_wait_child(proxy->pid, timeout_ms, &proxy->wait_status);
    }
    if (proxy->reaped && proxy->stdout_fd >= 0) {
        close(proxy->stdout_fd);
        proxy->stdout_fd = -1;
    }
    return proxy->reaped;
}

void util_proxy_kill(util_proxy *proxy) {
    if (proxy->pid > 0 && !proxy->reaped) {
        kill(proxy->pid, SIGKILL);
        waitpid(proxy->pid, &proxy->wait_status, 0);
        proxy->reaped = true;
    }
    if (proxy->stdout_fd >= 0) {
        close(proxy->stdout_fd);
        proxy->stdout_fd = -1;
    }
}

bool util_remote_setup(util_remote *remote, const char *proxy_path, const char *listen_address,
                       bool ssl, const char *certs_dir, asylo_status *status) {
    memset(remote, 0, sizeof *remote);
    static const char *const names[5] = {"ca.pem", "server.pem", "server.key", "client.pem",
                                         "client.key"};
    for (int i = 0; i < 5 && ssl; i++) {
        util_join(remote->paths[i], sizeof remote->paths[i], certs_dir, names[i]);
    }
    asylo_local_provision_options local;
    asylo_local_provision_options_init(&local);
    local.proxy_path = proxy_path;
    local.listen_address = listen_address;
    local.log_level = "warning";
    asylo_remote_config_init(&remote->config);
    remote->config.target_backend = util_target_backend;
    if (ssl) {
        local.security.type = ASYLO_SECURITY_SSL;
        local.security.server_cert = remote->paths[1];
        local.security.server_key = remote->paths[2];
        local.security.root_certs = remote->paths[0];
        local.security.require_client_certificate = 1;
        remote->config.security.type = ASYLO_SECURITY_SSL;
        remote->config.security.root_certs = remote->paths[0];
        remote->config.security.client_cert = remote->paths[3];
        remote->config.security.client_key = remote->paths[4];
    }
    if (asylo_local_provision_create(&local, &remote->provision, status) != ASYLO_OK) {
        return false;
    }
    remote->config.provision = remote->provision;
    return true;
}

void util_remote_teardown(util_remote *remote) {
    asylo_remote_provision_destroy(remote->provision);
    remote->provision = NULL;
}

const char *util_status_text(const asylo_status *status) {
    static _Thread_local char text[ASYLO_STATUS_MESSAGE_SIZE + 64];
    return asylo_status_format(status, text, sizeof text);
}
