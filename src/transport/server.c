/* Generic gRPC server with one thread per call (see server.h).
 *
 * One accept thread keeps exactly one grpc_server_request_call outstanding
 * (MACHINE-NOTES 5) per generation of the gRPC server on the shared
 * notification queue, and blocks on that queue without a deadline: an idle
 * server makes no wake-ups of its own; every state change (a call, a
 * withdrawn request, a shutdown tag) is an event on the queue. Each call is
 * bound to its own pluck queue, created before the request, so the handler
 * thread waits for its own completions without any hand-off.
 *
 * Listener recovery: gRPC 1.51 stops accepting for good when accept4 fails
 * once (EMFILE after a burst of connections), while the process lives on. A
 * watchdog thread blocks in poll() on gRPC's listening sockets; a connection
 * that stays queued for STUCK_SAMPLES * STUCK_SAMPLE_MS, and then a probe
 * connection of its own that gRPC does not accept within PROBE_WAIT_MS (or no
 * fd left for a probe), means nobody accepts. The watchdog then stops that listening socket, binds
 * a new gRPC server (a new generation) to the same address, and lets the old one finish its calls:
 * a live stream (a proxy's host) is not cut. */
#include "transport/server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <grpc/grpc.h>
#include <grpc/support/alloc.h>

#include "common/log.h"
#include "transport/address.h"
#include "transport/call_util.h"
#include "transport/grpc_runtime.h"

#define MAX_METHODS 16
#define MAX_METADATA 16
#define IDENTITY_SIZE 512
/* How long a receive that saw the stream end waits to learn whether it was a
 * cancel rather than a half-close (both completions come from one event). */
#define CANCEL_CHECK_MS 5
/* gRPC binds at most one socket per address family. */
#define MAX_LISTEN_FDS 4
/* Generations kept at once: a unix: listener's old generations live until
 * shutdown (destroying one would unlink the socket path the new one uses). */
#define MAX_GENERATIONS 32
/* A live gRPC listener takes a queued connection within microseconds: one
 * still queued at five samples 100 ms apart (0.5 s) is suspect. A loaded
 * machine can be that slow, so the suspicion is then checked: a probe
 * connection must be accepted (show up as an fd of ours) within
 * PROBE_WAIT_MS. */
#define STUCK_SAMPLES 5
#define STUCK_SAMPLE_MS 100
#define PROBE_WAIT_MS 1000
#define PROBE_STEP_MS 20
/* Between attempts to bind a new listener (file descriptors may still be
 * exhausted by the burst). */
#define REBUILD_RETRY_MS 200
/* A connection that has not finished its TLS and HTTP/2 handshake in this
 * time is dropped (gRPC's default is 120 s: bare connections held fds). */
#define HANDSHAKE_TIMEOUT_MS 10000

typedef struct method_route {
    char *name;
    asylo__server_handler handler;
    void *context;
} method_route;

/* One gRPC server bound to the address. The newest serves; older ones
 * (whose listener died) only finish their calls. */
typedef struct generation {
    grpc_server *server;
    /* gRPC's own listening fds, found by address; watched only while this
     * generation is current (it owns them until it is destroyed). */
    int listen_fds[MAX_LISTEN_FDS];
    size_t listen_count;
    bool listen_stopped; /* we shut its listening sockets down */
    struct asylo__server_call *pending;
    bool shutdown_started;
    bool notified;
    struct generation *next;
    char shutdown_tag;
} generation;

typedef struct metadata_entry {
    char *key;
    char *value;
} metadata_entry;

struct asylo__server_call {
    asylo__server *server;
    generation *generation; /* the one whose request it answers */
    grpc_call *call;
    grpc_completion_queue *cq;
    grpc_call_details details;
    grpc_metadata_array request_metadata;
    char *method;
    char *peer;
    metadata_entry metadata[MAX_METADATA];
    size_t metadata_count;
    char identity[IDENTITY_SIZE];
    bool has_identity;
    bool initial_metadata_sent;
    bool close_pending; /* RECV_CLOSE_ON_SERVER not yet collected */
    bool half_closed;   /* the client sent its last message */
    bool finished;
    bool dead;
    int cancelled; /* from RECV_CLOSE_ON_SERVER */
    asylo_status failure;
    pthread_t thread;
    bool thread_started;
    bool thread_done;
    struct asylo__server_call *next;
    char batch_tag;
    char close_tag;
};

struct asylo__server {
    generation *generations; /* newest (serving) first */
    size_t generation_count;
    grpc_server_credentials *credentials; /* kept to bind new generations */
    grpc_resource_quota *quota;           /* NULL: none */
    asylo__channel_args args;
    DIR *fd_dir; /* /proc/self/fd, opened at create: scanning needs no new fd */
    int wake[2]; /* a byte stops the watchdog */
    pthread_t watchdog;
    bool watchdog_started;
    uint64_t recoveries;
    grpc_completion_queue *accept_cq;
    asylo__address address;
    size_t max_message_size;
    asylo__client_verifier *verifier;
    void (*on_call_end)(void *context, size_t active_calls);
    void *on_call_end_context;
    pthread_t accept_thread;
    bool accept_thread_started;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    method_route methods[MAX_METHODS];
    size_t method_count;
    asylo__server_call *calls; /* every call whose thread was not joined yet */
    size_t active_calls;
    uint64_t total_calls;
    bool shutting_down;
};

/* ---- per-call plumbing ---- */

static asylo__server_call *call_new(asylo__server *server) {
    asylo__server_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        return NULL;
    }
    call->server = server;
    call->cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_call_details_init(&call->details);
    grpc_metadata_array_init(&call->request_metadata);
    asylo_status_ok(&call->failure);
    return call;
}

static void call_free(asylo__server_call *call) {
    if (call->call != NULL) {
        grpc_call_unref(call->call);
    }
    asylo__cq_destroy(call->cq);
    grpc_call_details_destroy(&call->details);
    grpc_metadata_array_destroy(&call->request_metadata);
    for (size_t i = 0; i < call->metadata_count; i++) {
        free(call->metadata[i].key);
        free(call->metadata[i].value);
    }
    free(call->method);
    if (call->peer != NULL) {
        gpr_free(call->peer);
    }
    free(call);
}

static char *slice_to_string(grpc_slice slice) {
    size_t length = GRPC_SLICE_LENGTH(slice);
    char *text = malloc(length + 1);
    if (text != NULL) {
        memcpy(text, GRPC_SLICE_START_PTR(slice), length);
        text[length] = '\0';
    }
    return text;
}

/* Copies what the handler may read: the call's metadata belongs to gRPC. */
static void call_copy_request(asylo__server_call *call) {
    call->method = slice_to_string(call->details.method);
    call->peer = grpc_call_get_peer(call->call);
    for (size_t i = 0; i < call->request_metadata.count && call->metadata_count < MAX_METADATA;
         i++) {
        const grpc_metadata *entry = &call->request_metadata.metadata[i];
        size_t length = GRPC_SLICE_LENGTH(entry->value);
        /* Values with a NUL would be cut silently: treat them as absent. */
        if (memchr(GRPC_SLICE_START_PTR(entry->value), '\0', length) != NULL) {
            continue;
        }
        char *key = slice_to_string(entry->key);
        char *value = slice_to_string(entry->value);
        if (key == NULL || value == NULL) {
            free(key);
            free(value);
            continue;
        }
        call->metadata[call->metadata_count].key = key;
        call->metadata[call->metadata_count].value = value;
        call->metadata_count++;
    }
}

static asylo_code client_gone(asylo__server_call *call, asylo_status *status) {
    call->dead = true;
    if (call->failure.code == ASYLO_OK) {
        asylo_status_set(&call->failure, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                         "the client %s went away (connection lost or stream cancelled)",
                         call->peer != NULL ? call->peer : "");
    }
    if (status != NULL) {
        *status = call->failure;
    }
    return call->failure.code;
}

/* Cancels the call for a local reason. The batch in flight (if any) was
 * already collected by the caller. */
static asylo_code call_kill(asylo__server_call *call, grpc_status_code grpc_code,
                            const asylo_status *reason, asylo_status *status) {
    grpc_call_cancel_with_status(call->call, grpc_code, reason->message, NULL);
    call->dead = true;
    call->failure = *reason;
    if (status != NULL) {
        *status = *reason;
    }
    return reason->code;
}

/* True when the client cancelled the call or its connection broke: the
 * RECV_CLOSE_ON_SERVER op has completed with cancelled set. */
static bool call_was_cancelled(asylo__server_call *call) {
    if (call->close_pending) {
        grpc_event event = asylo__pluck(call->cq, &call->close_tag, CANCEL_CHECK_MS);
        if (event.type == GRPC_QUEUE_TIMEOUT) {
            return false;
        }
        call->close_pending = false;
    }
    return call->cancelled != 0;
}

static asylo_code run_batch(asylo__server_call *call, grpc_byte_buffer *send, bool do_receive,
                            grpc_byte_buffer **received, int64_t timeout_ms, asylo_status *status) {
    grpc_op ops[3];
    size_t count = 0;
    memset(ops, 0, sizeof ops);
    *received = NULL;
    if (call->dead) {
        return client_gone(call, status);
    }
    if (call->finished && send != NULL) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                "the call was already finished");
    }
    if (do_receive && call->half_closed) {
        return asylo_status_set(status, ASYLO_OUT_OF_RANGE, ASYLO_ORIGIN_TRANSPORT,
                                "the client closed its side of the stream");
    }
    bool sends_metadata = send != NULL && !call->initial_metadata_sent;
    if (sends_metadata) {
        ops[count++].op = GRPC_OP_SEND_INITIAL_METADATA;
    }
    if (send != NULL) {
        ops[count].op = GRPC_OP_SEND_MESSAGE;
        ops[count].data.send_message.send_message = send;
        count++;
    }
    if (do_receive) {
        ops[count].op = GRPC_OP_RECV_MESSAGE;
        ops[count].data.recv_message.recv_message = received;
        count++;
    }
    if (count == 0) {
        return asylo_status_ok(status);
    }
    if (grpc_call_start_batch(call->call, ops, count, &call->batch_tag, NULL) != GRPC_CALL_OK) {
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_TRANSPORT,
                                "gRPC refused a server batch");
    }
    if (sends_metadata) {
        call->initial_metadata_sent = true;
    }
    grpc_event event = asylo__pluck(call->cq, &call->batch_tag, timeout_ms);
    if (event.type == GRPC_QUEUE_TIMEOUT) {
        asylo_status reason;
        asylo_status_set(&reason, ASYLO_DEADLINE_EXCEEDED, ASYLO_ORIGIN_TRANSPORT,
                         "nothing from the client within %lld ms; the call was cancelled",
                         (long long)timeout_ms);
        grpc_call_cancel_with_status(call->call, GRPC_STATUS_DEADLINE_EXCEEDED, reason.message,
                                     NULL);
        asylo__pluck_until_done(call->cq, &call->batch_tag, "a cancelled server batch");
        if (*received != NULL) {
            asylo__byte_buffer_wipe_destroy(*received);
            *received = NULL;
        }
        return call_kill(call, GRPC_STATUS_DEADLINE_EXCEEDED, &reason, status);
    }
    if (!event.success) {
        if (*received != NULL) {
            asylo__byte_buffer_wipe_destroy(*received);
            *received = NULL;
        }
        return client_gone(call, status);
    }
    if (do_receive && *received == NULL) {
        /* gRPC reports a cancelled stream here exactly like a half-close (no
         * message, success); only the close op, which completes on a cancel
         * but not on a half-close, tells them apart. */
        if (call_was_cancelled(call)) {
            return client_gone(call, status);
        }
        call->half_closed = true;
        return asylo_status_set(status, ASYLO_OUT_OF_RANGE, ASYLO_ORIGIN_TRANSPORT,
                                "the client closed its side of the stream");
    }
    return asylo_status_ok(status);
}

/* Sends the encoded message `outgoing` (may be NULL; stays the caller's) and
 * receives into *receive (may be NULL). */
static asylo_code exchange_buffer(asylo__server_call *call, grpc_byte_buffer *outgoing,
                                  asylo__frame *receive, int64_t timeout_ms, asylo_status *status) {
    grpc_byte_buffer *incoming = NULL;
    asylo_code code = run_batch(call, outgoing, receive != NULL, &incoming, timeout_ms, status);
    if (code == ASYLO_OK && incoming != NULL) {
        code = asylo__frame_decode(incoming, call->server->max_message_size, receive, status);
        if (code != ASYLO_OK) {
            asylo_status reason;
            asylo_status_set(&reason, code, ASYLO_ORIGIN_TRANSPORT, "%s",
                             status != NULL ? status->message : "malformed frame");
            call_kill(call, (grpc_status_code)code, &reason, status);
        }
    }
    if (incoming != NULL) {
        asylo__byte_buffer_wipe_destroy(incoming);
    }
    return code;
}

asylo_code asylo__server_call_exchange(asylo__server_call *call, const asylo__frame *send,
                                       asylo__frame *receive, int64_t timeout_ms,
                                       asylo_status *status) {
    grpc_byte_buffer *outgoing = NULL;
    asylo_code code;
    if (receive != NULL) {
        asylo__frame_init(receive);
    }
    if (send != NULL && !call->dead) {
        code = asylo__frame_encode(send, call->server->max_message_size, &outgoing, status);
        if (code != ASYLO_OK) {
            return code;
        }
    }
    code = exchange_buffer(call, outgoing, receive, timeout_ms, status);
    if (outgoing != NULL) {
        asylo__byte_buffer_wipe_destroy(outgoing);
    }
    return code;
}

asylo_code asylo__server_call_exchange_encoded(asylo__server_call *call, grpc_byte_buffer *send,
                                               asylo__frame *receive, int64_t timeout_ms,
                                               asylo_status *status) {
    if (receive != NULL) {
        asylo__frame_init(receive);
    }
    return exchange_buffer(call, send, receive, timeout_ms, status);
}

size_t asylo__server_call_max_message_size(const asylo__server_call *call) {
    return call->server->max_message_size;
}

asylo_code asylo__server_call_receive(asylo__server_call *call, asylo__frame *frame,
                                      int64_t timeout_ms, asylo_status *status) {
    return asylo__server_call_exchange(call, NULL, frame, timeout_ms, status);
}

asylo_code asylo__server_call_send(asylo__server_call *call, const asylo__frame *frame,
                                   asylo_status *status) {
    /* A send completes once gRPC takes the message, so no bound is needed
     * beyond flow control, which keepalive bounds on a dead peer. */
    return asylo__server_call_exchange(call, frame, NULL, -1, status);
}

static asylo_code receive_bytes(asylo__server_call *call, uint8_t **data, size_t *size,
                                int64_t timeout_ms, bool wipe, asylo_status *status) {
    grpc_byte_buffer *incoming = NULL;
    *data = NULL;
    *size = 0;
    asylo_code code = run_batch(call, NULL, true, &incoming, timeout_ms, status);
    if (code == ASYLO_OK) {
        code = asylo__byte_buffer_to_bytes(incoming, call->server->max_message_size, data, size,
                                           status);
    }
    if (incoming != NULL && wipe) {
        asylo__byte_buffer_wipe_destroy(incoming);
    } else if (incoming != NULL) {
        grpc_byte_buffer_destroy(incoming);
    }
    return code;
}

asylo_code asylo__server_call_receive_bytes(asylo__server_call *call, uint8_t **data, size_t *size,
                                            int64_t timeout_ms, asylo_status *status) {
    return receive_bytes(call, data, size, timeout_ms, true, status);
}

asylo_code asylo__server_call_receive_public_bytes(asylo__server_call *call, uint8_t **data,
                                                   size_t *size, int64_t timeout_ms,
                                                   asylo_status *status) {
    return receive_bytes(call, data, size, timeout_ms, false, status);
}

asylo_code asylo__server_call_send_bytes(asylo__server_call *call, const void *data, size_t size,
                                         asylo_status *status) {
    if (size > call->server->max_message_size) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "message of %zu bytes exceeds the maximum message size of %zu "
                                "bytes; nothing was sent",
                                size, call->server->max_message_size);
    }
    grpc_byte_buffer *incoming = NULL;
    grpc_slice slice = grpc_slice_from_copied_buffer(data, size);
    grpc_byte_buffer *outgoing = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    asylo_code code = run_batch(call, outgoing, false, &incoming, -1, status);
    asylo__byte_buffer_wipe_destroy(outgoing);
    return code;
}

/* Sends the final status; on the accept-less reject path also asks for the
 * close in the same batch. Waits for completion (bounded). */
static asylo_code send_status(asylo__server_call *call, asylo_code code, const char *message,
                              asylo_status *status) {
    grpc_op ops[2];
    size_t count = 0;
    memset(ops, 0, sizeof ops);
    grpc_slice details = grpc_slice_from_copied_string(message != NULL ? message : "");
    /* Without initial metadata the core never writes the status
     * (MACHINE-NOTES 15). */
    if (!call->initial_metadata_sent) {
        ops[count++].op = GRPC_OP_SEND_INITIAL_METADATA;
    }
    ops[count].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[count].data.send_status_from_server.status = (grpc_status_code)code;
    ops[count].data.send_status_from_server.status_details = &details;
    count++;
    call->finished = true;
    asylo_code result;
    if (grpc_call_start_batch(call->call, ops, count, &call->batch_tag, NULL) != GRPC_CALL_OK) {
        result = asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_TRANSPORT,
                                  "gRPC refused to send the final status");
    } else {
        call->initial_metadata_sent = true;
        grpc_event event = asylo__pluck(call->cq, &call->batch_tag, ASYLO__CLEANUP_WAIT_MS);
        if (event.type == GRPC_QUEUE_TIMEOUT) {
            grpc_call_cancel(call->call, NULL);
            asylo__pluck_until_done(call->cq, &call->batch_tag, "a final status");
            result = client_gone(call, status);
        } else if (!event.success) {
            result = client_gone(call, status);
        } else {
            result = asylo_status_ok(status);
        }
    }
    grpc_slice_unref(details);
    return result;
}

asylo_code asylo__server_call_finish(asylo__server_call *call, asylo_code code, const char *message,
                                     asylo_status *status) {
    if (call->finished) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                "the call was already finished");
    }
    if (call->dead) {
        call->finished = true;
        return client_gone(call, status);
    }
    if (!asylo_code_is_valid((int)code)) {
        code = ASYLO_UNKNOWN;
    }
    return send_status(call, code, message, status);
}

const char *asylo__server_call_metadata(const asylo__server_call *call, const char *key) {
    for (size_t i = 0; i < call->metadata_count; i++) {
        if (strcmp(call->metadata[i].key, key) == 0) {
            return call->metadata[i].value;
        }
    }
    return NULL;
}

const char *asylo__server_call_peer_identity(const asylo__server_call *call) {
    return call->has_identity ? call->identity : NULL;
}

const char *asylo__server_call_method(const asylo__server_call *call) {
    return call->method != NULL ? call->method : "";
}

const char *asylo__server_call_peer(const asylo__server_call *call) {
    return call->peer != NULL ? call->peer : "";
}

asylo__server *asylo__server_call_server(const asylo__server_call *call) {
    return call->server;
}

/* ---- call threads ---- */

static void *call_thread(void *argument) {
    asylo__server_call *call = argument;
    asylo__server *server = call->server;
    asylo_status status;
    call_copy_request(call);

    /* Collected at the end; it is how gRPC completes a server call. */
    grpc_op close_op;
    memset(&close_op, 0, sizeof close_op);
    close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    close_op.data.recv_close_on_server.cancelled = &call->cancelled;
    call->close_pending =
        grpc_call_start_batch(call->call, &close_op, 1, &call->close_tag, NULL) == GRPC_CALL_OK;

    asylo__server_handler handler = NULL;
    void *context = NULL;
    if (server->verifier != NULL &&
        asylo__client_verifier_check(server->verifier, call->call, call->identity,
                                     sizeof call->identity, &status) != ASYLO_OK) {
        /* Refused before routing: the handler never sees this client. */
        ASYLO__LOG_LIMITED(ASYLO_LOG_WARNING, "transport", NULL, 0, "refused a call from %s: %s",
                           asylo__server_call_peer(call), status.message);
        send_status(call, status.code, status.message, NULL);
        goto out;
    }
    call->has_identity = server->verifier != NULL;
    pthread_mutex_lock(&server->lock);
    for (size_t i = 0; i < server->method_count && call->method != NULL; i++) {
        if (strcmp(server->methods[i].name, call->method) == 0) {
            handler = server->methods[i].handler;
            context = server->methods[i].context;
            break;
        }
    }
    pthread_mutex_unlock(&server->lock);
    if (handler == NULL) {
        char message[300];
        snprintf(message, sizeof message, "method '%.200s' is not implemented by this server",
                 asylo__server_call_method(call));
        send_status(call, ASYLO_UNIMPLEMENTED, message, NULL);
        goto out;
    }
    handler(call, context);
    if (!call->finished && !call->dead) {
        send_status(call, ASYLO_UNKNOWN, "the handler returned without a status", NULL);
    }
out:
    if (call->close_pending) {
        grpc_event event = asylo__pluck(call->cq, &call->close_tag, ASYLO__CLEANUP_WAIT_MS);
        if (event.type == GRPC_QUEUE_TIMEOUT) {
            grpc_call_cancel(call->call, NULL);
            asylo__pluck_until_done(call->cq, &call->close_tag, "a server call close");
        }
        call->close_pending = false;
    }
    grpc_call_unref(call->call);
    call->call = NULL;
    asylo__cq_destroy(call->cq);
    call->cq = NULL;
    pthread_mutex_lock(&server->lock);
    server->active_calls--;
    size_t active = server->active_calls;
    call->thread_done = true;
    pthread_cond_broadcast(&server->changed);
    pthread_mutex_unlock(&server->lock);
    if (server->on_call_end != NULL) {
        server->on_call_end(server->on_call_end_context, active);
    }
    return NULL;
}

/* Joins and frees finished call threads (lock held; joins are immediate). */
static void reap_calls(asylo__server *server) {
    asylo__server_call **link = &server->calls;
    while (*link != NULL) {
        asylo__server_call *call = *link;
        if (call->thread_done) {
            *link = call->next;
            pthread_join(call->thread, NULL);
            call_free(call);
        } else {
            link = &call->next;
        }
    }
}

static void start_call(asylo__server *server, asylo__server_call *call) {
    pthread_mutex_lock(&server->lock);
    reap_calls(server);
    server->active_calls++;
    server->total_calls++;
    call->next = server->calls;
    server->calls = call;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    /* Handlers run enclave calls; give them room beyond small defaults. */
    pthread_attr_setstacksize(&attributes, (size_t)1 << 20);
    int error = pthread_create(&call->thread, &attributes, call_thread, call);
    pthread_attr_destroy(&attributes);
    if (error != 0) {
        server->calls = call->next;
        server->active_calls--;
        pthread_mutex_unlock(&server->lock);
        asylo__log(ASYLO_LOG_ERROR, "transport", NULL, 0,
                   "no thread for a new call (error %d): cancelling it", error);
        grpc_call_cancel_with_status(call->call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                     "the server cannot start a thread for this call", NULL);
        call_free(call);
        return;
    }
    call->thread_started = true;
    pthread_mutex_unlock(&server->lock);
}

/* True when every generation has delivered its shutdown tag (lock held). */
static bool all_notified(const asylo__server *server) {
    for (const generation *g = server->generations; g != NULL; g = g->next) {
        if (!g->notified) {
            return false;
        }
    }
    return true;
}

static bool any_pending(const asylo__server *server) {
    for (const generation *g = server->generations; g != NULL; g = g->next) {
        if (g->pending != NULL) {
            return true;
        }
    }
    return false;
}

/* Keeps one request outstanding on every generation still serving (lock
 * held; grpc_server_request_call does not block). */
static void arm_requests(asylo__server *server) {
    for (generation *g = server->generations; g != NULL; g = g->next) {
        if (g->shutdown_started || g->pending != NULL) {
            continue;
        }
        asylo__server_call *call = call_new(server);
        if (call == NULL) {
            asylo__log(ASYLO_LOG_ERROR, "transport", NULL, 0,
                       "server %s: out of memory for a call request", server->address.target);
            continue;
        }
        call->generation = g;
        if (grpc_server_request_call(g->server, &call->call, &call->details,
                                     &call->request_metadata, call->cq, server->accept_cq,
                                     call) != GRPC_CALL_OK) {
            call_free(call);
            continue;
        }
        g->pending = call;
    }
}

static void *accept_thread(void *argument) {
    asylo__server *server = argument;
    for (;;) {
        pthread_mutex_lock(&server->lock);
        if (server->shutting_down && all_notified(server) && !any_pending(server)) {
            pthread_mutex_unlock(&server->lock);
            break;
        }
        if (!server->shutting_down) {
            arm_requests(server);
        }
        pthread_mutex_unlock(&server->lock);
        /* No deadline: an idle server sleeps here until a call or a
         * shutdown tag arrives (both are events on this queue). */
        grpc_event event = grpc_completion_queue_next(server->accept_cq,
                                                      gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (event.type == GRPC_QUEUE_SHUTDOWN) {
            break;
        }
        if (event.type != GRPC_OP_COMPLETE) {
            continue;
        }
        generation *retired = NULL;
        asylo__server_call *started = NULL;
        bool is_shutdown_tag = false;
        pthread_mutex_lock(&server->lock);
        generation *touched = NULL;
        for (generation *g = server->generations; g != NULL; g = g->next) {
            if (event.tag == &g->shutdown_tag) {
                is_shutdown_tag = true;
                g->notified = true;
                touched = g;
                pthread_cond_broadcast(&server->changed);
                break;
            }
        }
        if (!is_shutdown_tag && event.tag != NULL) {
            asylo__server_call *call = event.tag;
            touched = call->generation;
            touched->pending = NULL;
            if (event.success && call->call != NULL) {
                started = call;
            } else {
                /* The request was withdrawn by a shutdown. */
                call_free(call);
            }
        }
        /* A retired generation goes once its calls ended and its withdrawn
         * request came back (its calls point at it until then). */
        if (touched != NULL && touched->notified && touched->pending == NULL &&
            !server->shutting_down && touched != server->generations) {
            for (generation **link = &server->generations; *link != NULL; link = &(*link)->next) {
                if (*link == touched) {
                    *link = touched->next;
                    server->generation_count--;
                    retired = touched;
                    break;
                }
            }
        }
        pthread_mutex_unlock(&server->lock);
        if (retired != NULL) {
            grpc_server_destroy(retired->server);
            free(retired);
        }
        if (started != NULL) {
            start_call(server, started);
        }
    }
    return NULL;
}

/* ---- listener recovery ---- */

static bool is_our_address(const asylo__server *server, const struct sockaddr_storage *bound) {
    if (server->address.family == ASYLO__ADDRESS_UNIX) {
        const struct sockaddr_un *local = (const struct sockaddr_un *)bound;
        return bound->ss_family == AF_UNIX &&
               strncmp(local->sun_path, server->address.host, sizeof local->sun_path) == 0;
    }
    if (bound->ss_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *)bound)->sin_port) == server->address.port;
    }
    if (bound->ss_family == AF_INET6) {
        return ntohs(((const struct sockaddr_in6 *)bound)->sin6_port) == server->address.port;
    }
    return false;
}

static bool fd_known(const asylo__server *server, int fd) {
    for (const generation *g = server->generations; g != NULL; g = g->next) {
        for (size_t i = 0; i < g->listen_count; i++) {
            if (g->listen_fds[i] == fd) {
                return true;
            }
        }
    }
    return false;
}

/* Finds the listening sockets gRPC bound for generation g: listening, bound
 * to our address, not another generation's (lock held). */
static void find_listeners(asylo__server *server, generation *g) {
    g->listen_count = 0;
    if (server->fd_dir == NULL) {
        return;
    }
    rewinddir(server->fd_dir);
    struct dirent *entry;
    while ((entry = readdir(server->fd_dir)) != NULL && g->listen_count < MAX_LISTEN_FDS) {
        char *end = NULL;
        long fd = strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || fd < 0 || fd == dirfd(server->fd_dir) ||
            fd_known(server, (int)fd)) {
            continue;
        }
        struct stat info;
        int listening = 0;
        socklen_t length = sizeof listening;
        struct sockaddr_storage bound;
        socklen_t bound_length = sizeof bound;
        memset(&bound, 0, sizeof bound);
        if (fstat((int)fd, &info) != 0 || !S_ISSOCK(info.st_mode) ||
            getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 ||
            listening == 0 || getsockname((int)fd, (struct sockaddr *)&bound, &bound_length) != 0 ||
            !is_our_address(server, &bound)) {
            continue;
        }
        g->listen_fds[g->listen_count++] = (int)fd;
    }
}

/* Waits up to ms for the wake byte: true when woken (stop). */
static bool watchdog_sleep(asylo__server *server, int ms) {
    struct pollfd wake = {.fd = server->wake[0], .events = POLLIN};
    int ready = poll(&wake, 1, ms);
    return ready != 0 && !(ready < 0 && errno == EINTR);
}

/* True when a connection stays queued on the listener: nobody accepts. */
static bool listener_stuck(asylo__server *server, const int *fds, size_t count) {
    for (int sample = 0; sample < STUCK_SAMPLES; sample++) {
        if (watchdog_sleep(server, STUCK_SAMPLE_MS)) {
            return false;
        }
        struct pollfd polled[MAX_LISTEN_FDS];
        for (size_t i = 0; i < count; i++) {
            polled[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        }
        if (poll(polled, count, 0) <= 0) {
            return false;
        }
        bool queued = false;
        for (size_t i = 0; i < count; i++) {
            queued = queued || (polled[i].revents & POLLIN) != 0;
        }
        if (!queued) {
            return false;
        }
    }
    return true;
}

static bool same_address(const struct sockaddr_storage *a, socklen_t a_length,
                         const struct sockaddr_storage *b, socklen_t b_length) {
    if (a->ss_family != b->ss_family) {
        return false;
    }
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a;
        const struct sockaddr_in *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    return a_length == b_length && memcmp(a, b, a_length) == 0;
}

/* True when some fd of this process is the accepted end of a connection
 * from `local` (the probe's own address). */
static bool accepted_here(asylo__server *server, int probe, const struct sockaddr_storage *local,
                          socklen_t local_length) {
    rewinddir(server->fd_dir);
    struct dirent *entry;
    while ((entry = readdir(server->fd_dir)) != NULL) {
        char *end = NULL;
        long fd = strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || fd < 0 || fd == probe ||
            fd == dirfd(server->fd_dir)) {
            continue;
        }
        struct stat info;
        struct sockaddr_storage peer;
        socklen_t peer_length = sizeof peer;
        memset(&peer, 0, sizeof peer);
        if (fstat((int)fd, &info) == 0 && S_ISSOCK(info.st_mode) &&
            getpeername((int)fd, (struct sockaddr *)&peer, &peer_length) == 0 &&
            same_address(&peer, peer_length, local, local_length)) {
            return true;
        }
    }
    return false;
}

/* Connects to the listener and watches whether gRPC accepts the connection
 * (an fd of ours whose peer is the probe): the proof a queue that looked
 * stuck is only slow. False when it does not within PROBE_WAIT_MS, or when
 * this process has no fd left (then gRPC's accept4 failed too). */
static bool listener_accepts(asylo__server *server, int listen_fd) {
    struct sockaddr_storage target;
    socklen_t target_length = sizeof target;
    memset(&target, 0, sizeof target);
    if (server->fd_dir == NULL ||
        getsockname(listen_fd, (struct sockaddr *)&target, &target_length) != 0) {
        return true; /* cannot tell: leave it */
    }
    if (target.ss_family == AF_INET) {
        struct sockaddr_in *ipv4 = (struct sockaddr_in *)&target;
        if (ipv4->sin_addr.s_addr == htonl(INADDR_ANY)) {
            ipv4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        }
    } else if (target.ss_family == AF_INET6) {
        struct sockaddr_in6 *ipv6 = (struct sockaddr_in6 *)&target;
        if (IN6_IS_ADDR_UNSPECIFIED(&ipv6->sin6_addr)) {
            ipv6->sin6_addr = in6addr_loopback;
        }
    }
    int probe = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        return !(errno == EMFILE || errno == ENFILE);
    }
    bool accepts = false;
    if (target.ss_family == AF_UNIX) {
        /* An abstract name, so the accepted end can tell us apart. */
        static atomic_uint probes;
        struct sockaddr_un name = {.sun_family = AF_UNIX};
        int length = snprintf(name.sun_path + 1, sizeof name.sun_path - 1, "asylo-probe-%d-%u",
                              (int)getpid(), atomic_fetch_add(&probes, 1));
        if (bind(probe, (struct sockaddr *)&name,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)length)) != 0) {
            accepts = true; /* cannot tell */
            goto out;
        }
    }
    if (connect(probe, (struct sockaddr *)&target, target_length) != 0 && errno != EINPROGRESS) {
        accepts = false; /* refused: nobody listens */
        goto out;
    }
    /* A full backlog leaves the connect pending: nobody accepts. */
    struct pollfd connected = {.fd = probe, .events = POLLOUT};
    int error = 0;
    socklen_t error_length = sizeof error;
    if (poll(&connected, 1, PROBE_WAIT_MS) <= 0 ||
        getsockopt(probe, SOL_SOCKET, SO_ERROR, &error, &error_length) != 0 || error != 0) {
        accepts = false;
        goto out;
    }
    struct sockaddr_storage local;
    socklen_t local_length = sizeof local;
    memset(&local, 0, sizeof local);
    if (getsockname(probe, (struct sockaddr *)&local, &local_length) != 0) {
        accepts = true;
        goto out;
    }
    for (int waited = 0; waited <= PROBE_WAIT_MS; waited += PROBE_STEP_MS) {
        if (accepted_here(server, probe, &local, local_length)) {
            accepts = true;
            goto out;
        }
        if (watchdog_sleep(server, PROBE_STEP_MS)) {
            accepts = true; /* stopping: leave it */
            goto out;
        }
    }
out:
    close(probe);
    return accepts;
}

/* Binds a new generation to the address and retires the current one. False
 * when it could not (no fd free yet, address taken): the caller retries. */
static bool rebuild_listener(asylo__server *server) {
    pthread_mutex_lock(&server->lock);
    generation *old = server->generations;
    bool unix_socket = server->address.family == ASYLO__ADDRESS_UNIX;
    bool full = server->generation_count >= MAX_GENERATIONS;
    pthread_mutex_unlock(&server->lock);
    if (full) {
        asylo__log(ASYLO_LOG_ERROR, "transport", NULL, 0,
                   "server %s: %d listener generations still finish calls; not restarting "
                   "the listener again before one ends",
                   server->address.target, MAX_GENERATIONS);
        return false;
    }
    generation *fresh = calloc(1, sizeof *fresh);
    if (fresh == NULL) {
        return false;
    }
    /* The dead listener still holds the port: stop it (its queued
     * connections are reset and reconnect to the new one). */
    if (!old->listen_stopped) {
        for (size_t i = 0; i < old->listen_count; i++) {
            shutdown(old->listen_fds[i], SHUT_RDWR);
        }
        old->listen_stopped = true;
    }
    fresh->server = grpc_server_create(&server->args.list, NULL);
    grpc_server_register_completion_queue(fresh->server, server->accept_cq, NULL);
    if (grpc_server_add_http2_port(fresh->server, server->address.target, server->credentials) ==
        0) {
        grpc_server_destroy(fresh->server);
        free(fresh);
        return false;
    }
    grpc_server_start(fresh->server);
    pthread_mutex_lock(&server->lock);
    find_listeners(server, fresh);
    fresh->next = server->generations;
    server->generations = fresh;
    server->generation_count++;
    server->recoveries++;
    uint64_t recoveries = server->recoveries;
    /* Armed here: the accept thread sleeps until an event. */
    arm_requests(server);
    if (!unix_socket) {
        /* Graceful: its running calls go on; its idle connections get
         * GOAWAY. A unix: generation is kept: destroying it would unlink the
         * path the new one is bound to. */
        old->shutdown_started = true;
        grpc_server_shutdown_and_notify(old->server, server->accept_cq, &old->shutdown_tag);
    }
    pthread_mutex_unlock(&server->lock);
    asylo__log(ASYLO_LOG_WARNING, "transport", NULL, 0,
               "server %s: listening again (restart %llu of the listener)", server->address.target,
               (unsigned long long)recoveries);
    return true;
}

static void *watchdog_thread(void *argument) {
    asylo__server *server = argument;
    for (;;) {
        struct pollfd polled[1 + MAX_LISTEN_FDS];
        int fds[MAX_LISTEN_FDS];
        pthread_mutex_lock(&server->lock);
        size_t count = server->generations->listen_count;
        memcpy(fds, server->generations->listen_fds, count * sizeof fds[0]);
        pthread_mutex_unlock(&server->lock);
        polled[0] = (struct pollfd){.fd = server->wake[0], .events = POLLIN};
        for (size_t i = 0; i < count; i++) {
            polled[1 + i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        }
        /* No timeout: idle, this thread sleeps until a connection arrives. */
        if (poll(polled, 1 + count, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (polled[0].revents != 0) {
            break;
        }
        bool broken = false;
        for (size_t i = 0; i < count; i++) {
            broken = broken || (polled[1 + i].revents & (POLLNVAL | POLLERR | POLLHUP)) != 0;
        }
        if (!broken && (!listener_stuck(server, fds, count) || listener_accepts(server, fds[0]))) {
            continue;
        }
        asylo__log(ASYLO_LOG_WARNING, "transport", NULL, 0,
                   "server %s: gRPC stopped accepting connections (file descriptors exhausted "
                   "by a burst?); restarting the listener",
                   server->address.target);
        bool stop = false;
        while (!stop && !rebuild_listener(server)) {
            stop = watchdog_sleep(server, REBUILD_RETRY_MS);
        }
        if (stop) {
            break;
        }
    }
    return NULL;
}

uint64_t asylo__server_listener_restarts(asylo__server *server) {
    pthread_mutex_lock(&server->lock);
    uint64_t restarts = server->recoveries;
    pthread_mutex_unlock(&server->lock);
    return restarts;
}

/* ---- the server ---- */

/* Frees what create built when it fails half-way (no thread started). */
static void server_free_unstarted(asylo__server *server) {
    generation *g = server->generations;
    if (g != NULL) {
        grpc_server_destroy(g->server);
        free(g);
    }
    if (server->accept_cq != NULL) {
        grpc_completion_queue_shutdown(server->accept_cq);
        while (grpc_completion_queue_next(server->accept_cq,
                                          asylo__deadline_after_ms(ASYLO__CLEANUP_WAIT_MS), NULL)
                   .type == GRPC_OP_COMPLETE) {
        }
        grpc_completion_queue_destroy(server->accept_cq);
    }
    if (server->credentials != NULL) {
        grpc_server_credentials_release(server->credentials);
    }
    if (server->quota != NULL) {
        grpc_resource_quota_unref(server->quota);
    }
    if (server->fd_dir != NULL) {
        closedir(server->fd_dir);
    }
    for (int i = 0; i < 2; i++) {
        if (server->wake[i] >= 0) {
            close(server->wake[i]);
        }
    }
    asylo__client_verifier_destroy(server->verifier);
    pthread_mutex_destroy(&server->lock);
    pthread_cond_destroy(&server->changed);
    free(server);
}

asylo_code asylo__server_create(const asylo__server_options *options, asylo__server **out,
                                asylo_status *status) {
    static const asylo__security_options default_security = {.type = ASYLO__SECURITY_LOCAL};
    const asylo__security_options *security =
        options->security != NULL ? options->security : &default_security;
    asylo__server *server = NULL;
    asylo_code code;
    bool acquired = false;
    *out = NULL;
    server = calloc(1, sizeof *server);
    if (server == NULL) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "out of memory");
        goto out;
    }
    server->wake[0] = server->wake[1] = -1;
    pthread_mutex_init(&server->lock, NULL);
    pthread_cond_init(&server->changed, NULL);
    server->on_call_end = options->on_call_end;
    server->on_call_end_context = options->on_call_end_context;
    server->max_message_size =
        options->max_message_size > 0 ? options->max_message_size : ASYLO__FRAME_DEFAULT_MAX_SIZE;
    asylo__address requested;
    code = asylo__address_parse(options->address, &requested, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    if (pipe2(server->wake, O_CLOEXEC) != 0) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "cannot create a pipe for server '%s': %s", requested.target,
                                strerror(errno));
        goto out;
    }
    /* Without it the listener is not watched (logged below), nothing else. */
    server->fd_dir = opendir("/proc/self/fd");
    asylo__grpc_acquire();
    acquired = true;
    code = asylo__security_server_credentials(security, &requested, &server->credentials, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    code = asylo__client_verifier_create(security, &server->verifier, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    asylo__channel_args_build(&server->args, true, server->max_message_size,
                              options->keepalive_time_ms, options->keepalive_timeout_ms);
    if (server->args.list.num_args < sizeof server->args.args / sizeof server->args.args[0]) {
        grpc_arg *timeout = &server->args.args[server->args.list.num_args++];
        timeout->type = GRPC_ARG_INTEGER;
        timeout->key = (char *)GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS;
        timeout->value.integer = HANDSHAKE_TIMEOUT_MS;
    }
    if (options->memory_quota > 0 &&
        server->args.list.num_args < sizeof server->args.args / sizeof server->args.args[0]) {
        /* gRPC 1.51 buffers a whole message before checking its size; its
         * memory quota is what bounds the buffers: over it, the transport
         * cancels streams ("Buffers full") instead of growing. */
        server->quota = grpc_resource_quota_create(requested.target);
        grpc_resource_quota_resize(server->quota, options->memory_quota);
        grpc_arg *arg = &server->args.args[server->args.list.num_args++];
        arg->type = GRPC_ARG_POINTER;
        arg->key = (char *)GRPC_ARG_RESOURCE_QUOTA;
        arg->value.pointer.p = server->quota;
        arg->value.pointer.vtable = grpc_resource_quota_arg_vtable();
    }
    generation *first = calloc(1, sizeof *first);
    if (first == NULL) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "out of memory");
        goto out;
    }
    server->generations = first;
    server->generation_count = 1;
    first->server = grpc_server_create(&server->args.list, NULL);
    server->accept_cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(first->server, server->accept_cq, NULL);
    int port = grpc_server_add_http2_port(first->server, requested.target, server->credentials);
    if (port == 0) {
        code = asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                                "cannot listen on '%s' (in use, or no such local address?)",
                                requested.target);
        goto out;
    }
    asylo__address_with_port(&requested, (uint16_t)port, &server->address);
    find_listeners(server, first);
    if (first->listen_count == 0) {
        asylo__log(ASYLO_LOG_WARNING, "transport", NULL, 0,
                   "server %s: cannot find its listening socket; it will not be restarted if "
                   "gRPC stops accepting",
                   server->address.target);
    }
    grpc_server_start(first->server);
    if (pthread_create(&server->accept_thread, NULL, accept_thread, server) != 0) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "cannot start the server's accept thread");
        /* Started but not serving: the full shutdown path cleans up. */
        grpc_server_shutdown_and_notify(first->server, server->accept_cq, &first->shutdown_tag);
        grpc_server_cancel_all_calls(first->server);
        grpc_event event;
        do {
            event = grpc_completion_queue_next(
                server->accept_cq, asylo__deadline_after_ms(ASYLO__CLEANUP_WAIT_MS), NULL);
        } while (event.type == GRPC_OP_COMPLETE && event.tag != &first->shutdown_tag);
        goto out;
    }
    server->accept_thread_started = true;
    if (pthread_create(&server->watchdog, NULL, watchdog_thread, server) == 0) {
        server->watchdog_started = true;
    } else {
        asylo__log(ASYLO_LOG_WARNING, "transport", NULL, 0,
                   "server %s: no thread to watch the listener; it will not be restarted if "
                   "gRPC stops accepting",
                   server->address.target);
    }
    *out = server;
    server = NULL;
    acquired = false;
    code = asylo_status_ok(status);
out:
    if (server != NULL) {
        server_free_unstarted(server);
    }
    if (acquired) {
        asylo__grpc_release();
    }
    return code;
}

asylo_code asylo__server_add_method(asylo__server *server, const char *method,
                                    asylo__server_handler handler, void *context,
                                    asylo_status *status) {
    asylo_code code = ASYLO_OK;
    pthread_mutex_lock(&server->lock);
    for (size_t i = 0; i < server->method_count; i++) {
        if (strcmp(server->methods[i].name, method) == 0) {
            code = asylo_status_set(status, ASYLO_ALREADY_EXISTS, ASYLO_ORIGIN_API,
                                    "method '%s' already has a handler", method);
            goto out;
        }
    }
    if (server->method_count == MAX_METHODS || method[0] != '/') {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "cannot add method '%s' (full names start with '/'; at most %d "
                                "methods)",
                                method, MAX_METHODS);
        goto out;
    }
    char *name = strdup(method);
    if (name == NULL) {
        code =
            asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API, "out of memory");
        goto out;
    }
    server->methods[server->method_count].name = name;
    server->methods[server->method_count].handler = handler;
    server->methods[server->method_count].context = context;
    server->method_count++;
    code = asylo_status_ok(status);
out:
    pthread_mutex_unlock(&server->lock);
    return code;
}

const char *asylo__server_address(const asylo__server *server) {
    return server->address.target;
}

size_t asylo__server_active_calls(asylo__server *server) {
    pthread_mutex_lock(&server->lock);
    size_t active = server->active_calls;
    pthread_mutex_unlock(&server->lock);
    return active;
}

uint64_t asylo__server_total_calls(asylo__server *server) {
    pthread_mutex_lock(&server->lock);
    uint64_t total = server->total_calls;
    pthread_mutex_unlock(&server->lock);
    return total;
}

/* Waits (lock held) until every generation's shutdown tag arrived or the
 * deadline passed. */
static bool wait_notified(asylo__server *server, int64_t timeout_ms) {
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    struct timespec until = {.tv_sec = deadline.tv_sec, .tv_nsec = deadline.tv_nsec};
    while (!all_notified(server)) {
        if (pthread_cond_timedwait(&server->changed, &server->lock, &until) != 0) {
            break;
        }
    }
    return all_notified(server);
}

void asylo__server_shutdown(asylo__server *server, int64_t grace_ms) {
    if (server == NULL) {
        return;
    }
    pthread_mutex_lock(&server->lock);
    server->shutting_down = true;
    pthread_mutex_unlock(&server->lock);
    /* No new generation after this. */
    if (server->watchdog_started) {
        char stop = 1;
        while (write(server->wake[1], &stop, 1) < 0 && errno == EINTR) {
        }
        pthread_join(server->watchdog, NULL);
    }
    pthread_mutex_lock(&server->lock);
    for (generation *g = server->generations; g != NULL; g = g->next) {
        if (!g->shutdown_started) {
            g->shutdown_started = true;
            grpc_server_shutdown_and_notify(g->server, server->accept_cq, &g->shutdown_tag);
        }
    }
    bool graceful = wait_notified(server, grace_ms > 0 ? grace_ms : 0);
    if (!graceful) {
        /* Open streams would otherwise hold the shutdown forever
         * (MACHINE-NOTES 11); their handlers now see UNAVAILABLE. */
        for (generation *g = server->generations; g != NULL; g = g->next) {
            grpc_server_cancel_all_calls(g->server);
        }
    }
    /* Handler threads end once their calls fail; join them all. */
    while (server->calls != NULL) {
        reap_calls(server);
        if (server->calls != NULL) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&server->changed, &server->lock, &until);
        }
    }
    while (!wait_notified(server, ASYLO__CLEANUP_WAIT_MS)) {
        asylo__log(ASYLO_LOG_WARNING, "transport", NULL, 0,
                   "server %s: still waiting for gRPC to finish shutting down",
                   server->address.target);
    }
    pthread_mutex_unlock(&server->lock);
    if (server->accept_thread_started) {
        pthread_join(server->accept_thread, NULL);
    }
    grpc_completion_queue_shutdown(server->accept_cq);
    while (grpc_completion_queue_next(server->accept_cq,
                                      asylo__deadline_after_ms(ASYLO__CLEANUP_WAIT_MS), NULL)
               .type == GRPC_OP_COMPLETE) {
    }
    while (server->generations != NULL) {
        generation *g = server->generations;
        server->generations = g->next;
        grpc_server_destroy(g->server);
        free(g);
    }
    grpc_completion_queue_destroy(server->accept_cq);
    grpc_server_credentials_release(server->credentials);
    if (server->quota != NULL) {
        grpc_resource_quota_unref(server->quota);
    }
    asylo__client_verifier_destroy(server->verifier);
    for (size_t i = 0; i < server->method_count; i++) {
        free(server->methods[i].name);
    }
    if (server->fd_dir != NULL) {
        closedir(server->fd_dir);
    }
    close(server->wake[0]);
    close(server->wake[1]);
    pthread_mutex_destroy(&server->lock);
    pthread_cond_destroy(&server->changed);
    free(server);
    asylo__grpc_release();
}
