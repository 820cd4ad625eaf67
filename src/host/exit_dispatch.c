/* Routes an enclave's exit call to a host handler: a registered handler first
 * (it may override a built-in), then the built-ins, then the fallback. */
#include <stdlib.h>

#include "host/client_internal.h"

static const asylo_exit_handler *find_handler(const asylo_client *client, uint32_t selector) {
    size_t low = 0;
    size_t high = client->exit_handler_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        uint32_t found = client->exit_handlers[middle].selector;
        if (found == selector) {
            return &client->exit_handlers[middle];
        }
        if (found < selector) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return NULL;
}

/* A handler's failure reaches the enclave as the host's. */
static asylo_code mark_host_origin(asylo_code code, asylo_status *status) {
    if (!asylo_code_is_valid((int)code)) {
        return asylo_status_set(status, ASYLO_UNKNOWN, ASYLO_ORIGIN_HOST,
                                "exit handler returned code %d, not a canonical code", (int)code);
    }
    status->code = code;
    if (code != ASYLO_OK && status->origin == ASYLO_ORIGIN_NONE) {
        status->origin = ASYLO_ORIGIN_HOST;
    }
    return code;
}

asylo_code asylo__client_dispatch_exit(void *context, uint32_t selector, const uint8_t *input,
                                       size_t input_size, asylo_output *output,
                                       asylo_status *status) {
    asylo_client *client = context;
    asylo_status_ok(status);
    const asylo_exit_handler *handler = find_handler(client, selector);
    if (handler != NULL) {
        return mark_host_origin(
            handler->handler(handler->context, client, selector, input, input_size, output, status),
            status);
    }
    if (selector >= ASYLO_SELECTOR_BUILTIN_FIRST && selector <= ASYLO_SELECTOR_BUILTIN_LAST) {
        return asylo__builtin_exit(client, selector, input, input_size, output, status);
    }
    if (client->exit_fallback != NULL) {
        return mark_host_origin(client->exit_fallback(client->exit_fallback_context, client,
                                                      selector, input, input_size, output, status),
                                status);
    }
    return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_HOST,
                            "the host has no handler for exit selector %u (register one in the "
                            "load config's exit_handlers)",
                            selector);
}
