/* What the two forwarders of plain POSIX calls share: the process backend's
 * runner (tools/runner_posix.c, from a trapped system call) and the kvm
 * backend's VMM (backends/kvm/kvm_posix.c, from a guest's system call). Both
 * turn a Linux call into the built-in file exit call the
 * asylo_enclave_file_* functions make, and its status back into an errno. */
#ifndef ASYLO_COMMON_POSIX_FILE_H
#define ASYLO_COMMON_POSIX_FILE_H

#include <stdint.h>

#include "asylo/status.h"
#include "common/bytes.h"

/* The negative errno a forwarded call returns for an exit call's code. */
int64_t asylo__posix_errno_of(asylo_code code);

/* Encodes into *input (initialised here) the ASYLO_SELECTOR_FILE_OPEN request
 * for open(2)'s path, flags (O_ACCMODE, O_CREAT, O_TRUNC, O_APPEND; the rest
 * have no asylo counterpart) and mode. */
void asylo__posix_encode_open(asylo__bytes *input, const char *path, uint64_t open_flags,
                              uint64_t mode);

#endif
