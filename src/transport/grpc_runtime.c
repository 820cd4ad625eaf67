/* Reference-counted grpc_init/grpc_shutdown (see grpc_runtime.h). */
#include "transport/grpc_runtime.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>

#include "common/log.h"
#include "transport/grpc_log.h"

#define BACKUP_POLL_VARIABLE "GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS"

static pthread_mutex_t runtime_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long runtime_references;

/* True when this process has one thread (/proc/self/stat, field 20). */
static bool single_threaded(void) {
    FILE *file = fopen("/proc/self/stat", "re");
    if (file == NULL) {
        return false;
    }
    char text[1024];
    size_t got = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[got] = '\0';
    const char *after_name = strrchr(text, ')'); /* the name may hold spaces */
    long threads = 0;
    if (after_name == NULL ||
        sscanf(after_name + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
               "%*d %ld",
               &threads) != 1) {
        return false;
    }
    return threads == 1;
}

/* gRPC reads GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS once, in its
 * one-time basic init, and only from the environment (its own setter calls
 * setenv too). setenv while other threads may call getenv is undefined
 * behaviour, so the library sets it only here: when the library is loaded
 * with the program (before main) or later while the process still has a
 * single thread. Loaded into a process that already runs threads, it leaves
 * the environment alone and gRPC keeps its default of 5 s. */
__attribute__((constructor)) static void set_backup_poll_before_threads(void) {
    const char *value = getenv(BACKUP_POLL_VARIABLE);
    if ((value == NULL || atoi(value) <= 0) && single_threaded()) {
        char text[16];
        snprintf(text, sizeof text, "%d", ASYLO__BACKUP_POLL_MS);
        setenv(BACKUP_POLL_VARIABLE, text, 1);
    }
}

void asylo__grpc_acquire(void) {
    pthread_mutex_lock(&runtime_lock);
    /* grpc_init is itself counted; ours only catches unpaired releases. */
    runtime_references++;
    grpc_init();
    asylo__grpc_log_install();
    pthread_mutex_unlock(&runtime_lock);
}

void asylo__grpc_release(void) {
    pthread_mutex_lock(&runtime_lock);
    if (runtime_references == 0) {
        /* An extra grpc_shutdown would tear down another user's runtime. */
        asylo__log(ASYLO_LOG_ERROR, "transport", NULL, 0,
                   "gRPC runtime released more often than acquired");
    } else {
        runtime_references--;
        grpc_shutdown();
    }
    pthread_mutex_unlock(&runtime_lock);
}
