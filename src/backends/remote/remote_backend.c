/* The `remote` backend (Asylo's RemoteEnclaveProxyClient): load provisions a
 * proxy, dials it with a deadline, asks it to load the enclave with a local
 * backend there, and keeps that first stream open for the enclave's life;
 * enter is remote_call.c; unload closes everything and finalizes the
 * provision. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylo/remote.h"
#include "asylo/selectors.h"
#include "asylo/remote.pb-c.h"
#include "backends/remote/load_response.h"
#include "transport/frame.h"
#include "backends/remote/remote_state.h"
#include "transport/security_options.h"
#include "common/bytes_output.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/struct_size.h"
#include "provision/local_provision.h"
#include "transport/grpc_runtime.h"

#define DEFAULT_PROVISION_TIMEOUT_MS 10000
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define CONTROL_CLOSE_TIMEOUT_MS 3000
#define IDLE_CLOSE_TIMEOUT_MS 2000
/* How long destroy waits for calls in flight and the finalize when the
 * config sets no call_timeout_ms (docs/remote.md, "Destroy"). */
#define DEFAULT_DESTROY_WAIT_MS 5000
/* A crashed proxy's sockets close a moment before it can be reaped. */
#define PROXY_END_WAIT_MS 500

void asylo_remote_config_init(asylo_remote_config *config) {
    if (config == NULL) {
        return;
    }
    memset(config, 0, sizeof *config);
    config->struct_size = sizeof *config;
    config->magic = ASYLO_REMOTE_CONFIG_MAGIC;
    asylo_security_options_init(&config->security);
    config->target_backend = NULL; /* the proxy's default */
}

/* Provisions in use by an enclave being loaded or loaded, with a count of
 * those enclaves: the user may destroy a provision before the clients that
 * use it, and its destroy then waits for the last of them (see remote.h).
 * The list lives here, not in the provision, because RemoteProvision is an
 * interface users implement: its struct has no room for a count. */
typedef struct provision_use {
    asylo_remote_provision *provision;
    int users;
    bool destroy_pending;
    struct provision_use *next;
} provision_use;

static pthread_mutex_t uses_lock = PTHREAD_MUTEX_INITIALIZER;
static provision_use *uses;

static provision_use **find_use_locked(const asylo_remote_provision *provision) {
    provision_use **link = &uses;
    while (*link != NULL && (*link)->provision != provision) {
        link = &(*link)->next;
    }
    return link;
}

static bool provision_acquire(asylo_remote_provision *provision) {
    pthread_mutex_lock(&uses_lock);
    provision_use **link = find_use_locked(provision);
    if (*link == NULL) {
        *link = calloc(1, sizeof **link);
        if (*link != NULL) {
            (*link)->provision = provision;
        }
    }
    bool acquired = *link != NULL;
    if (acquired) {
        (*link)->users++;
    }
    pthread_mutex_unlock(&uses_lock);
    return acquired;
}

/* Drops one use; the last one carries out a destroy asked for meanwhile. */
static void provision_release(asylo_remote_provision *provision) {
    bool destroy = false;
    pthread_mutex_lock(&uses_lock);
    provision_use **link = find_use_locked(provision);
    provision_use *use = *link;
    if (use != NULL && --use->users == 0) {
        destroy = use->destroy_pending;
        *link = use->next;
        free(use);
    }
    pthread_mutex_unlock(&uses_lock);
    if (destroy && provision->destroy != NULL) {
        provision->destroy(provision);
    }
}

void asylo_remote_provision_destroy(asylo_remote_provision *provision) {
    if (provision == NULL) {
        return;
    }
    pthread_mutex_lock(&uses_lock);
    provision_use *use = *find_use_locked(provision);
    if (use != NULL) {
        use->destroy_pending = true;
    }
    pthread_mutex_unlock(&uses_lock);
    if (use == NULL && provision->destroy != NULL) {
        provision->destroy(provision);
    }
}

static asylo_code remote_probe(asylo_status *status) {
    return asylo_status_ok(status);
}

/* Copies the caller's config into *adopted (only the fields its struct_size
 * covers; the rest keep their defaults) and checks it; *config points there. */
static asylo_code check_config(const asylo__load_request *request, asylo_remote_config *adopted,
                               const asylo_remote_config **config, asylo_status *status) {
    const asylo_remote_config *given = request->backend_config;
    if (given == NULL || given->magic != ASYLO_REMOTE_CONFIG_MAGIC) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "the remote backend needs backend_config to point at an "
                                "asylo_remote_config set up with asylo_remote_config_init");
    }
    asylo_remote_config_init(adopted);
    asylo_code code = asylo__struct_adopt(given, adopted, sizeof *adopted,
                                          ASYLO__V1_SIZE(asylo_remote_config, metrics_address),
                                          "asylo_remote_config", status);
    if (code == ASYLO_OK) {
        code = asylo__security_options_adopt(&given->security, &adopted->security, status);
    }
    if (code != ASYLO_OK) {
        return code;
    }
    *config = adopted;
    if ((*config)->provision != NULL &&
        ((*config)->provision->version == 0 ||
         (*config)->provision->version > ASYLO_REMOTE_PROVISION_VERSION)) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "remote config for '%s': asylo_remote_provision.version is %u; "
                                "this library knows versions 1 to %u (set it to "
                                "ASYLO_REMOTE_PROVISION_VERSION)",
                                request->name, (unsigned)(*config)->provision->version,
                                (unsigned)ASYLO_REMOTE_PROVISION_VERSION);
    }
    if ((*config)->provision == NULL && ((*config)->address == NULL || !(*config)->address[0])) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "remote config for '%s' has neither a provision nor an address "
                                "of a running proxy",
                                request->name);
    }
    if ((*config)->provision != NULL &&
        ((*config)->provision->provision == NULL || (*config)->provision->finalize == NULL)) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "remote config for '%s': the provision lacks provision() or "
                                "finalize()",
                                request->name);
    }
    if (request->enclave_path == NULL || request->enclave_path[0] == '\0') {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "no enclave image path given (load config enclave_path)");
    }
    return ASYLO_OK;
}

static asylo_code find_endpoint(remote_state *state, const asylo_remote_config *config,
                                const asylo__load_request *request, asylo_status *status) {
    if (config->provision == NULL) {
        snprintf(state->endpoint.address, sizeof state->endpoint.address, "%s", config->address);
        snprintf(state->endpoint.token, sizeof state->endpoint.token, "%s",
                 config->token == NULL ? "" : config->token);
        snprintf(state->endpoint.enclave_path, sizeof state->endpoint.enclave_path, "%s",
                 request->enclave_path);
        return ASYLO_OK;
    }
    int64_t timeout_ms = config->provision_timeout_ms > 0 ? config->provision_timeout_ms
                                                          : DEFAULT_PROVISION_TIMEOUT_MS;
    /* Held from here until unload: the provision outlives its destroy while
     * this enclave uses it. */
    if (!provision_acquire(config->provision)) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory tracking the provision of enclave '%s'",
                                request->name);
    }
    state->provision = config->provision;
    asylo_code code =
        config->provision->provision(config->provision, request->enclave_path,
                                     config->target_backend, timeout_ms, &state->endpoint, status);
    if (code != ASYLO_OK) {
        asylo_status_prefix(status, "provisioning a proxy for enclave '%s'", request->name);
        return code;
    }
    state->provisioned = true;
    return ASYLO_OK;
}

void asylo__remote_add_proxy_end(remote_state *state, asylo_code code, asylo_status *status) {
    if (code != ASYLO_UNAVAILABLE || status == NULL || !state->provisioned) {
        return;
    }
    char text[128];
    switch (
        asylo__local_provision_proxy_end(state->provision, PROXY_END_WAIT_MS, text, sizeof text)) {
    case ASYLO__PROXY_END_DESCRIBED:
        asylo_status_prefix(status, "%s", text);
        break;
    case ASYLO__PROXY_END_UNKNOWN:
        asylo_status_prefix(status, "the provision cannot tell whether or how the proxy ended "
                                    "(see the proxy's log)");
        break;
    case ASYLO__PROXY_END_RUNNING:
        break;
    }
}

/* The config's metrics endpoint, served by the core from this backend's
 * stats (backend.h, serve_metrics). */
static asylo_code ask_for_metrics(const asylo_remote_config *config,
                                  const asylo__load_request *request, asylo_status *status) {
    if (config->metrics_port == 0) {
        return asylo_status_ok(status);
    }
    if (config->metrics_port < ASYLO_REMOTE_METRICS_ANY_PORT || config->metrics_port > 65535) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "remote config for '%s': metrics_port %d is not 0 (off), a port "
                                "1..65535 or ASYLO_REMOTE_METRICS_ANY_PORT",
                                request->name, config->metrics_port);
    }
    if (request->serve_metrics == NULL) {
        return asylo_status_set(status, ASYLO_UNIMPLEMENTED, ASYLO_ORIGIN_API,
                                "remote config for '%s': metrics_port is set, but this host "
                                "library serves no metrics",
                                request->name);
    }
    return request->serve_metrics(
        request->stats_context, config->metrics_address,
        config->metrics_port == ASYLO_REMOTE_METRICS_ANY_PORT ? 0 : config->metrics_port, status);
}

/* Sends LOAD on the control stream: which image and which local backend. */
static asylo_code send_load(remote_state *state, const asylo_remote_config *config,
                            const asylo__load_request *request, asylo_status *status) {
    Asylo__Remote__LoadRequest load = ASYLO__REMOTE__LOAD_REQUEST__INIT;
    load.name = state->name;
    /* Empty: the proxy's default backend (process where its sandbox works). */
    load.backend = (char *)(config->target_backend ? config->target_backend : "");
    load.enclave_path = state->endpoint.enclave_path;
    load.debug = request->debug != 0;
    load.max_output_size = request->max_output_size;
    load.protocol_version = ASYLO__WIRE_PROTOCOL_VERSION;
    size_t size = asylo__remote__load_request__get_packed_size(&load);
    uint8_t *packed = malloc(size == 0 ? 1 : size);
    if (packed == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory for a load request");
    }
    asylo__remote__load_request__pack(&load, packed);
    asylo__bytes_output response;
    asylo__bytes_output_init(&response, 1024);
    asylo_code code = asylo__remote_call_on(state, state->control, ASYLO_SELECTOR_REMOTE_LOAD,
                                            packed, size, &response.output, status);
    if (code == ASYLO_OK) {
        code = asylo__remote_check_load_response(response.bytes.data, response.bytes.size,
                                                 state->name, state->endpoint.address, status);
    }
    asylo__bytes_output_fini(&response);
    free(packed);
    return code;
}

/* Dials the proxy of state->endpoint and sends LOAD on the control stream. */
static asylo_code connect_and_load(remote_state *state, const asylo_remote_config *config,
                                   const asylo__load_request *request, asylo_status *status) {
    asylo__channel_options channel_options = {
        .address = state->endpoint.address,
        .security = &state->security,
        .max_message_size = state->max_message_size,
        .connect_timeout_ms = config->connect_timeout_ms > 0 ? config->connect_timeout_ms
                                                             : DEFAULT_CONNECT_TIMEOUT_MS,
    };
    asylo_code code = asylo__channel_open(&channel_options, &state->channel, status);
    if (code == ASYLO_OK) {
        code = asylo__remote_stream_open(state, &state->control, status);
    }
    if (code == ASYLO_OK) {
        code = send_load(state, config, request, status);
    }
    return code;
}

/* Closes the connection to a proxy that failed before it loaded anything
 * and finalizes its provision. */
static void drop_proxy(remote_state *state) {
    asylo__remote_stream_pool_drain(state, 0);
    if (state->control != NULL) {
        asylo__remote_stream_close(state, state->control, 0);
        state->control = NULL;
    }
    asylo__channel_close(state->channel);
    state->channel = NULL;
    if (state->provisioned) {
        state->provision->finalize(state->provision, NULL);
        state->provisioned = false;
    }
}

static void release_all(remote_state *state) {
    /* A lost or abandoned peer gets no time to answer the closes. */
    bool hurry = atomic_load(&state->peer_lost) || atomic_load(&state->abandoned);
    asylo__remote_stream_pool_drain(state, hurry ? 0 : IDLE_CLOSE_TIMEOUT_MS);
    if (state->control != NULL) {
        /* Half-closing the control stream tells the proxy to unload and exit. */
        asylo__remote_stream_close(state, state->control, hurry ? 0 : CONTROL_CLOSE_TIMEOUT_MS);
        state->control = NULL;
    }
    asylo__channel_close(state->channel);
    state->channel = NULL;
    if (state->provisioned) {
        asylo_status finalize_status;
        if (state->provision->finalize(state->provision, &finalize_status) != ASYLO_OK) {
            char text[ASYLO_STATUS_MESSAGE_SIZE + 64];
            asylo__log(ASYLO_LOG_WARNING, "remote", state->name, 0, "finalizing the provision: %s",
                       asylo_status_format(&finalize_status, text, sizeof text));
        }
        state->provisioned = false;
    }
    if (state->provision != NULL) {
        provision_release(state->provision);
        state->provision = NULL;
    }
    pthread_mutex_destroy(&state->pool_lock);
    asylo__grpc_release();
}

static asylo_code remote_load(void *opaque, const asylo__load_request *request,
                              asylo_status *status) {
    remote_state *state = opaque;
    asylo_remote_config adopted;
    const asylo_remote_config *config;
    asylo_code code = check_config(request, &adopted, &config, status);
    if (code != ASYLO_OK) {
        return code;
    }
    asylo__grpc_acquire();
    pthread_mutex_init(&state->pool_lock, NULL);
    snprintf(state->name, sizeof state->name, "%s", request->name);
    asylo__security_from_public(&config->security, &state->security);
    state->exits = request->exits;
    state->max_output_size = request->max_output_size;
    state->max_message_size =
        config->max_message_size > 0 ? config->max_message_size : ASYLO__FRAME_DEFAULT_MAX_SIZE;
    state->call_timeout_ms = config->call_timeout_ms;
    atomic_init(&state->next_call_id, 1);
    /* Calls are timed and reported only when the config asked for metrics:
     * nothing else reads them, and timing every call costs clock reads. */
    if (config->metrics_port != 0) {
        state->stats_context = request->stats_context;
        state->on_stat = request->on_stat;
    }
    code = ask_for_metrics(config, request, status);
    if (code != ASYLO_OK) {
        goto fail;
    }

    code = find_endpoint(state, config, request, status);
    if (code == ASYLO_OK) {
        code = connect_and_load(state, config, request, status);
    }
    if (code == ASYLO_UNAVAILABLE && state->provisioned) {
        /* The proxy vanished between its provisioning and the LOAD (its
         * server died: kill -9, a lost node): provision once more, which a
         * fleet sends to another server. */
        char text[ASYLO_STATUS_MESSAGE_SIZE + 64];
        asylo__log(ASYLO_LOG_WARNING, "remote", state->name, 0,
                   "the provisioned proxy at %s is gone (%s); provisioning again",
                   state->endpoint.address, asylo_status_format(status, text, sizeof text));
        drop_proxy(state);
        code = find_endpoint(state, config, request, status);
        if (code == ASYLO_OK) {
            code = connect_and_load(state, config, request, status);
        }
    }
    if (code == ASYLO_OK) {
        /* Before INITIALIZE: a refused enclave never runs. */
        code = asylo__remote_attest(state, config, request, status);
    }
    if (code != ASYLO_OK) {
        goto fail;
    }
    asylo__log(ASYLO_LOG_INFO, "remote", state->name, 0,
               "loaded on the proxy at %s (target backend %s%s)", state->endpoint.address,
               config->target_backend ? config->target_backend : "the proxy's default",
               state->provisioned ? ", provisioned here" : "");
    return asylo_status_ok(status);
fail:
    release_all(state);
    return code;
}

static int64_t remote_destroy_begin(void *opaque) {
    remote_state *state = opaque;
    int64_t wait_ms = 0;
    if (!atomic_load(&state->peer_lost)) {
        wait_ms = state->call_timeout_ms > 0 ? state->call_timeout_ms : DEFAULT_DESTROY_WAIT_MS;
    }
    /* At least 1: zero means "no destroy yet". */
    int64_t deadline_ms = asylo__monotonic_ms() + wait_ms;
    atomic_store(&state->destroy_deadline_ms, deadline_ms > 0 ? deadline_ms : 1);
    return wait_ms;
}

static void remote_abandon(void *opaque) {
    remote_state *state = opaque;
    atomic_store(&state->abandoned, true);
    asylo__log(ASYLO_LOG_WARNING, "remote", state->name, 0,
               "destroy gave up waiting: cancelling the calls in flight to %s",
               state->endpoint.address);
    asylo__remote_stream_pool_cancel_busy(state,
                                          "the host destroyed the enclave while this call was "
                                          "in flight");
}

static void remote_unload(void *opaque) {
    remote_state *state = opaque;
    asylo__log(ASYLO_LOG_INFO, "remote", state->name, 0, "unloading: closing the streams to %s",
               state->endpoint.address);
    release_all(state);
}

const asylo__backend asylo__remote_backend = {
    .interface_version = ASYLO__BACKEND_INTERFACE_VERSION,
    .name = "remote",
    .isolation = "physical: the enclave runs in asylo-remote-proxy on the target machine, "
                 "behind a local backend there; the channel is TLS with ssl security",
    .state_size = sizeof(remote_state),
    .probe = remote_probe,
    .load = remote_load,
    .enter = asylo__remote_enter,
    .unload = remote_unload,
    .destroy_begin = remote_destroy_begin,
    .abandon = remote_abandon,
};
