/* The remote call-protocol frame decoder (src/transport/frame.c): every
 * byte a proxy or a host reads off a stream. A frame that decodes must
 * encode again and decode to the same values. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "transport/frame.h"

static void round_trip(const asylo__frame *frame, size_t max_size) {
    uint8_t *bytes = NULL;
    size_t size = 0;
    asylo_status status;
    asylo_code code = asylo__frame_encode_bytes(frame, max_size, &bytes, &size, &status);
    FUZZ_CHECK(code == ASYLO_OK);
    asylo__frame again;
    code = asylo__frame_decode_bytes(bytes, size, max_size, &again, &status);
    FUZZ_CHECK(code == ASYLO_OK);
    FUZZ_CHECK(again.call_id == frame->call_id);
    FUZZ_CHECK(again.parent_call_id == frame->parent_call_id);
    FUZZ_CHECK(again.kind == frame->kind);
    FUZZ_CHECK(again.selector == frame->selector);
    FUZZ_CHECK(again.payload_size == frame->payload_size);
    FUZZ_CHECK(frame->payload_size == 0 ||
               memcmp(again.payload, frame->payload, frame->payload_size) == 0);
    FUZZ_CHECK(again.status.code == frame->status.code);
    FUZZ_CHECK(strcmp(again.status.message, frame->status.message) == 0);
    asylo__frame_release(&again);
    free(bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* The default limit and a small one, so the size checks run too. */
    static const size_t limits[] = {0, 64};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        asylo__frame frame;
        asylo_status status;
        asylo_code code = asylo__frame_decode_bytes(data, size, limits[i], &frame, &status);
        FUZZ_CHECK(asylo_code_is_valid((int)code));
        if (code != ASYLO_OK) {
            FUZZ_CHECK(frame.payload == NULL && frame.storage_ == NULL);
            FUZZ_CHECK(memchr(status.message, '\0', sizeof status.message) != NULL);
            continue;
        }
        FUZZ_CHECK(frame.kind >= ASYLO__FRAME_ENTER && frame.kind <= ASYLO__FRAME_ERROR);
        FUZZ_CHECK(asylo_code_is_valid((int)frame.status.code));
        FUZZ_CHECK(frame.kind != ASYLO__FRAME_ERROR || frame.status.code != ASYLO_OK);
        FUZZ_CHECK(memchr(frame.status.message, '\0', sizeof frame.status.message) != NULL);
        FUZZ_CHECK(limits[i] == 0 || frame.payload_size <= limits[i]);
        FUZZ_CHECK((frame.payload == NULL) == (frame.payload_size == 0));
        round_trip(&frame, limits[i]);
        asylo__frame_release(&frame);
    }
    return 0;
}
