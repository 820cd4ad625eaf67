/* Unit tests of the transport: addresses, security flags and checks, frame
 * encoding and the decoder on malformed and random input. No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "asylo/remote.pb-c.h"
#include "transport/address.h"
#include "transport/frame.h"
#include "transport/grpc_runtime.h"
#include "transport/security.h"

static void expect_address(const char *text, asylo__address_family family, const char *host,
                           unsigned port, const char *target, bool local) {
    asylo__address address;
    asylo_status status;
    assert_int_equal(asylo__address_parse(text, &address, &status), ASYLO_OK);
    assert_int_equal(address.family, family);
    assert_string_equal(address.host, host);
    assert_int_equal(address.port, port);
    assert_string_equal(asylo__address_target(&address), target);
    assert_int_equal(asylo__address_is_local(&address), local);
}

static void test_address_forms(void **state) {
    (void)state;
    expect_address("127.0.0.1:5000", ASYLO__ADDRESS_IPV4, "127.0.0.1", 5000, "127.0.0.1:5000",
                   true);
    expect_address("127.8.9.10:1", ASYLO__ADDRESS_IPV4, "127.8.9.10", 1, "127.8.9.10:1", true);
    expect_address("10.0.0.1:5000", ASYLO__ADDRESS_IPV4, "10.0.0.1", 5000, "10.0.0.1:5000", false);
    expect_address("0.0.0.0:0", ASYLO__ADDRESS_IPV4, "0.0.0.0", 0, "0.0.0.0:0", false);
    expect_address("[::1]:5000", ASYLO__ADDRESS_IPV6, "::1", 5000, "[::1]:5000", true);
    expect_address("[::]:0", ASYLO__ADDRESS_IPV6, "::", 0, "[::]:0", false);
    expect_address("[::ffff:127.0.0.1]:7", ASYLO__ADDRESS_IPV6, "::ffff:127.0.0.1", 7,
                   "[::ffff:127.0.0.1]:7", true);
    expect_address("[2001:db8::1]:443", ASYLO__ADDRESS_IPV6, "2001:db8::1", 443,
                   "[2001:db8::1]:443", false);
    expect_address("localhost:5000", ASYLO__ADDRESS_HOSTNAME, "localhost", 5000, "localhost:5000",
                   true);
    expect_address("LOCALHOST:0", ASYLO__ADDRESS_HOSTNAME, "LOCALHOST", 0, "LOCALHOST:0", true);
    expect_address("enclave-host.example.com:4321", ASYLO__ADDRESS_HOSTNAME,
                   "enclave-host.example.com", 4321, "enclave-host.example.com:4321", false);
    expect_address("ipv4:127.0.0.1:5000", ASYLO__ADDRESS_IPV4, "127.0.0.1", 5000, "127.0.0.1:5000",
                   true);
    expect_address("ipv6:[::1]:5000", ASYLO__ADDRESS_IPV6, "::1", 5000, "[::1]:5000", true);
    expect_address("unix:/tmp/asylo.sock", ASYLO__ADDRESS_UNIX, "/tmp/asylo.sock", 0,
                   "unix:/tmp/asylo.sock", true);
    expect_address("unix:///tmp/asylo.sock", ASYLO__ADDRESS_UNIX, "/tmp/asylo.sock", 0,
                   "unix:/tmp/asylo.sock", true);
    expect_address("unix:relative.sock", ASYLO__ADDRESS_UNIX, "relative.sock", 0,
                   "unix:relative.sock", true);
}

static void expect_bad_address(const char *text, const char *why) {
    asylo__address address;
    memset(&address, 0x5a, sizeof address);
    asylo__address before = address;
    asylo_status status;
    assert_int_equal(asylo__address_parse(text, &address, &status), ASYLO_INVALID_ARGUMENT);
    assert_int_equal(status.origin, ASYLO_ORIGIN_API);
    char quoted[300];
    snprintf(quoted, sizeof quoted, "'%s'", text);
    if (strstr(status.message, quoted) == NULL || strstr(status.message, why) == NULL ||
        strstr(status.message, "accepted forms") == NULL ||
        strstr(status.message, "unix:/path") == NULL) {
        fail_msg("message for '%s' lacks the text, '%s' or the forms: %s", text, why,
                 status.message);
    }
    /* Failure leaves the output alone. */
    assert_memory_equal(&address, &before, sizeof address);
}

static void test_address_bad(void **state) {
    (void)state;
    expect_bad_address("", "missing port");
    expect_bad_address("127.0.0.1", "missing port");
    expect_bad_address("127.0.0.1:", "invalid port");
    expect_bad_address("127.0.0.1:65536", "invalid port");
    expect_bad_address("127.0.0.1:-1", "invalid port");
    expect_bad_address("127.0.0.1:5000x", "invalid port");
    expect_bad_address(":5000", "missing or too long host");
    expect_bad_address("::1:5000", "brackets");
    expect_bad_address("[::1]5000", "invalid port");
    expect_bad_address("[::1:5000", "missing ']'");
    expect_bad_address("[zz::1]:5000", "not an IPv6 address");
    expect_bad_address("[127.0.0.1]:5000", "not an IPv6 address");
    expect_bad_address("ipv4:localhost:5000", "not an IPv4 address");
    expect_bad_address("ipv6:::1:5000", "brackets");
    expect_bad_address("256.1.1.1:5000", "not an IPv4 address or host name");
    expect_bad_address("bad host:5000", "not an IPv4 address or host name");
    expect_bad_address("unix:", "empty");
    char long_path[200];
    memset(long_path, 'a', sizeof long_path);
    memcpy(long_path, "unix:/", 6);
    long_path[sizeof long_path - 1] = '\0';
    expect_bad_address(long_path, "longer than 107");
    asylo_status status;
    assert_int_equal(asylo__address_parse(NULL, NULL, &status), ASYLO_INVALID_ARGUMENT);
}

static void test_address_with_port(void **state) {
    (void)state;
    asylo__address address, bound;
    assert_int_equal(asylo__address_parse("[::1]:0", &address, NULL), ASYLO_OK);
    asylo__address_with_port(&address, 40123, &bound);
    assert_string_equal(bound.target, "[::1]:40123");
    assert_int_equal(asylo__address_parse("ipv4:127.0.0.1:0", &address, NULL), ASYLO_OK);
    asylo__address_with_port(&address, 9, &bound);
    assert_string_equal(bound.target, "127.0.0.1:9");
    assert_int_equal(asylo__address_parse("unix:/tmp/x", &address, NULL), ASYLO_OK);
    asylo__address_with_port(&address, 1, &bound);
    assert_string_equal(bound.target, "unix:/tmp/x");
}

static asylo_code parse(asylo__security_options *options, const char *argument, const char *next,
                        int *consumed, asylo_status *status) {
    return asylo__security_parse_flag(options, argument, next, consumed, status);
}

static void test_security_flags(void **state) {
    (void)state;
    asylo__security_options options = {0};
    asylo_status status;
    int consumed = -1;
    assert_int_equal(parse(&options, "--security_type=ssl", NULL, &consumed, &status), ASYLO_OK);
    assert_int_equal(consumed, 1);
    assert_int_equal(options.type, ASYLO__SECURITY_SSL);
    assert_int_equal(parse(&options, "--security_type", "local", &consumed, &status), ASYLO_OK);
    assert_int_equal(consumed, 2);
    assert_int_equal(options.type, ASYLO__SECURITY_LOCAL);
    assert_int_equal(parse(&options, "--security_type=tls", NULL, &consumed, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "'local' or 'ssl'"));
    assert_int_equal(parse(&options, "--ssl_server_cert=/a", NULL, &consumed, &status), ASYLO_OK);
    assert_string_equal(options.server_cert, "/a");
    assert_int_equal(parse(&options, "--ssl_cert=/b", NULL, &consumed, &status), ASYLO_OK);
    assert_string_equal(options.server_cert, "/b");
    assert_int_equal(parse(&options, "--ssl_server_cred=/c", NULL, &consumed, &status), ASYLO_OK);
    assert_string_equal(options.server_key, "/c");
    assert_int_equal(parse(&options, "-ssl_key=/d", NULL, &consumed, &status), ASYLO_OK);
    assert_string_equal(options.server_key, "/d");
    assert_int_equal(parse(&options, "--ssl_root_certs=/e", NULL, &consumed, &status), ASYLO_OK);
    assert_string_equal(options.root_certs, "/e");
    assert_int_equal(parse(&options, "--ssl_client_cert", "/f", &consumed, &status), ASYLO_OK);
    assert_string_equal(options.client_cert, "/f");
    assert_int_equal(parse(&options, "--ssl_client_key=/g", NULL, &consumed, &status), ASYLO_OK);
    assert_string_equal(options.client_key, "/g");
    assert_false(options.allow_insecure_non_local);
    assert_int_equal(parse(&options, "--allow_insecure_non_local", "x", &consumed, &status),
                     ASYLO_OK);
    assert_int_equal(consumed, 1);
    assert_true(options.allow_insecure_non_local);
    assert_int_equal(parse(&options, "--allow_insecure_non_local=false", NULL, &consumed, &status),
                     ASYLO_OK);
    assert_false(options.allow_insecure_non_local);
    assert_int_equal(parse(&options, "--allow_insecure_non_local=maybe", NULL, &consumed, &status),
                     ASYLO_INVALID_ARGUMENT);
    /* Not ours: untouched, nothing consumed. */
    asylo__security_options before = options;
    assert_int_equal(parse(&options, "--ssl_certx=1", NULL, &consumed, &status), ASYLO_OK);
    assert_int_equal(consumed, 0);
    assert_int_equal(parse(&options, "enclave.so", NULL, &consumed, &status), ASYLO_OK);
    assert_int_equal(consumed, 0);
    assert_memory_equal(&options, &before, sizeof options);
    /* Missing values. */
    assert_int_equal(parse(&options, "--ssl_root_certs", NULL, &consumed, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "--ssl_root_certs needs a value"));
    assert_int_equal(parse(&options, "--ssl_root_certs=", NULL, &consumed, &status),
                     ASYLO_INVALID_ARGUMENT);
    const char *usage = asylo__security_usage();
    assert_non_null(strstr(usage, "--allow_insecure_non_local"));
    assert_non_null(strstr(usage, "--ssl_server_cred"));
}

static void test_security_check(void **state) {
    (void)state;
    asylo__security_options options = {0};
    asylo__address address;
    asylo_status status;
    const char *local_ok[] = {"127.0.0.1:1", "[::1]:1", "localhost:1", "unix:/tmp/s"};
    for (size_t i = 0; i < sizeof local_ok / sizeof local_ok[0]; i++) {
        assert_int_equal(asylo__address_parse(local_ok[i], &address, NULL), ASYLO_OK);
        assert_int_equal(asylo__security_check(&options, &address, true, &status), ASYLO_OK);
        assert_int_equal(asylo__security_check(&options, &address, false, &status), ASYLO_OK);
    }
    const char *remote[] = {"10.1.2.3:1", "[2001:db8::1]:1", "0.0.0.0:0", "[::]:0",
                            "host.example:1"};
    for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++) {
        assert_int_equal(asylo__address_parse(remote[i], &address, NULL), ASYLO_OK);
        assert_int_equal(asylo__security_check(&options, &address, true, &status),
                         ASYLO_FAILED_PRECONDITION);
        assert_non_null(strstr(status.message, "--allow_insecure_non_local"));
        assert_non_null(strstr(status.message, "--security_type=ssl"));
        assert_non_null(strstr(status.message, address.target));
        options.allow_insecure_non_local = true;
        assert_int_equal(asylo__security_check(&options, &address, false, &status), ASYLO_OK);
        options.allow_insecure_non_local = false;
    }
    /* ssl needs its files. */
    options.type = ASYLO__SECURITY_SSL;
    assert_int_equal(asylo__address_parse("10.1.2.3:1", &address, NULL), ASYLO_OK);
    assert_int_equal(asylo__security_check(&options, &address, false, &status), ASYLO_OK);
    assert_int_equal(asylo__security_check(&options, &address, true, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "--ssl_server_cert"));
    options.server_cert = "/nonexistent/server.pem";
    assert_int_equal(asylo__security_check(&options, &address, true, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "--ssl_server_cred"));
    options.server_key = "/nonexistent/server.key";
    assert_int_equal(asylo__security_check(&options, &address, true, &status), ASYLO_NOT_FOUND);
    assert_non_null(strstr(status.message, "/nonexistent/server.pem"));
    assert_non_null(strstr(status.message, "--ssl_server_cert"));
    options.client_cert = "/etc/hostname";
    assert_int_equal(asylo__security_check(&options, &address, false, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "--ssl_client_key"));
    options.client_cert = NULL;
    options.root_certs = "/nonexistent/ca.pem";
    assert_int_equal(asylo__security_check(&options, &address, false, &status), ASYLO_NOT_FOUND);
    assert_non_null(strstr(status.message, "--ssl_root_certs=/nonexistent/ca.pem"));
    options.root_certs = "/tmp";
    assert_int_equal(asylo__security_check(&options, &address, false, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "not a regular file"));
}

static void test_security_credentials_bad_pem(void **state) {
    (void)state;
    char path[] = "/tmp/asylo-transport-pem-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a pem\n", 10), 10);
    close(fd);
    asylo__grpc_acquire();
    asylo__security_options options = {.type = ASYLO__SECURITY_SSL, .root_certs = path};
    asylo__address address;
    assert_int_equal(asylo__address_parse("127.0.0.1:1", &address, NULL), ASYLO_OK);
    grpc_channel_credentials *credentials = NULL;
    asylo_status status;
    assert_int_equal(asylo__security_channel_credentials(&options, &address, &credentials, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "no PEM certificate"));
    assert_non_null(strstr(status.message, path));
    assert_null(credentials);
    /* Local credentials are real gRPC local credentials. */
    options.type = ASYLO__SECURITY_LOCAL;
    assert_int_equal(asylo__security_channel_credentials(&options, &address, &credentials, &status),
                     ASYLO_OK);
    assert_non_null(credentials);
    grpc_channel_credentials_release(credentials);
    asylo__grpc_release();
    unlink(path);
}

static void round_trip(const asylo__frame *frame) {
    uint8_t *bytes = NULL;
    size_t size = 0;
    asylo_status status;
    assert_int_equal(asylo__frame_encode_bytes(frame, 0, &bytes, &size, &status), ASYLO_OK);
    asylo__frame decoded;
    assert_int_equal(asylo__frame_decode_bytes(bytes, size, 0, &decoded, &status), ASYLO_OK);
    assert_true(decoded.call_id == frame->call_id);
    assert_true(decoded.parent_call_id == frame->parent_call_id);
    assert_int_equal(decoded.kind, frame->kind);
    assert_int_equal(decoded.selector, frame->selector);
    assert_int_equal(decoded.payload_size, frame->payload_size);
    if (frame->payload_size > 0) {
        assert_memory_equal(decoded.payload, frame->payload, frame->payload_size);
    }
    assert_int_equal(decoded.status.code, frame->status.code);
    assert_int_equal(decoded.status.origin, frame->status.origin);
    assert_string_equal(decoded.status.message, frame->status.message);
    asylo__frame_release(&decoded);
    asylo__frame_release(&decoded); /* twice is safe */
    free(bytes);

    /* And through a gRPC byte buffer. */
    asylo__grpc_acquire();
    grpc_byte_buffer *buffer = NULL;
    assert_int_equal(asylo__frame_encode(frame, 0, &buffer, &status), ASYLO_OK);
    assert_int_equal(asylo__frame_decode(buffer, 0, &decoded, &status), ASYLO_OK);
    assert_int_equal(decoded.payload_size, frame->payload_size);
    assert_true(decoded.call_id == frame->call_id);
    asylo__frame_release(&decoded);
    grpc_byte_buffer_destroy(buffer);
    asylo__grpc_release();
}

static void test_frame_round_trip(void **state) {
    (void)state;
    asylo__frame frame;
    asylo__frame_init(&frame);
    frame.kind = ASYLO__FRAME_ENTER;
    round_trip(&frame);
    frame.call_id = UINT64_MAX;
    frame.parent_call_id = 7;
    frame.selector = UINT32_MAX;
    static const uint8_t payload[] = {0, 1, 2, 0xff, 0};
    frame.payload = payload;
    frame.payload_size = sizeof payload;
    for (int kind = ASYLO__FRAME_ENTER; kind <= ASYLO__FRAME_RETURN; kind++) {
        frame.kind = (asylo__frame_kind)kind;
        round_trip(&frame);
    }
    frame.kind = ASYLO__FRAME_ERROR;
    asylo_status_set(&frame.status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_ENCLAVE, "no %s", "entry");
    round_trip(&frame);
    assert_string_equal(asylo__frame_kind_name(ASYLO__FRAME_EXIT), "EXIT");
    assert_string_equal(asylo__frame_kind_name((asylo__frame_kind)9), "INVALID");
}

static void test_frame_encode_limits(void **state) {
    (void)state;
    asylo__frame frame;
    asylo__frame_init(&frame);
    uint8_t *bytes = NULL;
    size_t size = 0;
    asylo_status status;
    /* Kind 0 (unspecified) and unknown kinds are refused. */
    assert_int_equal(asylo__frame_encode_bytes(&frame, 0, &bytes, &size, &status),
                     ASYLO_INVALID_ARGUMENT);
    frame.kind = (asylo__frame_kind)5;
    assert_int_equal(asylo__frame_encode_bytes(&frame, 0, &bytes, &size, &status),
                     ASYLO_INVALID_ARGUMENT);
    frame.kind = ASYLO__FRAME_RETURN;
    static uint8_t payload[2000];
    frame.payload = payload;
    frame.payload_size = sizeof payload;
    assert_int_equal(asylo__frame_encode_bytes(&frame, 1000, &bytes, &size, &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(status.message, "maximum message size of 1000"));
    assert_null(bytes);
    assert_int_equal(asylo__frame_encode_bytes(&frame, 4000, &bytes, &size, &status), ASYLO_OK);
    asylo__frame decoded;
    assert_int_equal(asylo__frame_decode_bytes(bytes, size, 1000, &decoded, &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    free(bytes);
}

/* Limits count payload bytes: a payload of exactly the limit fits, with an
 * error status and large ids around it; one byte more does not (issue 9
 * item 24). */
static void test_frame_payload_limit_is_exact(void **state) {
    (void)state;
    static uint8_t payload[1001];
    asylo__frame frame;
    asylo__frame_init(&frame);
    frame.kind = ASYLO__FRAME_RETURN;
    frame.call_id = UINT64_MAX;
    frame.parent_call_id = UINT64_MAX;
    frame.selector = UINT32_MAX;
    frame.payload = payload;
    frame.payload_size = 1000;
    uint8_t *bytes = NULL;
    size_t size = 0;
    asylo_status status;
    assert_int_equal(asylo__frame_encode_bytes(&frame, 1000, &bytes, &size, &status), ASYLO_OK);
    assert_true(size > 1000 && size <= asylo__frame_wire_size(1000));
    asylo__frame decoded;
    assert_int_equal(asylo__frame_decode_bytes(bytes, size, 1000, &decoded, &status), ASYLO_OK);
    assert_int_equal(decoded.payload_size, 1000);
    asylo__frame_release(&decoded);
    free(bytes);
    frame.payload_size = 1001;
    assert_int_equal(asylo__frame_encode_bytes(&frame, 1000, &bytes, &size, &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    /* The largest frame (a full error message) stays within the overhead. */
    frame.kind = ASYLO__FRAME_ERROR;
    frame.payload_size = 1000;
    asylo_status_set(&frame.status, (asylo_code)-1, (asylo_origin)-1, "%0*d",
                     ASYLO_STATUS_MESSAGE_SIZE - 1, 7);
    assert_int_equal(asylo__frame_encode_bytes(&frame, 1000, &bytes, &size, &status), ASYLO_OK);
    assert_true(size <= 1000 + ASYLO__FRAME_MAX_OVERHEAD);
    free(bytes);
    /* A peer's payload over the limit inside a frame under the wire size. */
    frame.kind = ASYLO__FRAME_RETURN;
    asylo__frame_init(&frame);
    frame.kind = ASYLO__FRAME_RETURN;
    frame.payload = payload;
    frame.payload_size = 1001;
    assert_int_equal(asylo__frame_encode_bytes(&frame, 2000, &bytes, &size, &status), ASYLO_OK);
    assert_int_equal(asylo__frame_decode_bytes(bytes, size, 1000, &decoded, &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    free(bytes);
    assert_int_equal(asylo__frame_wire_size(0),
                     ASYLO__FRAME_DEFAULT_MAX_SIZE + ASYLO__FRAME_MAX_OVERHEAD);
    assert_int_equal(asylo__frame_wire_size(SIZE_MAX), INT32_MAX);
}

/* Packs a Frame built directly with protobuf-c, bypassing our encoder. */
static size_t pack_raw(Asylo__Remote__Frame *message, uint8_t *out) {
    return asylo__remote__frame__pack(message, out);
}

static void test_frame_decode_malformed(void **state) {
    (void)state;
    asylo__frame frame;
    asylo_status status;
    uint8_t buffer[256] = {0};
    Asylo__Remote__Frame message = ASYLO__REMOTE__FRAME__INIT;
    Asylo__Remote__Status wire_status = ASYLO__REMOTE__STATUS__INIT;

    /* Empty input: kind unspecified. */
    assert_int_equal(asylo__frame_decode_bytes(buffer, 0, 0, &frame, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "unknown kind 0"));

    message.kind = 9;
    size_t size = pack_raw(&message, buffer);
    assert_int_equal(asylo__frame_decode_bytes(buffer, size, 0, &frame, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "unknown kind 9"));
    assert_int_equal(status.origin, ASYLO_ORIGIN_TRANSPORT);
    message.kind = -1;
    size = pack_raw(&message, buffer);
    assert_int_equal(asylo__frame_decode_bytes(buffer, size, 0, &frame, &status),
                     ASYLO_INVALID_ARGUMENT);

    /* Huge or negative status codes become UNKNOWN, message kept. */
    message.kind = ASYLO__REMOTE__FRAME__KIND__ERROR;
    message.status = &wire_status;
    wire_status.code = 1000000;
    wire_status.origin = 77;
    wire_status.message = "boom";
    size = pack_raw(&message, buffer);
    assert_int_equal(asylo__frame_decode_bytes(buffer, size, 0, &frame, &status), ASYLO_OK);
    assert_int_equal(frame.status.code, ASYLO_UNKNOWN);
    assert_int_equal(frame.status.origin, ASYLO_ORIGIN_TRANSPORT);
    assert_non_null(strstr(frame.status.message, "1000000"));
    assert_non_null(strstr(frame.status.message, "boom"));
    asylo__frame_release(&frame);
    wire_status.code = -5;
    size = pack_raw(&message, buffer);
    assert_int_equal(asylo__frame_decode_bytes(buffer, size, 0, &frame, &status), ASYLO_OK);
    assert_int_equal(frame.status.code, ASYLO_UNKNOWN);
    asylo__frame_release(&frame);
    /* ERROR with status OK is not a success. */
    wire_status.code = 0;
    size = pack_raw(&message, buffer);
    assert_int_equal(asylo__frame_decode_bytes(buffer, size, 0, &frame, &status), ASYLO_OK);
    assert_int_equal(frame.status.code, ASYLO_UNKNOWN);
    asylo__frame_release(&frame);

    /* An embedded NUL in the status message just ends the string. */
    wire_status.code = 5;
    wire_status.origin = ASYLO_ORIGIN_ENCLAVE;
    wire_status.message = "abcdefgh";
    size = pack_raw(&message, buffer);
    uint8_t *found = memmem(buffer, size, "abcdefgh", 8);
    assert_non_null(found);
    found[3] = '\0';
    assert_int_equal(asylo__frame_decode_bytes(buffer, size, 0, &frame, &status), ASYLO_OK);
    assert_string_equal(frame.status.message, "abc");
    assert_int_equal(frame.status.code, ASYLO_NOT_FOUND);
    assert_int_equal(frame.status.origin, ASYLO_ORIGIN_ENCLAVE);
    asylo__frame_release(&frame);

    /* A long status message is cut, not overflowed. */
    char long_message[4000];
    memset(long_message, 'm', sizeof long_message - 1);
    long_message[sizeof long_message - 1] = '\0';
    wire_status.message = long_message;
    uint8_t big[5000];
    size = pack_raw(&message, big);
    assert_int_equal(asylo__frame_decode_bytes(big, size, 0, &frame, &status), ASYLO_OK);
    assert_true(strlen(frame.status.message) < ASYLO_STATUS_MESSAGE_SIZE);
    asylo__frame_release(&frame);

    /* Every truncation of a valid frame is refused or decodes cleanly. */
    message.status = NULL;
    message.kind = ASYLO__REMOTE__FRAME__KIND__RETURN;
    message.call_id = UINT64_MAX;
    message.payload.data = (uint8_t *)"payload";
    message.payload.len = 7;
    size = pack_raw(&message, buffer);
    for (size_t cut = 0; cut < size; cut++) {
        asylo_code code = asylo__frame_decode_bytes(buffer, cut, 0, &frame, &status);
        if (code == ASYLO_OK) {
            asylo__frame_release(&frame);
        } else {
            assert_int_equal(code, ASYLO_INVALID_ARGUMENT);
        }
    }
    /* A length that runs past the end. */
    uint8_t overlong[] = {0x18, 0x03, 0x2a, 0xff, 0xff, 0xff, 0xff, 0x0f, 'x'};
    assert_int_equal(asylo__frame_decode_bytes(overlong, sizeof overlong, 0, &frame, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "past the end"));
    /* Groups (wire types 3, 4) are refused. */
    uint8_t group[] = {0x18, 0x03, 0x0b, 0x0c};
    assert_int_equal(asylo__frame_decode_bytes(group, sizeof group, 0, &frame, &status),
                     ASYLO_INVALID_ARGUMENT);
    /* Thousands of tiny fields are refused before protobuf-c sees them. */
    uint8_t many[2002];
    many[0] = 0x18;
    many[1] = 0x03;
    for (size_t i = 2; i < sizeof many; i += 2) {
        many[i] = 0x20; /* selector */
        many[i + 1] = 0x01;
    }
    assert_int_equal(asylo__frame_decode_bytes(many, sizeof many, 0, &frame, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "too many fields"));
    /* An 11-byte varint. */
    uint8_t varint[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(asylo__frame_decode_bytes(varint, sizeof varint, 0, &frame, &status),
                     ASYLO_INVALID_ARGUMENT);
    /* NULL buffer. */
    assert_int_equal(asylo__frame_decode(NULL, 0, &frame, &status), ASYLO_INVALID_ARGUMENT);
}

/* xorshift: reproducible pseudo-random bytes without libc's global state. */
static uint64_t next_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static void test_frame_fuzz(void **state) {
    (void)state;
    /* Seeds: valid frames of every kind, with and without status. */
    uint8_t *seeds[5];
    size_t seed_sizes[5];
    for (int i = 0; i < 5; i++) {
        asylo__frame frame;
        asylo__frame_init(&frame);
        frame.kind = (asylo__frame_kind)(1 + i % 4);
        frame.call_id = (uint64_t)i * 0x123456789ull;
        frame.parent_call_id = (uint64_t)i;
        frame.selector = (uint32_t)i * 1000;
        static const uint8_t payload[] = "some payload bytes";
        frame.payload = payload;
        frame.payload_size = (size_t)i * 3;
        if (i >= 3) {
            asylo_status_set(&frame.status, ASYLO_INTERNAL, ASYLO_ORIGIN_HOST, "status %d", i);
        }
        assert_int_equal(asylo__frame_encode_bytes(&frame, 0, &seeds[i], &seed_sizes[i], NULL),
                         ASYLO_OK);
    }
    uint64_t random = 0x9e3779b97f4a7c15ull;
    uint8_t buffer[512];
    int accepted = 0;
    for (int iteration = 0; iteration < 200000; iteration++) {
        size_t size;
        if (iteration % 4 == 0) {
            /* Pure random bytes. */
            size = next_random(&random) % 96;
            for (size_t i = 0; i < size; i++) {
                buffer[i] = (uint8_t)next_random(&random);
            }
        } else {
            /* A mutated seed: flips, overwrites, insertions, truncation. */
            int seed = (int)(next_random(&random) % 5);
            size = seed_sizes[seed];
            memcpy(buffer, seeds[seed], size);
            int mutations = 1 + (int)(next_random(&random) % 4);
            for (int m = 0; m < mutations && size > 0; m++) {
                size_t at = next_random(&random) % size;
                switch (next_random(&random) % 4) {
                case 0:
                    buffer[at] ^= (uint8_t)(1u << (next_random(&random) % 8));
                    break;
                case 1:
                    buffer[at] = (uint8_t)next_random(&random);
                    break;
                case 2:
                    if (size < sizeof buffer) {
                        memmove(buffer + at + 1, buffer + at, size - at);
                        buffer[at] = (uint8_t)next_random(&random);
                        size++;
                    }
                    break;
                default:
                    size = at;
                    break;
                }
            }
        }
        asylo__frame frame;
        asylo_status status;
        /* Exact-size heap copy so ASan sees any over-read. */
        uint8_t *copy = malloc(size > 0 ? size : 1);
        memcpy(copy, buffer, size);
        asylo_code code = asylo__frame_decode_bytes(copy, size, 256, &frame, &status);
        if (code == ASYLO_OK) {
            accepted++;
            assert_true(frame.kind >= ASYLO__FRAME_ENTER && frame.kind <= ASYLO__FRAME_ERROR);
            assert_true(asylo_code_is_valid(frame.status.code));
            assert_true(strlen(frame.status.message) < ASYLO_STATUS_MESSAGE_SIZE);
            if (frame.payload_size > 0) {
                volatile uint8_t sum = 0;
                for (size_t i = 0; i < frame.payload_size; i++) {
                    sum = (uint8_t)(sum + frame.payload[i]);
                }
                (void)sum;
            }
            asylo__frame_release(&frame);
        } else {
            assert_true(code == ASYLO_INVALID_ARGUMENT || code == ASYLO_RESOURCE_EXHAUSTED);
            assert_int_equal(frame.storage_, NULL);
        }
        free(copy);
    }
    /* The mutations must have exercised the success path too. */
    assert_true(accepted > 1000);
    for (int i = 0; i < 5; i++) {
        free(seeds[i]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_payload_limit_is_exact),
        cmocka_unit_test(test_address_forms),
        cmocka_unit_test(test_address_bad),
        cmocka_unit_test(test_address_with_port),
        cmocka_unit_test(test_security_flags),
        cmocka_unit_test(test_security_check),
        cmocka_unit_test(test_security_credentials_bad_pem),
        cmocka_unit_test(test_frame_round_trip),
        cmocka_unit_test(test_frame_encode_limits),
        cmocka_unit_test(test_frame_decode_malformed),
        cmocka_unit_test(test_frame_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
