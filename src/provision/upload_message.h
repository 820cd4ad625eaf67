/* One ProvisionRequest of an upload, written straight into the transport's
 * message buffer: the header and `last` packed by protobuf-c, then the chunk
 * field read from the image file into place (no buffer of ours, no copy).
 * Fields may come in any order on the wire, so the chunk goes last. */
#ifndef ASYLO_PROVISION_UPLOAD_MESSAGE_H
#define ASYLO_PROVISION_UPLOAD_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/provision.pb-c.h"
#include "asylo/status.h"

typedef struct asylo__upload_message {
    /* header and last; chunk must be empty (it comes from the file). */
    const Asylo__Remote__ProvisionRequest *request;
    int fd;
    uint64_t offset;   /* where the chunk starts in the file */
    size_t chunk_size; /* how many bytes of it */
    const char *path;  /* for messages */
} asylo__upload_message;

/* The encoded size of the message. */
size_t asylo__upload_message_size(const asylo__upload_message *message);
/* Writes the message into out[0..size) (size from asylo__upload_message_size);
 * DATA_LOSS when the file no longer holds the bytes (it changed while being
 * sent). Matches asylo__client_stream_exchange_filled's fill. */
asylo_code asylo__upload_message_fill(void *message, uint8_t *out, size_t size,
                                      asylo_status *status);

#endif
