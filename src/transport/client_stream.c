/* Client channel and streams over gRPC C core (see client_stream.h). */
#include "transport/client_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>

#include "common/log.h"
#include "transport/address.h"
#include "transport/call_util.h"
#include "transport/channel_poller.h"
#include "transport/grpc_runtime.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
/* A method no server implements: a call to it reports why a channel cannot
 * connect (or UNIMPLEMENTED if it just did). */
#define PROBE_METHOD "/asylo.transport.Probe/Connect"

struct asylo__channel {
    grpc_channel *channel;
    asylo__address address;
    size_t max_message_size;
};

struct asylo__client_stream {
    asylo__channel *channel;
    grpc_call *call;
    grpc_completion_queue *cq;
    grpc_metadata token;
    size_t metadata_count;
    grpc_metadata_array initial_metadata;
    grpc_metadata_array trailing_metadata;
    grpc_status_code final_code;
    grpc_slice final_details;
    const char *error_string;
    bool started;        /* initial metadata sent, status batch started */
    bool status_pending; /* the RECV_STATUS_ON_CLIENT batch has not been collected */
    bool half_closed;
    bool dead;
    asylo_status failure; /* why the stream is dead */
    /* Distinct addresses used as completion tags. */
    char batch_tag;
    char status_tag;
    char close_tag;
};

/* Asks a failing channel why, with a short fail-fast call. */
static asylo_code probe_failure(asylo__channel *channel, asylo_status *status) {
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice method = grpc_slice_from_static_string(PROBE_METHOD);
    grpc_call *call = grpc_channel_create_call(channel->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                               method, NULL, asylo__deadline_after_ms(1000), NULL);
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    const char *error_string = NULL;
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[2].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[2].data.recv_initial_metadata.recv_initial_metadata = &initial;
    ops[3].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[3].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[3].data.recv_status_on_client.status = &code;
    ops[3].data.recv_status_on_client.status_details = &details;
    ops[3].data.recv_status_on_client.error_string = &error_string;
    asylo_code result;
    if (grpc_call_start_batch(call, ops, 4, &code, NULL) != GRPC_CALL_OK) {
        result = asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                                  "cannot connect to %s", channel->address.target);
    } else {
        asylo__pluck_until_done(cq, &code, "a connection probe");
        if (code == GRPC_STATUS_UNIMPLEMENTED) {
            /* The server answered: the channel connected after all. */
            result = asylo_status_ok(status);
        } else {
            result =
                asylo__status_from_grpc(status, code, (const char *)GRPC_SLICE_START_PTR(details),
                                        GRPC_SLICE_LENGTH(details), channel->address.target);
            if (result == ASYLO_OK || result == ASYLO_DEADLINE_EXCEEDED) {
                result = asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                                          "cannot connect to %s", channel->address.target);
            }
        }
    }
    grpc_slice_unref(details);
    gpr_free((void *)error_string);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_call_unref(call);
    asylo__cq_destroy(cq);
    return result;
}

/* Waits until the channel is READY or the deadline passes. */
static asylo_code wait_ready(asylo__channel *channel, int64_t timeout_ms, asylo_status *status) {
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = asylo__deadline_after_ms(timeout_ms);
    bool failed_once = false;
    asylo_code code;
    grpc_connectivity_state state = grpc_channel_check_connectivity_state(channel->channel, 1);
    while (state != GRPC_CHANNEL_READY && state != GRPC_CHANNEL_SHUTDOWN) {
        if (state == GRPC_CHANNEL_TRANSIENT_FAILURE) {
            failed_once = true;
            /* Report the first failure at once (refused, no such socket, a
             * failed TLS handshake): every address we dial belongs to a server
             * that said it is listening, so waiting out the deadline would
             * only delay the same answer. */
            code = probe_failure(channel, status);
            asylo__cq_destroy(cq);
            return code;
        }
        if (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), deadline) >= 0) {
            break;
        }
        char tag;
        grpc_channel_watch_connectivity_state(channel->channel, state, deadline, cq, &tag);
        /* The watch always reports, by its deadline at the latest. */
        asylo__pluck_until_done(cq, &tag, "a connectivity watch");
        state = grpc_channel_check_connectivity_state(channel->channel, 1);
    }
    if (state == GRPC_CHANNEL_READY) {
        code = asylo_status_ok(status);
    } else if (failed_once || state == GRPC_CHANNEL_TRANSIENT_FAILURE ||
               state == GRPC_CHANNEL_IDLE) {
        code = probe_failure(channel, status);
    } else {
        code = asylo_status_set(status, ASYLO_DEADLINE_EXCEEDED, ASYLO_ORIGIN_TRANSPORT,
                                "%s: still connecting after %lld ms", channel->address.target,
                                (long long)timeout_ms);
    }
    asylo__cq_destroy(cq);
    return code;
}

/* A plaintext client's HTTP/2 preface is no TLS ClientHello: a TLS server
 * closes the connection at once, and gRPC says only "Socket closed". Say
 * what most likely differs. */
static asylo_code explain_plaintext_refused(const asylo__security_options *security,
                                            const asylo__address *address, asylo_code code,
                                            asylo_status *status) {
    /* status may be NULL (a caller that only wants the code, such as a
     * provision's release on destroy): then there is nothing to explain. */
    if (status == NULL || code != ASYLO_UNAVAILABLE || security->type != ASYLO__SECURITY_LOCAL ||
        strstr(status->message, "Socket closed") == NULL) {
        return code;
    }
    /* Keep gRPC's own words, not our "unreachable" guess around them. */
    const char *grpc_words = strstr(status->message, "failed to connect");
    char detail[sizeof status->message];
    snprintf(detail, sizeof detail, "%s", grpc_words != NULL ? grpc_words : status->message);
    return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                            "%s closed the connection before any answer: the server may require "
                            "TLS (--security_type=ssl) while this side is plaintext "
                            "(--security_type=local): security settings differ (%s)",
                            address->target, detail);
}

asylo_code asylo__channel_open(const asylo__channel_options *options, asylo__channel **out,
                               asylo_status *status) {
    asylo__channel *channel = NULL;
    grpc_channel_credentials *credentials = NULL;
    static const asylo__security_options default_security = {.type = ASYLO__SECURITY_LOCAL};
    asylo_code code;
    bool acquired = false;
    *out = NULL;
    channel = calloc(1, sizeof *channel);
    if (channel == NULL) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "out of memory");
        goto out;
    }
    code = asylo__address_parse(options->address, &channel->address, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    if (channel->address.family != ASYLO__ADDRESS_UNIX && channel->address.port == 0) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "cannot connect to '%s': port 0 only makes sense for binding",
                                options->address);
        goto out;
    }
    channel->max_message_size =
        options->max_message_size > 0 ? options->max_message_size : ASYLO__FRAME_DEFAULT_MAX_SIZE;
    asylo__grpc_acquire();
    acquired = true;
    code = asylo__security_channel_credentials(options->security != NULL ? options->security
                                                                         : &default_security,
                                               &channel->address, &credentials, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    asylo__channel_args args;
    asylo__channel_args_build(&args, false, channel->max_message_size, options->keepalive_time_ms,
                              options->keepalive_timeout_ms);
    if (options->service_config != NULL &&
        args.list.num_args < sizeof args.args / sizeof *args.args) {
        args.args[args.list.num_args].type = GRPC_ARG_STRING;
        args.args[args.list.num_args].key = (char *)GRPC_ARG_SERVICE_CONFIG;
        args.args[args.list.num_args].value.string = (char *)options->service_config;
        args.list.num_args++;
    }
    /* IP literals go straight to gRPC's ipv4:/ipv6: resolvers: the default
     * DNS resolver would spend milliseconds (c-ares) on a literal. */
    char dial[sizeof channel->address.target + 8];
    if (channel->address.family == ASYLO__ADDRESS_IPV4) {
        snprintf(dial, sizeof dial, "ipv4:%s", channel->address.target);
    } else if (channel->address.family == ASYLO__ADDRESS_IPV6) {
        snprintf(dial, sizeof dial, "ipv6:%s", channel->address.target);
    } else {
        snprintf(dial, sizeof dial, "%s", channel->address.target);
    }
    channel->channel = grpc_channel_create(
        options->grpc_target != NULL ? options->grpc_target : dial, credentials, &args.list);
    if (channel->channel == NULL) {
        code = asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_TRANSPORT,
                                "gRPC could not create a channel to %s", channel->address.target);
        goto out;
    }
    code = wait_ready(channel,
                      options->connect_timeout_ms > 0 ? options->connect_timeout_ms
                                                      : DEFAULT_CONNECT_TIMEOUT_MS,
                      status);
    code =
        explain_plaintext_refused(options->security != NULL ? options->security : &default_security,
                                  &channel->address, code, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    /* Without it an idle channel is read too rarely to keep its keepalive
     * answered (channel_poller.h). */
    if (!asylo__channel_poller_acquire()) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "%s: cannot start the thread that reads idle connections",
                                channel->address.target);
        goto out;
    }
    *out = channel;
    channel = NULL;
    acquired = false; /* the channel keeps the runtime reference */
out:
    if (credentials != NULL) {
        grpc_channel_credentials_release(credentials);
    }
    if (channel != NULL && channel->channel != NULL) {
        grpc_channel_destroy(channel->channel);
    }
    free(channel);
    if (acquired) {
        asylo__grpc_release();
    }
    return code;
}

const char *asylo__channel_address(const asylo__channel *channel) {
    return channel->address.target;
}

size_t asylo__channel_max_message_size(const asylo__channel *channel) {
    return channel->max_message_size;
}

void asylo__channel_close(asylo__channel *channel) {
    if (channel == NULL) {
        return;
    }
    grpc_channel_destroy(channel->channel);
    free(channel);
    asylo__channel_poller_release();
    asylo__grpc_release();
}

asylo_code asylo__client_stream_open(asylo__channel *channel, const char *method, const char *token,
                                     asylo__client_stream **out, asylo_status *status) {
    *out = NULL;
    asylo__client_stream *stream = calloc(1, sizeof *stream);
    if (stream == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "out of memory");
    }
    stream->channel = channel;
    stream->cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice method_slice =
        grpc_slice_from_copied_string(method != NULL ? method : ASYLO__COMMUNICATE_METHOD);
    /* No call deadline: a stream lives as long as the enclave; each exchange
     * has its own timeout. */
    stream->call =
        grpc_channel_create_call(channel->channel, NULL, GRPC_PROPAGATE_DEFAULTS, stream->cq,
                                 method_slice, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_slice_unref(method_slice);
    if (token != NULL) {
        stream->token.key = grpc_slice_from_static_string(ASYLO__TOKEN_METADATA_KEY);
        stream->token.value = grpc_slice_from_copied_string(token);
        stream->metadata_count = 1;
    }
    grpc_metadata_array_init(&stream->initial_metadata);
    grpc_metadata_array_init(&stream->trailing_metadata);
    stream->final_details = grpc_empty_slice();
    asylo_status_ok(&stream->failure);
    *out = stream;
    return asylo_status_ok(status);
}

void asylo__client_stream_peer(const asylo__client_stream *stream, char *out, size_t size) {
    if (size == 0) {
        return;
    }
    out[0] = '\0';
    char *peer = stream->started ? grpc_call_get_peer(stream->call) : NULL;
    if (peer != NULL) {
        snprintf(out, size, "%s", peer);
        gpr_free(peer);
    }
}

void asylo__client_stream_peer_certificate(const asylo__client_stream *stream, char **pem,
                                           size_t *pem_size) {
    *pem = NULL;
    *pem_size = 0;
    grpc_auth_context *context = stream->started ? grpc_call_auth_context(stream->call) : NULL;
    if (context == NULL) {
        return;
    }
    grpc_auth_property_iterator properties =
        grpc_auth_context_find_properties_by_name(context, GRPC_X509_PEM_CERT_PROPERTY_NAME);
    const grpc_auth_property *property = grpc_auth_property_iterator_next(&properties);
    if (property != NULL && property->value_length > 0) {
        *pem = malloc(property->value_length + 1);
        if (*pem != NULL) {
            memcpy(*pem, property->value, property->value_length);
            (*pem)[property->value_length] = '\0';
            *pem_size = property->value_length;
        }
    }
    grpc_auth_context_release(context);
}

bool asylo__client_stream_is_dead(const asylo__client_stream *stream) {
    return stream->dead;
}

void asylo__client_stream_cancel(asylo__client_stream *stream, const char *reason) {
    /* Touches only the call: the owner's thread keeps the rest. */
    grpc_call_cancel_with_status(stream->call, GRPC_STATUS_CANCELLED, reason, NULL);
}

/* Collects the final status (waiting at most timeout_ms, then cancelling) and
 * marks the stream dead with it. */
static asylo_code collect_status(asylo__client_stream *stream, int64_t timeout_ms) {
    if (stream->status_pending) {
        grpc_event event = asylo__pluck(stream->cq, &stream->status_tag, timeout_ms);
        if (event.type == GRPC_QUEUE_TIMEOUT) {
            grpc_call_cancel_with_status(stream->call, GRPC_STATUS_CANCELLED,
                                         "the client gave up waiting for the final status", NULL);
            asylo__pluck_until_done(stream->cq, &stream->status_tag, "a stream's final status");
        }
        stream->status_pending = false;
        asylo__status_from_grpc(&stream->failure, stream->final_code,
                                (const char *)GRPC_SLICE_START_PTR(stream->final_details),
                                GRPC_SLICE_LENGTH(stream->final_details),
                                stream->channel->address.target);
    }
    stream->dead = true;
    return stream->failure.code;
}

/* Cancels the stream for a local reason and records that reason. */
static asylo_code kill_stream(asylo__client_stream *stream, grpc_status_code grpc_code,
                              asylo_status *reason) {
    grpc_call_cancel_with_status(stream->call, grpc_code, reason->message, NULL);
    if (stream->status_pending) {
        asylo__pluck_until_done(stream->cq, &stream->status_tag, "a cancelled stream's status");
        stream->status_pending = false;
    }
    stream->failure = *reason;
    stream->dead = true;
    return reason->code;
}

static asylo_code report_dead(asylo__client_stream *stream, asylo_status *status) {
    if (status != NULL) {
        *status = stream->failure;
    }
    return stream->failure.code;
}

/* The one place a batch goes out: send (owned by the caller until we return)
 * and/or receive, plus the initial metadata on the first batch. */
static asylo_code run_batch(asylo__client_stream *stream, grpc_byte_buffer *send, bool do_receive,
                            grpc_byte_buffer **received, int64_t timeout_ms, asylo_status *status) {
    grpc_op ops[4];
    size_t count = 0;
    memset(ops, 0, sizeof ops);
    *received = NULL;
    bool first = !stream->started;
    if (first) {
        ops[count].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[count].data.send_initial_metadata.count = stream->metadata_count;
        ops[count].data.send_initial_metadata.metadata =
            stream->metadata_count > 0 ? &stream->token : NULL;
        count++;
        /* With the first send, never alone (MACHINE-NOTES 7). */
        ops[count].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[count].data.recv_initial_metadata.recv_initial_metadata = &stream->initial_metadata;
        count++;
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
    grpc_call_error error =
        grpc_call_start_batch(stream->call, ops, count, &stream->batch_tag, NULL);
    if (error != GRPC_CALL_OK) {
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_TRANSPORT,
                                "%s: gRPC refused a stream batch (error %d)",
                                stream->channel->address.target, (int)error);
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
        /* Kept outstanding for the stream's life: it is the only way gRPC
         * tells why a stream failed. */
        if (grpc_call_start_batch(stream->call, &status_op, 1, &stream->status_tag, NULL) ==
            GRPC_CALL_OK) {
            stream->status_pending = true;
        }
    }
    asylo__channel_poller_wait_begin();
    grpc_event event = asylo__pluck(stream->cq, &stream->batch_tag, timeout_ms);
    asylo__channel_poller_wait_end();
    if (event.type == GRPC_QUEUE_TIMEOUT) {
        asylo_status reason;
        asylo_status_set(&reason, ASYLO_DEADLINE_EXCEEDED, ASYLO_ORIGIN_TRANSPORT,
                         "%s: no reply within %lld ms; the stream was cancelled and cannot be "
                         "used again",
                         stream->channel->address.target, (long long)timeout_ms);
        grpc_call_cancel_with_status(stream->call, GRPC_STATUS_DEADLINE_EXCEEDED, reason.message,
                                     NULL);
        asylo__pluck_until_done(stream->cq, &stream->batch_tag, "a cancelled stream batch");
        if (*received != NULL) {
            asylo__byte_buffer_wipe_destroy(*received);
            *received = NULL;
        }
        kill_stream(stream, GRPC_STATUS_DEADLINE_EXCEEDED, &reason);
        return report_dead(stream, status);
    }
    if (!event.success) {
        if (*received != NULL) {
            asylo__byte_buffer_wipe_destroy(*received);
            *received = NULL;
        }
        collect_status(stream, ASYLO__CLEANUP_WAIT_MS);
        return report_dead(stream, status);
    }
    if (do_receive && *received == NULL) {
        /* The server ended the stream: its status says why. */
        collect_status(stream, ASYLO__CLEANUP_WAIT_MS);
        if (stream->failure.code == ASYLO_OK) {
            asylo_status_set(&stream->failure, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                             "%s: the server ended the stream without a reply",
                             stream->channel->address.target);
        }
        return report_dead(stream, status);
    }
    return asylo_status_ok(status);
}

/* Sends the encoded message `outgoing` (may be NULL; stays the caller's) and
 * receives into *receive (may be NULL). */
static asylo_code exchange_buffer(asylo__client_stream *stream, grpc_byte_buffer *outgoing,
                                  asylo__frame *receive, int64_t timeout_ms, asylo_status *status) {
    grpc_byte_buffer *incoming = NULL;
    asylo_code code = run_batch(stream, outgoing, receive != NULL, &incoming, timeout_ms, status);
    if (code == ASYLO_OK && incoming != NULL) {
        code = asylo__frame_decode(incoming, stream->channel->max_message_size, receive, status);
        if (code != ASYLO_OK) {
            /* A peer that sends garbage has lost track of the protocol. */
            asylo_status reason;
            if (status != NULL) {
                reason = *status;
            } else {
                asylo_status_set(&reason, code, ASYLO_ORIGIN_TRANSPORT,
                                 "malformed frame from the server");
            }
            kill_stream(stream, GRPC_STATUS_INVALID_ARGUMENT, &reason);
        }
    }
    if (incoming != NULL) {
        asylo__byte_buffer_wipe_destroy(incoming);
    }
    return code;
}

asylo_code asylo__client_stream_exchange(asylo__client_stream *stream, const asylo__frame *send,
                                         asylo__frame *receive, int64_t timeout_ms,
                                         asylo_status *status) {
    grpc_byte_buffer *outgoing = NULL;
    asylo_code code;
    if (receive != NULL) {
        asylo__frame_init(receive);
    }
    if (stream->dead) {
        return report_dead(stream, status);
    }
    if (send != NULL) {
        if (stream->half_closed) {
            return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                    "cannot send on a half-closed stream");
        }
        /* Size and kind are checked here, before anything touches the call. */
        code = asylo__frame_encode(send, stream->channel->max_message_size, &outgoing, status);
        if (code != ASYLO_OK) {
            return code;
        }
    }
    code = exchange_buffer(stream, outgoing, receive, timeout_ms, status);
    if (outgoing != NULL) {
        asylo__byte_buffer_wipe_destroy(outgoing);
    }
    return code;
}

asylo_code asylo__client_stream_exchange_encoded(asylo__client_stream *stream,
                                                 grpc_byte_buffer *send, asylo__frame *receive,
                                                 int64_t timeout_ms, asylo_status *status) {
    if (receive != NULL) {
        asylo__frame_init(receive);
    }
    if (stream->dead) {
        return report_dead(stream, status);
    }
    if (send != NULL && stream->half_closed) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                "cannot send on a half-closed stream");
    }
    return exchange_buffer(stream, send, receive, timeout_ms, status);
}

size_t asylo__client_stream_max_message_size(const asylo__client_stream *stream) {
    return stream->channel->max_message_size;
}

/* Sends `send` (copied into a gRPC slice), or with `fill` a message that
 * fill writes straight into the slice; wipe_sent wipes gRPC's copy after. */
static asylo_code exchange_bytes(asylo__client_stream *stream, const void *send, size_t send_size,
                                 asylo__message_fill_fn fill, void *fill_context, bool do_receive,
                                 uint8_t **received, size_t *received_size, int64_t timeout_ms,
                                 bool wipe_sent, asylo_status *status) {
    grpc_byte_buffer *outgoing = NULL;
    grpc_byte_buffer *incoming = NULL;
    asylo_code code;
    if (received != NULL) {
        *received = NULL;
        *received_size = 0;
    }
    if (stream->dead) {
        return report_dead(stream, status);
    }
    if (send != NULL || fill != NULL) {
        if (send_size > stream->channel->max_message_size) {
            return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                    "message of %zu bytes exceeds the maximum message size of "
                                    "%zu bytes; nothing was sent",
                                    send_size, stream->channel->max_message_size);
        }
        grpc_slice slice;
        if (fill != NULL) {
            slice = grpc_slice_malloc(send_size);
            code = fill(fill_context, GRPC_SLICE_START_PTR(slice), send_size, status);
            if (code != ASYLO_OK) {
                grpc_slice_unref(slice);
                return code;
            }
        } else {
            slice = grpc_slice_from_copied_buffer(send, send_size);
        }
        outgoing = grpc_raw_byte_buffer_create(&slice, 1);
        grpc_slice_unref(slice);
    }
    code = run_batch(stream, outgoing, do_receive, &incoming, timeout_ms, status);
    if (code == ASYLO_OK && incoming != NULL && received != NULL) {
        code = asylo__byte_buffer_to_bytes(incoming, stream->channel->max_message_size, received,
                                           received_size, status);
    }
    if (outgoing != NULL && wipe_sent) {
        asylo__byte_buffer_wipe_destroy(outgoing);
    } else if (outgoing != NULL) {
        grpc_byte_buffer_destroy(outgoing);
    }
    if (incoming != NULL) {
        asylo__byte_buffer_wipe_destroy(incoming);
    }
    return code;
}

asylo_code asylo__client_stream_exchange_bytes(asylo__client_stream *stream, const void *send,
                                               size_t send_size, bool do_receive,
                                               uint8_t **received, size_t *received_size,
                                               int64_t timeout_ms, asylo_status *status) {
    return exchange_bytes(stream, send, send_size, NULL, NULL, do_receive, received, received_size,
                          timeout_ms, true, status);
}

asylo_code asylo__client_stream_exchange_filled(asylo__client_stream *stream, size_t send_size,
                                                asylo__message_fill_fn fill, void *fill_context,
                                                bool do_receive, uint8_t **received,
                                                size_t *received_size, int64_t timeout_ms,
                                                asylo_status *status) {
    return exchange_bytes(stream, NULL, send_size, fill, fill_context, do_receive, received,
                          received_size, timeout_ms, false, status);
}

asylo_code asylo__client_stream_close(asylo__client_stream *stream, int64_t timeout_ms,
                                      asylo_status *status) {
    if (stream == NULL) {
        return asylo_status_ok(status);
    }
    if (timeout_ms < 0) {
        timeout_ms = ASYLO__CLEANUP_WAIT_MS;
    }
    if (!stream->dead) {
        grpc_op ops[2];
        size_t count = 0;
        memset(ops, 0, sizeof ops);
        bool first = !stream->started;
        if (first) {
            ops[count].op = GRPC_OP_SEND_INITIAL_METADATA;
            ops[count].data.send_initial_metadata.count = stream->metadata_count;
            ops[count].data.send_initial_metadata.metadata =
                stream->metadata_count > 0 ? &stream->token : NULL;
            count++;
        }
        ops[count].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        count++;
        if (grpc_call_start_batch(stream->call, ops, count, &stream->close_tag, NULL) ==
            GRPC_CALL_OK) {
            if (first) {
                grpc_op status_op;
                memset(&status_op, 0, sizeof status_op);
                status_op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
                status_op.data.recv_status_on_client.trailing_metadata = &stream->trailing_metadata;
                status_op.data.recv_status_on_client.status = &stream->final_code;
                status_op.data.recv_status_on_client.status_details = &stream->final_details;
                status_op.data.recv_status_on_client.error_string = &stream->error_string;
                stream->started = true;
                stream->status_pending =
                    grpc_call_start_batch(stream->call, &status_op, 1, &stream->status_tag, NULL) ==
                    GRPC_CALL_OK;
            }
            grpc_event event = asylo__pluck(stream->cq, &stream->close_tag, timeout_ms);
            if (event.type == GRPC_QUEUE_TIMEOUT) {
                grpc_call_cancel_with_status(stream->call, GRPC_STATUS_CANCELLED,
                                             "the client closed the stream", NULL);
                asylo__pluck_until_done(stream->cq, &stream->close_tag, "a stream half-close");
            }
            stream->half_closed = true;
        }
        collect_status(stream, timeout_ms);
    } else if (stream->status_pending) {
        collect_status(stream, 0);
    }
    asylo_code code = report_dead(stream, status);
    grpc_call_unref(stream->call);
    asylo__cq_destroy(stream->cq);
    grpc_metadata_array_destroy(&stream->initial_metadata);
    grpc_metadata_array_destroy(&stream->trailing_metadata);
    grpc_slice_unref(stream->final_details);
    gpr_free((void *)stream->error_string);
    if (stream->metadata_count > 0) {
        grpc_slice_unref(stream->token.key);
        grpc_slice_unref(stream->token.value);
    }
    free(stream);
    return code;
}
