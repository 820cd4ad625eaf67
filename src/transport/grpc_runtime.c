/* Reference-counted grpc_init/grpc_shutdown (see grpc_runtime.h). */
#include "transport/grpc_runtime.h"

#include <pthread.h>

#include <grpc/grpc.h>

#include "common/log.h"

static pthread_mutex_t runtime_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long runtime_references;

void asylo__grpc_acquire(void) {
    pthread_mutex_lock(&runtime_lock);
    /* grpc_init is itself counted; ours only catches unpaired releases. */
    runtime_references++;
    grpc_init();
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
