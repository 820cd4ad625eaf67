/* The trusted runtime's front door: the one exported ABI symbol, attach, and
 * dispatch of entry calls by selector with the enclave-side lifecycle check.
 *
 * The host enforces the lifecycle too, but the host is untrusted: the enclave
 * refuses run before initialize and everything after finalize by itself. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/enclave_config_codec.h"
#include "enclave/runtime_internal.h"

/* Provided by the enclave author through ASYLO_TRUSTED_APPLICATION. */
extern const asylo_trusted_application asylo__trusted_application;

enum enclave_state {
    STATE_UNINITIALIZED = 0,
    STATE_INITIALIZING,
    STATE_RUNNING,
    STATE_FINALIZING,
    STATE_FINALIZED,
};

static const asylo__host_interface *attached_host;
static asylo__host_interface host_copy;
static atomic_int state = STATE_UNINITIALIZED;
static asylo__decoded_config enclave_config;
static atomic_int log_level = ASYLO_LOG_INFO;

const asylo__host_interface *asylo__enclave_host(void) {
    return attached_host;
}

asylo_log_level asylo__enclave_log_level(void) {
    return (asylo_log_level)atomic_load(&log_level);
}

const char *asylo_enclave_getenv(const char *name) {
    int current = atomic_load(&state);
    if (name == NULL || current == STATE_UNINITIALIZED || current == STATE_FINALIZED) {
        return NULL;
    }
    for (size_t i = 0; i < enclave_config.config.environment_count; i++) {
        if (strcmp(enclave_config.variables[i].name, name) == 0) {
            return enclave_config.variables[i].value;
        }
    }
    return NULL;
}

static asylo_code attach(const asylo__host_interface *host, asylo_status *status) {
    if (host == NULL || host->exit_call == NULL || host->abi_version != ASYLO__ABI_VERSION) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_ENCLAVE,
                                "host interface is missing or speaks another ABI version");
    }
    if (attached_host != NULL) {
        return asylo_status_set(status, ASYLO_ALREADY_EXISTS, ASYLO_ORIGIN_ENCLAVE,
                                "enclave instance is already attached to a host");
    }
    /* Keep a copy: the host's struct is not ours to trust to stay alive. */
    host_copy = *host;
    attached_host = &host_copy;
    return asylo_status_ok(status);
}

static asylo_code wrong_state(const char *call, int current, asylo_status *status) {
    static const char *const names[] = {"uninitialized", "initializing", "running", "finalizing",
                                        "finalized"};
    return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_ENCLAVE,
                            "%s refused: the enclave is %s", call, names[current]);
}

static asylo_code enter_initialize(const uint8_t *input, size_t input_size, asylo_status *status) {
    int expected = STATE_UNINITIALIZED;
    if (!atomic_compare_exchange_strong(&state, &expected, STATE_INITIALIZING)) {
        return wrong_state("initialize", expected, status);
    }
    asylo_code code = asylo__enclave_config_decode(input, input_size, &enclave_config, status);
    if (code != ASYLO_OK) {
        atomic_store(&state, STATE_FINALIZED);
        return code;
    }
    atomic_store(&log_level, (int)enclave_config.config.log_level);
    if (asylo__trusted_application.initialize != NULL) {
        code = asylo__trusted_application.initialize(&enclave_config.config, status);
    } else {
        code = asylo_status_ok(status);
    }
    if (code != ASYLO_OK) {
        /* A failed initialize is final: the host unloads this instance without
         * a finalize, so release here what initialize took (the decoded
         * config lives on the shared heap and would outlive dlclose). */
        asylo__entry_table_clear();
        atomic_store(&state, STATE_FINALIZED);
        asylo__decoded_config_fini(&enclave_config);
        return code;
    }
    atomic_store(&state, STATE_RUNNING);
    return code;
}

static asylo_code enter_finalize(const uint8_t *input, size_t input_size, asylo_status *status) {
    int expected = STATE_RUNNING;
    if (!atomic_compare_exchange_strong(&state, &expected, STATE_FINALIZING)) {
        return wrong_state("finalize", expected, status);
    }
    asylo_code code = asylo_status_ok(status);
    if (asylo__trusted_application.finalize != NULL) {
        code = asylo__trusted_application.finalize(input, input_size, status);
    }
    asylo__entry_table_clear();
    atomic_store(&state, STATE_FINALIZED);
    asylo__decoded_config_fini(&enclave_config);
    return code;
}

static asylo_code enter(uint32_t selector, const uint8_t *input, size_t input_size,
                        asylo_output *output, asylo_status *status) {
    if (input == NULL && input_size != 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "entry call with NULL input of %zu bytes", input_size);
    }
    if (attached_host == NULL) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_ENCLAVE,
                                "entry call before the host attached");
    }
    switch (selector) {
    case ASYLO_SELECTOR_INITIALIZE:
        return enter_initialize(input, input_size, status);
    case ASYLO_SELECTOR_FINALIZE:
        return enter_finalize(input, input_size, status);
    default:
        break;
    }
    int current = atomic_load(&state);
    if (current != STATE_RUNNING) {
        return wrong_state(selector == ASYLO_SELECTOR_RUN ? "run" : "entry call", current, status);
    }
    if (selector == ASYLO_SELECTOR_RUN) {
        if (asylo__trusted_application.run == NULL) {
            return asylo_status_set(status, ASYLO_UNIMPLEMENTED, ASYLO_ORIGIN_ENCLAVE,
                                    "this enclave has no run callback");
        }
        return asylo__trusted_application.run(input, input_size, output, status);
    }
    return asylo__entry_dispatch(selector, input, input_size, output, status);
}

/* The only symbol an enclave image exports. */
__attribute__((visibility("default"))) const asylo__enclave_abi asylo_enclave_abi = {
    .magic = ASYLO__ABI_MAGIC,
    .abi_version = ASYLO__ABI_VERSION,
    .struct_size = sizeof(asylo__enclave_abi),
    .attach = attach,
    .enter = enter,
};
