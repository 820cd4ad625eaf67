/* The signature block decoder (asylo__sig_decode in src/identity/sigblock.c).
 * Input: the block's bytes. A block that decodes must encode to the same
 * bytes (the format has no slack a signature would not cover). */
#include <string.h>

#include "fuzz.h"
#include "identity/sigblock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    asylo__sig_block block;
    asylo_status status;
    asylo_code code = asylo__sig_decode(data, size, &block, &status);
    FUZZ_CHECK(code == ASYLO_OK || code == ASYLO_NOT_FOUND || code == ASYLO_DATA_LOSS ||
               code == ASYLO_FAILED_PRECONDITION);
    if (code == ASYLO_OK) {
        FUZZ_CHECK(size == ASYLO__SIG_BLOCK_SIZE);
        uint8_t again[ASYLO__SIG_BLOCK_SIZE];
        asylo__sig_encode(&block, again);
        FUZZ_CHECK(memcmp(again, data, ASYLO__SIG_BLOCK_SIZE) == 0);
    }
    return 0;
}
