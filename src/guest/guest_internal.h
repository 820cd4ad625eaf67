/* Between the parts of the guest runtime. */
#ifndef ASYLO_GUEST_GUEST_INTERNAL_H
#define ASYLO_GUEST_GUEST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* memcpy that the compiler cannot turn into a call to itself. */
void asylo__guest_copy(void *to, const void *from, size_t size);

/* Sets up the C environment (none, or musl's) and calls `serve`, which sends
 * READY and serves calls forever. */
void asylo__guest_runtime_start(void (*serve)(void)) __attribute__((noreturn));

#endif
