/* Small helpers of the bench: clocks, sample sets, child processes, files. */
#ifndef ASYLO_BENCH_UTIL_H
#define ASYLO_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

double bench_now_ns(void);
void bench_sleep_ms(int64_t milliseconds);

/* A growable set of samples. */
typedef struct samples {
    double *values;
    size_t count;
    size_t capacity;
} samples;

void samples_add(samples *set, double value);
/* The q-quantile (0..1) by nearest rank; 0 for an empty set. */
double samples_quantile(const samples *set, double q);
void samples_free(samples *set);

/* A child whose stdin we hold (closing it tells the child to go) and whose
 * stdout we read. */
typedef struct child {
    pid_t pid;
    int stdin_fd;
    int stdout_fd;
} child;

/* Spawns argv[0] (posix_spawn: gRPC threads forbid fork) with stdin and
 * stdout as pipes; stderr is inherited. */
bool child_spawn(char *const argv[], child *out);
/* Reads stdout lines until one contains `marker`, within timeout_ms; copies
 * the rest of that line (after the marker) into value. */
bool child_read_marker(child *process, const char *marker, char *value, size_t size,
                       int64_t timeout_ms);
/* Closes stdin, waits up to timeout_ms, then SIGKILL; always reaps. */
void child_stop(child *process, int64_t timeout_ms);

/* SIGTERMs and reaps every child still running (for fatal errors). */
void child_kill_all(void);

/* VmRSS of pid in KiB (from /proc/PID/status); -1 when unreadable. */
long bench_rss_kib(pid_t pid);
/* User + system CPU time of pid (all its threads) in microseconds, from
 * /proc/PID/stat (clock-tick resolution); 0 when unreadable. */
double bench_cpu_us(pid_t pid);
/* The first child of ours whose /proc comm starts with prefix; -1 if none. */
pid_t bench_find_child(const char *comm_prefix);

/* Up to max pids whose parent is `parent`; returns how many. */
size_t bench_children_of(pid_t parent, pid_t *pids, size_t max);

bool bench_copy_file(const char *from, const char *to);
/* The whole file in a malloc'd buffer. */
uint8_t *bench_read_file(const char *path, size_t *size);
void bench_rmtree(const char *path);

#endif
