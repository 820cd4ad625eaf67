/* Forwarding the enclave's exit calls to the host, on the stream of the entry
 * call they nest in (so the host answers them on its calling thread). The
 * call protocol does the conversation: while waiting for the answer it serves
 * the host's nested ENTERs on this thread. */
#include "common/bytes_output.h"
#include "common/clock.h"
#include "common/log.h"
#include "proxy/proxy.h"

static _Thread_local asylo__proxy_stream *current_stream;

asylo__proxy_stream *asylo__proxy_current_stream(void) {
    return current_stream;
}

void asylo__proxy_set_current_stream(asylo__proxy_stream *stream) {
    current_stream = stream;
}

asylo_code asylo__proxy_forward_exit(void *context, asylo_client *client, uint32_t selector,
                                     const uint8_t *input, size_t input_size, asylo_output *output,
                                     asylo_status *status) {
    (void)client;
    asylo__proxy *proxy = context;
    asylo__proxy_stream *stream = current_stream;
    uint64_t enter_call_id = stream != NULL ? asylo__protocol_serving_call(&stream->session) : 0;
    if (stream == NULL || stream->proxy != proxy || enter_call_id == 0) {
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                                "exit call %u made outside any host call (from a thread the "
                                "enclave started?): there is no host stream to send it on",
                                selector);
    }
    bool timed = proxy->options.metrics != NULL || asylo__log_enabled(ASYLO_LOG_DEBUG);
    int64_t started_ns = timed ? asylo__monotonic_ns() : 0;
    asylo__counting_output counter;
    asylo__counting_output_init(&counter, output);
    /* No deadline: the host's handler may take its time; a dead host is
     * noticed by keepalive and fails this wait. */
    uint64_t exit_id = 0;
    stream->exit_id_sink = &exit_id;
    asylo_code code = asylo__protocol_exit(&stream->session, selector, input, input_size,
                                           &counter.output, status);
    stream->exit_id_sink = NULL;
    if (code == ASYLO_OUT_OF_RANGE && stream->channel.failed) {
        code = asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                                "the host closed its stream during exit call %u", selector);
    }
    if (timed) {
        double seconds = (double)(asylo__monotonic_ns() - started_ns) / 1e9;
        size_t reply_size = code == ASYLO_OK ? counter.size : 0;
        asylo__call_cache_record(&proxy->calls, ASYLO__CALL_EXIT, selector, code, seconds,
                                 reply_size, input_size);
        /* Logged under the host's call it nests in; exit ids are the
         * proxy's own numbering. */
        asylo__log(ASYLO_LOG_DEBUG, "proxy", proxy->name, enter_call_id,
                   "exit %llu, selector %u (%s), forwarded to the host: %s in %.3f ms, %zu bytes "
                   "out, %zu bytes in",
                   (unsigned long long)exit_id, (unsigned)selector,
                   asylo__proxy_selector_name(selector), asylo_code_name(code), seconds * 1e3,
                   input_size, reply_size);
    }
    return code;
}
