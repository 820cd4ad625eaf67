/* The standard gRPC health-checking service (grpc.health.v1.Health/Check,
 * https://github.com/grpc/grpc/blob/master/doc/health-checking.md) on an
 * asylo__server, so stock probes (grpc_health_probe, Kubernetes gRPC probes,
 * grpcio-health-checking) work against our servers.
 *
 *   request:  HealthCheckRequest  { string service = 1; }
 *   response: HealthCheckResponse { ServingStatus status = 1; }
 *             UNKNOWN = 0, SERVING = 1, NOT_SERVING = 2, SERVICE_UNKNOWN = 3
 *
 * The service "" (the whole server) and every name added with
 * asylo__health_add_service answer the one settable status; any other name is
 * answered with the gRPC code NOT_FOUND, as the protocol asks. Watch is not
 * implemented (the server answers UNIMPLEMENTED, which clients treat as "use
 * Check"). The two messages are encoded by hand (no generated code). */
#ifndef ASYLO_METRICS_HEALTH_H
#define ASYLO_METRICS_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"
#include "transport/server.h"

#define ASYLO__HEALTH_CHECK_METHOD "/grpc.health.v1.Health/Check"
#define ASYLO__HEALTH_MAX_SERVICES 8
#define ASYLO__HEALTH_MAX_SERVICE_NAME 128

typedef enum asylo__serving_status {
    ASYLO__HEALTH_UNKNOWN = 0,
    ASYLO__HEALTH_SERVING = 1,
    ASYLO__HEALTH_NOT_SERVING = 2,
    ASYLO__HEALTH_SERVICE_UNKNOWN = 3,
} asylo__serving_status;

typedef struct asylo__health asylo__health;

/* Starts NOT_SERVING: say SERVING once the server is ready. */
asylo_code asylo__health_create(asylo__health **health, asylo_status *status);
/* Adds a service name ("asylo.remote.RemoteEnclaveProxy") that answers the
 * same status as "". Before asylo__health_register. */
asylo_code asylo__health_add_service(asylo__health *health, const char *service,
                                     asylo_status *status);
/* Routes ASYLO__HEALTH_CHECK_METHOD on server to this health object. */
asylo_code asylo__health_register(asylo__health *health, asylo__server *server,
                                  asylo_status *status);
/* Thread-safe; an atomic store. */
void asylo__health_set_serving(asylo__health *health, bool serving);
asylo__serving_status asylo__health_status(const asylo__health *health);
/* Frees it; the server it was registered on must be shut down first. NULL ok. */
void asylo__health_destroy(asylo__health *health);

/* The wire format, exposed for tests. The request parser skips unknown
 * fields and refuses malformed input (INVALID_ARGUMENT); service gets at most
 * size-1 bytes (longer names: INVALID_ARGUMENT). */
asylo_code asylo__health_parse_request(const uint8_t *data, size_t data_size, char *service,
                                       size_t size, asylo_status *status);
/* Writes HealthCheckResponse{status} into out (at least 2 bytes); returns the
 * length (0 for UNKNOWN, which protobuf leaves out). */
size_t asylo__health_encode_response(asylo__serving_status serving, uint8_t out[2]);

#endif
