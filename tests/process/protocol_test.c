/* The call protocol (src/protocol) over in-memory channels: a real
 * conversation between two threads (nesting both ways), and a scripted peer
 * that sends hostile frames. Every hostile frame must give a clear status,
 * never a crash, and a frame that breaks the protocol must end the session. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/process/shm_channel.h"
#include "common/abi.h"
#include "common/bytes_output.h"
#include "protocol/protocol.h"

#define MAX_PAYLOAD 4096

/* ---- a pair of in-memory channels: one frame in flight each way ---- */

typedef struct mailbox {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int full;
    asylo__protocol_frame frame;
    uint8_t payload[MAX_PAYLOAD];
} mailbox;

typedef struct end {
    mailbox *out;
    mailbox *in;
    asylo__protocol_channel channel;
} end;

static asylo_code pipe_send(void *context, const asylo__protocol_frame *frame,
                            asylo_status *status) {
    end *self = context;
    mailbox *box = self->out;
    assert_true(frame->payload_size <= MAX_PAYLOAD);
    pthread_mutex_lock(&box->lock);
    while (box->full) {
        pthread_cond_wait(&box->changed, &box->lock);
    }
    box->frame = *frame;
    memcpy(box->payload, frame->payload == NULL ? (const uint8_t *)"" : frame->payload,
           frame->payload_size);
    box->full = 1;
    pthread_cond_broadcast(&box->changed);
    pthread_mutex_unlock(&box->lock);
    return asylo_status_ok(status);
}

static asylo_code pipe_receive(void *context, asylo__protocol_frame *frame, asylo_status *status) {
    end *self = context;
    mailbox *box = self->in;
    pthread_mutex_lock(&box->lock);
    while (!box->full) {
        pthread_cond_wait(&box->changed, &box->lock);
    }
    *frame = box->frame;
    frame->owned_ = NULL;
    frame->payload = NULL;
    if (frame->payload_size != 0) {
        frame->owned_ = malloc(frame->payload_size);
        memcpy(frame->owned_, box->payload, frame->payload_size);
        frame->payload = frame->owned_;
    }
    box->full = 0;
    pthread_cond_broadcast(&box->changed);
    pthread_mutex_unlock(&box->lock);
    return asylo_status_ok(status);
}

static mailbox boxes[2];
static end host_end, enclave_end;
static asylo__protocol_session host_session, enclave_session;

enum { ECHO = 1, CALL_HOST = 2, BOUNCE = 3, HOST_ECHO = 10, HOST_BOUNCE = 11, STOP = 99 };

static uint32_t read_u32(const uint8_t *input, size_t size) {
    uint32_t value = 0;
    if (size == 4) {
        memcpy(&value, input, 4);
    }
    return value;
}

/* Enclave side: echo, an exit call to the host, and a bounce that nests. */
static asylo_code enclave_handler(void *context, uint32_t selector, const uint8_t *input,
                                  size_t input_size, asylo_output *output, asylo_status *status) {
    (void)context;
    switch (selector) {
    case ECHO:
        return asylo_output_write(output, input, input_size, status);
    case CALL_HOST:
        return asylo__protocol_exit(&enclave_session, HOST_ECHO, input, input_size, output, status);
    case BOUNCE: {
        uint32_t depth = read_u32(input, input_size);
        if (depth == 0) {
            return asylo_output_write(output, &depth, 4, status);
        }
        depth--;
        return asylo__protocol_exit(&enclave_session, HOST_BOUNCE, (const uint8_t *)&depth, 4,
                                    output, status);
    }
    default:
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_ENCLAVE, "no selector %u",
                                selector);
    }
}

/* Host side: echo, and a bounce that re-enters the enclave (nested). */
static asylo_code host_handler(void *context, uint32_t selector, const uint8_t *input,
                               size_t input_size, asylo_output *output, asylo_status *status) {
    (void)context;
    if (selector == HOST_ECHO) {
        return asylo_output_write(output, input, input_size, status);
    }
    if (selector == HOST_BOUNCE) {
        asylo__bytes_output below;
        asylo__bytes_output_init(&below, MAX_PAYLOAD);
        asylo_code code =
            asylo__protocol_call(&host_session, BOUNCE, input, input_size, &below.output, status);
        if (code == ASYLO_OK) {
            uint32_t value = read_u32(below.bytes.data, below.bytes.size) + 1;
            code = asylo_output_write(output, &value, 4, status);
        }
        asylo__bytes_output_fini(&below);
        return code;
    }
    return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_HOST, "no exit %u", selector);
}

static void *enclave_main(void *unused) {
    (void)unused;
    asylo_status status;
    while (asylo__protocol_serve_one(&enclave_session, &status) == ASYLO_OK) {
    }
    return NULL;
}

static asylo_code host_call(uint32_t selector, const void *input, size_t size, asylo_buffer *out,
                            asylo_status *status) {
    asylo__bytes_output collector;
    asylo__bytes_output_init(&collector, MAX_PAYLOAD);
    asylo_code code =
        asylo__protocol_call(&host_session, selector, input, size, &collector.output, status);
    if (code == ASYLO_OK && out != NULL) {
        asylo__bytes_output_release(&collector, out);
    }
    asylo__bytes_output_fini(&collector);
    return code;
}

static void test_conversation(void **state) {
    (void)state;
    for (int i = 0; i < 2; i++) {
        pthread_mutex_init(&boxes[i].lock, NULL);
        pthread_cond_init(&boxes[i].changed, NULL);
    }
    host_end = (end){.out = &boxes[0], .in = &boxes[1]};
    enclave_end = (end){.out = &boxes[1], .in = &boxes[0]};
    host_end.channel = (asylo__protocol_channel){&host_end, pipe_send, pipe_receive, MAX_PAYLOAD};
    enclave_end.channel =
        (asylo__protocol_channel){&enclave_end, pipe_send, pipe_receive, MAX_PAYLOAD};
    host_session = (asylo__protocol_session){.channel = &host_end.channel,
                                             .handler = host_handler,
                                             .peer_origin = ASYLO_ORIGIN_ENCLAVE,
                                             .is_host = true};
    enclave_session = (asylo__protocol_session){.channel = &enclave_end.channel,
                                                .handler = enclave_handler,
                                                .peer_origin = ASYLO_ORIGIN_HOST,
                                                .is_host = false};
    /* An exit call outside an entry call is refused in the enclave. */
    asylo_status status;
    assert_int_equal(asylo__protocol_exit(&enclave_session, HOST_ECHO, NULL, 0, NULL, &status),
                     ASYLO_FAILED_PRECONDITION);
    pthread_t enclave;
    assert_int_equal(pthread_create(&enclave, NULL, enclave_main, NULL), 0);

    asylo_buffer out = {0};
    assert_int_equal(host_call(ECHO, "abc", 3, &out, &status), ASYLO_OK);
    assert_int_equal(out.size, 3);
    asylo_buffer_free(&out);
    assert_int_equal(host_call(CALL_HOST, "xyz", 3, &out, &status), ASYLO_OK);
    assert_memory_equal(out.data, "xyz", 3);
    asylo_buffer_free(&out);
    uint32_t depth = 20;
    assert_int_equal(host_call(BOUNCE, &depth, 4, &out, &status), ASYLO_OK);
    assert_int_equal(read_u32(out.data, out.size), 20);
    asylo_buffer_free(&out);
    /* Deeper than the protocol's bound: a status, not a stack overflow. */
    depth = 1000;
    assert_int_equal(host_call(BOUNCE, &depth, 4, &out, &status), ASYLO_RESOURCE_EXHAUSTED);
    printf("deep nesting: %s\n", status.message);
    assert_non_null(strstr(status.message, "nest more than"));
    assert_int_equal(host_call(ECHO, "ok", 2, &out, &status), ASYLO_OK);
    asylo_buffer_free(&out);
    /* An enclave error keeps its code and origin. */
    assert_int_equal(host_call(STOP, NULL, 0, &out, &status), ASYLO_NOT_FOUND);
    assert_int_equal(status.origin, ASYLO_ORIGIN_ENCLAVE);
    /* Input over the channel's bound is refused before it is sent. */
    static uint8_t big[MAX_PAYLOAD + 1];
    assert_int_equal(host_call(ECHO, big, sizeof big, &out, &status), ASYLO_RESOURCE_EXHAUSTED);
    /* End the enclave thread: a frame that breaks the protocol there. */
    asylo__protocol_frame stop = {.call_id = 7, .kind = ASYLO__PROTOCOL_RETURN};
    pipe_send(&host_end, &stop, &status);
    pthread_join(enclave, NULL);
    assert_true(asylo__protocol_session_broken(&enclave_session, &status));
    printf("enclave side, RETURN at the top: %s\n", status.message);
    assert_non_null(strstr(status.message, "only an outermost ENTER"));
}

/* ---- a scripted hostile peer ---- */

typedef struct scripted {
    asylo__protocol_frame sent;
    int sent_count;
    /* What the next receive returns, relative to the last frame sent. */
    uint32_t kind;
    int64_t call_id_delta; /* added to the last sent call id */
    int parent_is_sent;    /* parent = the last sent call id */
    uint64_t parent;
    size_t payload_size;
    int null_payload;
    int code;
    int origin;
    int unterminated;
    int fail_receive;
} scripted;

static asylo_code script_send(void *context, const asylo__protocol_frame *frame,
                              asylo_status *status) {
    scripted *script = context;
    script->sent = *frame;
    script->sent_count++;
    return asylo_status_ok(status);
}

static asylo_code script_receive(void *context, asylo__protocol_frame *frame,
                                 asylo_status *status) {
    scripted *script = context;
    memset(frame, 0, sizeof *frame);
    if (script->fail_receive) {
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND, "peer is gone");
    }
    frame->kind = script->kind;
    frame->call_id = script->sent.call_id + (uint64_t)script->call_id_delta;
    frame->parent_call_id = script->parent_is_sent ? script->sent.call_id : script->parent;
    frame->payload_size = script->payload_size;
    if (script->payload_size != 0 && !script->null_payload) {
        frame->owned_ = calloc(1, script->payload_size);
        frame->payload = frame->owned_;
    }
    frame->status.code = (asylo_code)script->code;
    frame->status.origin = (asylo_origin)script->origin;
    memset(frame->status.message, 'm', sizeof frame->status.message);
    if (!script->unterminated) {
        strcpy(frame->status.message, "peer says no");
    }
    return asylo_status_ok(status);
}

static asylo_code hostile_call(scripted *script, asylo_status *status, int *broken) {
    asylo__protocol_channel channel = {script, script_send, script_receive, MAX_PAYLOAD};
    asylo__protocol_session session = {.channel = &channel,
                                       .handler = host_handler,
                                       .peer_origin = ASYLO_ORIGIN_ENCLAVE,
                                       .is_host = true};
    asylo__bytes_output collector;
    asylo__bytes_output_init(&collector, MAX_PAYLOAD);
    asylo_code code = asylo__protocol_call(&session, ECHO, NULL, 0, &collector.output, status);
    asylo__bytes_output_fini(&collector);
    *broken = asylo__protocol_session_broken(&session, NULL);
    if (*broken) {
        /* A broken session refuses every later call with the same status. */
        asylo_status again;
        assert_int_equal(asylo__protocol_call(&session, ECHO, NULL, 0, NULL, &again), code);
        assert_string_equal(again.message, status->message);
    }
    return code;
}

static void expect_hostile(const char *what, scripted script, asylo_code code, int broken,
                           const char *needle) {
    asylo_status status;
    int was_broken;
    asylo_code got = hostile_call(&script, &status, &was_broken);
    printf("| %s | %s | %s | %s |\n", what, asylo_code_name(got), asylo_origin_name(status.origin),
           status.message);
    assert_int_equal(got, code);
    assert_int_equal(status.code, code);
    assert_int_equal(was_broken, broken);
    assert_true(memchr(status.message, '\0', sizeof status.message) != NULL);
    if (needle != NULL && strstr(status.message, needle) == NULL) {
        fail_msg("%s: '%s' not in '%s'", what, needle, status.message);
    }
}

static void test_hostile_frames(void **state) {
    (void)state;
    const uint32_t R = ASYLO__PROTOCOL_RETURN, E = ASYLO__PROTOCOL_ERROR;
    expect_hostile("RETURN of another call", (scripted){.kind = R, .call_id_delta = 2},
                   ASYLO_INTERNAL, 1, "while call 3 is in progress");
    expect_hostile("unknown kind", (scripted){.kind = 9}, ASYLO_INTERNAL, 1, "frame kind 9");
    expect_hostile("kind 0", (scripted){.kind = 0}, ASYLO_INTERNAL, 1, "frame kind 0");
    expect_hostile("call id 0", (scripted){.kind = R, .call_id_delta = -3}, ASYLO_INTERNAL, 1,
                   "call id 0");
    expect_hostile("EXIT nested in another call",
                   (scripted){.kind = ASYLO__PROTOCOL_EXIT, .call_id_delta = 1, .parent = 77},
                   ASYLO_INTERNAL, 1, "nests in call 77");
    expect_hostile(
        "ENTER sent to the host",
        (scripted){.kind = ASYLO__PROTOCOL_ENTER, .call_id_delta = 1, .parent_is_sent = 1},
        ASYLO_INTERNAL, 1, "unexpected ENTER");
    expect_hostile("payload over the bound", (scripted){.kind = R, .payload_size = MAX_PAYLOAD + 1},
                   ASYLO_INTERNAL, 1, "4097 bytes");
    expect_hostile("payload size without payload",
                   (scripted){.kind = R, .payload_size = 8, .null_payload = 1}, ASYLO_INTERNAL, 1,
                   "8 bytes");
    expect_hostile("ERROR with a payload",
                   (scripted){.kind = E, .payload_size = 4, .code = ASYLO_INTERNAL}, ASYLO_INTERNAL,
                   1, "carries a payload");
    expect_hostile("ERROR with OK", (scripted){.kind = E, .code = ASYLO_OK}, ASYLO_UNKNOWN, 0,
                   "not a canonical error code");
    expect_hostile("ERROR with code 99", (scripted){.kind = E, .code = 99}, ASYLO_UNKNOWN, 0,
                   "code 99");
    expect_hostile("ERROR with code -1", (scripted){.kind = E, .code = -1}, ASYLO_UNKNOWN, 0,
                   "code -1");
    expect_hostile("unterminated message",
                   (scripted){.kind = E, .code = ASYLO_ABORTED, .unterminated = 1}, ASYLO_ABORTED,
                   0, "mmm");
    expect_hostile("channel gone", (scripted){.fail_receive = 1}, ASYLO_UNAVAILABLE, 1,
                   "peer is gone");
    /* An unknown origin becomes the peer's. */
    scripted bad_origin = {.kind = E, .code = ASYLO_ABORTED, .origin = 77};
    asylo_status status;
    int broken;
    hostile_call(&bad_origin, &status, &broken);
    assert_int_equal(status.origin, ASYLO_ORIGIN_ENCLAVE);
    /* A well-formed RETURN works. */
    expect_hostile("plain RETURN", (scripted){.kind = R, .payload_size = 16}, ASYLO_OK, 0, NULL);
}

/* The shared-memory channel, its enclave end written by hand: sizes are
 * read once into private memory and checked before anything is copied. */
static void test_shm_hostile_slot(void **state) {
    (void)state;
    size_t size = asylo__shm_region_size(1, MAX_PAYLOAD);
    void *region = aligned_alloc(4096, size);
    assert_non_null(region);
    memset(region, 0, size);
    asylo__shm_endpoint host;
    asylo__shm_endpoint_init(&host, region, MAX_PAYLOAD, 0, 1, NULL, NULL);
    asylo__shm_mailbox *to_host = asylo__shm_mailbox_at(region, MAX_PAYLOAD, 0, 1);
    asylo__protocol_frame frame;
    asylo_status status;

    to_host->payload_size = (uint64_t)1 << 40;
    to_host->kind = ASYLO__PROTOCOL_RETURN;
    atomic_store(&to_host->full, 1);
    assert_int_equal(host.channel.receive(host.channel.context, &frame, &status), ASYLO_INTERNAL);
    printf("oversized slot frame: %s\n", status.message);
    assert_non_null(strstr(status.message, "1099511627776 payload bytes"));
    assert_int_equal(atomic_load(&to_host->full), 0);

    /* An unterminated message and a code out of range arrive bounded; the
     * protocol then judges them. */
    to_host->payload_size = 3;
    to_host->kind = ASYLO__PROTOCOL_ERROR;
    to_host->code = 12345;
    memset(to_host->message, 'x', sizeof to_host->message);
    atomic_store(&to_host->full, 1);
    assert_int_equal(host.channel.receive(host.channel.context, &frame, &status), ASYLO_OK);
    assert_int_equal(frame.payload_size, 3);
    assert_int_equal(strlen(frame.status.message), sizeof frame.status.message - 1);
    assert_int_equal(
        asylo__protocol_frame_check(&frame, MAX_PAYLOAD, ASYLO_ORIGIN_ENCLAVE, &status),
        ASYLO_INTERNAL);
    asylo__protocol_frame_release(&frame);

    /* Sending more than the slot holds is refused, naming the slot. */
    static uint8_t big[MAX_PAYLOAD + 1];
    asylo__protocol_frame out = {
        .call_id = 1, .kind = ASYLO__PROTOCOL_ENTER, .payload = big, .payload_size = sizeof big};
    assert_int_equal(host.channel.send(host.channel.context, &out, &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(status.message, "slot of 4096 bytes"));
    free(region);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversation),
        cmocka_unit_test(test_hostile_frames),
        cmocka_unit_test(test_shm_hostile_slot),
    };
    return cmocka_run_group_tests_name("process.protocol", tests, NULL, NULL);
}
