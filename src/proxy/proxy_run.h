/* The life of one asylo-remote-proxy process, for tools/asylo_remote_proxy.c
 * (whose main() only parses flags): reads the one-time token (control fd or
 * file), starts observability, the proxy and its gRPC server (the
 * Communicate method and the health service), reports its address, then
 * serves until the proxy finishes (host gone, control fd closed, SIGTERM or
 * SIGINT: a second one cuts the drain short), drains, and shuts down within
 * ASYLO__PROXY_EXIT_BOUND_MS. */
#ifndef ASYLO_PROXY_PROXY_RUN_H
#define ASYLO_PROXY_PROXY_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "asylo/remote.h"
#include "observability/observability.h"

/* The service name the health check answers besides "". */
#define ASYLO__PROXY_HEALTH_SERVICE "asylo.remote.RemoteEnclaveProxy"

typedef struct asylo__proxy_run_options {
    const char *address;      /* where to listen ("127.0.0.1:0", "unix:/p", ...) */
    const char *enclave_path; /* serve only this image; NULL: what LOAD names */
    const char *backend;      /* the local backend LOAD may ask for */
    const char *token_file;   /* one-time token in a file; NULL: none */
    /* Provisioning pipe: 'token T' is read from it, 'ready ADDR' or 'error
     * CODE MESSAGE' written to it, and its end ends the proxy; < 0: none
     * (the address and metrics URL then go to stdout). */
    int control_fd;
    int64_t load_timeout_ms; /* exit 3 when no host loads in time */
    int64_t drain_ms;        /* keep answering (NOT_SERVING) this long once finishing */
    bool owns_socket_dir;    /* remove a unix socket's directory at exit */
    const asylo_security_options *security;
    const asylo__observability_flags *observability;
} asylo__proxy_run_options;

/* Blocks the stop signals (before gRPC starts threads) and runs the proxy to
 * its end. Returns the process exit code: 0 served a host, 3 nobody loaded
 * in time, 1 could not start (logged, and reported on the control fd). */
int asylo__proxy_run(const asylo__proxy_run_options *flags);

#endif
