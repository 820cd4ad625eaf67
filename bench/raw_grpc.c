/* Raw gRPC C core client for the baselines (see raw_grpc.h). */
#include "raw_grpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>

#include "transport/address.h"
#include "transport/call_util.h"
#include "transport/frame.h"

#define RAW_WAIT_MS 10000

static gpr_timespec after_ms(int64_t milliseconds) {
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(milliseconds, GPR_TIMESPAN));
}

static bool pluck_ok(grpc_completion_queue *cq, void *tag) {
    grpc_event event = grpc_completion_queue_pluck(cq, tag, after_ms(RAW_WAIT_MS), NULL);
    return event.type == GRPC_OP_COMPLETE && event.success;
}

bool raw_channel_open(const char *address, const asylo__security_options *security,
                      raw_channel *channel, char *error, size_t error_size) {
    memset(channel, 0, sizeof *channel);
    asylo__address parsed;
    asylo_status status;
    if (asylo__address_parse(address, &parsed, &status) != ASYLO_OK) {
        snprintf(error, error_size, "%s", status.message);
        return false;
    }
    grpc_channel_credentials *credentials = NULL;
    if (asylo__security_channel_credentials(security, &parsed, &credentials, &status) != ASYLO_OK) {
        snprintf(error, error_size, "%s", status.message);
        return false;
    }
    /* The transport's own client arguments: message limits, keepalive, a
     * local subchannel pool (own connection), no retries, reconnect backoff. */
    asylo__channel_args args;
    asylo__channel_args_build(&args, false, ASYLO__FRAME_DEFAULT_MAX_SIZE, 0, 0);
    char dial[sizeof parsed.target + 8];
    if (parsed.family == ASYLO__ADDRESS_IPV4) {
        snprintf(dial, sizeof dial, "ipv4:%s", parsed.target);
    } else if (parsed.family == ASYLO__ADDRESS_IPV6) {
        snprintf(dial, sizeof dial, "ipv6:%s", parsed.target);
    } else {
        snprintf(dial, sizeof dial, "%s", parsed.target);
    }
    channel->channel = grpc_channel_create(dial, credentials, &args.list);
    grpc_channel_credentials_release(credentials);
    if (channel->channel == NULL) {
        snprintf(error, error_size, "grpc_channel_create(%s) failed", dial);
        return false;
    }
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = after_ms(RAW_WAIT_MS);
    grpc_connectivity_state state = grpc_channel_check_connectivity_state(channel->channel, 1);
    while (state != GRPC_CHANNEL_READY &&
           gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), deadline) < 0) {
        char tag;
        grpc_channel_watch_connectivity_state(channel->channel, state, deadline, cq, &tag);
        grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        state = grpc_channel_check_connectivity_state(channel->channel, 1);
    }
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_pluck(cq, NULL, after_ms(RAW_WAIT_MS), NULL);
    grpc_completion_queue_destroy(cq);
    if (state != GRPC_CHANNEL_READY) {
        snprintf(error, error_size, "%s: not READY (state %d)", dial, (int)state);
        grpc_channel_destroy(channel->channel);
        channel->channel = NULL;
        return false;
    }
    return true;
}

void raw_channel_close(raw_channel *channel) {
    if (channel->channel != NULL) {
        grpc_channel_destroy(channel->channel);
        channel->channel = NULL;
    }
}

bool raw_stream_open(raw_channel *channel, const char *method, raw_stream *stream) {
    memset(stream, 0, sizeof *stream);
    stream->cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice method_slice = grpc_slice_from_static_string(method);
    stream->call =
        grpc_channel_create_call(channel->channel, NULL, GRPC_PROPAGATE_DEFAULTS, stream->cq,
                                 method_slice, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_metadata_array_init(&stream->initial_metadata);
    grpc_metadata_array_init(&stream->trailing_metadata);
    stream->final_details = grpc_empty_slice();
    return stream->call != NULL;
}

/* Starts the batch; on the first one also the initial metadata and the
 * status op kept outstanding for the stream's life. */
static bool start_batch(raw_stream *stream, grpc_op *ops, size_t count) {
    bool first = !stream->started;
    if (grpc_call_start_batch(stream->call, ops, count, &stream->batch_tag, NULL) != GRPC_CALL_OK) {
        return false;
    }
    if (first) {
        stream->started = true;
        grpc_op status_op;
        memset(&status_op, 0, sizeof status_op);
        status_op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        status_op.data.recv_status_on_client.trailing_metadata = &stream->trailing_metadata;
        status_op.data.recv_status_on_client.status = &stream->final_code;
        status_op.data.recv_status_on_client.status_details = &stream->final_details;
        status_op.data.recv_status_on_client.error_string = &stream->error_string;
        if (grpc_call_start_batch(stream->call, &status_op, 1, &stream->status_tag, NULL) !=
            GRPC_CALL_OK) {
            return false;
        }
    }
    return true;
}

static bool take_message(grpc_byte_buffer *received, uint8_t **data, size_t *size) {
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, received)) {
        return false;
    }
    grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    size_t length = GRPC_SLICE_LENGTH(slice);
    uint8_t *copy = malloc(length > 0 ? length : 1);
    if (copy != NULL) {
        memcpy(copy, GRPC_SLICE_START_PTR(slice), length);
    }
    grpc_slice_unref(slice);
    *data = copy;
    *size = length;
    return copy != NULL;
}

bool raw_stream_exchange(raw_stream *stream, const void *data, size_t size, uint8_t **reply,
                         size_t *reply_size) {
    grpc_slice slice = grpc_slice_from_copied_buffer(data, size);
    grpc_byte_buffer *outgoing = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    grpc_byte_buffer *incoming = NULL;
    grpc_op ops[4];
    size_t count = 0;
    memset(ops, 0, sizeof ops);
    if (!stream->started) {
        ops[count++].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[count].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[count].data.recv_initial_metadata.recv_initial_metadata = &stream->initial_metadata;
        count++;
    }
    ops[count].op = GRPC_OP_SEND_MESSAGE;
    ops[count].data.send_message.send_message = outgoing;
    count++;
    ops[count].op = GRPC_OP_RECV_MESSAGE;
    ops[count].data.recv_message.recv_message = &incoming;
    count++;
    bool ok = start_batch(stream, ops, count) && pluck_ok(stream->cq, &stream->batch_tag) &&
              incoming != NULL;
    grpc_byte_buffer_destroy(outgoing);
    *reply = NULL;
    *reply_size = 0;
    if (incoming != NULL) {
        ok = ok && take_message(incoming, reply, reply_size);
        grpc_byte_buffer_destroy(incoming);
    }
    return ok;
}

void raw_stream_close(raw_stream *stream) {
    if (stream->call == NULL) {
        return;
    }
    if (stream->started) {
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        if (grpc_call_start_batch(stream->call, &op, 1, &stream->batch_tag, NULL) == GRPC_CALL_OK) {
            if (!pluck_ok(stream->cq, &stream->batch_tag)) {
                grpc_call_cancel(stream->call, NULL);
            }
        }
        if (grpc_completion_queue_pluck(stream->cq, &stream->status_tag, after_ms(RAW_WAIT_MS),
                                        NULL)
                .type != GRPC_OP_COMPLETE) {
            grpc_call_cancel(stream->call, NULL);
            grpc_completion_queue_pluck(stream->cq, &stream->status_tag,
                                        gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        }
    }
    grpc_call_unref(stream->call);
    stream->call = NULL;
    grpc_completion_queue_shutdown(stream->cq);
    grpc_completion_queue_pluck(stream->cq, NULL, after_ms(RAW_WAIT_MS), NULL);
    grpc_completion_queue_destroy(stream->cq);
    grpc_metadata_array_destroy(&stream->initial_metadata);
    grpc_metadata_array_destroy(&stream->trailing_metadata);
    grpc_slice_unref(stream->final_details);
    gpr_free((void *)stream->error_string);
}

bool raw_sink(raw_channel *channel, const uint8_t *data, size_t size, size_t chunk_size) {
    raw_stream stream;
    if (!raw_stream_open(channel, RAW_SINK_METHOD, &stream)) {
        return false;
    }
    bool ok = true;
    size_t offset = 0;
    grpc_byte_buffer *incoming = NULL;
    while (ok) {
        size_t part = size - offset < chunk_size ? size - offset : chunk_size;
        bool last = offset + part == size;
        grpc_slice slice = grpc_slice_from_copied_buffer((const char *)data + offset, part);
        grpc_byte_buffer *outgoing = grpc_raw_byte_buffer_create(&slice, 1);
        grpc_slice_unref(slice);
        grpc_op ops[5];
        size_t count = 0;
        memset(ops, 0, sizeof ops);
        if (!stream.started) {
            ops[count++].op = GRPC_OP_SEND_INITIAL_METADATA;
        }
        ops[count].op = GRPC_OP_SEND_MESSAGE;
        ops[count].data.send_message.send_message = outgoing;
        count++;
        if (last) {
            ops[count++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
            ops[count].op = GRPC_OP_RECV_INITIAL_METADATA;
            ops[count].data.recv_initial_metadata.recv_initial_metadata = &stream.initial_metadata;
            count++;
            ops[count].op = GRPC_OP_RECV_MESSAGE;
            ops[count].data.recv_message.recv_message = &incoming;
            count++;
        }
        ok = start_batch(&stream, ops, count) && pluck_ok(stream.cq, &stream.batch_tag);
        grpc_byte_buffer_destroy(outgoing);
        offset += part;
        if (last) {
            break;
        }
    }
    uint64_t counted = 0;
    if (incoming != NULL) {
        uint8_t *reply = NULL;
        size_t reply_size = 0;
        if (take_message(incoming, &reply, &reply_size) && reply_size == sizeof counted) {
            memcpy(&counted, reply, sizeof counted);
        }
        free(reply);
        grpc_byte_buffer_destroy(incoming);
    }
    ok = ok && counted == size;
    /* Already half-closed: only the status is left to collect. */
    if (stream.started &&
        grpc_completion_queue_pluck(stream.cq, &stream.status_tag, after_ms(RAW_WAIT_MS), NULL)
                .type != GRPC_OP_COMPLETE) {
        grpc_call_cancel(stream.call, NULL);
        grpc_completion_queue_pluck(stream.cq, &stream.status_tag,
                                    gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    }
    ok = ok && stream.final_code == GRPC_STATUS_OK;
    stream.started = false; /* nothing left for raw_stream_close to wait for */
    raw_stream_close(&stream);
    return ok;
}
