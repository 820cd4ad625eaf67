/* The trusted runtime's front door: the one exported ABI symbol, attach, and
 * dispatch of entry calls by selector with the enclave-side lifecycle check.
 *
 * The host enforces the lifecycle too, but the host is untrusted: the enclave
 * refuses run before initialize and everything after finalize by itself, and
 * it keeps its own count of entry calls in flight, because a hostile host
 * (the reason the isolating backends exist) may enter FINALIZE on one thread
 * while another thread is still inside run. Finalize frees the decoded
 * config and clears the entry table, so it is refused (FAILED_PRECONDITION)
 * while any entry call is in flight, nested ones included; it never waits,
 * because a finalize entered from inside an exit of a call in flight would
 * then wait for itself.
 *
 * State and count share one atomic word (as in the host's call gate): an
 * entry counts itself in with a compare-and-swap that succeeds only while
 * running, and finalize leaves running with a compare-and-swap that succeeds
 * only while the count is zero, so neither can slip past the other. */
#include <stdatomic.h>
#include <stdbool.h>
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

#define STATE_SHIFT 28u
#define COUNT_MASK ((UINT32_C(1) << STATE_SHIFT) - 1u)

static _Atomic(const asylo__host_interface *) attached_host;
static atomic_bool attach_claimed;
static asylo__host_interface host_copy;
/* The state in the top bits, entry calls in flight below. */
static _Atomic uint32_t lifecycle = (uint32_t)STATE_UNINITIALIZED << STATE_SHIFT;
static asylo__decoded_config enclave_config;
static atomic_int log_level = ASYLO_LOG_INFO;

static int state_of(uint32_t word) {
    return (int)(word >> STATE_SHIFT);
}

/* Moves from `from` (with no call in flight) to `to`; otherwise false with
 * the word seen in *seen. */
static bool transition(int from, int to, uint32_t *seen) {
    uint32_t expected = (uint32_t)from << STATE_SHIFT;
    bool moved = atomic_compare_exchange_strong(&lifecycle, &expected, (uint32_t)to << STATE_SHIFT);
    *seen = expected;
    return moved;
}

/* For states only the thread that entered them leaves: nothing can be in
 * flight meanwhile, so the count stays zero. */
static void set_state(int state) {
    atomic_store(&lifecycle, (uint32_t)state << STATE_SHIFT);
}

/* Counts an entry call in while running; otherwise false with the state. */
static bool call_in(int *state) {
    uint32_t word = atomic_load(&lifecycle);
    for (;;) {
        if (state_of(word) != STATE_RUNNING || (word & COUNT_MASK) == COUNT_MASK) {
            *state = state_of(word);
            return false;
        }
        if (atomic_compare_exchange_weak(&lifecycle, &word, word + 1)) {
            return true;
        }
    }
}

static void call_out(void) {
    atomic_fetch_sub(&lifecycle, 1);
}

const asylo__host_interface *asylo__enclave_host(void) {
    return atomic_load(&attached_host);
}

asylo_log_level asylo__enclave_log_level(void) {
    return (asylo_log_level)atomic_load(&log_level);
}

/* Safe from inside an entry call (run, user selectors, initialize and
 * finalize): the config cannot be freed while one is in flight. */
const char *asylo_enclave_getenv(const char *name) {
    int current = state_of(atomic_load(&lifecycle));
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
    /* Claimed atomically: two racing attaches cannot both write the copy. */
    if (atomic_exchange(&attach_claimed, true)) {
        return asylo_status_set(status, ASYLO_ALREADY_EXISTS, ASYLO_ORIGIN_ENCLAVE,
                                "enclave instance is already attached to a host");
    }
    /* Keep a copy: the host's struct is not ours to trust to stay alive. */
    host_copy = *host;
    atomic_store(&attached_host, &host_copy);
    return asylo_status_ok(status);
}

static asylo_code wrong_state(const char *call, int current, asylo_status *status) {
    static const char *const names[] = {"uninitialized", "initializing", "running", "finalizing",
                                        "finalized"};
    return asylo_status_set(
        status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_ENCLAVE, "%s refused: the enclave is %s",
        call, current >= 0 && current <= STATE_FINALIZED ? names[current] : "in no known state");
}

static asylo_code enter_initialize(const uint8_t *input, size_t input_size, asylo_status *status) {
    uint32_t seen;
    if (!transition(STATE_UNINITIALIZED, STATE_INITIALIZING, &seen)) {
        return wrong_state("initialize", state_of(seen), status);
    }
    asylo_code code = asylo__enclave_config_decode(input, input_size, &enclave_config, status);
    if (code != ASYLO_OK) {
        set_state(STATE_FINALIZED);
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
        set_state(STATE_FINALIZED);
        asylo__decoded_config_fini(&enclave_config);
        return code;
    }
    set_state(STATE_RUNNING);
    return code;
}

static asylo_code enter_finalize(const uint8_t *input, size_t input_size, asylo_status *status) {
    uint32_t seen;
    if (!transition(STATE_RUNNING, STATE_FINALIZING, &seen)) {
        if (state_of(seen) == STATE_RUNNING) {
            return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_ENCLAVE,
                                    "finalize refused: %u entry call(s) still in flight in the "
                                    "enclave; finalize once they have returned",
                                    (unsigned)(seen & COUNT_MASK));
        }
        return wrong_state("finalize", state_of(seen), status);
    }
    asylo_code code = asylo_status_ok(status);
    if (asylo__trusted_application.finalize != NULL) {
        code = asylo__trusted_application.finalize(input, input_size, status);
    }
    asylo__entry_table_clear();
    set_state(STATE_FINALIZED);
    asylo__decoded_config_fini(&enclave_config);
    return code;
}

static asylo_code enter_counted(uint32_t selector, const uint8_t *input, size_t input_size,
                                asylo_output *output, asylo_status *status) {
    int current;
    if (!call_in(&current)) {
        return wrong_state(selector == ASYLO_SELECTOR_RUN ? "run" : "entry call", current, status);
    }
    asylo_code code;
    if (selector != ASYLO_SELECTOR_RUN) {
        code = asylo__entry_dispatch(selector, input, input_size, output, status);
    } else if (asylo__trusted_application.run == NULL) {
        code = asylo_status_set(status, ASYLO_UNIMPLEMENTED, ASYLO_ORIGIN_ENCLAVE,
                                "this enclave has no run callback");
    } else {
        code = asylo__trusted_application.run(input, input_size, output, status);
    }
    call_out();
    return code;
}

static asylo_code enter(uint32_t selector, const uint8_t *input, size_t input_size,
                        asylo_output *output, asylo_status *status) {
    if (input == NULL && input_size != 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "entry call with NULL input of %zu bytes", input_size);
    }
    if (atomic_load(&attached_host) == NULL) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_ENCLAVE,
                                "entry call before the host attached");
    }
    switch (selector) {
    case ASYLO_SELECTOR_INITIALIZE:
        return enter_initialize(input, input_size, status);
    case ASYLO_SELECTOR_FINALIZE:
        return enter_finalize(input, input_size, status);
    default:
        return enter_counted(selector, input, input_size, output, status);
    }
}

/* The only symbol an enclave image exports. */
__attribute__((visibility("default"))) const asylo__enclave_abi asylo_enclave_abi = {
    .magic = ASYLO__ABI_MAGIC,
    .abi_version = ASYLO__ABI_VERSION,
    .struct_size = sizeof(asylo__enclave_abi),
    .attach = attach,
    .enter = enter,
};
