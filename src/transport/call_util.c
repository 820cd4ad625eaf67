/* Private helpers (see call_util.h). */
#include "transport/call_util.h"

#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "transport/frame.h"

gpr_timespec asylo__deadline_after_ms(int64_t timeout_ms) {
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

grpc_event asylo__pluck(grpc_completion_queue *cq, void *tag, int64_t timeout_ms) {
    if (timeout_ms >= 0) {
        return grpc_completion_queue_pluck(cq, tag, asylo__deadline_after_ms(timeout_ms), NULL);
    }
    for (;;) {
        grpc_event event =
            grpc_completion_queue_pluck(cq, tag, asylo__deadline_after_ms(60000), NULL);
        if (event.type != GRPC_QUEUE_TIMEOUT) {
            return event;
        }
    }
}

void asylo__pluck_until_done(grpc_completion_queue *cq, void *tag, const char *what) {
    for (;;) {
        grpc_event event = asylo__pluck(cq, tag, ASYLO__CLEANUP_WAIT_MS);
        if (event.type != GRPC_QUEUE_TIMEOUT) {
            return;
        }
        asylo__log(ASYLO_LOG_WARNING, "transport", NULL, 0, "still waiting for gRPC to complete %s",
                   what);
    }
}

void asylo__cq_destroy(grpc_completion_queue *cq) {
    if (cq == NULL) {
        return;
    }
    grpc_completion_queue_shutdown(cq);
    /* A pluck queue reports its shutdown to any pluck once empty. */
    grpc_completion_queue_pluck(cq, NULL, asylo__deadline_after_ms(ASYLO__CLEANUP_WAIT_MS), NULL);
    grpc_completion_queue_destroy(cq);
}

static void add_int(asylo__channel_args *args, const char *key, int value) {
    grpc_arg *arg = &args->args[args->list.num_args++];
    arg->type = GRPC_ARG_INTEGER;
    arg->key = (char *)key;
    arg->value.integer = value;
}

void asylo__channel_args_build(asylo__channel_args *args, bool is_server, size_t max_message_size,
                               int keepalive_time_ms, int keepalive_timeout_ms) {
    memset(args, 0, sizeof *args);
    args->list.args = args->args;
    /* max_message_size counts payload bytes; gRPC counts whole frames. */
    int max_size = (int)asylo__frame_wire_size(max_message_size);
    add_int(args, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, max_size);
    add_int(args, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, max_size);
    add_int(args, GRPC_ARG_KEEPALIVE_TIME_MS,
            keepalive_time_ms > 0 ? keepalive_time_ms : ASYLO__DEFAULT_KEEPALIVE_TIME_MS);
    int timeout_ms =
        keepalive_timeout_ms > 0 ? keepalive_timeout_ms : ASYLO__DEFAULT_KEEPALIVE_TIMEOUT_MS;
    /* An idle client's ping answers are read within ASYLO__POLLER_QUIET_MS
     * (channel_poller.h), so the timeout needs no allowance for polling. */
    add_int(args, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, timeout_ms);
    add_int(args, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    /* Default 2: after two pings without data the keepalive stops. */
    add_int(args, GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    if (is_server) {
        /* The server must accept the client's frequent pings (default 5 min,
         * with GOAWAY "too_many_pings" after a few strikes). */
        add_int(args, GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 100);
        add_int(args, GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
        /* Port 0 must give a port nobody else shares. */
        add_int(args, GRPC_ARG_ALLOW_REUSEPORT, 0);
    } else {
        /* A separate connection per channel (one per enclave), not one shared
         * through the global subchannel pool. */
        add_int(args, GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        /* Retries buffer every sent message for replay; streams never retry. */
        add_int(args, GRPC_ARG_ENABLE_RETRIES, 0);
        /* Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: in gRPC core it also sets the
         * minimum time one connection attempt may take (20 s by default), TLS
         * and HTTP/2 handshake included, and at 100 ms loaded machines failed
         * handshakes ("timed out before receiving SETTINGS frame"). Our own
         * connect deadline bounds the wait. */
    }
}

static bool contains(const char *text, size_t length, const char *needle) {
    size_t needle_length = strlen(needle);
    for (size_t i = 0; i + needle_length <= length; i++) {
        if (strncasecmp(text + i, needle, needle_length) == 0) {
            return true;
        }
    }
    return false;
}

asylo_code asylo__status_from_grpc(asylo_status *status, grpc_status_code code, const char *details,
                                   size_t details_length, const char *address) {
    int length = details_length > 400 ? 400 : (int)details_length;
    if (details == NULL) {
        details = "";
        length = 0;
    }
    if (code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_UNKNOWN) {
        if (contains(details, (size_t)length, "certificate verify failed") ||
            contains(details, (size_t)length, "CERTIFICATE_VERIFY_FAILED")) {
            return asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_TRANSPORT,
                                    "%s: the server certificate was not trusted (check "
                                    "--ssl_root_certs): %.*s",
                                    address, length, details);
        }
        if (contains(details, (size_t)length, "is not in peer certificate")) {
            return asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_TRANSPORT,
                                    "%s: the server certificate does not name this address "
                                    "(it needs a matching IP or DNS subject alternative name): "
                                    "%.*s",
                                    address, length, details);
        }
        if (contains(details, (size_t)length, "handshake fail")) {
            return asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_TRANSPORT,
                                    "%s: the TLS handshake failed (do both sides use "
                                    "--security_type=ssl with matching certificates?): %.*s",
                                    address, length, details);
        }
    }
    asylo_code mapped = asylo_code_is_valid((int)code) ? (asylo_code)code : ASYLO_UNKNOWN;
    if (mapped == ASYLO_OK) {
        return asylo_status_ok(status);
    }
    if (mapped == ASYLO_UNAVAILABLE) {
        /* gRPC's details ("Socket closed", "keepalive watchdog timeout") do
         * not say what happened from the caller's point of view. */
        return asylo_status_set(status, mapped, ASYLO_ORIGIN_TRANSPORT,
                                "%s: the peer is unreachable (it exited, or the connection was "
                                "lost or refused): %.*s",
                                address, length, details);
    }
    return asylo_status_set(status, mapped, ASYLO_ORIGIN_TRANSPORT, "%s: %.*s", address, length,
                            details);
}
