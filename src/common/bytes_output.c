#include "common/bytes_output.h"

#include <stddef.h>

static uint8_t *reserve_in_bytes(struct asylo_output *output, size_t size, asylo_status *status) {
    asylo__bytes_output *collector = (asylo__bytes_output *)output;
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

void asylo__bytes_output_init(asylo__bytes_output *collector, size_t limit) {
    collector->output.reserve = reserve_in_bytes;
    asylo__bytes_init(&collector->bytes, limit);
    collector->refused = false;
    asylo_status_ok(&collector->failure);
}

asylo_code asylo__bytes_output_verdict(const asylo__bytes_output *collector, asylo_code code,
                                       const char *writer, const char *name, asylo_status *status) {
    if (code != ASYLO_OK || !collector->refused) {
        return code;
    }
    if (status != NULL) {
        *status = collector->failure;
        asylo_status_prefix(status, "%s%s%s%s returned OK but its output was refused", writer,
                            name != NULL ? " '" : "", name != NULL ? name : "",
                            name != NULL ? "'" : "");
    }
    return collector->failure.code;
}

void asylo__bytes_output_release(asylo__bytes_output *collector, asylo_buffer *buffer) {
    buffer->data = asylo__bytes_release(&collector->bytes, &buffer->size);
}

void asylo__bytes_output_fini(asylo__bytes_output *collector) {
    asylo__bytes_fini(&collector->bytes);
}
