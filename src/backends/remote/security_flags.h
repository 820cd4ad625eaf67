/* The public security options (asylo/remote.h) as the transport's. */
#ifndef ASYLO_BACKENDS_REMOTE_SECURITY_FLAGS_H
#define ASYLO_BACKENDS_REMOTE_SECURITY_FLAGS_H

#include "asylo/remote.h"
#include "transport/security.h"

void asylo__security_from_public(const asylo_security_options *public_options,
                                 asylo__security_options *options);

#endif
