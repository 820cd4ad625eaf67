/* The `kvm` backend: the plug-in face of the VMM (kvm_vm.c). Each loaded
 * enclave is one micro-VM with one vCPU; the enclave's image is the static
 * guest ELF built by asylo_add_kvm_guest (docs/kvm.md). */
#include <string.h>

#include "backends/backend.h"
#include "backends/kvm/kvm_vm.h"
#include "backends/local_exits.h"
#include "identity/image_identity.h"

/* How long destroy waits for calls in flight and the finalize before it
 * abandons them (the watchdog signal then stops the vCPU at once). */
#define KVM_DESTROY_WAIT_MS 2000

typedef struct kvm_state {
    asylo__kvm_vm *vm;
    asylo__exit_dispatcher exits;
    /* Verified at load from the image file; answers the identity exits. */
    asylo_enclave_identity identity;
} kvm_state;

static asylo_code kvm_probe(asylo_status *status) {
    return asylo__kvm_probe(status);
}

static asylo_code kvm_exit_call(void *context, uint32_t selector, const uint8_t *input,
                                size_t input_size, asylo_output *output, asylo_status *status) {
    kvm_state *state = context;
    return asylo__local_exit_call(&state->identity, &state->exits, selector, input, input_size,
                                  output, status);
}

static asylo_code kvm_load(void *opaque, const asylo__load_request *request, asylo_status *status) {
    kvm_state *state = opaque;
    if (request->backend_config != NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "the kvm backend takes no backend_config yet (got one for '%s')",
                                request->name);
    }
    asylo_code code = asylo__kvm_probe(status);
    if (code != ASYLO_OK) {
        return code;
    }
    asylo__identity_policy policy = {.debug_load = request->debug,
                                     .expected_measurement = request->expected_measurement,
                                     .expected_signer_id = request->expected_signer_id};
    code = asylo__identity_check(request->enclave_path, request->enclave_path, &policy, "kvm",
                                 &state->identity, status);
    if (code != ASYLO_OK) {
        asylo_status_prefix(status, "loading '%s'", request->name);
        return code;
    }
    state->exits = request->exits;
    asylo__kvm_options options = {.max_output_size = request->max_output_size,
                                  .exits = {.context = state, .dispatch = kvm_exit_call}};
    code = asylo__kvm_vm_create(request->enclave_path, &options, &state->vm, NULL, status);
    if (code != ASYLO_OK) {
        asylo_status_prefix(status, "loading '%s'", request->name);
    }
    return code;
}

static asylo_code kvm_enter(void *opaque, uint32_t selector, const uint8_t *input,
                            size_t input_size, asylo_output *output, asylo_status *status) {
    kvm_state *state = opaque;
    asylo_status local;
    asylo_status *result = status != NULL ? status : &local;
    asylo_code code =
        asylo__kvm_vm_enter(state->vm, selector, input, input_size, output, 0, result);
    if (code == ASYLO_OK) {
        asylo_status_ok(result);
    }
    return code;
}

static void kvm_unload(void *opaque) {
    kvm_state *state = opaque;
    asylo__kvm_vm_destroy(state->vm);
    state->vm = NULL;
}

static int64_t kvm_destroy_begin(void *opaque) {
    kvm_state *state = opaque;
    return asylo__kvm_vm_is_lost(state->vm) ? 0 : KVM_DESTROY_WAIT_MS;
}

static void kvm_abandon(void *opaque) {
    kvm_state *state = opaque;
    asylo__kvm_vm_abandon(state->vm);
}

const asylo__backend asylo__kvm_backend = {
    .interface_version = ASYLO__BACKEND_INTERFACE_VERSION,
    .name = "kvm",
    .isolation = "a micro-VM on /dev/kvm: the enclave runs in guest ring 3 with no system calls "
                 "into the host kernel",
    .state_size = sizeof(kvm_state),
    .probe = kvm_probe,
    .load = kvm_load,
    .enter = kvm_enter,
    .unload = kvm_unload,
    .destroy_begin = kvm_destroy_begin,
    .abandon = kvm_abandon,
};
