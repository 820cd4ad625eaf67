/* Observability for a server binary in a few lines: the --metrics_port and
 * --metrics_address flags, the standard asylo and process metric families on
 * a /metrics endpoint, and the gRPC health service with a settable status.
 *
 *     asylo__observability_flags observability_flags;      // before parsing
 *     asylo__observability_flags_init(&observability_flags);
 *     ... for each argv[i]:
 *     int consumed = 0;
 *     if (asylo__observability_parse_flag(&observability_flags, argv[i],
 *                                         i + 1 < argc ? argv[i + 1] : NULL,
 *                                         &consumed, &status) != ASYLO_OK) -> usage error
 *     if (consumed > 0) { i += consumed - 1; continue; }
 *     ...
 *     asylo__observability observability;
 *     asylo__observability_start(&observability_flags, "provision", &observability, &status);
 *     asylo__observability_add_health(&observability, server, "asylo.provision.ProvisionServer",
 *                                     &status);          // before handing out the address
 *     asylo__observability_set_serving(&observability, true);
 *     asylo__metrics_record_provision(observability.metrics, code, seconds);  // NULL-safe
 *     ...
 *     asylo__observability_set_serving(&observability, false);   // draining
 *     asylo__server_shutdown(server, grace_ms);
 *     asylo__observability_stop(&observability);
 *
 * Without --metrics_port, `metrics` is NULL (every record helper then does
 * nothing) and no HTTP endpoint runs; the health service works either way. */
#ifndef ASYLO_METRICS_OBSERVABILITY_H
#define ASYLO_METRICS_OBSERVABILITY_H

#include <stdbool.h>

#include "asylo/status.h"
#include "metrics/asylo_metrics.h"
#include "observability/health.h"
#include "metrics/metrics.h"
#include "metrics/server.h"
#include "transport/server.h"

#define ASYLO__OBSERVABILITY_NO_METRICS (-1)

typedef struct asylo__observability_flags {
    /* ASYLO__OBSERVABILITY_NO_METRICS (default): no endpoint; 0: a free port
     * (logged); 1..65535: that port. */
    int metrics_port;
    /* NULL (default): 127.0.0.1, loopback only. */
    const char *metrics_address;
} asylo__observability_flags;

typedef struct asylo__observability {
    /* Pass this to the asylo__metrics_record_* helpers: NULL without an
     * endpoint, so recording costs nothing then. */
    const asylo__std_metrics *metrics;
    asylo__metrics_registry *registry; /* NULL without an endpoint */
    asylo__metrics_server *server;     /* NULL without an endpoint */
    asylo__health *health;             /* after asylo__observability_add_health */
    asylo__std_metrics std;
    char url[128]; /* "http://127.0.0.1:9464/metrics", "" without an endpoint */
} asylo__observability;

void asylo__observability_flags_init(asylo__observability_flags *flags);
/* Parses argument when it is one of --metrics_port=N, --metrics_port N,
 * --metrics_address=ADDR, --metrics_address ADDR (`next` is the argument
 * after it, may be NULL). *consumed: 0 when not ours, else 1 or 2.
 * INVALID_ARGUMENT naming the flag for a bad or missing value. */
asylo_code asylo__observability_parse_flag(asylo__observability_flags *flags, const char *argument,
                                           const char *next, int *consumed, asylo_status *status);
/* The --help lines of those flags. */
const char *asylo__observability_usage(void);

/* Creates the registry with the standard asylo_* and process_* families and
 * serves it when flags->metrics_port asks for it; logs "serving URL" at info
 * under `component`. Without a port it only zeroes *observability. Errors
 * are those of asylo__metrics_server_start (UNAVAILABLE for a port in use,
 * ...), prefixed with "--metrics_port"; nothing is left running then. */
asylo_code asylo__observability_start(const asylo__observability_flags *flags,
                                      const char *component, asylo__observability *observability,
                                      asylo_status *status);
/* Registers grpc.health.v1.Health/Check on server (before its address is
 * handed out). "" always answers; `service` (may be NULL) is one more name
 * that does. Starts NOT_SERVING. Once per observability. */
asylo_code asylo__observability_add_health(asylo__observability *observability,
                                           asylo__server *server, const char *service,
                                           asylo_status *status);
/* SERVING / NOT_SERVING; no-op before add_health. Thread-safe. */
void asylo__observability_set_serving(asylo__observability *observability, bool serving);
/* Stops the endpoint and frees everything; call after asylo__server_shutdown
 * of the server the health service is on. Safe on a zeroed or stopped one. */
void asylo__observability_stop(asylo__observability *observability);

#endif
