/* The kvm backend's virtual machine monitor: one micro-VM per enclave on
 * /dev/kvm, no devices, no guest operating system. The guest image is a
 * static ELF (src/guest/ + the enclave); the only ways out of it are the port
 * exits in kvm_layout.h. All guest memory is treated as written by a hostile
 * guest: frames are copied out, then checked. */
#ifndef ASYLO_BACKENDS_KVM_KVM_VM_H
#define ASYLO_BACKENDS_KVM_KVM_VM_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/buffer.h"
#include "asylo/status.h"
#include "backends/backend.h"

#define ASYLO__KVM_DEVICE "/dev/kvm"
/* Calls nested more deeply than this (enter → exit → enter ...) are refused
 * with RESOURCE_EXHAUSTED: each level costs host and guest stack. */
#define ASYLO__KVM_MAX_DEPTH 64
/* The shared window at the top of guest memory: frame header + payload
 * (a 1 MiB input or output and then some). */
#define ASYLO__KVM_WINDOW_SIZE ((1u << 20) + (64u << 10))
#define ASYLO__KVM_STACK_SIZE (256u << 10)
/* The largest image file read. */
#define ASYLO__KVM_MAX_IMAGE_SIZE (64u << 20)

typedef struct asylo__kvm_vm asylo__kvm_vm;

typedef struct asylo__kvm_options {
    uint64_t memory_size;   /* bytes of guest memory; 0: ASYLO_KVM_DEFAULT_MEMORY */
    size_t max_output_size; /* largest output an enter returns; 0: no limit */
    asylo__exit_dispatcher exits;
    /* Tests only: one more port ring 3 may use (0: none), to check that the
     * VMM refuses a port it does not know even when the bitmap lets it by. */
    uint16_t test_open_port;
} asylo__kvm_options;

/* Times of the last vm_create, for the bench (nanoseconds). */
typedef struct asylo__kvm_create_times {
    int64_t setup_ns; /* open, VM, memory, image, vCPU */
    int64_t boot_ns;  /* the first KVM_RUN until the guest's READY exit */
} asylo__kvm_create_times;

/* OK when /dev/kvm opens read-write and speaks API 12; otherwise UNAVAILABLE
 * naming /dev/kvm and what is wrong. */
asylo_code asylo__kvm_probe(asylo_status *status);

/* Reads the image at `path`, builds the machine and runs it to its first
 * exit (the guest's READY frame). A shared object (a sim or process image)
 * is refused with INVALID_ARGUMENT naming the variant to build. */
asylo_code asylo__kvm_vm_create(const char *path, const asylo__kvm_options *options,
                                asylo__kvm_vm **vm, asylo__kvm_create_times *times,
                                asylo_status *status);

/* Runs `selector` in the guest with `input`; exit calls go to options->exits
 * and may enter again (nested). timeout_ms > 0 bounds the outermost call: a
 * watchdog signal makes KVM_RUN return and the call fails with
 * DEADLINE_EXCEEDED. A fault, a triple fault, an unknown port or a malformed
 * frame fails the call and marks the VM lost; later calls then fail with
 * FAILED_PRECONDITION repeating why. */
asylo_code asylo__kvm_vm_enter(asylo__kvm_vm *vm, uint32_t selector, const uint8_t *input,
                               size_t input_size, asylo_output *output, int64_t timeout_ms,
                               asylo_status *status);

/* Makes a call in flight (on any thread) return CANCELLED promptly, and
 * later calls fail at once. */
void asylo__kvm_vm_abandon(asylo__kvm_vm *vm);

/* 1 once the VM is lost (fault, triple fault, bad frame, watchdog). */
int asylo__kvm_vm_is_lost(const asylo__kvm_vm *vm);

void asylo__kvm_vm_destroy(asylo__kvm_vm *vm);

/* Tests only: the host's view of guest memory (to break the guest's own
 * tables on purpose). */
uint8_t *asylo__kvm_vm_guest_memory(asylo__kvm_vm *vm, size_t *size);

#endif
