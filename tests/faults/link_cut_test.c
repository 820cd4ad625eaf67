/* The host half of faults.link_cut (link_cut_test.sh makes two network
 * namespaces joined by a veth pair and runs asylo-provision-server in the
 * target's): cuts the link (ip link set DEV down) and restores it while
 * calls are in flight and while an upload is, from this, the host's,
 * namespace.
 *
 *   link_cut_test SERVER_ADDRESS DEVICE
 *
 * Every call must give the right result or UNAVAILABLE / DEADLINE_EXCEEDED
 * within CALL_BOUND_MS, every load OK or one of those within LOAD_BOUND_MS,
 * never a wrong result or a hang; after the link is back a new load and its
 * calls must work. */
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "asylo/asylo.h"
#include "remote_util.h"
#include "test_enclave_selectors.h"

extern char **environ;

#define THREADS 4
#define PAYLOAD_SIZE 4096
#define CALL_TIMEOUT_MS 3000
#define PROVISION_TIMEOUT_MS 4000
/* call_timeout_ms, or keepalive noticing a dead peer (about 2 s), plus slack
 * for a loaded machine. */
#define CALL_BOUND_MS (CALL_TIMEOUT_MS + 5000)
#define LOAD_BOUND_MS (PROVISION_TIMEOUT_MS + 5000 + CALL_TIMEOUT_MS + 5000)
#define CUT_MS 2500

static atomic_int failures;
static const char *server_address;
static const char *device;

#define CHECK(condition, ...)                                                                      \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            atomic_fetch_add(&failures, 1);                                                        \
        }                                                                                          \
    } while (0)

static bool acceptable_failure(asylo_code code) {
    return code == ASYLO_UNAVAILABLE || code == ASYLO_DEADLINE_EXCEEDED;
}

/* ip link set dev DEVICE up|down (posix_spawn: gRPC's threads forbid fork). */
static void set_link(const char *state) {
    char *const argv[] = {"ip", "link", "set", "dev", (char *)device, (char *)state, NULL};
    pid_t pid;
    int wait_status = 0;
    bool ok = posix_spawnp(&pid, "ip", NULL, NULL, argv, environ) == 0 &&
              waitpid(pid, &wait_status, 0) == pid && WIFEXITED(wait_status) &&
              WEXITSTATUS(wait_status) == 0;
    CHECK(ok, "ip link set dev %s %s failed", device, state);
    printf("%lld: link %s\n", (long long)util_now_ms() % 100000, state);
}

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

typedef struct loaded {
    asylo_remote_provision *provision;
    asylo_client *client;
} loaded;

static asylo_code load(asylo_manager *manager, const char *name, loaded *out,
                       asylo_status *status) {
    memset(out, 0, sizeof *out);
    asylo_provision_server_options options;
    asylo_provision_server_options_init(&options);
    options.server_address = server_address;
    options.timeout_ms = PROVISION_TIMEOUT_MS;
    options.chunk_size = 4096;
    /* Plaintext: the namespaces are private to the test. */
    options.security.allow_insecure_non_local = 1;
    asylo_code code = asylo_provision_server_provision_create(&options, &out->provision, status);
    if (code != ASYLO_OK) {
        return code;
    }
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.provision = out->provision;
    remote.provision_timeout_ms = PROVISION_TIMEOUT_MS;
    remote.call_timeout_ms = CALL_TIMEOUT_MS;
    remote.security.allow_insecure_non_local = 1;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = name;
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote;
    config.exit_handlers = handlers;
    config.exit_handler_count = 1;
    int64_t started = util_now_ms();
    code = asylo_manager_load(manager, &config, &out->client, status);
    int64_t took = util_now_ms() - started;
    printf("load %s: %s (%lld ms)\n", name, util_status_text(status), (long long)took);
    CHECK(took <= LOAD_BOUND_MS, "load %s took %lld ms (bound %d)", name, (long long)took,
          LOAD_BOUND_MS);
    CHECK(code == ASYLO_OK || acceptable_failure(code), "load %s: %s", name,
          util_status_text(status));
    return code;
}

static void unload(asylo_manager *manager, loaded *enclave) {
    if (enclave->client != NULL) {
        asylo_status status;
        int64_t started = util_now_ms();
        asylo_manager_destroy_client(manager, enclave->client, NULL, 0, &status);
        int64_t took = util_now_ms() - started;
        CHECK(took <= CALL_BOUND_MS, "destroy took %lld ms (bound %d): %s", (long long)took,
              CALL_BOUND_MS, util_status_text(&status));
    }
    asylo_remote_provision_destroy(enclave->provision);
    memset(enclave, 0, sizeof *enclave);
}

/* One echo and one nested call; false on an (acceptable) failure. */
static bool call_once(asylo_client *client, int index, const uint8_t *input, int *ok) {
    asylo_buffer output = {0};
    asylo_status status;
    int64_t started = util_now_ms();
    asylo_code code = asylo_client_run(client, input, PAYLOAD_SIZE, &output, &status);
    int64_t took = util_now_ms() - started;
    CHECK(took <= CALL_BOUND_MS, "thread %d: echo took %lld ms: %s", index, (long long)took,
          util_status_text(&status));
    CHECK(code == ASYLO_OK || acceptable_failure(code), "thread %d: echo: %s", index,
          util_status_text(&status));
    CHECK(code != ASYLO_OK ||
              (output.size == PAYLOAD_SIZE && memcmp(output.data, input, PAYLOAD_SIZE) == 0),
          "thread %d: the echo came back wrong", index);
    asylo_buffer_free(&output);
    if (code != ASYLO_OK) {
        return false;
    }
    uint32_t depth = 2, levels = 0;
    started = util_now_ms();
    code = asylo_client_call(client, TEST_RUN_NESTED, &depth, sizeof depth, &output, &status);
    took = util_now_ms() - started;
    CHECK(took <= CALL_BOUND_MS, "thread %d: nested call took %lld ms: %s", index, (long long)took,
          util_status_text(&status));
    CHECK(code == ASYLO_OK || acceptable_failure(code), "thread %d: nested call: %s", index,
          util_status_text(&status));
    if (code == ASYLO_OK && output.size == sizeof levels) {
        memcpy(&levels, output.data, sizeof levels);
    }
    CHECK(code != ASYLO_OK || levels == depth, "thread %d: the nested call came back wrong", index);
    asylo_buffer_free(&output);
    *ok += code == ASYLO_OK;
    return code == ASYLO_OK;
}

typedef struct worker {
    asylo_client *client;
    int index;
    atomic_bool *stop;
    int ok;
    int failed;
} worker;

static void *work(void *context) {
    worker *job = context;
    uint8_t input[PAYLOAD_SIZE];
    for (size_t i = 0; i < sizeof input; i++) {
        input[i] = (uint8_t)(i * 13 + (size_t)job->index);
    }
    /* Calls until told to stop; after a failure (the stream is gone) only
     * a few more, to see that later calls fail cleanly too. */
    while (!atomic_load(job->stop) && job->failed < 3) {
        if (!call_once(job->client, job->index, input, &job->ok)) {
            job->failed++;
        }
    }
    return NULL;
}

/* Calls from THREADS threads while the link goes down for CUT_MS and back. */
static void cut_during_calls(asylo_manager *manager) {
    loaded enclave;
    asylo_status status;
    if (load(manager, "calls", &enclave, &status) != ASYLO_OK) {
        CHECK(false, "the first load, link up, failed: %s", util_status_text(&status));
        unload(manager, &enclave);
        return;
    }
    atomic_bool stop = false;
    worker jobs[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (worker){enclave.client, i, &stop, 0, 0};
        pthread_create(&threads[i], NULL, work, &jobs[i]);
    }
    util_sleep_ms(500);
    set_link("down");
    util_sleep_ms(CUT_MS);
    set_link("up");
    util_sleep_ms(500);
    atomic_store(&stop, true);
    int ok = 0, failed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        ok += jobs[i].ok;
        failed += jobs[i].failed;
    }
    printf("calls across the cut: %d right, %d UNAVAILABLE/DEADLINE_EXCEEDED\n", ok, failed);
    CHECK(ok > 0, "no call worked before the cut");
    unload(manager, &enclave);
}

typedef struct upload_job {
    asylo_manager *manager;
    char name[32];
    loaded enclave;
    asylo_code code;
} upload_job;

static void *upload(void *context) {
    upload_job *job = context;
    asylo_status status;
    job->code = load(job->manager, job->name, &job->enclave, &status);
    return NULL;
}

/* The link goes down delay_ms after a load (upload, then the proxy) began. */
static void cut_during_upload(asylo_manager *manager, int delay_ms) {
    upload_job job = {.manager = manager};
    snprintf(job.name, sizeof job.name, "upload-%d", delay_ms);
    pthread_t thread;
    pthread_create(&thread, NULL, upload, &job);
    util_sleep_ms(delay_ms);
    set_link("down");
    util_sleep_ms(CUT_MS);
    set_link("up");
    pthread_join(thread, NULL);
    if (job.code == ASYLO_OK) {
        /* It finished before the cut, or rode it out: its calls now give
         * the right result or fail cleanly. */
        uint8_t input[PAYLOAD_SIZE] = {1, 2, 3};
        int ok = 0;
        call_once(job.enclave.client, 0, input, &ok);
    }
    unload(manager, &job.enclave);
}

/* After the link is back: a new load and its calls work. gRPC may still be
 * backing off from the failed connection (a reconnect waits 1 s and more,
 * with jitter), so the load gets up to 3 tries; each failure must itself be
 * clean (load checks that). */
static void load_after_restore(asylo_manager *manager, const char *name) {
    loaded enclave;
    asylo_status status;
    asylo_code code = ASYLO_UNAVAILABLE;
    for (int attempt = 0; attempt < 3 && code != ASYLO_OK; attempt++) {
        if (attempt > 0) {
            unload(manager, &enclave);
            util_sleep_ms(500);
        }
        code = load(manager, name, &enclave, &status);
    }
    CHECK(code == ASYLO_OK, "a load after the link came back failed 3 times: %s",
          util_status_text(&status));
    if (code == ASYLO_OK) {
        uint8_t input[PAYLOAD_SIZE] = {4, 5, 6};
        int ok = 0;
        CHECK(call_once(enclave.client, 0, input, &ok), "calls after the link came back failed");
    }
    unload(manager, &enclave);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SERVER_ADDRESS DEVICE (run by link_cut_test.sh)\n", argv[0]);
        return 2;
    }
    server_address = argv[1];
    device = argv[2];
    asylo_manager *manager = NULL;
    asylo_status status;
    if (asylo_manager_create(&manager, &status) != ASYLO_OK) {
        fprintf(stderr, "FAIL: manager: %s\n", util_status_text(&status));
        return 1;
    }
    cut_during_calls(manager);
    load_after_restore(manager, "after-calls");
    static const int delays[] = {20, 100};
    for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++) {
        cut_during_upload(manager, delays[i]);
        load_after_restore(manager, "after-upload");
    }
    asylo_manager_destroy(manager);
    int left = atomic_load(&failures);
    printf("%s\n", left == 0 ? "PASS" : "FAIL");
    return left == 0 ? 0 : 1;
}
