/* asylo/remote.h: the remote backend and RemoteProvision.
 *
 * With backend "remote" the enclave runs on another machine (or process),
 * inside `asylo-remote-proxy`, which loads it with a local backend there. The
 * host dials the proxy; the proxy never dials back. Every call of one enclave
 * travels on one gRPC connection, one bidirectional stream per calling host
 * thread, so a call and the exit calls nested in it stay on that thread.
 *
 *     asylo_remote_provision *provision;
 *     asylo_local_provision_options local;
 *     asylo_local_provision_options_init(&local);
 *     local.proxy_path = "/usr/local/bin/asylo-remote-proxy"; // cmake --install's
 *     // default; find_package(asylo) gives it as ASYLO_REMOTE_PROXY_PATH
 *     asylo_local_provision_create(&local, &provision, &status);
 *
 *     asylo_remote_config remote;
 *     asylo_remote_config_init(&remote);
 *     remote.provision = provision;
 *     load_config.backend = "remote";
 *     load_config.backend_config = &remote;
 *     asylo_manager_load(manager, &load_config, &client, &status);
 *     ...
 *     asylo_manager_destroy_client(manager, client, NULL, 0, &status);
 *     asylo_remote_provision_destroy(provision);
 *
 * Where exit calls run: logging, files and user handlers on the host (this
 * process); time and randomness on the target, next to the enclave. No raw
 * pointer ever crosses the wire.
 *
 * Failures: if the proxy or the network dies, calls in flight and later calls
 * fail with UNAVAILABLE (within about two seconds: keepalive); nothing waits
 * forever. */
#ifndef ASYLO_REMOTE_H
#define ASYLO_REMOTE_H

#ifdef ASYLO_TRUSTED_H
#error "host headers and asylo/trusted.h (enclave code) cannot be included in one translation unit"
#endif

#include <stddef.h>
#include <stdint.h>

#include "asylo/attestation.h"
#include "asylo/export.h"
#include "asylo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Channel security (Asylo's GrpcChannelBuilder flags) ---------------- */

typedef enum asylo_security_type {
    /* gRPC local credentials: plaintext, accepted only on loopback and unix:
     * addresses unless allow_insecure_non_local is set. */
    ASYLO_SECURITY_LOCAL = 0,
    /* TLS. Mutual TLS only where the server side sets
     * require_client_certificate: clients must then present a certificate
     * chaining to root_certs; others get UNAUTHENTICATED. */
    ASYLO_SECURITY_SSL = 1,
} asylo_security_type;

/* The path strings are borrowed only for the call they are passed to, and
 * may be freed when it returns: asylo_manager_load reads the files of
 * asylo_remote_config.security before it returns (the channel keeps the PEM
 * contents, not the paths), and asylo_local_provision_create and
 * asylo_provision_server_provision_create copy the strings. The files
 * themselves are read when used: a provision's files at each load through
 * it (a local provision's proxy reads its files when it starts). */
typedef struct asylo_security_options {
    /* Set by asylo_security_options_init (or the _init of the struct that
     * holds it): the size the program was compiled with (asylo/version.h). */
    size_t struct_size;
    asylo_security_type type;
    int allow_insecure_non_local;
    const char *server_cert; /* --ssl_server_cert (alias --ssl_cert) */
    const char *server_key;  /* --ssl_server_cred (alias --ssl_key) */
    const char *root_certs;  /* --ssl_root_certs */
    const char *client_cert; /* --ssl_client_cert */
    const char *client_key;  /* --ssl_client_key */
    /* Server side only (a local provision's proxy, a provision server):
     * nonzero requires client certificates chaining to root_certs (mutual
     * TLS). 0 (default): plain TLS, and root_certs is only what a client
     * trusts servers by, so one value parsed from the plain-TLS flags serves
     * both sides. Clients ignore it. The flag parser never sets it; the
     * server programs set it when given --ssl_root_certs. */
    int require_client_certificate;
} asylo_security_options;

/* Parses one argument of the flags above (and --security_type,
 * --allow_insecure_non_local); `next` is the following argument for the
 * "--flag value" form. *consumed: 0 when it is not a security flag, else 1
 * or 2. INVALID_ARGUMENT for a bad value. */
/* Zeroes *options and sets struct_size. */
ASYLO_API void asylo_security_options_init(asylo_security_options *options);
ASYLO_API asylo_code asylo_security_parse_flag(asylo_security_options *options,
                                               const char *argument, const char *next,
                                               int *consumed, asylo_status *status);
/* The --help lines of those flags. */
ASYLO_API const char *asylo_security_usage(void);

/* ---- RemoteProvision ---------------------------------------------------- */

#define ASYLO_REMOTE_ADDRESS_SIZE 256
#define ASYLO_REMOTE_TOKEN_SIZE 128
#define ASYLO_REMOTE_PATH_SIZE 4096

/* Where a provisioned proxy listens. */
typedef struct asylo_remote_endpoint {
    char address[ASYLO_REMOTE_ADDRESS_SIZE];   /* "127.0.0.1:4000", "[::1]:4000", "unix:/p" */
    char token[ASYLO_REMOTE_TOKEN_SIZE];       /* one-time token to present; may be empty */
    char enclave_path[ASYLO_REMOTE_PATH_SIZE]; /* the image's path on the target */
} asylo_remote_endpoint;

/* RemoteProvision: starts a proxy for one enclave and stops it again. One
 * object serves one enclave at a time. Implement it to provision proxies your
 * own way (docs/remote.md shows how); asylo-c ships a local implementation.
 *
 * provision: start a proxy able to load `enclave_path` with `target_backend`
 *   (NULL: the proxy's default backend) and fill *endpoint. Must finish within timeout_ms (or fail
 * with DEADLINE_EXCEEDED). FAILED_PRECONDITION when already provisioned. finalize: stop what
 * provision started and wait for it to end. Safe to call twice and without a provision (then OK,
 * nothing to do). destroy: free the object (finalizing first if needed). */
/* The version of the asylo_remote_provision interface this header defines. */
#define ASYLO_REMOTE_PROVISION_VERSION 1u

typedef struct asylo_remote_provision asylo_remote_provision;
struct asylo_remote_provision {
    /* ASYLO_REMOTE_PROVISION_VERSION, set by the implementation: a later
     * library calls only the functions that version had. 0 or a version newer
     * than the library's is INVALID_ARGUMENT at load. */
    uint32_t version;
    asylo_code (*provision)(asylo_remote_provision *self, const char *enclave_path,
                            const char *target_backend, int64_t timeout_ms,
                            asylo_remote_endpoint *endpoint, asylo_status *status);
    asylo_code (*finalize)(asylo_remote_provision *self, asylo_status *status);
    void (*destroy)(asylo_remote_provision *self);
    /* Room for functions of later versions: leave NULL. */
    void (*reserved[4])(void);
};

/* Destroys a provision (self->destroy); NULL is a no-op. Order does not
 * matter: while an enclave loaded with this provision is still alive, the
 * provision stays usable and its destroy is carried out by the destroy of
 * the last such client, right after that client stopped its proxy. Always
 * destroy a provision through this function, never by calling ->destroy
 * yourself (that bypasses the count of clients using it). */
ASYLO_API void asylo_remote_provision_destroy(asylo_remote_provision *provision);

/* The local implementation: spawns `asylo-remote-proxy` on this machine.
 * It learns the proxy's address over a private pipe (no fixed port), gives it
 * a fresh random token, and the proxy exits by itself if this process dies. */
typedef struct asylo_local_provision_options {
    size_t struct_size; /* set by asylo_local_provision_options_init */
    /* required: the asylo-remote-proxy binary (--remote_proxy); installed as
     * /usr/local/bin/asylo-remote-proxy by default, ASYLO_REMOTE_PROXY_PATH
     * (or $<TARGET_FILE:asylo::remote_proxy>) in CMake after find_package(asylo) */
    const char *proxy_path;
    /* Where the proxy listens: "127.0.0.1:0" (default), "[::1]:0", "unix:" for
     * a socket in a private directory, or any full address. */
    const char *listen_address;
    asylo_security_options security; /* the proxy's (server) side */
    const char *log_level;           /* proxy --log_level; NULL: inherit */
    int64_t start_timeout_ms;        /* 0: 10000 */
} asylo_local_provision_options;

ASYLO_API void asylo_local_provision_options_init(asylo_local_provision_options *options);
/* INVALID_ARGUMENT without proxy_path; NOT_FOUND / PERMISSION_DENIED when it
 * is not an executable file. Strings are copied. */
ASYLO_API asylo_code asylo_local_provision_create(const asylo_local_provision_options *options,
                                                  asylo_remote_provision **provision,
                                                  asylo_status *status);

/* The provision-server implementation: sends the enclave image to an
 * asylo-provision-server on the target machine, which checks it, stores it and
 * starts a proxy for it; finalize releases that proxy (the server then removes
 * the image when no other proxy uses it). The proxy is dialed at the address
 * the server reports when it is routable from here (its --advertise_address),
 * else at the host the server was reached at, on the port the server reports
 * (or its unix: path).
 *
 * server_address may name a fleet: "ipv4:10.0.0.1:4321,10.0.0.2:4321",
 * "ipv6:[fd00::1]:4321,[fd00::2]:4321", the same without the scheme, or
 * "dns:///provision.example:4321" (every address the name resolves to).
 * Provisions then go round-robin (gRPC's round_robin policy); one refused
 * with UNAVAILABLE or RESOURCE_EXHAUSTED is retried on another server within
 * timeout_ms, and when none takes it the status names every server and what
 * it said (RESOURCE_EXHAUSTED when one was full, else UNAVAILABLE). */
typedef struct asylo_provision_server_options {
    size_t struct_size;              /* set by asylo_provision_server_options_init */
    const char *server_address;      /* required: "target.example:4321", a fleet (above) */
    asylo_security_options security; /* this (client) side of the provision channel */
    int64_t timeout_ms;              /* whole provision, upload included; 0: 60000 */
    size_t chunk_size;               /* upload chunk; 0: 1 MiB */
} asylo_provision_server_options;

ASYLO_API void asylo_provision_server_options_init(asylo_provision_server_options *options);
/* INVALID_ARGUMENT without a server address. Strings are copied. */
ASYLO_API asylo_code
asylo_provision_server_provision_create(const asylo_provision_server_options *options,
                                        asylo_remote_provision **provision, asylo_status *status);

/* ---- The remote backend's config ------------------------------------------ */

#define ASYLO_REMOTE_CONFIG_MAGIC UINT32_C(0x52454d31) /* "REM1" */

typedef struct asylo_remote_config {
    size_t struct_size; /* set by asylo_remote_config_init (asylo/version.h) */
    uint32_t magic;     /* set by asylo_remote_config_init: checks the type */
    /* Starts the proxy at load and stops it at destroy. NULL: connect to
     * `address` (a proxy started some other way) presenting `token`. */
    asylo_remote_provision *provision;
    const char *address;
    const char *token;
    /* The backend the proxy uses on the target. NULL (the default): the
     * proxy's own default, which is "process" where the target can run its
     * sandbox and "sim" otherwise (docs/remote.md); a name the proxy was not
     * started with is refused. */
    const char *target_backend;
    asylo_security_options security; /* this (client) side */
    int64_t provision_timeout_ms;    /* 0: 10000 */
    int64_t connect_timeout_ms;      /* 0: 5000 */
    /* Bound on one call from its start, everything nested in it included
     * (exit calls, the host's handlers, entries they make again);
     * DEADLINE_EXCEEDED past it. 0: none (a dead peer is still noticed by
     * keepalive within about 2 s). */
    int64_t call_timeout_ms;
    /* Largest payload (input or output) either way, framing not counted;
     * 0: 64 MiB. Larger inputs fail with RESOURCE_EXHAUSTED before anything
     * is sent. */
    size_t max_message_size;
    /* Opt-in Prometheus metrics of this process's remote enclaves, seen from
     * the host: calls by direction, selector and code, call latency, bytes,
     * enclaves loaded, streams (docs/observability.md lists them).
     * 0 (default): no endpoint; 1..65535: serve http://ADDRESS:PORT/metrics;
     * ASYLO_REMOTE_METRICS_ANY_PORT: a free port (asylo_remote_metrics_address
     * tells which). The endpoint is process-wide: the first load that asks
     * starts it, later loads that ask share it (a different port or address
     * is logged and ignored), and it stops when the last of them is
     * destroyed. Counters keep counting across such restarts. A port that
     * cannot be bound fails the load (UNAVAILABLE / PERMISSION_DENIED). */
    int metrics_port;
    /* Numeric address of that endpoint; NULL: "127.0.0.1" (loopback only).
     * The endpoint has no TLS and no authentication. */
    const char *metrics_address;
    /* Remote attestation (docs/attestation.md, "Remote binding"). Every load
     * asks the proxy, before the enclave's first call, for evidence made by
     * the target's platform for a fresh nonce and bound to this channel, and
     * refuses (UNAUTHENTICATED, naming expected and actual; initialize never
     * runs) a bad, replayed or relayed token or an identity this policy does
     * not accept. Its nonce fields are ignored (each load makes its own).
     * trusted_key_count 0: only this machine's platform key is trusted (a
     * target on the same machine). The load config's expected_measurement and
     * expected_signer_id are checked the same way, also without a policy.
     * NULL and no pins: the identity is only logged (a warning); nothing is
     * refused for it. Borrowed for the load call only. */
    const asylo_attestation_policy *attestation;
} asylo_remote_config;

/* metrics_port value: pick a free port. */
#define ASYLO_REMOTE_METRICS_ANY_PORT (-1)

ASYLO_API void asylo_remote_config_init(asylo_remote_config *config);

/* Where the process-wide remote metrics endpoint listens ("127.0.0.1:9464",
 * "[::1]:9464"), NUL-terminated in address[size]. NOT_FOUND when none runs;
 * RESOURCE_EXHAUSTED when size is too small. */
ASYLO_API asylo_code asylo_remote_metrics_address(char *address, size_t size, asylo_status *status);

#ifdef __cplusplus
}
#endif

#endif
