/* State of one enclave loaded with the remote backend. */
#ifndef ASYLO_BACKENDS_REMOTE_REMOTE_STATE_H
#define ASYLO_BACKENDS_REMOTE_REMOTE_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "asylo/remote.h"
#include "backends/backend.h"
#include "transport/client_stream.h"

/* An idle stream, kept for the next calling thread. */
typedef struct remote_idle_stream {
    asylo__client_stream *stream;
    struct remote_idle_stream *next;
} remote_idle_stream;

typedef struct remote_state {
    char name[128];
    /* From the config, with a use counted (remote_backend.c) until unload;
     * NULL: direct. */
    asylo_remote_provision *provision;
    bool provisioned;
    asylo_remote_endpoint endpoint;
    asylo__security_options security; /* paths borrowed from the config */
    asylo__channel *channel;
    /* The first stream: it carried LOAD and stays open for the enclave's life.
     * Its end tells the proxy to unload and exit. */
    asylo__client_stream *control;
    pthread_mutex_t pool_lock;
    remote_idle_stream *idle;
    /* Streams calling threads hold (under pool_lock): what abandon cancels. */
    asylo__client_stream **busy;
    size_t busy_count;
    size_t busy_capacity;
    /* A stream to the proxy broke (connection lost, proxy gone): the proxy
     * finishes when its host's streams end, so the enclave is gone too and
     * destroy does not wait for it. */
    atomic_bool peer_lost;
    /* Set by destroy_begin: calls entered later (the finalize) end by then. */
    _Atomic int64_t destroy_deadline_ms;
    /* Destroy gave up waiting: calls in flight were cancelled. */
    atomic_bool abandoned;
    asylo__exit_dispatcher exits;
    size_t max_output_size;
    size_t max_message_size;
    int64_t call_timeout_ms;
    atomic_uint_fast64_t next_call_id;
    /* The core's stats report (backend.h); NULL on a core without one. */
    void *stats_context;
    void (*on_stat)(void *context, const asylo__backend_stat *stat);
} remote_state;

/* Reports a stat to the core, if it takes them. */
static inline void asylo__remote_report(const remote_state *state,
                                        const asylo__backend_stat *stat) {
    if (state->on_stat != NULL) {
        state->on_stat(state->stats_context, stat);
    }
}

/* remote_call.c: one entry call over this thread's stream, exits served
 * on this thread. */
asylo_code asylo__remote_enter(void *state, uint32_t selector, const uint8_t *input,
                               size_t input_size, asylo_output *output, asylo_status *status);
/* A call on `stream` outside the pool (LOAD on the control stream). */
asylo_code asylo__remote_call_on(remote_state *state, asylo__client_stream *stream,
                                 uint32_t selector, const uint8_t *input, size_t input_size,
                                 asylo_output *output, asylo_status *status);

/* remote_attest.c: attests the loaded image before INITIALIZE (after LOAD on
 * the control stream); UNAUTHENTICATED when it is refused. */
asylo_code asylo__remote_attest(remote_state *state, const asylo_remote_config *config,
                                const asylo__load_request *request, asylo_status *status);

/* remote_backend.c: when a call failed with UNAVAILABLE, puts how the proxy
 * ended (asked of the provision, waiting briefly) in front of the message. */
void asylo__remote_add_proxy_end(remote_state *state, asylo_code code, asylo_status *status);

/* stream_pool.c. Every stream this enclave opens or closes goes through
 * these two, which keep asylo_active_streams. */
asylo_code asylo__remote_stream_open(remote_state *state, asylo__client_stream **stream,
                                     asylo_status *status);
void asylo__remote_stream_close(remote_state *state, asylo__client_stream *stream,
                                int64_t timeout_ms);
asylo_code asylo__remote_stream_take(remote_state *state, asylo__client_stream **stream,
                                     asylo_status *status);
/* Returns a healthy stream to the pool; a dead one is closed. */
void asylo__remote_stream_give_back(remote_state *state, asylo__client_stream *stream);
/* Closes the idle streams, waiting at most close_timeout_ms for each. */
void asylo__remote_stream_pool_drain(remote_state *state, int64_t close_timeout_ms);
/* Cancels every stream a calling thread holds (abandon). */
void asylo__remote_stream_pool_cancel_busy(remote_state *state, const char *reason);

#endif
