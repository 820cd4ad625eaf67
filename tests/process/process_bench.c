/* Bench of the process backend against raw baselines measured in the same
 * run (medians; compare only ratios):
 *   - warm round trip (run, echo) 64 B / 4 KiB / 64 KiB against a raw
 *     spin-then-futex ping-pong over shared memory between two processes,
 *     copying the same bytes each way, with the same spin budget;
 *   - the same ping-pong with plain futex waits (no spin);
 *   - an exit call (enclave -> host -> enclave inside one run);
 *   - load to first call against posix_spawn + wait of a static binary.
 * Usage: process_bench [iterations] (default 2000; ctest runs 50). */
#include <linux/futex.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asylo/asylo.h"
#include "test_enclave_selectors.h"

extern char **environ;

#define SPIN_NS 5000L /* as src/backends/process/shm_channel.c */

static double now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1e9 + now.tv_nsec;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *values, int count) {
    qsort(values, (size_t)count, sizeof *values, compare);
    return values[count / 2];
}

/* ---- raw baseline: two processes, one shared page pair ---- */

typedef struct raw_box {
    _Atomic uint32_t full;
    _Atomic uint32_t sleeping;
    uint32_t size;
    uint8_t data[64 << 10];
} raw_box;

static void raw_wait(raw_box *box, int spin) {
    double start = now_ns();
    if (spin) {
        for (unsigned i = 0;; i++) {
            if (atomic_load(&box->full)) {
                return;
            }
            if ((i & 63) == 63 && now_ns() - start > SPIN_NS) {
                break;
            }
            __builtin_ia32_pause();
        }
    }
    for (;;) {
        atomic_store(&box->sleeping, 1);
        if (atomic_load(&box->full)) {
            atomic_store(&box->sleeping, 0);
            return;
        }
        syscall(SYS_futex, &box->full, FUTEX_WAIT, 0, NULL, NULL, 0);
        atomic_store(&box->sleeping, 0);
    }
}

static void raw_post(raw_box *box, const uint8_t *data, uint32_t size) {
    box->size = size;
    memcpy(box->data, data, size);
    atomic_store(&box->full, 1);
    if (atomic_load(&box->sleeping)) {
        syscall(SYS_futex, &box->full, FUTEX_WAKE, 1, NULL, NULL, 0);
    }
}

static uint8_t scratch[64 << 10];

static void raw_take(raw_box *box, uint8_t *out) {
    memcpy(out, box->data, box->size);
    atomic_store(&box->full, 0);
}

static raw_box *boxes; /* [0] to the echo process, [1] back */
static pid_t echo_pid;

static void start_raw_echo(int spin) {
    boxes =
        mmap(NULL, 2 * sizeof(raw_box), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    echo_pid = fork();
    if (echo_pid == 0) {
        static uint8_t copy[64 << 10];
        for (;;) {
            raw_wait(&boxes[0], spin);
            uint32_t size = boxes[0].size;
            raw_take(&boxes[0], copy);
            raw_post(&boxes[1], copy, size);
        }
    }
}

static void stop_raw_echo(void) {
    kill(echo_pid, SIGKILL);
    waitpid(echo_pid, NULL, 0);
    munmap(boxes, 2 * sizeof(raw_box));
}

static double raw_round_trip(size_t size, int iterations, int spin) {
    double *samples = calloc((size_t)iterations, sizeof *samples);
    for (int i = 0; i < iterations; i++) {
        double start = now_ns();
        raw_post(&boxes[0], scratch, (uint32_t)size);
        raw_wait(&boxes[1], spin);
        raw_take(&boxes[1], scratch);
        samples[i] = now_ns() - start;
    }
    double result = median(samples, iterations);
    free(samples);
    return result;
}

/* ---- the process backend ---- */

static asylo_code host_echo(void *context, asylo_client *client, uint32_t selector,
                            const uint8_t *input, size_t input_size, asylo_output *output,
                            asylo_status *status) {
    (void)context, (void)client, (void)selector;
    return asylo_output_write(output, input, input_size, status);
}

static const asylo_exit_handler handlers[] = {{TEST_HOST_ECHO, host_echo, NULL}};

static asylo_client *load(asylo_manager *manager, const char *name) {
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = name;
    config.backend = "process";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.exit_handlers = handlers;
    config.exit_handler_count = 1;
    asylo_client *client = NULL;
    asylo_status status;
    if (asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fprintf(stderr, "load failed: %s\n", status.message);
        exit(1);
    }
    return client;
}

static double backend_round_trip(asylo_client *client, uint32_t selector, const uint8_t *input,
                                 size_t size, int iterations) {
    double *samples = calloc((size_t)iterations, sizeof *samples);
    for (int i = 0; i < iterations; i++) {
        asylo_buffer output = {0};
        asylo_status status;
        double start = now_ns();
        asylo_code code = selector == ASYLO_SELECTOR_RUN
                              ? asylo_client_run(client, input, size, &output, &status)
                              : asylo_client_call(client, selector, input, size, &output, &status);
        samples[i] = now_ns() - start;
        if (code != ASYLO_OK) {
            fprintf(stderr, "call failed: %s\n", status.message);
            exit(1);
        }
        asylo_buffer_free(&output);
    }
    double result = median(samples, iterations);
    free(samples);
    return result;
}

static void row(const char *what, double value, double baseline, const char *unit, double scale) {
    printf("| %s | %.2f %s | %.2f %s | %.2fx |\n", what, value / scale, unit, baseline / scale,
           unit, value / baseline);
}

int main(int argc, char **argv) {
    int iterations = argc > 1 ? atoi(argv[1]) : 2000;
    if (iterations < 5) {
        iterations = 5;
    }
    static const size_t sizes[] = {64, 4096, 65536};
    double raw_spin[3], raw_futex[3];
    /* Baselines first, before this process has any threads. */
    start_raw_echo(1);
    for (int i = 0; i < 3; i++) {
        raw_round_trip(sizes[i], iterations / 10 + 1, 1);
        raw_spin[i] = raw_round_trip(sizes[i], iterations, 1);
    }
    stop_raw_echo();
    start_raw_echo(0);
    for (int i = 0; i < 3; i++) {
        raw_futex[i] = raw_round_trip(sizes[i], iterations, 0);
    }
    stop_raw_echo();

    asylo_manager *manager;
    asylo_status status;
    asylo_manager_create(&manager, &status);
    asylo_client *client = load(manager, "bench");
    printf("| process backend (median of %d) | value | raw baseline | ratio |\n|---|---|---|---|\n",
           iterations);
    for (int i = 0; i < 3; i++) {
        backend_round_trip(client, ASYLO_SELECTOR_RUN, scratch, sizes[i], iterations / 10 + 1);
        double value =
            backend_round_trip(client, ASYLO_SELECTOR_RUN, scratch, sizes[i], iterations);
        char what[96];
        snprintf(what, sizeof what, "warm run %zu B vs spin-then-futex ping-pong", sizes[i]);
        row(what, value, raw_spin[i], "us", 1e3);
        snprintf(what, sizeof what, "warm run %zu B vs plain-futex ping-pong", sizes[i]);
        row(what, value, raw_futex[i], "us", 1e3);
    }
    /* An exit call: run TEST_EXIT_CALL -> host echo (one more round trip). */
    uint8_t request[4 + 64];
    uint32_t echo = TEST_HOST_ECHO;
    memcpy(request, &echo, 4);
    memset(request + 4, 1, 64);
    double exit_call =
        backend_round_trip(client, TEST_EXIT_CALL, request, sizeof request, iterations);
    row("entry + exit call 64 B vs 2 spin-then-futex round trips", exit_call, 2 * raw_spin[0], "us",
        1e3);
    asylo_manager_destroy_client(manager, client, NULL, 0, &status);

    /* Load to first call vs posix_spawn + wait of a static binary. */
    int loads = iterations / 20 < 20 ? 20 : iterations / 20;
    double *load_samples = calloc((size_t)loads, sizeof *load_samples);
    double *spawn_samples = calloc((size_t)loads, sizeof *spawn_samples);
    for (int i = 0; i < loads; i++) {
        double start = now_ns();
        pid_t pid;
        char *const spawn_argv[] = {STATIC_TRUE_PATH, NULL};
        posix_spawn(&pid, STATIC_TRUE_PATH, NULL, NULL, spawn_argv, environ);
        waitpid(pid, NULL, 0);
        spawn_samples[i] = now_ns() - start;
        start = now_ns();
        asylo_client *fresh = load(manager, "fresh");
        asylo_buffer output = {0};
        asylo_client_run(fresh, "x", 1, &output, &status);
        load_samples[i] = now_ns() - start;
        asylo_buffer_free(&output);
        asylo_manager_destroy_client(manager, fresh, NULL, 0, &status);
    }
    double load_median = median(load_samples, loads);
    double p99 = load_samples[(loads * 99) / 100 < loads ? (loads * 99) / 100 : loads - 1];
    row("load to first call vs posix_spawn+wait of a static binary", load_median,
        median(spawn_samples, loads), "ms", 1e6);
    printf("| load to first call p99 (of %d) | %.2f ms | | |\n", loads, p99 / 1e6);
    free(load_samples);
    free(spawn_samples);
    asylo_manager_destroy(manager);
    return 0;
}
