/* Between the parts of the guest runtime. */
#ifndef ASYLO_GUEST_GUEST_INTERNAL_H
#define ASYLO_GUEST_GUEST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* memcpy that the compiler cannot turn into a call to itself. */
void asylo__guest_copy(void *to, const void *from, size_t size);

/* The C environment's start-up, before READY: given the heap the call arena
 * leaves to it. */
void asylo__guest_runtime_init(uint64_t heap_base, uint64_t heap_end);

#endif
