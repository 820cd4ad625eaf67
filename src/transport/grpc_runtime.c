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

#define GRPC_DEFAULT_BACKUP_POLL_MS 5000
#define BACKUP_POLL_VARIABLE "GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS"

static pthread_mutex_t runtime_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long runtime_references;
static int backup_poll_ms;            /* 0 until the first acquire */
static bool backup_poll_set_at_start; /* the constructor set the variable */

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
 * the environment alone and gRPC keeps its default (reported by
 * asylo__grpc_backup_poll_ms, which clients size their keepalive by). */
__attribute__((constructor)) static void set_backup_poll_before_threads(void) {
    const char *value = getenv(BACKUP_POLL_VARIABLE);
    if ((value == NULL || atoi(value) <= 0) && single_threaded()) {
        char text[16];
        snprintf(text, sizeof text, "%d", ASYLO__BACKUP_POLL_MS);
        backup_poll_set_at_start = setenv(BACKUP_POLL_VARIABLE, text, 1) == 0;
    }
}

/* The interval gRPC uses: ours when the constructor set it before gRPC read
 * it, else the environment's or gRPC's default. Never writes the
 * environment (other threads may be reading it now). */
static void choose_backup_poll(void) {
    const char *value = getenv(BACKUP_POLL_VARIABLE);
    int configured = value != NULL ? atoi(value) : 0;
    if (grpc_is_initialized() && backup_poll_set_at_start) {
        /* Someone started gRPC before us, perhaps before the constructor
         * ran: its setting is not known for sure; assume the default. */
        backup_poll_ms = GRPC_DEFAULT_BACKUP_POLL_MS;
    } else {
        backup_poll_ms = configured > 0 ? configured : GRPC_DEFAULT_BACKUP_POLL_MS;
    }
}

void asylo__grpc_acquire(void) {
    pthread_mutex_lock(&runtime_lock);
    if (backup_poll_ms == 0) {
        choose_backup_poll();
    }
    /* grpc_init is itself counted; ours only catches unpaired releases. */
    runtime_references++;
    grpc_init();
    asylo__grpc_log_install();
    pthread_mutex_unlock(&runtime_lock);
}

int asylo__grpc_backup_poll_ms(void) {
    pthread_mutex_lock(&runtime_lock);
    int value = backup_poll_ms == 0 ? ASYLO__BACKUP_POLL_MS : backup_poll_ms;
    pthread_mutex_unlock(&runtime_lock);
    return value;
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
