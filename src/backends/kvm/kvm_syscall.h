/* The guest's system calls that reach the host: its ring-0 entry copies the
 * registers into the system-call record and makes one exit; the VMM answers
 * the few it forwards and refuses the rest with -ENOSYS. */
#ifndef ASYLO_BACKENDS_KVM_KVM_SYSCALL_H
#define ASYLO_BACKENDS_KVM_KVM_SYSCALL_H

#include <stdint.h>

/* Reads the record in `memory`, performs the call with every guest pointer
 * checked against the ring-3 part of guest memory, writes the result. */
void asylo__kvm_syscall_serve(uint8_t *memory, uint64_t memory_size);

#endif
