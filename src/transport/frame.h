/* Frames of the remote protocol (proto/asylo/remote.proto, message Frame) as
 * a C struct, with encoding and a decoder for untrusted network input.
 *
 * Encoding uses the protobuf-c generated code. Decoding first walks the wire
 * format itself (bounded field count, no groups, lengths inside the input),
 * then unpacks with protobuf-c, then validates the values:
 *   - kind must be ENTER, EXIT, RETURN or ERROR (else INVALID_ARGUMENT);
 *   - a status code outside 0..16 becomes UNKNOWN (message kept), an unknown
 *     origin becomes transport, an ERROR frame with status OK becomes UNKNOWN;
 *   - the status message is cut at its first NUL and at
 *     ASYLO_STATUS_MESSAGE_SIZE;
 *   - the payload must not exceed max_size, nor the whole frame
 *     asylo__frame_wire_size(max_size) (RESOURCE_EXHAUSTED).
 * All decode errors have origin transport. Thread-safe: no shared state. */
#ifndef ASYLO_TRANSPORT_FRAME_H
#define ASYLO_TRANSPORT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <grpc/byte_buffer.h>

#include "asylo/status.h"

typedef enum asylo__frame_kind {
    ASYLO__FRAME_ENTER = 1,  /* host -> proxy: call the enclave at selector */
    ASYLO__FRAME_EXIT = 2,   /* proxy -> host: the enclave calls the host */
    ASYLO__FRAME_RETURN = 3, /* call_id finished; payload is its output */
    ASYLO__FRAME_ERROR = 4,  /* call_id failed with status */
} asylo__frame_kind;

/* The version of the wire protocol (frames and the LOAD exchange,
 * proto/asylo/remote.proto). Both ends announce it at LOAD and refuse any
 * other with FAILED_PRECONDITION naming both; raise it on any change an older
 * peer would misread. */
#define ASYLO__WIRE_PROTOCOL_VERSION 1u

/* Default limit on a frame's PAYLOAD (an input or an output), in bytes.
 * Limits count payload bytes only, so an output of exactly max_output_size
 * fits a frame whose limit is the same number. */
#define ASYLO__FRAME_DEFAULT_MAX_SIZE ((size_t)64 << 20)
/* The most bytes a frame adds around its payload: two ids, kind, selector,
 * the payload's tag and length, and an error status with a full message
 * (about 600 bytes; rounded up). */
#define ASYLO__FRAME_MAX_OVERHEAD ((size_t)1024)

/* The gRPC message length that carries payloads of up to payload_limit (0:
 * the default): the payload limit plus ASYLO__FRAME_MAX_OVERHEAD, capped at
 * what gRPC accepts (INT32_MAX). The one place framing is counted. */
size_t asylo__frame_wire_size(size_t payload_limit);

typedef struct asylo__frame {
    uint64_t call_id;
    uint64_t parent_call_id;
    asylo__frame_kind kind;
    uint32_t selector;
    /* To send: borrowed, must stay valid during the encode call only.
     * Received: owned by the frame until asylo__frame_release; NULL when
     * payload_size is 0. */
    const uint8_t *payload;
    size_t payload_size;
    /* OK except on ERROR frames. */
    asylo_status status;
    /* Private: the decoded message that owns payload. */
    void *storage_;
} asylo__frame;

/* Zeroes the frame (status OK, no payload). Frames to receive into need no
 * init; frames to send should start from it. */
void asylo__frame_init(asylo__frame *frame);

/* "ENTER", "EXIT", "RETURN", "ERROR", or "INVALID". */
const char *asylo__frame_kind_name(asylo__frame_kind kind);

/* Encodes into a new grpc_byte_buffer (caller destroys it with
 * grpc_byte_buffer_destroy). RESOURCE_EXHAUSTED when the payload is larger
 * than max_size (0 = default), before anything is allocated for it;
 * INVALID_ARGUMENT (origin api) for a kind outside the enum. */
asylo_code asylo__frame_encode(const asylo__frame *frame, size_t max_size, grpc_byte_buffer **out,
                               asylo_status *status);
/* Same into a malloc'd buffer (caller frees). */
asylo_code asylo__frame_encode_bytes(const asylo__frame *frame, size_t max_size, uint8_t **out,
                                     size_t *size, asylo_status *status);

/* Decodes untrusted bytes. On success *out owns its payload: call
 * asylo__frame_release. On failure *out is zeroed and needs no release. */
asylo_code asylo__frame_decode_bytes(const void *data, size_t size, size_t max_size,
                                     asylo__frame *out, asylo_status *status);
/* Same from a received byte buffer (which stays the caller's). */
asylo_code asylo__frame_decode(grpc_byte_buffer *buffer, size_t max_size, asylo__frame *out,
                               asylo_status *status);

/* Wipes the payload, frees what a decode allocated and zeroes the frame;
 * safe on a zeroed or already released frame. */
void asylo__frame_release(asylo__frame *frame);

/* Wipes every slice of a byte buffer we received or built (never one holding
 * static slices) and destroys it: frames carry enclave inputs and outputs.
 * NULL is a no-op. */
void asylo__byte_buffer_wipe_destroy(grpc_byte_buffer *buffer);

/* Copies a received byte buffer into one malloc'd block (caller frees;
 * NULL data for an empty buffer). RESOURCE_EXHAUSTED past max_size. */
asylo_code asylo__byte_buffer_to_bytes(grpc_byte_buffer *buffer, size_t max_size, uint8_t **data,
                                       size_t *size, asylo_status *status);

#endif
