/* The /metrics HTTP endpoint (libmicrohttpd, its own polling thread). */
#ifndef ASYLO_METRICS_SERVER_H
#define ASYLO_METRICS_SERVER_H

#include "asylo/status.h"
#include "metrics/metrics.h"

typedef struct asylo__metrics_server asylo__metrics_server;

#define ASYLO__METRICS_DEFAULT_ADDRESS "127.0.0.1"

/* Serves registry on address:port: GET (and HEAD) /metrics answers 200 with
 * the text format and Content-Type "text/plain; version=0.0.4; charset=utf-8";
 * other paths get 404, other methods 405 (with "Allow: GET, HEAD").
 *
 * address is a numeric IPv4 or IPv6 address ("0.0.0.0", "::1", "[::1]"); NULL
 * or "" means ASYLO__METRICS_DEFAULT_ADDRESS (loopback only). port 0 picks a
 * free port: ask asylo__metrics_server_port. Errors: INVALID_ARGUMENT for a
 * bad address or port, UNAVAILABLE when the address is in use or not local,
 * PERMISSION_DENIED for a privileged port; messages name address and port.
 * The registry must outlive the server. */
asylo_code asylo__metrics_server_start(asylo__metrics_registry *registry, const char *address,
                                       int port, asylo__metrics_server **server,
                                       asylo_status *status);
/* The bound port (the real one when 0 was asked for). */
int asylo__metrics_server_port(const asylo__metrics_server *server);
/* "127.0.0.1:9464" or "[::1]:9464". */
const char *asylo__metrics_server_address(const asylo__metrics_server *server);
/* Stops serving and closes the socket; waits for a scrape in progress. Safe
 * to call twice and with NULL. */
void asylo__metrics_server_stop(asylo__metrics_server *server);
/* Stops (when still running) and frees; NULL is a no-op. */
void asylo__metrics_server_destroy(asylo__metrics_server *server);

#endif
