/* A remote enclave reached through fault_proxy (one fault per argv[1], so
 * ctest runs them as faults.<kind>): 8 host threads each run 64 KiB echoes
 * and nested exit calls (host -> enclave -> host -> enclave, 3 deep). Every
 * call must give the right result, or UNAVAILABLE / DEADLINE_EXCEEDED within
 * CALL_BOUND_MS (call_timeout_ms + 5 s for a loaded machine); load and
 * destroy likewise; never a wrong result or a hang. The kinds and what each
 * one does are in fault_proxy.h and docs/testing.md. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylo/asylo.h"
#include "fault_proxy.h"
#include "remote_util.h"
#include "test_enclave_selectors.h"

#define THREADS 8
#define ROUNDS 3
#define PAYLOAD_SIZE (64 * 1024)
#define NESTED_DEPTH 3
#define CALL_TIMEOUT_MS 4000
#define CONNECT_TIMEOUT_MS 4000
/* What the remote backend documents (a call ends by call_timeout_ms; a dead
 * peer is noticed by keepalive within about 2 s) plus slack. */
#define CALL_BOUND_MS (CALL_TIMEOUT_MS + 5000)
#define LOAD_BOUND_MS (CONNECT_TIMEOUT_MS + CALL_TIMEOUT_MS + 5000)

static atomic_int failures;

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

typedef struct worker {
    asylo_client *client;
    int index;
    int ok;
    int failed;
} worker;

/* One call: checks its bound and its code; false when the caller should stop. */
static bool check_call(worker *job, const char *what, asylo_code code, const asylo_status *status,
                       int64_t started_ms) {
    int64_t took = util_now_ms() - started_ms;
    CHECK(took <= CALL_BOUND_MS, "thread %d %s took %lld ms (bound %d): %s", job->index, what,
          (long long)took, CALL_BOUND_MS, util_status_text(status));
    if (code == ASYLO_OK) {
        job->ok++;
        return true;
    }
    CHECK(acceptable_failure(code), "thread %d %s: %s", job->index, what, util_status_text(status));
    job->failed++;
    return false;
}

static void *work(void *context) {
    worker *job = context;
    uint8_t *input = malloc(PAYLOAD_SIZE);
    for (size_t i = 0; i < PAYLOAD_SIZE; i++) {
        input[i] = (uint8_t)(i * 31 + (size_t)job->index * 7);
    }
    for (int round = 0; round < ROUNDS; round++) {
        asylo_buffer output = {0};
        asylo_status status;
        int64_t started = util_now_ms();
        asylo_code code = asylo_client_run(job->client, input, PAYLOAD_SIZE, &output, &status);
        bool go_on = check_call(job, "64 KiB echo", code, &status, started);
        if (code == ASYLO_OK) {
            CHECK(output.size == PAYLOAD_SIZE && memcmp(output.data, input, PAYLOAD_SIZE) == 0,
                  "thread %d: echo came back wrong (%zu bytes)", job->index, output.size);
        }
        asylo_buffer_free(&output);
        if (!go_on) {
            break;
        }
        uint32_t depth = NESTED_DEPTH;
        started = util_now_ms();
        code = asylo_client_call(job->client, TEST_RUN_NESTED, &depth, 4, &output, &status);
        go_on = check_call(job, "nested exits", code, &status, started);
        if (code == ASYLO_OK) {
            uint32_t levels = 0;
            if (output.size == 4) {
                memcpy(&levels, output.data, 4);
            }
            CHECK(output.size == 4 && levels == NESTED_DEPTH,
                  "thread %d: nested call came back wrong (%zu bytes, %u levels)", job->index,
                  output.size, levels);
        }
        asylo_buffer_free(&output);
        if (!go_on) {
            break;
        }
    }
    free(input);
    return NULL;
}

static bool parse_kind(const char *name, fault_config *config) {
    memset(config, 0, sizeof *config);
    for (int kind = FAULT_NONE; kind <= FAULT_RESET; kind++) {
        if (strcmp(name, fault_kind_name((fault_kind)kind)) == 0) {
            config->kind = (fault_kind)kind;
        }
    }
    if (config->kind == FAULT_NONE && strcmp(name, "none") != 0) {
        return false;
    }
    config->latency_ms = 20;
    config->jitter_ms = 10;
    config->rate_bytes_per_s = 4 << 20;
    /* Past the handshake and the load, inside the calls. */
    config->after_bytes = 200 * 1024;
    config->stall_ms = CALL_TIMEOUT_MS + 2000;
    config->slice_bytes = 211;
    config->slice_delay_us = 20;
    return true;
}

int main(int argc, char **argv) {
    fault_config fault;
    if (argc != 2 || !parse_kind(argv[1], &fault)) {
        fprintf(stderr,
                "usage: %s none|latency|bandwidth|stall|slow_close|slicer|limit_data|reset\n",
                argv[0]);
        return 2;
    }
    char dir[UTIL_PATH_SIZE];
    if (!util_make_temp_dir("asylo-faults", dir, sizeof dir)) {
        return 1;
    }
    char log_path[UTIL_PATH_SIZE];
    util_join(log_path, sizeof log_path, dir, "proxy.log");
    util_proxy proxy;
    const char *arguments[] = {"--address=127.0.0.1:0", "--allow_any_enclave", NULL};
    if (!util_proxy_spawn(&proxy, ASYLO_PROXY_PATH, arguments, NULL, log_path, true, 15000)) {
        fprintf(stderr, "FAIL: the proxy did not start\n");
        util_kill_children();
        return 1;
    }
    const char *colon = strrchr(proxy.address, ':');
    fault_proxy *faults = colon != NULL ? fault_proxy_start(atoi(colon + 1), &fault) : NULL;
    CHECK(faults != NULL, "fault proxy for %s did not start", proxy.address);
    if (faults == NULL) {
        util_proxy_kill(&proxy);
        return 1;
    }
    printf("fault %s: host -> %s -> proxy %s\n", argv[1], fault_proxy_address(faults),
           proxy.address);

    asylo_manager *manager = NULL;
    asylo_status status;
    CHECK(asylo_manager_create(&manager, &status) == ASYLO_OK, "manager: %s",
          util_status_text(&status));
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.address = fault_proxy_address(faults);
    remote.connect_timeout_ms = CONNECT_TIMEOUT_MS;
    remote.call_timeout_ms = CALL_TIMEOUT_MS;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "faulty";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote;
    config.exit_handlers = handlers;
    config.exit_handler_count = 1;
    asylo_client *client = NULL;
    int64_t started = util_now_ms();
    asylo_code code = asylo_manager_load(manager, &config, &client, &status);
    int64_t took = util_now_ms() - started;
    printf("load: %s (%lld ms)\n", util_status_text(&status), (long long)took);
    CHECK(took <= LOAD_BOUND_MS, "load took %lld ms (bound %d)", (long long)took, LOAD_BOUND_MS);
    CHECK(code == ASYLO_OK || acceptable_failure(code), "load: %s", util_status_text(&status));

    int ok = 0, failed = 0;
    if (code == ASYLO_OK) {
        worker jobs[THREADS];
        pthread_t threads[THREADS];
        for (int i = 0; i < THREADS; i++) {
            jobs[i] = (worker){client, i, 0, 0};
            pthread_create(&threads[i], NULL, work, &jobs[i]);
        }
        for (int i = 0; i < THREADS; i++) {
            pthread_join(threads[i], NULL);
            ok += jobs[i].ok;
            failed += jobs[i].failed;
        }
        started = util_now_ms();
        code = asylo_manager_destroy_client(manager, client, NULL, 0, &status);
        took = util_now_ms() - started;
        printf("destroy: %s (%lld ms)\n", util_status_text(&status), (long long)took);
        CHECK(took <= CALL_BOUND_MS, "destroy took %lld ms (bound %d)", (long long)took,
              CALL_BOUND_MS);
    }
    printf("fault %s: %d calls right, %d UNAVAILABLE/DEADLINE_EXCEEDED, fault fired %d times "
           "over %d connections\n",
           argv[1], ok, failed, fault_proxy_fired(faults), fault_proxy_connections(faults));
    if (fault.kind == FAULT_NONE || fault.kind == FAULT_LATENCY || fault.kind == FAULT_BANDWIDTH ||
        fault.kind == FAULT_SLICER) {
        /* These only slow the link: every call must succeed. */
        CHECK(failed == 0 && ok == THREADS * ROUNDS * 2, "%d of %d calls failed under %s", failed,
              THREADS * ROUNDS * 2, argv[1]);
    }
    asylo_manager_destroy(manager);
    util_proxy_kill(&proxy);
    fault_proxy_stop(faults);
    util_rmtree(dir);
    int left = failures;
    printf("%s\n", left == 0 ? "PASS" : "FAIL");
    return left == 0 ? 0 : 1;
}
