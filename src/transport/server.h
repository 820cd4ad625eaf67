/* Server half: a generic gRPC server that routes calls by full method name
 * ("/asylo.remote.RemoteEnclaveProxy/Communicate",
 * "/grpc.health.v1.Health/Check", ...) to handlers, each accepted call on its
 * own thread with its own completion queue. Unknown methods are answered
 * UNIMPLEMENTED. With mutual TLS (ssl + --ssl_root_certs) every call's client
 * certificate is verified before routing: a missing or untrusted one is
 * answered UNAUTHENTICATED and no handler runs.
 *
 * Thread-safety: server functions may be called from any thread; a call
 * (asylo__server_call) belongs to its handler thread. */
#ifndef ASYLO_TRANSPORT_SERVER_H
#define ASYLO_TRANSPORT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"
#include "transport/frame.h"
#include "transport/security.h"

typedef struct asylo__server asylo__server;
typedef struct asylo__server_call asylo__server_call;

/* Runs on the call's own thread. If it returns without asylo__server_call_finish
 * the call is finished with UNKNOWN "handler returned without a status". The
 * call is freed after it returns. */
typedef void (*asylo__server_handler)(asylo__server_call *call, void *context);

typedef struct asylo__server_options {
    const char *address;                     /* bind address; port 0 picks one */
    const asylo__security_options *security; /* NULL: local */
    size_t max_message_size;                 /* both directions; 0: ASYLO__FRAME_DEFAULT_MAX_SIZE */
    /* Bytes gRPC may buffer for this server's connections (a resource
     * quota); 0: no bound. gRPC 1.51 reads a whole message before checking
     * max_message_size, so only this bounds what hostile clients can make it
     * hold: over it, streams are cancelled with RESOURCE_EXHAUSTED. */
    size_t memory_quota;
    int keepalive_time_ms;    /* server pings an idle client; 0: 500 */
    int keepalive_timeout_ms; /* ... and drops it without a reply; 0: 1000 */
    /* Called on the call's thread after each call ends (handler returned,
     * call freed), with the number of calls still running. A host that was
     * kill -9'd ends all its streams: this reaches 0 within ~1.5 s (connection
     * reset at once on one machine, keepalive across machines). May be NULL. */
    void (*on_call_end)(void *context, size_t active_calls);
    void *on_call_end_context;
} asylo__server_options;

/* Validates options, binds and starts serving. Errors: the address/security
 * errors of asylo__security_check (origin api); UNAVAILABLE when the address
 * cannot be bound (in use, no such interface), naming it. */
asylo_code asylo__server_create(const asylo__server_options *options, asylo__server **out,
                                asylo_status *status);
/* Routes method (full name, e.g. "/pkg.Service/Method") to handler. Register
 * before handing out the address: calls that arrive before registration get
 * UNIMPLEMENTED. ALREADY_EXISTS for a duplicate. */
asylo_code asylo__server_add_method(asylo__server *server, const char *method,
                                    asylo__server_handler handler, void *context,
                                    asylo_status *status);
/* The bound address with the real port ("127.0.0.1:40123", "[::1]:40123",
 * "unix:/path"), valid until destroy. */
const char *asylo__server_address(const asylo__server *server);
/* Calls running now / accepted since create. */
size_t asylo__server_active_calls(asylo__server *server);
uint64_t asylo__server_total_calls(asylo__server *server);
/* How often the listener was restarted: gRPC 1.51 stops accepting for good
 * once accept4 fails (EMFILE after a burst of connections); a watchdog thread
 * notices a connection nobody accepts (queued 0.5 s, then a probe connection
 * of its own not accepted within 1 s), binds a new gRPC server
 * to the same address and lets the old one finish its calls. */
uint64_t asylo__server_listener_restarts(asylo__server *server);

/* Stops accepting, waits up to grace_ms for running calls to finish, then
 * cancels the rest (their handlers see UNAVAILABLE) and waits for every
 * handler thread to return. Then frees the server. NULL ok. Never call from a
 * handler. */
void asylo__server_shutdown(asylo__server *server, int64_t grace_ms);

/* ---- one call, used by its handler ---- */

/* Receives one frame (release it with asylo__frame_release). timeout_ms < 0:
 * no bound. Errors:
 *   OUT_OF_RANGE: the client half-closed: no more frames will come (finish);
 *   UNAVAILABLE: the client went away (connection lost, stream cancelled);
 *   DEADLINE_EXCEEDED: nothing in time; the call was cancelled (dead);
 *   INVALID_ARGUMENT / RESOURCE_EXHAUSTED: malformed or oversized frame; the
 *     call was cancelled. */
asylo_code asylo__server_call_receive(asylo__server_call *call, asylo__frame *frame,
                                      int64_t timeout_ms, asylo_status *status);
/* Sends one frame. RESOURCE_EXHAUSTED (call still usable) when larger than the
 * maximum message size; UNAVAILABLE when the client went away. */
asylo_code asylo__server_call_send(asylo__server_call *call, const asylo__frame *frame,
                                   asylo_status *status);
/* Send and/or receive in one batch (either may be NULL); errors as above. */
asylo_code asylo__server_call_exchange(asylo__server_call *call, const asylo__frame *send,
                                       asylo__frame *receive, int64_t timeout_ms,
                                       asylo_status *status);
/* The same with a frame already encoded (asylo__frame_encode with
 * asylo__server_call_max_message_size): *send (may be NULL) stays the
 * caller's. */
asylo_code asylo__server_call_exchange_encoded(asylo__server_call *call, grpc_byte_buffer *send,
                                               asylo__frame *receive, int64_t timeout_ms,
                                               asylo_status *status);
/* The payload limit of the call's frames (the server's max_message_size). */
size_t asylo__server_call_max_message_size(const asylo__server_call *call);
/* Raw message bytes, for unary methods (health checks). *data is malloc'd
 * (caller frees), NULL when empty. Same errors. */
asylo_code asylo__server_call_receive_bytes(asylo__server_call *call, uint8_t **data, size_t *size,
                                            int64_t timeout_ms, asylo_status *status);
/* The same for bytes that are no secret (an uploaded enclave image: public
 * by its hash, stored as a file): gRPC's copy is freed without the wipe,
 * which on a 16 MiB image costs as much as a copy. */
asylo_code asylo__server_call_receive_public_bytes(asylo__server_call *call, uint8_t **data,
                                                   size_t *size, int64_t timeout_ms,
                                                   asylo_status *status);
asylo_code asylo__server_call_send_bytes(asylo__server_call *call, const void *data, size_t size,
                                         asylo_status *status);
/* Ends the call with code and message (the client's final status). Once
 * only; later sends fail with FAILED_PRECONDITION. Returns UNAVAILABLE if the
 * client was already gone (nothing to do about it). */
asylo_code asylo__server_call_finish(asylo__server_call *call, asylo_code code, const char *message,
                                     asylo_status *status);

/* Value of request metadata key (e.g. "asylo-token"), NUL-terminated copy owned
 * by the call; NULL when absent or not text. */
const char *asylo__server_call_metadata(const asylo__server_call *call, const char *key);
/* The verified client certificate subject (RFC 2253) under mutual TLS, else
 * NULL. For per-client accounting. */
const char *asylo__server_call_peer_identity(const asylo__server_call *call);
/* The method called and the peer's address ("ipv4:127.0.0.1:5000"). */
const char *asylo__server_call_method(const asylo__server_call *call);
const char *asylo__server_call_peer(const asylo__server_call *call);
asylo__server *asylo__server_call_server(const asylo__server_call *call);

#endif
