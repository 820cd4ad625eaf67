/* Checks that a file is plausibly an enclave image before anything of it runs:
 * it exists, is a regular readable file, and is an x86-64 ELF shared object.
 * Messages name the path and what is wrong. */
#ifndef ASYLO_BACKENDS_SIM_IMAGE_CHECK_H
#define ASYLO_BACKENDS_SIM_IMAGE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"

/* Checks an ELF header held in memory (the first bytes of an image). */
asylo_code asylo__elf_header_check(const uint8_t *header, size_t size, const char *path,
                                   asylo_status *status);
/* Whether the open file is a kvm guest image (asylo_add_enclave ... BACKENDS
 * kvm): a static x86-64 ELF executable whose first loadable segment is the
 * guest runtime's ring-0 part at ASYLO_KVM_KERNEL_BASE, starting with its
 * magic. Lets the other backends say which variant to build. */
bool asylo__image_is_kvm_guest(int fd);
/* Opens `path` read-only after checking it; returns the fd in *fd. A kvm
 * image is refused with INVALID_ARGUMENT naming the variant to pass. */
asylo_code asylo__image_open(const char *path, int *fd, asylo_status *status);

#endif
