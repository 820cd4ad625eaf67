/* Idle streams of one remote enclave. A calling thread takes one (or opens a
 * new one), keeps it for its call and every nested exit, and gives it back;
 * so there are as many streams as threads ever called at once, and no
 * thread hands work to another. */
#include <stdlib.h>

#include "backends/remote/remote_state.h"

/* How long closing a stream given back dead waits for the proxy's final
 * status. */
#define STREAM_CLOSE_TIMEOUT_MS 2000

asylo_code asylo__remote_stream_open(remote_state *state, asylo__client_stream **stream,
                                     asylo_status *status) {
    asylo_code code = asylo__client_stream_open(
        state->channel, NULL, state->endpoint.token[0] ? state->endpoint.token : NULL, stream,
        status);
    if (code == ASYLO_OK) {
        asylo__remote_report(
            state, &(asylo__backend_stat){.kind = ASYLO__STAT_CHANNELS, .channels_delta = 1});
    }
    return code;
}

void asylo__remote_stream_close(remote_state *state, asylo__client_stream *stream,
                                int64_t timeout_ms) {
    if (stream != NULL) {
        asylo__client_stream_close(stream, timeout_ms, NULL);
        asylo__remote_report(
            state, &(asylo__backend_stat){.kind = ASYLO__STAT_CHANNELS, .channels_delta = -1});
    }
}

/* Records a stream as held by a calling thread (pool_lock held). */
static bool track_busy_locked(remote_state *state, asylo__client_stream *stream) {
    if (state->busy_count == state->busy_capacity) {
        size_t capacity = state->busy_capacity == 0 ? 8 : 2 * state->busy_capacity;
        asylo__client_stream **grown = realloc(state->busy, capacity * sizeof *grown);
        if (grown == NULL) {
            return false;
        }
        state->busy = grown;
        state->busy_capacity = capacity;
    }
    state->busy[state->busy_count++] = stream;
    return true;
}

static void untrack_busy_locked(remote_state *state, asylo__client_stream *stream) {
    for (size_t i = 0; i < state->busy_count; i++) {
        if (state->busy[i] == stream) {
            state->busy[i] = state->busy[--state->busy_count];
            return;
        }
    }
}

asylo_code asylo__remote_stream_take(remote_state *state, asylo__client_stream **stream,
                                     asylo_status *status) {
    pthread_mutex_lock(&state->pool_lock);
    remote_idle_stream *idle = state->idle;
    if (idle != NULL) {
        state->idle = idle->next;
    }
    pthread_mutex_unlock(&state->pool_lock);
    asylo_code code = asylo_status_ok(status);
    if (idle != NULL) {
        *stream = idle->stream;
        free(idle);
    } else {
        code = asylo__remote_stream_open(state, stream, status);
    }
    if (code != ASYLO_OK) {
        return code;
    }
    pthread_mutex_lock(&state->pool_lock);
    bool tracked = track_busy_locked(state, *stream);
    pthread_mutex_unlock(&state->pool_lock);
    if (tracked && atomic_load(&state->abandoned)) {
        /* Abandon sets the flag before it takes the lock to cancel: a stream
         * tracked too late for it is caught here instead. */
        asylo__remote_stream_give_back(state, *stream);
        *stream = NULL;
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                                "remote enclave '%s': abandoned by destroy", state->name);
    }
    if (!tracked) {
        /* An untracked stream could not be cancelled by destroy. */
        asylo__remote_stream_close(state, *stream, 0);
        *stream = NULL;
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory tracking a stream of enclave '%s'", state->name);
    }
    return code;
}

void asylo__remote_stream_give_back(remote_state *state, asylo__client_stream *stream) {
    pthread_mutex_lock(&state->pool_lock);
    untrack_busy_locked(state, stream);
    pthread_mutex_unlock(&state->pool_lock);
    remote_idle_stream *idle = NULL;
    if (!asylo__client_stream_is_dead(stream) && !atomic_load(&state->abandoned)) {
        idle = malloc(sizeof *idle);
    }
    if (idle == NULL) {
        asylo__remote_stream_close(state, stream,
                                   atomic_load(&state->abandoned) ? 0 : STREAM_CLOSE_TIMEOUT_MS);
        return;
    }
    idle->stream = stream;
    pthread_mutex_lock(&state->pool_lock);
    idle->next = state->idle;
    state->idle = idle;
    pthread_mutex_unlock(&state->pool_lock);
}

void asylo__remote_stream_pool_cancel_busy(remote_state *state, const char *reason) {
    /* Under the lock: a holder removes its stream before closing it, so
     * every stream listed here is still alive. */
    pthread_mutex_lock(&state->pool_lock);
    for (size_t i = 0; i < state->busy_count; i++) {
        asylo__client_stream_cancel(state->busy[i], reason);
    }
    pthread_mutex_unlock(&state->pool_lock);
}

void asylo__remote_stream_pool_drain(remote_state *state, int64_t close_timeout_ms) {
    pthread_mutex_lock(&state->pool_lock);
    remote_idle_stream *idle = state->idle;
    state->idle = NULL;
    pthread_mutex_unlock(&state->pool_lock);
    while (idle != NULL) {
        remote_idle_stream *next = idle->next;
        asylo__remote_stream_close(state, idle->stream, close_timeout_ms);
        free(idle);
        idle = next;
    }
    free(state->busy);
    state->busy = NULL;
    state->busy_count = 0;
    state->busy_capacity = 0;
}
