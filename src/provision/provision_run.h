/* The life of one asylo-provision-server process, for
 * tools/asylo_provision_server.c (whose main() only parses flags): starts the
 * provision server, observability, its gRPC server (provisioning methods and
 * the health service) and the optional plaintext health listener, prints the
 * addresses, serves until SIGTERM or SIGINT, then drains (health:
 * NOT_SERVING) and stops. */
#ifndef ASYLO_PROVISION_PROVISION_RUN_H
#define ASYLO_PROVISION_PROVISION_RUN_H

#include "observability/observability.h"
#include "provision/provision_server.h"

/* health_address: a second, plaintext listener for health checks only
 * (NULL: none). Blocks the stop signals before gRPC starts threads. Returns
 * the process exit code: 0 after a drain, 1 when it could not start (logged). */
int asylo__provision_server_run(const asylo__provision_server_options *options,
                                const char *health_address,
                                const asylo__observability_flags *observability_flags);

#endif
