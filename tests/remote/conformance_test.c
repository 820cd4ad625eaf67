/* Conformance of the remote backend with the test enclave, for one address
 * family and one channel security (argv: ipv4|ipv6|unix local|ssl):
 * echo of 0 B / 64 B / 1 MiB, user entry calls, status codes crossing
 * unchanged, exit calls to host handlers (on the calling thread), nested
 * re-entry 5 deep, 8 host threads at once, finalize/destroy, and a second load
 * with the same provision after destroy. Every test ends with no proxy left:
 * local provisioning reaps it, and /proc shows no child of ours.
 *
 * Proxies are provisioned locally (asylo_local_provision_create) listening on
 * "127.0.0.1:0", "[::1]:0" or "unix:"; with ssl the channel is mutual TLS with
 * a PKI this test makes with the openssl CLI. [::1] is skipped (exit 77) with
 * the reason printed when it cannot be bound. */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "asylo/asylo.h"
#include "remote_util.h"
#include "test_enclave_selectors.h"

static const char *listen_address;
static bool use_ssl;
static char temp_dir[UTIL_PATH_SIZE];

/* One loaded enclave shared by the call tests (loading costs a proxy). */
typedef struct fixture {
    util_remote remote;
    asylo_manager *manager;
    asylo_client *client;
} fixture;

static _Thread_local int calling; /* set around our calls: exit handlers check it */
static _Atomic int exit_handler_calls;
static _Atomic int exits_on_wrong_thread;

static asylo_code host_echo(void *context, asylo_client *client, uint32_t selector,
                            const uint8_t *input, size_t input_size, asylo_output *output,
                            asylo_status *status) {
    (void)context, (void)client, (void)selector;
    exit_handler_calls++;
    if (!calling) {
        exits_on_wrong_thread++;
    }
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

/* Re-enters the enclave one level deeper (TEST_RUN_NESTED). */
static asylo_code host_reenter(void *context, asylo_client *client, uint32_t selector,
                               const uint8_t *input, size_t input_size, asylo_output *output,
                               asylo_status *status) {
    (void)context, (void)selector;
    exit_handler_calls++;
    if (!calling) {
        exits_on_wrong_thread++;
    }
    asylo_buffer reply = {0};
    asylo_code code = asylo_client_call(client, TEST_RUN_NESTED, input, input_size, &reply, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, reply.data, reply.size, status);
    }
    asylo_buffer_free(&reply);
    return code;
}

static const asylo_exit_handler handlers[] = {
    {TEST_HOST_ECHO, host_echo, NULL},
    {TEST_HOST_REENTER, host_reenter, NULL},
};

static asylo_code load_with(fixture *f, const char *name,
                            const asylo_environment_variable *environment, size_t count,
                            asylo_status *status) {
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = name;
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.exit_handlers = handlers;
    config.exit_handler_count = sizeof handlers / sizeof handlers[0];
    config.enclave_config.environment = environment;
    config.enclave_config.environment_count = count;
    config.backend_config = &f->remote.config;
    return asylo_manager_load(f->manager, &config, &f->client, status);
}

static asylo_code load(fixture *f, const char *name, asylo_status *status) {
    static const asylo_environment_variable environment[] = {{"GREETING", "hello remote"}};
    return load_with(f, name, environment, 1, status);
}

static void assert_no_children(const char *when) {
    /* The provision reaps its proxy in finalize: nothing of ours may remain,
     * not even a zombie. */
    assert_int_equal(util_children_report(when), 0);
}

static int setup_fixture(void **state) {
    fixture *f = calloc(1, sizeof *f);
    asylo_status status;
    if (!util_remote_setup(&f->remote, ASYLO_PROXY_PATH, listen_address, use_ssl, temp_dir,
                           &status) ||
        asylo_manager_create(&f->manager, &status) != ASYLO_OK ||
        load(f, "conformance", &status) != ASYLO_OK) {
        fprintf(stderr, "setup: %s\n", util_status_text(&status));
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown_fixture(void **state) {
    fixture *f = *state;
    asylo_status status;
    int result = 0;
    if (f->client != NULL &&
        asylo_manager_destroy_client(f->manager, f->client, NULL, 0, &status) != ASYLO_OK) {
        fprintf(stderr, "teardown: destroy: %s\n", util_status_text(&status));
        result = -1;
    }
    asylo_manager_destroy(f->manager);
    util_remote_teardown(&f->remote);
    if (util_children_report("after teardown") != 0) {
        result = -1;
    }
    free(f);
    return result;
}

static void expect_echo(asylo_client *client, size_t size) {
    uint8_t *input = malloc(size == 0 ? 1 : size);
    assert_non_null(input);
    for (size_t i = 0; i < size; i++) {
        input[i] = (uint8_t)(i * 31 + 7);
    }
    asylo_buffer output = {0};
    asylo_status status;
    int was_calling = calling;
    calling = 1;
    asylo_code code = asylo_client_run(client, input, size, &output, &status);
    calling = was_calling;
    if (code != ASYLO_OK) {
        fail_msg("run of %zu bytes: %s", size, util_status_text(&status));
    }
    assert_int_equal(output.size, size);
    if (size > 0) {
        assert_memory_equal(output.data, input, size);
    }
    asylo_buffer_free(&output);
    free(input);
}

static void test_echo(void **state) {
    fixture *f = *state;
    expect_echo(f->client, 0);
    expect_echo(f->client, 64);
    expect_echo(f->client, 1u << 20);
    assert_string_equal(asylo_client_backend_name(f->client), "remote");
    assert_string_equal(asylo_client_name(f->client), "conformance");
}

static asylo_code call(asylo_client *client, uint32_t selector, const void *input, size_t size,
                       asylo_buffer *output, asylo_status *status) {
    int was_calling = calling;
    calling = 1;
    asylo_code code = asylo_client_call(client, selector, input, size, output, status);
    calling = was_calling;
    return code;
}

static void test_user_calls(void **state) {
    fixture *f = *state;
    asylo_status status;
    asylo_buffer output = {0};
    uint64_t previous = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(call(f->client, TEST_COUNTER, NULL, 0, &output, &status), ASYLO_OK);
        assert_int_equal(output.size, 8);
        uint64_t value;
        memcpy(&value, output.data, 8);
        if (i > 0) {
            assert_int_equal(value, previous + 1);
        }
        previous = value;
        asylo_buffer_free(&output);
    }
    assert_int_equal(call(f->client, TEST_GETENV, "GREETING", 8, &output, &status), ASYLO_OK);
    assert_int_equal(output.size, strlen("hello remote"));
    assert_memory_equal(output.data, "hello remote", output.size);
    asylo_buffer_free(&output);
    assert_int_equal(call(f->client, TEST_RANDOM, NULL, 0, &output, &status), ASYLO_OK);
    assert_int_equal(output.size, 32);
    asylo_buffer_free(&output);
    /* A selector the enclave never registered. */
    assert_int_equal(call(f->client, TEST_RUN_NESTED + 100, NULL, 0, &output, &status),
                     ASYLO_NOT_FOUND);
    assert_int_equal(output.size, 0);
    /* Outside the user range: refused by the host library before the wire. */
    assert_int_equal(call(f->client, ASYLO_SELECTOR_REMOTE_LOAD, NULL, 0, &output, &status),
                     ASYLO_INVALID_ARGUMENT);
}

static void test_codes_cross_unchanged(void **state) {
    fixture *f = *state;
    for (uint32_t code = 1; code <= 16; code++) {
        asylo_status status;
        asylo_buffer output = {0};
        assert_int_equal(call(f->client, TEST_FAIL, &code, 4, &output, &status), (int)code);
        assert_int_equal(status.code, (int)code);
        assert_int_equal(status.origin, ASYLO_ORIGIN_ENCLAVE);
        char expected[64];
        snprintf(expected, sizeof expected, "requested failure with code %u", code);
        if (strstr(status.message, expected) == NULL) {
            fail_msg("code %u: message '%s' lacks '%s'", code, status.message, expected);
        }
        assert_int_equal(output.size, 0);
    }
    /* The enclave still works after sixteen failures. */
    expect_echo(f->client, 64);
}

static void test_exit_calls(void **state) {
    fixture *f = *state;
    asylo_status status;
    asylo_buffer output = {0};
    uint8_t input[4 + 5];
    uint32_t selector = TEST_HOST_ECHO;
    memcpy(input, &selector, 4);
    memcpy(input + 4, "hello", 5);
    int before = exit_handler_calls;
    assert_int_equal(call(f->client, TEST_EXIT_CALL, input, sizeof input, &output, &status),
                     ASYLO_OK);
    assert_int_equal(exit_handler_calls, before + 1);
    assert_int_equal(output.size, 10);
    assert_memory_equal(output.data, "host:hello", 10);
    asylo_buffer_free(&output);

    /* A host handler's failure reaches the enclave, which hands it back. */
    memcpy(input + 4, "fail", 4);
    assert_int_equal(call(f->client, TEST_EXIT_CALL, input, 8, &output, &status),
                     ASYLO_PERMISSION_DENIED);
    assert_non_null(strstr(status.message, "the host handler refuses"));
    /* An exit selector the host has no handler for. */
    selector = TEST_HOST_ECHO + 50;
    memcpy(input, &selector, 4);
    assert_int_equal(call(f->client, TEST_EXIT_CALL, input, 4, &output, &status), ASYLO_NOT_FOUND);
    assert_int_equal(exits_on_wrong_thread, 0);
}

static void test_nested_reentry(void **state) {
    fixture *f = *state;
    asylo_status status;
    asylo_buffer output = {0};
    uint32_t depth = 5;
    int before = exit_handler_calls;
    assert_int_equal(call(f->client, TEST_RUN_NESTED, &depth, 4, &output, &status), ASYLO_OK);
    assert_int_equal(output.size, 4);
    uint32_t levels;
    memcpy(&levels, output.data, 4);
    assert_int_equal(levels, 5);
    assert_int_equal(exit_handler_calls, before + 5);
    assert_int_equal(exits_on_wrong_thread, 0);
    asylo_buffer_free(&output);
}

#define THREADS 8
#define CALLS_PER_THREAD 40

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

static void *thread_main(void *context) {
    thread_job *job = context;
    calling = 1;
    for (int i = 0; i < CALLS_PER_THREAD; i++) {
        char payload[64];
        int length = snprintf(payload, sizeof payload, "thread %d call %d", job->index, i);
        asylo_status status;
        asylo_buffer output = {0};
        if (i % 4 == 3) {
            /* An exit call answered by this thread's host handler. */
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
            uint32_t levels = 0;
            if (asylo_client_call(job->client, TEST_RUN_NESTED, &depth, 4, &output, &status) !=
                ASYLO_OK) {
                note_failure(job, "nested", &status);
            } else if (output.size != 4 || (memcpy(&levels, output.data, 4), levels != 2)) {
                note_failure(job, "nested output", NULL);
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

static void test_threads(void **state) {
    fixture *f = *state;
    asylo_status status;
    asylo_buffer output = {0};
    assert_int_equal(call(f->client, TEST_COUNTER, NULL, 0, &output, &status), ASYLO_OK);
    uint64_t before;
    memcpy(&before, output.data, 8);
    asylo_buffer_free(&output);

    pthread_t threads[THREADS];
    thread_job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (thread_job){.client = f->client, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, thread_main, &jobs[i]), 0);
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
    /* One enclave instance served every thread. */
    assert_int_equal(call(f->client, TEST_COUNTER, NULL, 0, &output, &status), ASYLO_OK);
    uint64_t after;
    memcpy(&after, output.data, 8);
    asylo_buffer_free(&output);
    assert_int_equal(after, before + 1);
}

/* Finalize, then destroy; then a second load with the same provision object.
 * The first enclave makes an exit call during initialize and finalize
 * (INIT_EXIT_SELECTOR, FINALIZE_EXIT_SELECTOR): both reach this host. */
static void test_lifecycle_and_second_load(void **state) {
    (void)state;
    char selector[16];
    snprintf(selector, sizeof selector, "%#x", (unsigned)TEST_HOST_ECHO);
    const asylo_environment_variable environment[] = {{"INIT_EXIT_SELECTOR", selector},
                                                      {"FINALIZE_EXIT_SELECTOR", selector}};
    calling = 1; /* load and finalize run their exits on this thread too */
    fixture f = {0};
    asylo_status status;
    assert_true(
        util_remote_setup(&f.remote, ASYLO_PROXY_PATH, listen_address, use_ssl, temp_dir, &status));
    assert_int_equal(asylo_manager_create(&f.manager, &status), ASYLO_OK);
    for (int round = 0; round < 2; round++) {
        int exits_before = exit_handler_calls;
        if (load_with(&f, round == 0 ? "lifecycle" : "lifecycle-again", environment,
                      round == 0 ? 2 : 0, &status) != ASYLO_OK) {
            fail_msg("load round %d: %s", round, util_status_text(&status));
        }
        assert_int_equal(exit_handler_calls, exits_before + (round == 0 ? 1 : 0));
        assert_int_equal(util_children(NULL, 0), 1); /* its proxy */
        if (round == 0) {
            /* One provision serves one enclave at a time. */
            fixture other = f;
            other.client = NULL;
            assert_int_equal(load(&other, "same-provision", &status), ASYLO_FAILED_PRECONDITION);
            assert_int_equal(util_children(NULL, 0), 1);
        }
        assert_int_equal(asylo_client_get_state(f.client), ASYLO_CLIENT_RUNNING);
        expect_echo(f.client, 64);
        if (round == 0) {
            exits_before = exit_handler_calls;
            assert_int_equal(asylo_client_finalize(f.client, "bye", 3, &status), ASYLO_OK);
            assert_int_equal(exit_handler_calls, exits_before + 1);
            assert_int_equal(asylo_client_get_state(f.client), ASYLO_CLIENT_FINALIZED);
            asylo_buffer output = {0};
            assert_int_equal(asylo_client_run(f.client, "x", 1, &output, &status),
                             ASYLO_FAILED_PRECONDITION);
            assert_int_equal(asylo_client_finalize(f.client, NULL, 0, &status),
                             ASYLO_FAILED_PRECONDITION);
        } else {
            /* The enclave's finalize failing crosses unchanged too. */
            assert_int_equal(asylo_client_finalize(f.client, "fail", 4, &status), ASYLO_ABORTED);
            assert_int_equal(status.origin, ASYLO_ORIGIN_ENCLAVE);
        }
        if (asylo_manager_destroy_client(f.manager, f.client, NULL, 0, &status) != ASYLO_OK) {
            fail_msg("destroy round %d: %s", round, util_status_text(&status));
        }
        f.client = NULL;
        assert_no_children("after destroy");
    }
    asylo_manager_destroy(f.manager);
    util_remote_teardown(&f.remote);
    assert_no_children("after teardown");
    assert_int_equal(exits_on_wrong_thread, 0);
    /* unix: provisioning made its private socket directories under TMPDIR
     * (our temp dir) and removed them again. */
    DIR *directory = opendir(temp_dir);
    assert_non_null(directory);
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (strncmp(entry->d_name, "asylo-proxy-", 12) == 0) {
            fail_msg("socket directory %s/%s was left behind", temp_dir, entry->d_name);
        }
    }
    closedir(directory);
    calling = 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ipv4|ipv6|unix local|ssl\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "ipv4") == 0) {
        listen_address = "127.0.0.1:0";
    } else if (strcmp(argv[1], "ipv6") == 0) {
        char reason[256];
        if (!util_ipv6_loopback_available(reason, sizeof reason)) {
            printf("SKIP: [::1] is unusable here (%s)\n", reason);
            return UTIL_SKIP_CODE;
        }
        listen_address = "[::1]:0";
    } else if (strcmp(argv[1], "unix") == 0) {
        listen_address = "unix:";
    } else {
        fprintf(stderr, "unknown address kind '%s'\n", argv[1]);
        return 2;
    }
    use_ssl = strcmp(argv[2], "ssl") == 0;
    asylo_log_set_level(ASYLO_LOG_WARNING);
    if (!util_make_temp_dir("asylo-remote-conf", temp_dir, sizeof temp_dir) ||
        (use_ssl && !util_make_certs(MAKE_CERTS_SCRIPT, temp_dir))) {
        fprintf(stderr, "cannot set up %s\n", temp_dir);
        return 1;
    }
    /* Local provisioning puts unix: sockets under TMPDIR: keep them in ours. */
    setenv("TMPDIR", temp_dir, 1);
    const struct CMUnitTest calls[] = {
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_user_calls),
        cmocka_unit_test(test_codes_cross_unchanged),
        cmocka_unit_test(test_exit_calls),
        cmocka_unit_test(test_nested_reentry),
        cmocka_unit_test(test_threads),
    };
    const struct CMUnitTest lifecycle[] = {
        cmocka_unit_test(test_lifecycle_and_second_load),
    };
    int failed = cmocka_run_group_tests_name("calls", calls, setup_fixture, teardown_fixture);
    failed += cmocka_run_group_tests_name("lifecycle", lifecycle, NULL, NULL);
    util_rmtree(temp_dir);
    return failed == 0 ? 0 : 1;
}
