/* A TCP forwarder on loopback that injects the network faults toxiproxy
 * offers, for tests of the remote backend (this kernel has no netem). It
 * runs in the test's process: one accept thread, two forwarding threads per
 * connection (one per direction). Every wait is bounded; stop closes all. */
#ifndef ASYLO_TESTS_FAULTS_FAULT_PROXY_H
#define ASYLO_TESTS_FAULTS_FAULT_PROXY_H

#include <stddef.h>
#include <stdint.h>

typedef enum fault_kind {
    FAULT_NONE,
    FAULT_LATENCY,    /* each chunk held latency_ms +- jitter_ms, both ways */
    FAULT_BANDWIDTH,  /* at most rate_bytes_per_s each way */
    FAULT_STALL,      /* after after_bytes, hold everything for stall_ms, then go on */
    FAULT_SLOW_CLOSE, /* a close is passed on only after stall_ms */
    FAULT_SLICER,     /* writes of slice_bytes with slice_delay_us between */
    FAULT_LIMIT_DATA, /* after after_bytes in a direction, close both sides (FIN) */
    FAULT_RESET,      /* after after_bytes in a direction, reset both sides (RST) */
} fault_kind;

typedef struct fault_config {
    fault_kind kind;
    int latency_ms;
    int jitter_ms;
    size_t rate_bytes_per_s;
    size_t after_bytes;
    int stall_ms;
    size_t slice_bytes;
    int slice_delay_us;
} fault_config;

typedef struct fault_proxy fault_proxy;

/* Listens on 127.0.0.1:0 and forwards every connection to 127.0.0.1:port.
 * Returns NULL (with a message on stderr) on failure. */
fault_proxy *fault_proxy_start(int upstream_port, const fault_config *config);
/* "127.0.0.1:PORT" of the listening side. */
const char *fault_proxy_address(const fault_proxy *proxy);
/* Connections accepted and faults fired so far. */
int fault_proxy_connections(const fault_proxy *proxy);
int fault_proxy_fired(const fault_proxy *proxy);
/* Closes the listener and every connection, joins every thread. */
void fault_proxy_stop(fault_proxy *proxy);

const char *fault_kind_name(fault_kind kind);

#endif
