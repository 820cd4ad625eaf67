/* Builds the guest's memory before its first instruction: the image's
 * segments, identity-mapped page tables, GDT, IDT, TSS with its I/O bitmap,
 * the TLS page with its stack canary and the boot info page. Pure memory
 * work, no /dev/kvm, so it is unit-testable anywhere. */
#ifndef ASYLO_BACKENDS_KVM_KVM_MACHINE_H
#define ASYLO_BACKENDS_KVM_KVM_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"

typedef struct asylo__kvm_machine {
    uint64_t boot_rip;      /* ring-0 boot stub */
    uint64_t syscall_entry; /* LSTAR */
    uint64_t user_entry;    /* ring-3 entry (the ELF entry) */
    uint64_t stack_top;
    uint64_t tls_base; /* FS base */
    uint64_t window_base;
    uint64_t window_size;
    uint64_t libc_heap_base; /* served by kvm_syscall's brk and mmap */
    uint64_t libc_heap_end;
} asylo__kvm_machine;

/* Lays `image` (a whole ELF file) out in `memory` (memory_size bytes, zeroed)
 * and fills *machine. `open_port` (0: none) is one more port ring 3 may use.
 * A malformed image, or one that is not a kvm image, is INVALID_ARGUMENT
 * naming `path`. */
asylo_code asylo__kvm_machine_build(uint8_t *memory, uint64_t memory_size, const uint8_t *image,
                                    size_t image_size, const char *path, uint16_t open_port,
                                    uint64_t canary, asylo__kvm_machine *machine,
                                    asylo_status *status);

#endif
