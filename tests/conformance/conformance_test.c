/* The conformance suite: one list of behaviour tests that runs unchanged on
 * the backend named on the command line (argv: BACKEND [ipv4|ipv6|unix
 * local|ssl]; the transport arguments choose how `remote` reaches its proxy,
 * unix: and local security by default).
 *
 * Covered: lifecycle and its errors, run echo, user selectors and bad
 * selectors, status codes crossing unchanged, exit calls on the calling
 * thread, nested re-entry, 8 threads at once, the Fibonacci bounce between a
 * host exit handler and an enclave entry handler (depth 20, from 8 threads),
 * output limits (exactly, one more, an enclave ignoring the limit), the exit
 * call file policy (file_root), destroy bounds, and abort / crash / exit /
 * infinite loop with the outcome the backend documents (backends.h). Items
 * whose API does not exist yet (measurement, the `lost` state) print why they
 * are skipped. A backend that is not in this build, or cannot run here, is
 * skipped (exit 77) with the reason printed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asylo/files.h" /* file flags, shared with the host */
#include "backends.h"
#include "sim_test_support.h"

/* Destroy of a faulting or spinning enclave on an isolating backend returns
 * within this (the remote backend waits 5 s for calls, then stops the proxy). */
#define DESTROY_BOUND_MS 15000
#define THREADS 8
#define CALLS_PER_THREAD 40
#define FIB_DEPTH 20
#define FIB_20 6765u

static conf_backend backend;
static asylo_manager *manager;
static char temp_dir[UTIL_PATH_SIZE];
/* Whether the transport matrix runs us: the fault tests then run once, in
 * conformance.<backend>, not once per transport. */
static bool transport_variant;

static _Thread_local int calling; /* set around our calls: exit handlers check it */
static atomic_int exit_handler_calls;
static atomic_int exits_on_wrong_thread;

static void note_exit(void) {
    atomic_fetch_add(&exit_handler_calls, 1);
    if (!calling) {
        atomic_fetch_add(&exits_on_wrong_thread, 1);
    }
}

static asylo_code host_echo(void *context, asylo_client *client, uint32_t selector,
                            const uint8_t *input, size_t input_size, asylo_output *output,
                            asylo_status *status) {
    (void)context, (void)client, (void)selector;
    note_exit();
    if (input_size == 4 && memcmp(input, "fail", 4) == 0) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST,
                                "the host handler refuses");
    }
    asylo_code code = asylo_output_write(output, "host:", 5, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, input, input_size, status);
    }
    return code;
}

/* Re-enters the enclave with the same input at `selector` (in context). */
static asylo_code host_reenter(void *context, asylo_client *client, uint32_t selector,
                               const uint8_t *input, size_t input_size, asylo_output *output,
                               asylo_status *status) {
    (void)selector;
    note_exit();
    uint32_t entry = *(const uint32_t *)context;
    asylo_buffer reply = {0};
    asylo_code code = asylo_client_call(client, entry, input, input_size, &reply, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, reply.data, reply.size, status);
    }
    asylo_buffer_free(&reply);
    return code;
}

/* The host's turn of the Fibonacci bounce: (steps, a, b) -> the enclave gets
 * (steps - 1, b, a + b) one level deeper. */
static asylo_code host_fib(void *context, asylo_client *client, uint32_t selector,
                           const uint8_t *input, size_t input_size, asylo_output *output,
                           asylo_status *status) {
    (void)context, (void)selector;
    note_exit();
    if (input_size != 20) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST,
                                "fib input of %zu bytes, want 20", input_size);
    }
    uint32_t steps;
    uint64_t a, b;
    memcpy(&steps, input, 4);
    memcpy(&a, input + 4, 8);
    memcpy(&b, input + 12, 8);
    if (steps == 0) {
        return asylo_output_write(output, &a, sizeof a, status);
    }
    uint8_t next[20];
    uint32_t next_steps = steps - 1;
    uint64_t sum = a + b;
    memcpy(next, &next_steps, 4);
    memcpy(next + 4, &b, 8);
    memcpy(next + 12, &sum, 8);
    asylo_buffer reply = {0};
    asylo_code code = asylo_client_call(client, TEST_FIB, next, sizeof next, &reply, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, reply.data, reply.size, status);
    }
    asylo_buffer_free(&reply);
    return code;
}

static const uint32_t run_nested_selector = TEST_RUN_NESTED;
static const asylo_exit_handler handlers[] = {
    {TEST_HOST_ECHO, host_echo, NULL},
    {TEST_HOST_REENTER, host_reenter, (void *)&run_nested_selector},
    {TEST_HOST_FIB, host_fib, NULL},
};

/* One loaded enclave and what its backend config points into. */
typedef struct enclave {
    asylo_client *client;
    conf_slot slot;
} enclave;

static void config_for(asylo_load_config *config, const char *name) {
    asylo_load_config_init(config);
    config->name = name;
    config->backend = backend.name;
    config->enclave_path = backend.enclave_path;
    config->exit_handlers = handlers;
    config->exit_handler_count = sizeof handlers / sizeof handlers[0];
}

/* Loads with `config` (backend_config filled here); the code of the load. */
static asylo_code try_load(enclave *e, asylo_load_config *config, asylo_status *status) {
    memset(e, 0, sizeof *e);
    if (!backend.prepare(&e->slot, config, status)) {
        return status->code;
    }
    asylo_code code = asylo_manager_load(manager, config, &e->client, status);
    if (code != ASYLO_OK) {
        backend.release(&e->slot);
    }
    return code;
}

static void load_config(enclave *e, asylo_load_config *config) {
    asylo_status status;
    calling = 1; /* initialize may make exit calls on this thread */
    expect_ok("load", try_load(e, config, &status), &status);
    calling = 0;
}

static void load(enclave *e, const char *name) {
    asylo_load_config config;
    config_for(&config, name);
    load_config(e, &config);
}

static void release(enclave *e) {
    backend.release(&e->slot);
    assert_int_equal(util_children_report("after destroy"), 0);
}

static void unload(enclave *e) {
    asylo_status status;
    calling = 1;
    expect_ok("destroy", asylo_manager_destroy_client(manager, e->client, NULL, 0, &status),
              &status);
    calling = 0;
    e->client = NULL;
    release(e);
}

static asylo_code call(asylo_client *client, uint32_t selector, const void *input, size_t size,
                       asylo_buffer *output, asylo_status *status) {
    int was_calling = calling;
    calling = 1;
    asylo_code code = asylo_client_call(client, selector, input, size, output, status);
    calling = was_calling;
    return code;
}

static asylo_code call_u32_here(asylo_client *client, uint32_t selector, uint32_t value,
                                asylo_buffer *output, asylo_status *status) {
    return call(client, selector, &value, sizeof value, output, status);
}

static void expect_echo(asylo_client *client, size_t size) {
    uint8_t *input = malloc(size == 0 ? 1 : size);
    assert_non_null(input);
    for (size_t i = 0; i < size; i++) {
        input[i] = (uint8_t)(i * 31 + 7);
    }
    asylo_buffer output = {0};
    asylo_status status;
    calling = 1;
    expect_ok("run", asylo_client_run(client, input, size, &output, &status), &status);
    calling = 0;
    assert_int_equal(output.size, size);
    if (size > 0) {
        assert_memory_equal(output.data, input, size);
    }
    asylo_buffer_free(&output);
    free(input);
}

/* --- lifecycle --------------------------------------------------------------------- */

/* Load, echo, finalize, the errors after finalize, destroy; a second load
 * under the same name after destroy. The first enclave makes an exit call
 * during initialize and finalize: both reach this host on this thread. */
static void test_lifecycle(void **state) {
    (void)state;
    char selector[16];
    snprintf(selector, sizeof selector, "%#x", (unsigned)TEST_HOST_ECHO);
    const asylo_environment_variable environment[] = {{"INIT_EXIT_SELECTOR", selector},
                                                      {"FINALIZE_EXIT_SELECTOR", selector},
                                                      {"GREETING", "hello conformance"}};
    asylo_status status;
    for (int round = 0; round < 2; round++) {
        enclave e;
        asylo_load_config config;
        config_for(&config, "lifecycle");
        config.enclave_config.environment = environment;
        config.enclave_config.environment_count = round == 0 ? 3 : 0;
        int exits_before = exit_handler_calls;
        load_config(&e, &config);
        assert_int_equal(exit_handler_calls, exits_before + (round == 0 ? 1 : 0));
        assert_int_equal(asylo_client_get_state(e.client), ASYLO_CLIENT_RUNNING);
        assert_string_equal(asylo_client_backend_name(e.client), backend.name);
        assert_string_equal(asylo_client_name(e.client), "lifecycle");
        asylo_client *found = NULL;
        expect_ok("get_client", asylo_manager_get_client(manager, "lifecycle", &found, &status),
                  &status);
        assert_ptr_equal(found, e.client);

        /* The same name twice is refused, and the first is untouched. */
        enclave twice;
        asylo_load_config again;
        config_for(&again, "lifecycle");
        expect_status("same name twice", try_load(&twice, &again, &status), &status,
                      ASYLO_ALREADY_EXISTS, ASYLO_ORIGIN_API,
                      "an enclave named 'lifecycle' is already loaded");
        assert_null(twice.client);
        if (e.slot.has_remote) {
            /* One provision serves one enclave at a time. */
            again.name = "same-provision";
            again.backend_config = &e.slot.remote.config;
            expect_status("a second enclave on one provision",
                          asylo_manager_load(manager, &again, &twice.client, &status), &status,
                          ASYLO_FAILED_PRECONDITION, ANY_ORIGIN, NULL);
        }
        expect_echo(e.client, 0);
        expect_echo(e.client, 64);
        expect_echo(e.client, 1u << 20);
        if (round == 0) {
            asylo_buffer output = {0};
            expect_ok("getenv", call(e.client, TEST_GETENV, "GREETING", 8, &output, &status),
                      &status);
            assert_int_equal(output.size, strlen("hello conformance"));
            assert_memory_equal(output.data, "hello conformance", output.size);
            asylo_buffer_free(&output);
            exits_before = exit_handler_calls;
            calling = 1;
            expect_ok("finalize", asylo_client_finalize(e.client, "bye", 3, &status), &status);
            calling = 0;
            assert_int_equal(exit_handler_calls, exits_before + 1);
            assert_int_equal(asylo_client_get_state(e.client), ASYLO_CLIENT_FINALIZED);
            expect_status("run after finalize",
                          asylo_client_run(e.client, "x", 1, &output, &status), &status,
                          ASYLO_FAILED_PRECONDITION, ANY_ORIGIN, NULL);
            expect_status("finalize twice", asylo_client_finalize(e.client, NULL, 0, &status),
                          &status, ASYLO_FAILED_PRECONDITION, ANY_ORIGIN, NULL);
        } else {
            /* The enclave's finalize failing crosses unchanged. */
            expect_status("failing finalize", asylo_client_finalize(e.client, "fail", 4, &status),
                          &status, ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE, NULL);
        }
        unload(&e);
        expect_status("get_client after destroy",
                      asylo_manager_get_client(manager, "lifecycle", &found, &status), &status,
                      ASYLO_NOT_FOUND, ASYLO_ORIGIN_API, "no enclave named 'lifecycle'");
    }
    assert_int_equal(exits_on_wrong_thread, 0);
}

/* An initialize that fails fails the load with its code, and leaves nothing. */
static void test_initialize_failure(void **state) {
    (void)state;
    static const asylo_environment_variable environment[] = {{"FAIL_INIT", "1"}};
    enclave e;
    asylo_load_config config;
    config_for(&config, "init-fails");
    config.enclave_config.environment = environment;
    config.enclave_config.environment_count = 1;
    asylo_status status;
    expect_status("initialize fails (FAIL_INIT)", try_load(&e, &config, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                  "initialize refused: FAIL_INIT is set");
    assert_null(e.client);
    asylo_client *found = NULL;
    assert_int_equal(asylo_manager_get_client(manager, "init-fails", &found, &status),
                     ASYLO_NOT_FOUND);
    assert_int_equal(util_children_report("after a failed load"), 0);
}

/* --- selectors and codes ------------------------------------------------------------ */

static void test_selectors(void **state) {
    (void)state;
    enclave e;
    load(&e, "selectors");
    asylo_status status;
    asylo_buffer output = {0};
    uint64_t previous = 0;
    for (int i = 0; i < 3; i++) {
        expect_ok("counter", call(e.client, TEST_COUNTER, NULL, 0, &output, &status), &status);
        assert_int_equal(output.size, 8);
        uint64_t value = buffer_u64(&output);
        if (i > 0) {
            assert_int_equal(value, previous + 1);
        }
        previous = value;
        asylo_buffer_free(&output);
    }
    expect_ok("random", call(e.client, TEST_RANDOM, NULL, 0, &output, &status), &status);
    assert_int_equal(output.size, 32);
    asylo_buffer_free(&output);
    expect_status("a selector the enclave never registered",
                  call(e.client, TEST_FIB + 0x80, NULL, 0, &output, &status), &status,
                  ASYLO_NOT_FOUND, ANY_ORIGIN, NULL);
    assert_int_equal(output.size, 0);
    /* Outside the user range: refused by the host library before the backend. */
    expect_status("a reserved selector",
                  call(e.client, ASYLO_SELECTOR_REMOTE_LOAD, NULL, 0, &output, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, NULL);
    expect_status("selector 0", call(e.client, 0, NULL, 0, &output, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, NULL);
    expect_status("NULL input with a size", call(e.client, TEST_COUNTER, NULL, 4, &output, &status),
                  &status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, NULL);
    /* An exit selector the host has no handler for. */
    uint32_t unhandled = TEST_HOST_UNHANDLED;
    expect_status("an exit selector with no handler",
                  call(e.client, TEST_EXIT_CALL, &unhandled, 4, &output, &status), &status,
                  ASYLO_NOT_FOUND, ANY_ORIGIN, NULL);
    /* The enclave works after all that. */
    expect_echo(e.client, 64);
    unload(&e);
}

static void test_codes_cross_unchanged(void **state) {
    (void)state;
    enclave e;
    load(&e, "codes");
    for (uint32_t code = 1; code <= 16; code++) {
        asylo_status status;
        asylo_buffer output = {0};
        char needle[64];
        snprintf(needle, sizeof needle, "requested failure with code %u", code);
        char what[64];
        snprintf(what, sizeof what, "TEST_FAIL %s", asylo_code_name((asylo_code)code));
        expect_status(what, call_u32_here(e.client, TEST_FAIL, code, &output, &status), &status,
                      (asylo_code)code, ASYLO_ORIGIN_ENCLAVE, needle);
        assert_null(output.data);
    }
    /* A code outside the canonical set becomes UNKNOWN. */
    asylo_status status;
    expect_status("TEST_FAIL 17", call_u32_here(e.client, TEST_FAIL, 17, NULL, &status), &status,
                  ASYLO_UNKNOWN, ASYLO_ORIGIN_ENCLAVE, "enclave returned code 17");
    expect_status("TEST_FAIL 0xffffffff",
                  call_u32_here(e.client, TEST_FAIL, 0xffffffffu, NULL, &status), &status,
                  ASYLO_UNKNOWN, ASYLO_ORIGIN_ENCLAVE, "not a canonical code");
    /* Code 0 with a message is plain success. */
    asylo_buffer output = {0};
    expect_ok("TEST_FAIL 0", call_u32_here(e.client, TEST_FAIL, 0, &output, &status), &status);
    assert_int_equal(status.origin, ASYLO_ORIGIN_NONE);
    asylo_buffer_free(&output);
    expect_echo(e.client, 64);
    unload(&e);
}

/* --- exit calls and nesting ---------------------------------------------------------- */

static void test_exit_calls(void **state) {
    (void)state;
    enclave e;
    load(&e, "exits");
    asylo_status status;
    asylo_buffer output = {0};
    uint8_t input[4 + 5];
    uint32_t selector = TEST_HOST_ECHO;
    memcpy(input, &selector, 4);
    memcpy(input + 4, "hello", 5);
    int before = exit_handler_calls;
    expect_ok("exit call", call(e.client, TEST_EXIT_CALL, input, sizeof input, &output, &status),
              &status);
    assert_int_equal(exit_handler_calls, before + 1);
    assert_int_equal(output.size, 10);
    assert_memory_equal(output.data, "host:hello", 10);
    asylo_buffer_free(&output);
    /* A host handler's failure reaches the enclave, which hands it back. */
    memcpy(input + 4, "fail", 4);
    expect_status("failing host handler",
                  call(e.client, TEST_EXIT_CALL, input, 8, &output, &status), &status,
                  ASYLO_PERMISSION_DENIED, ANY_ORIGIN, "the host handler refuses");
    /* Nested re-entry, 5 deep. */
    uint32_t depth = 5;
    before = exit_handler_calls;
    expect_ok("nested", call(e.client, TEST_RUN_NESTED, &depth, 4, &output, &status), &status);
    assert_int_equal(buffer_u32(&output), 5);
    assert_int_equal(exit_handler_calls, before + 5);
    asylo_buffer_free(&output);
    assert_int_equal(exits_on_wrong_thread, 0);
    unload(&e);
}

/* Runs the bounce FIB_DEPTH deep from one thread; "" or what went wrong. */
static void fib_once(asylo_client *client, char *failure, size_t size) {
    uint8_t input[20] = {0};
    uint32_t steps = FIB_DEPTH;
    uint64_t a = 0, b = 1;
    memcpy(input, &steps, 4);
    memcpy(input + 4, &a, 8);
    memcpy(input + 12, &b, 8);
    asylo_buffer output = {0};
    asylo_status status;
    asylo_code code = call(client, TEST_FIB, input, sizeof input, &output, &status);
    failure[0] = '\0';
    if (code != ASYLO_OK) {
        snprintf(failure, size, "fib: %s", util_status_text(&status));
    } else if (output.size != 8 || buffer_u64(&output) != FIB_20) {
        snprintf(failure, size, "fib: %zu bytes, value %llu, want %u", output.size,
                 output.size == 8 ? (unsigned long long)buffer_u64(&output) : 0ull, FIB_20);
    }
    asylo_buffer_free(&output);
}

/* --- threads ------------------------------------------------------------------------ */

typedef struct thread_job {
    asylo_client *client;
    int index;
    int failures;
    char first_failure[ASYLO_STATUS_MESSAGE_SIZE + 128];
} thread_job;

static void note_failure(thread_job *job, const char *what, const asylo_status *status) {
    if (job->failures++ == 0) {
        snprintf(job->first_failure, sizeof job->first_failure, "thread %d: %s: %s", job->index,
                 what, status != NULL ? util_status_text(status) : "wrong result");
    }
}

/* Mixed calls: run echo, nested re-entry, exit calls and the bounce. */
static void *thread_main(void *context) {
    thread_job *job = context;
    calling = 1;
    for (int i = 0; i < CALLS_PER_THREAD; i++) {
        char payload[64];
        int length = snprintf(payload, sizeof payload, "thread %d call %d", job->index, i);
        asylo_status status;
        asylo_buffer output = {0};
        if (i % 4 == 3) {
            uint8_t input[4 + sizeof payload];
            uint32_t selector = TEST_HOST_ECHO;
            memcpy(input, &selector, 4);
            memcpy(input + 4, payload, (size_t)length);
            if (asylo_client_call(job->client, TEST_EXIT_CALL, input, 4 + (size_t)length, &output,
                                  &status) != ASYLO_OK) {
                note_failure(job, "exit call", &status);
            } else if (output.size != 5 + (size_t)length ||
                       memcmp(output.data + 5, payload, (size_t)length) != 0) {
                note_failure(job, "exit call output", NULL);
            }
        } else if (i % 4 == 2) {
            uint32_t depth = 2;
            if (asylo_client_call(job->client, TEST_RUN_NESTED, &depth, 4, &output, &status) !=
                ASYLO_OK) {
                note_failure(job, "nested", &status);
            } else if (output.size != 4 || buffer_u32(&output) != 2) {
                note_failure(job, "nested output", NULL);
            }
        } else if (i % 8 == 1) {
            char failure[ASYLO_STATUS_MESSAGE_SIZE + 64];
            fib_once(job->client, failure, sizeof failure);
            if (failure[0] != '\0') {
                note_failure(job, failure, NULL);
            }
        } else {
            if (asylo_client_run(job->client, payload, (size_t)length, &output, &status) !=
                ASYLO_OK) {
                note_failure(job, "run", &status);
            } else if (output.size != (size_t)length ||
                       memcmp(output.data, payload, (size_t)length) != 0) {
                note_failure(job, "run output", NULL);
            }
        }
        asylo_buffer_free(&output);
    }
    calling = 0;
    return NULL;
}

static void run_threads(asylo_client *client, void *(*body)(void *)) {
    pthread_t threads[THREADS];
    thread_job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (thread_job){.client = client, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, body, &jobs[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        if (jobs[i].failures > 0) {
            fprintf(stderr, "%s (%d failures)\n", jobs[i].first_failure, jobs[i].failures);
        }
        failures += jobs[i].failures;
    }
    assert_int_equal(failures, 0);
    assert_int_equal(exits_on_wrong_thread, 0);
}

static void test_threads(void **state) {
    (void)state;
    enclave e;
    load(&e, "threads");
    asylo_status status;
    asylo_buffer output = {0};
    expect_ok("counter", call(e.client, TEST_COUNTER, NULL, 0, &output, &status), &status);
    uint64_t before = buffer_u64(&output);
    asylo_buffer_free(&output);
    run_threads(e.client, thread_main);
    /* One enclave instance served every thread. */
    expect_ok("counter", call(e.client, TEST_COUNTER, NULL, 0, &output, &status), &status);
    assert_int_equal(buffer_u64(&output), before + 1);
    asylo_buffer_free(&output);
    unload(&e);
}

static void *fib_thread(void *context) {
    thread_job *job = context;
    calling = 1;
    for (int i = 0; i < 3; i++) {
        char failure[ASYLO_STATUS_MESSAGE_SIZE + 64];
        fib_once(job->client, failure, sizeof failure);
        if (failure[0] != '\0') {
            note_failure(job, failure, NULL);
        }
    }
    calling = 0;
    return NULL;
}

/* The Fibonacci bounce: enclave and host take turns, FIB_DEPTH levels of
 * nesting, alone and from THREADS threads at once. */
static void test_fibonacci_bounce(void **state) {
    (void)state;
    enclave e;
    load(&e, "fibonacci");
    int before = exit_handler_calls;
    char failure[ASYLO_STATUS_MESSAGE_SIZE + 64];
    fib_once(e.client, failure, sizeof failure);
    if (failure[0] != '\0') {
        fail_msg("%s", failure);
    }
    /* The host takes every other step. */
    assert_int_equal(exit_handler_calls - before, (FIB_DEPTH + 1) / 2);
    run_threads(e.client, fib_thread);
    unload(&e);
}

/* --- output limits ------------------------------------------------------------------- */

static void test_output_limit(void **state) {
    (void)state;
    enclave e;
    asylo_load_config config;
    config_for(&config, "bounded");
    config.max_output_size = 1024;
    load_config(&e, &config);
    asylo_status status;
    asylo_buffer output = {0};
    expect_ok("exactly the limit", call_u32_here(e.client, TEST_BIG_OUTPUT, 1024, &output, &status),
              &status);
    assert_int_equal(output.size, 1024);
    assert_int_equal(output.data[1023], 0xab);
    asylo_buffer_free(&output);
    expect_status("one byte over the limit",
                  call_u32_here(e.client, TEST_BIG_OUTPUT, 1025, &output, &status), &status,
                  ASYLO_RESOURCE_EXHAUSTED, ANY_ORIGIN,
                  "output would exceed its limit of 1024 bytes");
    assert_null(output.data);
    char big[2048];
    memset(big, 'e', sizeof big);
    calling = 1;
    expect_status("run echo over the limit",
                  asylo_client_run(e.client, big, sizeof big, &output, &status), &status,
                  ASYLO_RESOURCE_EXHAUSTED, ANY_ORIGIN, "limit of 1024 bytes");
    expect_ok("run after", asylo_client_run(e.client, big, 100, &output, &status), &status);
    calling = 0;
    assert_int_equal(output.size, 100);
    asylo_buffer_free(&output);
    expect_ok("zero-byte output", call_u32_here(e.client, TEST_BIG_OUTPUT, 0, &output, &status),
              &status);
    assert_int_equal(output.size, 0);
    asylo_buffer_free(&output);
    unload(&e);
}

/* An enclave that ignores the sink's RESOURCE_EXHAUSTED and returns OK must
 * not pass a truncated output off as whole. */
static void test_output_limit_ignored_by_enclave(void **state) {
    (void)state;
    enclave e;
    asylo_load_config config;
    config_for(&config, "hostile-output");
    config.max_output_size = 100000;
    load_config(&e, &config);
    asylo_status status;
    asylo_buffer output = {0};
    expect_ok("exactly the limit, in pieces",
              call_u32_here(e.client, TEST_OUTPUT_IGNORING_LIMIT, 100000, &output, &status),
              &status);
    assert_int_equal(output.size, 100000);
    assert_int_equal(output.data[99999], 0xcd);
    asylo_buffer_free(&output);
    static const uint32_t over[] = {100001, 200000, 1u << 20};
    for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
        expect_status(
            "over the limit, error ignored",
            call_u32_here(e.client, TEST_OUTPUT_IGNORING_LIMIT, over[i], &output, &status), &status,
            ASYLO_RESOURCE_EXHAUSTED, ANY_ORIGIN, "output would exceed its limit of 100000 bytes");
        assert_null(output.data);
        assert_int_equal(output.size, 0);
    }
    expect_echo(e.client, 1);
    unload(&e);
}

/* --- the exit-call file policy ---------------------------------------------------------- */

static asylo_code file_roundtrip(asylo_client *client, const char *path, const void *data,
                                 uint32_t size, asylo_buffer *output, asylo_status *status) {
    uint32_t path_size = (uint32_t)strlen(path);
    size_t total = 8 + path_size + size;
    uint8_t *input = malloc(total);
    assert_non_null(input);
    memcpy(input, &path_size, 4);
    memcpy(input + 4, path, path_size);
    memcpy(input + 4 + path_size, &size, 4);
    if (size > 0) {
        memcpy(input + 8 + path_size, data, size);
    }
    asylo_code code = call(client, TEST_FILE_ROUNDTRIP, input, total, output, status);
    free(input);
    return code;
}

static asylo_code file_open(asylo_client *client, const char *path, uint32_t flags,
                            asylo_status *status) {
    uint8_t input[512];
    size_t size = strlen(path);
    assert_true(size + 4 <= sizeof input);
    memcpy(input, &flags, 4);
    memcpy(input + 4, path, size);
    return call(client, TEST_FILE_OPEN, input, size + 4, NULL, status);
}

/* No root, no files; with a root, nothing outside it, whatever path the
 * enclave sends; inside it files work. */
static void test_file_root_policy(void **state) {
    (void)state;
    char directory[512];
    make_temp_dir(directory, sizeof directory);
    char root[600], outside[600], link[700];
    snprintf(root, sizeof root, "%s/root", directory);
    snprintf(outside, sizeof outside, "%s/outside.txt", directory);
    assert_int_equal(mkdir(root, 0700), 0);
    int fd = open(outside, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "secret", 6), 6);
    close(fd);
    asylo_status status;
    asylo_buffer output = {0};

    /* No root configured: every file exit call is refused, naming the field. */
    enclave e;
    load(&e, "no-file-root");
    expect_status("file_open with no file root",
                  file_open(e.client, outside, ASYLO_FILE_READ, &status), &status,
                  ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST, "asylo_load_config.file_root");
    expect_status("file round trip with no file root",
                  file_roundtrip(e.client, "x.txt", "x", 1, &output, &status), &status,
                  ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST, "asylo_load_config.file_root");
    expect_ok("bad handle with no file root",
              call(e.client, TEST_BAD_HANDLE, NULL, 0, &output, &status), &status);
    assert_int_equal(buffer_u32(&output), ASYLO_PERMISSION_DENIED);
    asylo_buffer_free(&output);
    unload(&e);

    asylo_load_config config;
    config_for(&config, "file-root");
    config.file_root = root;
    load_config(&e, &config);
    expect_status("absolute path", file_open(e.client, outside, ASYLO_FILE_READ, &status), &status,
                  ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST, "absolute");
    expect_status("'..' out of the root",
                  file_open(e.client, "../outside.txt", ASYLO_FILE_READ, &status), &status,
                  ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST, "'..'");
    expect_status("'..' that stays inside",
                  file_open(e.client, "sub/../x.txt", ASYLO_FILE_READ, &status), &status,
                  ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST, "'..'");
    snprintf(link, sizeof link, "%s/escape", root);
    assert_int_equal(symlink(directory, link), 0);
    expect_status("symlink inside the root pointing out",
                  file_open(e.client, "escape/outside.txt", ASYLO_FILE_READ, &status), &status,
                  ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST, "symbolic link");
    snprintf(link, sizeof link, "%s/last", root);
    assert_int_equal(symlink(outside, link), 0);
    expect_status("symlink as last component",
                  file_open(e.client, "last", ASYLO_FILE_READ, &status), &status,
                  ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST, "symbolic link");
    expect_status("create through a symlink as last component",
                  file_open(e.client, "last", ASYLO_FILE_WRITE | ASYLO_FILE_CREATE, &status),
                  &status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST, "symbolic link");
    expect_status("round trip through a symlinked directory",
                  file_roundtrip(e.client, "escape/new.txt", "x", 1, &output, &status), &status,
                  ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST, "symbolic link");
    char created[700];
    snprintf(created, sizeof created, "%s/new.txt", directory);
    assert_int_equal(access(created, F_OK), -1);
    expect_status("unlink of an absolute path",
                  call(e.client, TEST_FILE_UNLINK, outside, strlen(outside), NULL, &status),
                  &status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST, "absolute");
    static const char *const escapes[] = {"../outside.txt", "escape/outside.txt"};
    for (size_t i = 0; i < 2; i++) {
        expect_status(
            "unlink out of the root",
            call(e.client, TEST_FILE_UNLINK, escapes[i], strlen(escapes[i]), NULL, &status),
            &status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST, "refused");
    }
    assert_int_equal(access(outside, F_OK), 0);
    char sub[700];
    snprintf(sub, sizeof sub, "%s/sub", root);
    assert_int_equal(mkdir(sub, 0700), 0);
    expect_ok("round trip inside the root",
              file_roundtrip(e.client, "sub/inside.txt", "inside", 6, &output, &status), &status);
    assert_int_equal(output.size, 6);
    assert_memory_equal(output.data, "inside", 6);
    asylo_buffer_free(&output);
    unload(&e);

    /* A root that is not a directory fails the load, naming the field. */
    config_for(&config, "bad-root");
    config.file_root = outside;
    expect_status("file root that is a file", try_load(&e, &config, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, "asylo_load_config.file_root");
    assert_int_equal(util_children_report("after a refused file root"), 0);
    snprintf(link, sizeof link, "%s/escape", root);
    unlink(link);
    snprintf(link, sizeof link, "%s/last", root);
    unlink(link);
    rmdir(sub);
    rmdir(root);
    remove_temp_dir(directory);
}

/* --- destroy bounds --------------------------------------------------------------------- */

typedef struct background_call {
    asylo_client *client;
    uint32_t selector;
    uint32_t argument;
    bool has_argument;
    atomic_bool done;
    asylo_code code;
    asylo_status status;
} background_call;

static void *background_main(void *context) {
    background_call *job = context;
    asylo_buffer output = {0};
    calling = 1;
    job->code =
        asylo_client_call(job->client, job->selector, job->has_argument ? &job->argument : NULL,
                          job->has_argument ? 4 : 0, &output, &job->status);
    asylo_buffer_free(&output);
    atomic_store(&job->done, true);
    return NULL;
}

typedef struct destroy_job {
    asylo_client *client;
    atomic_bool done;
    asylo_code code;
    asylo_status status;
} destroy_job;

static void *destroy_main(void *context) {
    destroy_job *job = context;
    job->code = asylo_manager_destroy_client(manager, job->client, NULL, 0, &job->status);
    atomic_store(&job->done, true);
    return NULL;
}

/* Destroys on another thread; true when it returned within bound_ms (the
 * thread is joined then), *took_ms how long it took. */
static bool destroy_within(asylo_client *client, int64_t bound_ms, destroy_job *job,
                           int64_t *took_ms) {
    *job = (destroy_job){.client = client};
    atomic_init(&job->done, false);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, destroy_main, job), 0);
    int64_t start = util_now_ms();
    while (!atomic_load(&job->done) && util_now_ms() - start < bound_ms) {
        util_sleep_ms(10);
    }
    *took_ms = util_now_ms() - start;
    if (!atomic_load(&job->done)) {
        return false;
    }
    pthread_join(thread, NULL);
    printf("destroy: %s in %lld ms\n", util_status_text(&job->status), (long long)*took_ms);
    return true;
}

/* An idle destroy is prompt; a destroy with a short call in flight waits for
 * it, and the call succeeds. */
static void test_destroy_bounds(void **state) {
    (void)state;
    enclave e;
    load(&e, "idle");
    destroy_job job;
    int64_t took;
    if (!destroy_within(e.client, DESTROY_BOUND_MS, &job, &took)) {
        fail_msg("destroy of an idle enclave still blocked after %d ms", DESTROY_BOUND_MS);
    }
    assert_int_equal(job.code, ASYLO_OK);
    release(&e);

    load(&e, "busy");
    background_call sleeper = {
        .client = e.client, .selector = TEST_SLEEP, .argument = 300, .has_argument = true};
    atomic_init(&sleeper.done, false);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, background_main, &sleeper), 0);
    util_sleep_ms(50); /* usually inside by now; either way the call must succeed */
    if (!destroy_within(e.client, DESTROY_BOUND_MS, &job, &took)) {
        fail_msg("destroy with a 300 ms call in flight still blocked after %d ms",
                 DESTROY_BOUND_MS);
    }
    pthread_join(thread, NULL);
    assert_int_equal(job.code, ASYLO_OK);
    if (sleeper.code != ASYLO_OK) {
        fail_msg("the call in flight during destroy: %s", util_status_text(&sleeper.status));
    }
    release(&e);
}

/* --- faults: abort, crash, exit, infinite loop --------------------------------------- */

typedef struct fault {
    const char *what;
    uint32_t selector;
    int signal;        /* the host dies by this signal (in-host backends), or 0 */
    int exit_status;   /* or exits with this status */
    const char *cause; /* what an isolating backend's status names (remote) */
} fault;

static const fault faults[] = {
    {"abort", TEST_ABORT, SIGABRT, 0, "ended by signal 6 (SIGABRT)"},
    {"crash", TEST_CRASH_SEGV, SIGSEGV, 0, "ended by signal 11 (SIGSEGV)"},
    {"exit", TEST_EXIT_42, 0, 42, "exited with status 42"},
};

/* In-host backend: the fault ends the host. Run in a forked child and check
 * it died as documented. */
static void fault_in_forked_host(const fault *f) {
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        enclave e;
        asylo_load_config config;
        config_for(&config, f->what);
        asylo_status status;
        if (try_load(&e, &config, &status) != ASYLO_OK) {
            _exit(3);
        }
        asylo_client_call(e.client, f->selector, NULL, 0, NULL, &status);
        _exit(4); /* the call returned: not what the backend documents */
    }
    int wait_status = 0;
    assert_true(util_wait_child(child, 20000, &wait_status));
    if (f->signal != 0) {
        printf("| %s on %s | the host died by signal %d |\n", f->what, backend.name,
               WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : -1);
        assert_true(WIFSIGNALED(wait_status));
        assert_int_equal(WTERMSIG(wait_status), f->signal);
    } else {
        printf("| %s on %s | the host exited with %d |\n", f->what, backend.name,
               WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1);
        assert_true(WIFEXITED(wait_status));
        assert_int_equal(WEXITSTATUS(wait_status), f->exit_status);
    }
}

/* Isolating backend: the call, a call in flight on another thread and every
 * later call fail with UNAVAILABLE (or ABORTED) naming the cause; destroy is
 * bounded and nothing is left running. */
static void fault_isolated(const fault *f) {
    enclave e;
    load(&e, f->what);
    background_call sleeper = {
        .client = e.client, .selector = TEST_SLEEP, .argument = 5000, .has_argument = true};
    atomic_init(&sleeper.done, false);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, background_main, &sleeper), 0);
    util_sleep_ms(100);
    asylo_status status;
    asylo_code code = call(e.client, f->selector, NULL, 0, NULL, &status);
    printf("| %s on %s | the call: %s |\n", f->what, backend.name, util_status_text(&status));
    assert_true(code == ASYLO_UNAVAILABLE || code == ASYLO_ABORTED);
    assert_non_null(strstr(status.message, f->cause));
    pthread_join(thread, NULL);
    printf("| %s on %s | the call in flight: %s |\n", f->what, backend.name,
           util_status_text(&sleeper.status));
    assert_true(sleeper.code == ASYLO_UNAVAILABLE || sleeper.code == ASYLO_ABORTED);
    assert_non_null(strstr(sleeper.status.message, f->cause));
    code = call(e.client, TEST_COUNTER, NULL, 0, NULL, &status);
    assert_true(code == ASYLO_UNAVAILABLE || code == ASYLO_ABORTED);
    printf("SKIP: the client's 'lost' state is not in the public API yet (backend interface "
           "v2); checked only that later calls fail: %s\n",
           util_status_text(&status));
    destroy_job job;
    int64_t took;
    if (!destroy_within(e.client, DESTROY_BOUND_MS, &job, &took)) {
        fail_msg("destroy after %s still blocked after %d ms", f->what, DESTROY_BOUND_MS);
    }
    assert_true(job.code == ASYLO_UNAVAILABLE || job.code == ASYLO_ABORTED);
    assert_non_null(strstr(job.status.message, f->cause));
    release(&e);
}

static void test_faults(void **state) {
    (void)state;
    if (transport_variant) {
        printf("SKIP: faults run once, in conformance.%s, not per transport\n", backend.name);
        return;
    }
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        if (backend.in_host_process) {
            fault_in_forked_host(&faults[i]);
        } else {
            fault_isolated(&faults[i]);
        }
    }
}

/* An enclave that never returns. In-host: nothing can interrupt it, so
 * destroy waits with it (the child is still blocked after 1 s, and is
 * killed). Isolating: destroy returns within its bound, not OK, and the
 * spinning call fails. */
static void test_infinite_loop(void **state) {
    (void)state;
    if (transport_variant) {
        printf("SKIP: the infinite loop runs once, in conformance.%s\n", backend.name);
        return;
    }
    if (backend.in_host_process) {
        fflush(NULL);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            enclave e;
            asylo_load_config config;
            config_for(&config, "spin");
            asylo_status status;
            if (try_load(&e, &config, &status) != ASYLO_OK) {
                _exit(3);
            }
            background_call spinner = {.client = e.client, .selector = TEST_SPIN};
            pthread_t thread;
            pthread_create(&thread, NULL, background_main, &spinner);
            usleep(100000);
            asylo_manager_destroy_client(manager, e.client, NULL, 0, &status);
            _exit(4); /* destroy returned while the enclave spins */
        }
        int wait_status = 0;
        bool ended = util_wait_child(child, 1000, &wait_status);
        printf("| infinite loop on %s | destroy %s after 1 s (it cannot interrupt trusted "
               "code) |\n",
               backend.name, ended ? "RETURNED" : "still waits");
        if (!ended) {
            kill(child, SIGKILL);
            assert_true(util_wait_child(child, 10000, &wait_status));
        }
        assert_false(ended);
        return;
    }
    enclave e;
    load(&e, "spin");
    background_call spinner = {.client = e.client, .selector = TEST_SPIN};
    atomic_init(&spinner.done, false);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, background_main, &spinner), 0);
    util_sleep_ms(200);
    destroy_job job;
    int64_t took;
    if (!destroy_within(e.client, DESTROY_BOUND_MS, &job, &took)) {
        fail_msg("destroy of a spinning enclave still blocked after %d ms", DESTROY_BOUND_MS);
    }
    pthread_join(thread, NULL);
    printf("| infinite loop on %s | destroy: %s; the call: %s |\n", backend.name,
           asylo_code_name(job.code), util_status_text(&spinner.status));
    assert_int_not_equal(job.code, ASYLO_OK);
    assert_int_not_equal(spinner.code, ASYLO_OK);
    release(&e);
}

/* --- measurement ---------------------------------------------------------------------- */

static void test_measurement(void **state) {
    (void)state;
    printf("SKIP: no public API reports the measurement of a loaded image yet "
           "(asylo_client_measurement arrives with backend interface v2)\n");
}

/* --- main --------------------------------------------------------------------------- */

static bool backend_in_build(const char *name) {
    for (size_t i = 0; asylo_backend_name_at(i) != NULL; i++) {
        if (strcmp(asylo_backend_name_at(i), name) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether the backend can run here: a trial load. sim and remote must. Another
 * backend is skipped only when it says the machine lacks what it needs: kvm
 * answers UNAVAILABLE naming /dev/kvm, process FAILED_PRECONDITION naming the
 * missing sandbox feature. Any other failure is a failure, so a regression
 * that breaks loading cannot hide as a skip. */
static bool backend_runs_here(char *reason, size_t size, bool *machine_lacks) {
    enclave e;
    asylo_load_config config;
    config_for(&config, "probe");
    asylo_status status;
    *machine_lacks = false;
    asylo_code code = try_load(&e, &config, &status);
    if (code != ASYLO_OK) {
        snprintf(reason, size, "%s", util_status_text(&status));
        *machine_lacks = code == ASYLO_UNAVAILABLE || code == ASYLO_FAILED_PRECONDITION;
        return false;
    }
    asylo_manager_destroy_client(manager, e.client, NULL, 0, &status);
    backend.release(&e.slot);
    return true;
}

static int usage(const char *program) {
    fprintf(stderr, "usage: %s BACKEND [ipv4|ipv6|unix local|ssl]\n", program);
    return 2;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 4) {
        return usage(argv[0]);
    }
    backend = conf_backend_named(argv[1]);
    /* The local backend behind remote's proxy: the proxy's default (process
     * where its sandbox works) unless ASYLO_CONFORMANCE_TARGET_BACKEND names
     * one. scripts/test's ThreadSanitizer run asks for sim: TSan cannot follow
     * the proxy's fork of the sandboxed runner ("starting new threads after
     * multi-threaded fork"), and that run is about the remote call path. */
    util_target_backend = getenv("ASYLO_CONFORMANCE_TARGET_BACKEND");
    if (!backend_in_build(backend.name)) {
        printf("SKIP: no backend named '%s' in this build\n", backend.name);
        return UTIL_SKIP_CODE;
    }
    asylo_log_set_level(ASYLO_LOG_WARNING);
    if (!util_make_temp_dir("asylo-conformance", temp_dir, sizeof temp_dir)) {
        fprintf(stderr, "cannot make a temporary directory\n");
        return 1;
    }
    /* Local provisioning puts unix: sockets under TMPDIR: keep them in ours. */
    setenv("TMPDIR", temp_dir, 1);
    const char *listen_address = "unix:";
    bool ssl = false;
    if (argc == 4) {
        transport_variant = true;
        if (strcmp(argv[2], "ipv4") == 0) {
            listen_address = "127.0.0.1:0";
        } else if (strcmp(argv[2], "ipv6") == 0) {
            char reason[256];
            if (!util_ipv6_loopback_available(reason, sizeof reason)) {
                printf("SKIP: [::1] is unusable here (%s)\n", reason);
                util_rmtree(temp_dir);
                return UTIL_SKIP_CODE;
            }
            listen_address = "[::1]:0";
        } else if (strcmp(argv[2], "unix") != 0) {
            return usage(argv[0]);
        }
        ssl = strcmp(argv[3], "ssl") == 0;
        if (ssl && !util_make_certs(MAKE_CERTS_SCRIPT, temp_dir)) {
            fprintf(stderr, "cannot make certificates in %s\n", temp_dir);
            return 1;
        }
    }
    conf_remote_transport(listen_address, ssl, temp_dir);
    asylo_status status;
    if (asylo_manager_create(&manager, &status) != ASYLO_OK) {
        fprintf(stderr, "manager: %s\n", util_status_text(&status));
        return 1;
    }
    char reason[ASYLO_STATUS_MESSAGE_SIZE + 64];
    bool machine_lacks = false;
    if (access(backend.enclave_path, R_OK) != 0 && strcmp(backend.name, "kvm") == 0) {
        /* The kvm image is built only where the guest runtime is (musl-dev,
         * libbearssl-dev; tests/enclaves/CMakeLists.txt). */
        printf("SKIP: the test enclave's kvm image %s was not built: %s\n", backend.enclave_path,
               strerror(errno));
        asylo_manager_destroy(manager);
        util_rmtree(temp_dir);
        return UTIL_SKIP_CODE;
    }
    if (!backend_runs_here(reason, sizeof reason, &machine_lacks)) {
        bool must_run = strcmp(backend.name, "sim") == 0 || strcmp(backend.name, "remote") == 0 ||
                        !machine_lacks;
        printf("%s: backend '%s' cannot load here: %s\n", must_run ? "FAIL" : "SKIP", backend.name,
               reason);
        asylo_manager_destroy(manager);
        util_rmtree(temp_dir);
        return must_run ? 1 : UTIL_SKIP_CODE;
    }
    printf("conformance of backend '%s' (%s%s)\n", backend.name, listen_address,
           ssl ? ", mutual TLS" : "");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_initialize_failure),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_codes_cross_unchanged),
        cmocka_unit_test(test_exit_calls),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_fibonacci_bounce),
        cmocka_unit_test(test_output_limit),
        cmocka_unit_test(test_output_limit_ignored_by_enclave),
        cmocka_unit_test(test_file_root_policy),
        cmocka_unit_test(test_destroy_bounds),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_infinite_loop),
        cmocka_unit_test(test_measurement),
    };
    int failed = cmocka_run_group_tests_name(backend.name, tests, NULL, NULL);
    asylo_manager_destroy(manager);
    util_kill_children();
    /* unix: provisioning made its private socket directories under TMPDIR
     * and must have removed them again. */
    DIR *directory = opendir(temp_dir);
    struct dirent *entry;
    while (directory != NULL && (entry = readdir(directory)) != NULL) {
        if (strncmp(entry->d_name, "asylo-proxy-", 12) == 0) {
            fprintf(stderr, "FAIL: socket directory %s/%s was left behind\n", temp_dir,
                    entry->d_name);
            failed++;
        }
    }
    if (directory != NULL) {
        closedir(directory);
    }
    util_rmtree(temp_dir);
    return failed == 0 ? 0 : 1;
}
