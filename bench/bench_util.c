/* Helpers of the bench (see bench_util.h). */
#include "bench_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

double bench_now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1e9 + (double)now.tv_nsec;
}

void bench_sleep_ms(int64_t milliseconds) {
    struct timespec delay = {(time_t)(milliseconds / 1000), (long)(milliseconds % 1000) * 1000000L};
    while (nanosleep(&delay, &delay) != 0 && errno == EINTR) {
    }
}

void samples_add(samples *set, double value) {
    if (set->count == set->capacity) {
        size_t capacity = set->capacity < 64 ? 64 : set->capacity * 2;
        double *grown = realloc(set->values, capacity * sizeof *grown);
        if (grown == NULL) {
            return;
        }
        set->values = grown;
        set->capacity = capacity;
    }
    set->values[set->count++] = value;
}

static int compare_doubles(const void *left, const void *right) {
    double a = *(const double *)left;
    double b = *(const double *)right;
    return a < b ? -1 : a > b;
}

double samples_quantile(const samples *set, double q) {
    if (set->count == 0) {
        return 0;
    }
    double *sorted = malloc(set->count * sizeof *sorted);
    if (sorted == NULL) {
        return 0;
    }
    memcpy(sorted, set->values, set->count * sizeof *sorted);
    qsort(sorted, set->count, sizeof *sorted, compare_doubles);
    double rank = q * (double)set->count;
    size_t index = rank <= 1 ? 0 : (size_t)(rank + 0.999999) - 1;
    if (index >= set->count) {
        index = set->count - 1;
    }
    double value = sorted[index];
    if (q == 0.5 && set->count % 2 == 0) {
        value = (sorted[set->count / 2 - 1] + sorted[set->count / 2]) / 2;
    }
    free(sorted);
    return value;
}

void samples_free(samples *set) {
    free(set->values);
    memset(set, 0, sizeof *set);
}

#define MAX_LIVE 16
static pid_t live[MAX_LIVE];

static void live_set(pid_t old, pid_t new_pid) {
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i] == old) {
            live[i] = new_pid;
            return;
        }
    }
}

void child_kill_all(void) {
    for (int i = 0; i < MAX_LIVE; i++) {
        if (live[i] > 0) {
            kill(live[i], SIGTERM);
            int status;
            waitpid(live[i], &status, 0);
            live[i] = 0;
        }
    }
}

bool child_spawn(char *const argv[], child *out) {
    int in_pipe[2], out_pipe[2];
    out->pid = -1;
    out->stdin_fd = -1;
    out->stdout_fd = -1;
    if (pipe2(in_pipe, O_CLOEXEC) != 0) {
        return false;
    }
    if (pipe2(out_pipe, O_CLOEXEC) != 0) {
        close(in_pipe[0]);
        close(in_pipe[1]);
        return false;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    int error = posix_spawn(&out->pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(in_pipe[0]);
    close(out_pipe[1]);
    if (error != 0) {
        fprintf(stderr, "bench: cannot start %s: %s\n", argv[0], strerror(error));
        close(in_pipe[1]);
        close(out_pipe[0]);
        out->pid = -1;
        return false;
    }
    out->stdin_fd = in_pipe[1];
    out->stdout_fd = out_pipe[0];
    live_set(0, out->pid);
    return true;
}

bool child_read_marker(child *process, const char *marker, char *value, size_t size,
                       int64_t timeout_ms) {
    char line[1024];
    size_t used = 0;
    double deadline = bench_now_ns() + (double)timeout_ms * 1e6;
    while (bench_now_ns() < deadline) {
        struct pollfd poll_fd = {.fd = process->stdout_fd, .events = POLLIN};
        if (poll(&poll_fd, 1, 100) <= 0) {
            continue;
        }
        char byte;
        if (read(process->stdout_fd, &byte, 1) != 1) {
            return false;
        }
        if (byte != '\n') {
            if (used < sizeof line - 1) {
                line[used++] = byte;
            }
            continue;
        }
        line[used] = '\0';
        used = 0;
        const char *found = strstr(line, marker);
        if (found != NULL) {
            snprintf(value, size, "%s", found + strlen(marker));
            return true;
        }
    }
    return false;
}

void child_stop(child *process, int64_t timeout_ms) {
    if (process->stdin_fd >= 0) {
        close(process->stdin_fd);
        process->stdin_fd = -1;
    }
    if (process->pid > 0) {
        double deadline = bench_now_ns() + (double)timeout_ms * 1e6;
        int status;
        while (waitpid(process->pid, &status, WNOHANG) == 0) {
            if (bench_now_ns() >= deadline) {
                kill(process->pid, SIGKILL);
                waitpid(process->pid, &status, 0);
                break;
            }
            bench_sleep_ms(2);
        }
        live_set(process->pid, 0);
        process->pid = -1;
    }
    if (process->stdout_fd >= 0) {
        close(process->stdout_fd);
        process->stdout_fd = -1;
    }
}

long bench_rss_kib(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return -1;
    }
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, file) != NULL) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
            break;
        }
    }
    fclose(file);
    return kib;
}

double bench_cpu_us(pid_t pid) {
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return 0;
    }
    size_t got = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[got] = '\0';
    char *close_paren = strrchr(text, ')');
    unsigned long long user = 0, system = 0;
    /* After "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime. */
    if (close_paren == NULL ||
        sscanf(close_paren + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &user,
               &system) != 2) {
        return 0;
    }
    return (double)(user + system) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

pid_t bench_find_child(const char *comm_prefix) {
    DIR *proc = opendir("/proc");
    if (proc == NULL) {
        return -1;
    }
    pid_t self = getpid();
    pid_t found = -1;
    struct dirent *entry;
    while (found < 0 && (entry = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end != '\0' || pid <= 0) {
            continue;
        }
        char path[64], text[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *file = fopen(path, "r");
        if (file == NULL) {
            continue;
        }
        size_t got = fread(text, 1, sizeof text - 1, file);
        fclose(file);
        text[got] = '\0';
        char *open = strchr(text, '(');
        char *close_paren = strrchr(text, ')');
        int parent = 0;
        char state;
        if (open == NULL || close_paren == NULL ||
            sscanf(close_paren + 1, " %c %d", &state, &parent) != 2 || parent != self) {
            continue;
        }
        if (strncmp(open + 1, comm_prefix, strlen(comm_prefix)) == 0) {
            found = (pid_t)pid;
        }
    }
    closedir(proc);
    return found;
}

size_t bench_children_of(pid_t parent, pid_t *pids, size_t max) {
    DIR *proc = opendir("/proc");
    if (proc == NULL) {
        return 0;
    }
    size_t count = 0;
    struct dirent *entry;
    while (count < max && (entry = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end != '\0' || pid <= 0) {
            continue;
        }
        char path[64], text[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *file = fopen(path, "r");
        if (file == NULL) {
            continue;
        }
        size_t got = fread(text, 1, sizeof text - 1, file);
        fclose(file);
        text[got] = '\0';
        char *close_paren = strrchr(text, ')');
        int ppid = 0;
        if (close_paren != NULL && sscanf(close_paren + 1, " %*c %d", &ppid) == 1 &&
            ppid == (int)parent) {
            pids[count++] = (pid_t)pid;
        }
    }
    closedir(proc);
    return count;
}

bool bench_copy_file(const char *from, const char *to) {
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        return false;
    }
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
    if (out < 0) {
        close(in);
        return false;
    }
    static _Thread_local char buffer[65536];
    bool ok = true;
    for (;;) {
        ssize_t got = read(in, buffer, sizeof buffer);
        if (got <= 0) {
            ok = got == 0;
            break;
        }
        if (write(out, buffer, (size_t)got) != got) {
            ok = false;
            break;
        }
    }
    close(in);
    return close(out) == 0 && ok;
}

uint8_t *bench_read_file(const char *path, size_t *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat info;
    if (fd < 0 || fstat(fd, &info) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    uint8_t *data = malloc((size_t)info.st_size + 1);
    size_t done = 0;
    while (data != NULL && done < (size_t)info.st_size) {
        ssize_t got = read(fd, data + done, (size_t)info.st_size - done);
        if (got <= 0) {
            free(data);
            data = NULL;
            break;
        }
        done += (size_t)got;
    }
    close(fd);
    *size = done;
    return data;
}

static int remove_entry(const char *path, const struct stat *info, int type, struct FTW *ftw) {
    (void)info, (void)type, (void)ftw;
    remove(path);
    return 0;
}

void bench_rmtree(const char *path) {
    if (path != NULL && path[0] != '\0') {
        nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}
