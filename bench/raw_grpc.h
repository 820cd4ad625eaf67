/* The baseline the remote rows are measured against: gRPC C core used
 * directly (no frames, no protobuf, no enclave), with exactly the channel
 * credentials and channel arguments of asylo-c's transport (built by the
 * transport's own helpers, so they cannot drift apart).
 *
 * The server half is bench_raw_grpc_server (raw_grpc_server.c), a separate
 * process like asylo-remote-proxy. Methods:
 *   /bench.Raw/Echo  bidirectional ping-pong: every message is sent back as is
 *   /bench.Raw/Sink  client streaming: counts the bytes, answers with the count */
#ifndef ASYLO_BENCH_RAW_GRPC_H
#define ASYLO_BENCH_RAW_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "transport/security.h"

#define RAW_ECHO_METHOD "/bench.Raw/Echo"
#define RAW_SINK_METHOD "/bench.Raw/Sink"

typedef struct raw_channel {
    grpc_channel *channel;
} raw_channel;

typedef struct raw_stream {
    grpc_call *call;
    grpc_completion_queue *cq;
    bool started;
    grpc_metadata_array initial_metadata;
    grpc_metadata_array trailing_metadata;
    grpc_status_code final_code;
    grpc_slice final_details;
    const char *error_string;
    char batch_tag;
    char status_tag;
} raw_stream;

/* Dials address ("127.0.0.1:5000", "[::1]:5000", "unix:/p") the way the
 * transport does and waits until READY. false with a reason in error. */
bool raw_channel_open(const char *address, const asylo__security_options *security,
                      raw_channel *channel, char *error, size_t error_size);
void raw_channel_close(raw_channel *channel);

bool raw_stream_open(raw_channel *channel, const char *method, raw_stream *stream);
/* One ping-pong: sends data, receives the reply into a malloc'd *reply
 * (the caller frees it), as the transport hands a reply to its caller. */
bool raw_stream_exchange(raw_stream *stream, const void *data, size_t size, uint8_t **reply,
                         size_t *reply_size);
void raw_stream_close(raw_stream *stream);

/* Streams size bytes in chunk_size messages on a new Sink call and waits for
 * the server's count. */
bool raw_sink(raw_channel *channel, const uint8_t *data, size_t size, size_t chunk_size);

#endif
