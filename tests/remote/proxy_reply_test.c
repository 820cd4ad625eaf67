/* The proxy's reply path, driven frame by frame in this process (no network):
 * an output the proxy cannot keep for its reply must come back as an error
 * naming the cause, never as an empty RETURN with OK (issue 9 item 7). */
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
#include "proxy/proxy.h"

static void serve(asylo__proxy *proxy, uint32_t selector, const void *payload, size_t size,
                  size_t storage_limit, asylo__bytes_output *storage, asylo__frame *reply) {
    asylo__frame enter;
    asylo__frame_init(&enter);
    enter.call_id = 7;
    enter.kind = ASYLO__FRAME_ENTER;
    enter.selector = selector;
    enter.payload = payload;
    enter.payload_size = size;
    bool is_control = false;
    asylo__bytes_output_init(storage, storage_limit);
    asylo__proxy_serve_enter(proxy, NULL, &enter, &is_control, storage, reply);
}

static void load_test_enclave(asylo__proxy *proxy) {
    Asylo__Remote__LoadRequest load = ASYLO__REMOTE__LOAD_REQUEST__INIT;
    load.name = "reply-path";
    load.backend = "sim";
    load.enclave_path = TEST_ENCLAVE_PATH;
    uint8_t packed[1024];
    size_t size = asylo__remote__load_request__get_packed_size(&load);
    assert_true(size <= sizeof packed);
    asylo__remote__load_request__pack(&load, packed);
    asylo__bytes_output storage;
    asylo__frame reply;
    serve(proxy, ASYLO_SELECTOR_REMOTE_LOAD, packed, size, 1024, &storage, &reply);
    assert_int_equal(reply.kind, ASYLO__FRAME_RETURN);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_that_cannot_be_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
