/* The monotonic clock in the units our deadlines use. */
#ifndef ASYLO_COMMON_CLOCK_H
#define ASYLO_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

int64_t asylo__monotonic_ms(void);
int64_t asylo__monotonic_ns(void);
/* *deadline = now + milliseconds on CLOCK_MONOTONIC (for condition variables
 * created with that clock). */
void asylo__timespec_after_ms(struct timespec *deadline, int64_t milliseconds);

#endif
