/* The provision server's check of an uploaded image before a proxy is spawned
 * for it: the loader's own check (an x86-64 ELF shared object, not an
 * executable; backends/sim/image_check.h), and that it exports the enclave
 * ABI symbol, read from its dynamic symbol table without loading it. For
 * the kvm backend: that it is a kvm guest image (the static guest ELF), and
 * a shared object is refused naming the variant to upload. */
#ifndef ASYLO_PROVISION_IMAGE_VERIFY_H
#define ASYLO_PROVISION_IMAGE_VERIFY_H

#include "asylo/status.h"

/* INVALID_ARGUMENT (origin api) naming `name` and what is wrong. `backend`
 * is the one the image will run on. */
asylo_code asylo__image_verify_enclave(const char *path, const char *name, const char *backend,
                                       asylo_status *status);

#endif
