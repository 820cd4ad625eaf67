/* Forwarding the enclave's exit calls to the host, on the stream of the entry
 * call they nest in (so the host answers them on its calling thread). While
 * waiting for the answer the host may enter the enclave again: that ENTER is
 * served here, on this thread, and answered before waiting on. */
#include "common/bytes_output.h"
#include "common/clock.h"
#include "common/log.h"
#include "proxy/proxy.h"

static _Thread_local asylo__proxy_thread_call thread_calls[ASYLO_MAX_CALL_DEPTH + 2];
static _Thread_local int thread_call_depth;

asylo__proxy_thread_call *asylo__proxy_current_call(void) {
    return thread_call_depth > 0 ? &thread_calls[thread_call_depth - 1] : NULL;
}

void asylo__proxy_push_call(const asylo__proxy_thread_call *call) {
    /* The host library bounds nesting at ASYLO_MAX_CALL_DEPTH, below this. */
    if (thread_call_depth < (int)(sizeof thread_calls / sizeof thread_calls[0])) {
        thread_calls[thread_call_depth] = *call;
    }
    thread_call_depth++;
}

void asylo__proxy_pop_call(void) {
    thread_call_depth--;
}

asylo_code asylo__proxy_forward_exit(void *context, asylo_client *client, uint32_t selector,
                                     const uint8_t *input, size_t input_size, asylo_output *output,
                                     asylo_status *status) {
    (void)client;
    asylo__proxy *proxy = context;
    asylo__proxy_thread_call *current = asylo__proxy_current_call();
    if (current == NULL || current->proxy != proxy ||
        thread_call_depth > (int)(sizeof thread_calls / sizeof thread_calls[0])) {
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                                "exit call %u made outside any host call (from a thread the "
                                "enclave started?): there is no host stream to send it on",
                                selector);
    }
    asylo__server_call *call = current->call;
    uint64_t exit_id = atomic_fetch_add(&proxy->next_call_id, 1);
    asylo__frame send;
    asylo__frame_init(&send);
    send.call_id = exit_id;
    send.parent_call_id = current->enter_call_id;
    send.kind = ASYLO__FRAME_EXIT;
    send.selector = selector;
    send.payload = input;
    send.payload_size = input_size;
    asylo__bytes_output nested_reply;
    asylo__bytes_output_init(&nested_reply, ASYLO__BYTES_DEFAULT_LIMIT);
    bool timed = proxy->options.metrics != NULL || asylo__log_enabled(ASYLO_LOG_DEBUG);
    int64_t started_ns = timed ? asylo__monotonic_ns() : 0;
    size_t reply_size = 0;
    asylo_code code;
    for (;;) {
        asylo__frame received;
        /* No deadline: the host's handler may take its time; a dead host is
         * noticed by keepalive and fails this wait. */
        code = asylo__server_call_exchange(call, &send, &received, -1, status);
        asylo__bytes_output_fini(&nested_reply);
        asylo__bytes_output_init(&nested_reply, ASYLO__BYTES_DEFAULT_LIMIT);
        if (code != ASYLO_OK) {
            if (code == ASYLO_OUT_OF_RANGE) {
                code = asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                                        "the host closed its stream during exit call %u", selector);
            }
            break;
        }
        if (received.kind == ASYLO__FRAME_ENTER) {
            bool not_control = false;
            asylo__proxy_serve_enter(proxy, call, &received, &not_control, &nested_reply, &send);
            asylo__frame_release(&received);
            continue;
        }
        if ((received.kind == ASYLO__FRAME_RETURN || received.kind == ASYLO__FRAME_ERROR) &&
            received.call_id == exit_id) {
            if (received.kind == ASYLO__FRAME_RETURN) {
                reply_size = received.payload_size;
                code = asylo_output_write(output, received.payload, received.payload_size, status);
            } else {
                code = received.status.code;
                *status = received.status;
            }
            asylo__frame_release(&received);
            break;
        }
        code = asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_TRANSPORT,
                                "protocol violation: host sent %s for call %llu while exit %llu "
                                "was waiting",
                                asylo__frame_kind_name(received.kind),
                                (unsigned long long)received.call_id, (unsigned long long)exit_id);
        asylo__frame_release(&received);
        asylo__server_call_finish(call, ASYLO_INVALID_ARGUMENT, "protocol violation", NULL);
        break;
    }
    asylo__bytes_output_fini(&nested_reply);
    if (timed) {
        double seconds = (double)(asylo__monotonic_ns() - started_ns) / 1e9;
        asylo__call_cache_record(&proxy->calls, ASYLO__CALL_EXIT, selector, code, seconds,
                                 reply_size, input_size);
        /* Logged under the host's call it nests in; exit ids are the
         * proxy's own numbering. */
        asylo__log(ASYLO_LOG_DEBUG, "proxy", proxy->name, current->enter_call_id,
                   "exit %llu, selector %u (%s), forwarded to the host: %s in %.3f ms, %zu "
                   "bytes out, %zu bytes in",
                   (unsigned long long)exit_id, (unsigned)selector,
                   asylo__proxy_selector_name(selector), asylo_code_name(code), seconds * 1e3,
                   input_size, reply_size);
    }
    return code;
}
