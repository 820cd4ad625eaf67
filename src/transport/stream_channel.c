/* The call protocol's channel over a gRPC stream (stream_channel.h). */
#include "transport/stream_channel.h"

#include <string.h>

#include "common/clock.h"

_Static_assert((int)ASYLO__FRAME_ENTER == (int)ASYLO__PROTOCOL_ENTER &&
                   (int)ASYLO__FRAME_EXIT == (int)ASYLO__PROTOCOL_EXIT &&
                   (int)ASYLO__FRAME_RETURN == (int)ASYLO__PROTOCOL_RETURN &&
                   (int)ASYLO__FRAME_ERROR == (int)ASYLO__PROTOCOL_ERROR,
               "wire frame kinds are the protocol's kinds");

static asylo_code channel_send(void *context, const asylo__protocol_frame *frame,
                               asylo_status *status) {
    asylo__stream_channel *channel = context;
    if (channel->pending != NULL) {
        /* Two sends without a receive between: not a conversation. */
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_TRANSPORT,
                                "a frame was sent on a stream while another waited to go out");
    }
    asylo__frame wire;
    asylo__frame_init(&wire);
    wire.call_id = frame->call_id;
    wire.parent_call_id = frame->parent_call_id;
    wire.kind = (asylo__frame_kind)frame->kind;
    wire.selector = frame->selector;
    wire.payload = frame->payload;
    wire.payload_size = frame->payload_size;
    if (frame->kind == ASYLO__PROTOCOL_ERROR) {
        wire.status = frame->status;
    }
    asylo_code code =
        asylo__frame_encode(&wire, channel->max_message_size, &channel->pending, status);
    if (code == ASYLO_OK) {
        channel->bytes_sent += frame->payload_size;
    }
    return code;
}

static void release_storage(void *storage) {
    asylo__frame frame;
    asylo__frame_init(&frame);
    frame.storage_ = storage;
    asylo__frame_release(&frame);
}

static asylo_code channel_receive(void *context, asylo__protocol_frame *frame,
                                  asylo_status *status) {
    asylo__stream_channel *channel = context;
    asylo__frame wire;
    asylo_code code;
    if (channel->client != NULL) {
        int64_t timeout_ms = -1;
        if (channel->deadline_ms >= 0) {
            int64_t left = channel->deadline_ms - asylo__monotonic_ms();
            timeout_ms = left > 0 ? left : 0;
        }
        code = asylo__client_stream_exchange_encoded(channel->client, channel->pending, &wire,
                                                     timeout_ms, status);
    } else {
        code = asylo__server_call_exchange_encoded(channel->server, channel->pending, &wire, -1,
                                                   status);
    }
    if (channel->pending != NULL) {
        asylo__byte_buffer_wipe_destroy(channel->pending);
        channel->pending = NULL;
    }
    if (code != ASYLO_OK) {
        channel->failed = true;
        return code;
    }
    memset(frame, 0, sizeof *frame);
    frame->call_id = wire.call_id;
    frame->parent_call_id = wire.parent_call_id;
    frame->kind = (uint32_t)wire.kind;
    frame->selector = wire.selector;
    frame->payload = wire.payload;
    frame->payload_size = wire.payload_size;
    frame->status = wire.status;
    if (wire.storage_ != NULL) {
        frame->release_ = release_storage;
        frame->release_context_ = wire.storage_;
    }
    channel->bytes_received += wire.payload_size;
    return ASYLO_OK;
}

static void init_common(asylo__stream_channel *channel, size_t max_message_size) {
    memset(channel, 0, sizeof *channel);
    channel->deadline_ms = -1;
    channel->max_message_size = max_message_size;
    channel->channel = (asylo__protocol_channel){
        .context = channel,
        .send = channel_send,
        .receive = channel_receive,
        .max_payload_size = max_message_size,
    };
}

void asylo__stream_channel_init_client(asylo__stream_channel *channel,
                                       asylo__client_stream *stream) {
    init_common(channel, asylo__client_stream_max_message_size(stream));
    channel->client = stream;
}

void asylo__stream_channel_init_server(asylo__stream_channel *channel, asylo__server_call *call) {
    init_common(channel, asylo__server_call_max_message_size(call));
    channel->server = call;
}

void asylo__stream_channel_fini(asylo__stream_channel *channel) {
    if (channel->pending != NULL) {
        asylo__byte_buffer_wipe_destroy(channel->pending);
        channel->pending = NULL;
    }
}
