/* The registered `kvm` backend through the public API: the test enclave
 * built as a kvm image loads with config.backend = "kvm", answers user
 * selectors, uses the host library's built-in exits (random, time), makes
 * exit calls to host handlers, faults into a status, and a spinning enclave
 * is destroyed within the backend's bound. Skips (77) where /dev/kvm is
 * unusable. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "asylo/asylo.h"
#include "backends/kvm/kvm_vm.h"
#include "test_enclave_selectors.h"

#define HOST_ECHO 0x2001

static asylo_code host_echo(void *context, asylo_client *client, uint32_t selector,
                            const uint8_t *input, size_t input_size, asylo_output *output,
                            asylo_status *status) {
    (void)context, (void)client, (void)selector;
    return asylo_output_write(output, input, input_size, status);
}

static const asylo_exit_handler handlers[] = {{HOST_ECHO, host_echo, NULL}};
static const asylo_environment_variable environment[] = {{"NAME", "value"}};

static asylo_client *load(asylo_manager *manager, const char *name, const char *path, int debug,
                          asylo_status *status) {
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = name;
    config.backend = "kvm";
    config.enclave_path = path;
    config.debug = debug;
    config.enclave_config.environment = environment;
    config.enclave_config.environment_count = 1;
    config.exit_handlers = handlers;
    config.exit_handler_count = 1;
    asylo_client *client = NULL;
    asylo_manager_load(manager, &config, &client, status);
    return client;
}

static void expect_call(asylo_client *client, uint32_t selector, const void *input, size_t size,
                        asylo_code expected, asylo_buffer *output) {
    asylo_status status;
    asylo_code code = asylo_client_call(client, selector, input, size, output, &status);
    if (code != expected) {
        fail_msg("selector 0x%x: expected %s, got %s: %s", selector, asylo_code_name(expected),
                 asylo_code_name(code), status.message);
    }
}

static void test_selectors(void **state) {
    (void)state;
    asylo_manager *manager = NULL;
    asylo_status status;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_client *client = load(manager, "kvm-basic", TEST_ENCLAVE_KVM, 1, &status);
    if (client == NULL) {
        fail_msg("load: %s", status.message);
    }
    assert_string_equal(asylo_client_backend_name(client), "kvm");
    asylo_buffer out = {0};
    expect_call(client, TEST_GETENV, "NAME", 4, ASYLO_OK, &out);
    assert_int_equal(out.size, 5);
    assert_memory_equal(out.data, "value", 5);
    asylo_buffer_free(&out);
    expect_call(client, TEST_RANDOM, NULL, 0, ASYLO_OK, &out);
    assert_int_equal(out.size, 32);
    asylo_buffer_free(&out);
    expect_call(client, TEST_TIME, NULL, 0, ASYLO_OK, &out);
    assert_int_equal(out.size, 16);
    asylo_buffer_free(&out);
    uint8_t input[4 + 5];
    uint32_t selector = HOST_ECHO;
    memcpy(input, &selector, 4);
    memcpy(input + 4, "hello", 5);
    expect_call(client, TEST_EXIT_CALL, input, sizeof input, ASYLO_OK, &out);
    assert_int_equal(out.size, 5);
    assert_memory_equal(out.data, "hello", 5);
    asylo_buffer_free(&out);
    uint32_t code = ASYLO_ABORTED;
    expect_call(client, TEST_FAIL, &code, sizeof code, ASYLO_ABORTED, &out);
    asylo_buffer_free(&out);
    /* A fault in the guest is a status; the host and the manager live on. */
    asylo_code got = asylo_client_call(client, TEST_CRASH_SEGV, NULL, 0, &out, &status);
    printf("crash: %s: %s\n", asylo_code_name(got), status.message);
    assert_int_equal(got, ASYLO_ABORTED);
    /* raise(SIGSEGV): the guest has no signal delivery, so the signal ends
     * it, as its default action ends a process. */
    assert_non_null(strstr(status.message, "ended by signal 11 (SIGSEGV)"));
    asylo_buffer_free(&out);
    /* The finalize of a lost enclave fails; destroy still releases it. */
    asylo_manager_destroy_client(manager, client, NULL, 0, &status);

    /* A new load works after the lost one; without debug, as the image is
     * signed with the build tree's key. */
    client = load(manager, "kvm-again", TEST_ENCLAVE_KVM, 0, &status);
    if (client == NULL) {
        fail_msg("second load: %s", status.message);
    }
    expect_call(client, TEST_GETENV, "NAME", 4, ASYLO_OK, &out);
    asylo_buffer_free(&out);
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);

    /* The sim image on kvm names the variant to build. */
    assert_null(load(manager, "kvm-sim-image", SIM_TEST_ENCLAVE, 1, &status));
    printf("sim image on kvm: %s: %s\n", asylo_code_name(status.code), status.message);
    assert_int_equal(status.code, ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "BACKENDS kvm"));

    /* And the kvm image on sim or process names the shared object. */
    const char *others[] = {"sim", "process"};
    for (size_t i = 0; i < 2; i++) {
        asylo_load_config config;
        asylo_load_config_init(&config);
        config.name = others[i];
        config.backend = others[i];
        config.enclave_path = TEST_ENCLAVE_KVM;
        asylo_client *wrong = NULL;
        asylo_code refused = asylo_manager_load(manager, &config, &wrong, &status);
        printf("kvm image on %s: %s: %s\n", others[i], asylo_code_name(refused), status.message);
        assert_null(wrong);
        assert_int_equal(refused, ASYLO_INVALID_ARGUMENT);
        assert_non_null(strstr(status.message, "kvm backend"));
        assert_non_null(strstr(status.message, ".so"));
    }
    asylo_manager_destroy(manager);
}

/* Plain libc calls inside the guest, forwarded like the process backend's:
 * files beneath file_root through the file exits (an absolute path outside
 * it refused with EACCES), stat, lseek (ESPIPE: forwarded files are
 * streams), fstat of stdout, nanosleep, getrandom, stderr. */
static void test_posix_forwarded(void **state) {
    (void)state;
    char directory[] = "/tmp/asylo-kvm-posix-XXXXXX";
    assert_non_null(mkdtemp(directory));
    char path[128];
    snprintf(path, sizeof path, "%s/sized.bin", directory);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    for (int i = 0; i < 1234; i++) {
        fputc(i & 0xff, file);
    }
    fclose(file);
    asylo_manager *manager = NULL;
    asylo_status status;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "kvm-posix";
    config.backend = "kvm";
    config.enclave_path = TEST_ENCLAVE_KVM;
    config.file_root = directory;
    asylo_client *client = NULL;
    if (asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fail_msg("load: %s", status.message);
    }
    asylo_buffer out = {0};
    expect_call(client, TEST_POSIX_FILES, "posix.txt", 9, ASYLO_OK, &out);
    const char expected[] = "hello 42 from the enclave";
    assert_int_equal(out.size, sizeof expected - 1);
    assert_memory_equal(out.data, expected, sizeof expected - 1);
    asylo_buffer_free(&out);
    snprintf(path, sizeof path, "%s/posix.txt", directory);
    assert_int_equal(access(path, F_OK), -1); /* made and unlinked through the exits */
    asylo_code code =
        asylo_client_call(client, TEST_POSIX_FILES, "/etc/hostname", 13, &out, &status);
    printf("| forwarded fopen of /etc/hostname | %s | %s |\n", asylo_code_name(code),
           status.message);
    assert_int_not_equal(code, ASYLO_OK);
    assert_non_null(strstr(status.message, "errno 13"));
    expect_call(client, TEST_POSIX_MORE, "sized.bin", 9, ASYLO_OK, &out);
    printf("posix_more: %.*s\n", (int)out.size, (const char *)out.data);
    const char more[] = "size=1234 lseek_errno=29 stdout_chr=1 slept_ms_ok=1 random=16";
    assert_int_equal(out.size, sizeof more - 1);
    assert_memory_equal(out.data, more, sizeof more - 1);
    asylo_buffer_free(&out);
    code = asylo_client_call(client, TEST_POSIX_MORE, "absent.bin", 10, &out, &status);
    assert_int_equal(code, ASYLO_NOT_FOUND);
    assert_non_null(strstr(status.message, "errno 2"));
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    asylo_manager_destroy(manager);
    snprintf(path, sizeof path, "%s/sized.bin", directory);
    unlink(path);
    rmdir(directory);
}

static int64_t now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static asylo_client *spinning;
static asylo_code spin_code;

static void *spin(void *argument) {
    (void)argument;
    asylo_buffer out = {0};
    asylo_status status;
    spin_code = asylo_client_call(spinning, TEST_SPIN, NULL, 0, &out, &status);
    asylo_buffer_free(&out);
    return NULL;
}

static void test_destroy_spinning(void **state) {
    (void)state;
    asylo_manager *manager = NULL;
    asylo_status status;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    spinning = load(manager, "kvm-spin", TEST_ENCLAVE_KVM, 1, &status);
    if (spinning == NULL) {
        fail_msg("load: %s", status.message);
    }
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, spin, NULL), 0);
    usleep(200 * 1000);
    int64_t start = now_ms();
    asylo_code code = asylo_manager_destroy_client(manager, spinning, NULL, 0, &status);
    int64_t took = now_ms() - start;
    pthread_join(thread, NULL);
    printf("destroy of a spinning kvm enclave: %s after %lld ms (%s); its call: %s\n",
           asylo_code_name(code), (long long)took, status.message, asylo_code_name(spin_code));
    assert_true(took < 10000);
    assert_int_not_equal(spin_code, ASYLO_OK);
    asylo_manager_destroy(manager);
}

int main(void) {
    asylo_status status;
    if (asylo__kvm_probe(&status) != ASYLO_OK) {
        printf("SKIP: %s\n", status.message);
        return 77;
    }
    alarm(120);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_selectors),
                                       cmocka_unit_test(test_posix_forwarded),
                                       cmocka_unit_test(test_destroy_spinning)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
