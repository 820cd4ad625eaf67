#include "transport/security_options.h"

#include <stdlib.h>
#include <string.h>

#include "common/struct_size.h"

void asylo_security_options_init(asylo_security_options *options) {
    if (options != NULL) {
        memset(options, 0, sizeof *options);
        options->struct_size = sizeof *options;
    }
}

asylo_code asylo__security_options_adopt(const asylo_security_options *in,
                                         asylo_security_options *out, asylo_status *status) {
    asylo_security_options copy = *in;
    asylo_security_options_init(out);
    return asylo__struct_adopt(&copy, out, sizeof *out,
                               ASYLO__V1_SIZE(asylo_security_options, require_client_certificate),
                               "asylo_security_options", status);
}

void asylo__security_from_public(const asylo_security_options *public_options,
                                 asylo__security_options *options) {
    *options = *public_options;
}

asylo_code asylo_security_parse_flag(asylo_security_options *public_options, const char *argument,
                                     const char *next, int *consumed, asylo_status *status) {
    if (public_options == NULL || consumed == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "asylo_security_parse_flag: options or consumed is NULL");
    }
    if (public_options->struct_size == 0) {
        /* All zero: a struct the caller has not set up; this is its set-up. */
        public_options->struct_size = sizeof *public_options;
    }
    return asylo__security_parse_flag(public_options, argument, next, consumed, status);
}

const char *asylo_security_usage(void) {
    return asylo__security_usage();
}

bool asylo__owned_security_copy(asylo__owned_security *owned, const asylo_security_options *from) {
    memset(owned, 0, sizeof *owned);
    owned->options = *from;
    const char **fields[] = {&owned->options.server_cert, &owned->options.server_key,
                             &owned->options.root_certs, &owned->options.client_cert,
                             &owned->options.client_key};
    bool copied = true;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (*fields[i] != NULL) {
            owned->paths[i] = strdup(*fields[i]);
            copied &= owned->paths[i] != NULL;
        }
        *fields[i] = owned->paths[i];
    }
    return copied;
}

void asylo__owned_security_fini(asylo__owned_security *owned) {
    for (size_t i = 0; i < sizeof owned->paths / sizeof owned->paths[0]; i++) {
        free(owned->paths[i]);
        owned->paths[i] = NULL;
    }
}
