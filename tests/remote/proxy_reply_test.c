/* The proxy's reply path, driven frame by frame in this process (no network):
 * an output the proxy cannot keep for its reply must come back as an error
 * naming the cause, never as an empty RETURN with OK (issue 9 item 7). And
 * the wire version check at LOAD on both ends, with hand-made messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "asylo/remote.pb-c.h"
#include "asylo/selectors.h"
#include "common/bytes_output.h"
#include "common/enclave_config_codec.h"
#include "backends/remote/load_response.h"
#include "proxy/proxy.h"
#include "transport/frame.h"

/* Serves one entry call as the proxy's stream would, its output collected
 * into *storage (limit storage_limit), and describes the reply it would send
 * as a frame in *reply (payload borrowed from storage). */
static void serve(asylo__proxy *proxy, uint32_t selector, const void *payload, size_t size,
                  size_t storage_limit, asylo__bytes_output *storage, asylo__frame *reply) {
    bool is_control = false;
    asylo__bytes_output_init(storage, storage_limit);
    asylo_status status;
    asylo_code code = asylo__proxy_serve_entry(proxy, 7, selector, payload, size, &is_control,
                                               &storage->output, &status);
    asylo__frame_init(reply);
    reply->call_id = 7;
    reply->selector = selector;
    if (code == ASYLO_OK) {
        reply->kind = ASYLO__FRAME_RETURN;
        reply->payload = storage->bytes.data;
        reply->payload_size = storage->bytes.size;
    } else {
        reply->kind = ASYLO__FRAME_ERROR;
        reply->status = status;
        reply->status.code = code;
    }
}

/* A hand-made LOAD announcing `version`; the reply in *reply (storage
 * finished by the caller). */
static void send_load(asylo__proxy *proxy, uint32_t version, asylo__bytes_output *storage,
                      asylo__frame *reply) {
    Asylo__Remote__LoadRequest load = ASYLO__REMOTE__LOAD_REQUEST__INIT;
    load.name = "reply-path";
    load.backend = "sim";
    load.enclave_path = TEST_ENCLAVE_PATH;
    load.protocol_version = version;
    uint8_t packed[1024];
    size_t size = asylo__remote__load_request__get_packed_size(&load);
    assert_true(size <= sizeof packed);
    asylo__remote__load_request__pack(&load, packed);
    serve(proxy, ASYLO_SELECTOR_REMOTE_LOAD, packed, size, 1024, storage, reply);
}

static void load_test_enclave(asylo__proxy *proxy) {
    asylo__bytes_output storage;
    asylo__frame reply;
    send_load(proxy, ASYLO__WIRE_PROTOCOL_VERSION, &storage, &reply);
    assert_int_equal(reply.kind, ASYLO__FRAME_RETURN);
    /* The proxy announces its version back, and the host accepts it. */
    asylo_status checked;
    assert_int_equal(
        asylo__remote_check_load_response(reply.payload, reply.payload_size, "r", "here", &checked),
        ASYLO_OK);
    asylo__bytes_output_fini(&storage);

    asylo_enclave_config config = {.log_level = ASYLO_LOG_WARNING};
    asylo__bytes encoded;
    asylo__bytes_init(&encoded, 4096);
    asylo_status status;
    assert_int_equal(asylo__enclave_config_encode(&config, &encoded, &status), ASYLO_OK);
    serve(proxy, ASYLO_SELECTOR_INITIALIZE, encoded.data, encoded.size, 1024, &storage, &reply);
    if (reply.kind != ASYLO__FRAME_RETURN) {
        fail_msg("initialize: %s", reply.status.message);
    }
    asylo__bytes_output_fini(&storage);
    asylo__bytes_fini(&encoded);
}

static void test_reply_that_cannot_be_kept(void **state) {
    (void)state;
    asylo__proxy_options options;
    memset(&options, 0, sizeof options);
    asylo__proxy proxy;
    asylo_status status;
    assert_int_equal(asylo__proxy_init(&proxy, &options, &status), ASYLO_OK);
    load_test_enclave(&proxy);

    uint8_t input[100];
    memset(input, 'r', sizeof input);
    asylo__bytes_output storage;
    asylo__frame reply;
    /* Room for the whole output: RETURN with every byte. */
    serve(&proxy, ASYLO_SELECTOR_RUN, input, sizeof input, sizeof input, &storage, &reply);
    assert_int_equal(reply.kind, ASYLO__FRAME_RETURN);
    assert_int_equal(reply.payload_size, sizeof input);
    assert_memory_equal(reply.payload, input, sizeof input);
    asylo__bytes_output_fini(&storage);
    /* Storage that cannot hold the output: an ERROR naming the cause. */
    serve(&proxy, ASYLO_SELECTOR_RUN, input, sizeof input, 16, &storage, &reply);
    printf("reply: %s %s\n", asylo__frame_kind_name(reply.kind), reply.status.message);
    assert_int_equal(reply.kind, ASYLO__FRAME_ERROR);
    assert_int_equal(reply.status.code, ASYLO_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(reply.status.message, "could not keep the 100-byte output"));
    assert_int_equal(reply.payload_size, 0);
    asylo__bytes_output_fini(&storage);
    asylo__proxy_fini(&proxy);
}

/* The proxy refuses a LOAD of another wire version (or none), naming both. */
static void test_proxy_refuses_other_wire_versions(void **state) {
    (void)state;
    asylo__proxy_options options;
    memset(&options, 0, sizeof options);
    asylo__proxy proxy;
    asylo_status status;
    assert_int_equal(asylo__proxy_init(&proxy, &options, &status), ASYLO_OK);
    static const uint32_t others[] = {0, ASYLO__WIRE_PROTOCOL_VERSION + 1, 0xffffffffu};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        asylo__bytes_output storage;
        asylo__frame reply;
        send_load(&proxy, others[i], &storage, &reply);
        printf("LOAD of version %u: %s %s\n", (unsigned)others[i],
               asylo__frame_kind_name(reply.kind), reply.status.message);
        assert_int_equal(reply.kind, ASYLO__FRAME_ERROR);
        assert_int_equal(reply.status.code, ASYLO_FAILED_PRECONDITION);
        char expected[128];
        snprintf(expected, sizeof expected,
                 "the host speaks wire protocol version %u, this proxy version %u",
                 (unsigned)others[i], (unsigned)ASYLO__WIRE_PROTOCOL_VERSION);
        assert_non_null(strstr(reply.status.message, expected));
        asylo__bytes_output_fini(&storage);
    }
    /* Still unloaded: a LOAD of the right version works afterwards. */
    load_test_enclave(&proxy);
    asylo__proxy_fini(&proxy);
}

/* The host refuses a proxy announcing another wire version (or none). */
static void test_host_refuses_other_wire_versions(void **state) {
    (void)state;
    asylo_status status;
    for (uint32_t version = 0; version < 4; version++) {
        Asylo__Remote__LoadResponse response = ASYLO__REMOTE__LOAD_RESPONSE__INIT;
        response.protocol_version = version;
        uint8_t packed[64];
        size_t size = asylo__remote__load_response__pack(&response, packed);
        asylo_code code =
            asylo__remote_check_load_response(packed, size, "versioned", "unix:/p", &status);
        if (version == ASYLO__WIRE_PROTOCOL_VERSION) {
            assert_int_equal(code, ASYLO_OK);
            continue;
        }
        printf("LoadResponse of version %u: %s\n", (unsigned)version, status.message);
        assert_int_equal(code, ASYLO_FAILED_PRECONDITION);
        char expected[128];
        snprintf(expected, sizeof expected,
                 "the proxy at unix:/p speaks wire protocol version %u, this host version %u",
                 (unsigned)version, (unsigned)ASYLO__WIRE_PROTOCOL_VERSION);
        assert_non_null(strstr(status.message, expected));
    }
    /* An empty output: a proxy from before versioning. */
    assert_int_equal(asylo__remote_check_load_response(NULL, 0, "old", "unix:/p", &status),
                     ASYLO_FAILED_PRECONDITION);
    assert_non_null(strstr(status.message, "version 0"));
    static const uint8_t garbage[] = {0xff, 0xff, 0xff};
    assert_int_equal(
        asylo__remote_check_load_response(garbage, sizeof garbage, "bad", "unix:/p", &status),
        ASYLO_INVALID_ARGUMENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_that_cannot_be_kept),
        cmocka_unit_test(test_proxy_refuses_other_wire_versions),
        cmocka_unit_test(test_host_refuses_other_wire_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
