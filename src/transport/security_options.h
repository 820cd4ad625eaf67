/* The public side of channel security (asylo/remote.h): the struct's
 * set-up, its adoption from a caller, the flag parser, and copies that own
 * their paths. Shared by the remote backend, provisioning and the tools. */
#ifndef ASYLO_TRANSPORT_SECURITY_OPTIONS_H
#define ASYLO_TRANSPORT_SECURITY_OPTIONS_H

#include <stdbool.h>

#include "asylo/remote.h"
#include "transport/security.h"

/* Copies a caller's options over the defaults, reading only its struct_size
 * bytes (common/struct_size.h). */
asylo_code asylo__security_options_adopt(const asylo_security_options *in,
                                         asylo_security_options *out, asylo_status *status);

/* The same struct: a plain copy, kept for the callers that name both. */
void asylo__security_from_public(const asylo_security_options *public_options,
                                 asylo__security_options *options);

/* Security options that own their paths: for objects that outlive the
 * caller's strings (provisioners). `options` points into `paths`. */
typedef struct asylo__owned_security {
    asylo_security_options options;
    char *paths[5];
} asylo__owned_security;

/* Copies *from; false when memory ran out (then fini still frees what was
 * copied). */
bool asylo__owned_security_copy(asylo__owned_security *owned, const asylo_security_options *from);
void asylo__owned_security_fini(asylo__owned_security *owned);

#endif
