/* See fake_host.h. Built with ASYLO_TRUSTED_BUILD: it links the trusted
 * runtime, not the host library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylo/selectors.h"
#include "asylo/trusted.h"
#include "common/abi.h"
#include "fake_host.h"
#include "identity/identity_exits.h"

/* The image's trusted application: the fuzz targets enter nothing. */
ASYLO_TRUSTED_APPLICATION(NULL, NULL, NULL);

extern const asylo__enclave_abi asylo_enclave_abi;

fake_host_reply fake_host_reply_now;

static void put_u32(uint8_t *bytes, uint32_t value) {
    for (int i = 0; i < 4; i++) {
        bytes[i] = (uint8_t)(value >> (8 * i));
    }
}

static asylo_code honest_answer(uint32_t selector, asylo_output *output, asylo_status *status) {
    if (selector == ASYLO_SELECTOR_IDENTITY) {
        uint8_t identity[ASYLO__IDENTITY_WIRE_SIZE] = {0};
        put_u32(identity, ASYLO__IDENTITY_WIRE_VERSION);
        memset(identity + 4, 0xab, 32);  /* measurement */
        memset(identity + 36, 0xcd, 32); /* signer id */
        put_u32(identity + 68, 3);       /* product id */
        put_u32(identity + 72, 9);       /* svn */
        put_u32(identity + 76, ASYLO__IDENTITY_FLAG_SIGNED);
        memcpy(identity + 80, "sim", 3);
        return asylo_output_write(output, identity, sizeof identity, status);
    }
    /* ASYLO_SELECTOR_SEAL_KEY: one fixed key for every request. */
    uint8_t key[32];
    memset(key, 0x5e, sizeof key);
    return asylo_output_write(output, key, sizeof key, status);
}

static asylo_code exit_call(void *context, uint32_t selector, const uint8_t *input,
                            size_t input_size, asylo_output *output, asylo_status *status) {
    (void)context;
    (void)input;
    (void)input_size;
    if (!fake_host_reply_now.lie_about_identity &&
        (selector == ASYLO_SELECTOR_IDENTITY || selector == ASYLO_SELECTOR_SEAL_KEY)) {
        return honest_answer(selector, output, status);
    }
    if (fake_host_reply_now.size > 0 &&
        asylo_output_write(output, fake_host_reply_now.data, fake_host_reply_now.size, status) !=
            ASYLO_OK) {
        return status->code;
    }
    /* The code is whatever the fuzzer chose, valid or not: the runtime must
     * cope. The message is left unterminated on purpose. */
    memset(status->message, 'x', sizeof status->message);
    status->code = fake_host_reply_now.code;
    status->origin = (asylo_origin)fake_host_reply_now.code;
    return fake_host_reply_now.code;
}

void fake_host_attach(void) {
    static asylo__host_interface host = {ASYLO__ABI_VERSION, NULL, exit_call};
    static int attached;
    if (attached) {
        return;
    }
    asylo_status status;
    if (asylo_enclave_abi.attach(&host, &status) != ASYLO_OK) {
        fprintf(stderr, "fake host: attach failed: %s\n", status.message);
        abort();
    }
    attached = 1;
}
