/* Idle streams of one remote enclave. A calling thread takes one (or opens a
 * new one), keeps it for its call and every nested exit, and gives it back;
 * so there are as many streams as threads ever called at once, and no
 * thread hands work to another. */
#include <stdlib.h>

#include "backends/remote/remote_state.h"

/* How long closing waits for the proxy's final status. */
#define STREAM_CLOSE_TIMEOUT_MS 2000

asylo_code asylo__remote_stream_open(remote_state *state, asylo__client_stream **stream,
                                     asylo_status *status) {
    asylo_code code = asylo__client_stream_open(
        state->channel, NULL, state->endpoint.token[0] ? state->endpoint.token : NULL, stream,
        status);
    if (code == ASYLO_OK) {
        asylo__metrics_active_streams_add(state->metrics, 1);
    }
    return code;
}

void asylo__remote_stream_close(remote_state *state, asylo__client_stream *stream,
                                int64_t timeout_ms) {
    if (stream != NULL) {
        asylo__client_stream_close(stream, timeout_ms, NULL);
        asylo__metrics_active_streams_add(state->metrics, -1);
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
    if (idle != NULL) {
        *stream = idle->stream;
        free(idle);
        return asylo_status_ok(status);
    }
    return asylo__remote_stream_open(state, stream, status);
}

void asylo__remote_stream_give_back(remote_state *state, asylo__client_stream *stream) {
    remote_idle_stream *idle = NULL;
    if (!asylo__client_stream_is_dead(stream)) {
        idle = malloc(sizeof *idle);
    }
    if (idle == NULL) {
        asylo__remote_stream_close(state, stream, STREAM_CLOSE_TIMEOUT_MS);
        return;
    }
    idle->stream = stream;
    pthread_mutex_lock(&state->pool_lock);
    idle->next = state->idle;
    state->idle = idle;
    pthread_mutex_unlock(&state->pool_lock);
}

void asylo__remote_stream_pool_drain(remote_state *state) {
    pthread_mutex_lock(&state->pool_lock);
    remote_idle_stream *idle = state->idle;
    state->idle = NULL;
    pthread_mutex_unlock(&state->pool_lock);
    while (idle != NULL) {
        remote_idle_stream *next = idle->next;
        asylo__remote_stream_close(state, idle->stream, STREAM_CLOSE_TIMEOUT_MS);
        free(idle);
        idle = next;
    }
}
