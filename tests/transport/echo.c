/* The test echo service (see echo.h). */
#include "echo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/client_stream.h"

void echo_handler(asylo__server_call *call, void *context) {
    echo_stats *stats = context;
    atomic_fetch_add(&stats->handler_calls, 1);
    for (;;) {
        asylo__frame in;
        asylo_status status;
        asylo_code code = asylo__server_call_receive(call, &in, -1, &status);
        if (code == ASYLO_OUT_OF_RANGE) {
            atomic_fetch_add(&stats->client_closed, 1);
            asylo__server_call_finish(call, ASYLO_OK, NULL, NULL);
            return;
        }
        if (code != ASYLO_OK) {
            if (code == ASYLO_UNAVAILABLE) {
                atomic_fetch_add(&stats->client_gone, 1);
            }
            return;
        }
        asylo__frame out;
        asylo__frame_init(&out);
        out.call_id = in.call_id;
        out.parent_call_id = in.parent_call_id;
        out.kind = ASYLO__FRAME_RETURN;
        out.selector = in.selector;
        char *big = NULL;
        const char *text = NULL;
        switch (in.selector) {
        case ECHO_ERROR:
            out.kind = ASYLO__FRAME_ERROR;
            asylo_status_set(&out.status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_ENCLAVE, "echo error");
            break;
        case ECHO_BIG: {
            char number[32] = {0};
            memcpy(number, in.payload, in.payload_size < 31 ? in.payload_size : 31);
            size_t size = strtoul(number, NULL, 10);
            big = calloc(1, size + 1);
            out.payload = (const uint8_t *)big;
            out.payload_size = size;
            break;
        }
        case ECHO_IDENTITY:
            text = asylo__server_call_peer_identity(call);
            break;
        case ECHO_TOKEN:
            text = asylo__server_call_metadata(call, ASYLO__TOKEN_METADATA_KEY);
            break;
        case ECHO_NO_REPLY:
            asylo__frame_release(&in);
            continue;
        case ECHO_FINISH:
            asylo__frame_release(&in);
            asylo__server_call_finish(call, ASYLO_PERMISSION_DENIED, "echo finish", NULL);
            return;
        default:
            out.payload = in.payload;
            out.payload_size = in.payload_size;
            break;
        }
        if (text != NULL) {
            out.payload = (const uint8_t *)text;
            out.payload_size = strlen(text);
        }
        code = asylo__server_call_send(call, &out, &status);
        free(big);
        asylo__frame_release(&in);
        if (code == ASYLO_RESOURCE_EXHAUSTED) {
            asylo__server_call_finish(call, code, status.message, NULL);
            return;
        }
        if (code != ASYLO_OK) {
            return;
        }
    }
}

void health_handler(asylo__server_call *call, void *context) {
    (void)context;
    uint8_t *request = NULL;
    size_t size = 0;
    if (asylo__server_call_receive_bytes(call, &request, &size, 5000, NULL) != ASYLO_OK) {
        return;
    }
    free(request);
    /* HealthCheckResponse { status: SERVING (1) } */
    static const uint8_t serving[] = {0x08, 0x01};
    if (asylo__server_call_send_bytes(call, serving, sizeof serving, NULL) == ASYLO_OK) {
        asylo__server_call_finish(call, ASYLO_OK, NULL, NULL);
    }
}

void echo_register(asylo__server *server, echo_stats *stats) {
    asylo_status status;
    if (asylo__server_add_method(server, ASYLO__COMMUNICATE_METHOD, echo_handler, stats, &status) !=
            ASYLO_OK ||
        asylo__server_add_method(server, HEALTH_METHOD, health_handler, NULL, &status) !=
            ASYLO_OK) {
        fprintf(stderr, "echo_register: %s\n", status.message);
        abort();
    }
}
