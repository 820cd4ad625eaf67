/* gRPC's own log lines through asylo-c's logger. */
#ifndef ASYLO_TRANSPORT_GRPC_LOG_H
#define ASYLO_TRANSPORT_GRPC_LOG_H

/* Routes gRPC's log (gpr_log: "E1201 ... ssl_transport_security.cc ...")
 * into asylo__log with component "grpc", in asylo-c's line format and under
 * its level (asylo_log_set_level, --log_level, $ASYLO_LOG_LEVEL). The hook is
 * installed once; each call also sets gRPC's verbosity from asylo-c's current
 * level, so gRPC does not format lines that would be dropped. Called by
 * asylo__grpc_acquire after grpc_init (gRPC's init reads $GRPC_VERBOSITY
 * only when nobody set a verbosity, so ours holds). */
void asylo__grpc_log_install(void);

#endif
