/* asylo_output helpers and asylo_buffer_free, shared by host and enclave. */
#include <stdlib.h>
#include <string.h>

#include "common/abi.h"
#include "common/bytes.h"

/* asylo_status_ok without a call: this runs once per handler output. */
static asylo_code ok(asylo_status *status) {
    if (status != NULL) {
        status->code = ASYLO_OK;
        status->origin = ASYLO_ORIGIN_NONE;
        status->message[0] = '\0';
    }
    return ASYLO_OK;
}

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
        return ok(status);
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
    return ok(status);
}

void asylo_buffer_free(asylo_buffer *buffer) {
    if (buffer == NULL) {
        return;
    }
#ifdef ASYLO_TRUSTED_BUILD
    /* Inside the enclave a buffer may hold what the enclave keeps from the
     * host (unsealed plaintext, keys, replies it decrypted): wiped. */
    asylo__secure_free(buffer->data, buffer->size);
#else
    /* On the host a buffer holds an entry call's output: bytes the enclave
     * chose to hand to the host, which owns them from then on, so freeing
     * them is the host's business (asylo_buffer_wipe_free wipes first).
     * The library still wipes every copy of its own that the caller never
     * sees (frames, channel windows, grown buffers). */
    free(buffer->data);
#endif
    buffer->data = NULL;
    buffer->size = 0;
}

void asylo_buffer_wipe_free(asylo_buffer *buffer) {
    if (buffer == NULL) {
        return;
    }
    asylo__secure_free(buffer->data, buffer->size);
    buffer->data = NULL;
    buffer->size = 0;
}
