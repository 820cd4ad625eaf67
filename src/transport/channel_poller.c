/* One thread that polls gRPC while client channels exist and no calling
 * thread does (see channel_poller.h). */
#include "transport/channel_poller.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <grpc/grpc.h>

#include "common/clock.h"
#include "common/log.h"
#include "transport/call_util.h"

static pthread_once_t poller_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t poller_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t poller_wake; /* monotonic clock; broadcast at a stop */
static unsigned long poller_users;

/* One run of the thread: a release may stop it while the next acquire
 * starts another. */
typedef struct poller {
    grpc_completion_queue *cq;
    pthread_t thread;
    bool stopping; /* under poller_lock */
} poller;
static poller *current; /* while poller_users > 0 */

/* Calling threads waiting on their streams now, and when the last wait
 * ended. */
static atomic_long waiters;
static _Atomic int64_t last_wait_end_ms;

static void init_once(void) {
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&poller_wake, &attributes);
    pthread_condattr_destroy(&attributes);
}

void asylo__channel_poller_wait_begin(void) {
    atomic_fetch_add(&waiters, 1);
}

void asylo__channel_poller_wait_end(void) {
    atomic_store(&last_wait_end_ms, asylo__monotonic_ms());
    atomic_fetch_sub(&waiters, 1);
}

/* How long the thread should still stay out of gRPC; 0: poll now. */
static int64_t pause_ms(void) {
    if (atomic_load(&waiters) > 0) {
        return ASYLO__POLLER_QUIET_MS;
    }
    int64_t left = atomic_load(&last_wait_end_ms) + ASYLO__POLLER_QUIET_MS - asylo__monotonic_ms();
    return left > 0 ? left : 0;
}

static void *poll_loop(void *arg) {
    poller *self = arg;
    pthread_mutex_lock(&poller_lock);
    while (!self->stopping) {
        int64_t pause = pause_ms();
        if (pause > 0) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += pause / 1000;
            until.tv_nsec += (long)(pause % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&poller_wake, &poller_lock, &until);
            continue;
        }
        pthread_mutex_unlock(&poller_lock);
        /* Nothing is ever queued here: the wait itself reads the sockets,
         * until the slice ends or the queue is shut down. */
        grpc_completion_queue_next(self->cq, asylo__deadline_after_ms(ASYLO__POLLER_SLICE_MS),
                                   NULL);
        pthread_mutex_lock(&poller_lock);
    }
    pthread_mutex_unlock(&poller_lock);
    return NULL;
}

bool asylo__channel_poller_acquire(void) {
    pthread_once(&poller_once, init_once);
    bool started = true;
    pthread_mutex_lock(&poller_lock);
    if (poller_users == 0) {
        poller *fresh = calloc(1, sizeof *fresh);
        started = fresh != NULL;
        if (started) {
            fresh->cq = grpc_completion_queue_create_for_next(NULL);
            started = pthread_create(&fresh->thread, NULL, poll_loop, fresh) == 0;
            if (!started) {
                grpc_completion_queue_shutdown(fresh->cq);
                grpc_completion_queue_destroy(fresh->cq);
                free(fresh);
            }
        }
        current = started ? fresh : NULL;
    }
    if (started) {
        poller_users++;
    }
    pthread_mutex_unlock(&poller_lock);
    return started;
}

void asylo__channel_poller_release(void) {
    pthread_mutex_lock(&poller_lock);
    if (poller_users == 0) {
        pthread_mutex_unlock(&poller_lock);
        asylo__log(ASYLO_LOG_ERROR, "transport", NULL, 0,
                   "channel poller released more often than acquired");
        return;
    }
    if (--poller_users > 0) {
        pthread_mutex_unlock(&poller_lock);
        return;
    }
    poller *last = current;
    current = NULL;
    last->stopping = true;
    pthread_cond_broadcast(&poller_wake);
    /* Ends its wait in gRPC at once (GRPC_QUEUE_SHUTDOWN). */
    grpc_completion_queue_shutdown(last->cq);
    pthread_mutex_unlock(&poller_lock);
    pthread_join(last->thread, NULL);
    grpc_completion_queue_destroy(last->cq);
    free(last);
}
