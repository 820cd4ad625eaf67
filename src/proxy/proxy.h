/* The proxy server: serves one enclave to one remote host over the stream
 * protocol (proto/asylo/remote.proto). It loads the enclave through the
 * public host API with a local backend, like any other asylo-c user, and
 * forwards the enclave's exit calls that belong on the host (logging, files,
 * user selectors) back over the stream they came from.
 *
 * One enclave per proxy: the first stream's LOAD names it; that stream is the
 * control stream and its end (the host closing it, or vanishing) ends the
 * proxy. */
#ifndef ASYLO_PROXY_PROXY_H
#define ASYLO_PROXY_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "asylo/manager.h"
#include "metrics/call_cache.h"
#include "protocol/protocol.h"
#include "transport/server.h"
#include "transport/stream_channel.h"

#define ASYLO__PROXY_TOKEN_SIZE 128

typedef struct asylo__proxy_options {
    /* When set, LOAD must name this image (or none): the proxy serves only it. */
    const char *enclave_path;
    /* Local backends LOAD may ask for ("sim" when NULL). */
    const char *allowed_backend;
    /* One-time token every stream must present; empty: none. */
    char token[ASYLO__PROXY_TOKEN_SIZE];
    /* Where to record calls, bytes, streams and the loaded enclave; NULL:
     * nowhere. Must outlive the proxy. */
    const asylo__std_metrics *metrics;
    /* The proxy's TLS certificate (PEM path) under ssl security, else NULL:
     * what remote attestation binds (else the token; channel_binding.h). */
    const char *server_cert;
} asylo__proxy_options;

typedef struct asylo__proxy {
    asylo__proxy_options options;
    asylo_manager *manager;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool loaded;   /* LOAD accepted */
    bool finished; /* the control stream ended: time to go */
    char finish_reason[256];
    asylo_client *client; /* after a successful INITIALIZE */
    char name[ASYLO_MAX_ENCLAVE_NAME_SIZE];
    char backend[32];
    char enclave_path[4096];
    int debug;
    size_t max_output_size;
    atomic_uint_fast64_t next_call_id;
    /* Metrics: series per (direction, selector, code), looked up once. */
    asylo__call_cache calls;
    bool enclave_counted; /* in asylo_enclaves_loaded (under lock) */
    /* The channel binding attestation puts in its user data (from init). */
    uint8_t channel_binding[32];
    /* ATTEST answered for this measurement: INITIALIZE pins it, so the image
     * that runs is the one the host accepted (under lock). */
    bool attested;
    uint8_t attested_measurement[32];
} asylo__proxy;

asylo_code asylo__proxy_init(asylo__proxy *proxy, const asylo__proxy_options *options,
                             asylo_status *status);
/* Destroys the enclave (finalizing it if still running) and frees the rest. */
void asylo__proxy_fini(asylo__proxy *proxy);

/* The Communicate handler (an asylo__server_handler; context: the proxy). */
void asylo__proxy_serve_stream(asylo__server_call *call, void *context);

/* True once the proxy is finishing: new streams are refused (UNAVAILABLE). */
bool asylo__proxy_finishing(asylo__proxy *proxy);
/* Marks the proxy finished (idempotent) with a reason for the log. */
void asylo__proxy_finish(asylo__proxy *proxy, const char *reason);
/* Waits until finished or, before any LOAD, until load_timeout_ms passes
 * (then finishes with that reason). Returns true when a LOAD ever came. */
bool asylo__proxy_wait(asylo__proxy *proxy, int64_t load_timeout_ms);

/* Once finishing (host gone, control stream or fd closed, stop signal, and
 * any drain), shutdown must end within bound_ms whatever the enclave does:
 * a call stuck inside it holds a server thread and the enclave's finalize
 * forever (sim cannot interrupt trusted code). This starts a detached thread
 * that logs and _exit()s with ASYLO__PROXY_WATCHDOG_EXIT_CODE when the
 * process is still alive after bound_ms. */
#define ASYLO__PROXY_EXIT_BOUND_MS 3000
#define ASYLO__PROXY_WATCHDOG_EXIT_CODE 4
void asylo__proxy_start_exit_watchdog(asylo__proxy *proxy, int64_t bound_ms);

/* The enclave's name once LOAD came, else NULL (for log lines). */
const char *asylo__proxy_enclave_name(asylo__proxy *proxy);
/* "run", "initialize", "log", ... or "user" / "unknown", for log lines. */
const char *asylo__proxy_selector_name(uint32_t selector);

/* One host stream being served: the call protocol (src/protocol) over the
 * stream channel, the proxy being the enclave's end. The thread serving the
 * stream runs every ENTER on it, and the enclave's exit calls made during
 * them go back on it (nested ENTERs of the host served in between). */
typedef struct asylo__proxy_stream {
    asylo__proxy *proxy;
    asylo__server_call *call;
    asylo__stream_channel channel;
    asylo__protocol_session session;
    bool is_control; /* it carried LOAD: its end ends the proxy */
    /* Where the next exit call's id goes (then NULL), for its log line. */
    uint64_t *exit_id_sink;
} asylo__proxy_stream;

/* The stream this thread serves (NULL outside one): where exits go. */
asylo__proxy_stream *asylo__proxy_current_stream(void);
void asylo__proxy_set_current_stream(asylo__proxy_stream *stream);

/* exit_forward.c: the exit handlers that send exit calls to the host. */
asylo_code asylo__proxy_forward_exit(void *context, asylo_client *client, uint32_t selector,
                                     const uint8_t *input, size_t input_size, asylo_output *output,
                                     asylo_status *status);

/* proxy_calls.c: serves one entry call of the host (LOAD, ATTEST,
 * INITIALIZE, RUN, FINALIZE, user selectors) on this thread; its output goes
 * to `output`. call_id names it in log lines; *is_control becomes true when
 * it was an accepted LOAD. */
asylo_code asylo__proxy_serve_entry(asylo__proxy *proxy, uint64_t call_id, uint32_t selector,
                                    const uint8_t *input, size_t input_size, bool *is_control,
                                    asylo_output *output, asylo_status *status);

#endif
