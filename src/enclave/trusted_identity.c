/* The enclave's own identity: the reserved signature section, and the
 * IDENTITY exit that the backend (not the host application) answers. */
#include <stdatomic.h>
#include <string.h>

#include "asylo/identity.h"
#include "enclave/runtime_internal.h"
#include "identity/identity_exits.h"
#include "identity/sigblock.h"

/* asylo-sign fills these bytes in the image file; the measurement counts them
 * as zeros. `used` and the linker's --undefined (cmake/AsyloEnclave.cmake)
 * keep it in every image. Nothing in the enclave reads it: the backend
 * verifies the file before anything of it runs. */
__attribute__((section(ASYLO__SIG_SECTION_NAME), used, aligned(16)))
const uint8_t asylo__signature_block[ASYLO__SIG_BLOCK_SIZE] = {0};

static uint32_t get_u32(const uint8_t *bytes) {
    return (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
           (uint32_t)bytes[3] << 24;
}

int asylo__identity_wire_decode(const uint8_t *wire, size_t size,
                                asylo_enclave_identity *identity) {
    if (size != ASYLO__IDENTITY_WIRE_SIZE || get_u32(wire) != ASYLO__IDENTITY_WIRE_VERSION ||
        (get_u32(wire + 76) & ~(ASYLO__IDENTITY_FLAG_SIGNED | ASYLO__IDENTITY_FLAG_DEBUG)) != 0 ||
        wire[80 + ASYLO_MAX_BACKEND_NAME_SIZE - 1] != 0) {
        return 0;
    }
    memset(identity, 0, sizeof *identity);
    memcpy(identity->measurement, wire + 4, 32);
    memcpy(identity->signer_id, wire + 36, 32);
    identity->product_id = get_u32(wire + 68);
    identity->svn = get_u32(wire + 72);
    uint32_t flags = get_u32(wire + 76);
    identity->is_signed = (flags & ASYLO__IDENTITY_FLAG_SIGNED) != 0;
    identity->debug = (flags & ASYLO__IDENTITY_FLAG_DEBUG) != 0;
    memcpy(identity->backend, wire + 80, ASYLO_MAX_BACKEND_NAME_SIZE);
    return 1;
}

asylo_code asylo_enclave_identity_get(asylo_enclave_identity *identity, asylo_status *status) {
    if (identity == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "asylo_enclave_identity_get: identity is NULL");
    }
    memset(identity, 0, sizeof *identity);
    asylo_buffer answer = {0};
    asylo_code code = asylo__enclave_exit(ASYLO_SELECTOR_IDENTITY, NULL, 0,
                                          ASYLO__IDENTITY_WIRE_SIZE, &answer, status);
    if (code != ASYLO_OK) {
        asylo_status_prefix(status, "asking the backend for this enclave's identity");
        goto out;
    }
    /* The answer crossed the boundary: check its exact shape. */
    if (!asylo__identity_wire_decode(answer.data, answer.size, identity)) {
        code = asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE,
                                "the identity answer is malformed (%zu bytes)", answer.size);
        goto out;
    }
    code = asylo_status_ok(status);
out:
    asylo_buffer_free(&answer);
    return code;
}
