/* The echo service the transport tests serve, in-process or from
 * transport_echo_server (for kill -9). Selectors say what to answer. */
#ifndef ASYLO_TESTS_TRANSPORT_ECHO_H
#define ASYLO_TESTS_TRANSPORT_ECHO_H

#include <stdatomic.h>

#include "transport/server.h"

enum echo_selector {
    ECHO_RETURN = 1,   /* RETURN with the same payload */
    ECHO_ERROR = 2,    /* ERROR NOT_FOUND "echo error" */
    ECHO_BIG = 3,      /* RETURN with a payload of the size in the payload (decimal) */
    ECHO_IDENTITY = 5, /* RETURN with the verified client identity */
    ECHO_TOKEN = 6,    /* RETURN with the asylo-token metadata */
    ECHO_NO_REPLY = 7, /* no answer */
    ECHO_FINISH = 8,   /* finish the call with PERMISSION_DENIED "echo finish" */
};

#define HEALTH_METHOD "/grpc.health.v1.Health/Check"

typedef struct echo_stats {
    atomic_int handler_calls; /* Communicate handlers started */
    atomic_int client_gone;   /* handlers that saw UNAVAILABLE */
    atomic_int client_closed; /* handlers that saw OUT_OF_RANGE (half-close) */
} echo_stats;

void echo_handler(asylo__server_call *call, void *context);
/* Answers a unary health check with a SERVING HealthCheckResponse. */
void health_handler(asylo__server_call *call, void *context);
/* Registers both on server. */
void echo_register(asylo__server *server, echo_stats *stats);

#endif
