/* Checks that a file is plausibly an enclave image before anything of it runs:
 * it exists, is a regular readable file, and is an x86-64 ELF shared object.
 * Messages name the path and what is wrong. */
#ifndef ASYLO_BACKENDS_SIM_IMAGE_CHECK_H
#define ASYLO_BACKENDS_SIM_IMAGE_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"

/* Checks an ELF header held in memory (the first bytes of an image). */
asylo_code asylo__elf_header_check(const uint8_t *header, size_t size, const char *path,
                                   asylo_status *status);
/* Opens `path` read-only after checking it; returns the fd in *fd. */
asylo_code asylo__image_open(const char *path, int *fd, asylo_status *status);

#endif
