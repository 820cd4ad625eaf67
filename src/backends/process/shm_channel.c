/* The shared-memory channel (shm_channel.h). */
#include "backends/process/shm_channel.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* How long a reader spins before it sleeps. A reply from a peer running on
 * another free core comes in well under a microsecond, so a short spin
 * catches it without a sleep; on a loaded machine a longer spin only burns
 * the time the peer needs (measured here: a 30 us spin made a warm call
 * 5x slower than plain futex waits under load), so keep it short. */
#define SPIN_NANOSECONDS 5000L
/* A sleeping host re-checks `stopped` at least this often. */
#define HOST_WAIT_NANOSECONDS 50000000L

static size_t round_up(size_t value, size_t unit) {
    return (value + unit - 1) / unit * unit;
}

size_t asylo__shm_mailbox_stride(size_t slot_payload_size) {
    return round_up(sizeof(asylo__shm_mailbox), 64) + round_up(slot_payload_size, 64);
}

size_t asylo__shm_region_size(uint32_t slot_count, size_t slot_payload_size) {
    return round_up(ASYLO__SHM_HEADER_SIZE +
                        (size_t)slot_count * 2 * asylo__shm_mailbox_stride(slot_payload_size),
                    4096);
}

asylo__shm_mailbox *asylo__shm_mailbox_at(void *region, size_t slot_payload_size, uint32_t slot,
                                          int to_host) {
    size_t offset = ASYLO__SHM_HEADER_SIZE + ((size_t)slot * 2 + (to_host ? 1 : 0)) *
                                                 asylo__shm_mailbox_stride(slot_payload_size);
    return (asylo__shm_mailbox *)((uint8_t *)region + offset);
}

static uint8_t *payload_of(asylo__shm_mailbox *mailbox) {
    return (uint8_t *)mailbox + round_up(sizeof(asylo__shm_mailbox), 64);
}

void asylo__shm_futex_wake(_Atomic uint32_t *word) {
    syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void asylo__shm_futex_wait(_Atomic uint32_t *word, uint32_t expected, long timeout_ns) {
    struct timespec timeout = {timeout_ns / 1000000000L, timeout_ns % 1000000000L};
    syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout_ns > 0 ? &timeout : NULL, NULL, 0);
}

static long elapsed_ns(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000000000L + (now.tv_nsec - start->tv_nsec);
}

static asylo_code shm_send(void *context, const asylo__protocol_frame *frame,
                           asylo_status *status) {
    asylo__shm_endpoint *endpoint = context;
    if (frame->payload_size > endpoint->capacity) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "frame payload of %zu bytes exceeds the shared-memory slot of %zu "
                                "bytes",
                                frame->payload_size, endpoint->capacity);
    }
    asylo__shm_mailbox *out = endpoint->out;
    /* Calls on a slot alternate, so the peer has already emptied this
     * mailbox; a peer that meddles with `full` only breaks its own calls. */
    out->kind = frame->kind;
    out->selector = frame->selector;
    out->call_id = frame->call_id;
    out->parent_call_id = frame->parent_call_id;
    out->payload_size = frame->payload_size;
    out->code = (int32_t)frame->status.code;
    out->origin = (int32_t)frame->status.origin;
    memcpy(out->message, frame->status.message, sizeof out->message);
    out->message[sizeof out->message - 1] = '\0';
    if (frame->payload_size != 0) {
        memcpy(payload_of(out), frame->payload, frame->payload_size);
    }
    atomic_store(&out->full, 1);
    if (atomic_load(&out->sleeping) != 0) {
        asylo__shm_futex_wake(&out->full);
    }
    return ASYLO_OK;
}

/* Waits until the incoming mailbox is full: spin, then futex. */
static asylo_code wait_full(asylo__shm_endpoint *endpoint, asylo_status *status) {
    asylo__shm_mailbox *in = endpoint->in;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (unsigned spins = 0;; spins++) {
        if (atomic_load_explicit(&in->full, memory_order_acquire) == 1) {
            return ASYLO_OK;
        }
        if ((spins & 63) == 63 && elapsed_ns(&start) > SPIN_NANOSECONDS) {
            break;
        }
        __builtin_ia32_pause();
    }
    for (;;) {
        if (endpoint->stopped != NULL) {
            asylo_code code = endpoint->stopped(endpoint->stopped_context, status);
            if (code != ASYLO_OK) {
                return code;
            }
        }
        atomic_store(&in->sleeping, 1);
        if (atomic_load(&in->full) == 1) {
            atomic_store(&in->sleeping, 0);
            return ASYLO_OK;
        }
        asylo__shm_futex_wait(&in->full, 0, endpoint->stopped != NULL ? HOST_WAIT_NANOSECONDS : 0);
        atomic_store(&in->sleeping, 0);
        if (atomic_load_explicit(&in->full, memory_order_acquire) == 1) {
            return ASYLO_OK;
        }
    }
}

static asylo_code shm_receive(void *context, asylo__protocol_frame *frame, asylo_status *status) {
    asylo__shm_endpoint *endpoint = context;
    memset(frame, 0, sizeof *frame);
    asylo_code code = wait_full(endpoint, status);
    if (code != ASYLO_OK) {
        return code;
    }
    /* One copy of the header; from here on only the copy is read. */
    asylo__shm_mailbox copy;
    memcpy(&copy, endpoint->in, sizeof copy);
    if (copy.payload_size > endpoint->capacity) {
        atomic_store(&endpoint->in->full, 0);
        return asylo_status_set(status, ASYLO_INTERNAL, endpoint->peer_origin,
                                "protocol violation: a frame claims %llu payload bytes in a "
                                "%zu-byte shared-memory slot",
                                (unsigned long long)copy.payload_size, endpoint->capacity);
    }
    if (copy.payload_size != 0) {
        frame->owned_ = malloc(copy.payload_size);
        if (frame->owned_ == NULL) {
            atomic_store(&endpoint->in->full, 0);
            return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                    "out of memory for a %llu-byte frame",
                                    (unsigned long long)copy.payload_size);
        }
        memcpy(frame->owned_, payload_of(endpoint->in), copy.payload_size);
    }
    atomic_store(&endpoint->in->full, 0);
    frame->payload = frame->owned_;
    frame->payload_size = copy.payload_size;
    frame->kind = copy.kind;
    frame->selector = copy.selector;
    frame->call_id = copy.call_id;
    frame->parent_call_id = copy.parent_call_id;
    frame->status.code = (asylo_code)copy.code;
    frame->status.origin = (asylo_origin)copy.origin;
    memcpy(frame->status.message, copy.message, sizeof frame->status.message);
    frame->status.message[sizeof frame->status.message - 1] = '\0';
    return ASYLO_OK;
}

void asylo__shm_endpoint_init(asylo__shm_endpoint *endpoint, void *region, size_t slot_payload_size,
                              uint32_t slot, int is_host, asylo__shm_stopped_fn stopped,
                              void *stopped_context) {
    memset(endpoint, 0, sizeof *endpoint);
    endpoint->out = asylo__shm_mailbox_at(region, slot_payload_size, slot, !is_host);
    endpoint->in = asylo__shm_mailbox_at(region, slot_payload_size, slot, is_host);
    endpoint->capacity = slot_payload_size;
    endpoint->stopped = stopped;
    endpoint->stopped_context = stopped_context;
    endpoint->peer_origin = is_host ? ASYLO_ORIGIN_ENCLAVE : ASYLO_ORIGIN_HOST;
    endpoint->channel = (asylo__protocol_channel){.context = endpoint,
                                                  .send = shm_send,
                                                  .receive = shm_receive,
                                                  .max_payload_size = slot_payload_size};
}

void asylo__shm_wake_all(void *region, uint32_t slot_count, size_t slot_payload_size) {
    for (uint32_t slot = 0; slot < slot_count; slot++) {
        asylo__shm_futex_wake(&asylo__shm_mailbox_at(region, slot_payload_size, slot, 1)->full);
    }
}
