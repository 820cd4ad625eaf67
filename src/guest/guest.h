/* The guest runtime's interface to enclave code built for the kvm backend
 * (ring 3 of the micro-VM). The enclave defines asylo_guest_enter; the
 * runtime calls it for every ENTER frame and offers asylo_guest_exit for exit
 * calls to the host. Inputs and outputs live in a per-call arena, not in the
 * window, so nested calls cannot overwrite them. */
#ifndef ASYLO_GUEST_GUEST_H
#define ASYLO_GUEST_GUEST_H

#include <stddef.h>
#include <stdint.h>

typedef struct asylo_guest_call {
    const uint8_t *input;
    size_t input_size;
    uint8_t *output;        /* room for output_capacity bytes */
    size_t output_capacity; /* the window's payload size */
    size_t output_size;     /* set by the handler */
    const char *error;      /* set by a failing handler: a message that outlives it */
    uint32_t origin;        /* set by a failing handler: an asylo_origin (0: enclave) */
} asylo_guest_call;

/* Provided by the enclave: returns an asylo_code (0 = OK). */
int asylo_guest_enter(uint32_t selector, asylo_guest_call *call);

/* Calls the host's exit handler `selector`; nested enters are served while it
 * runs. Returns an asylo_code; on OK *output_size bytes are in output. */
int asylo_guest_exit(uint32_t selector, const void *input, size_t input_size, void *output,
                     size_t output_capacity, size_t *output_size);

/* Like asylo_guest_exit, but on OK the reply is left in the window:
 * *reply points at *reply_size bytes valid until the next crossing (so a
 * caller copies only what came, and needs no window-sized buffer). */
int asylo_guest_exit_in_window(uint32_t selector, const void *input, size_t input_size,
                               const uint8_t **reply, size_t *reply_size);

/* Sleeps in the host (a SLEEP frame): other host threads' calls may enter
 * this guest meanwhile, nested on this call. Returns an asylo_code. */
int asylo_guest_sleep(uint64_t seconds, uint64_t nanoseconds);

/* The last error message from the host (an ERROR frame), NUL-terminated,
 * and its asylo_origin. */
const char *asylo_guest_last_error(void);
uint32_t asylo_guest_last_origin(void);

/* The payload bytes a frame can carry. */
size_t asylo_guest_window_payload(void);

/* Optional (weak): run once the C environment is up, before READY; nonzero
 * fails the boot. The trusted-runtime bridge attaches the enclave here. */
int asylo_guest_start(void);

/* A raw x86-64 system call, as the C library makes it. */
long asylo_guest_syscall(long number, long a0, long a1, long a2, long a3, long a4, long a5);

#endif
