/* Client calls and the lifecycle: uninitialized -> running -> finalizing ->
 * finalized.
 *
 * The call path takes no lock: a call counts itself in through the client's
 * call gate (call_gate.h), which refuses unless the client is running;
 * finalize moves the state away from running and waits for the count to
 * drain. Finalize's own entry is not counted: it is marked by the state
 * (finalizing until it has returned), and destroy waits for both. A
 * thread-local stack of the clients this thread is
 * inside makes nesting bounded and turns finalize-from-inside into an error
 * instead of a deadlock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes_output.h"
#include "common/enclave_config_codec.h"
#include "common/log.h"
#include "host/client_internal.h"
#include "host/client_metrics.h"

static _Thread_local asylo_client *active_clients[ASYLO_MAX_CALL_DEPTH];
static _Thread_local int active_depth;

bool asylo__client_is_inside(const asylo_client *client) {
    for (int i = 0; i < active_depth; i++) {
        if (active_clients[i] == client) {
            return true;
        }
    }
    return false;
}

const char *asylo_client_state_name(asylo_client_state state) {
    switch (state) {
    case ASYLO_CLIENT_UNINITIALIZED:
        return "uninitialized";
    case ASYLO_CLIENT_RUNNING:
        return "running";
    case ASYLO_CLIENT_FINALIZING:
        return "finalizing";
    case ASYLO_CLIENT_FINALIZED:
        return "finalized";
    case ASYLO_CLIENT_LOST:
        return "lost";
    }
    return "unknown";
}

asylo_client_state asylo_client_get_state(const asylo_client *client) {
    return client == NULL ? ASYLO_CLIENT_FINALIZED
                          : (asylo_client_state)asylo__call_gate_state(&client->gate);
}

const char *asylo_client_name(const asylo_client *client) {
    return client == NULL ? NULL : client->name;
}

const char *asylo_client_backend_name(const asylo_client *client) {
    return client == NULL ? NULL : client->backend->name;
}

/* Enters the backend with this thread's call stack maintained. The output is
 * collected into a bounded buffer and handed to *output only on success. */
static asylo_code enter_backend(asylo_client *client, uint32_t selector, const void *input,
                                size_t input_size, asylo_buffer *output, asylo_status *status) {
    if (active_depth >= ASYLO_MAX_CALL_DEPTH) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "calls into enclaves nest more than %d deep on this thread",
                                ASYLO_MAX_CALL_DEPTH);
    }
    asylo__bytes_output collector;
    asylo__bytes_output_init(&collector, client->max_output_size);
    active_clients[active_depth++] = client;
    asylo_code code = client->backend->enter(client->backend_state, selector, input, input_size,
                                             &collector.output, status);
    active_depth--;
    code = asylo__bytes_output_verdict(&collector, code, "enclave", client->name, status);
    if (code == ASYLO_OK && output != NULL) {
        asylo__bytes_output_release(&collector, output);
    }
    asylo__bytes_output_fini(&collector);
    return code;
}

static asylo_code check_call_arguments(asylo_client *client, const void *input, size_t input_size,
                                       asylo_buffer *output, asylo_status *status) {
    if (output != NULL) {
        output->data = NULL;
        output->size = 0;
    }
    if (client == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, "client is NULL");
    }
    if (input == NULL && input_size != 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "input is NULL but input_size is %zu", input_size);
    }
    return ASYLO_OK;
}

static asylo_code counted_call(asylo_client *client, uint32_t selector, const void *input,
                               size_t input_size, asylo_buffer *output, asylo_status *status) {
    int state;
    if (!asylo__call_gate_enter(&client->gate, ASYLO_CLIENT_RUNNING, &state)) {
        if (state == ASYLO_CLIENT_LOST) {
            return asylo__client_lost_status(client, status);
        }
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                "enclave '%s' is %s: %s is allowed only while it is running",
                                client->name, asylo_client_state_name(state),
                                selector == ASYLO_SELECTOR_RUN ? "run" : "an entry call");
    }
    asylo_code code = enter_backend(client, selector, input, input_size, output, status);
    /* After this the client may already be freed by a finalizing thread. */
    asylo__call_gate_exit(&client->gate, ASYLO_CLIENT_RUNNING);
    return code;
}

asylo_code asylo_client_run(asylo_client *client, const void *input, size_t input_size,
                            asylo_buffer *output, asylo_status *status) {
    asylo_status local;
    asylo_status *out = status != NULL ? status : &local;
    asylo_code code = check_call_arguments(client, input, input_size, output, out);
    if (code != ASYLO_OK) {
        return code;
    }
    return counted_call(client, ASYLO_SELECTOR_RUN, input, input_size, output, out);
}

asylo_code asylo_client_call(asylo_client *client, uint32_t selector, const void *input,
                             size_t input_size, asylo_buffer *output, asylo_status *status) {
    asylo_status local;
    asylo_status *out = status != NULL ? status : &local;
    asylo_code code = check_call_arguments(client, input, input_size, output, out);
    if (code != ASYLO_OK) {
        return code;
    }
    if (selector < ASYLO_SELECTOR_USER_FIRST) {
        return asylo_status_set(out, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "entry selector 0x%x is reserved; user selectors start at 0x%x "
                                "(use asylo_client_run for run)",
                                selector, ASYLO_SELECTOR_USER_FIRST);
    }
    return counted_call(client, selector, input, input_size, output, out);
}

/* Runs finalize on a client this thread moved to finalizing: waits for the
 * calls in flight, enters the enclave, and ends with the state finalized
 * (announced through the gate, so a destroying thread waiting for this
 * finalize may free the client from then on). */
static asylo_code finalize_entered(asylo_client *client, const void *final_input,
                                   size_t final_input_size, asylo_status *status) {
    asylo__call_gate_wait_drained(&client->gate);
    asylo_code code =
        enter_backend(client, ASYLO_SELECTOR_FINALIZE, final_input, final_input_size, NULL, status);
    asylo__call_gate_finish(&client->gate, ASYLO_CLIENT_FINALIZED);
    return code;
}

asylo_code asylo_client_finalize(asylo_client *client, const void *final_input,
                                 size_t final_input_size, asylo_status *status) {
    asylo_status local;
    asylo_status *out = status != NULL ? status : &local;
    asylo_code code = check_call_arguments(client, final_input, final_input_size, NULL, out);
    if (code != ASYLO_OK) {
        return code;
    }
    if (asylo__client_is_inside(client)) {
        return asylo_status_set(out, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                "cannot finalize enclave '%s' from inside a call on it",
                                client->name);
    }
    int seen;
    if (!asylo__call_gate_transition(&client->gate, ASYLO_CLIENT_RUNNING, ASYLO_CLIENT_FINALIZING,
                                     &seen)) {
        if (seen == ASYLO_CLIENT_LOST) {
            /* Refused with the cause, like every call on a lost client (the
             * remote proxy hands it to its host this way). */
            return asylo__client_lost_status(client, out);
        }
        return asylo_status_set(out, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                "enclave '%s' is %s: finalize needs it running", client->name,
                                asylo_client_state_name(seen));
    }
    return finalize_entered(client, final_input, final_input_size, out);
}

static int compare_handlers(const void *left, const void *right) {
    uint32_t a = ((const asylo_exit_handler *)left)->selector;
    uint32_t b = ((const asylo_exit_handler *)right)->selector;
    return a < b ? -1 : a > b;
}

static asylo_code copy_exit_handlers(asylo_client *client, const asylo_load_config *config,
                                     asylo_status *status) {
    size_t count = config->exit_handler_count;
    if (count == 0) {
        return ASYLO_OK;
    }
    if (config->exit_handlers == NULL || count > ASYLO_MAX_EXIT_HANDLERS) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "exit_handler_count is %zu but exit_handlers is NULL or the "
                                "count is over %d",
                                count, ASYLO_MAX_EXIT_HANDLERS);
    }
    client->exit_handlers = malloc(count * sizeof *client->exit_handlers);
    if (client->exit_handlers == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory copying %zu exit handlers", count);
    }
    memcpy(client->exit_handlers, config->exit_handlers, count * sizeof *client->exit_handlers);
    client->exit_handler_count = count;
    qsort(client->exit_handlers, count, sizeof *client->exit_handlers, compare_handlers);
    for (size_t i = 0; i < count; i++) {
        uint32_t selector = client->exit_handlers[i].selector;
        if (client->exit_handlers[i].handler == NULL) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "exit handler for selector %u is NULL", selector);
        }
        if (selector < ASYLO_SELECTOR_USER_FIRST &&
            (selector < ASYLO_SELECTOR_BUILTIN_FIRST || selector > ASYLO_SELECTOR_BUILTIN_LAST)) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "exit selector 0x%x is reserved: use the user range (from "
                                    "0x%x) or override a built-in (0x%x-0x%x)",
                                    selector, ASYLO_SELECTOR_USER_FIRST,
                                    ASYLO_SELECTOR_BUILTIN_FIRST, ASYLO_SELECTOR_BUILTIN_LAST);
        }
        if (i > 0 && client->exit_handlers[i - 1].selector == selector) {
            /* INVALID_ARGUMENT, not ALREADY_EXISTS: that code means "name in use". */
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "two exit handlers for selector %u", selector);
        }
    }
    return ASYLO_OK;
}

static void client_free(asylo_client *client) {
    asylo__file_table_fini(&client->files);
    free(client->exit_handlers);
    free(client->backend_state);
    free(client);
}

asylo_code asylo__client_create(asylo_manager *manager, const asylo_load_config *config,
                                const asylo__backend *backend, asylo_client **result,
                                asylo_status *status) {
    *result = NULL;
    asylo_client *client = calloc(1, sizeof *client);
    if (client == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory for a client");
    }
    client->manager = manager;
    client->backend = backend;
    snprintf(client->name, sizeof client->name, "%s", config->name);
    client->max_output_size =
        config->max_output_size == 0 ? ASYLO_DEFAULT_MAX_OUTPUT_SIZE : config->max_output_size;
    asylo__call_gate_init(&client->gate, ASYLO_CLIENT_UNINITIALIZED);
    asylo__file_table_init(&client->files);
    client->exit_fallback = config->exit_fallback;
    client->exit_fallback_context = config->exit_fallback_context;
    client->destroy_timeout_ms = config->destroy_timeout_ms;
    client->backend_state = calloc(1, backend->state_size == 0 ? 1 : backend->state_size);
    asylo_code code = client->backend_state == NULL
                          ? asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                             "out of memory for backend state")
                          : copy_exit_handlers(client, config, status);
    if (code == ASYLO_OK) {
        code = asylo__file_root_open(&client->files.root, config->file_root, status);
    }
    if (code != ASYLO_OK) {
        client_free(client);
        return code;
    }
    *result = client;
    return asylo_status_ok(status);
}

asylo_code asylo__client_load(asylo_client *client, const asylo_load_config *config,
                              asylo_status *status) {
    asylo__bytes encoded_config;
    asylo__bytes_init(&encoded_config, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo_code code =
        asylo__enclave_config_encode(&config->enclave_config, &encoded_config, status);
    if (code != ASYLO_OK) {
        asylo__bytes_fini(&encoded_config);
        return code;
    }
    asylo__load_request request = {
        .name = client->name,
        .enclave_path = config->enclave_path,
        .debug = config->debug,
        .backend_config = config->backend_config,
        .max_output_size = client->max_output_size,
        .exits = {.context = client, .dispatch = asylo__client_dispatch_exit},
        .expected_measurement = config->expected_measurement,
        .expected_signer_id = config->expected_signer_id,
        .lost_context = client,
        .on_lost = asylo__client_on_lost,
        .memory_size = config->memory_limit_size,
        .max_concurrent_calls = config->max_concurrent_calls,
        .stack_size = config->stack_size,
        .stats_context = client,
        .on_stat = asylo__client_metrics_on_stat,
        .serve_metrics = asylo__client_metrics_serve,
    };
    code = client->backend->load(client->backend_state, &request, status);
    if (code != ASYLO_OK) {
        asylo__client_metrics_release(client);
        asylo__bytes_fini(&encoded_config);
        return code;
    }
    code = enter_backend(client, ASYLO_SELECTOR_INITIALIZE, encoded_config.data,
                         encoded_config.size, NULL, status);
    asylo__bytes_fini(&encoded_config);
    if (code != ASYLO_OK) {
        /* Never hand out a half-made enclave. */
        asylo__call_gate_set_state(&client->gate, ASYLO_CLIENT_FINALIZED);
        client->backend->unload(client->backend_state);
        asylo__client_metrics_release(client);
        asylo_status_prefix(status, "initializing enclave '%s'", client->name);
        return code;
    }
    asylo__call_gate_set_state(&client->gate, ASYLO_CLIENT_RUNNING);
    asylo__log(ASYLO_LOG_DEBUG, "host", client->name, 0, "loaded with backend %s",
               client->backend->name);
    return asylo_status_ok(status);
}

/* The bounded part of destroy: waits (at most wait_ms, < 0: no bound) for
 * the calls in flight and a finalize, running finalize itself when the
 * client is still running; past the bound the backend abandons (remote) or terminates (process) the
 * enclave (calls in flight fail promptly) and finalize is skipped. */
static asylo_code settle_for_destroy(asylo_client *client, const void *final_input,
                                     size_t final_input_size, int64_t wait_ms,
                                     asylo_status *status) {
    asylo_code code = asylo_status_ok(status);
    int seen;
    bool finalizing = asylo__call_gate_transition(&client->gate, ASYLO_CLIENT_RUNNING,
                                                  ASYLO_CLIENT_FINALIZING, &seen);
    /* Another thread's finalize may still be inside the enclave: its entry is
     * not a counted call, so wait for the state to leave finalizing too. */
    int busy = finalizing ? -1 : ASYLO_CLIENT_FINALIZING;
    if (asylo__call_gate_wait_settled(&client->gate, busy, wait_ms)) {
        if (finalizing) {
            /* A remote backend bounds this finalize itself (destroy_begin's
             * deadline); one that can terminate gets a watchdog that does. */
            asylo__destroy_watchdog *watchdog = asylo__destroy_watchdog_start(client, wait_ms);
            code = enter_backend(client, ASYLO_SELECTOR_FINALIZE, final_input, final_input_size,
                                 NULL, status);
            asylo__destroy_watchdog_stop(watchdog);
            asylo__call_gate_finish(&client->gate, ASYLO_CLIENT_FINALIZED);
        } else if (seen == ASYLO_CLIENT_LOST) {
            /* The instance died before finalize could run: destroy says so
             * with the cause, as remote does for a proxy that died. */
            code = asylo__client_lost_status(client, status);
            asylo_status_prefix(status, "destroying enclave '%s' (not finalized)", client->name);
        }
        return code;
    }
    asylo__log(ASYLO_LOG_WARNING, "host", client->name, 0,
               "destroy: calls in flight did not return within %lld ms; abandoning the enclave",
               (long long)wait_ms);
    asylo__client_stop_calls(client);
    /* Abandoned or terminated calls return promptly; a host exit handler still running is
     * waited for (nothing can interrupt it). */
    asylo__call_gate_wait_settled(&client->gate, busy, -1);
    if (finalizing) {
        asylo__call_gate_finish(&client->gate, ASYLO_CLIENT_FINALIZED);
    }
    return asylo_status_set(status, ASYLO_DEADLINE_EXCEEDED, ASYLO_ORIGIN_BACKEND,
                            "destroying enclave '%s': calls in flight%s did not return within "
                            "%lld ms; they were ended and the enclave was %s",
                            client->name, finalizing ? "" : " or another thread's finalize",
                            (long long)wait_ms,
                            finalizing ? "not finalized" : "torn down during its finalize");
}

asylo_code asylo__client_destroy(asylo_client *client, const void *final_input,
                                 size_t final_input_size, asylo_status *status) {
    const asylo__backend *backend = client->backend;
    int64_t wait_ms = asylo__client_destroy_wait_ms(client);
    asylo_code code = settle_for_destroy(client, final_input, final_input_size, wait_ms, status);
    backend->unload(client->backend_state);
    asylo__client_metrics_release(client);
    asylo__log(ASYLO_LOG_DEBUG, "host", client->name, 0, "unloaded");
    client_free(client);
    return code;
}

void asylo__client_discard(asylo_client *client) {
    client_free(client);
}
