/* Network addresses of the remote backend, proxy and provision server.
 *
 * Accepted forms (the same for dialing and binding):
 *   127.0.0.1:5000        ipv4:127.0.0.1:5000
 *   [::1]:5000            ipv6:[::1]:5000
 *   localhost:5000        any DNS name: host.example:5000
 *   unix:/path/to/sock    (absolute path; also unix:relative/path)
 * Port 0 is accepted so a server can bind a free port; asylo__address_with_port
 * then builds the address with the port the kernel chose. A plain value: no
 * allocation, copyable, nothing to free. */
#ifndef ASYLO_TRANSPORT_ADDRESS_H
#define ASYLO_TRANSPORT_ADDRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "asylo/status.h"

typedef enum asylo__address_family {
    ASYLO__ADDRESS_IPV4 = 1,
    ASYLO__ADDRESS_IPV6 = 2,
    ASYLO__ADDRESS_HOSTNAME = 3,
    ASYLO__ADDRESS_UNIX = 4,
} asylo__address_family;

/* Longest unix socket path (sun_path holds 108 bytes with its NUL). */
#define ASYLO__ADDRESS_MAX_PATH 107
/* Longest DNS name. */
#define ASYLO__ADDRESS_MAX_HOST 253

typedef struct asylo__address {
    asylo__address_family family;
    /* IP literal without brackets, DNS name, or the unix socket path. */
    char host[ASYLO__ADDRESS_MAX_HOST + 1];
    uint16_t port; /* 0 for unix, or "pick one" when binding */
    /* The gRPC target / bind string: "127.0.0.1:5000", "[::1]:5000",
     * "localhost:5000" or "unix:/path". */
    char target[ASYLO__ADDRESS_MAX_HOST + 16];
} asylo__address;

/* Parses text into *out. INVALID_ARGUMENT (origin api) naming the text and
 * listing the accepted forms when it is none of them. */
asylo_code asylo__address_parse(const char *text, asylo__address *out, asylo_status *status);

/* True for 127.0.0.0/8, ::1 (also ::ffff:127.x.y.z), "localhost" and unix:.
 * Only these may carry plaintext without --allow_insecure_non_local. */
bool asylo__address_is_local(const asylo__address *address);

/* The gRPC target string (same as address->target). */
const char *asylo__address_target(const asylo__address *address);

/* *out = address with its port replaced (a no-op copy for unix:). Used after
 * binding port 0 to report the real address. */
void asylo__address_with_port(const asylo__address *address, uint16_t port, asylo__address *out);

/* Prefixes status's message with "WHAT ADDRESS: " (what may be "" or NULL),
 * first dropping a leading "ADDRESS: " the transport put there, so the
 * message names the address once: "provision server [::1]:4321: the peer is
 * unreachable ...", not "provision server [::1]:4321: [::1]:4321: ...". */
void asylo__address_status_prefix(asylo_status *status, const char *what, const char *address);

#endif
