/* The host library's opt-in metrics: one Prometheus endpoint per process,
 * started when a backend's config asks for it (the remote backend's
 * asylo_remote_config.metrics_port) and fed from the backends' stats reports
 * (backend.h, asylo__load_request.on_stat). Backends hold no metrics code. */
#ifndef ASYLO_HOST_CLIENT_METRICS_H
#define ASYLO_HOST_CLIENT_METRICS_H

#include "asylo/manager.h"
#include "backends/backend.h"

/* The load request's serve_metrics (context: the client): starts the
 * endpoint (first user) or joins it, and records this client's stats from
 * then on (counting it in asylo_enclaves_loaded). */
asylo_code asylo__client_metrics_serve(void *client, const char *address, int port,
                                       asylo_status *status);
/* The load request's on_stat (context: the client): a no-op unless the
 * client's backend asked for metrics. */
void asylo__client_metrics_on_stat(void *client, const asylo__backend_stat *stat);
/* After unload (or a failed load): the client's share of the endpoint is
 * given back; the last one stops it (the counters are kept). */
void asylo__client_metrics_release(asylo_client *client);

#endif
