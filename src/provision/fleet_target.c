/* Provision-server targets: one server, an address list or a DNS name (see
 * fleet_target.h). String work plus getaddrinfo for diagnosis. */
#include "provision/fleet_target.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define TARGET_FORMS                                                                               \
    "accepted: HOST:PORT, [IPV6]:PORT, unix:/path, a list ipv4:A:PORT,B:PORT,... or "              \
    "ipv6:[A]:PORT,[B]:PORT,... (or the same without the scheme), dns:///NAME:PORT"

static asylo_code bad_target(asylo_status *status, const char *text, const char *why) {
    return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                            "invalid provision server target '%.200s': %s; " TARGET_FORMS, text,
                            why);
}

bool asylo__address_is_wildcard(const asylo__address *address) {
    if (address->family == ASYLO__ADDRESS_IPV4) {
        return strcmp(address->host, "0.0.0.0") == 0;
    }
    if (address->family == ASYLO__ADDRESS_IPV6) {
        struct in6_addr ip6;
        return inet_pton(AF_INET6, address->host, &ip6) == 1 && IN6_IS_ADDR_UNSPECIFIED(&ip6);
    }
    return false;
}

static void pick_security_address(asylo__fleet_target *out) {
    out->security_address = out->is_dns ? out->dns_name : out->addresses[0];
    for (size_t i = 0; i < out->count; i++) {
        if (!asylo__address_is_local(&out->addresses[i])) {
            out->security_address = out->addresses[i];
            return;
        }
    }
}

/* "a:p,b:p" (after an optional ipv4:/ipv6: scheme, given as `scheme`). */
static asylo_code parse_list(const char *text, const char *list, const char *scheme,
                             size_t rotation, asylo__fleet_target *out, asylo_status *status) {
    char copy[ASYLO__FLEET_MAX_TARGET];
    snprintf(copy, sizeof copy, "%s", list);
    char *next = copy;
    while (next != NULL) {
        char *part = next;
        next = strchr(part, ',');
        if (next != NULL) {
            *next++ = '\0';
        }
        if (part[0] == '\0') {
            return bad_target(status, text, "an empty entry");
        }
        if (out->count == ASYLO__FLEET_MAX_SERVERS) {
            return bad_target(status, text, "more than 32 addresses");
        }
        asylo__address *address = &out->addresses[out->count];
        if (asylo__address_parse(part, address, status) != ASYLO_OK) {
            return bad_target(status, text, "an entry is not an IP:PORT address");
        }
        if (address->port == 0 ||
            (address->family != ASYLO__ADDRESS_IPV4 && address->family != ASYLO__ADDRESS_IPV6)) {
            return bad_target(status, text,
                              "a list holds IP literals with a port (use dns:///NAME:PORT for "
                              "names)");
        }
        if (address->family != out->addresses[0].family) {
            return bad_target(status, text,
                              "IPv4 and IPv6 addresses cannot share one list (gRPC takes one "
                              "scheme per target)");
        }
        out->count++;
    }

    if (scheme == NULL) {
        scheme = out->addresses[0].family == ASYLO__ADDRESS_IPV4 ? "ipv4:" : "ipv6:";
    }
    char target[ASYLO__FLEET_MAX_TARGET];
    size_t used = (size_t)snprintf(target, sizeof target, "%s", scheme);
    for (size_t i = 0; i < out->count; i++) {
        const asylo__address *address = &out->addresses[(i + rotation) % out->count];
        used += (size_t)snprintf(target + used, sizeof target - used, "%s%s", i == 0 ? "" : ",",
                                 address->target);
        if (used >= sizeof target) {
            return bad_target(status, text, "too long");
        }
    }
    memcpy(out->grpc_target, target, used + 1);
    out->is_fleet = out->count > 1;
    pick_security_address(out);
    return asylo_status_ok(status);
}

static asylo_code parse_dns(const char *text, asylo__fleet_target *out, asylo_status *status) {
    /* dns:///name:port or dns://server/name:port or dns:name:port */
    const char *name = text + 4;
    if (strncmp(name, "//", 2) == 0) {
        name = strchr(name + 2, '/');
        if (name == NULL) {
            return bad_target(status, text, "dns:// needs a '/' before the name");
        }
        name++;
    }
    if (asylo__address_parse(name, &out->dns_name, status) != ASYLO_OK ||
        out->dns_name.family == ASYLO__ADDRESS_UNIX) {
        return bad_target(status, text, "the name after dns: is not NAME:PORT");
    }
    if (out->dns_name.port == 0) {
        return bad_target(status, text, "the name after dns: needs a port");
    }
    snprintf(out->grpc_target, sizeof out->grpc_target, "%s", text);
    out->is_dns = true;
    out->is_fleet = true;
    pick_security_address(out);
    return asylo_status_ok(status);
}

asylo_code asylo__fleet_target_parse(const char *text, size_t rotation, asylo__fleet_target *out,
                                     asylo_status *status) {
    memset(out, 0, sizeof *out);
    if (text == NULL || text[0] == '\0') {
        return bad_target(status, "", "empty");
    }
    if (strlen(text) >= ASYLO__FLEET_MAX_TARGET) {
        return bad_target(status, text, "too long");
    }
    if (strncmp(text, "dns:", 4) == 0) {
        return parse_dns(text, out, status);
    }
    if (strncmp(text, "unix:", 5) == 0 || strchr(text, ',') == NULL) {
        /* One server, dialed as before (IP literals without DNS). */
        asylo_code code = asylo__address_parse(text, &out->addresses[0], status);
        if (code != ASYLO_OK) {
            return code;
        }
        out->count = 1;
        const asylo__address *address = &out->addresses[0];
        snprintf(out->grpc_target, sizeof out->grpc_target, "%s%s",
                 address->family == ASYLO__ADDRESS_IPV4   ? "ipv4:"
                 : address->family == ASYLO__ADDRESS_IPV6 ? "ipv6:"
                                                          : "",
                 address->target);
        out->security_address = *address;
        return asylo_status_ok(status);
    }
    if (strncmp(text, "ipv4:", 5) == 0) {
        return parse_list(text, text + 5, "ipv4:", rotation, out, status);
    }
    if (strncmp(text, "ipv6:", 5) == 0) {
        return parse_list(text, text + 5, "ipv6:", rotation, out, status);
    }
    return parse_list(text, text, NULL, rotation, out, status);
}

asylo_code asylo__fleet_target_resolve(asylo__fleet_target *target, asylo_status *status) {
    if (!target->is_dns) {
        return asylo_status_ok(status);
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *found = NULL;
    int error = getaddrinfo(target->dns_name.host, NULL, &hints, &found);
    if (error != 0) {
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                "provision server name '%s' does not resolve: %s",
                                target->dns_name.host, gai_strerror(error));
    }
    target->count = 0;
    for (struct addrinfo *entry = found; entry != NULL && target->count < ASYLO__FLEET_MAX_SERVERS;
         entry = entry->ai_next) {
        char host[INET6_ADDRSTRLEN];
        char text[INET6_ADDRSTRLEN + 16];
        if (entry->ai_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)entry->ai_addr)->sin_addr, host,
                      sizeof host);
            snprintf(text, sizeof text, "%s:%u", host, (unsigned)target->dns_name.port);
        } else if (entry->ai_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)entry->ai_addr)->sin6_addr, host,
                      sizeof host);
            snprintf(text, sizeof text, "[%s]:%u", host, (unsigned)target->dns_name.port);
        } else {
            continue;
        }
        asylo__address address;
        if (asylo__address_parse(text, &address, NULL) != ASYLO_OK) {
            continue;
        }
        bool seen = false;
        for (size_t i = 0; i < target->count; i++) {
            seen |= strcmp(target->addresses[i].target, address.target) == 0;
        }
        if (!seen) {
            target->addresses[target->count++] = address;
        }
    }
    freeaddrinfo(found);
    return asylo_status_ok(status);
}

bool asylo__peer_address_parse(const char *peer, asylo__address *out) {
    /* gRPC writes peers as URIs: IPv6 brackets come percent-encoded. */
    char decoded[ASYLO__ADDRESS_MAX_HOST + 32];
    size_t length = 0;
    for (const char *at = peer; *at != '\0'; at++) {
        if (length + 1 >= sizeof decoded) {
            return false;
        }
        if (at[0] == '%' && at[1] != '\0' && at[2] != '\0') {
            char hex[3] = {at[1], at[2], '\0'};
            char *end = NULL;
            long value = strtol(hex, &end, 16);
            if (end == hex + 2 && value > 0) {
                decoded[length++] = (char)value;
                at += 2;
                continue;
            }
        }
        decoded[length++] = *at;
    }
    decoded[length] = '\0';
    return asylo__address_parse(decoded, out, NULL) == ASYLO_OK;
}
