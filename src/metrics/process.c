/* Process metrics from /proc/self; see process.h. */
#include "metrics/process.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The /proc/self/stat fields we use (1-based numbers as in proc(5)). */
typedef struct proc_stat {
    unsigned long long utime;      /* 14, clock ticks */
    unsigned long long stime;      /* 15, clock ticks */
    unsigned long long start_time; /* 22, clock ticks after boot */
    unsigned long long vsize;      /* 23, bytes */
    long long rss;                 /* 24, pages */
} proc_stat;

static int read_file(const char *path, char *buffer, size_t size) {
    FILE *file = fopen(path, "re");
    if (file == NULL) {
        return -1;
    }
    size_t read = fread(buffer, 1, size - 1, file);
    fclose(file);
    buffer[read] = '\0';
    return read > 0 ? 0 : -1;
}

static int read_proc_stat(proc_stat *stat) {
    char buffer[1024];
    if (read_file("/proc/self/stat", buffer, sizeof buffer) != 0) {
        return -1;
    }
    /* Field 2 is the command name in parentheses and may itself contain
     * spaces and ')': fields after it start past the last ')'. */
    const char *cursor = strrchr(buffer, ')');
    if (cursor == NULL) {
        return -1;
    }
    cursor++;
    int matched = sscanf(cursor,
                         " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u" /* fields 3-13 */
                         " %llu %llu %*d %*d %*d %*d %*d %*d"           /* 14-21 */
                         " %llu %llu %lld",                             /* 22-24 */
                         &stat->utime, &stat->stime, &stat->start_time, &stat->vsize, &stat->rss);
    return matched == 5 ? 0 : -1;
}

static double ticks_per_second(void) {
    long ticks = sysconf(_SC_CLK_TCK);
    return ticks > 0 ? (double)ticks : 100.0;
}

static int cpu_seconds(void *arg, double *value) {
    (void)arg;
    proc_stat stat;
    if (read_proc_stat(&stat) != 0) {
        return -1;
    }
    *value = (double)(stat.utime + stat.stime) / ticks_per_second();
    return 0;
}

static int resident_bytes(void *arg, double *value) {
    (void)arg;
    proc_stat stat;
    if (read_proc_stat(&stat) != 0) {
        return -1;
    }
    *value = (double)stat.rss * (double)sysconf(_SC_PAGESIZE);
    return 0;
}

static int virtual_bytes(void *arg, double *value) {
    (void)arg;
    proc_stat stat;
    if (read_proc_stat(&stat) != 0) {
        return -1;
    }
    *value = (double)stat.vsize;
    return 0;
}

/* Boot time from the "btime" line of /proc/stat. */
static int boot_time(double *seconds) {
    FILE *file = fopen("/proc/stat", "re");
    if (file == NULL) {
        return -1;
    }
    char line[256];
    int result = -1;
    while (fgets(line, sizeof line, file) != NULL) {
        unsigned long long btime;
        if (sscanf(line, "btime %llu", &btime) == 1) {
            *seconds = (double)btime;
            result = 0;
            break;
        }
    }
    fclose(file);
    return result;
}

static int start_time(void *arg, double *value) {
    (void)arg;
    proc_stat stat;
    double boot = 0;
    if (read_proc_stat(&stat) != 0 || boot_time(&boot) != 0) {
        return -1;
    }
    *value = boot + (double)stat.start_time / ticks_per_second();
    return 0;
}

static int open_fds(void *arg, double *value) {
    (void)arg;
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL) {
        return -1;
    }
    long count = 0;
    const struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] != '.') {
            count++;
        }
    }
    closedir(dir);
    *value = (double)(count - 1); /* not the descriptor opendir used */
    return 0;
}

static int max_fds(void *arg, double *value) {
    (void)arg;
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return -1;
    }
    *value = limit.rlim_cur == RLIM_INFINITY ? INFINITY : (double)limit.rlim_cur;
    return 0;
}

asylo_code asylo__metrics_register_process(asylo__metrics_registry *registry,
                                           asylo_status *status) {
    static const struct {
        const char *name;
        const char *help;
        asylo__metric_type type;
        asylo__metric_callback callback;
    } metrics[] = {
        {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
         ASYLO__METRIC_COUNTER, cpu_seconds},
        {"process_resident_memory_bytes", "Resident memory size in bytes.", ASYLO__METRIC_GAUGE,
         resident_bytes},
        {"process_virtual_memory_bytes", "Virtual memory size in bytes.", ASYLO__METRIC_GAUGE,
         virtual_bytes},
        {"process_open_fds", "Number of open file descriptors.", ASYLO__METRIC_GAUGE, open_fds},
        {"process_max_fds", "Maximum number of open file descriptors.", ASYLO__METRIC_GAUGE,
         max_fds},
        {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
         ASYLO__METRIC_GAUGE, start_time},
    };
    for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
        asylo__metric_desc desc = {
            .name = metrics[i].name, .help = metrics[i].help, .type = metrics[i].type};
        asylo_code code = asylo__metrics_register_callback(registry, &desc, metrics[i].callback,
                                                           NULL, NULL, status);
        if (code != ASYLO_OK) {
            return code;
        }
    }
    return asylo_status_ok(status);
}
