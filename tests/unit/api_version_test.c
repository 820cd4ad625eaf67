/* The versioned public API: the version macros match the CMake project
 * version and asylo_version(); structs compiled with the version-1 layout
 * (copies below, allocated at exactly their size so AddressSanitizer sees any
 * read past them) are still accepted; a struct_size of 0 or garbage is
 * INVALID_ARGUMENT naming the struct; a provision without a version is
 * refused. Public API only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "asylo/asylo.h"

/* Version 1 of asylo_load_config, as released: a library that grows the
 * struct must still accept this. */
typedef struct load_config_v1 {
    size_t struct_size;
    const char *name;
    const char *backend;
    const char *enclave_path;
    int debug;
    asylo_enclave_config enclave_config;
    const asylo_exit_handler *exit_handlers;
    size_t exit_handler_count;
    asylo_exit_handler_fn exit_fallback;
    void *exit_fallback_context;
    const void *backend_config;
    size_t max_output_size;
    const char *file_root;
    const uint8_t *expected_measurement;
    const uint8_t *expected_signer_id;
} load_config_v1;

typedef struct security_options_v1 {
    size_t struct_size;
    asylo_security_type type;
    int allow_insecure_non_local;
    const char *server_cert;
    const char *server_key;
    const char *root_certs;
    const char *client_cert;
    const char *client_key;
    int require_client_certificate;
} security_options_v1;

typedef struct local_provision_options_v1 {
    size_t struct_size;
    const char *proxy_path;
    const char *listen_address;
    security_options_v1 security;
    const char *log_level;
    int64_t start_timeout_ms;
} local_provision_options_v1;

static void expect_refused(const char *what, asylo_code got, const asylo_status *status,
                           const char *needle) {
    printf("| %s | %s | %s |\n", what, asylo_code_name(got), status->message);
    assert_int_equal(got, ASYLO_INVALID_ARGUMENT);
    if (strstr(status->message, needle) == NULL) {
        fail_msg("%s: '%s' lacks '%s'", what, status->message, needle);
    }
}

static void test_version_macros(void **state) {
    (void)state;
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", ASYLO_VERSION_MAJOR, ASYLO_VERSION_MINOR,
             ASYLO_VERSION_PATCH);
    /* The header and the CMake project version agree. */
    assert_string_equal(expected, PROJECT_VERSION);
    assert_string_equal(ASYLO_VERSION_STRING, PROJECT_VERSION);
    assert_string_equal(asylo_version(), PROJECT_VERSION);
    assert_int_equal(asylo_version_number(), ASYLO_VERSION_NUMBER);
    assert_int_equal(ASYLO_VERSION_NUMBER, ASYLO_VERSION_MAJOR * 1000000 +
                                               ASYLO_VERSION_MINOR * 1000 + ASYLO_VERSION_PATCH);
}

static void test_init_sets_sizes(void **state) {
    (void)state;
    asylo_load_config load;
    asylo_load_config_init(&load);
    assert_int_equal(load.struct_size, sizeof load);
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    assert_int_equal(remote.struct_size, sizeof remote);
    assert_int_equal(remote.security.struct_size, sizeof remote.security);
    asylo_local_provision_options local;
    asylo_local_provision_options_init(&local);
    assert_int_equal(local.struct_size, sizeof local);
    assert_int_equal(local.security.struct_size, sizeof local.security);
    asylo_provision_server_options server;
    asylo_provision_server_options_init(&server);
    assert_int_equal(server.struct_size, sizeof server);
    asylo_security_options security;
    asylo_security_options_init(&security);
    assert_int_equal(security.struct_size, sizeof security);
}

static asylo_code load_v1(asylo_manager *manager, size_t struct_size, const char *name,
                          asylo_status *status) {
    load_config_v1 *config = calloc(1, sizeof *config);
    assert_non_null(config);
    config->struct_size = struct_size;
    config->name = name;
    config->backend = "sim";
    config->enclave_path = TEST_ENCLAVE_PATH;
    config->debug = 1;
    config->enclave_config.log_level = ASYLO_LOG_INFO;
    asylo_client *client = NULL;
    asylo_code code =
        asylo_manager_load(manager, (const asylo_load_config *)config, &client, status);
    free(config);
    if (code == ASYLO_OK) {
        asylo_buffer output = {0};
        assert_int_equal(asylo_client_run(client, "v1", 2, &output, status), ASYLO_OK);
        assert_int_equal(output.size, 2);
        asylo_buffer_free(&output);
        assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, status), ASYLO_OK);
    }
    return code;
}

static void test_load_config_sizes(void **state) {
    (void)state;
    asylo_manager *manager;
    asylo_status status;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    if (load_v1(manager, sizeof(load_config_v1), "v1", &status) != ASYLO_OK) {
        fail_msg("a version-1 asylo_load_config: %s", status.message);
    }
    expect_refused("struct_size 0", load_v1(manager, 0, "zero", &status), &status,
                   "asylo_load_config.struct_size is 0");
    expect_refused("struct_size 3", load_v1(manager, 3, "three", &status), &status,
                   "asylo_load_config.struct_size is 3");
    expect_refused("struct_size garbage", load_v1(manager, 0x5a5a5a5a, "garbage", &status), &status,
                   "asylo_load_config.struct_size is 1515870810");
    asylo_manager_destroy(manager);
}

static void test_remote_sizes(void **state) {
    (void)state;
    asylo_status status;
    asylo_remote_provision *provision = NULL;
    /* A version-1 local provision options struct, exactly that size. */
    local_provision_options_v1 *v1 = calloc(1, sizeof *v1);
    assert_non_null(v1);
    v1->struct_size = sizeof *v1;
    v1->security.struct_size = sizeof v1->security;
    v1->proxy_path = ASYLO_PROXY_PATH;
    v1->listen_address = "unix:";
    if (asylo_local_provision_create((const asylo_local_provision_options *)v1, &provision,
                                     &status) != ASYLO_OK) {
        fail_msg("a version-1 asylo_local_provision_options: %s", status.message);
    }
    v1->security.struct_size = 0;
    asylo_remote_provision *refused = NULL;
    expect_refused(
        "security struct_size 0",
        asylo_local_provision_create((const asylo_local_provision_options *)v1, &refused, &status),
        &status, "asylo_security_options.struct_size is 0");
    v1->struct_size = 12345;
    expect_refused(
        "local options struct_size garbage",
        asylo_local_provision_create((const asylo_local_provision_options *)v1, &refused, &status),
        &status, "asylo_local_provision_options.struct_size is 12345");
    free(v1);
    asylo_provision_server_options server;
    asylo_provision_server_options_init(&server);
    server.server_address = "127.0.0.1:1";
    server.struct_size = 0;
    expect_refused("provision server options struct_size 0",
                   asylo_provision_server_provision_create(&server, &refused, &status), &status,
                   "asylo_provision_server_options.struct_size is 0");
    assert_null(refused);

    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.provision = provision;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "remote-sizes";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.debug = 1;
    config.backend_config = &remote;
    asylo_client *client = NULL;
    remote.struct_size = 0;
    expect_refused("remote config struct_size 0",
                   asylo_manager_load(manager, &config, &client, &status), &status,
                   "asylo_remote_config.struct_size is 0");
    remote.struct_size = sizeof remote + 8;
    expect_refused("remote config from a newer asylo-c",
                   asylo_manager_load(manager, &config, &client, &status), &status,
                   "asylo_remote_config.struct_size");
    remote.struct_size = sizeof remote;
    remote.security.struct_size = 0;
    expect_refused("remote security struct_size 0",
                   asylo_manager_load(manager, &config, &client, &status), &status,
                   "asylo_security_options.struct_size is 0");
    remote.security.struct_size = sizeof remote.security;
    /* A provision that does not say which interface version it implements. */
    uint32_t version = provision->version;
    provision->version = 0;
    expect_refused("provision without a version",
                   asylo_manager_load(manager, &config, &client, &status), &status,
                   "asylo_remote_provision.version is 0");
    provision->version = version;
    if (asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fail_msg("remote load: %s", status.message);
    }
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    asylo_manager_destroy(manager);
    asylo_remote_provision_destroy(provision);
}

int main(void) {
    asylo_log_set_level(ASYLO_LOG_WARNING);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_macros),
        cmocka_unit_test(test_init_sets_sizes),
        cmocka_unit_test(test_load_config_sizes),
        cmocka_unit_test(test_remote_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
