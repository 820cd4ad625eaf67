/* Serving the host's streams: the token check, then ENTER frames one after
 * another (LOAD, INITIALIZE, RUN, FINALIZE, user selectors), each reply
 * batched with the wait for the next frame. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asylo/client.h"
#include "asylo/crypto.h"
#include "asylo/remote.pb-c.h"
#include "asylo/selectors.h"
#include "common/bytes_output.h"
#include "common/enclave_config_codec.h"
#include "common/clock.h"
#include "common/log.h"
#include "identity/evidence.h"
#include "identity/image_identity.h"
#include "identity/platform.h"
#include "proxy/proxy.h"
#include "transport/client_stream.h"
#include "transport/frame.h"

/* Compares tokens in time independent of where they differ. */
static bool token_matches(const char *expected, const char *presented) {
    if (presented == NULL) {
        return false;
    }
    size_t expected_length = strlen(expected);
    size_t presented_length = strnlen(presented, ASYLO__PROXY_TOKEN_SIZE + 1);
    unsigned char difference = expected_length != presented_length;
    for (size_t i = 0; i < expected_length && i < presented_length; i++) {
        difference |= (unsigned char)(expected[i] ^ presented[i]);
    }
    return difference == 0;
}

/* Output of a successful LOAD: the wire protocol version this proxy speaks. */
static asylo_code load_response(asylo_buffer *output, asylo_status *status) {
    Asylo__Remote__LoadResponse response = ASYLO__REMOTE__LOAD_RESPONSE__INIT;
    response.protocol_version = ASYLO__WIRE_PROTOCOL_VERSION;
    size_t size = asylo__remote__load_response__get_packed_size(&response);
    output->data = malloc(size == 0 ? 1 : size);
    if (output->data == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory for a load response");
    }
    output->size = asylo__remote__load_response__pack(&response, output->data);
    return asylo_status_ok(status);
}

static asylo_code serve_load(asylo__proxy *proxy, const asylo__frame *enter, bool *is_control,
                             asylo_buffer *output, asylo_status *status) {
    Asylo__Remote__LoadRequest *load =
        asylo__remote__load_request__unpack(NULL, enter->payload_size, enter->payload);
    if (load == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_TRANSPORT,
                                "malformed LoadRequest (%zu bytes)", enter->payload_size);
    }
    asylo_code code = ASYLO_OK;
    const char *allowed = proxy->options.allowed_backend ? proxy->options.allowed_backend : "sim";
    pthread_mutex_lock(&proxy->lock);
    if (load->protocol_version != ASYLO__WIRE_PROTOCOL_VERSION) {
        code = asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                "the host speaks wire protocol version %u, this proxy version %u "
                                "(0: from before versioning); run matching asylo-c versions",
                                (unsigned)load->protocol_version,
                                (unsigned)ASYLO__WIRE_PROTOCOL_VERSION);
    } else if (proxy->loaded) {
        code =
            asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                             "this proxy already serves enclave '%s'; it serves one", proxy->name);
    } else if (load->backend[0] != '\0' && strcmp(load->backend, allowed) != 0) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "this proxy runs enclaves with the '%s' backend, not '%s'", allowed,
                                load->backend);
    } else if (proxy->options.enclave_path != NULL && load->enclave_path[0] != '\0' &&
               strcmp(load->enclave_path, proxy->options.enclave_path) != 0) {
        code = asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_API,
                                "this proxy serves only its provisioned enclave image");
    } else if (strlen(load->name) >= sizeof proxy->name ||
               strlen(load->enclave_path) >= sizeof proxy->enclave_path) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "enclave name or path too long");
    } else {
        snprintf(proxy->name, sizeof proxy->name, "%s", load->name);
        /* An empty backend asks for this proxy's own. */
        snprintf(proxy->backend, sizeof proxy->backend, "%s", allowed);
        snprintf(proxy->enclave_path, sizeof proxy->enclave_path, "%s",
                 load->enclave_path[0] != '\0' || proxy->options.enclave_path == NULL
                     ? load->enclave_path
                     : proxy->options.enclave_path);
        proxy->debug = load->debug;
        proxy->max_output_size = (size_t)load->max_output_size;
        proxy->loaded = true;
        *is_control = true;
        pthread_cond_broadcast(&proxy->changed);
        asylo__log(ASYLO_LOG_INFO, "proxy", proxy->name, enter->call_id,
                   "serving enclave image %s with backend %s", proxy->enclave_path, proxy->backend);
        code = asylo_status_ok(status);
    }
    pthread_mutex_unlock(&proxy->lock);
    asylo__remote__load_request__free_unpacked(load, NULL);
    if (code == ASYLO_OK) {
        code = load_response(output, status);
    }
    return code;
}

/* ATTEST: evidence for the image LOAD named, made by this machine's platform
 * before any of the image's code runs: the same checks the local backend
 * runs at load (signature, debug), the host's nonce, and the channel binding
 * as user data. INITIALIZE then pins the measurement attested here. */
static asylo_code serve_attest(asylo__proxy *proxy, const asylo__frame *enter, asylo_buffer *output,
                               asylo_status *status) {
    Asylo__Remote__AttestRequest *request =
        asylo__remote__attest_request__unpack(NULL, enter->payload_size, enter->payload);
    if (request == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_TRANSPORT,
                                "malformed AttestRequest (%zu bytes)", enter->payload_size);
    }
    char path[sizeof proxy->enclave_path];
    char backend[sizeof proxy->backend];
    pthread_mutex_lock(&proxy->lock);
    bool ready = proxy->loaded && proxy->client == NULL;
    snprintf(path, sizeof path, "%s", proxy->enclave_path);
    snprintf(backend, sizeof backend, "%s", proxy->backend);
    asylo__identity_policy policy = {.debug_load = proxy->debug};
    pthread_mutex_unlock(&proxy->lock);
    asylo__bytes_output evidence;
    asylo__bytes_output_init(&evidence, ASYLO_EVIDENCE_MAX_SIZE);
    uint8_t public_key[ASYLO_PLATFORM_KEY_SIZE];
    asylo_enclave_identity identity;
    asylo_code code;
    if (!ready) {
        code = asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                "attest needs a LOAD first and comes before initialize");
        goto out;
    }
    code = asylo__identity_check(path, path, &policy, backend, &identity, status);
    if (code == ASYLO_OK) {
        code = asylo__evidence_issue(&identity, request->nonce.data, request->nonce.len,
                                     proxy->channel_binding, sizeof proxy->channel_binding,
                                     &evidence.output, status);
    }
    code = asylo__bytes_output_verdict(&evidence, code, "evidence", NULL, status);
    if (code == ASYLO_OK) {
        code = asylo__platform_attestation_public_key(public_key, status);
    }
    if (code != ASYLO_OK) {
        asylo_status_prefix(status, "attesting enclave image %s on the target", path);
        goto out;
    }
    Asylo__Remote__AttestResponse response = ASYLO__REMOTE__ATTEST_RESPONSE__INIT;
    response.evidence.data = evidence.bytes.data;
    response.evidence.len = evidence.bytes.size;
    response.platform_key.data = public_key;
    response.platform_key.len = sizeof public_key;
    output->size = asylo__remote__attest_response__get_packed_size(&response);
    output->data = malloc(output->size);
    if (output->data == NULL) {
        output->size = 0;
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory for an attest reply");
        goto out;
    }
    asylo__remote__attest_response__pack(&response, output->data);
    pthread_mutex_lock(&proxy->lock);
    proxy->attested = true;
    memcpy(proxy->attested_measurement, identity.measurement, 32);
    pthread_mutex_unlock(&proxy->lock);
    asylo__log(ASYLO_LOG_INFO, "proxy", proxy->name, enter->call_id,
               "attested enclave image %s for the host", path);
    code = asylo_status_ok(status);
out:
    asylo__bytes_output_fini(&evidence);
    asylo__remote__attest_request__free_unpacked(request, NULL);
    return code;
}

/* Exit calls that run on the host: logging, files, and every user selector
 * (the fallback). Time and randomness stay here, on the target. */
static const uint32_t forwarded_builtins[] = {
    ASYLO_SELECTOR_LOG,        ASYLO_SELECTOR_FILE_OPEN,  ASYLO_SELECTOR_FILE_READ,
    ASYLO_SELECTOR_FILE_WRITE, ASYLO_SELECTOR_FILE_CLOSE, ASYLO_SELECTOR_FILE_UNLINK,
    ASYLO_SELECTOR_FILE_SEEK,  ASYLO_SELECTOR_FILE_STAT,  ASYLO_SELECTOR_FILE_FSTAT,
};
#define FORWARDED_COUNT (sizeof forwarded_builtins / sizeof forwarded_builtins[0])

static asylo_client *loaded_client(asylo__proxy *proxy, asylo_status *status);

static asylo_code serve_initialize(asylo__proxy *proxy, const asylo__frame *enter,
                                   asylo_status *status) {
    pthread_mutex_lock(&proxy->lock);
    bool ready = proxy->loaded && proxy->client == NULL;
    pthread_mutex_unlock(&proxy->lock);
    if (!ready) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                "initialize needs a LOAD first and comes once");
    }
    asylo__decoded_config decoded;
    asylo_code code =
        asylo__enclave_config_decode(enter->payload, enter->payload_size, &decoded, status);
    if (code != ASYLO_OK) {
        return code;
    }
    asylo_exit_handler handlers[FORWARDED_COUNT];
    for (size_t i = 0; i < FORWARDED_COUNT; i++) {
        handlers[i] = (asylo_exit_handler){forwarded_builtins[i], asylo__proxy_forward_exit, proxy};
    }
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = proxy->name;
    config.backend = proxy->backend;
    config.enclave_path = proxy->enclave_path;
    config.debug = proxy->debug;
    config.enclave_config = decoded.config;
    config.exit_handlers = handlers;
    config.exit_handler_count = FORWARDED_COUNT;
    config.exit_fallback = asylo__proxy_forward_exit;
    config.exit_fallback_context = proxy;
    config.max_output_size = proxy->max_output_size;
    /* What ATTEST showed the host is what runs: the local backend refuses a
     * file that changed since (PERMISSION_DENIED naming both). */
    uint8_t attested_measurement[32];
    pthread_mutex_lock(&proxy->lock);
    if (proxy->attested) {
        memcpy(attested_measurement, proxy->attested_measurement, sizeof attested_measurement);
        config.expected_measurement = attested_measurement;
    }
    pthread_mutex_unlock(&proxy->lock);
    asylo_client *client = NULL;
    code = asylo_manager_load(proxy->manager, &config, &client, status);
    asylo__decoded_config_fini(&decoded);
    if (code == ASYLO_OK) {
        pthread_mutex_lock(&proxy->lock);
        proxy->client = client;
        proxy->enclave_counted = true;
        pthread_mutex_unlock(&proxy->lock);
        asylo__metrics_enclaves_loaded_add(proxy->options.metrics, 1);
        asylo__log(ASYLO_LOG_INFO, "proxy", proxy->name, enter->call_id,
                   "enclave loaded with backend %s and initialized", proxy->backend);
    } else {
        char text[ASYLO_STATUS_MESSAGE_SIZE + 64];
        asylo__log(ASYLO_LOG_WARNING, "proxy", proxy->name, enter->call_id,
                   "loading or initializing the enclave failed: %s",
                   asylo_status_format(status, text, sizeof text));
    }
    return code;
}

static asylo_code serve_finalize(asylo__proxy *proxy, const asylo__frame *enter,
                                 asylo_status *status) {
    asylo_client *client = loaded_client(proxy, status);
    if (client == NULL) {
        return status->code;
    }
    asylo_code code = asylo_client_finalize(client, enter->payload, enter->payload_size, status);
    bool uncount = false;
    pthread_mutex_lock(&proxy->lock);
    if (code == ASYLO_OK && proxy->enclave_counted) {
        proxy->enclave_counted = false;
        uncount = true;
    }
    pthread_mutex_unlock(&proxy->lock);
    if (uncount) {
        asylo__metrics_enclaves_loaded_add(proxy->options.metrics, -1);
    }
    if (code == ASYLO_OK) {
        asylo__log(ASYLO_LOG_INFO, "proxy", proxy->name, enter->call_id, "enclave finalized");
    } else {
        asylo__log(ASYLO_LOG_WARNING, "proxy", proxy->name, enter->call_id,
                   "finalize failed with %s", asylo_code_name(code));
    }
    return code;
}

static asylo_client *loaded_client(asylo__proxy *proxy, asylo_status *status) {
    pthread_mutex_lock(&proxy->lock);
    asylo_client *client = proxy->client;
    pthread_mutex_unlock(&proxy->lock);
    if (client == NULL) {
        asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                         "the enclave is not initialized on this proxy");
    }
    return client;
}

asylo_code asylo__proxy_serve_entry(asylo__proxy *proxy, uint64_t call_id, uint32_t selector,
                                    const uint8_t *input, size_t input_size, bool *is_control,
                                    asylo_output *output, asylo_status *status) {
    /* The handlers below read the call as the frame it came in. */
    asylo__frame enter;
    asylo__frame_init(&enter);
    enter.call_id = call_id;
    enter.kind = ASYLO__FRAME_ENTER;
    enter.selector = selector;
    enter.payload = input;
    enter.payload_size = input_size;
    bool timed = proxy->options.metrics != NULL || asylo__log_enabled(ASYLO_LOG_DEBUG);
    int64_t started_ns = timed ? asylo__monotonic_ns() : 0;
    asylo_code code;
    asylo_client *client;
    asylo_buffer result = {0};
    switch (selector) {
    case ASYLO_SELECTOR_REMOTE_LOAD:
        code = serve_load(proxy, &enter, is_control, &result, status);
        break;
    case ASYLO_SELECTOR_REMOTE_ATTEST:
        code = serve_attest(proxy, &enter, &result, status);
        break;
    case ASYLO_SELECTOR_INITIALIZE:
        code = serve_initialize(proxy, &enter, status);
        break;
    case ASYLO_SELECTOR_RUN:
        client = loaded_client(proxy, status);
        code = client == NULL ? status->code
                              : asylo_client_run(client, input, input_size, &result, status);
        break;
    case ASYLO_SELECTOR_FINALIZE:
        code = serve_finalize(proxy, &enter, status);
        break;
    default:
        client = loaded_client(proxy, status);
        code = client == NULL
                   ? status->code
                   : asylo_client_call(client, selector, input, input_size, &result, status);
        break;
    }
    size_t output_size = result.size;
    if (code == ASYLO_OK) {
        /* The reply takes the output over without a copy where it can; one
         * it cannot hold becomes the reply's error (RESOURCE_EXHAUSTED
         * naming the limit), never an empty or cut RETURN. */
        code = asylo__output_take(output, &result, status);
        if (code != ASYLO_OK) {
            asylo_status_prefix(status,
                                "the proxy could not keep the %zu-byte output of selector %u for "
                                "its reply",
                                output_size, (unsigned)selector);
        }
    }
    asylo_buffer_free(&result);
    if (code != ASYLO_OK) {
        output_size = 0;
    }
    if (timed) {
        double seconds = (double)(asylo__monotonic_ns() - started_ns) / 1e9;
        asylo__call_cache_record(&proxy->calls, ASYLO__CALL_ENTER, selector, code, seconds,
                                 input_size, output_size);
        asylo__log(ASYLO_LOG_DEBUG, "proxy", proxy->name, call_id,
                   "enter selector %u (%s): %s in %.3f ms, %zu bytes in, %zu bytes out",
                   (unsigned)selector, asylo__proxy_selector_name(selector), asylo_code_name(code),
                   seconds * 1e3, input_size, output_size);
    }
    return code;
}

/* The session's handler: one ENTER of the host, on the stream's thread. */
static asylo_code serve_stream_entry(void *context, uint32_t selector, const uint8_t *input,
                                     size_t input_size, asylo_output *output,
                                     asylo_status *status) {
    asylo__proxy_stream *stream = context;
    return asylo__proxy_serve_entry(stream->proxy, asylo__protocol_serving_call(&stream->session),
                                    selector, input, input_size, &stream->is_control, output,
                                    status);
}

static uint64_t new_exit_id(void *context) {
    asylo__proxy_stream *stream = context;
    uint64_t id = atomic_fetch_add(&stream->proxy->next_call_id, 1);
    if (stream->exit_id_sink != NULL) {
        *stream->exit_id_sink = id;
        stream->exit_id_sink = NULL;
    }
    return id;
}

void asylo__proxy_serve_stream(asylo__server_call *call, void *context) {
    asylo__proxy *proxy = context;
    if (asylo__proxy_finishing(proxy)) {
        ASYLO__LOG_LIMITED(ASYLO_LOG_WARNING, "proxy", NULL, 0,
                           "refused a stream from %s: the proxy is shutting down",
                           asylo__server_call_peer(call));
        asylo__server_call_finish(call, ASYLO_UNAVAILABLE,
                                  "this proxy is shutting down and takes no new streams", NULL);
        return;
    }
    if (proxy->options.token[0] != '\0' &&
        !token_matches(proxy->options.token,
                       asylo__server_call_metadata(call, ASYLO__TOKEN_METADATA_KEY))) {
        ASYLO__LOG_LIMITED(ASYLO_LOG_WARNING, "proxy", NULL, 0,
                           "refused a stream from %s: missing or wrong token",
                           asylo__server_call_peer(call));
        asylo__server_call_finish(call, ASYLO_UNAUTHENTICATED,
                                  "missing or wrong asylo-token: this proxy serves only the host "
                                  "it was provisioned for",
                                  NULL);
        return;
    }
    asylo__metrics_active_streams_add(proxy->options.metrics, 1);
    asylo__log(ASYLO_LOG_DEBUG, "proxy", NULL, 0, "stream opened by %s",
               asylo__server_call_peer(call));
    asylo__proxy_stream stream = {.proxy = proxy, .call = call};
    asylo__stream_channel_init_server(&stream.channel, call);
    stream.session = (asylo__protocol_session){
        .channel = &stream.channel.channel,
        .handler = serve_stream_entry,
        .handler_context = &stream,
        .peer_origin = ASYLO_ORIGIN_TRANSPORT,
        .is_host = false,
        .new_call_id = new_exit_id,
        .new_call_id_context = &stream,
    };
    asylo__proxy_set_current_stream(&stream);
    char reason[200] = "the host closed the control stream";
    for (;;) {
        asylo_status status;
        asylo_code code = asylo__protocol_serve_one(&stream.session, &status);
        if (code == ASYLO_OK) {
            continue;
        }
        if (code == ASYLO_OUT_OF_RANGE && stream.channel.failed) {
            asylo__server_call_finish(call, ASYLO_OK, NULL, NULL);
            break;
        }
        if (stream.channel.failed) {
            snprintf(reason, sizeof reason, "the host went away: %.150s", status.message);
            asylo__log(ASYLO_LOG_WARNING, "proxy", asylo__proxy_enclave_name(proxy), 0,
                       "peer gone: %s stream from %s ended with %s: %s",
                       stream.is_control ? "the control" : "a", asylo__server_call_peer(call),
                       asylo_code_name(code), status.message);
            break;
        }
        /* The host broke the call protocol (a frame out of place, ids that
         * do not match): the stream cannot be trusted on. */
        asylo__server_call_finish(call, ASYLO_INVALID_ARGUMENT, status.message, NULL);
        snprintf(reason, sizeof reason, "protocol violation by the host: %.150s", status.message);
        asylo__log(ASYLO_LOG_WARNING, "proxy", asylo__proxy_enclave_name(proxy), 0,
                   "%s stream from %s: %s", stream.is_control ? "the control" : "a",
                   asylo__server_call_peer(call), status.message);
        break;
    }
    asylo__proxy_set_current_stream(NULL);
    asylo__stream_channel_fini(&stream.channel);
    bool is_control = stream.is_control;
    asylo__metrics_active_streams_add(proxy->options.metrics, -1);
    asylo__log(ASYLO_LOG_DEBUG, "proxy", NULL, 0, "%s stream from %s closed",
               is_control ? "control" : "call", asylo__server_call_peer(call));
    if (is_control) {
        asylo__proxy_finish(proxy, reason);
    }
}
