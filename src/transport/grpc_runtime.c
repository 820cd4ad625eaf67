/* Reference-counted grpc_init/grpc_shutdown (see grpc_runtime.h). */
#include "transport/grpc_runtime.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <grpc/grpc.h>

#include "common/log.h"
#include "transport/grpc_log.h"

#define GRPC_DEFAULT_BACKUP_POLL_MS 5000
#define BACKUP_POLL_VARIABLE "GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS"

static pthread_mutex_t runtime_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long runtime_references;
static int backup_poll_ms; /* 0 until the first acquire */

/* Decides the backup poll interval before gRPC reads it. gRPC reads it once,
 * in its one-time basic init, which even grpc_is_initialized() runs: so the
 * variable is set first and asked about after. */
static void choose_backup_poll(void) {
    const char *value = getenv(BACKUP_POLL_VARIABLE);
    bool ours = value == NULL || atoi(value) <= 0;
    if (ours) {
        char text[16];
        snprintf(text, sizeof text, "%d", ASYLO__BACKUP_POLL_MS);
        setenv(BACKUP_POLL_VARIABLE, text, 1);
    }
    if (grpc_is_initialized()) {
        /* Someone else started gRPC first: its setting is fixed already. */
        backup_poll_ms = ours ? GRPC_DEFAULT_BACKUP_POLL_MS : atoi(value);
    } else {
        backup_poll_ms = ours ? ASYLO__BACKUP_POLL_MS : atoi(value);
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
