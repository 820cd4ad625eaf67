/* One entry call over the wire, told as the conversation it is:
 *
 *   host: ENTER(id, selector, input) -------------------------> proxy
 *   host: <--------------------- EXIT(id2, parent=id, selector2, bytes)
 *         (the host runs the exit handler on this thread; it may itself
 *          enter the enclave again: that ENTER goes on the same stream, with
 *          parent=id2, and is answered before the exit's reply)
 *   host: RETURN/ERROR(id2, output) --------------------------> proxy
 *   host: <------------------------------------ RETURN/ERROR(id, output)
 *
 * Every send is batched with the next receive, so each step is one gRPC
 * round trip and one wait, on the calling thread. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "asylo/client.h"
#include "backends/remote/remote_state.h"
#include "common/bytes_output.h"
#include "common/clock.h"
#include "common/log.h"
#include "transport/address.h"

/* The calls this thread is inside, so a nested entry reuses its stream. */
typedef struct active_call {
    remote_state *state;
    asylo__client_stream *stream;
    uint64_t nest_id; /* the exit call being served, parent of nested entries */
} active_call;

static _Thread_local active_call active_calls[ASYLO_MAX_CALL_DEPTH + 1];
static _Thread_local int active_depth;

static active_call *innermost_call(remote_state *state) {
    for (int i = active_depth - 1; i >= 0; i--) {
        if (active_calls[i].state == state) {
            return &active_calls[i];
        }
    }
    return NULL;
}

/* Time left before deadline_ms (< 0: unbounded). */
static int64_t remaining_ms(int64_t deadline_ms) {
    if (deadline_ms < 0) {
        return -1;
    }
    int64_t left = deadline_ms - asylo__monotonic_ms();
    return left > 0 ? left : 0;
}

/* Runs the host's handler for an exit frame and builds the reply. The reply's
 * payload lives in *collector until the reply is sent. */
static void serve_exit(remote_state *state, active_call *call, const asylo__frame *exit_frame,
                       asylo__bytes_output *collector, asylo__frame *reply) {
    asylo_status exit_status;
    asylo_status_ok(&exit_status);
    call->nest_id = exit_frame->call_id;
    bool timed = state->metrics != NULL || asylo__log_enabled(ASYLO_LOG_DEBUG);
    int64_t started_ns = timed ? asylo__monotonic_ns() : 0;
    asylo_code code =
        state->exits.dispatch(state->exits.context, exit_frame->selector, exit_frame->payload,
                              exit_frame->payload_size, &collector->output, &exit_status);
    /* A handler that ignored a refused write must not send a truncated reply. */
    code =
        asylo__bytes_output_verdict(collector, code, "the host's exit handler", NULL, &exit_status);
    if (timed) {
        double seconds = (double)(asylo__monotonic_ns() - started_ns) / 1e9;
        size_t output_size = code == ASYLO_OK ? collector->bytes.size : 0;
        asylo__call_cache_record(&state->calls, ASYLO__CALL_EXIT, exit_frame->selector, code,
                                 seconds, exit_frame->payload_size, output_size);
        /* Logged under our call it nests in; exit ids are the proxy's. */
        asylo__log(ASYLO_LOG_DEBUG, "remote", state->name, exit_frame->parent_call_id,
                   "exit %llu, selector %u, served here: %s in %.3f ms",
                   (unsigned long long)exit_frame->call_id, (unsigned)exit_frame->selector,
                   asylo_code_name(code), seconds * 1e3);
    }
    asylo__frame_init(reply);
    reply->call_id = exit_frame->call_id;
    reply->parent_call_id = exit_frame->parent_call_id;
    reply->selector = exit_frame->selector;
    if (code == ASYLO_OK) {
        reply->kind = ASYLO__FRAME_RETURN;
        reply->payload = collector->bytes.data;
        reply->payload_size = collector->bytes.size;
    } else {
        reply->kind = ASYLO__FRAME_ERROR;
        reply->status = exit_status;
        reply->status.code = code;
    }
}

/* The conversation of one call on `stream` (see the top of the file).
 * *output_size gets the size of the enclave's output. */
static asylo_code converse_frames(remote_state *state, active_call *call, uint64_t call_id,
                                  uint64_t parent_call_id, uint32_t selector, const uint8_t *input,
                                  size_t input_size, asylo_output *output, size_t *output_size,
                                  asylo_status *status) {
    int64_t deadline_ms =
        state->call_timeout_ms > 0 ? asylo__monotonic_ms() + state->call_timeout_ms : -1;
    /* Once destroy began, its deadline bounds this call too (the finalize). */
    int64_t destroy_deadline_ms = atomic_load(&state->destroy_deadline_ms);
    if (destroy_deadline_ms > 0 && (deadline_ms < 0 || destroy_deadline_ms < deadline_ms)) {
        deadline_ms = destroy_deadline_ms;
    }
    asylo__frame send;
    asylo__frame_init(&send);
    send.call_id = call_id;
    send.parent_call_id = parent_call_id;
    send.kind = ASYLO__FRAME_ENTER;
    send.selector = selector;
    send.payload = input;
    send.payload_size = input_size;
    asylo__bytes_output reply_payload;
    asylo__bytes_output_init(&reply_payload, state->max_message_size);
    bool first = true;
    uint64_t replying_to = 0; /* the exit whose reply `send` holds, if any */
    asylo_code code;
    for (;;) {
        asylo__frame received;
        code = asylo__client_stream_exchange(call->stream, &send, &received,
                                             remaining_ms(deadline_ms), status);
        asylo__bytes_output_fini(&reply_payload);
        asylo__bytes_output_init(&reply_payload, state->max_message_size);
        if (code == ASYLO_RESOURCE_EXHAUSTED && !asylo__client_stream_is_dead(call->stream)) {
            if (first) {
                /* The input itself is over the limit: nothing was sent. */
                asylo_status_prefix(status, "input to enclave '%s'", state->name);
                break;
            }
            /* Our reply to an exit was too big: tell the enclave instead. */
            asylo__frame_init(&send);
            send.call_id = replying_to;
            send.kind = ASYLO__FRAME_ERROR;
            send.status = *status;
            continue;
        }
        first = false;
        if (code != ASYLO_OK) {
            char what[ASYLO_STATUS_MESSAGE_SIZE];
            snprintf(what, sizeof what, "remote enclave '%s' at", state->name);
            asylo__address_status_prefix(status, what, state->endpoint.address);
            break;
        }
        if (received.kind == ASYLO__FRAME_EXIT) {
            replying_to = received.call_id;
            serve_exit(state, call, &received, &reply_payload, &send);
            asylo__frame_release(&received);
            continue;
        }
        if ((received.kind == ASYLO__FRAME_RETURN || received.kind == ASYLO__FRAME_ERROR) &&
            received.call_id == call_id) {
            if (received.kind == ASYLO__FRAME_ERROR) {
                code = received.status.code;
                if (status != NULL) {
                    *status = received.status;
                }
            } else {
                *output_size = received.payload_size;
                code = asylo_output_write(output, received.payload, received.payload_size, status);
            }
            asylo__frame_release(&received);
            break;
        }
        /* Anything else breaks the protocol: the stream cannot be trusted on. */
        code = asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_TRANSPORT,
                                "remote enclave '%s': proxy sent an unexpected %s frame for "
                                "call %llu while call %llu was waiting",
                                state->name, asylo__frame_kind_name(received.kind),
                                (unsigned long long)received.call_id, (unsigned long long)call_id);
        asylo__frame_release(&received);
        asylo__remote_stream_close(state, call->stream, 0);
        call->stream = NULL;
        break;
    }
    asylo__bytes_output_fini(&reply_payload);
    return code;
}

/* One call: the conversation, then its metrics and log lines. */
static asylo_code converse(remote_state *state, active_call *call, uint64_t parent_call_id,
                           uint32_t selector, const uint8_t *input, size_t input_size,
                           asylo_output *output, asylo_status *status) {
    uint64_t call_id = atomic_fetch_add(&state->next_call_id, 1);
    bool timed = state->metrics != NULL || asylo__log_enabled(ASYLO_LOG_DEBUG);
    int64_t started_ns = timed ? asylo__monotonic_ns() : 0;
    size_t output_size = 0;
    asylo_status local_status;
    if (status == NULL) {
        status = &local_status;
    }
    asylo_code code = converse_frames(state, call, call_id, parent_call_id, selector, input,
                                      input_size, output, &output_size, status);
    if (timed) {
        double seconds = (double)(asylo__monotonic_ns() - started_ns) / 1e9;
        asylo__call_cache_record(&state->calls, ASYLO__CALL_ENTER, selector, code, seconds,
                                 output_size, input_size);
        asylo__log(ASYLO_LOG_DEBUG, "remote", state->name, call_id,
                   "enter selector %u: %s in %.3f ms, %zu bytes out, %zu bytes back",
                   (unsigned)selector, asylo_code_name(code), seconds * 1e3, input_size,
                   output_size);
    }
    if (code != ASYLO_OK && call->stream != NULL && asylo__client_stream_is_dead(call->stream)) {
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

asylo_code asylo__remote_call_on(remote_state *state, asylo__client_stream *stream,
                                 uint32_t selector, const uint8_t *input, size_t input_size,
                                 asylo_output *output, asylo_status *status) {
    if (active_depth > ASYLO_MAX_CALL_DEPTH) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "remote calls nest more than %d deep", ASYLO_MAX_CALL_DEPTH);
    }
    active_call *call = &active_calls[active_depth++];
    *call = (active_call){.state = state, .stream = stream, .nest_id = 0};
    asylo_code code = converse(state, call, 0, selector, input, input_size, output, status);
    active_depth--;
    return code;
}

asylo_code asylo__remote_enter(void *opaque, uint32_t selector, const uint8_t *input,
                               size_t input_size, asylo_output *output, asylo_status *status) {
    remote_state *state = opaque;
    if (atomic_load(&state->abandoned) ||
        (atomic_load(&state->destroy_deadline_ms) > 0 && atomic_load(&state->peer_lost))) {
        /* Destroy needs no round trip to a peer it knows is gone. */
        bool abandoned = atomic_load(&state->abandoned);
        asylo_code code =
            asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                             "remote enclave '%s': the proxy at %s is %s; selector %u was not sent",
                             state->name, state->endpoint.address,
                             abandoned ? "abandoned by destroy" : "lost (its stream broke earlier)",
                             (unsigned)selector);
        if (!abandoned) {
            /* Say how it ended (signal, exit status), as the calls did. */
            asylo__remote_add_proxy_end(state, code, status);
        }
        return code;
    }
    active_call *outer = innermost_call(state);
    if (outer != NULL) {
        /* Nested inside an exit handler: the proxy thread waiting for that
         * exit's reply reads this stream, so the entry must go on it. */
        if (outer->stream == NULL) {
            return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                                    "remote enclave '%s': the stream of the outer call is gone",
                                    state->name);
        }
        if (active_depth > ASYLO_MAX_CALL_DEPTH) {
            return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                    "remote calls nest more than %d deep", ASYLO_MAX_CALL_DEPTH);
        }
        active_call *call = &active_calls[active_depth++];
        *call = (active_call){.state = state, .stream = outer->stream, .nest_id = 0};
        asylo_code code =
            converse(state, call, outer->nest_id, selector, input, input_size, output, status);
        if (call->stream == NULL) {
            outer->stream = NULL; /* closed on a protocol violation */
        }
        active_depth--;
        return code;
    }
    asylo__client_stream *stream;
    asylo_code code = asylo__remote_stream_take(state, &stream, status);
    if (code != ASYLO_OK) {
        asylo__remote_add_proxy_end(state, code, status);
        return code;
    }
    active_call *call = &active_calls[active_depth++];
    *call = (active_call){.state = state, .stream = stream, .nest_id = 0};
    code = converse(state, call, 0, selector, input, input_size, output, status);
    active_depth--;
    if (call->stream != NULL) {
        asylo__remote_stream_give_back(state, call->stream);
    }
    return code;
}
