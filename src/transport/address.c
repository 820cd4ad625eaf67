/* Address parsing (see address.h). Everything here is pure string work so it
 * can be unit-tested without a network. */
#include "transport/address.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ACCEPTED_FORMS                                                                             \
    "accepted forms: HOST:PORT (127.0.0.1:5000, localhost:5000), [IPV6]:PORT ([::1]:5000), "       \
    "ipv4:IP:PORT, ipv6:[IP]:PORT, unix:/path/to/socket"

static asylo_code bad_address(asylo_status *status, const char *text, const char *why) {
    return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                            "invalid address '%s': %s; " ACCEPTED_FORMS, text, why);
}

/* Decimal port 0..65535, no sign, no spaces, at most 5 digits. */
static bool parse_port(const char *text, uint16_t *port) {
    size_t length = strlen(text);
    if (length == 0 || length > 5) {
        return false;
    }
    unsigned long value = 0;
    for (size_t i = 0; i < length; i++) {
        if (!isdigit((unsigned char)text[i])) {
            return false;
        }
        value = value * 10 + (unsigned long)(text[i] - '0');
    }
    if (value > 65535) {
        return false;
    }
    *port = (uint16_t)value;
    return true;
}

/* RFC 1123 host name: labels of letters, digits and '-', dot separated. */
static bool valid_hostname(const char *host) {
    size_t length = strlen(host);
    if (length == 0 || length > ASYLO__ADDRESS_MAX_HOST) {
        return false;
    }
    size_t label = 0;
    for (size_t i = 0; i < length; i++) {
        char c = host[i];
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
        } else if (isalnum((unsigned char)c) || c == '-' || c == '_') {
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
    }
    return true;
}

static void build_target(asylo__address *address) {
    switch (address->family) {
    case ASYLO__ADDRESS_UNIX:
        snprintf(address->target, sizeof address->target, "unix:%s", address->host);
        break;
    case ASYLO__ADDRESS_IPV6:
        snprintf(address->target, sizeof address->target, "[%s]:%u", address->host,
                 (unsigned)address->port);
        break;
    case ASYLO__ADDRESS_IPV4:
    case ASYLO__ADDRESS_HOSTNAME:
        snprintf(address->target, sizeof address->target, "%s:%u", address->host,
                 (unsigned)address->port);
        break;
    }
}

static asylo_code parse_unix(const char *text, const char *path, asylo__address *out,
                             asylo_status *status) {
    /* gRPC also accepts unix:///abs; strip the authority so both spell alike. */
    if (strncmp(path, "//", 2) == 0) {
        path += 2;
    }
    size_t length = strlen(path);
    if (length == 0) {
        return bad_address(status, text, "the unix socket path is empty");
    }
    if (length > ASYLO__ADDRESS_MAX_PATH) {
        return bad_address(status, text, "the unix socket path is longer than 107 bytes");
    }
    out->family = ASYLO__ADDRESS_UNIX;
    memcpy(out->host, path, length + 1);
    out->port = 0;
    build_target(out);
    return asylo_status_ok(status);
}

/* text is "[v6]:port" (brackets required so the port is unambiguous). */
static asylo_code parse_ipv6(const char *text, const char *rest, asylo__address *out,
                             asylo_status *status) {
    const char *close = strchr(rest, ']');
    if (rest[0] != '[') {
        return bad_address(status, text, "an IPv6 address must be in brackets");
    }
    if (close == NULL) {
        return bad_address(status, text, "missing ']'");
    }
    size_t host_length = (size_t)(close - rest - 1);
    if (host_length == 0 || host_length >= INET6_ADDRSTRLEN) {
        return bad_address(status, text, "not an IPv6 address");
    }
    char host[INET6_ADDRSTRLEN];
    memcpy(host, rest + 1, host_length);
    host[host_length] = '\0';
    struct in6_addr ip6;
    if (inet_pton(AF_INET6, host, &ip6) != 1) {
        return bad_address(status, text, "not an IPv6 address");
    }
    if (close[1] != ':' || !parse_port(close + 2, &out->port)) {
        return bad_address(status, text, "missing or invalid port (0..65535)");
    }
    out->family = ASYLO__ADDRESS_IPV6;
    memcpy(out->host, host, host_length + 1);
    build_target(out);
    return asylo_status_ok(status);
}

/* text is "host:port" where host is an IPv4 literal or (when allowed) a name. */
static asylo_code parse_host_port(const char *text, const char *rest, bool ipv4_only,
                                  asylo__address *out, asylo_status *status) {
    const char *colon = strrchr(rest, ':');
    if (colon == NULL) {
        return bad_address(status, text, "missing port");
    }
    size_t host_length = (size_t)(colon - rest);
    if (host_length == 0 || host_length > ASYLO__ADDRESS_MAX_HOST) {
        return bad_address(status, text, "missing or too long host");
    }
    char host[ASYLO__ADDRESS_MAX_HOST + 1];
    memcpy(host, rest, host_length);
    host[host_length] = '\0';
    if (memchr(host, ':', host_length) != NULL) {
        return bad_address(status, text, "an IPv6 address must be in brackets");
    }
    if (!parse_port(colon + 1, &out->port)) {
        return bad_address(status, text, "missing or invalid port (0..65535)");
    }
    struct in_addr ip4;
    if (inet_pton(AF_INET, host, &ip4) == 1) {
        out->family = ASYLO__ADDRESS_IPV4;
    } else if (ipv4_only) {
        return bad_address(status, text, "not an IPv4 address");
    } else if (valid_hostname(host) && !isdigit((unsigned char)host[host_length - 1])) {
        /* A name ending in a digit looks like a mistyped IPv4 literal. */
        out->family = ASYLO__ADDRESS_HOSTNAME;
    } else {
        return bad_address(status, text, "not an IPv4 address or host name");
    }
    memcpy(out->host, host, host_length + 1);
    build_target(out);
    return asylo_status_ok(status);
}

asylo_code asylo__address_parse(const char *text, asylo__address *out, asylo_status *status) {
    if (text == NULL || out == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "no address given; " ACCEPTED_FORMS);
    }
    asylo__address parsed;
    memset(&parsed, 0, sizeof parsed);
    asylo_code code;
    if (strncmp(text, "unix:", 5) == 0) {
        code = parse_unix(text, text + 5, &parsed, status);
    } else if (strncmp(text, "ipv4:", 5) == 0) {
        code = parse_host_port(text, text + 5, true, &parsed, status);
    } else if (strncmp(text, "ipv6:", 5) == 0) {
        code = parse_ipv6(text, text + 5, &parsed, status);
    } else if (text[0] == '[') {
        code = parse_ipv6(text, text, &parsed, status);
    } else {
        code = parse_host_port(text, text, false, &parsed, status);
    }
    if (code == ASYLO_OK) {
        *out = parsed;
    }
    return code;
}

bool asylo__address_is_local(const asylo__address *address) {
    switch (address->family) {
    case ASYLO__ADDRESS_UNIX:
        return true;
    case ASYLO__ADDRESS_HOSTNAME:
        return strcasecmp(address->host, "localhost") == 0 ||
               strcasecmp(address->host, "localhost.") == 0;
    case ASYLO__ADDRESS_IPV4: {
        struct in_addr ip4;
        return inet_pton(AF_INET, address->host, &ip4) == 1 &&
               ((const uint8_t *)&ip4.s_addr)[0] == 127;
    }
    case ASYLO__ADDRESS_IPV6: {
        struct in6_addr ip6;
        if (inet_pton(AF_INET6, address->host, &ip6) != 1) {
            return false;
        }
        if (IN6_IS_ADDR_LOOPBACK(&ip6)) {
            return true;
        }
        return IN6_IS_ADDR_V4MAPPED(&ip6) && ip6.s6_addr[12] == 127;
    }
    }
    return false;
}

const char *asylo__address_target(const asylo__address *address) {
    return address->target;
}

void asylo__address_with_port(const asylo__address *address, uint16_t port, asylo__address *out) {
    *out = *address;
    if (out->family != ASYLO__ADDRESS_UNIX) {
        out->port = port;
        build_target(out);
    }
}

void asylo__address_status_prefix(asylo_status *status, const char *what, const char *address) {
    if (status == NULL || address == NULL) {
        return;
    }
    size_t length = strlen(address);
    if (strncmp(status->message, address, length) == 0 && status->message[length] == ':' &&
        status->message[length + 1] == ' ') {
        memmove(status->message, status->message + length + 2,
                strlen(status->message + length + 2) + 1);
    }
    if (what != NULL && what[0] != '\0') {
        asylo_status_prefix(status, "%s %s", what, address);
    } else {
        asylo_status_prefix(status, "%s", address);
    }
}
