/* The hello_world enclave: greets whoever the host names, and logs through
 * the host how many greetings it has made. */
#include <stdatomic.h>
#include <stdio.h>

#include "asylo/trusted.h"

static atomic_uint greetings;

static asylo_code hello_run(const uint8_t *input, size_t input_size, asylo_output *output,
                            asylo_status *status) {
    if (input_size == 0 || input_size > 256) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "name must be 1 to 256 bytes, got %zu", input_size);
    }
    char greeting[300];
    int length =
        snprintf(greeting, sizeof greeting, "Hello, %.*s!", (int)input_size, (const char *)input);
    unsigned count = atomic_fetch_add(&greetings, 1) + 1;
    asylo_enclave_log(ASYLO_LOG_INFO, "greeting number %u", count);
    return asylo_output_write(output, greeting, (size_t)length, status);
}

ASYLO_TRUSTED_APPLICATION(NULL, hello_run, NULL);
