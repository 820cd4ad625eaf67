/* The call protocol over an abstract channel (protocol.h). */
#include "protocol/protocol.h"

#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/bytes_output.h"

void asylo__protocol_frame_release(asylo__protocol_frame *frame) {
    if (frame == NULL) {
        return;
    }
    if (frame->release_ != NULL) {
        frame->release_(frame->release_context_);
    } else if (frame->owned_ != NULL) {
        asylo__secure_zero(frame->owned_, frame->payload_size);
        free(frame->owned_);
    }
    memset(frame, 0, sizeof *frame);
}

const char *asylo__protocol_kind_name(uint32_t kind) {
    switch (kind) {
    case ASYLO__PROTOCOL_ENTER:
        return "ENTER";
    case ASYLO__PROTOCOL_EXIT:
        return "EXIT";
    case ASYLO__PROTOCOL_RETURN:
        return "RETURN";
    case ASYLO__PROTOCOL_ERROR:
        return "ERROR";
    default:
        return "INVALID";
    }
}

asylo_code asylo__protocol_frame_check(const asylo__protocol_frame *frame, size_t max_payload_size,
                                       asylo_origin origin, asylo_status *status) {
    if (frame->kind < ASYLO__PROTOCOL_ENTER || frame->kind > ASYLO__PROTOCOL_ERROR) {
        return asylo_status_set(status, ASYLO_INTERNAL, origin,
                                "protocol violation: frame kind %u is not ENTER, EXIT, RETURN or "
                                "ERROR",
                                frame->kind);
    }
    if (frame->call_id == 0) {
        return asylo_status_set(status, ASYLO_INTERNAL, origin,
                                "protocol violation: %s frame with call id 0",
                                asylo__protocol_kind_name(frame->kind));
    }
    if (frame->payload_size > max_payload_size ||
        (frame->payload == NULL && frame->payload_size != 0)) {
        return asylo_status_set(status, ASYLO_INTERNAL, origin,
                                "protocol violation: %s frame of call %llu has a payload of %zu "
                                "bytes (channel bound %zu)",
                                asylo__protocol_kind_name(frame->kind),
                                (unsigned long long)frame->call_id, frame->payload_size,
                                max_payload_size);
    }
    if (frame->kind == ASYLO__PROTOCOL_ERROR && frame->payload_size != 0) {
        return asylo_status_set(status, ASYLO_INTERNAL, origin,
                                "protocol violation: ERROR frame of call %llu carries a payload",
                                (unsigned long long)frame->call_id);
    }
    return ASYLO_OK;
}

/* The peer's status, made safe to hand on: canonical code, known origin (or
 * the peer's), terminated message, never OK on an ERROR. */
static asylo_code copy_peer_status(const asylo__protocol_frame *frame, asylo_origin peer_origin,
                                   asylo_status *status) {
    asylo_status peer = frame->status;
    peer.message[sizeof peer.message - 1] = '\0';
    if (!asylo_code_is_valid((int)peer.code) || peer.code == ASYLO_OK) {
        return asylo_status_set(status, ASYLO_UNKNOWN, peer_origin,
                                "peer failed call %llu with code %d, which is not a canonical "
                                "error code: %s",
                                (unsigned long long)frame->call_id, (int)peer.code, peer.message);
    }
    if (peer.origin <= ASYLO_ORIGIN_NONE || peer.origin > ASYLO_ORIGIN_HOST) {
        peer.origin = peer_origin;
    }
    if (status != NULL) {
        *status = peer;
    }
    return peer.code;
}

static asylo_code break_session(asylo__protocol_session *session, asylo_status *status) {
    session->broken = true;
    session->broken_status = *status;
    return status->code;
}

uint64_t asylo__protocol_serving_call(const asylo__protocol_session *session) {
    return session->serving_call_id;
}

bool asylo__protocol_session_broken(const asylo__protocol_session *session, asylo_status *status) {
    if (session->broken && status != NULL) {
        *status = session->broken_status;
    }
    return session->broken;
}

/* The reply repeats the selector of the call it ends: peers need not read
 * it, but it keeps a captured stream readable. */
static asylo_code send_reply(asylo__protocol_session *session,
                             const asylo__protocol_frame *incoming, asylo_code code,
                             const asylo_status *result, const asylo__bytes *payload,
                             asylo_status *status) {
    asylo__protocol_frame reply = {.call_id = incoming->call_id,
                                   .parent_call_id = incoming->parent_call_id,
                                   .selector = incoming->selector};
    if (code == ASYLO_OK) {
        reply.kind = ASYLO__PROTOCOL_RETURN;
        reply.payload = payload->data;
        reply.payload_size = payload->size;
        asylo_status_ok(&reply.status);
    } else {
        reply.kind = ASYLO__PROTOCOL_ERROR;
        reply.status = *result;
        reply.status.code = asylo_code_is_valid((int)code) ? code : ASYLO_UNKNOWN;
        reply.status.message[sizeof reply.status.message - 1] = '\0';
    }
    asylo_code sent = session->channel->send(session->channel->context, &reply, status);
    return sent == ASYLO_OK ? ASYLO_OK : break_session(session, status);
}

/* Handles the peer's call (ENTER in the enclave, EXIT on the host) held in
 * *incoming, on this thread, and sends its RETURN or ERROR. Non-OK only when
 * the reply could not be sent. */
static asylo_code handle_incoming(asylo__protocol_session *session,
                                  const asylo__protocol_frame *incoming, asylo_status *status) {
    asylo__bytes_output collector;
    asylo__bytes_output_init(&collector, session->channel->max_payload_size);
    asylo_status result;
    asylo_status_ok(&result);
    asylo_code code;
    if (session->depth >= ASYLO__PROTOCOL_MAX_DEPTH) {
        code = asylo_status_set(&result, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "calls nest more than %d deep across the boundary",
                                ASYLO__PROTOCOL_MAX_DEPTH);
    } else {
        uint64_t saved = session->serving_call_id;
        session->serving_call_id = incoming->call_id;
        session->depth++;
        code = session->handler(session->handler_context, incoming->selector, incoming->payload,
                                incoming->payload_size, &collector.output, &result);
        /* A handler that ignored a refused write must not send a truncated
         * output. */
        code = asylo__bytes_output_verdict(
            &collector, code, session->is_host ? "the host's exit handler" : "the entry handler",
            NULL, &result);
        session->depth--;
        session->serving_call_id = saved;
    }
    if (session->broken) {
        /* A nested call inside the handler broke the session (a frame lost to
         * an allocation failure, a peer that broke the protocol): the
         * conversation cannot go on, so no reply goes out and the calls
         * waiting below end with the reason, instead of reading frames meant
         * for a call that has already given up. */
        asylo__bytes_output_fini(&collector);
        if (status != NULL) {
            *status = session->broken_status;
        }
        return session->broken_status.code;
    }
    code = send_reply(session, incoming, code, &result, &collector.bytes, status);
    asylo__bytes_output_fini(&collector);
    return code;
}

/* Waits for the end of call `call_id`, serving the peer's nested calls. */
static asylo_code wait_for_reply(asylo__protocol_session *session, uint64_t call_id,
                                 asylo_output *output, asylo_status *status) {
    uint32_t peer_call_kind = session->is_host ? ASYLO__PROTOCOL_EXIT : ASYLO__PROTOCOL_ENTER;
    for (;;) {
        asylo__protocol_frame frame = {0};
        asylo_code code = session->channel->receive(session->channel->context, &frame, status);
        if (code != ASYLO_OK) {
            return break_session(session, status);
        }
        code = asylo__protocol_frame_check(&frame, session->channel->max_payload_size,
                                           session->peer_origin, status);
        if (code == ASYLO_OK && frame.kind == peer_call_kind) {
            if (frame.parent_call_id != call_id) {
                code = asylo_status_set(
                    status, ASYLO_INTERNAL, session->peer_origin,
                    "protocol violation: %s call %llu nests in call %llu, but call %llu is the "
                    "one in progress",
                    asylo__protocol_kind_name(frame.kind), (unsigned long long)frame.call_id,
                    (unsigned long long)frame.parent_call_id, (unsigned long long)call_id);
            } else {
                code = handle_incoming(session, &frame, status);
                asylo__protocol_frame_release(&frame);
                if (code != ASYLO_OK) {
                    return code;
                }
                continue;
            }
        } else if (code == ASYLO_OK && frame.kind != ASYLO__PROTOCOL_RETURN &&
                   frame.kind != ASYLO__PROTOCOL_ERROR) {
            code = asylo_status_set(status, ASYLO_INTERNAL, session->peer_origin,
                                    "protocol violation: unexpected %s frame while call %llu is "
                                    "in progress",
                                    asylo__protocol_kind_name(frame.kind),
                                    (unsigned long long)call_id);
        } else if (code == ASYLO_OK && frame.call_id != call_id) {
            code = asylo_status_set(status, ASYLO_INTERNAL, session->peer_origin,
                                    "protocol violation: %s for call %llu while call %llu is in "
                                    "progress",
                                    asylo__protocol_kind_name(frame.kind),
                                    (unsigned long long)frame.call_id, (unsigned long long)call_id);
        }
        if (code != ASYLO_OK) {
            asylo__protocol_frame_release(&frame);
            return break_session(session, status);
        }
        if (frame.kind == ASYLO__PROTOCOL_ERROR) {
            code = copy_peer_status(&frame, session->peer_origin, status);
        } else if (output != NULL) {
            code = asylo_output_write(output, frame.payload, frame.payload_size, status);
        } else {
            code = asylo_status_ok(status);
        }
        asylo__protocol_frame_release(&frame);
        return code;
    }
}

asylo_code asylo__protocol_call(asylo__protocol_session *session, uint32_t selector,
                                const uint8_t *input, size_t input_size, asylo_output *output,
                                asylo_status *status) {
    if (session->broken) {
        if (status != NULL) {
            *status = session->broken_status;
        }
        return session->broken_status.code;
    }
    if (!session->is_host && session->serving_call_id == 0) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_ENCLAVE,
                                "exit call 0x%x made outside an entry call", selector);
    }
    if (input == NULL && input_size != 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "call 0x%x with NULL input of %zu bytes", selector, input_size);
    }
    if (input_size > session->channel->max_payload_size) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "input of %zu bytes to selector 0x%x does not fit the channel's "
                                "%zu-byte frames",
                                input_size, selector, session->channel->max_payload_size);
    }
    if (session->depth >= ASYLO__PROTOCOL_MAX_DEPTH) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "calls nest more than %d deep across the boundary",
                                ASYLO__PROTOCOL_MAX_DEPTH);
    }
    uint64_t call_id;
    if (session->new_call_id != NULL) {
        call_id = session->new_call_id(session->new_call_id_context);
    } else {
        /* Host ids are odd and enclave ids even, so the two never collide. */
        session->next_call_id += 2;
        call_id = session->next_call_id + (session->is_host ? 1 : 0);
    }
    asylo__protocol_frame frame = {
        .call_id = call_id,
        .parent_call_id = session->serving_call_id,
        .kind = session->is_host ? ASYLO__PROTOCOL_ENTER : ASYLO__PROTOCOL_EXIT,
        .selector = selector,
        .payload = input_size == 0 ? NULL : input,
        .payload_size = input_size,
    };
    asylo_status_ok(&frame.status);
    asylo_code code = session->channel->send(session->channel->context, &frame, status);
    if (code != ASYLO_OK) {
        return break_session(session, status);
    }
    session->depth++;
    code = wait_for_reply(session, call_id, output, status);
    session->depth--;
    return code;
}

asylo_code asylo__protocol_serve_one(asylo__protocol_session *session, asylo_status *status) {
    if (session->broken) {
        if (status != NULL) {
            *status = session->broken_status;
        }
        return session->broken_status.code;
    }
    asylo__protocol_frame frame = {0};
    asylo_code code = session->channel->receive(session->channel->context, &frame, status);
    if (code != ASYLO_OK) {
        return break_session(session, status);
    }
    code = asylo__protocol_frame_check(&frame, session->channel->max_payload_size,
                                       session->peer_origin, status);
    if (code == ASYLO_OK && (frame.kind != ASYLO__PROTOCOL_ENTER || frame.parent_call_id != 0)) {
        code = asylo_status_set(status, ASYLO_INTERNAL, session->peer_origin,
                                "protocol violation: %s frame (call %llu, parent %llu) when only "
                                "an outermost ENTER may come",
                                asylo__protocol_kind_name(frame.kind),
                                (unsigned long long)frame.call_id,
                                (unsigned long long)frame.parent_call_id);
    }
    if (code == ASYLO_OK) {
        code = handle_incoming(session, &frame, status);
    } else {
        break_session(session, status);
    }
    asylo__protocol_frame_release(&frame);
    return code;
}
