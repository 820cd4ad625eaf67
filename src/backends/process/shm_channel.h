/* The shared-memory region between the host and one sandboxed enclave runner,
 * and a protocol channel (src/protocol) over one slot of it.
 *
 * One memfd per enclave, mapped by both. A page of header (sizes, limits, the
 * runner's start-up result and its crash report), then one slot pair per
 * concurrent call: a mailbox host -> enclave and one enclave -> host, each
 * holding one bounded frame with its payload inline. Calls on one slot
 * strictly alternate, so a mailbox is a single-frame buffer with a `full`
 * word: the writer fills it and sets full, the reader copies it out and
 * clears full. Waiting spins for a few tens of microseconds, then sleeps on
 * the `full` word with a shared futex (never a spin without that fallback:
 * with both sides on one core, spinning alone costs milliseconds per call).
 *
 * The region is writable by the enclave: each reader copies the fixed-size
 * frame header into private memory first and validates and uses only that
 * copy (no second read of a size), then copies the payload out. */
#ifndef ASYLO_BACKENDS_PROCESS_SHM_CHANNEL_H
#define ASYLO_BACKENDS_PROCESS_SHM_CHANNEL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"
#include "protocol/protocol.h"

#define ASYLO__SHM_MAGIC UINT32_C(0x41534d31) /* "ASM1" */
#define ASYLO__SHM_VERSION UINT32_C(1)
#define ASYLO__SHM_HEADER_SIZE ((size_t)4096)

/* The runner's fixed file descriptors. */
#define ASYLO__RUNNER_REGION_FD 3
#define ASYLO__RUNNER_IMAGE_FD 4
#define ASYLO__RUNNER_LIVENESS_FD 5

enum {
    ASYLO__SHM_STARTING = 0,
    ASYLO__SHM_READY = 1,
    ASYLO__SHM_FAILED = 2,
};

enum {
    ASYLO__SHM_REPORT_NONE = 0,
    ASYLO__SHM_REPORT_SIGNAL = 1,  /* a fatal signal: report_signal, report_address */
    ASYLO__SHM_REPORT_SYSCALL = 2, /* seccomp refused report_syscall at report_address */
    /* The runner was ended by report_signal without reporting it itself (a
     * signal sent, not a fault it caught); written by the namespace's init. */
    ASYLO__SHM_REPORT_ENDED = 3,
};

/* Sandbox flags of the header. */
#define ASYLO__SHM_ALLOW_WEAKER UINT32_C(1)
#define ASYLO__SHM_NAMESPACES UINT32_C(2)    /* the runner is in its own namespaces */
#define ASYLO__SHM_FORWARD_POSIX UINT32_C(4) /* forward POSIX file calls as exit calls */

typedef struct asylo__shm_header {
    uint32_t magic;
    uint32_t version;
    uint32_t slot_count;
    uint32_t flags;
    uint64_t slot_payload_size; /* payload bytes one mailbox holds */
    uint64_t region_size;
    uint64_t memory_limit;  /* RLIMIT_AS of the runner; 0 = none */
    uint64_t stack_size;    /* per enclave thread; 0 = default */
    uint64_t open_files;    /* RLIMIT_NOFILE */
    _Atomic uint32_t ready; /* ASYLO__SHM_STARTING/READY/FAILED, a futex word */
    uint32_t reserved;
    char ready_message[512]; /* why start-up failed */
    /* Written once by the runner's fatal-signal handler before it exits. */
    _Atomic uint32_t report_kind;
    int32_t report_signal;
    int32_t report_syscall;
    uint32_t report_arch;
    uint64_t report_address;
} asylo__shm_header;

typedef struct asylo__shm_mailbox {
    _Atomic uint32_t full;     /* futex word: 1 while a frame waits */
    _Atomic uint32_t sleeping; /* the reader is (about to be) in FUTEX_WAIT */
    uint32_t kind;
    uint32_t selector;
    uint64_t call_id;
    uint64_t parent_call_id;
    uint64_t payload_size;
    int32_t code;
    int32_t origin;
    char message[ASYLO_STATUS_MESSAGE_SIZE];
} asylo__shm_mailbox;

/* Bytes of one mailbox with its payload, and of a whole region. */
size_t asylo__shm_mailbox_stride(size_t slot_payload_size);
size_t asylo__shm_region_size(uint32_t slot_count, size_t slot_payload_size);
asylo__shm_mailbox *asylo__shm_mailbox_at(void *region, size_t slot_payload_size, uint32_t slot,
                                          int to_host);

/* Answers whether the peer is gone (then fills *status): how a waiting host
 * stops when the enclave dies. NULL in the runner. */
typedef asylo_code (*asylo__shm_stopped_fn)(void *context, asylo_status *status);

typedef struct asylo__shm_endpoint {
    asylo__shm_mailbox *out;
    asylo__shm_mailbox *in;
    size_t capacity;
    asylo__shm_stopped_fn stopped;
    void *stopped_context;
    asylo_origin peer_origin;
    asylo__protocol_channel channel; /* ready to hand to a protocol session */
} asylo__shm_endpoint;

/* Sets up one end of slot `slot` (to_host: this end receives host-bound
 * frames, i.e. it is the host). */
void asylo__shm_endpoint_init(asylo__shm_endpoint *endpoint, void *region, size_t slot_payload_size,
                              uint32_t slot, int is_host, asylo__shm_stopped_fn stopped,
                              void *stopped_context);

/* Wakes every reader sleeping on a host-bound mailbox (after the peer died). */
void asylo__shm_wake_all(void *region, uint32_t slot_count, size_t slot_payload_size);

/* Futex helpers on shared memory (not FUTEX_PRIVATE). */
void asylo__shm_futex_wake(_Atomic uint32_t *word);
void asylo__shm_futex_wait(_Atomic uint32_t *word, uint32_t expected, long timeout_ns);

#endif
