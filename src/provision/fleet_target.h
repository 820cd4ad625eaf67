/* The provision-server target of a client: one server or a fleet of them
 * behind one gRPC target, and the peer addresses gRPC reports.
 *
 * Accepted forms (--provision_server, asylo_provision_server_options):
 *   host:port, a.b.c.d:port, [v6]:port   one server (as before)
 *   unix:/path                           one server on a unix socket
 *   ipv4:a:p,b:p,...  ipv6:[x]:p,...     a fleet by address list (gRPC syntax)
 *   a:p,b:p,...  [x]:p,[y]:p,...         the same without the scheme (all IPv4
 *                                        or all IPv6 literals)
 *   dns:///name:port, dns://dns-server/name:port
 *                                        a fleet by DNS name: every address
 *                                        the name resolves to (a Kubernetes
 *                                        headless Service)
 * A fleet is dialed with gRPC's round_robin policy; see server_provision.c. */
#ifndef ASYLO_PROVISION_FLEET_TARGET_H
#define ASYLO_PROVISION_FLEET_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"
#include "transport/address.h"

/* Most addresses in a list (and most a DNS name is checked at when every
 * server failed). */
#define ASYLO__FLEET_MAX_SERVERS 32
/* Longest target text. */
#define ASYLO__FLEET_MAX_TARGET 4096

typedef struct asylo__fleet_target {
    /* What the channel dials. A list is rotated by `rotation` places so
     * successive provisions start at successive servers. */
    char grpc_target[ASYLO__FLEET_MAX_TARGET];
    bool is_fleet; /* a list or a DNS name: round_robin, retries */
    bool is_dns;
    size_t count; /* addresses listed (0 for dns: until resolved) */
    asylo__address addresses[ASYLO__FLEET_MAX_SERVERS];
    /* The name and port after dns:///; for security checks and messages. */
    asylo__address dns_name;
    /* The address the security options are checked against: the first one
     * that is not loopback, so plaintext to a fleet that leaves this machine
     * needs --allow_insecure_non_local. */
    asylo__address security_address;
} asylo__fleet_target;

/* Parses text (the forms above) into *out, the list rotated by rotation
 * places. INVALID_ARGUMENT (origin api) naming the text and the forms. */
asylo_code asylo__fleet_target_parse(const char *text, size_t rotation, asylo__fleet_target *out,
                                     asylo_status *status);

/* For a dns: target, fills addresses/count with what the name resolves to
 * now (getaddrinfo), to say which servers failed; a no-op otherwise.
 * UNAVAILABLE naming the name when it does not resolve. */
asylo_code asylo__fleet_target_resolve(asylo__fleet_target *target, asylo_status *status);

/* Parses a peer as gRPC reports it ("ipv4:10.0.0.1:4321",
 * "ipv6:%5B::1%5D:4321", "unix:/p") into *out. False when it is none of
 * these. */
bool asylo__peer_address_parse(const char *peer, asylo__address *out);

/* True for 0.0.0.0 and :: (a server bound to every interface). */
bool asylo__address_is_wildcard(const asylo__address *address);

#endif
