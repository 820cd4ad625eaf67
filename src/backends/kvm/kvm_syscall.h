/* The guest's system calls that reach the host: its trampoline copies the
 * registers into the system-call record and makes one exit; the VMM answers
 * the few a static C library (musl) needs and refuses the rest with -ENOSYS.
 * Memory calls (brk, mmap) are served from the guest's own heap region: the
 * host never gives the guest more memory than it booted with. */
#ifndef ASYLO_BACKENDS_KVM_KVM_SYSCALL_H
#define ASYLO_BACKENDS_KVM_KVM_SYSCALL_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"

typedef struct asylo__kvm_guest_os {
    uint64_t brk_base;
    uint64_t brk;
    uint64_t brk_end;
    uint64_t mmap_base; /* page-aligned; mmap_pages pages follow */
    size_t mmap_pages;
    uint8_t *mmap_used; /* one byte per page: 1 in use */
    /* Requests the VMM carries out after the call returns. */
    uint64_t fs_base_request; /* arch_prctl(ARCH_SET_FS): nonzero to set */
    int exited;               /* exit or exit_group was called */
    int exit_code;
    int signal; /* a signal the guest sent itself (kill, tkill, tgkill): it ends */
} asylo__kvm_guest_os;

/* The C library's heap: [base, end), page-aligned, split into brk and mmap. */
asylo_code asylo__kvm_guest_os_init(asylo__kvm_guest_os *os, uint64_t base, uint64_t end,
                                    asylo_status *status);
void asylo__kvm_guest_os_fini(asylo__kvm_guest_os *os);

/* Reads the record in `memory`, performs the call with every guest pointer
 * checked against the ring-3 part of guest memory, writes the result. */
void asylo__kvm_syscall_serve(asylo__kvm_guest_os *os, uint8_t *memory, uint64_t memory_size);

#endif
