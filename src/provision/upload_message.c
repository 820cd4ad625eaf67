#include "provision/upload_message.h"

#include <errno.h>
#include <unistd.h>

#define CHUNK_TAG 0x12 /* field 2, length-delimited */

static size_t varint_size(uint64_t value) {
    size_t size = 1;
    while (value >= 0x80) {
        value >>= 7;
        size++;
    }
    return size;
}

static size_t write_varint(uint8_t *out, uint64_t value) {
    size_t size = 0;
    while (value >= 0x80) {
        out[size++] = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    out[size++] = (uint8_t)value;
    return size;
}

size_t asylo__upload_message_size(const asylo__upload_message *message) {
    size_t size = asylo__remote__provision_request__get_packed_size(message->request);
    if (message->chunk_size > 0) {
        size += 1 + varint_size(message->chunk_size) + message->chunk_size;
    }
    return size;
}

asylo_code asylo__upload_message_fill(void *opaque, uint8_t *out, size_t size,
                                      asylo_status *status) {
    const asylo__upload_message *message = opaque;
    if (message->request->chunk.len != 0 || size != asylo__upload_message_size(message)) {
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_API,
                                "upload message of the wrong shape for '%s'", message->path);
    }
    size_t used = asylo__remote__provision_request__pack(message->request, out);
    if (message->chunk_size == 0) {
        return asylo_status_ok(status);
    }
    out[used++] = CHUNK_TAG;
    used += write_varint(out + used, message->chunk_size);
    size_t got = 0;
    while (got < message->chunk_size) {
        ssize_t result = pread(message->fd, out + used + got, message->chunk_size - got,
                               (off_t)(message->offset + got));
        if (result < 0 && errno == EINTR) {
            continue;
        }
        if (result <= 0) {
            return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_BACKEND,
                                    "enclave image '%s' changed while it was being sent",
                                    message->path);
        }
        got += (size_t)result;
    }
    return asylo_status_ok(status);
}
