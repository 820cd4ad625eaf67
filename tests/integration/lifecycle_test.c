/* The client lifecycle on sim: initialize failures, what the host allows
 * from exit handlers during initialize and finalize, finalize misuse,
 * destroy racing finalize. Status codes crossing the boundary unchanged
 * are checked on every backend in tests/conformance. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "sim_test_support.h"

/* Host exit selectors only these tests register (0x1280-0x12ff: this file's). */
enum {
    HOST_SLOW = 0x1280,       /* says it was entered, sleeps 300 ms, says it is done */
    HOST_TRY_DESTROY,         /* destroys `target` (or its own client) from inside */
    HOST_TRY_MANAGER_DESTROY, /* destroys the whole manager from inside */
    HOST_TRY_FINALIZE_TARGET, /* finalizes `target` from inside */
    HOST_ENTER_OTHER,         /* in: u32 selector; TEST_EXIT_CALL on `other` with it */
};

/* What the nesting handlers act on. */
static asylo_client *target;
static asylo_client *other;

static asylo_manager *manager;

static int setup(void **state) {
    (void)state;
    manager = sim_manager();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    asylo_manager_destroy(manager);
    return 0;
}

/* What the TRY_* handlers saw. */
static asylo_code tried_code;
static char tried_message[ASYLO_STATUS_MESSAGE_SIZE];

/* Tries asylo_client_run on its own client and fails with whatever that gave. */
static asylo_code try_run(void *context, asylo_client *client, uint32_t selector,
                          const uint8_t *input, size_t input_size, asylo_output *output,
                          asylo_status *status) {
    (void)context, (void)selector, (void)input, (void)input_size, (void)output;
    asylo_buffer result = {0};
    tried_code = asylo_client_run(client, "x", 1, &result, status);
    snprintf(tried_message, sizeof tried_message, "%s", status->message);
    asylo_buffer_free(&result);
    return tried_code;
}

/* Tries asylo_client_finalize from inside a call and reports success to the
 * enclave: only the code it got matters. */
static asylo_code try_finalize(void *context, asylo_client *client, uint32_t selector,
                               const uint8_t *input, size_t input_size, asylo_output *output,
                               asylo_status *status) {
    (void)context, (void)selector, (void)input, (void)input_size, (void)output;
    asylo_status inner;
    tried_code = asylo_client_finalize(client, NULL, 0, &inner);
    snprintf(tried_message, sizeof tried_message, "%s", inner.message);
    return asylo_status_ok(status);
}

static asylo_code try_destroy(void *context, asylo_client *client, uint32_t selector,
                              const uint8_t *input, size_t input_size, asylo_output *output,
                              asylo_status *status) {
    (void)context, (void)selector, (void)input, (void)input_size, (void)output;
    asylo_status inner;
    tried_code =
        asylo_manager_destroy_client(manager, target != NULL ? target : client, NULL, 0, &inner);
    snprintf(tried_message, sizeof tried_message, "%s", inner.message);
    return asylo_status_ok(status);
}

static asylo_code try_manager_destroy(void *context, asylo_client *client, uint32_t selector,
                                      const uint8_t *input, size_t input_size, asylo_output *output,
                                      asylo_status *status) {
    (void)context, (void)client, (void)selector, (void)input, (void)input_size, (void)output;
    asylo_manager_destroy(manager); /* must refuse (and log), not hang */
    return asylo_status_ok(status);
}

static asylo_code try_finalize_target(void *context, asylo_client *client, uint32_t selector,
                                      const uint8_t *input, size_t input_size, asylo_output *output,
                                      asylo_status *status) {
    (void)context, (void)client, (void)selector, (void)input, (void)input_size, (void)output;
    asylo_status inner;
    tried_code = asylo_client_finalize(target, NULL, 0, &inner);
    snprintf(tried_message, sizeof tried_message, "%s", inner.message);
    return asylo_status_ok(status);
}

static asylo_code enter_other(void *context, asylo_client *client, uint32_t selector,
                              const uint8_t *input, size_t input_size, asylo_output *output,
                              asylo_status *status) {
    (void)context, (void)client, (void)selector, (void)output;
    return asylo_client_call(other, TEST_EXIT_CALL, input, input_size, NULL, status);
}

static atomic_int slow_entered;
static atomic_int slow_done;

static void sleep_ms(long milliseconds) {
    struct timespec delay = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
    while (nanosleep(&delay, &delay) != 0) {
    }
}

/* Waits (bounded) until *flag is set; fails the test otherwise. */
static void wait_for_flag(atomic_int *flag, const char *what) {
    for (int i = 0; i < 2000 && !atomic_load(flag); i++) {
        sleep_ms(5);
    }
    if (!atomic_load(flag)) {
        fail_msg("%s did not happen within 10 s", what);
    }
}

static asylo_code slow(void *context, asylo_client *client, uint32_t selector, const uint8_t *input,
                       size_t input_size, asylo_output *output, asylo_status *status) {
    (void)context, (void)client, (void)selector, (void)input, (void)input_size, (void)output;
    atomic_store(&slow_entered, 1);
    sleep_ms(300);
    atomic_store(&slow_done, 1);
    return asylo_status_ok(status);
}

static const asylo_exit_handler handlers[] = {
    {TEST_HOST_TRY_RUN, try_run, NULL},
    {TEST_HOST_TRY_FINALIZE, try_finalize, NULL},
    {HOST_SLOW, slow, NULL},
    {HOST_TRY_DESTROY, try_destroy, NULL},
    {HOST_TRY_MANAGER_DESTROY, try_manager_destroy, NULL},
    {HOST_TRY_FINALIZE_TARGET, try_finalize_target, NULL},
    {HOST_ENTER_OTHER, enter_other, NULL},
};

static asylo_code load_with(const char *name, const asylo_environment_variable *environment,
                            size_t count, asylo_client **client, asylo_status *status) {
    asylo_load_config config;
    sim_config(&config, name);
    config.enclave_config.environment = environment;
    config.enclave_config.environment_count = count;
    config.exit_handlers = handlers;
    config.exit_handler_count = sizeof handlers / sizeof handlers[0];
    return asylo_manager_load(manager, &config, client, status);
}

static void expect_not_loaded(const char *name) {
    asylo_client *client = (asylo_client *)1;
    asylo_status status;
    expect_status("get_client after failed load",
                  asylo_manager_get_client(manager, name, &client, &status), &status,
                  ASYLO_NOT_FOUND, ASYLO_ORIGIN_API, "is loaded");
    assert_null(client);
}

static void test_initialize_failure(void **state) {
    (void)state;
    static const asylo_environment_variable fail[] = {{"FAIL_INIT", "1"}};
    asylo_client *client = (asylo_client *)1;
    asylo_status status;
    expect_status("initialize fails (FAIL_INIT)", load_with("init", fail, 1, &client, &status),
                  &status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                  "initializing enclave 'init': initialize refused: FAIL_INIT is set");
    assert_null(client);
    expect_not_loaded("init");
    /* The name is free and the image loads fine without the variable. */
    expect_ok("load again", load_with("init", NULL, 0, &client, &status), &status);
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_RUNNING);
    asylo_buffer output = {0};
    expect_ok("run", asylo_client_run(client, "ok", 2, &output, &status), &status);
    assert_int_equal(output.size, 2);
    asylo_buffer_free(&output);
    expect_ok("destroy", asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status);
}

static void test_run_from_exit_during_initialize(void **state) {
    (void)state;
    char selector[16];
    snprintf(selector, sizeof selector, "%u", TEST_HOST_TRY_RUN);
    const asylo_environment_variable environment[] = {{"INIT_EXIT_SELECTOR", selector}};
    asylo_client *client = (asylo_client *)1;
    asylo_status status;
    tried_code = ASYLO_OK;
    expect_status("run from an exit handler during initialize",
                  load_with("init-run", environment, 1, &client, &status), &status,
                  ASYLO_FAILED_PRECONDITION, ANY_ORIGIN,
                  "enclave 'init-run' is uninitialized: run is allowed only while it is running");
    assert_int_equal(tried_code, ASYLO_FAILED_PRECONDITION);
    assert_null(client);
    expect_not_loaded("init-run");
}

static void test_finalize_then_run(void **state) {
    (void)state;
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("load", load_with("fin", NULL, 0, &client, &status), &status);
    expect_ok("finalize", asylo_client_finalize(client, "bye", 3, &status), &status);
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_FINALIZED);
    assert_string_equal(asylo_client_state_name(asylo_client_get_state(client)), "finalized");
    asylo_buffer output = {0};
    expect_status("run after finalize", asylo_client_run(client, "x", 1, &output, &status), &status,
                  ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                  "enclave 'fin' is finalized: run is allowed only while it is running");
    expect_status("call after finalize",
                  asylo_client_call(client, TEST_COUNTER, NULL, 0, &output, &status), &status,
                  ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                  "enclave 'fin' is finalized: an entry call is allowed only while it is running");
    expect_status("finalize twice", asylo_client_finalize(client, NULL, 0, &status), &status,
                  ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                  "enclave 'fin' is finalized: finalize needs it running");
    /* Still listed until destroyed; destroy does not finalize again. */
    asylo_client *found = NULL;
    expect_ok("get_client", asylo_manager_get_client(manager, "fin", &found, &status), &status);
    assert_ptr_equal(found, client);
    expect_ok("destroy after finalize",
              asylo_manager_destroy_client(manager, client, "fail", 4, &status), &status);
    expect_not_loaded("fin");
}

static void test_finalize_from_inside_a_call(void **state) {
    (void)state;
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("load", load_with("fin-inside", NULL, 0, &client, &status), &status);
    uint32_t input = TEST_HOST_TRY_FINALIZE;
    asylo_buffer output = {0};
    tried_code = ASYLO_OK;
    expect_ok("exit call", asylo_client_call(client, TEST_EXIT_CALL, &input, 4, &output, &status),
              &status);
    asylo_status seen = {tried_code, ASYLO_ORIGIN_API, ""};
    snprintf(seen.message, sizeof seen.message, "%s", tried_message);
    expect_status("finalize from inside an exit handler", tried_code, &seen,
                  ASYLO_FAILED_PRECONDITION, ANY_ORIGIN,
                  "cannot finalize enclave 'fin-inside' from inside a call on it");
    /* Nothing changed: the enclave still runs. */
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_RUNNING);
    expect_ok("run", asylo_client_run(client, "x", 1, &output, &status), &status);
    asylo_buffer_free(&output);
    expect_ok("destroy", asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status);
}

static void test_run_from_exit_during_finalize(void **state) {
    (void)state;
    char selector[16];
    snprintf(selector, sizeof selector, "%u", TEST_HOST_TRY_RUN);
    const asylo_environment_variable environment[] = {{"FINALIZE_EXIT_SELECTOR", selector}};
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("load", load_with("fin-run", environment, 1, &client, &status), &status);
    tried_code = ASYLO_OK;
    expect_status("run from an exit handler during finalize",
                  asylo_client_finalize(client, NULL, 0, &status), &status,
                  ASYLO_FAILED_PRECONDITION, ANY_ORIGIN,
                  "enclave 'fin-run' is finalizing: run is allowed only while it is running");
    assert_int_equal(tried_code, ASYLO_FAILED_PRECONDITION);
    /* Finalized whatever finalize returned. */
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_FINALIZED);
    expect_ok("destroy", asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status);
}

static void test_finalize_failure_from_destroy(void **state) {
    (void)state;
    asylo_client *client = sim_load(manager, "fin-fail");
    asylo_status status;
    expect_status("destroy whose finalize fails",
                  asylo_manager_destroy_client(manager, client, "fail", 4, &status), &status,
                  ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE, "finalize asked to fail");
    /* ... and the client is gone all the same. */
    expect_not_loaded("fin-fail");
    expect_status("destroy after a failed finalize",
                  asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status,
                  ASYLO_NOT_FOUND, ASYLO_ORIGIN_API, "already destroyed?");
    client = sim_load(manager, "fin-fail");
    expect_status("finalize that fails", asylo_client_finalize(client, "fail", 4, &status), &status,
                  ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE, "finalize asked to fail");
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_FINALIZED);
    expect_ok("destroy", asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status);
}

typedef struct finalize_job {
    asylo_client *client;
    asylo_code code;
    asylo_status status;
} finalize_job;

static void *finalize_in_thread(void *context) {
    finalize_job *job = context;
    job->code = asylo_client_finalize(job->client, NULL, 0, &job->status);
    return NULL;
}

/* Thread A finalizes; the enclave's finalize makes an exit call that sleeps
 * 300 ms; meanwhile the main thread destroys. Destroy must wait for that
 * finalize: unloading under it would return thread A into unmapped code. */
static void test_destroy_waits_for_a_running_finalize(void **state) {
    (void)state;
    char selector[16];
    snprintf(selector, sizeof selector, "%u", (unsigned)HOST_SLOW);
    const asylo_environment_variable environment[] = {{"FINALIZE_EXIT_SELECTOR", selector}};
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("load", load_with("fin-race", environment, 1, &client, &status), &status);
    atomic_store(&slow_entered, 0);
    atomic_store(&slow_done, 0);
    finalize_job job = {.client = client};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, finalize_in_thread, &job), 0);
    wait_for_flag(&slow_entered, "the finalize's exit call");
    expect_ok("destroy while another thread finalizes",
              asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status);
    /* Destroy returned only once that finalize was over. */
    assert_int_equal(atomic_load(&slow_done), 1);
    pthread_join(thread, NULL);
    expect_ok("the racing finalize", job.code, &job.status);
    expect_not_loaded("fin-race");
}

/* Calls TEST_EXIT_CALL on `client` with the u32 selectors given. */
static void exit_call(asylo_client *client, const uint32_t *selectors, size_t count) {
    asylo_status status;
    expect_ok("exit call",
              asylo_client_call(client, TEST_EXIT_CALL, selectors, 4 * count, NULL, &status),
              &status);
}

static void expect_tried(const char *what, asylo_code code, const char *needle) {
    asylo_status seen = {tried_code, ASYLO_ORIGIN_API, ""};
    snprintf(seen.message, sizeof seen.message, "%s", tried_message);
    expect_status(what, tried_code, &seen, code, ANY_ORIGIN, needle);
}

/* Destroy (of the client or of the whole manager) from inside one of the
 * client's exit handlers would wait for its own call: FAILED_PRECONDITION
 * (the manager's destroy refuses and logs), never a hang. The alarm turns a
 * regression into a failure instead of a hung test. */
static void test_destroy_from_inside_a_call(void **state) {
    (void)state;
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("load", load_with("destroy-inside", NULL, 0, &client, &status), &status);
    alarm(20);
    target = NULL;
    tried_code = ASYLO_OK;
    exit_call(client, (const uint32_t[]){HOST_TRY_DESTROY}, 1);
    expect_tried("destroy from inside an exit handler", ASYLO_FAILED_PRECONDITION,
                 "cannot destroy enclave 'destroy-inside' from inside a call on it");
    exit_call(client, (const uint32_t[]){HOST_TRY_MANAGER_DESTROY}, 1);
    alarm(0);
    /* Nothing changed: the enclave still runs and is still listed. */
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_RUNNING);
    asylo_client *found = NULL;
    expect_ok("get_client", asylo_manager_get_client(manager, "destroy-inside", &found, &status),
              &status);
    assert_ptr_equal(found, client);
    asylo_buffer output = {0};
    expect_ok("run", asylo_client_run(client, "x", 1, &output, &status), &status);
    asylo_buffer_free(&output);
    expect_ok("destroy", asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status);
}

/* Nested through another enclave: A's exit handler calls into B, and B's
 * exit handler finalizes or destroys A. This thread is still inside A. */
static void test_finalize_and_destroy_nested_through_another_enclave(void **state) {
    (void)state;
    asylo_client *outer = NULL;
    asylo_status status;
    expect_ok("load A", load_with("nest-a", NULL, 0, &outer, &status), &status);
    expect_ok("load B", load_with("nest-b", NULL, 0, &other, &status), &status);
    target = outer;
    alarm(20);
    tried_code = ASYLO_OK;
    exit_call(outer, (const uint32_t[]){HOST_ENTER_OTHER, HOST_TRY_FINALIZE_TARGET}, 2);
    expect_tried("finalize A from B's handler inside A", ASYLO_FAILED_PRECONDITION,
                 "cannot finalize enclave 'nest-a' from inside a call on it");
    tried_code = ASYLO_OK;
    exit_call(outer, (const uint32_t[]){HOST_ENTER_OTHER, HOST_TRY_DESTROY}, 2);
    expect_tried("destroy A from B's handler inside A", ASYLO_FAILED_PRECONDITION,
                 "cannot destroy enclave 'nest-a' from inside a call on it");
    alarm(0);
    target = NULL;
    other = NULL;
    assert_int_equal(asylo_client_get_state(outer), ASYLO_CLIENT_RUNNING);
    expect_ok("destroy A", asylo_manager_destroy_client(manager, outer, NULL, 0, &status), &status);
    asylo_client *b = NULL;
    expect_ok("get B", asylo_manager_get_client(manager, "nest-b", &b, &status), &status);
    expect_ok("destroy B", asylo_manager_destroy_client(manager, b, NULL, 0, &status), &status);
}

/* Every destroy and free of the public API takes NULL as a no-op. */
static void test_destroy_functions_accept_null(void **state) {
    (void)state;
    asylo_status status;
    expect_ok("destroy_client(manager, NULL)",
              asylo_manager_destroy_client(manager, NULL, NULL, 0, &status), &status);
    expect_ok("destroy_client(NULL, NULL)",
              asylo_manager_destroy_client(NULL, NULL, "x", 1, &status), &status);
    assert_int_equal(asylo_manager_destroy_client(manager, NULL, NULL, 0, NULL), ASYLO_OK);
    asylo_manager_destroy(NULL);
    asylo_buffer_free(NULL);
    asylo_remote_provision_destroy(NULL);
}

static void test_state_names_and_accessors(void **state) {
    (void)state;
    assert_string_equal(asylo_client_state_name(ASYLO_CLIENT_UNINITIALIZED), "uninitialized");
    assert_string_equal(asylo_client_state_name(ASYLO_CLIENT_RUNNING), "running");
    assert_string_equal(asylo_client_state_name(ASYLO_CLIENT_FINALIZING), "finalizing");
    assert_string_equal(asylo_client_state_name(ASYLO_CLIENT_FINALIZED), "finalized");
    assert_string_equal(asylo_client_state_name((asylo_client_state)9), "unknown");
    asylo_client *client = sim_load(manager, "named.client");
    assert_string_equal(asylo_client_name(client), "named.client");
    assert_string_equal(asylo_client_backend_name(client), "sim");
    assert_null(asylo_client_name(NULL));
    assert_null(asylo_client_backend_name(NULL));
    assert_int_equal(asylo_client_get_state(NULL), ASYLO_CLIENT_FINALIZED);
    /* The manager destroys what is left (checked by LSan). */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initialize_failure),
        cmocka_unit_test(test_run_from_exit_during_initialize),
        cmocka_unit_test(test_finalize_then_run),
        cmocka_unit_test(test_finalize_from_inside_a_call),
        cmocka_unit_test(test_run_from_exit_during_finalize),
        cmocka_unit_test(test_finalize_failure_from_destroy),
        cmocka_unit_test(test_destroy_waits_for_a_running_finalize),
        cmocka_unit_test(test_destroy_from_inside_a_call),
        cmocka_unit_test(test_finalize_and_destroy_nested_through_another_enclave),
        cmocka_unit_test(test_destroy_functions_accept_null),
        cmocka_unit_test(test_state_names_and_accessors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
