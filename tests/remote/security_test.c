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
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* True when text says "ADDRESS: ADDRESS" (our prefix twice; gRPC's own
 * "ipv4:ADDRESS" in its details is its words and may stay). */
static bool names_address_twice(const char *text, const char *address) {
    char doubled[3 * UTIL_PATH_SIZE];
    snprintf(doubled, sizeof doubled, "%s: %s", address, address);
    return strstr(text, doubled) != NULL;
}

static void expect_refused(const util_proxy *proxy, const client_identity *identity,
                           const char *what) {
    asylo_status status;
    assert_int_equal(try_load(proxy, identity, what, &status), ASYLO_UNAUTHENTICATED);
    /* The message names the proxy's address once. */
    assert_false(names_address_twice(status.message, proxy->address));
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

/* Loads TEST_ENCLAVE_PATH through a local provision with `server` as the
 * proxy's side and `client` as the host's, and runs an echo. */
static asylo_code load_provisioned(const asylo_security_options *server,
                                   const asylo_security_options *client, const char *what,
                                   asylo_status *status) {
    asylo_local_provision_options local;
    asylo_local_provision_options_init(&local);
    local.proxy_path = ASYLO_PROXY_PATH;
    local.log_level = "warning";
    local.security = *server;
    asylo_remote_provision *provision = NULL;
    asylo_code code = asylo_local_provision_create(&local, &provision, status);
    if (code != ASYLO_OK) {
        printf("%-40s -> %s\n", what, util_status_text(status));
        return code;
    }
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.provision = provision;
    remote.security = *client;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "provisioned";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote;
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, status), ASYLO_OK);
    asylo_client *client_handle = NULL;
    code = asylo_manager_load(manager, &config, &client_handle, status);
    printf("%-40s -> %s\n", what, util_status_text(status));
    if (code == ASYLO_OK) {
        asylo_buffer output = {0};
        asylo_status run_status;
        assert_int_equal(asylo_client_run(client_handle, "secret", 6, &output, &run_status),
                         ASYLO_OK);
        assert_int_equal(output.size, 6);
        asylo_buffer_free(&output);
        assert_int_equal(asylo_manager_destroy_client(manager, client_handle, NULL, 0, &run_status),
                         ASYLO_OK);
    }
    asylo_manager_destroy(manager);
    asylo_remote_provision_destroy(provision);
    return code;
}

/* The README's plain-TLS flags, parsed once and given to both sides, give
 * plain TLS: root certificates on the server side do not switch on mutual
 * TLS by themselves. */
static void test_plain_tls_options_serve_both_sides(void **state) {
    (void)state;
    char flags[4][UTIL_PATH_SIZE + 32];
    snprintf(flags[0], sizeof flags[0], "--security_type=ssl");
    snprintf(flags[1], sizeof flags[1], "--ssl_server_cert=%s", path_of("server.pem"));
    snprintf(flags[2], sizeof flags[2], "--ssl_server_cred=%s", path_of("server.key"));
    snprintf(flags[3], sizeof flags[3], "--ssl_root_certs=%s", path_of("ca.pem"));
    asylo_security_options parsed;
    asylo_security_options_init(&parsed);
    asylo_status status;
    for (int i = 0; i < 4; i++) {
        int consumed = 0;
        assert_int_equal(asylo_security_parse_flag(&parsed, flags[i], NULL, &consumed, &status),
                         ASYLO_OK);
        assert_int_equal(consumed, 1);
    }
    assert_int_equal(parsed.require_client_certificate, 0);
    assert_int_equal(load_provisioned(&parsed, &parsed, "plain-TLS flags on both sides", &status),
                     ASYLO_OK);

    /* Mutual TLS is an explicit choice of the server side ... */
    asylo_security_options mutual = parsed;
    mutual.require_client_certificate = 1;
    assert_int_equal(load_provisioned(&mutual, &parsed, "mutual TLS, no client cert", &status),
                     ASYLO_UNAUTHENTICATED);
    assert_non_null(strstr(status.message, "requires a client certificate"));
    asylo_security_options identified = parsed;
    identified.client_cert = path_of("client.pem");
    identified.client_key = path_of("client.key");
    assert_int_equal(load_provisioned(&mutual, &identified, "mutual TLS, client cert", &status),
                     ASYLO_OK);
    /* ... and needs the roots to check client certificates against. */
    mutual.root_certs = NULL;
    assert_int_equal(load_provisioned(&mutual, &parsed, "mutual TLS without roots", &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "--ssl_root_certs"));
}

static asylo_security_options plain_tls_server(void) {
    asylo_security_options options;
    asylo_security_options_init(&options);
    options.type = ASYLO_SECURITY_SSL;
    options.server_cert = path_of("server.pem");
    options.server_key = path_of("server.key");
    options.root_certs = path_of("ca.pem");
    return options;
}

/* A key that does not belong to its certificate is refused when the
 * credentials are made, naming both files, on either side. */
static void test_key_not_matching_certificate(void **state) {
    (void)state;
    char cert_flag[UTIL_PATH_SIZE + 32], key_flag[UTIL_PATH_SIZE + 32];
    snprintf(cert_flag, sizeof cert_flag, "--ssl_server_cert=%s", path_of("server.pem"));
    snprintf(key_flag, sizeof key_flag, "--ssl_server_cred=%s", path_of("client.key"));
    const char *arguments[] = {"--address=127.0.0.1:0",
                               "--security_type=ssl",
                               cert_flag,
                               key_flag,
                               "--allow_any_enclave",
                               NULL};
    util_proxy proxy;
    assert_true(util_proxy_spawn(&proxy, ASYLO_PROXY_PATH, arguments, NULL,
                                 path_of("proxy_wrong_key.log"), false, 0));
    assert_true(util_proxy_wait(&proxy, 10000));
    char *log = util_read_file(proxy.log_path);
    printf("proxy with another certificate's key: exit %d, log: %s", WEXITSTATUS(proxy.wait_status),
           log ? log : "(none)\n");
    assert_true(WIFEXITED(proxy.wait_status));
    assert_int_not_equal(WEXITSTATUS(proxy.wait_status), 0);
    assert_non_null(log);
    assert_non_null(strstr(log, "INVALID_ARGUMENT"));
    assert_non_null(strstr(log, "does not match"));
    assert_non_null(strstr(log, path_of("server.pem")));
    assert_non_null(strstr(log, path_of("client.key")));
    assert_null(strstr(log, "cannot listen"));
    free(log);

    asylo_security_options server = plain_tls_server();
    asylo_security_options client = plain_tls_server();
    client.client_cert = path_of("client.pem");
    client.client_key = path_of("rogue.key");
    asylo_status status;
    assert_int_equal(load_provisioned(&server, &client, "client key of another cert", &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "does not match"));
    assert_non_null(strstr(status.message, path_of("client.pem")));
    assert_non_null(strstr(status.message, path_of("rogue.key")));
    assert_null(strstr(status.message, "unreachable"));
}

/* A plaintext client dialing a TLS server hears that the security settings
 * differ, not only that the socket closed. */
static void test_plaintext_client_tls_server(void **state) {
    (void)state;
    asylo_security_options server = plain_tls_server();
    asylo_security_options client;
    asylo_security_options_init(&client);
    asylo_status status;
    assert_int_equal(load_provisioned(&server, &client, "plaintext client, TLS server", &status),
                     ASYLO_UNAVAILABLE);
    assert_non_null(strstr(status.message, "security settings differ"));
    assert_non_null(strstr(status.message, "--security_type=ssl"));
}

/* True when text has a line in gRPC's own format ("E1201 01:26:13.048761169
 * 5784 ssl_transport_security.cc:1501] ..."): a severity letter and MMDD. */
static bool has_raw_grpc_line(const char *text) {
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strchr("EWID", line[0]) != NULL && line[1] >= '0' && line[1] <= '9' && line[2] >= '0' &&
            line[2] <= '9' && line[3] >= '0' && line[3] <= '9' && line[4] >= '0' &&
            line[4] <= '9' && line[5] == ' ') {
            return true;
        }
        line = strchr(line, '\n');
        line = line != NULL ? line + 1 : NULL;
    }
    return false;
}

/* gRPC's own log lines (failed TLS handshakes: the host's when it does not
 * trust the proxy, the proxy's when a plaintext client dials it) come out in
 * asylo-c's format, component "grpc", in the host and on the proxy. */
static void test_grpc_log_in_asylo_format(void **state) {
    (void)state;
    const char *arguments[] = {
        "--address=127.0.0.1:0",  "--security_type=ssl", "--ssl_server_cert",
        path_of("server.pem"),    "--ssl_server_cred",   path_of("server.key"),
        "--load_timeout_ms=5000", "--allow_any_enclave", NULL};
    util_proxy proxy;
    start_proxy(&proxy, "proxy_grpc_log.log", arguments);
    /* This process's stderr into a file for the one refused load. */
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int captured = open(path_of("host_stderr.log"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(saved >= 0 && captured >= 0);
    assert_int_equal(dup2(captured, STDERR_FILENO), STDERR_FILENO);
    const client_identity distrustful = {path_of("other_ca.pem"), NULL, NULL, NULL};
    asylo_status status;
    asylo_code code = try_load(&proxy, &distrustful, "client not trusting the server", &status);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(captured);
    assert_int_equal(code, ASYLO_UNAUTHENTICATED);
    /* A plaintext client makes the proxy's side of the handshake fail. */
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.address = proxy.address;
    remote.connect_timeout_ms = 5000;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "plaintext";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote;
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    assert_int_equal(asylo_manager_load(manager, &config, NULL, &status), ASYLO_UNAVAILABLE);
    asylo_manager_destroy(manager);
    /* The proxy logs its side of the handshake as it happens: allow it time. */
    for (int i = 0; i < 100 && !util_file_contains(proxy.log_path, "Handshake failed"); i++) {
        usleep(50 * 1000);
    }
    char *host_log = util_read_file(path_of("host_stderr.log"));
    char *proxy_log = util_read_file(proxy.log_path);
    printf("host stderr:\n%sproxy log:\n%s", host_log ? host_log : "(none)\n",
           proxy_log ? proxy_log : "(none)\n");
    assert_non_null(host_log);
    assert_non_null(proxy_log);
    assert_false(has_raw_grpc_line(host_log));
    assert_false(has_raw_grpc_line(proxy_log));
    assert_non_null(strstr(host_log, " warning grpc: "));
    assert_non_null(strstr(host_log, "Handshake failed"));
    assert_non_null(strstr(proxy_log, " warning grpc: "));
    assert_non_null(strstr(proxy_log, "Handshake failed"));
    free(host_log);
    free(proxy_log);
    util_proxy_kill(&proxy);
}

/* A provision server that is not there: the message names its address once. */
static void test_provision_server_address_named_once(void **state) {
    (void)state;
    char address[UTIL_PATH_SIZE + 8];
    snprintf(address, sizeof address, "unix:%s", path_of("no-provision-server.sock"));
    asylo_provision_server_options options;
    asylo_provision_server_options_init(&options);
    options.server_address = address;
    options.timeout_ms = 5000;
    asylo_remote_provision *provision = NULL;
    asylo_status status;
    assert_int_equal(asylo_provision_server_provision_create(&options, &provision, &status),
                     ASYLO_OK);
    asylo_remote_endpoint endpoint;
    asylo_code code =
        provision->provision(provision, TEST_ENCLAVE_PATH, "sim", 5000, &endpoint, &status);
    printf("provision server that is not there -> %s\n", util_status_text(&status));
    asylo_remote_provision_destroy(provision);
    assert_int_equal(code, ASYLO_UNAVAILABLE);
    assert_non_null(strstr(status.message, "provision server "));
    assert_false(names_address_twice(status.message, address));
}

int main(void) {
    /* An enclave run by sim inside the proxy is what these attacks on the
     * proxy's process need (ptrace of its parent, its memory). */
    util_target_backend = "sim";
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
        cmocka_unit_test(test_plain_tls_options_serve_both_sides),
        cmocka_unit_test(test_key_not_matching_certificate),
        cmocka_unit_test(test_plaintext_client_tls_server),
        cmocka_unit_test(test_grpc_log_in_asylo_format),
        cmocka_unit_test(test_provision_server_address_named_once),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    int left = util_children_report("at exit");
    util_kill_children();
    util_rmtree(dir);
    return failed == 0 && left == 0 ? 0 : 1;
}
