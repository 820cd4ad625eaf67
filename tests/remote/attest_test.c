/* Remote attestation before the first call (docs/attestation.md, "Remote
 * binding"): the right enclave passes; a wrong image is refused before its
 * initialize runs (an exit handler counts initialize); an untrusted platform
 * key is refused; a token replayed from an earlier session and a token
 * relayed from another proxy are refused; without a policy the identity is
 * logged. The replay and relay come from a proxy in this process that runs
 * the real proxy code but answers ATTEST the attacker's way. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "asylo/asylo.h"
#include "asylo/attestation.h"
#include "asylo/crypto.h"
#include "asylo/selectors.h"
#include "common/bytes_output.h"
#include "identity/image_identity.h"
#include "proxy/proxy.h"
#include "remote_util.h"
#include "transport/client_stream.h"
#include "transport/server.h"

#define INIT_SELECTOR (ASYLO_SELECTOR_USER_FIRST + 0x77)

static char temp_dir[UTIL_PATH_SIZE];
static char certs_dir[UTIL_PATH_SIZE];
static asylo_manager *manager;
static uint8_t platform_key[ASYLO_PLATFORM_KEY_SIZE];
static uint8_t test_measurement[32];
static uint8_t other_measurement[32];
static int initialize_count;

static asylo_code count_initialize(void *context, asylo_client *client, uint32_t selector,
                                   const uint8_t *input, size_t input_size, asylo_output *output,
                                   asylo_status *status) {
    (void)context, (void)client, (void)selector, (void)input, (void)input_size, (void)output;
    initialize_count++;
    return asylo_status_ok(status);
}

static const asylo_environment_variable environment[] = {{"INIT_EXIT_SELECTOR", "0x1077"}};
static const asylo_exit_handler handlers[] = {{INIT_SELECTOR, count_initialize, NULL}};

static asylo_code load(asylo_remote_config *remote, const uint8_t *pin, asylo_status *status) {
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "attested";
    config.backend = "remote";
    config.backend_config = remote;
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.enclave_config.environment = environment;
    config.enclave_config.environment_count = 1;
    config.exit_handlers = handlers;
    config.exit_handler_count = 1;
    config.expected_measurement = pin;
    asylo_client *client = NULL;
    initialize_count = 0;
    asylo_code code = asylo_manager_load(manager, &config, &client, status);
    if (code == ASYLO_OK) {
        asylo_buffer out = {0};
        assert_int_equal(asylo_client_run(client, "ping", 4, &out, status), ASYLO_OK);
        asylo_buffer_free(&out);
        asylo_status ignored;
        assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &ignored),
                         ASYLO_OK);
    }
    return code;
}

static void measure(const char *path, uint8_t measurement[32]) {
    asylo__image image;
    asylo_status status;
    assert_int_equal(asylo__image_read(path, &image, &status), ASYLO_OK);
    memcpy(measurement, image.measurement, 32);
    asylo__image_fini(&image);
}

static void policy_init(asylo_attestation_policy *policy, const uint8_t *measurement) {
    memset(policy, 0, sizeof *policy);
    policy->trusted_keys = platform_key;
    policy->trusted_key_count = 1;
    policy->expected_measurement = measurement;
    policy->allow_debug = 1;
}

static void expect_refused(asylo_code code, const asylo_status *status, const char *needle) {
    printf("refused: %s\n", util_status_text(status));
    assert_int_equal(code, ASYLO_UNAUTHENTICATED);
    if (needle != NULL && strstr(status->message, needle) == NULL) {
        fail_msg("expected '%s' in: %s", needle, status->message);
    }
    assert_int_equal(initialize_count, 0);
}

/* The right enclave passes, over local security (token bound) and TLS
 * (certificate bound), and its initialize runs once. */
static void test_right_enclave(void **state) {
    (void)state;
    const char *listens[] = {"unix:", "127.0.0.1:0"};
    for (int ssl = 0; ssl < 2; ssl++) {
        util_remote remote;
        asylo_status status;
        assert_true(
            util_remote_setup(&remote, ASYLO_PROXY_PATH, listens[ssl], ssl, certs_dir, &status));
        asylo_attestation_policy policy;
        policy_init(&policy, test_measurement);
        remote.config.attestation = &policy;
        asylo_code code = load(&remote.config, NULL, &status);
        if (code != ASYLO_OK) {
            fail_msg("%s: %s", listens[ssl], util_status_text(&status));
        }
        assert_int_equal(initialize_count, 1);
        /* The load config's pin alone (no policy) works too. */
        remote.config.attestation = NULL;
        code = load(&remote.config, test_measurement, &status);
        if (code != ASYLO_OK) {
            fail_msg("pin, %s: %s", listens[ssl], util_status_text(&status));
        }
        assert_int_equal(initialize_count, 1);
        util_remote_teardown(&remote);
    }
}

/* Another image than the policy names: UNAUTHENTICATED naming both
 * measurements, and initialize never ran. */
static void test_wrong_image(void **state) {
    (void)state;
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "unix:", false, NULL, &status));
    asylo_attestation_policy policy;
    policy_init(&policy, other_measurement);
    remote.config.attestation = &policy;
    char expected[65], actual[65];
    asylo__hex(other_measurement, 32, expected);
    asylo__hex(test_measurement, 32, actual);
    asylo_code code = load(&remote.config, NULL, &status);
    expect_refused(code, &status, expected);
    assert_non_null(strstr(status.message, actual));
    /* The same through the load config's pin. */
    remote.config.attestation = NULL;
    code = load(&remote.config, other_measurement, &status);
    expect_refused(code, &status, expected);
    assert_non_null(strstr(status.message, actual));
    util_remote_teardown(&remote);
}

/* Evidence signed by a platform key the host does not trust. */
static void test_untrusted_platform(void **state) {
    (void)state;
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "unix:", false, NULL, &status));
    uint8_t private_key[32], other_key[ASYLO_PLATFORM_KEY_SIZE];
    assert_int_equal(asylo_p256_generate(private_key, other_key, &status), ASYLO_OK);
    asylo_attestation_policy policy;
    policy_init(&policy, test_measurement);
    policy.trusted_keys = other_key;
    asylo_code code = load(&remote.config, NULL, &status);
    assert_int_equal(code, ASYLO_OK); /* no policy: accepted (and logged) */
    remote.config.attestation = &policy;
    code = load(&remote.config, NULL, &status);
    expect_refused(code, &status, NULL);
    util_remote_teardown(&remote);
}

/* ---- A proxy that answers ATTEST the attacker's way ----------------------- */

typedef enum { FAKE_RECORD, FAKE_REPLAY, FAKE_RELAY } fake_mode;

typedef struct fake_proxy {
    fake_mode mode;
    asylo__proxy proxy; /* serves the host: its binding is that of token "host-token" */
    asylo__proxy other; /* another proxy (relay): token "other-token" */
    uint8_t *recorded;  /* an ATTEST reply of an earlier session */
    size_t recorded_size;
} fake_proxy;

static fake_proxy fake;

/* The fake proxy's answer to one host entry call (the stream's protocol
 * handler): ATTEST replayed, relayed to the other proxy, or served. */
static asylo_code fake_serve_entry(void *context, uint32_t selector, const uint8_t *input,
                                   size_t input_size, asylo_output *output, asylo_status *status) {
    asylo__proxy_stream *stream = context;
    uint64_t call_id = asylo__protocol_serving_call(&stream->session);
    if (selector == ASYLO_SELECTOR_REMOTE_ATTEST && fake.mode == FAKE_REPLAY) {
        return asylo_output_write(output, fake.recorded, fake.recorded_size, status);
    }
    if (selector == ASYLO_SELECTOR_REMOTE_ATTEST && fake.mode == FAKE_RELAY) {
        /* The host's own fresh nonce, answered by the other proxy. */
        bool is_control = false;
        return asylo__proxy_serve_entry(&fake.other, call_id, selector, input, input_size,
                                        &is_control, output, status);
    }
    if (selector == ASYLO_SELECTOR_REMOTE_LOAD && fake.mode == FAKE_RELAY) {
        asylo__bytes_output ignored;
        asylo_status ignored_status;
        bool is_control = false;
        asylo__bytes_output_init(&ignored, ASYLO__BYTES_DEFAULT_LIMIT);
        asylo__proxy_serve_entry(&fake.other, call_id, selector, input, input_size, &is_control,
                                 &ignored.output, &ignored_status);
        asylo__bytes_output_fini(&ignored);
    }
    asylo__bytes_output collected;
    asylo__bytes_output_init(&collected, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo_code code = asylo__proxy_serve_entry(&fake.proxy, call_id, selector, input, input_size,
                                               &stream->is_control, &collected.output, status);
    if (code == ASYLO_OK && selector == ASYLO_SELECTOR_REMOTE_ATTEST && fake.mode == FAKE_RECORD) {
        free(fake.recorded);
        fake.recorded = malloc(collected.bytes.size);
        assert_non_null(fake.recorded);
        memcpy(fake.recorded, collected.bytes.data, collected.bytes.size);
        fake.recorded_size = collected.bytes.size;
    }
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, collected.bytes.data, collected.bytes.size, status);
    }
    asylo__bytes_output_fini(&collected);
    return code;
}

/* Serves a host stream like the proxy does (the call protocol over the
 * stream channel, exits forwarded), with fake_serve_entry as the handler. */
static void fake_serve_stream(asylo__server_call *call, void *context) {
    (void)context;
    asylo__proxy_stream stream = {.proxy = &fake.proxy, .call = call};
    asylo__stream_channel_init_server(&stream.channel, call);
    stream.session = (asylo__protocol_session){
        .channel = &stream.channel.channel,
        .handler = fake_serve_entry,
        .handler_context = &stream,
        .peer_origin = ASYLO_ORIGIN_TRANSPORT,
    };
    asylo__proxy_set_current_stream(&stream);
    asylo_status status;
    asylo_code code;
    do {
        code = asylo__protocol_serve_one(&stream.session, &status);
    } while (code == ASYLO_OK);
    if (code == ASYLO_OUT_OF_RANGE) {
        asylo__server_call_finish(call, ASYLO_OK, NULL, NULL);
    }
    asylo__proxy_set_current_stream(NULL);
    asylo__stream_channel_fini(&stream.channel);
}

static void fake_session(fake_mode mode, asylo__server *server, asylo_code expected,
                         const char *needle) {
    asylo__proxy_options options;
    memset(&options, 0, sizeof options);
    snprintf(options.token, sizeof options.token, "host-token");
    asylo_status status;
    fake.mode = mode;
    assert_int_equal(asylo__proxy_init(&fake.proxy, &options, &status), ASYLO_OK);
    snprintf(options.token, sizeof options.token, "other-token");
    assert_int_equal(asylo__proxy_init(&fake.other, &options, &status), ASYLO_OK);
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.address = asylo__server_address(server);
    remote.token = "host-token";
    asylo_attestation_policy policy;
    policy_init(&policy, test_measurement);
    remote.attestation = &policy;
    asylo_code code = load(&remote, NULL, &status);
    if (expected == ASYLO_OK && code != ASYLO_OK) {
        fail_msg("%s", util_status_text(&status));
    }
    if (expected != ASYLO_OK) {
        expect_refused(code, &status, needle);
    }
    /* Ends the enclave (if any) and the proxies' state; the host closed its
     * streams when the load failed or the client was destroyed. */
    asylo__proxy_fini(&fake.proxy);
    asylo__proxy_fini(&fake.other);
}

static void test_replay_and_relay(void **state) {
    (void)state;
    char address[UTIL_PATH_SIZE + 32];
    snprintf(address, sizeof address, "unix:%s/fake.sock", temp_dir);
    asylo__server_options options = {.address = address};
    asylo__server *server = NULL;
    asylo_status status;
    assert_int_equal(asylo__server_create(&options, &server, &status), ASYLO_OK);
    assert_int_equal(asylo__server_add_method(server, ASYLO__COMMUNICATE_METHOD, fake_serve_stream,
                                              NULL, &status),
                     ASYLO_OK);
    /* An honest session through the fake proxy passes (and its token is
     * kept); the same token replayed in a later session is refused. */
    fake_session(FAKE_RECORD, server, ASYLO_OK, NULL);
    assert_non_null(fake.recorded);
    fake_session(FAKE_REPLAY, server, ASYLO_UNAUTHENTICATED, "nonce");
    /* Fresh evidence for the host's nonce from another proxy: the binding
     * differs. */
    fake_session(FAKE_RELAY, server, ASYLO_UNAUTHENTICATED, "bound to another channel");
    asylo__server_shutdown(server, 0);
    free(fake.recorded);
    fake.recorded = NULL;
}

/* Without a policy or pin the host logs what it got (a warning). */
static void test_no_policy_logs(void **state) {
    (void)state;
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "unix:", false, NULL, &status));
    char log_path[UTIL_PATH_SIZE];
    util_join(log_path, sizeof log_path, temp_dir, "host.log");
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int file = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(saved >= 0 && file >= 0);
    dup2(file, STDERR_FILENO);
    close(file);
    asylo_code code = load(&remote.config, NULL, &status);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_int_equal(code, ASYLO_OK);
    char hex[65];
    asylo__hex(test_measurement, 32, hex);
    assert_true(util_file_contains(log_path, "no attestation policy"));
    assert_true(util_file_contains(log_path, hex));
    util_remote_teardown(&remote);
}

static int setup(void **state) {
    (void)state;
    asylo_status status;
    if (!util_make_temp_dir("asylo-attest", temp_dir, sizeof temp_dir)) {
        return -1;
    }
    char state_dir[UTIL_PATH_SIZE];
    util_join(state_dir, sizeof state_dir, temp_dir, "state");
    setenv("ASYLO_STATE_DIR", state_dir, 1);
    util_join(certs_dir, sizeof certs_dir, temp_dir, "certs");
    if (mkdir(certs_dir, 0700) != 0 || !util_make_certs(MAKE_CERTS_SCRIPT, certs_dir) ||
        asylo_platform_attestation_key(platform_key, &status) != ASYLO_OK) {
        return -1;
    }
    measure(TEST_ENCLAVE_PATH, test_measurement);
    measure(OTHER_ENCLAVE_PATH, other_measurement);
    return asylo_manager_create(&manager, &status) == ASYLO_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    asylo_manager_destroy(manager);
    util_rmtree(temp_dir);
    return util_kill_children() == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_right_enclave),      cmocka_unit_test(test_wrong_image),
        cmocka_unit_test(test_untrusted_platform), cmocka_unit_test(test_replay_and_relay),
        cmocka_unit_test(test_no_policy_logs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
