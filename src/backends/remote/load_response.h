/* The host's side of the wire version check at LOAD (proto LoadResponse). */
#ifndef ASYLO_BACKENDS_REMOTE_LOAD_RESPONSE_H
#define ASYLO_BACKENDS_REMOTE_LOAD_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"

/* OK when the proxy's LOAD output announces ASYLO__WIRE_PROTOCOL_VERSION;
 * FAILED_PRECONDITION naming both versions otherwise (an empty output, from a
 * proxy before versioning, is version 0); INVALID_ARGUMENT when it does not
 * parse. `name` and `address` name the enclave and the proxy. */
asylo_code asylo__remote_check_load_response(const uint8_t *data, size_t size, const char *name,
                                             const char *address, asylo_status *status);

#endif
