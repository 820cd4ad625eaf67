/* Channel security of the remote backend against asylo-remote-proxy started
 * directly (not provisioned): mutual TLS, the one-time token, the
 * --ssl_cert/--ssl_key aliases, and the refusal of plaintext on a
 * non-loopback address.
 *
 * Each refused client must get UNAUTHENTICATED and must not get the enclave
 * loaded: the proxy's log never says "serving enclave" until the good client
 * comes, and a proxy that only ever saw refused clients exits 3 (no load)
 * after --load_timeout_ms. Every returned status is printed, so the test log
 * shows what each bad input got. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "asylo/asylo.h"
#include "remote_util.h"
#include "test_enclave_selectors.h"

static char dir[UTIL_PATH_SIZE];

static const char *path_of(const char *name) {
    static char paths[16][UTIL_PATH_SIZE];
    static int next;
    char *slot = paths[next++ % 16];
    util_join(slot, UTIL_PATH_SIZE, dir, name);
    return slot;
}

static void start_proxy(util_proxy *proxy, const char *log_name, const char *const *arguments) {
    if (!util_proxy_spawn(proxy, ASYLO_PROXY_PATH, arguments, NULL, path_of(log_name), true,
                          15000)) {
        util_proxy_kill(proxy);
        char *log = util_read_file(proxy->log_path);
        fail_msg("proxy did not start; its log:\n%s", log ? log : "(none)");
    }
}

typedef struct client_identity {
    const char *root_certs;
    const char *client_cert;
    const char *client_key;
    const char *token;
} client_identity;

/* Loads over a direct connection; on success runs an echo and destroys. */
static asylo_code try_load_image(const util_proxy *proxy, const client_identity *identity,
                                 const char *enclave_path, const char *target_backend,
                                 const char *what, asylo_status *status) {
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.address = proxy->address;
    remote.token = identity->token;
    remote.security.type = ASYLO_SECURITY_SSL;
    remote.security.root_certs = identity->root_certs;
    remote.security.client_cert = identity->client_cert;
    remote.security.client_key = identity->client_key;
    remote.connect_timeout_ms = 5000;
    remote.target_backend = target_backend;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "secure";
    config.backend = "remote";
    config.enclave_path = enclave_path;
    config.backend_config = &remote;
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, status), ASYLO_OK);
    asylo_client *client = NULL;
    int64_t start = util_now_ms();
    asylo_code code = asylo_manager_load(manager, &config, &client, status);
    printf("%-40s -> %s (%lld ms)\n", what, util_status_text(status),
           (long long)(util_now_ms() - start));
    if (code == ASYLO_OK) {
        asylo_buffer output = {0};
        asylo_status run_status;
        assert_int_equal(asylo_client_run(client, "secret", 6, &output, &run_status), ASYLO_OK);
        assert_int_equal(output.size, 6);
        asylo_buffer_free(&output);
        assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &run_status),
                         ASYLO_OK);
    }
    asylo_manager_destroy(manager);
    return code;
}

static asylo_code try_load(const util_proxy *proxy, const client_identity *identity,
                           const char *what, asylo_status *status) {
    return try_load_image(proxy, identity, TEST_ENCLAVE_PATH, "sim", what, status);
}

static void expect_refused(const util_proxy *proxy, const client_identity *identity,
                           const char *what) {
    asylo_status status;
    assert_int_equal(try_load(proxy, identity, what, &status), ASYLO_UNAUTHENTICATED);
    /* The enclave was never loaded. */
    assert_false(util_file_contains(proxy->log_path, "serving enclave"));
}

static void test_mutual_tls_and_token(void **state) {
    (void)state;
    util_write_file(path_of("token"), "the-right-token\n");
    char token_flag[UTIL_PATH_SIZE + 16];
    snprintf(token_flag, sizeof token_flag, "--token_file=%s", path_of("token"));
    const char *arguments[] = {"--address=127.0.0.1:0",
                               "--security_type=ssl",
                               "--ssl_server_cert",
                               path_of("server.pem"),
                               "--ssl_server_cred",
                               path_of("server.key"),
                               "--ssl_root_certs",
                               path_of("ca.pem"),
                               token_flag,
                               "--enclave_path=" TEST_ENCLAVE_PATH,
                               "--load_timeout_ms=30000",
                               NULL};
    util_proxy proxy;
    start_proxy(&proxy, "proxy_mtls.log", arguments);
    const char *ca = path_of("ca.pem");
    const client_identity rogue = {ca, path_of("rogue.pem"), path_of("rogue.key"),
                                   "the-right-token"};
    expect_refused(&proxy, &rogue, "client cert from another CA");
    const client_identity anonymous = {ca, NULL, NULL, "the-right-token"};
    expect_refused(&proxy, &anonymous, "no client cert");
    const client_identity distrustful = {path_of("other_ca.pem"), path_of("client.pem"),
                                         path_of("client.key"), "the-right-token"};
    expect_refused(&proxy, &distrustful, "client not trusting the server's CA");
    const client_identity wrong_token = {ca, path_of("client.pem"), path_of("client.key"),
                                         "a-wrong-token"};
    expect_refused(&proxy, &wrong_token, "wrong token");
    const client_identity no_token = {ca, path_of("client.pem"), path_of("client.key"), NULL};
    expect_refused(&proxy, &no_token, "no token");
    assert_true(util_process_exists(proxy.pid)); /* still waiting for its host */

    const client_identity good = {ca, path_of("client.pem"), path_of("client.key"),
                                  "the-right-token"};
    asylo_status status;
    assert_int_equal(try_load(&proxy, &good, "good client cert and token", &status), ASYLO_OK);
    assert_true(util_file_contains(proxy.log_path, "serving enclave"));
    /* The host closed the control stream: the proxy finishes and exits 0. */
    assert_true(util_proxy_wait(&proxy, 5000));
    assert_true(WIFEXITED(proxy.wait_status));
    assert_int_equal(WEXITSTATUS(proxy.wait_status), 0);
}

static void test_ssl_cert_and_key_aliases(void **state) {
    (void)state;
    const char *arguments[] = {"--address=127.0.0.1:0",
                               "--security_type=ssl",
                               "--ssl_cert",
                               path_of("server.pem"),
                               "--ssl_key",
                               path_of("server.key"),
                               "--ssl_root_certs",
                               path_of("ca.pem"),
                               "--load_timeout_ms=30000",
                               "--allow_any_enclave",
                               NULL};
    util_proxy proxy;
    start_proxy(&proxy, "proxy_aliases.log", arguments);
    const client_identity good = {path_of("ca.pem"), path_of("client.pem"), path_of("client.key"),
                                  NULL};
    asylo_status status;
    assert_int_equal(try_load(&proxy, &good, "aliases --ssl_cert/--ssl_key", &status), ASYLO_OK);
    assert_true(util_proxy_wait(&proxy, 5000));
    assert_int_equal(WEXITSTATUS(proxy.wait_status), 0);
}

/* One proxy serves one enclave to one host: a proxy pinned to an image
 * refuses another image and another local backend, and once its host has
 * loaded, a second host (even with the right token) is refused. */
static void test_one_image_one_host(void **state) {
    (void)state;
    const char *arguments[] = {"--address=127.0.0.1:0",
                               "--security_type=ssl",
                               "--ssl_server_cert",
                               path_of("server.pem"),
                               "--ssl_server_cred",
                               path_of("server.key"),
                               "--ssl_root_certs",
                               path_of("ca.pem"),
                               "--enclave_path=" TEST_ENCLAVE_PATH,
                               "--load_timeout_ms=30000",
                               NULL};
    util_proxy proxy;
    start_proxy(&proxy, "proxy_pinned.log", arguments);
    const client_identity good = {path_of("ca.pem"), path_of("client.pem"), path_of("client.key"),
                                  NULL};
    asylo_status status;
    assert_int_equal(try_load_image(&proxy, &good, NOT_AN_ENCLAVE_PATH, "sim",
                                    "another image than --enclave_path", &status),
                     ASYLO_PERMISSION_DENIED);
    assert_int_equal(try_load_image(&proxy, &good, TEST_ENCLAVE_PATH, "kvm",
                                    "another local backend than --backend", &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_false(util_file_contains(proxy.log_path, "serving enclave"));

    /* The first host loads and keeps the enclave ... */
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.address = proxy.address;
    remote.security.type = ASYLO_SECURITY_SSL;
    remote.security.root_certs = good.root_certs;
    remote.security.client_cert = good.client_cert;
    remote.security.client_key = good.client_key;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "first";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote;
    asylo_manager *manager;
    asylo_client *client;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    assert_int_equal(asylo_manager_load(manager, &config, &client, &status), ASYLO_OK);
    /* ... a second host is refused ... */
    assert_int_equal(try_load(&proxy, &good, "a second host on a serving proxy", &status),
                     ASYLO_FAILED_PRECONDITION);
    /* ... and the first is undisturbed. */
    asylo_buffer output = {0};
    assert_int_equal(asylo_client_run(client, "still mine", 10, &output, &status), ASYLO_OK);
    assert_int_equal(output.size, 10);
    asylo_buffer_free(&output);
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    asylo_manager_destroy(manager);
    assert_true(util_proxy_wait(&proxy, 5000));
    assert_int_equal(WEXITSTATUS(proxy.wait_status), 0);
}

/* A proxy that saw only a refused client never loads and exits 3. */
static void test_refused_client_never_loads(void **state) {
    (void)state;
    const char *arguments[] = {"--address=127.0.0.1:0",
                               "--security_type=ssl",
                               "--ssl_server_cert",
                               path_of("server.pem"),
                               "--ssl_server_cred",
                               path_of("server.key"),
                               "--ssl_root_certs",
                               path_of("ca.pem"),
                               "--load_timeout_ms=1500",
                               "--allow_any_enclave",
                               NULL};
    util_proxy proxy;
    start_proxy(&proxy, "proxy_rogue_only.log", arguments);
    int64_t start = util_now_ms();
    const client_identity rogue = {path_of("ca.pem"), path_of("rogue.pem"), path_of("rogue.key"),
                                   NULL};
    expect_refused(&proxy, &rogue, "client cert from another CA (again)");
    assert_true(util_proxy_wait(&proxy, 5000));
    printf("proxy exited %d after %lld ms (--load_timeout_ms=1500)\n",
           WEXITSTATUS(proxy.wait_status), (long long)(util_now_ms() - start));
    assert_true(WIFEXITED(proxy.wait_status));
    assert_int_equal(WEXITSTATUS(proxy.wait_status), 3);
    assert_false(util_file_contains(proxy.log_path, "serving enclave"));
    assert_true(util_file_contains(proxy.log_path, "no host loaded an enclave"));
}

/* Plaintext on a non-loopback address is refused before anything binds.
 * 192.0.2.1 (TEST-NET-1) is not an address of this machine either. */
static void test_local_refused_off_loopback(void **state) {
    (void)state;
    const char *arguments[] = {"--address=192.0.2.1:0", "--security_type=local",
                               "--allow_any_enclave", NULL};
    util_proxy proxy;
    assert_true(util_proxy_spawn(&proxy, ASYLO_PROXY_PATH, arguments, NULL,
                                 path_of("proxy_refused.log"), false, 0));
    assert_true(util_proxy_wait(&proxy, 10000));
    char *log = util_read_file(proxy.log_path);
    printf("proxy --address=192.0.2.1:0 --security_type=local: exit %d, log: %s",
           WEXITSTATUS(proxy.wait_status), log ? log : "(none)\n");
    assert_true(WIFEXITED(proxy.wait_status));
    assert_int_equal(WEXITSTATUS(proxy.wait_status), 1);
    assert_non_null(log);
    assert_non_null(strstr(log, "FAILED_PRECONDITION"));
    assert_non_null(strstr(log, "--allow_insecure_non_local"));
    free(log);

    /* Provisioned the same way, the proxy's code reaches the host unchanged. */
    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "192.0.2.1:0", false, NULL, &status));
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "off-loopback";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote.config;
    asylo_code code = asylo_manager_load(manager, &config, NULL, &status);
    printf("local provision on 192.0.2.1:0 -> %s\n", util_status_text(&status));
    assert_int_equal(code, ASYLO_FAILED_PRECONDITION);
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
}

int main(void) {
    asylo_log_set_level(ASYLO_LOG_WARNING);
    if (!util_make_temp_dir("asylo-remote-security", dir, sizeof dir) ||
        !util_make_certs(MAKE_CERTS_SCRIPT, dir)) {
        fprintf(stderr, "cannot make test certificates in %s\n", dir);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutual_tls_and_token),
        cmocka_unit_test(test_ssl_cert_and_key_aliases),
        cmocka_unit_test(test_one_image_one_host),
        cmocka_unit_test(test_refused_client_never_loads),
        cmocka_unit_test(test_local_refused_off_loopback),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    int left = util_children_report("at exit");
    util_kill_children();
    util_rmtree(dir);
    return failed == 0 && left == 0 ? 0 : 1;
}
