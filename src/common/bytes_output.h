/* An asylo_output that collects into a bounded asylo__bytes buffer: what both
 * sides use to receive the other side's output.
 *
 * The sink remembers a refused reserve (over the limit, or out of memory):
 * a writer may ignore that RESOURCE_EXHAUSTED and return OK, and what was
 * collected is then a silently truncated output. asylo__bytes_output_verdict
 * turns such an OK back into the failure, so the receiving side decides
 * whatever the writer claims. */
#ifndef ASYLO_COMMON_BYTES_OUTPUT_H
#define ASYLO_COMMON_BYTES_OUTPUT_H

#include <stdbool.h>

#include "asylo/buffer.h"
#include "common/abi.h"
#include "common/bytes.h"

typedef struct asylo__bytes_output {
    struct asylo_output output; /* first: the sink handed out */
    asylo__bytes bytes;
    bool refused;         /* a reserve failed: the collected bytes are incomplete */
    asylo_status failure; /* why the first refused reserve failed */
} asylo__bytes_output;

/* The collector's bookkeeping is inline: it runs on every entry and exit
 * call, and as out-of-line calls it cost as much as the copy of a small
 * output (the slow paths stay in bytes_output.c). */
uint8_t *asylo__bytes_output_reserve(struct asylo_output *output, size_t size,
                                     asylo_status *status);

static inline void asylo__bytes_output_init(asylo__bytes_output *collector, size_t limit) {
    collector->output.reserve = asylo__bytes_output_reserve;
    asylo__bytes_init(&collector->bytes, limit);
    collector->refused = false;
    /* Read only when refused is set, which also writes it. */
    collector->failure.code = ASYLO_OK;
}

asylo_code asylo__bytes_output_refused(const asylo__bytes_output *collector, const char *writer,
                                       const char *name, asylo_status *status);

/* The writer's `code`, unless it is OK while a reserve was refused: then
 * the first refusal (RESOURCE_EXHAUSTED naming the limit) in *status,
 * prefixed "<writer> '<name>' returned OK but its output was refused" (name
 * may be NULL). */
static inline asylo_code asylo__bytes_output_verdict(const asylo__bytes_output *collector,
                                                     asylo_code code, const char *writer,
                                                     const char *name, asylo_status *status) {
    if (code != ASYLO_OK || !collector->refused) {
        return code;
    }
    return asylo__bytes_output_refused(collector, writer, name, status);
}

/* Moves the collected bytes into *buffer (which the caller frees with
 * asylo_buffer_free): the block the writer wrote into, no copy. */
static inline void asylo__bytes_output_release(asylo__bytes_output *collector,
                                               asylo_buffer *buffer) {
    buffer->data = asylo__bytes_release(&collector->bytes, &buffer->size);
}

static inline void asylo__bytes_output_fini(asylo__bytes_output *collector) {
    if (collector->bytes.data != NULL) {
        asylo__bytes_fini(&collector->bytes);
    }
}

/* An asylo_output that passes every reserve on to `inner` and counts the
 * bytes granted: the size of an output one does not own, for metrics. */
typedef struct asylo__counting_output {
    struct asylo_output output; /* first: the sink handed out */
    asylo_output *inner;
    size_t size;
} asylo__counting_output;

void asylo__counting_output_init(asylo__counting_output *counter, asylo_output *inner);

/* Appends buffer's bytes to output and empties buffer (freeing it as asylo_buffer_free does).
 * When output is an empty collector of this file, the collector takes the
 * block without copying (a large enclave output crosses the proxy with no
 * extra copy); otherwise the bytes are written as by asylo_output_write. A
 * refusal (over the limit) is recorded like a refused write. */
asylo_code asylo__output_take(asylo_output *output, asylo_buffer *buffer, asylo_status *status);

#endif
