/* The `sim` backend: the enclave image is loaded into the host process.
 *
 * No isolation at all: for development and tests. How it loads matters
 * (../../docs/backends.md): dlopen(RTLD_NOW | RTLD_LOCAL) of a private copy of
 * an image linked with -Bsymbolic and hidden visibility, so the enclave's own
 * symbols win over the host's and two loads share nothing. dlmopen and
 * RTLD_DEEPBIND are ruled out: OpenSSL breaks across link-map namespaces and
 * ASan refuses DEEPBIND. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/sim/image_check.h"
#include "backends/sim/private_copy.h"
#include "common/abi.h"
#include "backends/local_exits.h"
#include "identity/image_identity.h"

typedef struct sim_state {
    void *handle;
    const asylo__enclave_abi *abi;
    asylo__exit_dispatcher exits;
    asylo__host_interface host;
    uint8_t measurement[32];
    /* With the load config's debug flag the private copy stays on disk until
     * unload, so debuggers and sanitizers can name the enclave's frames. */
    char kept_copy[PATH_MAX];
    /* Verified at load from the private copy; answers the identity exits. */
    asylo_enclave_identity identity;
} sim_state;

static asylo_code sim_probe(asylo_status *status) {
    return asylo_status_ok(status);
}

static asylo_code sim_exit_call(void *context, uint32_t selector, const uint8_t *input,
                                size_t input_size, asylo_output *output, asylo_status *status) {
    sim_state *state = context;
    return asylo__local_exit_call(&state->identity, &state->exits, selector, input, input_size,
                                  output, status);
}

static asylo_code check_abi(const asylo__enclave_abi *abi, const char *path, asylo_status *status) {
    if (abi->magic != ASYLO__ABI_MAGIC || abi->struct_size < sizeof(asylo__enclave_abi) ||
        abi->attach == NULL || abi->enter == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "'%s' exports %s but it is not a valid enclave ABI table", path,
                                ASYLO__ABI_SYMBOL);
    }
    if (abi->abi_version != ASYLO__ABI_VERSION) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_BACKEND,
                                "'%s' was built for enclave ABI version %u but this library "
                                "speaks version %u: rebuild the enclave against this asylo-c",
                                path, abi->abi_version, ASYLO__ABI_VERSION);
    }
    return ASYLO_OK;
}

static asylo_code sim_load(void *opaque, const asylo__load_request *request, asylo_status *status) {
    sim_state *state = opaque;
    if (request->backend_config != NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "the sim backend takes no backend_config (got one for '%s')",
                                request->name);
    }
    int image_fd = -1;
    asylo_code code = asylo__image_open(request->enclave_path, &image_fd, status);
    if (code != ASYLO_OK) {
        return code;
    }
    char copy_path[PATH_MAX];
    code =
        asylo__private_copy(image_fd, request->enclave_path, copy_path, state->measurement, status);
    close(image_fd);
    if (code != ASYLO_OK) {
        return code;
    }
    /* The copy is what runs, so the copy is what is verified. */
    asylo__identity_policy policy = {.debug_load = request->debug,
                                     .expected_measurement = request->expected_measurement,
                                     .expected_signer_id = request->expected_signer_id};
    code = asylo__identity_check(copy_path, request->enclave_path, &policy, "sim", &state->identity,
                                 status);
    if (code != ASYLO_OK) {
        unlink(copy_path);
        asylo_status_prefix(status, "loading '%s'", request->name);
        return code;
    }
    state->handle = dlopen(copy_path, RTLD_NOW | RTLD_LOCAL);
    if (request->debug && state->handle != NULL) {
        snprintf(state->kept_copy, sizeof state->kept_copy, "%s", copy_path);
    } else {
        /* The mapping keeps the private copy alive; no file is left behind. */
        unlink(copy_path);
    }
    if (state->handle == NULL) {
        const char *why = dlerror();
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "cannot load enclave image '%s': %s", request->enclave_path,
                                why == NULL ? "dlopen failed" : why);
    }
    state->abi = dlsym(state->handle, ASYLO__ABI_SYMBOL);
    if (state->abi == NULL) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "'%s' is a shared object but not an asylo enclave: it has no %s "
                                "symbol (build it with asylo_add_enclave)",
                                request->enclave_path, ASYLO__ABI_SYMBOL);
        goto fail;
    }
    code = check_abi(state->abi, request->enclave_path, status);
    if (code != ASYLO_OK) {
        goto fail;
    }
    state->exits = request->exits;
    state->host = (asylo__host_interface){
        .abi_version = ASYLO__ABI_VERSION, .context = state, .exit_call = sim_exit_call};
    code = state->abi->attach(&state->host, status);
    if (code != ASYLO_OK) {
        asylo_status_prefix(status, "attaching enclave '%s'", request->name);
        goto fail;
    }
    return asylo_status_ok(status);
fail:
    dlclose(state->handle);
    state->handle = NULL;
    if (state->kept_copy[0] != '\0') {
        unlink(state->kept_copy);
        state->kept_copy[0] = '\0';
    }
    return code;
}

static asylo_code sim_enter(void *opaque, uint32_t selector, const uint8_t *input,
                            size_t input_size, asylo_output *output, asylo_status *status) {
    sim_state *state = opaque;
    /* Even in-process the enclave's status is checked like any untrusted value. */
    asylo_code code = state->abi->enter(selector, input, input_size, output, status);
    if (status != NULL) {
        status->message[sizeof status->message - 1] = '\0';
        if (!asylo_code_is_valid((int)code)) {
            asylo_status_set(status, ASYLO_UNKNOWN, ASYLO_ORIGIN_ENCLAVE,
                             "enclave returned code %d, which is not a canonical code", (int)code);
            return ASYLO_UNKNOWN;
        }
        status->code = code;
        if (code == ASYLO_OK) {
            status->origin = ASYLO_ORIGIN_NONE;
        } else if (status->origin <= ASYLO_ORIGIN_NONE || status->origin > ASYLO_ORIGIN_HOST) {
            status->origin = ASYLO_ORIGIN_ENCLAVE;
        }
    } else if (!asylo_code_is_valid((int)code)) {
        return ASYLO_UNKNOWN;
    }
    return code;
}

static void sim_unload(void *opaque) {
    sim_state *state = opaque;
    if (state->handle != NULL) {
        dlclose(state->handle);
        state->handle = NULL;
    }
    if (state->kept_copy[0] != '\0') {
        unlink(state->kept_copy);
        state->kept_copy[0] = '\0';
    }
}

static asylo_code sim_measurement(void *opaque, uint8_t digest[32], asylo_status *status) {
    sim_state *state = opaque;
    memcpy(digest, state->measurement, 32);
    return asylo_status_ok(status);
}

const asylo__backend asylo__sim_backend = {
    .interface_version = ASYLO__BACKEND_INTERFACE_VERSION,
    .name = "sim",
    .isolation = "none: the enclave runs inside the host process (development and tests)",
    .state_size = sizeof(sim_state),
    .probe = sim_probe,
    .load = sim_load,
    .enter = sim_enter,
    .unload = sim_unload,
    /* Interface v2: sim cannot interrupt trusted code (no terminate). */
    .measurement = sim_measurement,
};
