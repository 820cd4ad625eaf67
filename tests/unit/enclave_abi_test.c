/* The trusted runtime's own lifecycle check, driven through the raw enclave
 * ABI (asylo_enclave_abi.enter) the way a hostile host could, with no host
 * library and so no host-side call gate in the way:
 *
 *   - FINALIZE while another thread is inside an entry call is refused with
 *     FAILED_PRECONDITION, the call finishes normally and the config is still
 *     there afterwards;
 *   - FINALIZE entered from inside an exit of a call in flight (same thread)
 *     is refused the same way, and so is a second INITIALIZE or ATTACH;
 *   - threads hammering RUN and TEST_EXIT_THEN_GETENV (an exit call, then a
 *     config read) while another keeps trying FINALIZE never see freed
 *     memory (run it under ASan) and every call either works or is refused.
 *
 * Each part loads its own private copy of the test enclave (one dlopen per
 * file), so every part starts from an uninitialized instance. */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/abi.h"
#include "common/bytes_output.h"
#include "common/enclave_config_codec.h"
#include "test_enclave_selectors.h"

/* Host exit selectors of this test. */
enum {
    HOLD = 0x1290,   /* blocks until released */
    NESTED_FINALIZE, /* enters FINALIZE from inside the exit */
    BRIEF,           /* returns after about 20 microseconds */
};

typedef struct instance {
    char path[256];
    void *handle;
    const asylo__enclave_abi *abi;
} instance;

static atomic_int held;
static atomic_int release_hold;
static const asylo__enclave_abi *nested_abi;
static asylo_code nested_code;
static char nested_message[ASYLO_STATUS_MESSAGE_SIZE];

static void sleep_ms(long milliseconds) {
    struct timespec delay = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
    while (nanosleep(&delay, &delay) != 0) {
    }
}

static void wait_for(atomic_int *flag, const char *what) {
    for (int i = 0; i < 2000 && !atomic_load(flag); i++) {
        sleep_ms(5);
    }
    if (!atomic_load(flag)) {
        fail_msg("%s did not happen within 10 s", what);
    }
}

static asylo_code host_exit(void *context, uint32_t selector, const uint8_t *input,
                            size_t input_size, asylo_output *output, asylo_status *status) {
    (void)context, (void)input, (void)input_size, (void)output;
    if (selector == HOLD) {
        atomic_store(&held, 1);
        for (int i = 0; i < 2000 && !atomic_load(&release_hold); i++) {
            sleep_ms(5);
        }
    } else if (selector == BRIEF) {
        struct timespec delay = {0, 20000};
        nanosleep(&delay, NULL);
    } else if (selector == NESTED_FINALIZE) {
        asylo_status inner;
        asylo_status_ok(&inner);
        nested_code = nested_abi->enter(ASYLO_SELECTOR_FINALIZE, NULL, 0, NULL, &inner);
        snprintf(nested_message, sizeof nested_message, "%s", inner.message);
    }
    return asylo_status_ok(status);
}

static const asylo__host_interface host = {
    .abi_version = ASYLO__ABI_VERSION, .context = NULL, .exit_call = host_exit};

/* Copies the image to a fresh file and dlopens it: a separate instance. */
static void load(instance *enclave) {
    snprintf(enclave->path, sizeof enclave->path, "%s/asylo-abi-test-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    int out = mkstemp(enclave->path);
    int in = open(TEST_ENCLAVE_PATH, O_RDONLY | O_CLOEXEC);
    assert_true(out >= 0 && in >= 0);
    char buffer[65536];
    ssize_t got;
    while ((got = read(in, buffer, sizeof buffer)) > 0) {
        assert_int_equal(write(out, buffer, (size_t)got), got);
    }
    close(in);
    close(out);
    enclave->handle = dlopen(enclave->path, RTLD_NOW | RTLD_LOCAL);
    unlink(enclave->path);
    if (enclave->handle == NULL) {
        fail_msg("dlopen %s: %s", enclave->path, dlerror());
    }
    enclave->abi = dlsym(enclave->handle, ASYLO__ABI_SYMBOL);
    assert_non_null(enclave->abi);
    asylo_status status;
    assert_int_equal(enclave->abi->attach(&host, &status), ASYLO_OK);
    /* A second attach is refused. */
    assert_int_equal(enclave->abi->attach(&host, &status), ASYLO_ALREADY_EXISTS);

    static const asylo_environment_variable environment[] = {{"NAME", "value"}};
    asylo_enclave_config config = {
        .log_level = ASYLO_LOG_WARNING, .environment = environment, .environment_count = 1};
    asylo__bytes encoded;
    asylo__bytes_init(&encoded, ASYLO__BYTES_DEFAULT_LIMIT);
    assert_int_equal(asylo__enclave_config_encode(&config, &encoded, &status), ASYLO_OK);
    asylo_code code =
        enclave->abi->enter(ASYLO_SELECTOR_INITIALIZE, encoded.data, encoded.size, NULL, &status);
    if (code != ASYLO_OK) {
        fail_msg("initialize: %s", status.message);
    }
    code =
        enclave->abi->enter(ASYLO_SELECTOR_INITIALIZE, encoded.data, encoded.size, NULL, &status);
    assert_int_equal(code, ASYLO_FAILED_PRECONDITION);
    asylo__bytes_fini(&encoded);
}

static void unload(instance *enclave) {
    dlclose(enclave->handle);
}

/* Enters `selector`; *value (optional) gets the output as a string. */
static asylo_code enter(const instance *enclave, uint32_t selector, const void *input,
                        size_t input_size, char *value, size_t value_size, asylo_status *status) {
    asylo__bytes_output collector;
    asylo__bytes_output_init(&collector, 1 << 20);
    asylo_code code = enclave->abi->enter(selector, input, input_size, &collector.output, status);
    if (value != NULL) {
        size_t size = code == ASYLO_OK ? collector.bytes.size : 0;
        if (size >= value_size) {
            size = value_size - 1;
        }
        if (size > 0) {
            memcpy(value, collector.bytes.data, size);
        }
        value[size] = '\0';
    }
    asylo__bytes_output_fini(&collector);
    return code;
}

typedef struct job {
    const instance *enclave;
    asylo_code code;
    asylo_status status;
} job;

static void *call_hold(void *context) {
    job *work = context;
    uint32_t input[1] = {HOLD};
    work->code = enter(work->enclave, TEST_EXIT_CALL, input, sizeof input, NULL, 0, &work->status);
    return NULL;
}

static void test_finalize_refused_while_a_call_is_in_flight(void **state) {
    (void)state;
    instance enclave;
    load(&enclave);
    atomic_store(&held, 0);
    atomic_store(&release_hold, 0);
    job work = {.enclave = &enclave};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, call_hold, &work), 0);
    wait_for(&held, "the held exit call");

    asylo_status status;
    asylo_code code = enter(&enclave, ASYLO_SELECTOR_FINALIZE, NULL, 0, NULL, 0, &status);
    printf("| FINALIZE with a call in flight | %s | %s |\n", asylo_code_name(code), status.message);
    assert_int_equal(code, ASYLO_FAILED_PRECONDITION);
    assert_non_null(strstr(status.message, "still in flight"));
    /* The enclave still runs: other calls go on meanwhile. */
    char value[64];
    assert_int_equal(enter(&enclave, TEST_GETENV, "NAME", 4, value, sizeof value, &status),
                     ASYLO_OK);
    assert_string_equal(value, "value");

    atomic_store(&release_hold, 1);
    pthread_join(thread, NULL);
    assert_int_equal(work.code, ASYLO_OK);
    assert_int_equal(enter(&enclave, TEST_GETENV, "NAME", 4, value, sizeof value, &status),
                     ASYLO_OK);
    assert_string_equal(value, "value");

    /* With nothing in flight, finalize works, and then everything is refused. */
    assert_int_equal(enter(&enclave, ASYLO_SELECTOR_FINALIZE, NULL, 0, NULL, 0, &status), ASYLO_OK);
    assert_int_equal(enter(&enclave, TEST_GETENV, "NAME", 4, value, sizeof value, &status),
                     ASYLO_FAILED_PRECONDITION);
    assert_int_equal(enter(&enclave, ASYLO_SELECTOR_RUN, "x", 1, value, sizeof value, &status),
                     ASYLO_FAILED_PRECONDITION);
    assert_int_equal(enter(&enclave, ASYLO_SELECTOR_FINALIZE, NULL, 0, NULL, 0, &status),
                     ASYLO_FAILED_PRECONDITION);
    unload(&enclave);
}

static void test_finalize_refused_from_inside_a_call(void **state) {
    (void)state;
    instance enclave;
    load(&enclave);
    nested_abi = enclave.abi;
    nested_code = ASYLO_OK;
    uint32_t input[1] = {NESTED_FINALIZE};
    asylo_status status;
    assert_int_equal(enter(&enclave, TEST_EXIT_CALL, input, sizeof input, NULL, 0, &status),
                     ASYLO_OK);
    printf("| FINALIZE nested in a call | %s | %s |\n", asylo_code_name(nested_code),
           nested_message);
    assert_int_equal(nested_code, ASYLO_FAILED_PRECONDITION);
    char value[64];
    assert_int_equal(enter(&enclave, TEST_GETENV, "NAME", 4, value, sizeof value, &status),
                     ASYLO_OK);
    assert_string_equal(value, "value");
    assert_int_equal(enter(&enclave, ASYLO_SELECTOR_FINALIZE, NULL, 0, NULL, 0, &status), ASYLO_OK);
    unload(&enclave);
}

/* ---- the race itself: GETENV and RUN against FINALIZE -------------------- */

#define CALLERS 3
#define CALLS_PER_CALLER 5000

static atomic_int calls_done;

static void *hammer(void *context) {
    job *work = context;
    work->code = ASYLO_OK;
    for (int i = 0; i < CALLS_PER_CALLER; i++) {
        char value[64];
        asylo_status status;
        /* An exit call (the call stays in flight meanwhile), then a read of
         * the config; or a plain run. */
        uint8_t input[8] = {0, 0, 0, 0, 'N', 'A', 'M', 'E'};
        uint32_t brief = BRIEF;
        memcpy(input, &brief, 4);
        asylo_code code = i % 2 ? enter(work->enclave, TEST_EXIT_THEN_GETENV, input, sizeof input,
                                        value, sizeof value, &status)
                                : enter(work->enclave, ASYLO_SELECTOR_RUN, "NAME", 4, value,
                                        sizeof value, &status);
        if (code == ASYLO_FAILED_PRECONDITION) {
            break; /* finalized: from now on everything is refused */
        }
        if (code != ASYLO_OK || strcmp(value, i % 2 ? "value" : "NAME") != 0) {
            work->code = code == ASYLO_OK ? ASYLO_DATA_LOSS : code;
            work->status = status;
            break;
        }
        atomic_fetch_add(&calls_done, 1);
    }
    return NULL;
}

static void test_finalize_racing_calls(void **state) {
    (void)state;
    instance enclave;
    load(&enclave);
    atomic_store(&calls_done, 0);
    pthread_t threads[CALLERS];
    job work[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        work[i] = (job){.enclave = &enclave};
        assert_int_equal(pthread_create(&threads[i], NULL, hammer, &work[i]), 0);
    }
    /* Finalize only once the callers are well under way. */
    for (int i = 0; i < 10000 && atomic_load(&calls_done) < 300; i++) {
        sleep_ms(1);
    }
    int refused = 0;
    asylo_status status;
    asylo_code code = ASYLO_FAILED_PRECONDITION;
    /* Tries until it works: in a gap between calls, or once they are over.
     * Bounded by time, not by attempts. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    time_t give_up = now.tv_sec + 30;
    while (code != ASYLO_OK && now.tv_sec < give_up) {
        code = enter(&enclave, ASYLO_SELECTOR_FINALIZE, NULL, 0, NULL, 0, &status);
        if (code != ASYLO_OK) {
            assert_int_equal(code, ASYLO_FAILED_PRECONDITION);
            refused++;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
    }
    printf("finalize was refused %d times while calls were in flight\n", refused);
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(threads[i], NULL);
        if (work[i].code != ASYLO_OK) {
            fail_msg("caller %d: %s: %s", i, asylo_code_name(work[i].code), work[i].status.message);
        }
    }
    assert_int_equal(code, ASYLO_OK);
    unload(&enclave);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finalize_refused_while_a_call_is_in_flight),
        cmocka_unit_test(test_finalize_refused_from_inside_a_call),
        cmocka_unit_test(test_finalize_racing_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
