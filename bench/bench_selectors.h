/* Shared by the bench enclave and the bench: entry selectors and the plain
 * (non-ABI) functions the enclave exports for the baselines. */
#ifndef ASYLO_BENCH_SELECTORS_H
#define ASYLO_BENCH_SELECTORS_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/selectors.h"

/* Entry: input = u32 count (little-endian) + payload. Makes `count` exit
 * calls with selector BENCH_EXIT_ECHO and the payload, freeing each reply.
 * Output: empty. */
#define BENCH_ENTRY_EXIT_LOOP (ASYLO_SELECTOR_USER_FIRST + 1)
/* Entry: input = u32 count (little-endian) + payload. Writes the payload to
 * standard output with the C library's write(2) `count` times: a POSIX call
 * the backend forwards to the host (kvm: the guest's system call, one exit).
 * Output: empty. */
#define BENCH_ENTRY_WRITE_LOOP (ASYLO_SELECTOR_USER_FIRST + 3)
/* Exit: the host handler copies its input to its output. */
#define BENCH_EXIT_ECHO (ASYLO_SELECTOR_USER_FIRST + 2)

/* Baseline of run: what run does (copy input to a freshly allocated output
 * of the same size), without the library: malloc + memcpy. */
#define BENCH_PLAIN_COPY_SYMBOL "bench_plain_copy"
typedef int (*bench_plain_copy_fn)(const uint8_t *input, size_t input_size, uint8_t **output,
                                   size_t *output_size);

/* Baseline of the exit loop: the same loop calling a host function pointer
 * (which does malloc + memcpy) instead of asylo_enclave_exit_call. */
#define BENCH_PLAIN_EXIT_LOOP_SYMBOL "bench_plain_exit_loop"
typedef int (*bench_plain_exit_loop_fn)(bench_plain_copy_fn host_copy, const uint8_t *payload,
                                        size_t payload_size, uint32_t count);

#endif
