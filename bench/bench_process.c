/* The process backend's rows (issue 11), each against a baseline run in the
 * same bench, interleaved with it:
 *   warm round trip 64 B / 4 KiB / 64 KiB and an exit call: against the raw
 *     spin-then-futex ping-pong between two processes (pingpong.h), and
 *     against the same ping-pong sleeping on the futex at once;
 *   load to first call: against posix_spawn (glibc: clone + execve) of a
 *     static binary until it exits; also absolute goals (1 ms median, 2 ms
 *     p99);
 *   8-thread throughput: 8 host threads on one enclave against 8 threads on
 *     8 ping-pong pairs. */
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "asylo/process.h"
#include "bench_common.h"
#include "bench_selectors.h"
#include "pingpong.h"

extern char **environ;

#define PROCESS_SIZES 3
static const size_t process_sizes[PROCESS_SIZES] = {64, 4096, 65536};

static const char spin_baseline[] =
    "raw shared-memory ping-pong between two processes, spin 5 us then futex, same bytes copied "
    "each way";
static const char futex_baseline[] =
    "raw shared-memory ping-pong between two processes, plain futex (no spin), same bytes copied "
    "each way";

static void process_config(asylo_process_config *process, size_t frame_payload_size) {
    asylo_process_config_init(process);
    process->runner_path = BENCH_RUNNER_PATH;
    process->frame_payload_size = frame_payload_size;
}

static asylo_client *process_load(asylo_manager *manager, const char *name,
                                  const asylo_process_config *process) {
    asylo_load_config config;
    load_config_for(&config, name, "process", BENCH_ENCLAVE_PATH, process);
    asylo_client *client = NULL;
    asylo_status status;
    check(asylo_manager_load(manager, &config, &client, &status), &status,
          "loading the process enclave");
    return client;
}

static void process_run(asylo_client *client, const uint8_t *input, size_t size) {
    asylo_buffer output = {0};
    asylo_status status;
    check(asylo_client_run(client, input, size, &output, &status), &status, "process run");
    if (output.size != size) {
        die("process run returned %zu bytes, not %zu", output.size, size);
    }
    asylo_buffer_free(&output);
}

static void start_pingpong(pingpong *pp, int pairs, size_t capacity, bool spin) {
    if (!pingpong_start(pp, cfg.self, pairs, capacity, spin)) {
        die("cannot start the raw ping-pong");
    }
}

/* Warm round trips: subject and both raw variants in fine-grained blocks. */
static void process_round_trips(asylo_client *client, pingpong *spin, pingpong *futex,
                                uint8_t *input, uint8_t *reply) {
    printf("process warm round trip (us; sample = one call)\n");
    for (int s = 0; s < PROCESS_SIZES; s++) {
        size_t size = process_sizes[s];
        int total = cfg.quick ? 10 : size <= 4096 ? 2000 : 800;
        int block = cfg.quick ? 5 : 10;
        samples subject = {0}, spun = {0}, slept = {0};
        for (int i = 0; i < 20; i++) {
            process_run(client, input, size);
            pingpong_round_trip(spin, 0, input, size, reply);
            pingpong_round_trip(futex, 0, input, size, reply);
        }
        for (int done = 0; done < total; done += block) {
            for (int i = 0; i < block; i++) {
                double t0 = bench_now_ns();
                pingpong_round_trip(spin, 0, input, size, reply);
                samples_add(&spun, (bench_now_ns() - t0) / 1e3);
            }
            for (int i = 0; i < block; i++) {
                double t0 = bench_now_ns();
                process_run(client, input, size);
                samples_add(&subject, (bench_now_ns() - t0) / 1e3);
            }
            for (int i = 0; i < block; i++) {
                double t0 = bench_now_ns();
                pingpong_round_trip(futex, 0, input, size, reply);
                samples_add(&slept, (bench_now_ns() - t0) / 1e3);
            }
        }
        if (memcmp(reply, input, size) != 0) {
            die("the raw ping-pong returned the wrong bytes");
        }
        char name[96], label[32];
        size_label(size, label, sizeof label);
        snprintf(name, sizeof name, "process enter+run %s", label);
        add_row("process", name, "us", 1, spin_baseline, &subject, &spun, false, 1.3);
        snprintf(name, sizeof name, "  process enter+run %s vs plain futex", label);
        add_row("process", name, "us", 1, futex_baseline, &subject, &slept, false, 0);
        samples_free(&subject);
        samples_free(&spun);
        samples_free(&slept);
    }
}

/* Exit calls: one entry making `batch` exit calls of 64 B, per exit call,
 * against `batch` raw round trips. */
static void process_exit_calls(asylo_client *client, pingpong *spin, pingpong *futex,
                               uint8_t *input, uint8_t *reply) {
    printf("process exit call, enclave -> host handler (us; sample = mean of 10)\n");
    const uint32_t batch = 10;
    const size_t size = 64;
    put_u32(input, batch);
    int blocks = cfg.quick ? 3 : 300;
    samples subject = {0}, spun = {0}, slept = {0};
    asylo_status status;
    for (int b = -5; b < blocks; b++) {
        double t0 = bench_now_ns();
        for (uint32_t i = 0; i < batch; i++) {
            pingpong_round_trip(spin, 0, input + 4, size, reply);
        }
        double t1 = bench_now_ns();
        check(asylo_client_call(client, BENCH_ENTRY_EXIT_LOOP, input, 4 + size, NULL, &status),
              &status, "process exit loop");
        double t2 = bench_now_ns();
        for (uint32_t i = 0; i < batch; i++) {
            pingpong_round_trip(futex, 0, input + 4, size, reply);
        }
        double t3 = bench_now_ns();
        if (b >= 0) {
            samples_add(&spun, (t1 - t0) / 1e3 / batch);
            samples_add(&subject, (t2 - t1) / 1e3 / batch);
            samples_add(&slept, (t3 - t2) / 1e3 / batch);
        }
    }
    add_row("process", "process exit call 64 B", "us", 1, spin_baseline, &subject, &spun, false,
            1.3);
    add_row("process", "  process exit call 64 B vs plain futex", "us", 1, futex_baseline, &subject,
            &slept, false, 0);
    samples_free(&subject);
    samples_free(&spun);
    samples_free(&slept);
}

static void process_load_times(asylo_manager *manager, const asylo_process_config *process,
                               const uint8_t *input) {
    printf("process load to first call (ms; sample = one load)\n");
    int reps = cfg.quick ? 2 : 50;
    samples subject = {0}, base = {0};
    asylo_status status;
    for (int r = -2; r < reps; r++) {
        double t0 = bench_now_ns();
        pid_t pid;
        char *const argv[] = {BENCH_STATIC_TRUE_PATH, NULL};
        int error = posix_spawn(&pid, BENCH_STATIC_TRUE_PATH, NULL, NULL, argv, environ);
        if (error != 0) {
            die("posix_spawn %s: %s", BENCH_STATIC_TRUE_PATH, strerror(error));
        }
        int wait_status;
        waitpid(pid, &wait_status, 0);
        double t1 = bench_now_ns();
        asylo_client *client = process_load(manager, "bench-process-load", process);
        process_run(client, input, 64);
        double t2 = bench_now_ns();
        check(asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status,
              "destroying the process enclave");
        if (r >= 0) {
            samples_add(&base, (t1 - t0) / 1e6);
            samples_add(&subject, (t2 - t1) / 1e6);
        }
    }
    add_row_absolute("process", "process load to first call", "ms", 1,
                     "posix_spawn (clone + execve) of a static binary until it exits", &subject,
                     &base, 0, 1.0, 2.0);
    samples_free(&subject);
    samples_free(&base);
}

/* ---- throughput ---- */

typedef struct process_worker {
    pthread_t thread;
    asylo_client *client; /* NULL: the raw ping-pong */
    pingpong *pp;
    int pair;
    pthread_barrier_t *start;
    atomic_bool *stop;
    const uint8_t *input;
    long calls;
    double end_ns;
} process_worker;

static void *process_worker_main(void *argument) {
    process_worker *worker = argument;
    uint8_t reply[64];
    pthread_barrier_wait(worker->start);
    long calls = 0;
    while (!atomic_load_explicit(worker->stop, memory_order_relaxed)) {
        if (worker->client != NULL) {
            process_run(worker->client, worker->input, 64);
        } else {
            pingpong_round_trip(worker->pp, worker->pair, worker->input, 64, reply);
        }
        calls++;
    }
    worker->end_ns = bench_now_ns();
    worker->calls = calls;
    return NULL;
}

#define PROCESS_THREADS 8

static double process_window(asylo_client *client, pingpong *pp, const uint8_t *input,
                             int duration_ms) {
    process_worker workers[PROCESS_THREADS];
    pthread_barrier_t start;
    atomic_bool stop = false;
    pthread_barrier_init(&start, NULL, PROCESS_THREADS + 1);
    for (int i = 0; i < PROCESS_THREADS; i++) {
        workers[i] = (process_worker){
            .client = client, .pp = pp, .pair = i, .start = &start, .stop = &stop, .input = input};
        if (pthread_create(&workers[i].thread, NULL, process_worker_main, &workers[i]) != 0) {
            die("cannot start a throughput thread");
        }
    }
    pthread_barrier_wait(&start);
    double t0 = bench_now_ns();
    bench_sleep_ms(duration_ms);
    atomic_store(&stop, true);
    long calls = 0;
    double end = t0;
    for (int i = 0; i < PROCESS_THREADS; i++) {
        pthread_join(workers[i].thread, NULL);
        calls += workers[i].calls;
        end = workers[i].end_ns > end ? workers[i].end_ns : end;
    }
    pthread_barrier_destroy(&start);
    return end > t0 ? (double)calls / ((end - t0) / 1e9) : 0;
}

static void process_throughput(asylo_client *client, const uint8_t *input) {
    printf("process throughput, 8 threads, 64 B (calls/s; sample = one window)\n");
    pingpong pp;
    start_pingpong(&pp, PROCESS_THREADS, 64, true);
    int rounds = cfg.quick ? 1 : 10;
    int duration_ms = cfg.quick ? 30 : 200;
    samples subject = {0}, base = {0};
    for (int r = 0; r < rounds; r++) {
        samples_add(&base, process_window(NULL, &pp, input, duration_ms));
        samples_add(&subject, process_window(client, NULL, input, duration_ms));
    }
    add_row("process", "process throughput 8 threads, 64 B", "calls/s", 1,
            "raw spin-then-futex ping-pong, 8 threads on 8 mailbox pairs served by 8 threads of "
            "one peer process",
            &subject, &base, true, 0);
    samples_free(&subject);
    samples_free(&base);
    pingpong_stop(&pp);
}

void bench_process(asylo_manager *manager) {
    asylo_process_config process;
    process_config(&process, 0);
    size_t largest = process_sizes[PROCESS_SIZES - 1];
    uint8_t *input = malloc(4 + largest);
    uint8_t *reply = malloc(largest);
    if (input == NULL || reply == NULL) {
        die("out of memory");
    }
    for (size_t i = 0; i < 4 + largest; i++) {
        input[i] = (uint8_t)(i * 11 + 3);
    }
    /* Both ping-pongs up before the enclave: the same machine state for all. */
    pingpong spin, futex;
    start_pingpong(&spin, 1, largest, true);
    start_pingpong(&futex, 1, largest, false);
    asylo_client *client = process_load(manager, "bench-process", &process);
    process_round_trips(client, &spin, &futex, input, reply);
    process_exit_calls(client, &spin, &futex, input, reply);
    pingpong_stop(&spin);
    pingpong_stop(&futex);
    process_throughput(client, input);
    asylo_status status;
    check(asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status,
          "destroying the process enclave");
    process_load_times(manager, &process, input);
    free(input);
    free(reply);
}

/* ---- payload sweep ---- */

void bench_process_payload(asylo_manager *manager, const size_t *sizes, size_t count) {
    size_t largest = sizes[count - 1];
    asylo_process_config process;
    /* Frames carry the largest payload whole (the default is 1 MiB). */
    process_config(&process, largest + 4096);
    uint8_t *input = malloc(largest);
    uint8_t *reply = malloc(largest);
    if (input == NULL || reply == NULL) {
        die("out of memory");
    }
    memset(input, 0x5a, largest);
    pingpong spin;
    start_pingpong(&spin, 1, largest, true);
    asylo_client *client = process_load(manager, "bench-process-payload", &process);
    for (size_t s = 0; s < count; s++) {
        size_t size = sizes[s];
        int total = cfg.quick ? 4 : size <= 65536 ? 400 : size <= MIB ? 60 : 12;
        samples subject = {0}, base = {0};
        process_run(client, input, size);
        pingpong_round_trip(&spin, 0, input, size, reply);
        for (int i = 0; i < total; i++) {
            double t0 = bench_now_ns();
            pingpong_round_trip(&spin, 0, input, size, reply);
            double t1 = bench_now_ns();
            process_run(client, input, size);
            double t2 = bench_now_ns();
            samples_add(&base, (t1 - t0) / (double)size);
            samples_add(&subject, (t2 - t1) / (double)size);
        }
        char name[96], label[32];
        snprintf(name, sizeof name, "payload process %s", size_label(size, label, sizeof label));
        row *r =
            add_row("growth-payload", name, "ns/B", 1, spin_baseline, &subject, &base, false, 0);
        if (r != NULL) {
            r->bytes = size;
        }
        samples_free(&subject);
        samples_free(&base);
    }
    asylo_status status;
    check(asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status,
          "destroying the process enclave");
    pingpong_stop(&spin);
    free(input);
    free(reply);
}
