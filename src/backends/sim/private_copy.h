/* A private copy of an enclave image, so every load is its own instance.
 *
 * glibc's dlopen returns the already-loaded object for the same path, device
 * and inode, so two loads of one image would share globals. Each load copies
 * the image to a fresh private file (mode 0600) and loads that; the caller
 * unlinks it right after dlopen (the mapping keeps it alive). The copy also
 * yields the image's SHA-256 measurement for free. */
#ifndef ASYLO_BACKENDS_SIM_PRIVATE_COPY_H
#define ASYLO_BACKENDS_SIM_PRIVATE_COPY_H

#include <limits.h>
#include <stdint.h>

#include "asylo/status.h"

asylo_code asylo__private_copy(int image_fd, const char *image_path, char copy_path[PATH_MAX],
                               uint8_t measurement[32], asylo_status *status);

#endif
