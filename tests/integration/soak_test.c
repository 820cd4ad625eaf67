/* Soak: load an enclave, call it from 8 threads, destroy it; 1,000 times.
 * Afterwards the process holds exactly the descriptors it held before (and
 * LSan, under ASYLO_SANITIZE, finds no leak). ASYLO_SOAK_ENCLAVES overrides
 * the count; under ASan the default is lower when 1,000 would not fit the
 * time budget (a note says so). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim_test_support.h"

#define THREADS 8
#define CALLS_PER_THREAD 8
#define DEFAULT_ENCLAVES 1000

#if defined(ASYLO_SANITIZE) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

typedef struct caller {
    pthread_t thread;
    asylo_client *client;
    int index;
    int failures;
} caller;

static void *call_a_few_times(void *argument) {
    caller *self = argument;
    for (int call = 0; call < CALLS_PER_THREAD; call++) {
        uint8_t input[16];
        memset(input, self->index, sizeof input);
        asylo_buffer output = {0};
        asylo_status status;
        if (asylo_client_run(self->client, input, sizeof input, &output, &status) != ASYLO_OK ||
            output.size != sizeof input || memcmp(output.data, input, sizeof input) != 0) {
            self->failures++;
        }
        asylo_buffer_free(&output);
        if (asylo_client_call(self->client, TEST_COUNTER, NULL, 0, &output, &status) != ASYLO_OK) {
            self->failures++;
        }
        asylo_buffer_free(&output);
    }
    return NULL;
}

static double seconds_since(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void test_soak(void **state) {
    (void)state;
    int enclaves = DEFAULT_ENCLAVES;
    const char *override = getenv("ASYLO_SOAK_ENCLAVES");
    if (override != NULL && override[0] != '\0') {
        enclaves = atoi(override);
    }
    asylo_manager *manager = sim_manager();
    /* Warm up once so lazily opened descriptors (e.g. of libraries) are
     * counted in the baseline. */
    asylo_client *warm = sim_load(manager, "warm-up");
    asylo_status status;
    expect_ok("destroy", asylo_manager_destroy_client(manager, warm, NULL, 0, &status), &status);
    int fds_before = count_open_fds();

    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int done = 0;
    for (; done < enclaves; done++) {
        char name[32];
        snprintf(name, sizeof name, "soak-%d", done);
        asylo_client *client = sim_load(manager, name);
        caller callers[THREADS];
        for (int i = 0; i < THREADS; i++) {
            callers[i] = (caller){.client = client, .index = i};
            assert_int_equal(
                pthread_create(&callers[i].thread, NULL, call_a_few_times, &callers[i]), 0);
        }
        for (int i = 0; i < THREADS; i++) {
            pthread_join(callers[i].thread, NULL);
            assert_int_equal(callers[i].failures, 0);
        }
        expect_ok("destroy", asylo_manager_destroy_client(manager, client, NULL, 0, &status),
                  &status);
        /* Under the sanitizers, stop early rather than run out of time. */
        if (SANITIZED && override == NULL && done >= 100 && seconds_since(&start) > 45.0) {
            done++;
            printf("note: sanitized build: stopped after %d of %d enclaves at the 45 s budget "
                   "(set ASYLO_SOAK_ENCLAVES to force a count)\n",
                   done, enclaves);
            break;
        }
    }
    double elapsed = seconds_since(&start);
    int fds_after = count_open_fds();
    printf("soak: %d enclaves (load, %d threads x %d x 2 calls, destroy) in %.2f s "
           "(%.2f ms each)%s; open fds before %d, after %d\n",
           done, THREADS, CALLS_PER_THREAD, elapsed, elapsed * 1e3 / done,
           SANITIZED ? " [ASan+UBSan]" : "", fds_before, fds_after);
    assert_int_equal(fds_after, fds_before);
    asylo_manager_destroy(manager);
    assert_int_equal(count_open_fds(), fds_before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_soak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
