/* THE plug-in interface: every backend is one const struct of these function
 * pointers, listed in registry.c. The host library reaches backends only
 * through it and knows nothing of their insides; backends never include
 * src/host/. */
#ifndef ASYLO_BACKENDS_BACKEND_H
#define ASYLO_BACKENDS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/buffer.h"
#include "asylo/status.h"

/* Version 2 appended terminate, measurement, the lost callback, limits and
 * the stats report.
 * The core accepts any backend of version 1 or later and reads the v2 fields
 * only from version-2 structs. */
#define ASYLO__BACKEND_INTERFACE_VERSION 2u
#define ASYLO__BACKEND_INTERFACE_MIN_VERSION 1u

/* How a backend delivers the enclave's exit calls to the host. The host's
 * dispatcher runs handlers on the calling thread. */
typedef struct asylo__exit_dispatcher {
    void *context;
    asylo_code (*dispatch)(void *context, uint32_t selector, const uint8_t *input,
                           size_t input_size, asylo_output *output, asylo_status *status);
} asylo__exit_dispatcher;

/* One report of the optional stats hook (asylo__load_request.on_stat). */
typedef enum asylo__backend_stat_kind {
    ASYLO__STAT_ENTER = 1,    /* an entry call into the enclave ended */
    ASYLO__STAT_EXIT = 2,     /* an exit call the host served ended */
    ASYLO__STAT_CHANNELS = 3, /* channels (remote: streams) opened or closed */
} asylo__backend_stat_kind;

typedef struct asylo__backend_stat {
    uint32_t kind; /* asylo__backend_stat_kind */
    uint32_t selector;
    asylo_code code;
    /* Time inside: the enclave's (and the nested exits') for ENTER, the
     * host handler's for EXIT. */
    double seconds;
    /* Payload bytes of the call: into the enclave and out of it (ENTER:
     * input / output; EXIT: the host's reply / the enclave's input). */
    uint64_t bytes_in;
    uint64_t bytes_out;
    int64_t channels_delta; /* CHANNELS only: +1 opened, -1 closed */
} asylo__backend_stat;

typedef struct asylo__load_request {
    const char *name;
    const char *enclave_path;
    int debug;
    const void *backend_config; /* the load config's, unchecked */
    size_t max_output_size;
    asylo__exit_dispatcher exits;
    /* The load config's identity pins: 32 bytes each, or NULL. */
    const uint8_t *expected_measurement;
    const uint8_t *expected_signer_id;
    /* ---- interface v2 ---- */
    /* The backend calls this once, from any thread, when the enclave instance
     * is gone for good (crash, exit, refused system call, terminate); `cause`
     * says what happened. Never called after unload began. */
    void *lost_context;
    void (*on_lost)(void *context, const asylo_status *cause);
    /* Limits from the load config; 0 means the backend's default. Each
     * backend enforces what it can (docs/backends.md says which). */
    uint64_t memory_size;          /* bytes of memory the enclave may use */
    uint32_t max_concurrent_calls; /* calls in flight at once */
    uint64_t stack_size;           /* bytes of stack per enclave thread */
    /* ---- optional stats (appended; NULL where the core takes none) ---- */
    /* The backend reports every call as it ends, and channel changes, from
     * the thread that made them: the core keeps the metrics (calls, bytes,
     * time inside, channels), so backends need no metrics code. A backend
     * may skip the reports (and its clock reads) when its config asked for
     * no metrics (remote does). */
    void *stats_context;
    void (*on_stat)(void *context, const asylo__backend_stat *stat);
    /* The backend's config asks for the process's metrics endpoint
     * (remote: metrics_address, metrics_port; port 0 picks one): the core
     * starts it, or joins the running one, for this enclave's stats. Called
     * from load only; a failure fails the load. */
    asylo_code (*serve_metrics)(void *context, const char *address, int port, asylo_status *status);
} asylo__load_request;

typedef struct asylo__backend {
    uint32_t interface_version;
    const char *name;
    /* One line for errors and docs: what this backend isolates. */
    const char *isolation;
    /* Bytes of private state the host allocates (zeroed) per loaded enclave. */
    size_t state_size;
    /* OK when this backend can run here; otherwise why not (e.g. no /dev/kvm). */
    asylo_code (*probe)(asylo_status *status);
    /* Loads the enclave; must not call initialize (the host does, by enter).
     * On failure everything it acquired is released and unload is not called. */
    asylo_code (*load)(void *state, const asylo__load_request *request, asylo_status *status);
    /* Enters the enclave at `selector`. Thread-safe; may be nested from inside
     * an exit dispatch on the same thread. */
    asylo_code (*enter)(void *state, uint32_t selector, const uint8_t *input, size_t input_size,
                        asylo_output *output, asylo_status *status);
    /* Releases everything load acquired. Cannot fail. */
    void (*unload)(void *state);
    /* Optional (NULL: destroy waits as long as calls take, as it must for a
     * backend that cannot interrupt trusted code). Destroy has begun: returns
     * how long, in ms, destroy may wait for the calls in flight and then the
     * finalize together (0 when the peer is known lost), and bounds the calls
     * entered from now on (the finalize) by the same deadline. */
    int64_t (*destroy_begin)(void *state);
    /* Optional. Destroy gave up waiting: every call in flight must return
     * promptly with an error (host exit handlers running meanwhile excepted)
     * and later calls fail at once. Called at most once, before unload. */
    void (*abandon)(void *state);
    /* ---- interface v2 (NULL where a backend cannot) ---- */
    /* Ends a running enclave that does not return, without waiting for it;
     * calls in flight then return with the lost status. */
    asylo_code (*terminate)(void *state, asylo_status *status);
    /* SHA-256 of the image exactly as loaded. */
    asylo_code (*measurement)(void *state, uint8_t digest[32], asylo_status *status);
} asylo__backend;

/* The registry: NULL when no backend has that name. */
const asylo__backend *asylo__backend_find(const char *name);
const asylo__backend *asylo__backend_at(size_t index);

#endif
