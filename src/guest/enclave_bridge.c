/* Joins the trusted runtime (src/enclave, the same code the sim and process
 * backends load) to the kvm guest runtime: the runtime's ABI is attached at
 * start-up with exit calls that become EXIT frames, and every ENTER frame
 * goes to the ABI's enter with an output sink over the call's buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asylo/status.h"
#include "common/abi.h"
#include "guest/guest.h"

extern const asylo__enclave_abi asylo_enclave_abi;

/* The sink over asylo_guest_call's output buffer. */
typedef struct call_output {
    struct asylo_output output;
    asylo_guest_call *call;
} call_output;

static uint8_t *call_reserve(struct asylo_output *output, size_t size, asylo_status *status) {
    call_output *sink = (call_output *)output;
    asylo_guest_call *call = sink->call;
    if (size > call->output_capacity - call->output_size) {
        asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                         "kvm enclave output over the window's %zu bytes", call->output_capacity);
        return NULL;
    }
    uint8_t *at = call->output + call->output_size;
    call->output_size += size;
    return at;
}

static asylo_code exit_call(void *context, uint32_t selector, const uint8_t *input,
                            size_t input_size, asylo_output *output, asylo_status *status) {
    (void)context;
    const uint8_t *reply = NULL;
    size_t size = 0;
    int code = asylo_guest_exit_in_window(selector, input, input_size, &reply, &size);
    if (code == ASYLO_OK) {
        /* Straight from the window: writing to the output makes no crossing. */
        code = asylo_output_write(output, reply, size, status);
    } else {
        asylo_status_set(status, (asylo_code)code, (asylo_origin)asylo_guest_last_origin(), "%s",
                         asylo_guest_last_error());
    }
    return (asylo_code)code;
}

static const asylo__host_interface host = {
    .abi_version = ASYLO__ABI_VERSION, .context = NULL, .exit_call = exit_call};

/* The status of the last failed call, kept until serve_enter has sent it. */
static asylo_status last_status;

int asylo_guest_start(void) {
    asylo_status status;
    return asylo_enclave_abi.attach(&host, &status) == ASYLO_OK ? 0 : -1;
}

int asylo_guest_enter(uint32_t selector, asylo_guest_call *call) {
    call_output sink = {.output = {.reserve = call_reserve}, .call = call};
    asylo_status status;
    asylo_status_ok(&status);
    asylo_code code =
        asylo_enclave_abi.enter(selector, call->input, call->input_size, &sink.output, &status);
    if (code != ASYLO_OK) {
        last_status = status;
        call->error = last_status.message;
        call->origin = (uint32_t)last_status.origin;
        call->output_size = 0;
    }
    return (int)code;
}
