#include "common/bytes_output.h"

#include <stddef.h>
#include <stdlib.h>

uint8_t *asylo__bytes_output_reserve(struct asylo_output *output, size_t size,
                                     asylo_status *status) {
    asylo__bytes_output *collector = (asylo__bytes_output *)output;
    /* The usual case, one reserve into an empty collector: a block of
     * exactly the output's size, which becomes the caller's buffer as it is
     * (no growth, no second copy). */
    if (collector->bytes.data == NULL && size > 0 && size <= collector->bytes.limit) {
        uint8_t *block = malloc(size);
        if (block != NULL) {
            collector->bytes.data = block;
            collector->bytes.size = size;
            collector->bytes.capacity = size;
            return block;
        }
    }
    asylo_status refusal;
    uint8_t *space = asylo__bytes_append_space(&collector->bytes, size, &refusal);
    if (space == NULL) {
        /* Name the limit when it was the limit (not memory) that refused. */
        if (size > collector->bytes.limit - collector->bytes.size) {
            asylo_status_set(&refusal, ASYLO_RESOURCE_EXHAUSTED, refusal.origin,
                             "output would exceed its limit of %zu bytes", collector->bytes.limit);
        }
        if (!collector->refused) {
            collector->refused = true;
            collector->failure = refusal;
        }
        if (status != NULL) {
            *status = refusal;
        }
    }
    return space;
}

asylo_code asylo__bytes_output_refused(const asylo__bytes_output *collector, const char *writer,
                                       const char *name, asylo_status *status) {
    if (status != NULL) {
        *status = collector->failure;
        asylo_status_prefix(status, "%s%s%s%s returned OK but its output was refused", writer,
                            name != NULL ? " '" : "", name != NULL ? name : "",
                            name != NULL ? "'" : "");
    }
    return collector->failure.code;
}

asylo_code asylo__output_take(asylo_output *output, asylo_buffer *buffer, asylo_status *status) {
    asylo_code code;
    if (output != NULL && output->reserve == asylo__bytes_output_reserve &&
        ((asylo__bytes_output *)output)->bytes.size == 0 && buffer->size > 0 &&
        asylo__bytes_adopt(&((asylo__bytes_output *)output)->bytes, buffer->data, buffer->size,
                           NULL) == ASYLO_OK) {
        buffer->data = NULL;
        buffer->size = 0;
        return asylo_status_ok(status);
    }
    code = asylo_output_write(output, buffer->data, buffer->size, status);
    asylo_buffer_free(buffer);
    return code;
}

static uint8_t *counting_reserve(struct asylo_output *output, size_t size, asylo_status *status) {
    asylo__counting_output *counter = (asylo__counting_output *)output;
    uint8_t *space = asylo_output_reserve(counter->inner, size, status);
    if (space != NULL) {
        counter->size += size;
    }
    return space;
}

void asylo__counting_output_init(asylo__counting_output *counter, asylo_output *inner) {
    counter->output.reserve = counting_reserve;
    counter->inner = inner;
    counter->size = 0;
}
