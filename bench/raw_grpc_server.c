/* bench_raw_grpc_server ADDRESS [security flags]: the raw gRPC C core server
 * of the baselines (raw_grpc.h): a separate process, like the proxy. Prints
 * "LISTENING <address>" and serves until stdin closes.
 *
 * Built like the transport's server, minus everything asylo-c adds: the same
 * credentials and server arguments (from the transport's helpers), one
 * thread per call waiting on its own completion queue; echo sends back the
 * very buffer it received (no copy, no decoding). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>

#include "raw_grpc.h"
#include "transport/address.h"
#include "transport/call_util.h"
#include "transport/frame.h"
#include "transport/security.h"

typedef struct raw_call {
    grpc_call *call;
    grpc_completion_queue *cq;
    grpc_call_details details;
    grpc_metadata_array metadata;
    int cancelled;
    char batch_tag;
    char close_tag;
} raw_call;

static bool run(raw_call *call, grpc_op *ops, size_t count) {
    if (grpc_call_start_batch(call->call, ops, count, &call->batch_tag, NULL) != GRPC_CALL_OK) {
        return false;
    }
    grpc_event event = grpc_completion_queue_pluck(call->cq, &call->batch_tag,
                                                   gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    return event.type == GRPC_OP_COMPLETE && event.success;
}

static void *call_main(void *argument) {
    raw_call *call = argument;
    grpc_op close_op;
    memset(&close_op, 0, sizeof close_op);
    close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    close_op.data.recv_close_on_server.cancelled = &call->cancelled;
    grpc_call_start_batch(call->call, &close_op, 1, &call->close_tag, NULL);

    bool echo = grpc_slice_str_cmp(call->details.method, RAW_ECHO_METHOD) == 0;
    bool metadata_sent = false;
    uint64_t total = 0;
    grpc_byte_buffer *received = NULL;
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_MESSAGE;
    ops[0].data.recv_message.recv_message = &received;
    bool ok = run(call, ops, 1);
    while (ok && received != NULL) {
        grpc_byte_buffer *next = NULL;
        size_t count = 0;
        memset(ops, 0, sizeof ops);
        if (echo) {
            if (!metadata_sent) {
                ops[count++].op = GRPC_OP_SEND_INITIAL_METADATA;
                metadata_sent = true;
            }
            ops[count].op = GRPC_OP_SEND_MESSAGE;
            ops[count].data.send_message.send_message = received;
            count++;
        } else {
            total += grpc_byte_buffer_length(received);
        }
        ops[count].op = GRPC_OP_RECV_MESSAGE;
        ops[count].data.recv_message.recv_message = &next;
        count++;
        ok = run(call, ops, count);
        grpc_byte_buffer_destroy(received);
        received = next;
    }
    if (received != NULL) {
        grpc_byte_buffer_destroy(received);
    }
    memset(ops, 0, sizeof ops);
    size_t count = 0;
    if (!metadata_sent) {
        ops[count++].op = GRPC_OP_SEND_INITIAL_METADATA;
    }
    grpc_byte_buffer *reply = NULL;
    if (!echo) {
        grpc_slice slice = grpc_slice_from_copied_buffer((const char *)&total, sizeof total);
        reply = grpc_raw_byte_buffer_create(&slice, 1);
        grpc_slice_unref(slice);
        ops[count].op = GRPC_OP_SEND_MESSAGE;
        ops[count].data.send_message.send_message = reply;
        count++;
    }
    ops[count].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[count].data.send_status_from_server.status = GRPC_STATUS_OK;
    count++;
    if (ok) {
        run(call, ops, count);
    } else {
        grpc_call_cancel(call->call, NULL);
    }
    if (reply != NULL) {
        grpc_byte_buffer_destroy(reply);
    }
    grpc_completion_queue_pluck(call->cq, &call->close_tag, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                NULL);
    grpc_call_unref(call->call);
    grpc_completion_queue_shutdown(call->cq);
    grpc_completion_queue_pluck(call->cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    grpc_completion_queue_destroy(call->cq);
    grpc_call_details_destroy(&call->details);
    grpc_metadata_array_destroy(&call->metadata);
    free(call);
    return NULL;
}

static void *stdin_watch(void *argument) {
    (void)argument;
    char buffer[64];
    while (read(STDIN_FILENO, buffer, sizeof buffer) > 0) {
    }
    /* The parent is done (or gone): nothing here needs a clean shutdown. */
    _exit(0);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s ADDRESS [security flags]\n", argv[0]);
        return 2;
    }
    asylo__security_options security = {0};
    asylo_status status;
    for (int i = 2; i < argc;) {
        int consumed = 0;
        if (asylo__security_parse_flag(&security, argv[i], i + 1 < argc ? argv[i + 1] : NULL,
                                       &consumed, &status) != ASYLO_OK ||
            consumed == 0) {
            fprintf(stderr, "bad argument '%s'\n", argv[i]);
            return 2;
        }
        i += consumed;
    }
    /* A server program: --ssl_root_certs means mutual TLS, as in the tools. */
    security.require_client_certificate = security.root_certs != NULL;
    asylo__address address;
    if (asylo__address_parse(argv[1], &address, &status) != ASYLO_OK) {
        fprintf(stderr, "%s\n", status.message);
        return 2;
    }
    grpc_init();
    grpc_server_credentials *credentials = NULL;
    if (asylo__security_server_credentials(&security, &address, &credentials, &status) !=
        ASYLO_OK) {
        fprintf(stderr, "%s\n", status.message);
        return 1;
    }
    /* The transport's own server arguments (keepalive policy, limits). */
    asylo__channel_args args;
    asylo__channel_args_build(&args, true, ASYLO__FRAME_DEFAULT_MAX_SIZE, 0, 0);
    grpc_server *server = grpc_server_create(&args.list, NULL);
    grpc_completion_queue *accept_cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(server, accept_cq, NULL);
    int port = grpc_server_add_http2_port(server, address.target, credentials);
    grpc_server_credentials_release(credentials);
    if (port == 0) {
        fprintf(stderr, "cannot listen on %s\n", address.target);
        return 1;
    }
    grpc_server_start(server);
    asylo__address bound;
    asylo__address_with_port(&address, (uint16_t)port, &bound);
    printf("LISTENING %s\n", bound.target);
    fflush(stdout);
    pthread_t watcher;
    pthread_create(&watcher, NULL, stdin_watch, NULL);
    for (;;) {
        raw_call *call = calloc(1, sizeof *call);
        call->cq = grpc_completion_queue_create_for_pluck(NULL);
        grpc_call_details_init(&call->details);
        grpc_metadata_array_init(&call->metadata);
        if (grpc_server_request_call(server, &call->call, &call->details, &call->metadata, call->cq,
                                     accept_cq, call) != GRPC_CALL_OK) {
            fprintf(stderr, "grpc_server_request_call failed\n");
            return 1;
        }
        grpc_event event;
        do {
            event =
                grpc_completion_queue_next(accept_cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        } while (event.type != GRPC_OP_COMPLETE);
        if (!event.success) {
            return 1;
        }
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        pthread_create(&thread, &attributes, call_main, call);
        pthread_attr_destroy(&attributes);
    }
}
