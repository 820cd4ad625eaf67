/* One entry call over the wire: the call protocol (src/protocol) run on this
 * thread's stream through the stream channel (transport/stream_channel.h):
 *
 *   host: ENTER(id, selector, input) -------------------------> proxy
 *   host: <--------------------- EXIT(id2, parent=id, selector2, bytes)
 *         (the host runs the exit handler on this thread; it may itself
 *          enter the enclave again: that ENTER goes on the same stream and
 *          session, with parent=id2, and is answered before the exit's reply)
 *   host: RETURN/ERROR(id2, output) --------------------------> proxy
 *   host: <------------------------------------ RETURN/ERROR(id, output)
 *
 * The outermost call on a thread owns the conversation: its stream, its
 * session and its deadline. call_timeout_ms bounds that whole call, nested
 * entries and the exit handlers between them included: a nested entry waits
 * only for what is left of it. */
#include <stdio.h>
#include <string.h>

#include "asylo/client.h"
#include "backends/remote/remote_state.h"
#include "common/bytes_output.h"
#include "common/clock.h"
#include "common/log.h"
#include "protocol/protocol.h"
#include "transport/address.h"
#include "transport/stream_channel.h"

/* The conversation of the outermost call of this thread on one enclave. */
typedef struct conversation {
    remote_state *state;
    asylo__stream_channel channel;
    asylo__protocol_session session;
    /* Where new_call_id puts the id of the call being started (then NULL):
     * each call learns its own id, not a nested one's. */
    uint64_t *id_sink;
    /* The innermost ENTER in progress: what exit calls nest in (logs). */
    uint64_t current_call_id;
} conversation;

/* The conversations this thread is inside (one per enclave it calls, in
 * nesting order), so a nested entry reuses its stream. */
static _Thread_local conversation *active[ASYLO_MAX_CALL_DEPTH + 1];
static _Thread_local int active_count;

static conversation *find_active(remote_state *state) {
    for (int i = active_count - 1; i >= 0; i--) {
        if (active[i]->state == state) {
            return active[i];
        }
    }
    return NULL;
}

/* Ids from one counter per enclave, so the log lines of both ends name a
 * call alike whatever stream it took. */
static uint64_t new_call_id(void *context) {
    conversation *talk = context;
    uint64_t id = atomic_fetch_add(&talk->state->next_call_id, 1);
    if (talk->id_sink != NULL) {
        *talk->id_sink = id;
        talk->id_sink = NULL;
        talk->current_call_id = id;
    }
    return id;
}

/* The session's handler: one exit call of the enclave, served by the host's
 * dispatcher on this thread. */
static asylo_code serve_exit(void *context, uint32_t selector, const uint8_t *input,
                             size_t input_size, asylo_output *output, asylo_status *status) {
    conversation *talk = context;
    remote_state *state = talk->state;
    if (state->on_stat == NULL && !asylo__log_enabled(ASYLO_LOG_DEBUG)) {
        return state->exits.dispatch(state->exits.context, selector, input, input_size, output,
                                     status);
    }
    asylo__counting_output counter;
    asylo__counting_output_init(&counter, output);
    int64_t started_ns = asylo__monotonic_ns();
    asylo_code code = state->exits.dispatch(state->exits.context, selector, input, input_size,
                                            &counter.output, status);
    double seconds = (double)(asylo__monotonic_ns() - started_ns) / 1e9;
    size_t output_size = code == ASYLO_OK ? counter.size : 0;
    /* Into the enclave goes the host's reply; out of it came the input. */
    asylo__remote_report(state, &(asylo__backend_stat){.kind = ASYLO__STAT_EXIT,
                                                       .selector = selector,
                                                       .code = code,
                                                       .seconds = seconds,
                                                       .bytes_in = output_size,
                                                       .bytes_out = input_size});
    /* Logged under the call it nests in; exit ids are the proxy's. */
    asylo__log(ASYLO_LOG_DEBUG, "remote", state->name, talk->current_call_id,
               "exit %llu, selector %u, served here: %s in %.3f ms",
               (unsigned long long)asylo__protocol_serving_call(&talk->session), (unsigned)selector,
               asylo_code_name(code), seconds * 1e3);
    return code;
}

/* One call on the conversation (outermost or nested), with its stats and
 * log lines. */
static asylo_code converse(conversation *talk, uint32_t selector, const uint8_t *input,
                           size_t input_size, asylo_output *output, asylo_status *status) {
    remote_state *state = talk->state;
    bool timed = state->on_stat != NULL || asylo__log_enabled(ASYLO_LOG_DEBUG);
    int64_t started_ns = timed ? asylo__monotonic_ns() : 0;
    asylo_status local_status;
    if (status == NULL) {
        status = &local_status;
    }
    asylo__counting_output counter;
    asylo__counting_output_init(&counter, output);
    uint64_t call_id = 0;
    uint64_t outer_call_id = talk->current_call_id;
    talk->id_sink = &call_id;
    asylo_code code = asylo__protocol_call(&talk->session, selector, input, input_size,
                                           output != NULL ? &counter.output : NULL, status);
    talk->id_sink = NULL;
    talk->current_call_id = outer_call_id;
    if (code != ASYLO_OK && talk->channel.failed) {
        /* The stream broke (a dead proxy, a lost connection, the deadline):
         * say where. The enclave's own errors pass unchanged. */
        char what[ASYLO_STATUS_MESSAGE_SIZE];
        snprintf(what, sizeof what, "remote enclave '%s' at", state->name);
        asylo__address_status_prefix(status, what, state->endpoint.address);
        if (code == ASYLO_DEADLINE_EXCEEDED && state->call_timeout_ms > 0) {
            asylo_status_prefix(status,
                                "call_timeout_ms (%lld ms, for the whole call with its nested "
                                "calls) ran out",
                                (long long)state->call_timeout_ms);
        }
    } else if (code == ASYLO_RESOURCE_EXHAUSTED &&
               input_size > talk->channel.channel.max_payload_size) {
        /* Refused before anything was sent: the stream stays usable. */
        asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                         "input to enclave '%s': payload of %zu bytes exceeds the maximum "
                         "message size of %zu bytes (asylo_remote_config.max_message_size)",
                         state->name, input_size, talk->channel.channel.max_payload_size);
    }
    if (timed) {
        double seconds = (double)(asylo__monotonic_ns() - started_ns) / 1e9;
        size_t output_size = code == ASYLO_OK ? counter.size : 0;
        asylo__remote_report(state, &(asylo__backend_stat){.kind = ASYLO__STAT_ENTER,
                                                           .selector = selector,
                                                           .code = code,
                                                           .seconds = seconds,
                                                           .bytes_in = input_size,
                                                           .bytes_out = output_size});
        asylo__log(ASYLO_LOG_DEBUG, "remote", state->name, call_id,
                   "enter selector %u: %s in %.3f ms, %zu bytes out, %zu bytes back",
                   (unsigned)selector, asylo_code_name(code), seconds * 1e3, input_size,
                   output_size);
    }
    if (code != ASYLO_OK && talk->channel.failed &&
        asylo__client_stream_is_dead(talk->channel.client)) {
        if (code == ASYLO_UNAVAILABLE) {
            atomic_store(&state->peer_lost, true);
        }
        asylo__log(ASYLO_LOG_WARNING, "remote", state->name, call_id,
                   "peer gone: the stream to the proxy at %s broke during selector %u (%s)",
                   state->endpoint.address, (unsigned)selector, asylo_code_name(code));
    }
    asylo__remote_add_proxy_end(state, code, status);
    return code;
}

/* The outermost call of this thread on `stream`. *broken tells whether the
 * stream may carry another conversation. */
static asylo_code converse_outermost(remote_state *state, asylo__client_stream *stream,
                                     uint32_t selector, const uint8_t *input, size_t input_size,
                                     asylo_output *output, bool *broken, asylo_status *status) {
    if (active_count > ASYLO_MAX_CALL_DEPTH) {
        *broken = false;
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "remote calls nest more than %d deep", ASYLO_MAX_CALL_DEPTH);
    }
    conversation talk = {.state = state};
    asylo__stream_channel_init_client(&talk.channel, stream);
    /* The whole call, nested entries included, ends by its deadline; once
     * destroy began, by destroy's deadline too (the finalize). */
    int64_t deadline_ms =
        state->call_timeout_ms > 0 ? asylo__monotonic_ms() + state->call_timeout_ms : -1;
    int64_t destroy_deadline_ms = atomic_load(&state->destroy_deadline_ms);
    if (destroy_deadline_ms > 0 && (deadline_ms < 0 || destroy_deadline_ms < deadline_ms)) {
        deadline_ms = destroy_deadline_ms;
    }
    talk.channel.deadline_ms = deadline_ms;
    talk.session = (asylo__protocol_session){
        .channel = &talk.channel.channel,
        .handler = serve_exit,
        .handler_context = &talk,
        .peer_origin = ASYLO_ORIGIN_TRANSPORT,
        .is_host = true,
        .new_call_id = new_call_id,
        .new_call_id_context = &talk,
    };
    active[active_count++] = &talk;
    asylo_code code = converse(&talk, selector, input, input_size, output, status);
    active_count--;
    *broken = asylo__protocol_session_broken(&talk.session, NULL);
    asylo__stream_channel_fini(&talk.channel);
    return code;
}

asylo_code asylo__remote_call_on(remote_state *state, asylo__client_stream *stream,
                                 uint32_t selector, const uint8_t *input, size_t input_size,
                                 asylo_output *output, asylo_status *status) {
    bool broken;
    return converse_outermost(state, stream, selector, input, input_size, output, &broken, status);
}

asylo_code asylo__remote_enter(void *opaque, uint32_t selector, const uint8_t *input,
                               size_t input_size, asylo_output *output, asylo_status *status) {
    remote_state *state = opaque;
    if (atomic_load(&state->abandoned) ||
        (atomic_load(&state->destroy_deadline_ms) > 0 && atomic_load(&state->peer_lost))) {
        /* Destroy needs no round trip to a peer it knows is gone; it still
         * says how the proxy ended when the provision knows. */
        asylo_code lost =
            asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                             "remote enclave '%s': the proxy at %s is %s; selector %u was not sent",
                             state->name, state->endpoint.address,
                             atomic_load(&state->abandoned) ? "abandoned by destroy"
                                                            : "lost (its stream broke earlier)",
                             (unsigned)selector);
        if (!atomic_load(&state->abandoned)) {
            asylo__remote_add_proxy_end(state, lost, status);
        }
        return lost;
    }
    conversation *outer = find_active(state);
    if (outer != NULL) {
        /* Nested inside an exit handler: the proxy thread waiting for that
         * exit's reply reads this stream, so the entry goes on it, in the
         * same session (which knows the exit it nests in) and under the
         * outermost call's deadline. A destroy begun since bounds it too. */
        int64_t destroy_deadline_ms = atomic_load(&state->destroy_deadline_ms);
        if (destroy_deadline_ms > 0 &&
            (outer->channel.deadline_ms < 0 || destroy_deadline_ms < outer->channel.deadline_ms)) {
            outer->channel.deadline_ms = destroy_deadline_ms;
        }
        return converse(outer, selector, input, input_size, output, status);
    }
    asylo__client_stream *stream;
    asylo_code code = asylo__remote_stream_take(state, &stream, status);
    if (code != ASYLO_OK) {
        asylo__remote_add_proxy_end(state, code, status);
        return code;
    }
    bool broken;
    code = converse_outermost(state, stream, selector, input, input_size, output, &broken, status);
    if (broken && !asylo__client_stream_is_dead(stream)) {
        /* The proxy broke the protocol: the stream cannot be trusted on. */
        asylo__client_stream_cancel(stream, "the proxy broke the call protocol");
    }
    asylo__remote_stream_give_back(state, stream);
    return code;
}
