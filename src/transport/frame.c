/* Frame encoding and validating decoding (see frame.h). */
#include "transport/frame.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

#include "asylo/remote.pb-c.h"
#include "common/bytes.h"

/* A Frame has 6 fields and a Status 3; repeats are legal protobuf but a peer
 * that sends hundreds is hostile or broken. The bound keeps protobuf-c's
 * per-field bookkeeping (tens of bytes each) from multiplying the input. */
#define MAX_FIELDS 32
#define FIELD_STATUS 6

void asylo__frame_init(asylo__frame *frame) {
    memset(frame, 0, sizeof *frame);
    asylo_status_ok(&frame->status);
}

const char *asylo__frame_kind_name(asylo__frame_kind kind) {
    switch (kind) {
    case ASYLO__FRAME_ENTER:
        return "ENTER";
    case ASYLO__FRAME_EXIT:
        return "EXIT";
    case ASYLO__FRAME_RETURN:
        return "RETURN";
    case ASYLO__FRAME_ERROR:
        return "ERROR";
    }
    return "INVALID";
}

static size_t effective_limit(size_t max_size) {
    return max_size == 0 ? ASYLO__FRAME_DEFAULT_MAX_SIZE : max_size;
}

size_t asylo__frame_wire_size(size_t payload_limit) {
    size_t limit = effective_limit(payload_limit);
    size_t cap = (size_t)INT32_MAX;
    return limit > cap - ASYLO__FRAME_MAX_OVERHEAD ? cap : limit + ASYLO__FRAME_MAX_OVERHEAD;
}

/* Fills the generated structs from frame; they borrow frame's memory. */
static asylo_code to_message(const asylo__frame *frame, Asylo__Remote__Frame *message,
                             Asylo__Remote__Status *wire_status, asylo_status *status) {
    if (frame->kind < ASYLO__FRAME_ENTER || frame->kind > ASYLO__FRAME_ERROR) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "cannot send a frame of kind %d", (int)frame->kind);
    }
    if (frame->payload_size > 0 && frame->payload == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "frame payload is NULL with size %zu", frame->payload_size);
    }
    asylo__remote__frame__init(message);
    message->call_id = frame->call_id;
    message->parent_call_id = frame->parent_call_id;
    message->kind = (Asylo__Remote__Frame__Kind)frame->kind;
    message->selector = frame->selector;
    message->payload.len = frame->payload_size;
    /* protobuf-c's field is not const, but pack only reads it. */
    message->payload.data = (uint8_t *)frame->payload;
    if (frame->status.code != ASYLO_OK || frame->status.message[0] != '\0') {
        asylo__remote__status__init(wire_status);
        wire_status->code = (int32_t)frame->status.code;
        wire_status->origin = (int32_t)frame->status.origin;
        /* The message field is a NUL-terminated array: always terminated. */
        wire_status->message = (char *)frame->status.message;
        message->status = wire_status;
    }
    return ASYLO_OK;
}

/* The payload against the limit, then the whole frame against the wire
 * size (which only a frame the overhead bound forgot could exceed). */
static asylo_code check_encoded_size(const asylo__frame *frame, size_t size, size_t max_size,
                                     asylo_status *status) {
    size_t limit = effective_limit(max_size);
    if (frame->payload_size > limit) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "payload of %zu bytes exceeds the maximum message size of %zu "
                                "bytes; nothing was sent",
                                frame->payload_size, limit);
    }
    if (size > asylo__frame_wire_size(max_size)) {
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_TRANSPORT,
                                "a frame of %zu bytes around a %zu-byte payload is over the "
                                "framing bound of %zu bytes; nothing was sent",
                                size, frame->payload_size, (size_t)ASYLO__FRAME_MAX_OVERHEAD);
    }
    return ASYLO_OK;
}

asylo_code asylo__frame_encode(const asylo__frame *frame, size_t max_size, grpc_byte_buffer **out,
                               asylo_status *status) {
    Asylo__Remote__Frame message;
    Asylo__Remote__Status wire_status;
    *out = NULL;
    asylo_code code = to_message(frame, &message, &wire_status, status);
    if (code != ASYLO_OK) {
        return code;
    }
    size_t size = asylo__remote__frame__get_packed_size(&message);
    code = check_encoded_size(frame, size, max_size, status);
    if (code != ASYLO_OK) {
        return code;
    }
    /* Pack straight into a gRPC slice: the payload is copied once. */
    grpc_slice slice = grpc_slice_malloc(size);
    asylo__remote__frame__pack(&message, GRPC_SLICE_START_PTR(slice));
    *out = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return asylo_status_ok(status);
}

asylo_code asylo__frame_encode_bytes(const asylo__frame *frame, size_t max_size, uint8_t **out,
                                     size_t *size, asylo_status *status) {
    Asylo__Remote__Frame message;
    Asylo__Remote__Status wire_status;
    *out = NULL;
    *size = 0;
    asylo_code code = to_message(frame, &message, &wire_status, status);
    if (code != ASYLO_OK) {
        return code;
    }
    size_t packed_size = asylo__remote__frame__get_packed_size(&message);
    code = check_encoded_size(frame, packed_size, max_size, status);
    if (code != ASYLO_OK) {
        return code;
    }
    uint8_t *data = malloc(packed_size > 0 ? packed_size : 1);
    if (data == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "out of memory encoding a frame of %zu bytes", packed_size);
    }
    asylo__remote__frame__pack(&message, data);
    *out = data;
    *size = packed_size;
    return asylo_status_ok(status);
}

/* Reads a base-128 varint of at most 10 bytes; false past the end. */
static bool read_varint(const uint8_t *data, size_t size, size_t *offset, uint64_t *value) {
    uint64_t result = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (*offset >= size) {
            return false;
        }
        uint8_t byte = data[(*offset)++];
        if (shift == 63 && byte > 1) {
            return false; /* more than 64 bits */
        }
        result |= (uint64_t)(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) {
            *value = result;
            return true;
        }
    }
    return false;
}

/* Walks the protobuf wire format of one message: every field has a valid
 * tag and wire type (no groups) and ends inside the input, and there are at
 * most MAX_FIELDS of them. With nested set, also walks the Status field. */
static bool scan_message(const uint8_t *data, size_t size, bool nested, const char **why) {
    size_t offset = 0;
    unsigned fields = 0;
    while (offset < size) {
        uint64_t tag;
        if (!read_varint(data, size, &offset, &tag)) {
            *why = "truncated field tag";
            return false;
        }
        uint64_t number = tag >> 3;
        if (number == 0 || number > 536870911u) {
            *why = "invalid field number";
            return false;
        }
        if (++fields > MAX_FIELDS) {
            *why = "too many fields";
            return false;
        }
        uint64_t value;
        switch (tag & 7) {
        case 0:
            if (!read_varint(data, size, &offset, &value)) {
                *why = "truncated varint";
                return false;
            }
            break;
        case 1:
            if (size - offset < 8) {
                *why = "truncated fixed64";
                return false;
            }
            offset += 8;
            break;
        case 5:
            if (size - offset < 4) {
                *why = "truncated fixed32";
                return false;
            }
            offset += 4;
            break;
        case 2:
            if (!read_varint(data, size, &offset, &value) || value > size - offset) {
                *why = "length-delimited field runs past the end";
                return false;
            }
            if (nested && number == FIELD_STATUS &&
                !scan_message(data + offset, (size_t)value, false, why)) {
                return false;
            }
            offset += (size_t)value;
            break;
        default:
            *why = "unsupported wire type";
            return false;
        }
    }
    return true;
}

static asylo_code malformed(asylo__frame *out, asylo_status *status, const char *why) {
    asylo__frame_init(out);
    return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_TRANSPORT,
                            "malformed frame from the peer: %s", why);
}

asylo_code asylo__frame_decode_bytes(const void *data, size_t size, size_t max_size,
                                     asylo__frame *out, asylo_status *status) {
    asylo__frame_init(out);
    size_t limit = effective_limit(max_size);
    if (size > asylo__frame_wire_size(max_size)) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "received frame of %zu bytes exceeds the maximum of %zu", size,
                                asylo__frame_wire_size(max_size));
    }
    if (size > 0 && data == NULL) {
        return malformed(out, status, "no data");
    }
    const char *why = NULL;
    if (!scan_message(data, size, true, &why)) {
        return malformed(out, status, why);
    }
    Asylo__Remote__Frame *message = asylo__remote__frame__unpack(NULL, size, data);
    if (message == NULL) {
        return malformed(out, status, "protobuf decoding failed");
    }
    if (message->payload.len > limit) {
        size_t payload_size = message->payload.len;
        asylo__secure_zero(message->payload.data, payload_size);
        asylo__remote__frame__free_unpacked(message, NULL);
        asylo__frame_init(out);
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "received payload of %zu bytes exceeds the maximum of %zu",
                                payload_size, limit);
    }
    int kind = (int)message->kind;
    if (kind < ASYLO__FRAME_ENTER || kind > ASYLO__FRAME_ERROR) {
        asylo__remote__frame__free_unpacked(message, NULL);
        asylo__frame_init(out);
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_TRANSPORT,
                                "malformed frame from the peer: unknown kind %d", kind);
    }
    out->call_id = message->call_id;
    out->parent_call_id = message->parent_call_id;
    out->kind = (asylo__frame_kind)kind;
    out->selector = message->selector;
    out->payload_size = message->payload.len;
    out->payload = message->payload.len > 0 ? message->payload.data : NULL;
    if (message->status != NULL) {
        const Asylo__Remote__Status *wire = message->status;
        /* protobuf-c NUL-terminates strings; an embedded NUL just ends it. */
        const char *text = wire->message != NULL ? wire->message : "";
        asylo_code code = asylo_code_is_valid(wire->code) ? (asylo_code)wire->code : ASYLO_UNKNOWN;
        asylo_origin origin = ASYLO_ORIGIN_TRANSPORT;
        switch (wire->origin) {
#define ORIGIN_CASE(name, value, label)                                                            \
    case value:                                                                                    \
        origin = ASYLO_ORIGIN_##name;                                                              \
        break;
            ASYLO_STATUS_ORIGINS(ORIGIN_CASE)
#undef ORIGIN_CASE
        default:
            break;
        }
        if (origin == ASYLO_ORIGIN_NONE) {
            origin = ASYLO_ORIGIN_TRANSPORT;
        }
        if (code != (asylo_code)wire->code) {
            asylo_status_set(&out->status, code, origin, "(peer sent status code %d) %s",
                             (int)wire->code, text);
        } else {
            asylo_status_set(&out->status, code, origin, "%s", text);
        }
    }
    if (out->kind == ASYLO__FRAME_ERROR && out->status.code == ASYLO_OK) {
        asylo_status_set(&out->status, ASYLO_UNKNOWN, ASYLO_ORIGIN_TRANSPORT,
                         "the peer sent an ERROR frame without an error status");
    }
    out->storage_ = message;
    return asylo_status_ok(status);
}

asylo_code asylo__frame_decode(grpc_byte_buffer *buffer, size_t max_size, asylo__frame *out,
                               asylo_status *status) {
    asylo__frame_init(out);
    if (buffer == NULL) {
        return malformed(out, status, "no message");
    }
    size_t limit = effective_limit(max_size);
    size_t size = grpc_byte_buffer_length(buffer);
    if (size > asylo__frame_wire_size(max_size)) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "received frame of %zu bytes exceeds the maximum of %zu", size,
                                asylo__frame_wire_size(max_size));
    }
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, buffer)) {
        return malformed(out, status, "unreadable (compressed?) message");
    }
    /* A single-slice buffer comes back as a reference: no copy. */
    grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    asylo_code code = asylo__frame_decode_bytes(GRPC_SLICE_START_PTR(slice),
                                                GRPC_SLICE_LENGTH(slice), limit, out, status);
    /* The decoded frame holds its own copy: wipe this one (a copy of a
     * multi-slice buffer, or the buffer's own bytes, which the caller is done
     * with). */
    asylo__secure_zero(GRPC_SLICE_START_PTR(slice), GRPC_SLICE_LENGTH(slice));
    grpc_slice_unref(slice);
    return code;
}

void asylo__frame_release(asylo__frame *frame) {
    Asylo__Remote__Frame *message = frame->storage_;
    if (message != NULL) {
        asylo__secure_zero(message->payload.data, message->payload.len);
        asylo__remote__frame__free_unpacked(message, NULL);
    }
    asylo__frame_init(frame);
}

void asylo__byte_buffer_wipe_destroy(grpc_byte_buffer *buffer) {
    if (buffer == NULL) {
        return;
    }
    if (buffer->type == GRPC_BB_RAW) {
        grpc_slice_buffer *slices = &buffer->data.raw.slice_buffer;
        for (size_t i = 0; i < slices->count; i++) {
            asylo__secure_zero(GRPC_SLICE_START_PTR(slices->slices[i]),
                               GRPC_SLICE_LENGTH(slices->slices[i]));
        }
    }
    grpc_byte_buffer_destroy(buffer);
}

asylo_code asylo__byte_buffer_to_bytes(grpc_byte_buffer *buffer, size_t max_size, uint8_t **data,
                                       size_t *size, asylo_status *status) {
    *data = NULL;
    *size = 0;
    size_t limit = effective_limit(max_size);
    size_t length = buffer != NULL ? grpc_byte_buffer_length(buffer) : 0;
    if (length > limit) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "received message of %zu bytes exceeds the maximum of %zu", length,
                                limit);
    }
    if (length == 0) {
        return asylo_status_ok(status);
    }
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, buffer)) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_TRANSPORT,
                                "unreadable (compressed?) message");
    }
    uint8_t *copy = malloc(length);
    if (copy == NULL) {
        grpc_byte_buffer_reader_destroy(&reader);
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "out of memory for a message of %zu bytes", length);
    }
    size_t offset = 0;
    grpc_slice slice;
    while (grpc_byte_buffer_reader_next(&reader, &slice)) {
        size_t part = GRPC_SLICE_LENGTH(slice);
        if (part > length - offset) {
            part = length - offset;
        }
        memcpy(copy + offset, GRPC_SLICE_START_PTR(slice), part);
        offset += part;
        grpc_slice_unref(slice);
    }
    grpc_byte_buffer_reader_destroy(&reader);
    *data = copy;
    *size = offset;
    return asylo_status_ok(status);
}
