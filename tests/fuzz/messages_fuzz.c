/* The protobuf messages the proxy and the provision server accept (LOAD,
 * provision header and chunks, Release) and the replies the client decodes
 * (proto/asylo/remote.proto, provision.proto). The first byte picks the message; the rest is its
 * wire form. Whatever unpacks must be usable the way the servers use it
 * (strings terminated, sizes true) and must pack to bytes that unpack again. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "asylo/provision.pb-c.h"
#include "asylo/remote.pb-c.h"
#include "fuzz.h"

static void check_string(const char *text) {
    FUZZ_CHECK(text != NULL);
    (void)strlen(text); /* ASan: the string must be terminated inside its block */
}

static void check_bytes(ProtobufCBinaryData data) {
    FUZZ_CHECK(data.len == 0 || data.data != NULL);
    if (data.len > 0) {
        /* Touch both ends: ASan catches a length larger than the block. */
        volatile uint8_t first = data.data[0];
        volatile uint8_t last = data.data[data.len - 1];
        (void)first;
        (void)last;
    }
}

/* True when the message or a submessage kept unknown fields. */
static bool has_unknown_fields(const ProtobufCMessage *message) {
    if (message->n_unknown_fields > 0) {
        return true;
    }
    const ProtobufCMessageDescriptor *descriptor = message->descriptor;
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
        if (field->type == PROTOBUF_C_TYPE_MESSAGE && field->label != PROTOBUF_C_LABEL_REPEATED) {
            const ProtobufCMessage *sub =
                *(const ProtobufCMessage *const *)((const uint8_t *)message + field->offset);
            if (sub != NULL && has_unknown_fields(sub)) {
                return true;
            }
        }
    }
    return false;
}

/* Packs a message again and unpacks the result: must succeed and be stable. */
static void repack(const ProtobufCMessage *message, const ProtobufCMessageDescriptor *descriptor) {
    size_t size = protobuf_c_message_get_packed_size(message);
    uint8_t *bytes = malloc(size > 0 ? size : 1);
    FUZZ_CHECK(bytes != NULL);
    FUZZ_CHECK(protobuf_c_message_pack(message, bytes) == size);
    ProtobufCMessage *again = protobuf_c_message_unpack(descriptor, NULL, size, bytes);
    if (again == NULL) {
        /* protobuf-c 1.4 accepts a field number 0 spelled as a two-byte
         * varint tag (82 00), keeps it as an unknown field, packs it as the
         * one-byte tag 02 and then refuses that (crash-a8acd063... in
         * messages_crashes/; crash-28855760... has it inside the header
         * submessage). Harmless to us: no server reads unknown fields.
         * Every message without unknown fields must round-trip. */
        FUZZ_CHECK(has_unknown_fields(message));
    } else {
        FUZZ_CHECK(protobuf_c_message_get_packed_size(again) == size);
        protobuf_c_message_free_unpacked(again, NULL);
    }
    free(bytes);
}

static void load_request(const uint8_t *data, size_t size) {
    Asylo__Remote__LoadRequest *load = asylo__remote__load_request__unpack(NULL, size, data);
    if (load == NULL) {
        return;
    }
    check_string(load->name);
    check_string(load->backend);
    check_string(load->enclave_path);
    repack(&load->base, &asylo__remote__load_request__descriptor);
    asylo__remote__load_request__free_unpacked(load, NULL);
}

static void provision_request(const uint8_t *data, size_t size) {
    Asylo__Remote__ProvisionRequest *request =
        asylo__remote__provision_request__unpack(NULL, size, data);
    if (request == NULL) {
        return;
    }
    if (request->header != NULL) {
        check_bytes(request->header->image_sha256);
        check_string(request->header->backend);
        check_string(request->header->name);
    }
    check_bytes(request->chunk);
    repack(&request->base, &asylo__remote__provision_request__descriptor);
    asylo__remote__provision_request__free_unpacked(request, NULL);
}

static void provision_reply(const uint8_t *data, size_t size) {
    Asylo__Remote__ProvisionReply *reply = asylo__remote__provision_reply__unpack(NULL, size, data);
    if (reply == NULL) {
        return;
    }
    check_string(reply->proxy_id);
    check_string(reply->proxy_address);
    check_string(reply->token);
    check_string(reply->enclave_path);
    repack(&reply->base, &asylo__remote__provision_reply__descriptor);
    asylo__remote__provision_reply__free_unpacked(reply, NULL);
}

static void release_request(const uint8_t *data, size_t size) {
    Asylo__Remote__ReleaseRequest *request =
        asylo__remote__release_request__unpack(NULL, size, data);
    if (request == NULL) {
        return;
    }
    check_string(request->proxy_id);
    check_string(request->token);
    repack(&request->base, &asylo__remote__release_request__descriptor);
    asylo__remote__release_request__free_unpacked(request, NULL);
}

static void release_reply(const uint8_t *data, size_t size) {
    Asylo__Remote__ReleaseReply *reply = asylo__remote__release_reply__unpack(NULL, size, data);
    if (reply == NULL) {
        return;
    }
    repack(&reply->base, &asylo__remote__release_reply__descriptor);
    asylo__remote__release_reply__free_unpacked(reply, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) {
        return 0;
    }
    static void (*const parsers[])(const uint8_t *, size_t) = {
        load_request, provision_request, provision_reply, release_request, release_reply,
    };
    parsers[data[0] % (sizeof parsers / sizeof parsers[0])](data + 1, size - 1);
    return 0;
}
