/* Many host threads on one enclave: results stay correct; finalize while
 * calls are in flight lets each call either finish or be refused with
 * FAILED_PRECONDITION; destroy waits for calls that are still returning. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim_test_support.h"

#define THREADS 8
#define CALLS_PER_THREAD 2000

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

typedef struct worker {
    pthread_t thread;
    int index;
    asylo_client *client;
    uint64_t *counts; /* CALLS_PER_THREAD values seen from TEST_COUNTER */
    int failures;
    char failure[ASYLO_STATUS_MESSAGE_SIZE + 64];
} worker;

static void *hammer(void *argument) {
    worker *self = argument;
    uint8_t input[64];
    for (int call = 0; call < CALLS_PER_THREAD; call++) {
        asylo_buffer output = {0};
        asylo_status status;
        /* A counter call (unique values across all threads) ... */
        if (asylo_client_call(self->client, TEST_COUNTER, NULL, 0, &output, &status) != ASYLO_OK ||
            output.size != 8) {
            self->failures++;
            snprintf(self->failure, sizeof self->failure, "counter: %s", status.message);
            asylo_buffer_free(&output);
            continue;
        }
        memcpy(&self->counts[call], output.data, 8);
        asylo_buffer_free(&output);
        /* ... and an echo of this thread's own bytes. */
        size_t size = 1 + (size_t)((call + self->index) % (int)sizeof input);
        memset(input, 'a' + self->index, size);
        input[0] = (uint8_t)call;
        if (asylo_client_run(self->client, input, size, &output, &status) != ASYLO_OK ||
            output.size != size || memcmp(output.data, input, size) != 0) {
            self->failures++;
            snprintf(self->failure, sizeof self->failure, "echo: %s", status.message);
        }
        asylo_buffer_free(&output);
    }
    return NULL;
}

static int compare_u64(const void *left, const void *right) {
    uint64_t a = *(const uint64_t *)left;
    uint64_t b = *(const uint64_t *)right;
    return a < b ? -1 : a > b;
}

static void test_many_threads_one_enclave(void **state) {
    (void)state;
    asylo_client *client = sim_load(manager, "shared");
    uint64_t *all = calloc(THREADS * CALLS_PER_THREAD, sizeof *all);
    assert_non_null(all);
    worker workers[THREADS];
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (worker){.index = i, .client = client, .counts = all + i * CALLS_PER_THREAD};
        assert_int_equal(pthread_create(&workers[i].thread, NULL, hammer, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(workers[i].thread, NULL);
        if (workers[i].failures != 0) {
            fail_msg("thread %d: %d failures, last: %s", i, workers[i].failures,
                     workers[i].failure);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    /* Every counter value 1..N was handed out exactly once. */
    qsort(all, THREADS * CALLS_PER_THREAD, sizeof *all, compare_u64);
    for (uint64_t i = 0; i < THREADS * CALLS_PER_THREAD; i++) {
        assert_true(all[i] == i + 1);
    }
    free(all);
    printf("%d threads x %d calls (counter + echo): %.1f ms\n", THREADS, CALLS_PER_THREAD,
           (double)(end.tv_sec - start.tv_sec) * 1e3 + (double)(end.tv_nsec - start.tv_nsec) / 1e6);
    asylo_status status;
    expect_ok("destroy", asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status);
}

/* --- finalize while threads call ------------------------------------------------ */

typedef struct racer {
    pthread_t thread;
    asylo_client *client;
    atomic_int *started;
    int succeeded;
    int refused;
    int other;
    char unexpected[ASYLO_STATUS_MESSAGE_SIZE + 64];
} racer;

static void *call_until_refused(void *argument) {
    racer *self = argument;
    atomic_fetch_add(self->started, 1);
    for (;;) {
        asylo_buffer output = {0};
        asylo_status status;
        /* Alternate short sleeps in the enclave with plain calls. */
        asylo_code code =
            (self->succeeded % 2)
                ? call_u32(self->client, TEST_SLEEP, 1, &output, &status)
                : asylo_client_call(self->client, TEST_COUNTER, NULL, 0, &output, &status);
        asylo_buffer_free(&output);
        if (code == ASYLO_OK) {
            self->succeeded++;
        } else if (code == ASYLO_FAILED_PRECONDITION) {
            self->refused++;
            return NULL;
        } else {
            self->other++;
            snprintf(self->unexpected, sizeof self->unexpected, "%s: %s", asylo_code_name(code),
                     status.message);
            return NULL;
        }
    }
}

static void test_finalize_while_calling(void **state) {
    (void)state;
    for (int round = 0; round < 20; round++) {
        asylo_client *client = sim_load(manager, "finalized-under-load");
        atomic_int started = 0;
        racer racers[THREADS];
        for (int i = 0; i < THREADS; i++) {
            racers[i] = (racer){.client = client, .started = &started};
            assert_int_equal(
                pthread_create(&racers[i].thread, NULL, call_until_refused, &racers[i]), 0);
        }
        while (atomic_load(&started) < THREADS) {
            sched_yield();
        }
        usleep(2000 + (useconds_t)round * 500);
        asylo_status status;
        expect_ok("finalize under load", asylo_client_finalize(client, NULL, 0, &status), &status);
        int succeeded = 0;
        for (int i = 0; i < THREADS; i++) {
            pthread_join(racers[i].thread, NULL);
            if (racers[i].other != 0) {
                fail_msg("a call got neither OK nor FAILED_PRECONDITION: %s", racers[i].unexpected);
            }
            assert_int_equal(racers[i].refused, 1);
            succeeded += racers[i].succeeded;
        }
        assert_true(succeeded > 0);
        expect_ok("destroy", asylo_manager_destroy_client(manager, client, NULL, 0, &status),
                  &status);
    }
}

/* --- destroy while calls are returning -------------------------------------------- */

typedef struct returning {
    pthread_t thread;
    asylo_client *client;
    atomic_int *inside;
    asylo_code code;
} returning;

/* Runs inside the enclave's exit call: announces that this thread's call is
 * in flight, then returns at once. */
static asylo_code announce(void *context, asylo_client *client, uint32_t selector,
                           const uint8_t *input, size_t input_size, asylo_output *output,
                           asylo_status *status) {
    (void)client, (void)selector, (void)input, (void)input_size, (void)output;
    atomic_fetch_add((atomic_int *)context, 1);
    return asylo_status_ok(status);
}

static void *one_call(void *argument) {
    returning *self = argument;
    uint32_t input = TEST_HOST_ECHO;
    asylo_status status;
    self->code = asylo_client_call(self->client, TEST_EXIT_CALL, &input, 4, NULL, &status);
    return NULL;
}

/* Destroy starts the moment every call is known to be in flight, so it races
 * with the calls' way out (under ASan this catches any access to the client
 * after destroy freed it). Every call must succeed: each began before
 * destroy, and destroy waits for calls in flight. */
static void test_destroy_while_calls_return(void **state) {
    (void)state;
    atomic_int inside = 0;
    asylo_exit_handler handlers[] = {{TEST_HOST_ECHO, announce, &inside}};
    int rounds = 300;
    const char *override = getenv("ASYLO_DESTROY_RACE_ROUNDS"); /* for longer hunts */
    if (override != NULL && atoi(override) > 0) {
        rounds = atoi(override);
    }
    for (int round = 0; round < rounds; round++) {
        asylo_load_config config;
        sim_config(&config, "destroyed-under-load");
        config.exit_handlers = handlers;
        config.exit_handler_count = 1;
        asylo_client *client = NULL;
        asylo_status status;
        expect_ok("load", asylo_manager_load(manager, &config, &client, &status), &status);
        atomic_store(&inside, 0);
        int threads = 1 + round % 4;
        returning callers[4];
        for (int i = 0; i < threads; i++) {
            callers[i] = (returning){.client = client, .inside = &inside, .code = ASYLO_UNKNOWN};
            assert_int_equal(pthread_create(&callers[i].thread, NULL, one_call, &callers[i]), 0);
        }
        while (atomic_load(&inside) < threads) {
            sched_yield();
        }
        expect_ok("destroy with calls in flight",
                  asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status);
        for (int i = 0; i < threads; i++) {
            pthread_join(callers[i].thread, NULL);
            assert_int_equal(callers[i].code, ASYLO_OK);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_threads_one_enclave),
        cmocka_unit_test(test_finalize_while_calling),
        cmocka_unit_test(test_destroy_while_calls_return),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
