/* The enclave image checks run before any byte of an image is trusted:
 * the ELF header check (src/backends/sim/image_check.c) and the search for
 * the signature section (asylo__sig_locate in src/identity/sigblock.c),
 * then the block it finds. Input: an image file. */
#include <string.h>

#include "backends/sim/image_check.h"
#include "fuzz.h"
#include "identity/sigblock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    asylo_status status;
    asylo_code code = asylo__elf_header_check(data, size, "fuzz.so", &status);
    FUZZ_CHECK(asylo_code_is_valid((int)code));
    asylo__sig_location location = {0};
    code = asylo__sig_locate(data, size, "fuzz.so", &location, &status);
    FUZZ_CHECK(code == ASYLO_OK || code == ASYLO_NOT_FOUND || code == ASYLO_DATA_LOSS);
    if (code == ASYLO_OK) {
        /* The section must lie inside the file: a caller reads it next. */
        FUZZ_CHECK(location.size == ASYLO__SIG_BLOCK_SIZE);
        FUZZ_CHECK(location.offset <= size && location.size <= size - location.offset);
        asylo__sig_block block;
        code = asylo__sig_decode(data + location.offset, location.size, &block, &status);
        FUZZ_CHECK(asylo_code_is_valid((int)code));
    }
    return 0;
}
