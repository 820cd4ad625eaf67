/* asylo-provision-server (Asylo's RemoteProxyProvisionServer) as a library:
 * receives enclave images, checks them, and runs an asylo-remote-proxy per
 * provision, within the configured limits. tools/asylo_provision_server.c is
 * its thin main(). */
#ifndef ASYLO_PROVISION_PROVISION_SERVER_H
#define ASYLO_PROVISION_PROVISION_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asylo/remote.h"
#include "provision/image_store.h"
#include "provision/provision_protocol.h"
#include "provision/proxy_process.h"
#include "transport/address.h"
#include "transport/server.h"

#define ASYLO__MAX_ALLOWLIST_ENTRIES 4096
#define ASYLO__IDENTITY_SIZE 256
/* A message's fields besides its image bytes (header, hash, names), with
 * room to spare; a ReleaseRequest is at most this. */
#define ASYLO__PROVISION_MESSAGE_OVERHEAD 4096
#define ASYLO__PROVISION_DEFAULT_CHUNK ((size_t)1 << 20)
#define ASYLO__PROVISION_MAX_CHUNK ((size_t)16 << 20)
/* What gRPC may buffer for all connections together (see
 * asylo__server_options.memory_quota): this, or two of the largest messages
 * if more. 16 concurrent 64 MiB messages then peak at ~100 MB RSS. */
/* Time an upload gets on top of its size at --min_upload_rate. */
#define ASYLO__PROVISION_RATE_GRACE_MS 5000
#define ASYLO__PROVISION_MEMORY_QUOTA ((size_t)16 << 20)

typedef struct asylo__provision_server_options {
    const char *address;    /* where the server listens */
    const char *proxy_path; /* asylo-remote-proxy */
    const char *storage_directory;
    const char *allowed_backend; /* local backend proxies may use */
    uint16_t proxy_port_low;     /* proxies listen on ports in [low, high] */
    uint16_t proxy_port_high;
    uint64_t max_image_size;
    size_t max_proxies;            /* running proxies (uploads not counted) */
    size_t max_proxies_per_client; /* by client certificate identity (mutual TLS) */
    size_t max_uploads;            /* uploads in progress at once */
    const char *allowlist_path;    /* NULL: any image */
    int64_t proxy_load_timeout_ms; /* a proxy nobody loads from exits after this */
    int64_t upload_timeout_ms;     /* longest wait for the next chunk */
    size_t max_chunk_size;         /* largest image bytes in one message */
    /* A whole upload must end within min(upload_deadline_ms,
     * ASYLO__PROVISION_RATE_GRACE_MS + image_size / min_upload_rate s). */
    int64_t upload_deadline_ms;
    uint64_t min_upload_rate; /* bytes per second; 0: no rate bound */
    const char *log_level;    /* for the proxies */
    /* Where clients reach proxies (NAT, Kubernetes pods), as an address
     * whose port is replaced by each proxy's ("pod-0.svc.example:1");
     * reported in each reply. NULL: the address the proxy is bound to. */
    const char *advertise_address;
    asylo_security_options security;
} asylo__provision_server_options;

/* One provisioned proxy (or one being provisioned: an upload holds a slot so
 * concurrent uploads cannot overrun the limits). */
typedef struct asylo__provisioned_proxy {
    char id[33];
    char sha256_hex[ASYLO__SHA256_HEX_SIZE];
    char identity[ASYLO__IDENTITY_SIZE];
    bool running;    /* false while uploading */
    bool proxy_slot; /* counted in proxy_count (else in upload_count) */
    uint16_t port;
    asylo__proxy_process process;
    struct asylo__provisioned_proxy *next;
} asylo__provisioned_proxy;

typedef struct asylo__provision_server {
    asylo__provision_server_options options;
    asylo__address address;
    asylo__image_store store;
    uint8_t (*allowlist)[ASYLO__SHA256_SIZE];
    size_t allowlist_count;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    asylo__provisioned_proxy *proxies;
    size_t proxy_count;  /* proxies running or starting */
    size_t upload_count; /* uploads in progress */
    bool draining;
    /* Observability hook: called after each provision with its result. */
    void (*on_provision)(void *context, asylo_code result, double seconds, uint64_t image_bytes);
    void *on_provision_context;
} asylo__provision_server;

/* Opens the store (cleaning an earlier run's leftovers: stale proxies and
 * images), reads the allowlist. */
asylo_code asylo__provision_server_init(asylo__provision_server *server,
                                        const asylo__provision_server_options *options,
                                        asylo_status *status);
/* The transport options the server needs: its largest message (a chunk and
 * its framing) and a memory quota. */
void asylo__provision_server_transport_options(const asylo__provision_server_options *options,
                                               asylo__server_options *transport);
/* Registers Provision and Release on a transport server. */
asylo_code asylo__provision_server_add_methods(asylo__provision_server *server,
                                               asylo__server *transport, asylo_status *status);
/* Stops taking provisions, asks every proxy to finish (SIGTERM: each
 * finalizes its enclave), waits up to grace_ms, then kills what is left. */
void asylo__provision_server_drain(asylo__provision_server *server, int64_t grace_ms);
void asylo__provision_server_fini(asylo__provision_server *server);
size_t asylo__provision_server_running(asylo__provision_server *server);

/* provision_server.c, for the RPC handlers (provision_rpc.c). Reserve checks
 * the limits and holds a slot; start runs the proxy in it; release drops a
 * slot that never ran. Start is claim (the upload's slot becomes a proxy's,
 * if --max_proxies allows and no drain began), spawn (the process, until it
 * listens; it loads nothing until a host holding its token asks) and
 * register (the server takes charge of it: monitored, stopped by drain);
 * spawn may come before claim; a spawned proxy that is not registered is
 * the caller's to stop before unreserve. */
asylo_code asylo__provision_reserve(asylo__provision_server *server, const char *identity,
                                    const uint8_t sha256[ASYLO__SHA256_SIZE], uint64_t image_size,
                                    const char *backend, asylo__provisioned_proxy **slot,
                                    asylo_status *status);
asylo_code asylo__provision_start(asylo__provision_server *server, asylo__provisioned_proxy *slot,
                                  const char *backend, asylo_status *status);
asylo_code asylo__provision_claim(asylo__provision_server *server, asylo__provisioned_proxy *slot,
                                  asylo_status *status);
asylo_code asylo__provision_spawn(asylo__provision_server *server, asylo__provisioned_proxy *slot,
                                  const char *backend, asylo_status *status);
asylo_code asylo__provision_register(asylo__provision_server *server,
                                     asylo__provisioned_proxy *slot, asylo_status *status);
void asylo__provision_unreserve(asylo__provision_server *server, asylo__provisioned_proxy *slot);
/* Stops the proxy `id` if `token` is its token; waits for it to be gone. */
asylo_code asylo__provision_stop(asylo__provision_server *server, const char *id, const char *token,
                                 asylo_status *status);

#endif
