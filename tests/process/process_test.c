/* The process backend end to end: the unchanged test enclave in a sandboxed
 * child, called over shared memory; nested calls both ways, 8 threads, and a
 * hostile enclave (crash, abort, exit, loop, forbidden system calls). For
 * each hostile act: the host lives, the status names what happened, the
 * client is lost, destroy is bounded and a new load works. */
#include <dirent.h>
#include <sys/stat.h>
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asylo/process.h"
#include "sim_test_support.h"

static asylo_manager *manager;
static atomic_int reenter_calls;
static char skip_reason[512];

static asylo_code host_reenter(void *context, asylo_client *client, uint32_t selector,
                               const uint8_t *input, size_t input_size, asylo_output *output,
                               asylo_status *status) {
    (void)context, (void)selector;
    atomic_fetch_add(&reenter_calls, 1);
    asylo_buffer below = {0};
    asylo_code code = asylo_client_call(client, TEST_RUN_NESTED, input, input_size, &below, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, below.data, below.size, status);
    }
    asylo_buffer_free(&below);
    return code;
}

static asylo_code host_echo(void *context, asylo_client *client, uint32_t selector,
                            const uint8_t *input, size_t input_size, asylo_output *output,
                            asylo_status *status) {
    (void)context, (void)client, (void)selector;
    return asylo_output_write(output, input, input_size, status);
}

static const asylo_exit_handler handlers[] = {
    {TEST_HOST_ECHO, host_echo, NULL},
    {TEST_HOST_REENTER, host_reenter, NULL},
};

static void process_config(asylo_load_config *config, const char *name) {
    sim_config(config, name);
    config->backend = "process";
    config->exit_handlers = handlers;
    config->exit_handler_count = sizeof handlers / sizeof handlers[0];
    config->destroy_timeout_ms = 300;
}

static asylo_client *load(const char *name) {
    asylo_load_config config;
    process_config(&config, name);
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("load", asylo_manager_load(manager, &config, &client, &status), &status);
    assert_non_null(client);
    assert_string_equal(asylo_client_backend_name(client), "process");
    return client;
}

static void destroy(asylo_client *client) {
    asylo_status status;
    asylo_manager_destroy_client(manager, client, NULL, 0, &status);
}

static double now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1e3 + now.tv_nsec / 1e6;
}

/* Loads, runs and destroys a fresh enclave: after every hostile act. */
static void expect_new_load_works(void) {
    asylo_client *client = load("after");
    asylo_buffer output = {0};
    asylo_status status;
    expect_ok("run after", asylo_client_run(client, "ok", 2, &output, &status), &status);
    assert_int_equal(output.size, 2);
    asylo_buffer_free(&output);
    destroy(client);
}

static int setup(void **state) {
    (void)state;
    manager = sim_manager();
    /* The sandbox needs namespaces and seccomp: skip where the kernel lacks
     * them, saying why. */
    asylo_load_config config;
    process_config(&config, "probe");
    asylo_client *client = NULL;
    asylo_status status;
    asylo_code code = asylo_manager_load(manager, &config, &client, &status);
    if (code == ASYLO_FAILED_PRECONDITION && strstr(status.message, "the process sandbox needs")) {
        snprintf(skip_reason, sizeof skip_reason, "%s", status.message);
    } else {
        expect_ok("probe load", code, &status);
        destroy(client);
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    asylo_manager_destroy(manager);
    return 0;
}

#define SKIP_WITHOUT_SANDBOX()                                                                     \
    do {                                                                                           \
        if (skip_reason[0] != '\0') {                                                              \
            printf("SKIP: %s\n", skip_reason);                                                     \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static void test_run_and_calls(void **state) {
    (void)state;
    SKIP_WITHOUT_SANDBOX();
    asylo_client *client = load("basic");
    asylo_buffer output = {0};
    asylo_status status;
    expect_ok("run", asylo_client_run(client, "hello", 5, &output, &status), &status);
    assert_int_equal(output.size, 5);
    assert_memory_equal(output.data, "hello", 5);
    asylo_buffer_free(&output);
    expect_ok("counter", asylo_client_call(client, TEST_COUNTER, NULL, 0, &output, &status),
              &status);
    assert_int_equal(buffer_u64(&output), 1);
    asylo_buffer_free(&output);
    expect_status("enclave failure", call_u32(client, TEST_FAIL, ASYLO_NOT_FOUND, &output, &status),
                  &status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_ENCLAVE, "requested failure with code 5");
    /* The built-in exit calls reach the host: time and randomness. */
    expect_ok("time", asylo_client_call(client, TEST_TIME, NULL, 0, &output, &status), &status);
    assert_int_equal(output.size, 16);
    asylo_buffer_free(&output);
    expect_ok("random", asylo_client_call(client, TEST_RANDOM, NULL, 0, &output, &status), &status);
    assert_int_equal(output.size, 32);
    asylo_buffer_free(&output);
    /* 64 KiB each way. */
    size_t big = 64 << 10;
    uint8_t *input = malloc(big);
    assert_non_null(input);
    for (size_t i = 0; i < big; i++) {
        input[i] = (uint8_t)(i * 7);
    }
    expect_ok("run 64 KiB", asylo_client_run(client, input, big, &output, &status), &status);
    assert_int_equal(output.size, big);
    assert_memory_equal(output.data, input, big);
    asylo_buffer_free(&output);
    free(input);
    /* Past the frame size: a clear RESOURCE_EXHAUSTED, the enclave lives. */
    expect_status("output over the frame",
                  call_u32(client, TEST_BIG_OUTPUT, 2u << 20, &output, &status), &status,
                  ASYLO_RESOURCE_EXHAUSTED, ANY_ORIGIN, "limit of 1048576 bytes");
    expect_ok("run after", asylo_client_run(client, "x", 1, &output, &status), &status);
    asylo_buffer_free(&output);
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_RUNNING);
    destroy(client);
}

static void test_nested_both_ways(void **state) {
    (void)state;
    SKIP_WITHOUT_SANDBOX();
    asylo_client *client = load("nested");
    asylo_buffer output = {0};
    asylo_status status;
    /* enclave -> host echo */
    uint8_t request[4 + 3];
    uint32_t echo = TEST_HOST_ECHO;
    memcpy(request, &echo, 4);
    memcpy(request + 4, "abc", 3);
    expect_ok("exit call",
              asylo_client_call(client, TEST_EXIT_CALL, request, sizeof request, &output, &status),
              &status);
    assert_int_equal(output.size, 3);
    assert_memory_equal(output.data, "abc", 3);
    asylo_buffer_free(&output);
    /* host -> enclave -> host -> enclave ... */
    atomic_store(&reenter_calls, 0);
    expect_ok("nested depth 10", call_u32(client, TEST_RUN_NESTED, 10, &output, &status), &status);
    assert_int_equal(buffer_u32(&output), 10);
    assert_int_equal(atomic_load(&reenter_calls), 10);
    asylo_buffer_free(&output);
    /* 10,000 nested calls: refused at the host's depth bound, no crash. */
    expect_status("10,000 nested calls", call_u32(client, TEST_RUN_NESTED, 10000, &output, &status),
                  &status, ASYLO_RESOURCE_EXHAUSTED, ANY_ORIGIN, "nest more than");
    expect_ok("run after deep nesting", asylo_client_run(client, "x", 1, &output, &status),
              &status);
    asylo_buffer_free(&output);
    destroy(client);
}

static asylo_client *shared_client;

static void *thread_main(void *argument) {
    int failures = 0;
    for (int i = 0; i < 200; i++) {
        asylo_buffer output = {0};
        asylo_status status;
        uint32_t value = (uint32_t)(uintptr_t)argument * 1000 + (uint32_t)i;
        if (asylo_client_run(shared_client, &value, 4, &output, &status) != ASYLO_OK ||
            output.size != 4 || memcmp(output.data, &value, 4) != 0) {
            failures++;
        }
        asylo_buffer_free(&output);
        if (i % 50 == 0 &&
            call_u32(shared_client, TEST_RUN_NESTED, 3, &output, &status) != ASYLO_OK) {
            failures++;
        }
        asylo_buffer_free(&output);
    }
    return (void *)(uintptr_t)failures;
}

static void test_eight_threads(void **state) {
    (void)state;
    SKIP_WITHOUT_SANDBOX();
    shared_client = load("threads");
    pthread_t threads[8];
    for (uintptr_t i = 0; i < 8; i++) {
        assert_int_equal(pthread_create(&threads[i], NULL, thread_main, (void *)i), 0);
    }
    for (int i = 0; i < 8; i++) {
        void *failures;
        pthread_join(threads[i], &failures);
        assert_int_equal((uintptr_t)failures, 0);
    }
    destroy(shared_client);
}

/* The concurrency-limit test's hand-over, without timing windows: the
 * holder's enclave thread says "inside" with an exit call (so it holds the
 * only slot), and its host handler keeps it there until the main thread's
 * own call has been refused. Both waits are bounded. */
static atomic_int holder_inside;
static atomic_int second_call_done;

static bool wait_flag(atomic_int *flag, int bound_ms) {
    for (int waited = 0; waited < bound_ms && !atomic_load(flag); waited++) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    return atomic_load(flag) != 0;
}

static asylo_code host_inside(void *context, asylo_client *client, uint32_t selector,
                              const uint8_t *input, size_t input_size, asylo_output *output,
                              asylo_status *status) {
    (void)context, (void)client, (void)selector, (void)input, (void)input_size, (void)output;
    atomic_store(&holder_inside, 1);
    if (!wait_flag(&second_call_done, 30000)) {
        return asylo_status_set(status, ASYLO_DEADLINE_EXCEEDED, ASYLO_ORIGIN_HOST,
                                "the main thread made no call within 30 s");
    }
    return asylo_status_ok(status);
}

static void *holder_main(void *argument) {
    asylo_buffer output = {0};
    asylo_status status;
    uint32_t input[2] = {TEST_HOST_INSIDE, 10 /* ms asleep inside, after the exit call */};
    asylo_code code =
        asylo_client_call(argument, TEST_EXIT_THEN_SLEEP, input, sizeof input, &output, &status);
    if (code != ASYLO_OK) {
        printf("the holder's call: %s\n", status.message);
    }
    asylo_buffer_free(&output);
    return (void *)(uintptr_t)(code == ASYLO_OK);
}

static void test_concurrency_limit(void **state) {
    (void)state;
    SKIP_WITHOUT_SANDBOX();
    static const asylo_exit_handler inside_handlers[] = {{TEST_HOST_INSIDE, host_inside, NULL}};
    asylo_load_config config;
    process_config(&config, "one-slot");
    config.exit_handlers = inside_handlers;
    config.exit_handler_count = 1;
    config.max_concurrent_calls = 1;
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("load", asylo_manager_load(manager, &config, &client, &status), &status);
    atomic_store(&holder_inside, 0);
    atomic_store(&second_call_done, 0);
    pthread_t holder;
    assert_int_equal(pthread_create(&holder, NULL, holder_main, client), 0);
    /* The holder's enclave thread is inside (it made its exit call) and
     * stays there until second_call_done. */
    bool inside = wait_flag(&holder_inside, 30000);
    asylo_buffer output = {0};
    asylo_code code = ASYLO_OK;
    if (inside) {
        code = asylo_client_run(client, "x", 1, &output, &status);
        asylo_buffer_free(&output);
    }
    atomic_store(&second_call_done, 1);
    void *ok;
    pthread_join(holder, &ok);
    assert_true(inside);
    expect_status("a second call while the only slot is held", code, &status,
                  ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                  "all 1 of its call slots in use (max_concurrent_calls");
    assert_true((uintptr_t)ok);
    expect_ok("after the holder", asylo_client_run(client, "x", 1, &output, &status), &status);
    asylo_buffer_free(&output);
    destroy(client);
}

static void test_memory_limit(void **state) {
    (void)state;
    SKIP_WITHOUT_SANDBOX();
#ifdef ASYLO_SANITIZE
    printf("SKIP: an address-space limit cannot hold under AddressSanitizer\n");
    skip();
#endif
    asylo_load_config config;
    process_config(&config, "small");
    config.memory_limit_size = (uint64_t)256 << 20;
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("load under 256 MiB", asylo_manager_load(manager, &config, &client, &status),
              &status);
    asylo_buffer output = {0};
    expect_status("allocate until failure",
                  asylo_client_call(client, TEST_HOSTILE_ALLOCATE, NULL, 0, &output, &status),
                  &status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_ENCLAVE,
                  "allocation failed after");
    expect_ok("run after", asylo_client_run(client, "x", 1, &output, &status), &status);
    asylo_buffer_free(&output);
    destroy(client);
}

static void test_posix_forwarded(void **state) {
    (void)state;
    SKIP_WITHOUT_SANDBOX();
    char directory[256];
    make_temp_dir(directory, sizeof directory);
    char path[300];
    snprintf(path, sizeof path, "%s/posix.txt", directory);
    asylo_buffer output = {0};
    asylo_status status;
    /* Off by default: a plain open ends the enclave as a refused call. */
    asylo_client *client = load("posix-off");
    expect_status("open without forwarding",
                  asylo_client_call(client, TEST_POSIX_FILES, path, strlen(path), &output, &status),
                  &status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_BACKEND,
                  "system call openat (number 257)");
    destroy(client);
    asylo_process_config process;
    asylo_process_config_init(&process);
    process.forward_posix_calls = 1;
    asylo_load_config config;
    process_config(&config, "posix");
    config.backend_config = &process;
    /* Forwarded calls go through the host's file policy: only beneath
     * file_root, relative paths, no escape. */
    config.file_root = directory;
    expect_ok("load with forwarding", asylo_manager_load(manager, &config, &client, &status),
              &status);
    const char *outside = "/etc/hostname";
    asylo_code refused =
        asylo_client_call(client, TEST_POSIX_FILES, outside, strlen(outside), &output, &status);
    printf("| forwarded fopen of %s | %s | %s |\n", outside, asylo_code_name(refused),
           status.message);
    assert_int_not_equal(refused, ASYLO_OK);
    assert_non_null(strstr(status.message, "errno 13"));
    const char *relative = "posix.txt";
    expect_ok(
        "fopen/fprintf/read/unlink inside the enclave",
        asylo_client_call(client, TEST_POSIX_FILES, relative, strlen(relative), &output, &status),
        &status);
    const char expected[] = "hello 42 from the enclave";
    assert_int_equal(output.size, sizeof expected - 1);
    assert_memory_equal(output.data, expected, sizeof expected - 1);
    asylo_buffer_free(&output);
    /* The file was made and removed on the host, through the exit calls. */
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_RUNNING);
    destroy(client);
    remove_temp_dir(directory);
}

static void expect_stat_refused(asylo_client *client, const char *path, int want_errno) {
    asylo_buffer output = {0};
    asylo_status status;
    expect_ok("stat",
              asylo_client_call(client, TEST_POSIX_STAT_PATH, path, strlen(path), &output, &status),
              &status);
    assert_int_equal(output.size, 16);
    int32_t result[2];
    uint64_t size;
    memcpy(result, output.data, 8);
    memcpy(&size, output.data + 8, 8);
    printf("| forwarded stat of %s | %d, errno %d, size %llu |\n", path, result[0], result[1],
           (unsigned long long)size);
    assert_int_equal(result[0], -1);
    assert_int_equal(result[1], want_errno);
    assert_int_equal(size, 0);
    asylo_buffer_free(&output);
}

/* stat, fstat, lseek (and stdio's fseek on top) forwarded under the file
 * root; outside it refused (EACCES), nothing learned about the file. */
static void test_posix_seek_stat(void **state) {
    (void)state;
    SKIP_WITHOUT_SANDBOX();
    char directory[256];
    make_temp_dir(directory, sizeof directory);
    char root[300], outside[300];
    snprintf(root, sizeof root, "%s/root", directory);
    snprintf(outside, sizeof outside, "%s/outside.txt", directory);
    assert_int_equal(mkdir(root, 0700), 0);
    FILE *secret = fopen(outside, "w");
    assert_non_null(secret);
    fputs("secret", secret);
    fclose(secret);
    asylo_process_config process;
    asylo_process_config_init(&process);
    process.forward_posix_calls = 1;
    asylo_load_config config;
    process_config(&config, "posix-seek");
    config.backend_config = &process;
    config.file_root = root;
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("load with forwarding", asylo_manager_load(manager, &config, &client, &status),
              &status);
    asylo_buffer output = {0};
    const char *inside = "seek.txt";
    expect_ok(
        "stat/lseek/fstat/fseek inside the root",
        asylo_client_call(client, TEST_POSIX_SEEK_STAT, inside, strlen(inside), &output, &status),
        &status);
    assert_int_equal(output.size, 8);
    assert_memory_equal(output.data, "456|89|7", 8);
    asylo_buffer_free(&output);
    expect_stat_refused(client, outside, EACCES);
    expect_stat_refused(client, "/etc/shadow", EACCES);
    expect_stat_refused(client, "../outside.txt", EACCES);
    expect_stat_refused(client, "missing.txt", ENOENT);
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_RUNNING);
    destroy(client);
    /* Forwarding off: a stat finds nothing (the empty root), and the
     * enclave lives. */
    client = load("posix-stat-off");
    expect_stat_refused(client, outside, ENOENT);
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_RUNNING);
    destroy(client);
    unlink(outside);
    rmdir(root);
    remove_temp_dir(directory);
}

/* One hostile act on a fresh enclave. */
static void hostile(const char *name, uint32_t selector, asylo_code code, const char *needle) {
    asylo_client *client = load(name);
    asylo_buffer output = {0};
    asylo_status status;
    expect_status(name, asylo_client_call(client, selector, NULL, 0, &output, &status), &status,
                  code, ASYLO_ORIGIN_BACKEND, needle);
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_LOST);
    assert_string_equal(asylo_client_state_name(ASYLO_CLIENT_LOST), "lost");
    expect_status("a call after", asylo_client_run(client, "x", 1, &output, &status), &status, code,
                  ASYLO_ORIGIN_BACKEND, needle);
    double start = now_ms();
    destroy(client);
    assert_true(now_ms() - start < 2000);
    expect_new_load_works();
}

static void test_hostile_crashes(void **state) {
    (void)state;
    SKIP_WITHOUT_SANDBOX();
    hostile("null-deref", TEST_HOSTILE_NULL_DEREF, ASYLO_ABORTED,
            "ended by signal 11 (SIGSEGV) at address 0x0");
    hostile("abort", TEST_HOSTILE_ABORT, ASYLO_ABORTED,
            "ended by signal 6 (SIGABRT): abort called");
    hostile("stack-overflow", TEST_HOSTILE_STACK_OVERFLOW, ASYLO_ABORTED, "SIGSEGV");
    hostile("exit", TEST_HOSTILE_EXIT, ASYLO_UNAVAILABLE, "exited with status 3");
}

static void test_hostile_system_calls(void **state) {
    (void)state;
    SKIP_WITHOUT_SANDBOX();
    hostile("fork", TEST_HOSTILE_FORK, ASYLO_PERMISSION_DENIED, "system call clone (number 56)");
    hostile("execve", TEST_HOSTILE_EXECVE, ASYLO_PERMISSION_DENIED,
            "system call execve (number 59)");
    hostile("open-shadow", TEST_HOSTILE_OPEN_SHADOW, ASYLO_PERMISSION_DENIED,
            "system call openat (number 257)");
    hostile("socket", TEST_HOSTILE_SOCKET, ASYLO_PERMISSION_DENIED,
            "system call socket (number 41)");
    hostile("ptrace", TEST_HOSTILE_PTRACE, ASYLO_PERMISSION_DENIED,
            "system call ptrace (number 101)");
    hostile("kill-parent", TEST_HOSTILE_KILL_PARENT, ASYLO_PERMISSION_DENIED,
            "system call kill (number 62)");
}

/* What a hostile enclave would like to read or change in its host. */
static uint8_t host_secret[64] = "the host's secret";

static void expect_lost_then_new_load(asylo_client *client) {
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_LOST);
    double start = now_ms();
    destroy(client);
    assert_true(now_ms() - start < 2000);
    expect_new_load_works();
}

/* Reading /proc for host memory, writing through a host pointer given as an
 * integer, an exit call larger than a frame: the host lives, its memory is
 * untouched, the status says what happened, a new load works. */
static void test_hostile_host_memory(void **state) {
    (void)state;
    SKIP_WITHOUT_SANDBOX();
    asylo_buffer output = {0};
    asylo_status status;
    uint8_t proc_input[12];
    uint32_t pid = (uint32_t)getpid();
    uint64_t address = (uint64_t)(uintptr_t)host_secret;
    memcpy(proc_input, &pid, 4);
    memcpy(proc_input + 4, &address, 8);
    /* /proc/<host pid>/mem: the open is a refused system call. */
    asylo_client *client = load("read-proc");
    expect_status("read /proc/PID/mem",
                  asylo_client_call(client, TEST_HOSTILE_READ_PROC_MEM, proc_input,
                                    sizeof proc_input, &output, &status),
                  &status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_BACKEND,
                  "system call openat (number 257)");
    assert_null(output.data);
    expect_lost_then_new_load(client);
    /* With POSIX forwarding the host's file policy refuses the absolute
     * path: the enclave gets EACCES, reads nothing, and lives. */
    char directory[256];
    make_temp_dir(directory, sizeof directory);
    asylo_process_config process;
    asylo_process_config_init(&process);
    process.forward_posix_calls = 1;
    asylo_load_config config;
    process_config(&config, "read-proc-forwarded");
    config.backend_config = &process;
    config.file_root = directory;
    expect_ok("load", asylo_manager_load(manager, &config, &client, &status), &status);
    expect_status("read /proc/PID/mem, forwarded",
                  asylo_client_call(client, TEST_HOSTILE_READ_PROC_MEM, proc_input,
                                    sizeof proc_input, &output, &status),
                  &status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_ENCLAVE, "errno 13");
    assert_null(output.data);
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_RUNNING);
    destroy(client);
    remove_temp_dir(directory);

    /* A host pointer is only a number in the enclave's own address space:
     * the write faults there (or, by a one-in-billions chance of the same
     * address being mapped in the runner, lands in the runner's memory). */
    client = load("write-pointer");
    asylo_code code = asylo_client_call(client, TEST_HOSTILE_WRITE_HOST_POINTER, &address,
                                        sizeof address, &output, &status);
    printf("| write through host pointer %p | %s | %s |\n", (void *)host_secret,
           asylo_code_name(code), status.message);
    assert_string_equal((const char *)host_secret, "the host's secret");
    if (code != ASYLO_OK) {
        assert_int_equal(code, ASYLO_ABORTED);
        assert_non_null(strstr(status.message, "ended by signal 11 (SIGSEGV) at address 0x"));
        expect_lost_then_new_load(client);
    } else {
        destroy(client);
    }

    /* An exit call larger than a frame: refused before it is sent; the
     * enclave gets the status, hands it back, and lives. */
    client = load("oversized-exit");
    expect_status("oversized exit call",
                  call_u32(client, TEST_HOSTILE_OVERSIZED_EXIT, 2u << 20, &output, &status),
                  &status, ASYLO_RESOURCE_EXHAUSTED, ANY_ORIGIN,
                  "input of 2097152 bytes to selector 0x1100 does not fit the channel's "
                  "1048576-byte frames");
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_RUNNING);
    expect_ok("run after", asylo_client_run(client, "x", 1, &output, &status), &status);
    asylo_buffer_free(&output);
    destroy(client);
}

static void *loop_main(void *argument) {
    asylo_client *client = argument;
    asylo_buffer output = {0};
    static asylo_status status;
    asylo_code code = asylo_client_call(client, TEST_HOSTILE_LOOP, NULL, 0, &output, &status);
    return (void *)(uintptr_t)(code == ASYLO_UNAVAILABLE && strstr(status.message, "terminated"));
}

static void test_infinite_loop_destroy(void **state) {
    (void)state;
    SKIP_WITHOUT_SANDBOX();
    asylo_client *client = load("loop");
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, loop_main, client), 0);
    /* Wait until the call is inside the enclave (bounded). */
    for (int i = 0; i < 200; i++) {
        struct timespec pause = {0, 5000000};
        nanosleep(&pause, NULL);
    }
    double start = now_ms();
    asylo_status status;
    asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    double took = now_ms() - start;
    printf("destroy of a looping enclave took %.0f ms (bound 300 ms)\n", took);
    assert_true(took < 2000);
    void *ok;
    pthread_join(thread, &ok);
    assert_true((uintptr_t)ok);
    expect_new_load_works();
}

/* The helper side of test_host_dies: loads an enclave, prints its runner's
 * pid and ends without destroying anything. */
static int load_and_die(void) {
    asylo_manager *helper_manager = NULL;
    asylo_status status;
    asylo_manager_create(&helper_manager, &status);
    asylo_load_config config;
    sim_config(&config, "orphan");
    config.backend = "process";
    asylo_client *client = NULL;
    if (asylo_manager_load(helper_manager, &config, &client, &status) != ASYLO_OK) {
        printf("load failed: %s\n", status.message);
        _exit(1);
    }
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    while (proc != NULL && (entry = readdir(proc)) != NULL) {
        char path[300], text[512];
        snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
        FILE *file = fopen(path, "r");
        if (file == NULL) {
            continue;
        }
        size_t got = fread(text, 1, sizeof text - 1, file);
        fclose(file);
        text[got] = '\0';
        int pid, parent;
        char state;
        const char *after_name = strrchr(text, ')');
        if (after_name != NULL && sscanf(text, "%d", &pid) == 1 &&
            sscanf(after_name + 1, " %c %d", &state, &parent) == 2 && parent == getpid() &&
            strstr(text, "(asylo-enclave-r)") != NULL) {
            printf("%d\n", pid);
        }
    }
    fflush(stdout);
    _exit(0);
}

/* A host that dies without destroying its enclave takes the runner with it
 * (the runner watches a pipe only the host holds). */
static void test_host_dies(void **state) {
    (void)state;
    SKIP_WITHOUT_SANDBOX();
    /* Orphans of the helper come to us, not to an init that may not reap. */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    int output[2];
    assert_int_equal(pipe(output), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, output[1], 1);
    char *const argv[] = {"process_backend_test", "--load-and-die", NULL};
    pid_t helper;
    extern char **environ;
    assert_int_equal(posix_spawn(&helper, "/proc/self/exe", &actions, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(output[1]);
    char text[64] = "";
    ssize_t got = read(output[0], text, sizeof text - 1);
    close(output[0]);
    waitpid(helper, NULL, 0);
    text[got > 0 ? got : 0] = '\0';
    int runner = atoi(text);
    printf("runner of the dead host: '%s'\n", text);
    assert_true(runner > 1);
    /* We are the subreaper: the orphaned runner is ours to reap, here. */
    int gone = 0;
    for (int i = 0; i < 500 && !gone; i++) {
        gone = waitpid(runner, NULL, WNOHANG | __WALL) == runner;
        struct timespec pause = {0, 10000000};
        nanosleep(&pause, NULL);
    }
    if (!gone) {
        kill(runner, SIGKILL);
        waitpid(runner, NULL, __WALL);
    }
    assert_true(gone);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--load-and-die") == 0) {
        return load_and_die();
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_and_calls),       cmocka_unit_test(test_nested_both_ways),
        cmocka_unit_test(test_eight_threads),       cmocka_unit_test(test_concurrency_limit),
        cmocka_unit_test(test_memory_limit),        cmocka_unit_test(test_posix_forwarded),
        cmocka_unit_test(test_posix_seek_stat),     cmocka_unit_test(test_host_dies),
        cmocka_unit_test(test_hostile_crashes),     cmocka_unit_test(test_hostile_system_calls),
        cmocka_unit_test(test_hostile_host_memory), cmocka_unit_test(test_infinite_loop_destroy),
    };
    return cmocka_run_group_tests_name("process", tests, setup, teardown);
}
