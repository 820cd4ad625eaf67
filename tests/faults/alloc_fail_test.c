/* Allocation failure: every public call, run with its N-th allocation failing
 * for N = 1, 2, 3, ... until a run needs fewer than N allocations (it then
 * succeeded untouched). Each run must end OK or RESOURCE_EXHAUSTED (a call
 * whose allocation failed), never crash, hang, leave a process behind or
 * give a wrong result; under ASan, LeakSanitizer checks at exit that the
 * failed runs leaked nothing.
 *
 * How allocations are failed without touching the library: this program
 * links the static asylo_internal archive with
 * -Wl,--wrap=malloc,--wrap=calloc,... (tests/faults/CMakeLists.txt), so
 * every allocation made by asylo-c's own objects goes through the
 * __wrap_ functions below, and only those. gRPC, OpenSSL, protobuf-c and libc
 * are shared libraries and keep their own allocator; the enclave (its own
 * shared object) and the proxy (its own process) are not counted either.
 *
 * One scenario per run of the program (argv[1]), so ctest runs them as
 * faults.alloc.<scenario> in parallel, each with its own time bound. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asylo/asylo.h"
#include "asylo/attestation.h"
#include "common/bytes.h"
#include "common/bytes_output.h"
#include "common/enclave_config_codec.h"
#include "identity/evidence.h"
#include "remote_util.h"
#include "test_enclave_selectors.h"

/* Upper bound on N, and on the time a scenario may take in all. */
#define MAX_N 2000
#define TIME_BUDGET_MS 20000

/* ---- the allocator of asylo-c's own objects ------------------------------ */

/* The names the linker's --wrap gives: reserved, and meant to be. */
/* NOLINTBEGIN(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *pointer, size_t size);
char *__real_strdup(const char *text);
char *__real_strndup(const char *text, size_t size);
int __real_posix_memalign(void **pointer, size_t alignment, size_t size);
char *__real_realpath(const char *path, char *resolved);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *pointer, size_t size);
char *__wrap_strdup(const char *text);
char *__wrap_strndup(const char *text, size_t size);
int __wrap_posix_memalign(void **pointer, size_t alignment, size_t size);
char *__wrap_realpath(const char *path, char *resolved);
/* NOLINTEND(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */

static atomic_long allocations; /* counted since the run began */
static atomic_long fail_at;     /* 0: never fail */
static atomic_bool failed;      /* the run's failure happened */

static bool should_fail(void) {
    long limit = atomic_load(&fail_at);
    if (limit == 0) {
        return false;
    }
    if (atomic_fetch_add(&allocations, 1) + 1 != limit) {
        return false;
    }
    atomic_store(&failed, true);
    errno = ENOMEM;
    return true;
}

void *__wrap_malloc(size_t size) {
    return should_fail() ? NULL : __real_malloc(size);
}
void *__wrap_calloc(size_t count, size_t size) {
    return should_fail() ? NULL : __real_calloc(count, size);
}
void *__wrap_realloc(void *pointer, size_t size) {
    return should_fail() ? NULL : __real_realloc(pointer, size);
}
char *__wrap_strdup(const char *text) {
    return should_fail() ? NULL : __real_strdup(text);
}
char *__wrap_strndup(const char *text, size_t size) {
    return should_fail() ? NULL : __real_strndup(text, size);
}
int __wrap_posix_memalign(void **pointer, size_t alignment, size_t size) {
    return should_fail() ? ENOMEM : __real_posix_memalign(pointer, alignment, size);
}
char *__wrap_realpath(const char *path, char *resolved) {
    /* With a NULL buffer realpath allocates; it then fails as malloc would. */
    return resolved == NULL && should_fail() ? NULL : __real_realpath(path, resolved);
}

/* ---- checks ----------------------------------------------------------- */

static int failures;
static long current_n;

#define CHECK(condition, ...)                                                                      \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            fprintf(stderr, "FAIL %s:%d (N=%ld): ", __FILE__, __LINE__, current_n);                \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* A step of a scenario: OK, or RESOURCE_EXHAUSTED when this run's failure
 * has happened. Returns whether the scenario may go on. */
static bool step(const char *what, asylo_code code, const asylo_status *status) {
    if (code == ASYLO_OK) {
        return true;
    }
    CHECK(code == ASYLO_RESOURCE_EXHAUSTED && atomic_load(&failed), "%s: %s (an allocation %s)",
          what, util_status_text(status), atomic_load(&failed) ? "failed" : "did not fail");
    return false;
}

/* ---- scenarios ---------------------------------------------------------- */

static const char *scratch_dir;

static asylo_code host_reenter(void *context, asylo_client *client, uint32_t selector,
                               const uint8_t *input, size_t input_size, asylo_output *output,
                               asylo_status *status) {
    (void)context, (void)selector;
    asylo_buffer reply = {0};
    asylo_code code = asylo_client_call(client, TEST_RUN_NESTED, input, input_size, &reply, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, reply.data, reply.size, status);
    }
    asylo_buffer_free(&reply);
    return code;
}

static const asylo_exit_handler handlers[] = {{TEST_HOST_REENTER, host_reenter, NULL}};
static const asylo_environment_variable environment[] = {{"ALLOC_TEST", "1"}, {"OTHER", "two"}};

static void scenario_manager(void) {
    asylo_manager *manager = NULL;
    asylo_status status;
    if (step("manager create", asylo_manager_create(&manager, &status), &status)) {
        asylo_manager_destroy(manager);
    }
}

/* Load, an echo, nested exit calls 2 deep, get_client, destroy. */
static void run_enclave(const char *backend, const asylo_remote_config *remote) {
    asylo_manager *manager = NULL;
    asylo_client *client = NULL;
    asylo_status status;
    if (!step("manager create", asylo_manager_create(&manager, &status), &status)) {
        return;
    }
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "alloc";
    config.backend = backend;
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = remote;
    config.exit_handlers = handlers;
    config.exit_handler_count = 1;
    config.file_root = scratch_dir;
    config.enclave_config.environment = environment;
    config.enclave_config.environment_count = 2;
    config.enclave_config.user_config = "user";
    config.enclave_config.user_config_size = 4;
    if (!step("load", asylo_manager_load(manager, &config, &client, &status), &status)) {
        goto out;
    }
    static const char input[] = "echo under allocation failure";
    asylo_buffer output = {0};
    if (step("run", asylo_client_run(client, input, sizeof input, &output, &status), &status)) {
        CHECK(output.size == sizeof input && memcmp(output.data, input, sizeof input) == 0,
              "the echo came back wrong (%zu bytes)", output.size);
    }
    asylo_buffer_free(&output);
    uint32_t depth = 2;
    if (step("nested call",
             asylo_client_call(client, TEST_RUN_NESTED, &depth, sizeof depth, &output, &status),
             &status)) {
        uint32_t levels = 0;
        if (output.size == sizeof levels) {
            memcpy(&levels, output.data, sizeof levels);
        }
        CHECK(output.size == sizeof levels && levels == depth,
              "the nested call came back wrong (%zu bytes, %u levels)", output.size, levels);
    }
    asylo_buffer_free(&output);
    /* Built-in exits: the file calls through the file root, a log line. */
    static const uint8_t file_input[] = {5, 0, 0, 0, 'f', '.', 't', 'x', 't',
                                         4, 0, 0, 0, 'd', 'a', 't', 'a'};
    if (step("file roundtrip",
             asylo_client_call(client, TEST_FILE_ROUNDTRIP, file_input, sizeof file_input, &output,
                               &status),
             &status)) {
        CHECK(output.size == 4 && memcmp(output.data, "data", 4) == 0,
              "the file came back wrong (%zu bytes)", output.size);
    }
    asylo_buffer_free(&output);
    step("log", asylo_client_call(client, TEST_LOG, "a line", 6, &output, &status), &status);
    asylo_buffer_free(&output);
    asylo_client *found = NULL;
    if (step("get client", asylo_manager_get_client(manager, "alloc", &found, &status), &status)) {
        CHECK(found == client, "get_client found another client");
    }
    asylo_code code = asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    step("destroy", code, &status);
out:
    asylo_manager_destroy(manager);
}

static void scenario_sim(void) {
    run_enclave("sim", NULL);
}

static void scenario_process(void) {
    run_enclave("process", NULL);
}

static void scenario_remote(void) {
    asylo_local_provision_options local;
    asylo_local_provision_options_init(&local);
    local.proxy_path = ASYLO_PROXY_PATH;
    local.listen_address = "127.0.0.1:0";
    local.log_level = "error";
    asylo_remote_provision *provision = NULL;
    asylo_status status;
    if (!step("local provision", asylo_local_provision_create(&local, &provision, &status),
              &status)) {
        return;
    }
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.provision = provision;
    remote.call_timeout_ms = 10000;
    run_enclave("remote", &remote);
    asylo_remote_provision_destroy(provision);
}

static void scenario_config_codec(void) {
    asylo_enclave_config config = {.environment = environment,
                                   .environment_count = 2,
                                   .log_level = ASYLO_LOG_INFO,
                                   .user_config = "user",
                                   .user_config_size = 4};
    asylo__bytes encoded;
    asylo__bytes_init(&encoded, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo_status status;
    if (step("encode", asylo__enclave_config_encode(&config, &encoded, &status), &status)) {
        asylo__decoded_config decoded;
        memset(&decoded, 0, sizeof decoded);
        if (step("decode",
                 asylo__enclave_config_decode(encoded.data, encoded.size, &decoded, &status),
                 &status)) {
            CHECK(decoded.config.environment_count == 2 &&
                      strcmp(decoded.config.environment[1].value, "two") == 0 &&
                      decoded.config.user_config_size == 4,
                  "the config decoded wrong");
        }
        asylo__decoded_config_fini(&decoded);
    }
    asylo__bytes_fini(&encoded);
}

static void scenario_attestation(void) {
    static const uint8_t nonce[16] = "allocation nonce";
    asylo_status status;
    uint8_t key[ASYLO_PLATFORM_KEY_SIZE];
    if (!step("platform key", asylo_platform_attestation_key(key, &status), &status)) {
        return;
    }
    asylo_enclave_identity identity = {.product_id = 3, .svn = 9, .is_signed = 1};
    memset(identity.measurement, 0xab, sizeof identity.measurement);
    memset(identity.signer_id, 0xcd, sizeof identity.signer_id);
    strcpy(identity.backend, "sim");
    asylo__bytes_output token;
    asylo__bytes_output_init(&token, ASYLO_EVIDENCE_MAX_SIZE);
    asylo_buffer evidence = {0};
    if (!step("issue",
              asylo__evidence_issue(&identity, nonce, sizeof nonce, (const uint8_t *)"user", 4,
                                    &token.output, &status),
              &status)) {
        asylo__bytes_output_release(&token, &evidence);
        asylo_buffer_free(&evidence);
        return;
    }
    asylo__bytes_output_release(&token, &evidence);
    asylo_attestation_policy policy = {.nonce = nonce,
                                       .nonce_size = sizeof nonce,
                                       .trusted_keys = key,
                                       .trusted_key_count = 1,
                                       .allow_debug = 1};
    asylo_attestation_claims claims;
    if (step("verify",
             asylo_attestation_verify(evidence.data, evidence.size, &policy, &claims, &status),
             &status)) {
        CHECK(claims.identity.product_id == 3 && claims.identity.svn == 9 &&
                  claims.user_data_size == 4,
              "the claims came back wrong");
    }
    asylo_buffer_free(&evidence);
}

/* The provision-server client: create, and a provision that finds no server
 * (its allocations up to the failed dial), destroy. */
static void scenario_provision_client(void) {
    asylo_provision_server_options options;
    asylo_provision_server_options_init(&options);
    options.server_address = "127.0.0.1:1";
    options.timeout_ms = 300;
    asylo_remote_provision *provision = NULL;
    asylo_status status;
    if (!step("provision server create",
              asylo_provision_server_provision_create(&options, &provision, &status), &status)) {
        return;
    }
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.provision = provision;
    asylo_manager *manager = NULL;
    if (step("manager create", asylo_manager_create(&manager, &status), &status)) {
        asylo_load_config config;
        asylo_load_config_init(&config);
        config.name = "unreachable";
        config.backend = "remote";
        config.enclave_path = TEST_ENCLAVE_PATH;
        config.backend_config = &remote;
        asylo_client *client = NULL;
        asylo_code code = asylo_manager_load(manager, &config, &client, &status);
        /* Nobody listens there: UNAVAILABLE / DEADLINE_EXCEEDED are the
         * answers without a failure, RESOURCE_EXHAUSTED with one. */
        CHECK(code == ASYLO_UNAVAILABLE || code == ASYLO_DEADLINE_EXCEEDED ||
                  (code == ASYLO_RESOURCE_EXHAUSTED && atomic_load(&failed)),
              "load through an unreachable provision server: %s", util_status_text(&status));
        CHECK(client == NULL, "a failed load gave a client");
        asylo_manager_destroy(manager);
    }
    asylo_remote_provision_destroy(provision);
}

/* The provision-server client against a real asylo-provision-server
 * (started by main): the upload, the proxy the server starts for it, and
 * its release, through the provision interface the remote backend calls
 * (the load that would follow is the `remote` scenario's). */
static char provision_server_address[256];

static void scenario_provision_server(void) {
    asylo_provision_server_options options;
    asylo_provision_server_options_init(&options);
    options.server_address = provision_server_address;
    options.timeout_ms = 10000;
    options.chunk_size = 64 * 1024;
    asylo_remote_provision *provision = NULL;
    asylo_status status;
    if (!step("provision server create",
              asylo_provision_server_provision_create(&options, &provision, &status), &status)) {
        return;
    }
    asylo_remote_endpoint endpoint;
    memset(&endpoint, 0, sizeof endpoint);
    if (step("provision",
             provision->provision(provision, TEST_ENCLAVE_PATH, "sim", 10000, &endpoint, &status),
             &status)) {
        CHECK(strchr(endpoint.address, ':') != NULL && endpoint.token[0] != '\0',
              "the endpoint came back incomplete: '%s'", endpoint.address);
        step("finalize", provision->finalize(provision, &status), &status);
    }
    asylo_remote_provision_destroy(provision);
}

typedef struct scenario {
    const char *name;
    void (*run)(void);
} scenario;

static const scenario scenarios[] = {
    {"manager", scenario_manager},         {"sim", scenario_sim},
    {"remote", scenario_remote},           {"config_codec", scenario_config_codec},
    {"attestation", scenario_attestation}, {"provision_client", scenario_provision_client},
    {"process", scenario_process},         {"provision_server", scenario_provision_server},
};

int main(int argc, char **argv) {
    const scenario *chosen = NULL;
    for (size_t i = 0; argc == 2 && i < sizeof scenarios / sizeof scenarios[0]; i++) {
        if (strcmp(argv[1], scenarios[i].name) == 0) {
            chosen = &scenarios[i];
        }
    }
    if (chosen == NULL) {
        fprintf(stderr,
                "usage: %s manager|sim|process|remote|config_codec|attestation|"
                "provision_client|provision_server\n",
                argv[0]);
        return 2;
    }
    char dir[UTIL_PATH_SIZE];
    if (!util_make_temp_dir("asylo-alloc", dir, sizeof dir)) {
        return 1;
    }
    scratch_dir = dir;
    /* The platform attestation key lives here, not in the user's state. */
    setenv("ASYLO_STATE_DIR", dir, 1);
    /* Failed runs log a lot; errors are enough to see what went wrong. */
    asylo_log_set_level(ASYLO_LOG_ERROR);

    util_proxy server = {.pid = -1};
    if (chosen->run == scenario_provision_server) {
        char storage[UTIL_PATH_SIZE + 32], ports[64], log_path[UTIL_PATH_SIZE];
        snprintf(storage, sizeof storage, "--storage_dir=%s/store", dir);
        /* One of 64 small port ranges by pid; the server skips ports in use. */
        int low = 41100 + (int)(getpid() % 64) * 16;
        snprintf(ports, sizeof ports, "--proxy_ports=%d-%d", low, low + 15);
        util_join(log_path, sizeof log_path, dir, "server.log");
        const char *arguments[] = {
            "--address=127.0.0.1:0", storage, ports, "--remote_proxy=" ASYLO_PROXY_PATH,
            "--log_level=error",     NULL};
        if (!util_proxy_spawn(&server, ASYLO_PROVISION_SERVER_PATH, arguments, NULL, log_path, true,
                              15000)) {
            fprintf(stderr, "FAIL: the provision server did not start\n");
            util_kill_children();
            util_rmtree(dir);
            return 1;
        }
        snprintf(provision_server_address, sizeof provision_server_address, "%s", server.address);
    }
    /* Once without failure: the scenario works, and the library's one-time
     * set-up (gRPC, the platform key) is done. */
    chosen->run();
    int64_t started = util_now_ms();
    long n = 1;
    bool finished = false;
    for (; n <= MAX_N && failures == 0; n++) {
        current_n = n;
        atomic_store(&allocations, 0);
        atomic_store(&failed, false);
        atomic_store(&fail_at, n);
        chosen->run();
        atomic_store(&fail_at, 0);
        pid_t children[UTIL_MAX_CHILDREN];
        int expected = server.pid > 0 ? 1 : 0;
        if (util_children(children, UTIL_MAX_CHILDREN) != expected) {
            CHECK(util_children_report("after the run") == expected, "a process was left behind");
        }
        if (!atomic_load(&failed)) {
            finished = true;
            break;
        }
        if (util_now_ms() - started > TIME_BUDGET_MS) {
            break;
        }
    }
    int64_t took = util_now_ms() - started;
    if (finished) {
        printf("%s: failed each of its %ld allocations in turn, then ran clean (%lld ms)\n",
               chosen->name, n - 1, (long long)took);
    } else if (failures == 0) {
        /* Not a failure: the bound is about CI time; say how far it got. */
        printf("%s: stopped after N=%ld of a longer run (%lld ms budget)\n", chosen->name, n - 1,
               (long long)took);
    }
    if (server.pid > 0) {
        kill(server.pid, SIGTERM);
        CHECK(util_proxy_wait(&server, 15000) && WIFEXITED(server.wait_status) &&
                  WEXITSTATUS(server.wait_status) == 0,
              "the provision server did not exit 0 after SIGTERM");
    }
    util_kill_children();
    util_rmtree(dir);
    return failures == 0 ? 0 : 1;
}
