/* The binary interface between a host-side backend and the trusted runtime
 * inside an enclave image.
 *
 * An enclave image exports exactly one symbol, `asylo_enclave_abi`, a struct
 * the backend checks (magic, version, size) before calling anything. The
 * backend then attaches its host interface (how the enclave makes exit calls)
 * and enters the enclave by selector. Output crosses the boundary through an
 * asylo_output sink owned by the side that will keep the bytes, so neither side
 * ever frees the other's memory and no raw pointer needs to outlive a call.
 *
 * Bump ASYLO__ABI_VERSION on any change to these structs or their meaning. */
#ifndef ASYLO_COMMON_ABI_H
#define ASYLO_COMMON_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/buffer.h"
#include "asylo/status.h"

#define ASYLO__ABI_MAGIC UINT32_C(0x41534c4f) /* "ASLO" */
#define ASYLO__ABI_VERSION UINT32_C(1)
#define ASYLO__ABI_SYMBOL "asylo_enclave_abi"

/* The sink behind asylo_output (see asylo/buffer.h). */
struct asylo_output {
    uint8_t *(*reserve)(struct asylo_output *output, size_t size, asylo_status *status);
};

/* Given to the enclave at attach: how it reaches the host. */
typedef struct asylo__host_interface {
    uint32_t abi_version;
    void *context;
    asylo_code (*exit_call)(void *context, uint32_t selector, const uint8_t *input,
                            size_t input_size, asylo_output *output, asylo_status *status);
} asylo__host_interface;

/* Exported by every enclave image under ASYLO__ABI_SYMBOL. */
typedef struct asylo__enclave_abi {
    uint32_t magic;
    uint32_t abi_version;
    uint32_t struct_size;
    asylo_code (*attach)(const asylo__host_interface *host, asylo_status *status);
    asylo_code (*enter)(uint32_t selector, const uint8_t *input, size_t input_size,
                        asylo_output *output, asylo_status *status);
} asylo__enclave_abi;

#endif
