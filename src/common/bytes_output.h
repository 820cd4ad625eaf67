/* An asylo_output that collects into a bounded asylo__bytes buffer: what both
 * sides use to receive the other side's output. */
#ifndef ASYLO_COMMON_BYTES_OUTPUT_H
#define ASYLO_COMMON_BYTES_OUTPUT_H

#include "asylo/buffer.h"
#include "common/abi.h"
#include "common/bytes.h"

typedef struct asylo__bytes_output {
    struct asylo_output output; /* first: the sink handed out */
    asylo__bytes bytes;
} asylo__bytes_output;

void asylo__bytes_output_init(asylo__bytes_output *collector, size_t limit);
/* Moves the collected bytes into *buffer (which the caller frees with
 * asylo_buffer_free). */
void asylo__bytes_output_release(asylo__bytes_output *collector, asylo_buffer *buffer);
void asylo__bytes_output_fini(asylo__bytes_output *collector);

#endif
