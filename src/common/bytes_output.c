#include "common/bytes_output.h"

#include <stddef.h>

static uint8_t *reserve_in_bytes(struct asylo_output *output, size_t size, asylo_status *status) {
    asylo__bytes_output *collector = (asylo__bytes_output *)output;
    uint8_t *space = asylo__bytes_append_space(&collector->bytes, size, status);
    if (space == NULL && status != NULL) {
        asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, status->origin,
                         "output would exceed its limit of %zu bytes", collector->bytes.limit);
    }
    return space;
}

void asylo__bytes_output_init(asylo__bytes_output *collector, size_t limit) {
    collector->output.reserve = reserve_in_bytes;
    asylo__bytes_init(&collector->bytes, limit);
}

void asylo__bytes_output_release(asylo__bytes_output *collector, asylo_buffer *buffer) {
    buffer->data = asylo__bytes_release(&collector->bytes, &buffer->size);
}

void asylo__bytes_output_fini(asylo__bytes_output *collector) {
    asylo__bytes_fini(&collector->bytes);
}
