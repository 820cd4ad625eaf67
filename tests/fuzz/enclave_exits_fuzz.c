/* The trusted runtime's decoders of the host's answers to exit calls
 * (src/enclave/exit_calls.c, trusted_identity.c, trusted_attestation.c):
 * whatever the host answers is untrusted. Input: [operation][host's code]
 * then the host's answer bytes. Every call must return a valid code and
 * never hand the caller more than it asked for. */
#include <string.h>

#include "asylo/attestation.h"
#include "asylo/identity.h"
#include "asylo/trusted.h"
#include "fake_host.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) {
        return 0;
    }
    fake_host_attach();
    fake_host_reply_now = (fake_host_reply){
        .code = (asylo_code)(data[1] % 20), /* some outside 0..16 */
        .data = data + 2,
        .size = size - 2,
        .lie_about_identity = 1,
    };
    asylo_status status;
    asylo_code code = ASYLO_OK;
    uint8_t buffer[64];
    size_t moved = 0;
    int handle = -1;
    switch (data[0] % 11) {
    case 0: {
        int64_t nanoseconds;
        code = asylo_enclave_time_wall(&nanoseconds, &status);
        break;
    }
    case 1: {
        int64_t nanoseconds;
        code = asylo_enclave_time_monotonic(&nanoseconds, &status);
        break;
    }
    case 2:
        code = asylo_enclave_random(buffer, sizeof buffer, &status);
        break;
    case 3:
        code = asylo_enclave_file_open("fuzz/path", ASYLO_FILE_READ, 0, &handle, &status);
        FUZZ_CHECK(code != ASYLO_OK || handle >= 0);
        break;
    case 4:
        code = asylo_enclave_file_read(1, buffer, sizeof buffer, &moved, &status);
        FUZZ_CHECK(code != ASYLO_OK || moved <= sizeof buffer);
        break;
    case 5:
        memset(buffer, 7, sizeof buffer);
        code = asylo_enclave_file_write(1, buffer, sizeof buffer, &moved, &status);
        FUZZ_CHECK(code != ASYLO_OK || moved <= sizeof buffer);
        break;
    case 6:
        code = asylo_enclave_file_close(1, &status);
        break;
    case 7:
        code = asylo_enclave_file_unlink("fuzz/path", &status);
        break;
    case 8: {
        asylo_enclave_identity identity;
        code = asylo_enclave_identity_get(&identity, &status);
        FUZZ_CHECK(code != ASYLO_OK ||
                   memchr(identity.backend, '\0', sizeof identity.backend) != NULL);
        break;
    }
    case 9: {
        asylo_buffer evidence = {0};
        code = asylo_enclave_get_evidence("fuzz nonce", 10, "u", 1, &evidence, &status);
        FUZZ_CHECK(code != ASYLO_OK || evidence.size <= ASYLO_EVIDENCE_MAX_SIZE);
        asylo_buffer_free(&evidence);
        break;
    }
    default: {
        asylo_buffer output = {0};
        code = asylo_enclave_exit_call(ASYLO_SELECTOR_USER_FIRST, "in", 2, &output, &status);
        FUZZ_CHECK(code != ASYLO_OK || output.size == size - 2);
        asylo_buffer_free(&output);
        break;
    }
    }
    FUZZ_CHECK(asylo_code_is_valid((int)code));
    FUZZ_CHECK(memchr(status.message, '\0', sizeof status.message) != NULL);
    return 0;
}
