/* Memory settings for the long-running server binaries. */
#ifndef ASYLO_TOOLS_SERVER_MEMORY_H
#define ASYLO_TOOLS_SERVER_MEMORY_H

/* Keeps freed payload buffers for reuse instead of returning them to the
 * kernel after every call. Measured here: glibc's defaults trimmed and
 * unmapped per call and faulted the pages back in on the next, which made a
 * 64 KiB remote round trip 7x slower than needed. Buffers up to 4 MiB now
 * come from the heap, and up to 64 MiB of free heap is kept. Only binaries
 * call this: a library must not change its host's allocator. */
void asylo__tune_server_memory(void);

#endif
