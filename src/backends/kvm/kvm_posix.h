/* POSIX calls of a kvm guest forwarded to the host as the built-in exit calls
 * (files under the host's file_root policy, stdout and stderr as log lines),
 * the same way the process backend's runner forwards them
 * (tools/runner_posix.c), so the host's handlers, and any the application put
 * in their place, decide. Every guest pointer is checked to lie in the
 * ring-3 part of guest memory. */
#ifndef ASYLO_BACKENDS_KVM_KVM_POSIX_H
#define ASYLO_BACKENDS_KVM_KVM_POSIX_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/backend.h"
#include "backends/kvm/kvm_layout.h"

/* Forwarded descriptors start here (as in the process backend). */
#define ASYLO__KVM_FORWARDED_FD_BASE 1000

/* Serves `record` when it is a forwarded call (open, openat, read, write,
 * readv, writev, close, lseek, unlink, unlinkat, stat, lstat, newfstatat, fstat): true with
 * *result (a value or -errno). False when it is not one of them. Without
 * exit handlers (exits->dispatch NULL) only writes to fds 1 and 2 are served
 * (straight to the host's stdout and stderr) and files are -ENOSYS. */
bool asylo__kvm_posix_forward(const asylo__exit_dispatcher *exits, uint8_t *memory,
                              uint64_t memory_size, const asylo__kvm_syscall_record *record,
                              int64_t *result);

#endif
