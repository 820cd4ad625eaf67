/* Bounded byte buffers and a length-checked reader/writer.
 *
 * Everything that crosses the enclave boundary, the network or a file is
 * encoded with these: little-endian fixed-width integers and u32
 * length-prefixed byte strings. The reader never reads past its input and
 * reports a truncated or oversized field instead of trusting it. */
#ifndef ASYLO_COMMON_BYTES_H
#define ASYLO_COMMON_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"

/* A growable buffer that refuses to grow past `limit` bytes. */
typedef struct asylo__bytes {
    uint8_t *data;
    size_t size;
    size_t capacity;
    size_t limit; /* most bytes it may hold; 0 allows none */
} asylo__bytes;

#define ASYLO__BYTES_DEFAULT_LIMIT ((size_t)1 << 30)

static inline void asylo__bytes_init(asylo__bytes *bytes, size_t limit) {
    bytes->data = NULL;
    bytes->size = 0;
    bytes->capacity = 0;
    bytes->limit = limit;
}
/* Frees the data (wiping it first: buffers carry enclave data) and resets. */
void asylo__bytes_fini(asylo__bytes *bytes);
/* Makes room for `size` more bytes and returns where to write them, already
 * counted in bytes->size; NULL with RESOURCE_EXHAUSTED past the limit or
 * when memory runs out. Growing allocates a new block, copies, and wipes and
 * frees the old one (realloc would free it unwiped). */
uint8_t *asylo__bytes_append_space(asylo__bytes *bytes, size_t size, asylo_status *status);
asylo_code asylo__bytes_append(asylo__bytes *bytes, const void *data, size_t size,
                               asylo_status *status);
/* Takes `data` (malloc'd, `size` bytes) as the buffer's whole content
 * without copying, wiping and freeing what the buffer held. RESOURCE_EXHAUSTED
 * when size is over the limit: then nothing changes and data stays the
 * caller's. */
asylo_code asylo__bytes_adopt(asylo__bytes *bytes, uint8_t *data, size_t size,
                              asylo_status *status);
/* Hands the data to the caller (who frees it with free()) and resets. */
uint8_t *asylo__bytes_release(asylo__bytes *bytes, size_t *size);

/* Overwrites memory in a way the compiler may not remove. */
void asylo__secure_zero(void *data, size_t size);
/* Wipes size bytes at data, then free()s it. NULL is a no-op. */
void asylo__secure_free(void *data, size_t size);

/* For tests only: called with every block asylo__secure_free releases, after
 * the wipe and before free(), so a test can check nothing was left behind
 * (growing a buffer included). NULL (the default) calls nothing. Not
 * thread-safe: set it while no other thread uses these buffers. */
typedef void (*asylo__free_hook_fn)(const void *data, size_t size);
void asylo__set_free_hook(asylo__free_hook_fn hook);

/* Writer: appends fields to a buffer. Errors stick: after the first failure
 * every later write is a no-op and asylo__writer_status reports it. */
typedef struct asylo__writer {
    asylo__bytes *bytes;
    asylo_status status;
} asylo__writer;

void asylo__writer_init(asylo__writer *writer, asylo__bytes *bytes);
void asylo__write_u32(asylo__writer *writer, uint32_t value);
void asylo__write_u64(asylo__writer *writer, uint64_t value);
void asylo__write_i64(asylo__writer *writer, int64_t value);
void asylo__write_blob(asylo__writer *writer, const void *data, size_t size);
void asylo__write_string(asylo__writer *writer, const char *text);
asylo_code asylo__writer_status(const asylo__writer *writer, asylo_status *status);

/* Reader over untrusted bytes. Errors stick like the writer's; `what` names
 * the message being decoded so errors say what was malformed. */
typedef struct asylo__reader {
    const uint8_t *data;
    size_t size;
    size_t offset;
    bool failed;
    bool out_of_memory; /* the failure was an allocation, not the input */
    const char *what;
    char error[160];
} asylo__reader;

void asylo__reader_init(asylo__reader *reader, const void *data, size_t size, const char *what);
uint32_t asylo__read_u32(asylo__reader *reader);
uint64_t asylo__read_u64(asylo__reader *reader);
int64_t asylo__read_i64(asylo__reader *reader);
/* Points *data into the input (no copy); fails when the declared length
 * passes the end of the input or max_size. */
void asylo__read_blob(asylo__reader *reader, const uint8_t **data, size_t *size, size_t max_size);
/* Like read_blob but also refuses embedded NULs; returns a malloc'd
 * NUL-terminated copy (NULL on failure). */
char *asylo__read_string(asylo__reader *reader, size_t max_size);
/* INVALID_ARGUMENT when a field failed or bytes are left over;
 * RESOURCE_EXHAUSTED when a copy could not be allocated (the input may be
 * fine: the caller may retry). */
asylo_code asylo__reader_finish(asylo__reader *reader, asylo_status *status);

#endif
