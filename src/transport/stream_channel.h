/* The call protocol's channel (protocol/protocol.h) over one stream of the
 * remote protocol, at either end: the host's client stream or the proxy's
 * server call. Both ends of `remote` run their conversations through it, so
 * the ENTER / EXIT / RETURN / ERROR logic exists once, in src/protocol.
 *
 * send encodes the frame (the one copy of its payload) and keeps it; the
 * next receive sends it in the same gRPC batch as the wait for the reply, so
 * each step of a conversation is one round trip and one wait, on the calling
 * thread, as a hand-written exchange would be. In a conversation every send
 * is followed by a receive; asylo__stream_channel_fini drops what a broken one
 * left unsent. Received payloads stay in the decoded message (no copy).
 *
 * Not thread-safe: one thread converses on a stream at a time. */
#ifndef ASYLO_TRANSPORT_STREAM_CHANNEL_H
#define ASYLO_TRANSPORT_STREAM_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/protocol.h"
#include "transport/client_stream.h"
#include "transport/server.h"

typedef struct asylo__stream_channel {
    asylo__protocol_channel channel; /* hand &channel to a protocol session */
    /* Client end: receive waits until this asylo__monotonic_ms() time at the
     * latest, then fails with DEADLINE_EXCEEDED (the stream is cancelled);
     * < 0: no bound (keepalive still notices a dead peer). The server end
     * never bounds its waits: the host's handler may take its time. */
    int64_t deadline_ms;
    /* Payload bytes sent and received, for statistics. */
    uint64_t bytes_sent;
    uint64_t bytes_received;
    /* The stream itself failed (not the peer's use of the protocol); the
     * session's status then is the stream's. */
    bool failed;
    /* Private. */
    asylo__client_stream *client;
    asylo__server_call *server;
    size_t max_message_size;
    grpc_byte_buffer *pending;
} asylo__stream_channel;

/* The host's end, over a client stream. */
void asylo__stream_channel_init_client(asylo__stream_channel *channel,
                                       asylo__client_stream *stream);
/* The proxy's end, over a server call. */
void asylo__stream_channel_init_server(asylo__stream_channel *channel, asylo__server_call *call);
/* Drops a frame left unsent. */
void asylo__stream_channel_fini(asylo__stream_channel *channel);

#endif
