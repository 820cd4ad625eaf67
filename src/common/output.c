/* asylo_output helpers and asylo_buffer_free, shared by host and enclave. */
#include <stdlib.h>
#include <string.h>

#include "common/abi.h"
#include "common/bytes.h"

uint8_t *asylo_output_reserve(asylo_output *output, size_t size, asylo_status *status) {
    if (output == NULL || output->reserve == NULL) {
        asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                         "asylo_output_reserve called with no output");
        return NULL;
    }
    return output->reserve(output, size, status);
}

asylo_code asylo_output_write(asylo_output *output, const void *data, size_t size,
                              asylo_status *status) {
    if (size == 0) {
        return asylo_status_ok(status);
    }
    if (data == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "asylo_output_write given NULL data of %zu bytes", size);
    }
    uint8_t *space = asylo_output_reserve(output, size, status);
    if (space == NULL) {
        return status != NULL ? status->code : ASYLO_RESOURCE_EXHAUSTED;
    }
    memcpy(space, data, size);
    return asylo_status_ok(status);
}

void asylo_buffer_free(asylo_buffer *buffer) {
    if (buffer == NULL) {
        return;
    }
    asylo__secure_free(buffer->data, buffer->size);
    buffer->data = NULL;
    buffer->size = 0;
}
