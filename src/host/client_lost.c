/* Lost enclave instances and the bounded wait of destroy (backend interface
 * v2). Kept apart from client.c: these are the only places the core reacts to
 * an isolated enclave dying or not returning. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "host/client_internal.h"

#define DEFAULT_DESTROY_TIMEOUT_MS 2000u

void asylo__client_on_lost(void *context, const asylo_status *cause) {
    asylo_client *client = context;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&client->lost, &expected, 1)) {
        return;
    }
    client->lost_cause = *cause;
    client->lost_cause.message[sizeof client->lost_cause.message - 1] = '\0';
    atomic_store(&client->lost, 2);
    /* Calls in flight see it from the backend; new ones from the gate. A
     * client already finalized stays finalized. */
    for (;;) {
        int state = asylo__call_gate_state(&client->gate);
        if (state == ASYLO_CLIENT_FINALIZED || state == ASYLO_CLIENT_LOST ||
            asylo__call_gate_transition(&client->gate, state, ASYLO_CLIENT_LOST, &state)) {
            break;
        }
    }
    asylo__log(ASYLO_LOG_WARNING, "host", client->name, 0, "enclave instance lost: %s",
               client->lost_cause.message);
}

asylo_code asylo__client_lost_status(const asylo_client *client, asylo_status *status) {
    if (atomic_load(&((asylo_client *)client)->lost) != 2) {
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                "enclave '%s' is lost", client->name);
    }
    if (status != NULL) {
        *status = client->lost_cause;
        asylo_status_prefix(status, "enclave '%s' is lost", client->name);
    }
    return client->lost_cause.code;
}

static bool can_terminate(const asylo__backend *backend) {
    return backend->interface_version >= 2 && backend->terminate != NULL;
}

static bool bounds_itself(const asylo__backend *backend) {
    return backend->destroy_begin != NULL && backend->abandon != NULL;
}

int64_t asylo__client_destroy_wait_ms(asylo_client *client) {
    const asylo__backend *backend = client->backend;
    if (bounds_itself(backend)) {
        return backend->destroy_begin(client->backend_state);
    }
    if (can_terminate(backend)) {
        return client->destroy_timeout_ms == 0 ? DEFAULT_DESTROY_TIMEOUT_MS
                                               : client->destroy_timeout_ms;
    }
    /* sim cannot interrupt trusted code: destroy waits as long as calls take. */
    return -1;
}

void asylo__client_stop_calls(asylo_client *client) {
    const asylo__backend *backend = client->backend;
    if (bounds_itself(backend)) {
        backend->abandon(client->backend_state);
        return;
    }
    if (!can_terminate(backend)) {
        return; /* asylo__client_destroy_wait_ms gave no bound: never reached */
    }
    asylo_status status;
    if (backend->terminate(client->backend_state, &status) != ASYLO_OK) {
        asylo__log(ASYLO_LOG_WARNING, "host", client->name, 0, "terminate failed: %s",
                   status.message);
        return;
    }
    asylo__log(ASYLO_LOG_INFO, "host", client->name, 0,
               "calls still in flight at the destroy bound: enclave terminated");
}

/* A finalize that does not return is ended like a call that does not: the
 * watchdog thread terminates the enclave when the bound passes first. */
struct asylo__destroy_watchdog {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t done_signal;
    bool done;
    asylo_client *client;
    struct timespec deadline;
};

static void *watch_finalize(void *opaque) {
    asylo__destroy_watchdog *watchdog = opaque;
    bool expired = false;
    pthread_mutex_lock(&watchdog->lock);
    while (!watchdog->done && !expired) {
        expired = pthread_cond_timedwait(&watchdog->done_signal, &watchdog->lock,
                                         &watchdog->deadline) == ETIMEDOUT;
    }
    bool terminate = !watchdog->done;
    pthread_mutex_unlock(&watchdog->lock);
    if (terminate) {
        asylo__log(ASYLO_LOG_WARNING, "host", watchdog->client->name, 0,
                   "destroy: finalize did not return within the destroy bound");
        asylo__client_stop_calls(watchdog->client);
    }
    return NULL;
}

asylo__destroy_watchdog *asylo__destroy_watchdog_start(asylo_client *client, int64_t wait_ms) {
    if (wait_ms < 0 || bounds_itself(client->backend) || !can_terminate(client->backend)) {
        return NULL;
    }
    asylo__destroy_watchdog *watchdog = calloc(1, sizeof *watchdog);
    if (watchdog == NULL) {
        return NULL; /* finalize then runs unwatched, as on sim */
    }
    watchdog->client = client;
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&watchdog->done_signal, &attributes);
    pthread_condattr_destroy(&attributes);
    pthread_mutex_init(&watchdog->lock, NULL);
    clock_gettime(CLOCK_MONOTONIC, &watchdog->deadline);
    watchdog->deadline.tv_sec += (time_t)(wait_ms / 1000);
    watchdog->deadline.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (watchdog->deadline.tv_nsec >= 1000000000L) {
        watchdog->deadline.tv_sec++;
        watchdog->deadline.tv_nsec -= 1000000000L;
    }
    if (pthread_create(&watchdog->thread, NULL, watch_finalize, watchdog) != 0) {
        pthread_cond_destroy(&watchdog->done_signal);
        pthread_mutex_destroy(&watchdog->lock);
        free(watchdog);
        return NULL;
    }
    return watchdog;
}

void asylo__destroy_watchdog_stop(asylo__destroy_watchdog *watchdog) {
    if (watchdog == NULL) {
        return;
    }
    pthread_mutex_lock(&watchdog->lock);
    watchdog->done = true;
    pthread_cond_signal(&watchdog->done_signal);
    pthread_mutex_unlock(&watchdog->lock);
    pthread_join(watchdog->thread, NULL);
    pthread_cond_destroy(&watchdog->done_signal);
    pthread_mutex_destroy(&watchdog->lock);
    free(watchdog);
}
