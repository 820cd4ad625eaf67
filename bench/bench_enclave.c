/* The bench enclave: run copies its input to its output; one entry makes a
 * loop of exit calls, one a loop of write(2) calls to stdout. Besides the ABI it exports two plain
 * functions that do the same work without the library (the baselines, see bench_selectors.h).
 *
 * Built also with BENCH_PAD_BYTES set: the same enclave padded to an image of
 * about that size (for provisioning). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asylo/trusted.h"
#include "bench_selectors.h"

#ifdef BENCH_PAD_BYTES
/* Read-only padding that makes the image BENCH_PAD_BYTES larger; .fill keeps
 * the compiler out of it. Non-zero bytes so nothing along the way can treat
 * it as a hole. */
#define BENCH_STRINGIFY2(x) #x
#define BENCH_STRINGIFY(x) BENCH_STRINGIFY2(x)
__asm__(".section .rodata.bench_pad,\"a\"\n"
        ".globl bench_pad\n"
        ".hidden bench_pad\n"
        "bench_pad:\n"
        ".fill " BENCH_STRINGIFY(BENCH_PAD_BYTES) ",1,0x5a\n"
                                                  ".previous\n");
#endif

static asylo_code bench_run(const uint8_t *input, size_t input_size, asylo_output *output,
                            asylo_status *status) {
    return asylo_output_write(output, input, input_size, status);
}

static uint32_t input_count(const uint8_t *input) {
    return (uint32_t)input[0] | (uint32_t)input[1] << 8 | (uint32_t)input[2] << 16 |
           (uint32_t)input[3] << 24;
}

static asylo_code on_write_loop(void *context, const uint8_t *input, size_t input_size,
                                asylo_output *output, asylo_status *status) {
    (void)context, (void)output;
    if (input_size < 4) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "write loop needs a u32 count");
    }
    uint32_t count = input_count(input);
    for (uint32_t i = 0; i < count; i++) {
        ssize_t written = write(STDOUT_FILENO, input + 4, input_size - 4);
        if (written != (ssize_t)(input_size - 4)) {
            return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_ENCLAVE,
                                    "write to stdout returned %zd of %zu bytes", written,
                                    input_size - 4);
        }
    }
    return asylo_status_ok(status);
}

static asylo_code on_exit_loop(void *context, const uint8_t *input, size_t input_size,
                               asylo_output *output, asylo_status *status) {
    (void)context, (void)output;
    if (input_size < 4) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "exit loop needs a u32 count");
    }
    uint32_t count = input_count(input);
    for (uint32_t i = 0; i < count; i++) {
        asylo_buffer reply = {0};
        asylo_code code =
            asylo_enclave_exit_call(BENCH_EXIT_ECHO, input + 4, input_size - 4, &reply, status);
        if (code != ASYLO_OK) {
            return code;
        }
        if (reply.size != input_size - 4) {
            asylo_buffer_free(&reply);
            return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE,
                                    "exit reply of %zu bytes, expected %zu", reply.size,
                                    input_size - 4);
        }
        asylo_buffer_free(&reply);
    }
    return asylo_status_ok(status);
}

static asylo_code bench_initialize(const asylo_enclave_config *config, asylo_status *status) {
    (void)config;
    asylo_code code =
        asylo_enclave_register_entry(BENCH_ENTRY_EXIT_LOOP, on_exit_loop, NULL, status);
    if (code != ASYLO_OK) {
        return code;
    }
    return asylo_enclave_register_entry(BENCH_ENTRY_WRITE_LOOP, on_write_loop, NULL, status);
}

ASYLO_TRUSTED_APPLICATION(bench_initialize, bench_run, NULL);

/* ---- the baselines: exported plain functions ---- */

__attribute__((visibility("default"))) int bench_plain_copy(const uint8_t *input, size_t input_size,
                                                            uint8_t **output, size_t *output_size);
__attribute__((visibility("default"))) int bench_plain_copy(const uint8_t *input, size_t input_size,
                                                            uint8_t **output, size_t *output_size) {
    uint8_t *copy = malloc(input_size > 0 ? input_size : 1);
    if (copy == NULL) {
        return -1;
    }
    memcpy(copy, input, input_size);
    *output = copy;
    *output_size = input_size;
    return 0;
}

__attribute__((visibility("default"))) int bench_plain_exit_loop(bench_plain_copy_fn host_copy,
                                                                 const uint8_t *payload,
                                                                 size_t payload_size,
                                                                 uint32_t count);
__attribute__((visibility("default"))) int bench_plain_exit_loop(bench_plain_copy_fn host_copy,
                                                                 const uint8_t *payload,
                                                                 size_t payload_size,
                                                                 uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        uint8_t *reply = NULL;
        size_t reply_size = 0;
        if (host_copy(payload, payload_size, &reply, &reply_size) != 0) {
            return -1;
        }
        if (reply_size != payload_size) {
            free(reply);
            return -1;
        }
        free(reply);
    }
    return 0;
}
