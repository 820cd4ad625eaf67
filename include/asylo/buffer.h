/* asylo/buffer.h: bytes handed from the library to its caller, and the output
 * sink that entry and exit handlers write their results into. */
#ifndef ASYLO_BUFFER_H
#define ASYLO_BUFFER_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/export.h"
#include "asylo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes the library allocated for the caller. The caller owns `data` and frees
 * it with asylo_buffer_free. A zero-initialised buffer is empty and safe to
 * free. */
typedef struct asylo_buffer {
    uint8_t *data;
    size_t size;
} asylo_buffer;

/* Frees buffer->data and resets it to empty. NULL is a no-op. Inside an
 * enclave it wipes the bytes first (they may be secrets the enclave keeps
 * from the host). On the host it does not: the bytes are output the enclave
 * handed over, the host's from then on; a host that treats them as secret
 * frees them with asylo_buffer_wipe_free. Every copy the library makes on
 * the way (frames, channel windows, grown buffers) is wiped either way. */
ASYLO_API void asylo_buffer_free(asylo_buffer *buffer);
/* Wipes buffer->data, then frees it like asylo_buffer_free. */
ASYLO_API void asylo_buffer_wipe_free(asylo_buffer *buffer);

/* Where a handler writes its result. The caller of the handler owns the
 * memory; the handler only appends. Output is bounded (the load config's
 * max_output_size): appending past the bound fails with RESOURCE_EXHAUSTED and
 * the handler should return that status. Not thread-safe: one handler writes
 * one output. */
typedef struct asylo_output asylo_output;

/* Appends `size` bytes of room and returns where to write them, or NULL (with
 * *status set) when the bound or memory is exhausted. */
ASYLO_API uint8_t *asylo_output_reserve(asylo_output *output, size_t size, asylo_status *status);
/* Appends a copy of data[0..size). */
ASYLO_API asylo_code asylo_output_write(asylo_output *output, const void *data, size_t size,
                                        asylo_status *status);

#ifdef __cplusplus
}
#endif

#endif
