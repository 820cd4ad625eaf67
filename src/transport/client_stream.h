/* Client half of the stream protocol: a channel (one connection) per remote
 * enclave and a bidirectional stream per calling thread.
 *
 * No dispatcher thread: each stream owns a completion queue and the thread
 * that calls asylo__client_stream_exchange waits on it itself (a thread
 * hand-off costs a third of a round trip on these machines).
 *
 * Thread-safety: a channel may be shared by any number of threads (opening
 * streams concurrently is safe). A stream is used by one thread at a time.
 * Close every stream of a channel before closing the channel. */
#ifndef ASYLO_TRANSPORT_CLIENT_STREAM_H
#define ASYLO_TRANSPORT_CLIENT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"
#include "transport/frame.h"
#include "transport/security.h"

/* The method the proxy serves. */
#define ASYLO__COMMUNICATE_METHOD "/asylo.remote.RemoteEnclaveProxy/Communicate"
/* Metadata key carrying the proxy's one-time token. */
#define ASYLO__TOKEN_METADATA_KEY "asylo-token"

typedef struct asylo__channel_options {
    const char *address;                     /* see address.h */
    const asylo__security_options *security; /* NULL: local */
    size_t max_message_size;                 /* both directions; 0: ASYLO__FRAME_DEFAULT_MAX_SIZE */
    int64_t connect_timeout_ms;              /* wait for READY; 0: 5000 */
    int keepalive_time_ms;                   /* idle ping interval; 0: 500 */
    int keepalive_timeout_ms;                /* 0: 1000 */
    /* A gRPC target dialed as it is instead of `address` (several
     * addresses "ipv4:a:p,b:p", "dns:///name:p"); `address` is then the one
     * whose security is checked (the least local of them). NULL: `address`. */
    const char *grpc_target;
    /* A service config (JSON) for the channel, e.g. a round_robin
     * loadBalancingConfig. NULL: gRPC's default (pick_first). */
    const char *service_config;
} asylo__channel_options;

typedef struct asylo__channel asylo__channel;
typedef struct asylo__client_stream asylo__client_stream;

/* Validates address and security, creates the channel and waits until it is
 * connected (READY). Errors, origin transport unless the options were bad:
 *   INVALID_ARGUMENT / FAILED_PRECONDITION / NOT_FOUND (origin api): address
 *     or security options (see asylo__security_check);
 *   UNAVAILABLE: nothing answers at the address (with gRPC's reason), reported
 *     at the first failed attempt rather than after the deadline;
 *   UNAUTHENTICATED: the TLS handshake failed, e.g. the server certificate was
 *     not trusted;
 *   DEADLINE_EXCEEDED: still connecting when connect_timeout_ms ran out.
 * Every message names the address. */
asylo_code asylo__channel_open(const asylo__channel_options *options, asylo__channel **out,
                               asylo_status *status);
/* The address dialed, in target form ("127.0.0.1:5000", "unix:/p"). */
const char *asylo__channel_address(const asylo__channel *channel);
size_t asylo__channel_max_message_size(const asylo__channel *channel);
/* Destroys the channel (cancelling nothing: close its streams first). NULL ok. */
void asylo__channel_close(asylo__channel *channel);

/* Opens a stream for method (NULL: ASYLO__COMMUNICATE_METHOD), sending token
 * (NULL: none) as "asylo-token" metadata. Nothing goes on the wire until the
 * first exchange, so this does not fail for network reasons. */
asylo_code asylo__client_stream_open(asylo__channel *channel, const char *method, const char *token,
                                     asylo__client_stream **out, asylo_status *status);

/* Sends *send (if non-NULL) and receives into *receive (if non-NULL), in one
 * gRPC batch when both are given; waits at most timeout_ms (< 0: no bound;
 * keepalive still notices a dead peer). A received frame is released by the
 * caller with asylo__frame_release. Errors:
 *   RESOURCE_EXHAUSTED: *send is larger than the maximum message size; nothing
 *     was sent and the stream is still usable;
 *   INVALID_ARGUMENT (origin api): *send has an invalid kind; stream usable;
 *   DEADLINE_EXCEEDED: no reply in time; the stream is cancelled and DEAD;
 *   otherwise the stream ended, and the code and message are the peer's final
 *   status (UNAVAILABLE when the connection was lost, UNAUTHENTICATED for a
 *   refused client certificate or token, RESOURCE_EXHAUSTED for a reply over
 *   the limit, ...), origin transport. A malformed frame from the peer gives
 *   INVALID_ARGUMENT and cancels the stream. The stream is then DEAD: later
 *   exchanges return the same status without touching the network. */
asylo_code asylo__client_stream_exchange(asylo__client_stream *stream, const asylo__frame *send,
                                         asylo__frame *receive, int64_t timeout_ms,
                                         asylo_status *status);

/* The same with a frame already encoded (asylo__frame_encode with this
 * stream's maximum message size): *send (may be NULL) stays the caller's. */
asylo_code asylo__client_stream_exchange_encoded(asylo__client_stream *stream,
                                                 grpc_byte_buffer *send, asylo__frame *receive,
                                                 int64_t timeout_ms, asylo_status *status);
/* The payload limit of the stream's frames (its channel's max_message_size). */
size_t asylo__client_stream_max_message_size(const asylo__client_stream *stream);

/* The same with raw message bytes (for unary methods such as health checks).
 * *received is malloc'd (caller frees; NULL when empty). */
asylo_code asylo__client_stream_exchange_bytes(asylo__client_stream *stream, const void *send,
                                               size_t send_size, bool do_receive,
                                               uint8_t **received, size_t *received_size,
                                               int64_t timeout_ms, asylo_status *status);
/* The same with a message written straight into gRPC's slice by `fill`
 * (send_size bytes exactly; a failure it returns ends the exchange with
 * nothing sent): no buffer of ours, no copy. For bytes that are no secret
 * (an enclave image: public by its hash, read from a file): the slice is
 * freed without a wipe. Replies are wiped as ever. */
typedef asylo_code (*asylo__message_fill_fn)(void *context, uint8_t *out, size_t size,
                                             asylo_status *status);
asylo_code asylo__client_stream_exchange_filled(asylo__client_stream *stream, size_t send_size,
                                                asylo__message_fill_fn fill, void *fill_context,
                                                bool do_receive, uint8_t **received,
                                                size_t *received_size, int64_t timeout_ms,
                                                asylo_status *status);

/* The address of the server the stream reached, as gRPC names it
 * ("ipv4:10.0.0.1:4321", "ipv6:%5B::1%5D:4321", "unix:/p"); "" before the
 * first exchange or when unknown. Copied into out (size bytes). */
void asylo__client_stream_peer(const asylo__client_stream *stream, char *out, size_t size);

/* The TLS certificate the server presented on this stream's connection, as
 * gRPC's auth context gives it (property "x509_pem_cert"), malloc'd and
 * NUL-terminated into *pem (caller frees); *pem is NULL before the first
 * exchange, without TLS, or when out of memory. */
void asylo__client_stream_peer_certificate(const asylo__client_stream *stream, char **pem,
                                           size_t *pem_size);

/* True once the stream has failed or been cancelled. */
bool asylo__client_stream_is_dead(const asylo__client_stream *stream);

/* Cancels the stream from any thread (gRPC's cancel is thread-safe): an
 * exchange waiting on it fails at once with CANCELLED and `reason`, and the
 * stream is dead from then on. Its owner still closes it. */
void asylo__client_stream_cancel(asylo__client_stream *stream, const char *reason);

/* Half-closes the stream, waits at most timeout_ms (< 0: 5000) for the server's
 * final status, cancels the call if it does not come, and frees everything.
 * Returns the final status (OK on a clean end; the failure for a dead stream).
 * NULL stream: OK. */
asylo_code asylo__client_stream_close(asylo__client_stream *stream, int64_t timeout_ms,
                                      asylo_status *status);

#endif
