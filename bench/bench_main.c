/* asylo_bench: every boundary crossing against its physical limit, measured
 * in one run. Each row's baseline runs in the same process tree, interleaved
 * with the subject (ABAB blocks), so noise on this shared machine hits both.
 *
 *   asylo_bench [--quick] [--out DIR] [--command TEXT] [--only GROUP]
 *
 * Prints one table and writes DIR/results.csv, DIR/results.json and
 * DIR/RESULTS.md. --quick runs tiny counts (the bench.smoke test: it proves
 * the bench works and asserts nothing about time). Paths of the binaries and
 * images are compiled in (see CMakeLists.txt). */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asylo/asylo.h"
#include "bench_common.h"
#include "bench_selectors.h"
#include "bench_util.h"
#include "pingpong.h"
#include "provision/proxy_process.h"
#include "raw_grpc.h"
#include "transport/grpc_runtime.h"

#define SIZE_COUNT 3
static const size_t payload_sizes[SIZE_COUNT] = {64, 4096, 65536};

/* The baselines' host side: what an exit handler's reply costs without the
 * library (allocate the reply, copy). */
static int host_copy(const uint8_t *input, size_t input_size, uint8_t **output,
                     size_t *output_size) {
    uint8_t *copy = malloc(input_size > 0 ? input_size : 1);
    if (copy == NULL) {
        return -1;
    }
    memcpy(copy, input, input_size);
    *output = copy;
    *output_size = input_size;
    return 0;
}

/* A private copy of the image, dlopen'd by the bench itself: the baselines'
 * functions live in the same kind of loaded image the sim backend enters. */
typedef struct plain_image {
    void *handle;
    bench_plain_copy_fn copy;
    bench_plain_exit_loop_fn exit_loop;
} plain_image;

static void plain_open(plain_image *image, const char *source, const char *copy_name) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", cfg.tmp, copy_name);
    if (!bench_copy_file(source, path)) {
        die("cannot copy %s", source);
    }
    image->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    unlink(path);
    if (image->handle == NULL) {
        die("dlopen %s: %s", path, dlerror());
    }
    image->copy = (bench_plain_copy_fn)dlsym(image->handle, BENCH_PLAIN_COPY_SYMBOL);
    image->exit_loop = (bench_plain_exit_loop_fn)dlsym(image->handle, BENCH_PLAIN_EXIT_LOOP_SYMBOL);
    if (image->copy == NULL || image->exit_loop == NULL) {
        die("%s lacks the plain baseline functions", source);
    }
}

/* ---- sim: enter-and-run, exit calls ---- */

static void bench_sim_calls(asylo_manager *manager) {
    asylo_status status;
    asylo_load_config config;
    load_config_for(&config, "bench-sim", "sim", BENCH_ENCLAVE_PATH, NULL);
    asylo_client *client;
    check(asylo_manager_load(manager, &config, &client, &status), &status, "loading sim enclave");
    plain_image image;
    plain_open(&image, BENCH_ENCLAVE_PATH, "plain-enclave.so");

    uint8_t *input = malloc(4 + payload_sizes[SIZE_COUNT - 1]);
    for (size_t i = 0; i < 4 + payload_sizes[SIZE_COUNT - 1]; i++) {
        input[i] = (uint8_t)(i * 7 + 1);
    }
    int blocks = cfg.quick ? 3 : 600;
    printf("sim enter-and-run (ns per call; sample = mean of a batch)\n");
    for (int s = 0; s < SIZE_COUNT; s++) {
        size_t size = payload_sizes[s];
        int batch = size <= 4096 ? 200 : 20;
        samples subject = {0}, base = {0};
        /* Correctness once, then warm both paths. */
        asylo_buffer output = {0};
        check(asylo_client_run(client, input, size, &output, &status), &status, "sim run");
        if (output.size != size || memcmp(output.data, input, size) != 0) {
            die("sim run returned the wrong bytes");
        }
        asylo_buffer_free(&output);
        for (int b = -2; b < blocks; b++) {
            double t0 = bench_now_ns();
            for (int i = 0; i < batch; i++) {
                uint8_t *copy;
                size_t copy_size;
                if (image.copy(input, size, &copy, &copy_size) != 0) {
                    die("plain copy failed");
                }
                free(copy);
            }
            double t1 = bench_now_ns();
            for (int i = 0; i < batch; i++) {
                if (asylo_client_run(client, input, size, &output, &status) != ASYLO_OK) {
                    check(status.code, &status, "sim run");
                }
                asylo_buffer_free(&output);
            }
            double t2 = bench_now_ns();
            if (b >= 0) {
                samples_add(&base, (t1 - t0) / batch);
                samples_add(&subject, (t2 - t1) / batch);
            }
        }
        char name[64], label[32];
        snprintf(name, sizeof name, "sim enter+run %s", size_label(size, label, sizeof label));
        add_row("sim", name, "ns", 1,
                "function pointer into the dlopen'd image: malloc+memcpy, free", &subject, &base,
                false, size == 4096 ? 1.5 : 0);
        samples_free(&subject);
        samples_free(&base);
    }

    printf("sim exit call, enclave -> host handler (ns per exit call)\n");
    for (int s = 0; s < SIZE_COUNT; s++) {
        size_t size = payload_sizes[s];
        uint32_t batch = size <= 4096 ? 200 : 20;
        input[0] = (uint8_t)batch;
        input[1] = (uint8_t)(batch >> 8);
        input[2] = input[3] = 0;
        samples subject = {0}, base = {0};
        for (int b = -2; b < blocks; b++) {
            double t0 = bench_now_ns();
            if (image.exit_loop(host_copy, input + 4, size, batch) != 0) {
                die("plain exit loop failed");
            }
            double t1 = bench_now_ns();
            check(asylo_client_call(client, BENCH_ENTRY_EXIT_LOOP, input, 4 + size, NULL, &status),
                  &status, "sim exit loop");
            double t2 = bench_now_ns();
            if (b >= 0) {
                samples_add(&base, (t1 - t0) / batch);
                samples_add(&subject, (t2 - t1) / batch);
            }
        }
        char name[64], label[32];
        snprintf(name, sizeof name, "sim exit call %s", size_label(size, label, sizeof label));
        add_row("sim", name, "ns", 1,
                "same loop in the image calling a host function pointer: malloc+memcpy, free",
                &subject, &base, false, 0);
        samples_free(&subject);
        samples_free(&base);
    }
    free(input);
    dlclose(image.handle);
    check(asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status,
          "destroying sim enclave");
}

/* The payload sweep on sim: run against the plain copy, time per byte. */
void bench_sim_payload(asylo_manager *manager, const size_t *sizes, size_t count) {
    asylo_status status;
    asylo_load_config config;
    load_config_for(&config, "bench-sim-payload", "sim", BENCH_ENCLAVE_PATH, NULL);
    asylo_client *client;
    check(asylo_manager_load(manager, &config, &client, &status), &status, "loading sim enclave");
    plain_image image;
    plain_open(&image, BENCH_ENCLAVE_PATH, "plain-payload.so");
    size_t largest = sizes[count - 1];
    uint8_t *input = malloc(largest);
    if (input == NULL) {
        die("out of memory");
    }
    memset(input, 0x6b, largest);
    for (size_t s = 0; s < count; s++) {
        size_t size = sizes[s];
        int total = cfg.quick ? 4 : size <= 65536 ? 400 : size <= MIB ? 60 : 12;
        int batch = size <= 4096 ? 50 : 1;
        samples subject = {0}, base = {0};
        for (int i = -1; i < total; i++) {
            double t0 = bench_now_ns();
            for (int b = 0; b < batch; b++) {
                uint8_t *copy;
                size_t copy_size;
                if (image.copy(input, size, &copy, &copy_size) != 0) {
                    die("plain copy failed");
                }
                free(copy);
            }
            double t1 = bench_now_ns();
            for (int b = 0; b < batch; b++) {
                asylo_buffer output = {0};
                check(asylo_client_run(client, input, size, &output, &status), &status, "sim run");
                asylo_buffer_free(&output);
            }
            double t2 = bench_now_ns();
            if (i >= 0) {
                samples_add(&base, (t1 - t0) / batch / (double)size);
                samples_add(&subject, (t2 - t1) / batch / (double)size);
            }
        }
        char name[96], label[32];
        snprintf(name, sizeof name, "payload sim %s", size_label(size, label, sizeof label));
        row *r = add_row("growth-payload", name, "ns/B", 1,
                         "function pointer into the dlopen'd image: malloc+memcpy, free", &subject,
                         &base, false, 0);
        if (r != NULL) {
            r->bytes = size;
        }
        samples_free(&subject);
        samples_free(&base);
    }
    free(input);
    dlclose(image.handle);
    check(asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status,
          "destroying sim enclave");
}

/* ---- remote: the transports ---- */

typedef struct transport_case {
    const char *label;
    const char *listen; /* for the proxy (local provisioning) */
    bool ssl;
} transport_case;

static const transport_case transport_cases[] = {
    {"tcp 127.0.0.1 local", "127.0.0.1:0", false},
    {"tcp [::1] local", "[::1]:0", false},
    {"unix local", "unix:", false},
    {"tcp 127.0.0.1 ssl", "127.0.0.1:0", true},
    {"tcp [::1] ssl", "[::1]:0", true},
    {"unix ssl", "unix:", true},
};
#define TRANSPORT_CASES (sizeof transport_cases / sizeof transport_cases[0])

asylo__security_options raw_client_security(bool ssl) {
    asylo__security_options security = {.type = ASYLO__SECURITY_LOCAL};
    if (ssl) {
        security.type = ASYLO__SECURITY_SSL;
        security.root_certs = cfg.ca;
    }
    return security;
}

/* The raw server on an address like the proxy's. */
void raw_server_start(const char *listen, bool ssl, child *server, char *address,
                      size_t address_size) {
    static int socket_number;
    char bind[PATH_MAX + 16];
    if (strcmp(listen, "unix:") == 0) {
        snprintf(bind, sizeof bind, "unix:%s/raw-%d.sock", cfg.tmp, socket_number++);
    } else {
        snprintf(bind, sizeof bind, "%s", listen);
    }
    char cert_flag[PATH_MAX + 64], key_flag[PATH_MAX + 64];
    snprintf(cert_flag, sizeof cert_flag, "--ssl_server_cert=%s", cfg.server_cert);
    snprintf(key_flag, sizeof key_flag, "--ssl_server_cred=%s", cfg.server_key);
    char *argv[] = {
        BENCH_RAW_SERVER_PATH, bind, ssl ? "--security_type=ssl" : NULL, cert_flag, key_flag, NULL};
    if (!child_spawn(argv, server) ||
        !child_read_marker(server, "LISTENING ", address, address_size, 10000)) {
        die("the raw gRPC server did not start on %s", bind);
    }
}

static void local_provision_for(const char *listen, bool ssl, asylo_remote_provision **provision) {
    asylo_status status;
    asylo_local_provision_options local;
    asylo_local_provision_options_init(&local);
    local.proxy_path = BENCH_PROXY_PATH;
    local.listen_address = listen;
    local.log_level = "warning";
    if (ssl) {
        local.security.type = ASYLO_SECURITY_SSL;
        local.security.server_cert = cfg.server_cert;
        local.security.server_key = cfg.server_key;
    }
    check(asylo_local_provision_create(&local, provision, &status), &status,
          "creating local provisioning");
}

static void remote_config_for(asylo_remote_config *remote, asylo_remote_provision *provision,
                              bool ssl) {
    asylo_remote_config_init(remote);
    remote->provision = provision;
    /* sim on the target: the rows measure the remote transport against a raw
     * gRPC server, which isolates nothing either (the process backend's own
     * cost is its own rows). */
    remote->target_backend = "sim";
    if (ssl) {
        remote->security.type = ASYLO_SECURITY_SSL;
        remote->security.root_certs = cfg.ca;
    }
}

void remote_load(asylo_manager *manager, const char *name, const char *listen, bool ssl,
                 remote_enclave *enclave) {
    asylo_status status;
    local_provision_for(listen, ssl, &enclave->provision);
    remote_config_for(&enclave->remote, enclave->provision, ssl);
    asylo_load_config config;
    load_config_for(&config, name, "remote", BENCH_ENCLAVE_PATH, &enclave->remote);
    check(asylo_manager_load(manager, &config, &enclave->client, &status), &status,
          "loading remote enclave");
}

void remote_unload(asylo_manager *manager, remote_enclave *enclave) {
    asylo_status status;
    check(asylo_manager_destroy_client(manager, enclave->client, NULL, 0, &status), &status,
          "destroying remote enclave");
    asylo_remote_provision_destroy(enclave->provision);
    enclave->provision = NULL;
}

void raw_round_trip(raw_stream *stream, const uint8_t *input, size_t size) {
    uint8_t *reply;
    size_t reply_size;
    if (!raw_stream_exchange(stream, input, size, &reply, &reply_size) || reply_size != size) {
        die("raw gRPC exchange failed");
    }
    free(reply);
}

void remote_round_trip(asylo_client *client, const uint8_t *input, size_t size) {
    asylo_status status;
    asylo_buffer output = {0};
    check(asylo_client_run(client, input, size, &output, &status), &status, "remote run");
    if (output.size != size) {
        die("remote run returned %zu bytes, not %zu", output.size, size);
    }
    asylo_buffer_free(&output);
}

static void bench_round_trips(const transport_case *tc, asylo_client *client, raw_stream *stream,
                              const uint8_t *input) {
    for (int s = 0; s < SIZE_COUNT; s++) {
        size_t size = payload_sizes[s];
        int total = cfg.quick ? 10 : size <= 4096 ? 1600 : 400;
        int block = cfg.quick ? 5 : 10; /* fine-grained ABAB: load shifts hit both */
        samples subject = {0}, base = {0};
        for (int i = 0; i < 20; i++) {
            raw_round_trip(stream, input, size);
            remote_round_trip(client, input, size);
        }
        for (int done = 0; done < total; done += block) {
            for (int i = 0; i < block; i++) {
                double t0 = bench_now_ns();
                raw_round_trip(stream, input, size);
                samples_add(&base, (bench_now_ns() - t0) / 1e3);
            }
            for (int i = 0; i < block; i++) {
                double t0 = bench_now_ns();
                remote_round_trip(client, input, size);
                samples_add(&subject, (bench_now_ns() - t0) / 1e3);
            }
        }
        char name[96], label[32];
        snprintf(name, sizeof name, "remote %s %s", tc->label,
                 size_label(size, label, sizeof label));
        add_row("remote", name, "us", 1,
                "raw gRPC bidi-stream ping-pong, same transport, credentials and channel args",
                &subject, &base, false, size == 64 ? 1.3 : 0);
        samples_free(&subject);
        samples_free(&base);
    }
}

/* ---- remote throughput ---- */

typedef struct throughput_worker {
    pthread_t thread;
    bool raw;
    asylo_client *client;
    raw_channel *channel;
    pthread_barrier_t *start;
    atomic_bool *stop;
    const uint8_t *input;
    long calls;
    double end_ns;
} throughput_worker;

static void *throughput_main(void *argument) {
    throughput_worker *worker = argument;
    raw_stream stream;
    if (worker->raw) {
        if (!raw_stream_open(worker->channel, RAW_ECHO_METHOD, &stream)) {
            die("raw stream open failed");
        }
        raw_round_trip(&stream, worker->input, 64);
    } else {
        remote_round_trip(worker->client, worker->input, 64);
    }
    pthread_barrier_wait(worker->start);
    long calls = 0;
    while (!atomic_load_explicit(worker->stop, memory_order_relaxed)) {
        if (worker->raw) {
            raw_round_trip(&stream, worker->input, 64);
        } else {
            remote_round_trip(worker->client, worker->input, 64);
        }
        calls++;
    }
    worker->end_ns = bench_now_ns();
    worker->calls = calls;
    if (worker->raw) {
        raw_stream_close(&stream);
    }
    return NULL;
}

/* Calls per second of `threads` threads for duration_ms; *calls_out gets the
 * number of calls. */
static double throughput_run(bool raw, int threads, asylo_client *client, raw_channel *channel,
                             const uint8_t *input, int duration_ms, long *calls_out) {
    throughput_worker workers[8];
    pthread_barrier_t start;
    atomic_bool stop = false;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++) {
        workers[i] = (throughput_worker){.raw = raw,
                                         .client = client,
                                         .channel = channel,
                                         .start = &start,
                                         .stop = &stop,
                                         .input = input};
        pthread_create(&workers[i].thread, NULL, throughput_main, &workers[i]);
    }
    pthread_barrier_wait(&start);
    double t0 = bench_now_ns();
    bench_sleep_ms(duration_ms);
    atomic_store(&stop, true);
    long calls = 0;
    double end = t0;
    for (int i = 0; i < threads; i++) {
        pthread_join(workers[i].thread, NULL);
        calls += workers[i].calls;
        if (workers[i].end_ns > end) {
            end = workers[i].end_ns;
        }
    }
    pthread_barrier_destroy(&start);
    *calls_out = calls;
    return (double)calls / ((end - t0) / 1e9);
}

/* CPU time (user + system, all threads) of this process plus `server`. */
static double cpu_us_with(pid_t server) {
    return bench_cpu_us(getpid()) + bench_cpu_us(server);
}

static void bench_throughput(const transport_case *tc, asylo_client *client, raw_channel *channel,
                             const uint8_t *input, pid_t raw_server) {
    static const int thread_counts[] = {1, 2, 8};
    /* Many short windows, alternating: load from elsewhere on this shared
     * machine lands on both sides. */
    int rounds = cfg.quick ? 1 : 16;
    int duration_ms = cfg.quick ? 30 : 250;
    pid_t proxy = bench_find_child("asylo-remote-pr");
    for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
        int threads = thread_counts[t];
        samples subject = {0}, base = {0}, subject_cpu = {0}, base_cpu = {0};
        for (int r = 0; r < rounds; r++) {
            long calls;
            double cpu0 = cpu_us_with(raw_server);
            samples_add(&base,
                        throughput_run(true, threads, NULL, channel, input, duration_ms, &calls));
            double cpu1 = cpu_us_with(raw_server);
            if (calls > 0) {
                samples_add(&base_cpu, (cpu1 - cpu0) / (double)calls);
            }
            cpu0 = cpu_us_with(proxy);
            samples_add(&subject,
                        throughput_run(false, threads, client, NULL, input, duration_ms, &calls));
            cpu1 = cpu_us_with(proxy);
            if (calls > 0) {
                samples_add(&subject_cpu, (cpu1 - cpu0) / (double)calls);
            }
        }
        char name[96];
        snprintf(name, sizeof name, "remote throughput %d thread%s, %s 64 B", threads,
                 threads > 1 ? "s" : "", tc->label);
        add_row("throughput", name, "calls/s", 1,
                "raw gRPC ping-pong, same concurrency: one stream per thread on one connection",
                &subject, &base, true, threads == 8 ? 0.8 : 0);
        if (threads == 8 && proxy > 0) {
            /* Why throughput differs on a CPU-bound machine: CPU per call of
             * both processes (client and server), from /proc utime+stime. */
            add_row("throughput", "  CPU per call at 8 threads (client + server process)", "us", 1,
                    "the same for the raw client and raw server", &subject_cpu, &base_cpu, false,
                    0);
        }
        samples_free(&subject);
        samples_free(&base);
        samples_free(&subject_cpu);
        samples_free(&base_cpu);
    }
}

static void bench_remote(asylo_manager *manager, long *proxy_rss, long *raw_rss) {
    uint8_t *input = malloc(payload_sizes[SIZE_COUNT - 1]);
    for (size_t i = 0; i < payload_sizes[SIZE_COUNT - 1]; i++) {
        input[i] = (uint8_t)(i * 13 + 5);
    }
    printf("remote enter-and-run round trip (us; sample = one call)\n");
    for (size_t c = 0; c < TRANSPORT_CASES; c++) {
        const transport_case *tc = &transport_cases[c];
        bool first = c == 0;
        if (strstr(tc->listen, "::1") != NULL && !cfg.ipv6) {
            add_note("%s: skipped, IPv6 loopback is not available here", tc->label);
            continue;
        }
        if (!first && !group_enabled("remote")) {
            continue;
        }
        remote_enclave enclave;
        remote_load(manager, "bench-remote", tc->listen, tc->ssl, &enclave);
        child server;
        char address[300];
        raw_server_start(tc->listen, tc->ssl, &server, address, sizeof address);
        asylo__security_options security = raw_client_security(tc->ssl);
        raw_channel channel;
        char error[512];
        if (!raw_channel_open(address, &security, &channel, error, sizeof error)) {
            die("raw channel: %s", error);
        }
        raw_stream stream;
        if (!raw_stream_open(&channel, RAW_ECHO_METHOD, &stream)) {
            die("raw stream open failed");
        }
        if (group_enabled("remote")) {
            bench_round_trips(tc, enclave.client, &stream, input);
        }
        raw_stream_close(&stream);
        if (first && group_enabled("throughput")) {
            printf("remote throughput (calls/s; sample = one %s window)\n",
                   cfg.quick ? "short" : "0.25 s");
            bench_throughput(tc, enclave.client, &channel, input, server.pid);
        }
        raw_channel_close(&channel);
        if (first) {
            /* Both idle after the same traffic. */
            bench_sleep_ms(cfg.quick ? 50 : 300);
            pid_t proxy = bench_find_child("asylo-remote-pr");
            *proxy_rss = proxy > 0 ? bench_rss_kib(proxy) : -1;
            *raw_rss = bench_rss_kib(server.pid);
        }
        child_stop(&server, 2000);
        remote_unload(manager, &enclave);
    }
    free(input);
}

/* The payload sweep on remote (tcp 127.0.0.1, local credentials) against
 * the raw gRPC ping-pong, time per byte. */
void bench_remote_payload(asylo_manager *manager, const size_t *sizes, size_t count) {
    size_t largest = sizes[count - 1];
    uint8_t *input = malloc(largest);
    if (input == NULL) {
        die("out of memory");
    }
    memset(input, 0x4e, largest);
    remote_enclave enclave;
    remote_load(manager, "bench-remote-payload", "127.0.0.1:0", false, &enclave);
    child server;
    char address[300];
    raw_server_start("127.0.0.1:0", false, &server, address, sizeof address);
    asylo__security_options security = raw_client_security(false);
    raw_channel channel;
    char error[512];
    if (!raw_channel_open(address, &security, &channel, error, sizeof error)) {
        die("raw channel: %s", error);
    }
    raw_stream stream;
    if (!raw_stream_open(&channel, RAW_ECHO_METHOD, &stream)) {
        die("raw stream open failed");
    }
    for (size_t s = 0; s < count; s++) {
        size_t size = sizes[s];
        int total = cfg.quick ? 4 : size <= 65536 ? 200 : size <= MIB ? 40 : 8;
        samples subject = {0}, base = {0};
        raw_round_trip(&stream, input, size);
        remote_round_trip(enclave.client, input, size);
        for (int i = 0; i < total; i++) {
            double t0 = bench_now_ns();
            raw_round_trip(&stream, input, size);
            double t1 = bench_now_ns();
            remote_round_trip(enclave.client, input, size);
            double t2 = bench_now_ns();
            samples_add(&base, (t1 - t0) / (double)size);
            samples_add(&subject, (t2 - t1) / (double)size);
        }
        char name[96], label[32];
        snprintf(name, sizeof name, "payload remote %s", size_label(size, label, sizeof label));
        row *r = add_row("growth-payload", name, "ns/B", 1,
                         "raw gRPC bidi-stream ping-pong, tcp 127.0.0.1, local credentials",
                         &subject, &base, false, 0);
        if (r != NULL) {
            r->bytes = size;
        }
        samples_free(&subject);
        samples_free(&base);
    }
    raw_stream_close(&stream);
    raw_channel_close(&channel);
    child_stop(&server, 2000);
    remote_unload(manager, &enclave);
    free(input);
}

/* ---- load time ---- */

/* What loading an image in-process costs without the library: a private
 * copy of the file, dlopen, dlsym. Returns the handle to close later. */
static void *plain_load(const char *image, int number) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/load-%d.so", cfg.tmp, number);
    if (!bench_copy_file(image, path)) {
        die("cannot copy %s", image);
    }
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    unlink(path);
    if (handle == NULL || dlsym(handle, "asylo_enclave_abi") == NULL) {
        die("plain load of %s failed", image);
    }
    return handle;
}

static void bench_load(asylo_manager *manager) {
    asylo_status status;
    printf("enclave load time (ms; sample = one load)\n");
    int reps = cfg.quick ? 2 : 40;
    samples subject = {0}, base = {0};
    for (int r = -1; r < reps; r++) {
        double t0 = bench_now_ns();
        void *handle = plain_load(BENCH_ENCLAVE_PATH, r + 1);
        double t1 = bench_now_ns();
        dlclose(handle);
        asylo_load_config config;
        load_config_for(&config, "bench-load", "sim", BENCH_ENCLAVE_PATH, NULL);
        asylo_client *client;
        double t2 = bench_now_ns();
        check(asylo_manager_load(manager, &config, &client, &status), &status, "sim load");
        double t3 = bench_now_ns();
        check(asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status,
              "sim destroy");
        if (r >= 0) {
            samples_add(&base, (t1 - t0) / 1e6);
            samples_add(&subject, (t3 - t2) / 1e6);
        }
    }
    add_row("load", "load sim", "ms", 1, "copy the image, dlopen, dlsym", &subject, &base, false,
            0);
    samples_free(&subject);
    samples_free(&base);

    reps = cfg.quick ? 2 : 12;
    char image[PATH_MAX];
    if (realpath(BENCH_ENCLAVE_PATH, image) == NULL) {
        die("realpath %s", BENCH_ENCLAVE_PATH);
    }
    for (int r = -1; r < reps; r++) {
        double t0 = bench_now_ns();
        asylo__proxy_process_options options = {.proxy_path = BENCH_PROXY_PATH,
                                                .address = "127.0.0.1:0",
                                                .enclave_path = image,
                                                .backend = "sim",
                                                .log_level = "warning",
                                                .deadline_ms = asylo__monotonic_ms() + 10000};
        asylo__proxy_process process;
        check(asylo__proxy_process_start(&options, &process, &status), &status, "starting a proxy");
        asylo__security_options security = raw_client_security(false);
        raw_channel channel;
        char error[512];
        if (!raw_channel_open(process.address, &security, &channel, error, sizeof error)) {
            die("raw channel to the proxy: %s", error);
        }
        void *handle = plain_load(BENCH_ENCLAVE_PATH, 1000 + r);
        double t1 = bench_now_ns();
        dlclose(handle);
        raw_channel_close(&channel);
        asylo__proxy_process_stop(&process, 5000, NULL);

        asylo_remote_provision *provision;
        local_provision_for("127.0.0.1:0", false, &provision);
        asylo_remote_config remote;
        remote_config_for(&remote, provision, false);
        asylo_load_config config;
        load_config_for(&config, "bench-load", "remote", BENCH_ENCLAVE_PATH, &remote);
        asylo_client *client;
        double t2 = bench_now_ns();
        check(asylo_manager_load(manager, &config, &client, &status), &status, "remote load");
        double t3 = bench_now_ns();
        check(asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status,
              "remote destroy");
        asylo_remote_provision_destroy(provision);
        if (r >= 0) {
            samples_add(&base, (t1 - t0) / 1e6);
            samples_add(&subject, (t3 - t2) / 1e6);
        }
    }
    add_row("load", "load remote (local provisioning)", "ms", 1,
            "start the proxy binary until it listens + raw channel READY + copy, dlopen, dlsym",
            &subject, &base, false, 0);
    samples_free(&subject);
    samples_free(&base);
}

/* ---- provisioning ---- */

static void bench_provisioning(long *server_rss, long *raw_rss) {
    asylo_status status;
    char store[PATH_MAX + 16], address_flag[64], store_flag[PATH_MAX + 32], ports_flag[64],
        proxy_flag[PATH_MAX + 32];
    snprintf(store, sizeof store, "%s/store", cfg.tmp);
    snprintf(address_flag, sizeof address_flag, "--address=127.0.0.1:0");
    snprintf(store_flag, sizeof store_flag, "--storage_dir=%s", store);
    /* A port range of our own: other runs on this machine use the default. */
    unsigned low = 20000 + (unsigned)(getpid() % 400) * 100;
    snprintf(ports_flag, sizeof ports_flag, "--proxy_ports=%u-%u", low, low + 99);
    snprintf(proxy_flag, sizeof proxy_flag, "--remote_proxy=%s", BENCH_PROXY_PATH);
    char *argv[] = {BENCH_PROVISION_SERVER_PATH, address_flag, store_flag, ports_flag, proxy_flag,
                    "--log_level=warning",       NULL};
    child server;
    char address[300];
    if (!child_spawn(argv, &server) ||
        !child_read_marker(&server, "listening on ", address, sizeof address, 10000)) {
        die("asylo-provision-server did not start");
    }
    child raw;
    char raw_address[300];
    raw_server_start("127.0.0.1:0", false, &raw, raw_address, sizeof raw_address);
    /* Both idle, freshly started. */
    bench_sleep_ms(cfg.quick ? 50 : 300);
    *server_rss = bench_rss_kib(server.pid);
    *raw_rss = bench_rss_kib(raw.pid);

    printf("provisioning through asylo-provision-server (ms; sample = one provision)\n");
    const char *images[2] = {BENCH_ENCLAVE_1M_PATH, BENCH_ENCLAVE_16M_PATH};
    for (int i = 0; i < 2; i++) {
        char image[PATH_MAX];
        if (realpath(images[i], image) == NULL) {
            die("realpath %s", images[i]);
        }
        size_t size;
        uint8_t *bytes = bench_read_file(image, &size);
        if (bytes == NULL) {
            die("cannot read %s", image);
        }
        int reps = cfg.quick ? 1 : i == 0 ? 12 : 8;
        samples subject = {0}, base = {0};
        for (int r = -1; r < reps; r++) {
            double t0 = bench_now_ns();
            asylo__proxy_process_options options = {.proxy_path = BENCH_PROXY_PATH,
                                                    .address = "127.0.0.1:0",
                                                    .enclave_path = image,
                                                    .backend = "sim",
                                                    .log_level = "warning",
                                                    .deadline_ms = asylo__monotonic_ms() + 10000};
            asylo__proxy_process process;
            check(asylo__proxy_process_start(&options, &process, &status), &status,
                  "starting a proxy");
            asylo__security_options security = raw_client_security(false);
            raw_channel channel;
            char error[512];
            if (!raw_channel_open(raw_address, &security, &channel, error, sizeof error)) {
                die("raw channel: %s", error);
            }
            if (!raw_sink(&channel, bytes, size, MIB)) {
                die("raw transfer of %zu bytes failed", size);
            }
            double t1 = bench_now_ns();
            raw_channel_close(&channel);
            asylo__proxy_process_stop(&process, 5000, NULL);

            asylo_provision_server_options options_ps;
            asylo_provision_server_options_init(&options_ps);
            options_ps.server_address = address;
            asylo_remote_provision *provision;
            check(asylo_provision_server_provision_create(&options_ps, &provision, &status),
                  &status, "provision-server client");
            asylo_remote_endpoint endpoint;
            double t2 = bench_now_ns();
            check(provision->provision(provision, image, "sim", 60000, &endpoint, &status), &status,
                  "provisioning");
            double t3 = bench_now_ns();
            provision->finalize(provision, &status);
            asylo_remote_provision_destroy(provision);
            if (r >= 0) {
                samples_add(&base, (t1 - t0) / 1e6);
                samples_add(&subject, (t3 - t2) / 1e6);
            }
        }
        char name[64], label[32];
        snprintf(name, sizeof name, "provision %s image", size_label(size, label, sizeof label));
        add_row("provision", name, "ms", 1,
                "start the proxy binary until it listens + raw gRPC transfer of the bytes "
                "(1 MiB messages)",
                &subject, &base, false, i == 1 ? 1.5 : 0);
        samples_free(&subject);
        samples_free(&base);
        free(bytes);
    }
    child_stop(&raw, 2000);
    /* The provision server drains on SIGTERM (stdin means nothing to it). */
    kill(server.pid, SIGTERM);
    child_stop(&server, 10000);
}

/* ---- main ---- */

/* How long a group took: the whole run should stay within about five
 * minutes, so each group says its share. */
static void group_took(double started) {
    printf("  (%.1f s)\n", (bench_now_ns() - started) / 1e9);
    fflush(stdout);
}

static void make_certs(void) {
    char *argv[] = {"/bin/sh", BENCH_MAKE_CERTS_SCRIPT, cfg.tmp, NULL};
    child certs;
    if (!child_spawn(argv, &certs)) {
        die("cannot run %s", BENCH_MAKE_CERTS_SCRIPT);
    }
    child_stop(&certs, 30000);
    snprintf(cfg.ca, sizeof cfg.ca, "%s/ca.pem", cfg.tmp);
    snprintf(cfg.server_cert, sizeof cfg.server_cert, "%s/server.pem", cfg.tmp);
    snprintf(cfg.server_key, sizeof cfg.server_key, "%s/server.key", cfg.tmp);
    if (access(cfg.server_key, R_OK) != 0) {
        die("make_certs.sh made no certificates in %s", cfg.tmp);
    }
}

static bool ipv6_loopback(void) {
    child probe;
    char address[300];
    char *argv[] = {BENCH_RAW_SERVER_PATH, "[::1]:0", NULL};
    if (!child_spawn(argv, &probe)) {
        return false;
    }
    bool ok = child_read_marker(&probe, "LISTENING ", address, sizeof address, 5000);
    child_stop(&probe, 2000);
    return ok;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--pingpong-peer") == 0) {
        return pingpong_peer_main(argc, argv);
    }
    cfg.self = "/proc/self/exe";
    cfg.out_dir = ".";
    cfg.command = "asylo_bench";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            cfg.quick = true;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            cfg.out_dir = argv[++i];
        } else if (strcmp(argv[i], "--command") == 0 && i + 1 < argc) {
            cfg.command = argv[++i];
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            cfg.only = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: %s [--quick] [--out DIR] [--command TEXT] [--only GROUP,...]\n"
                    "groups: sim remote throughput load provision process kvm growth-threads "
                    "growth-enclaves growth-payload (growth: all three)\n",
                    argv[0]);
            return 2;
        }
    }
    const char *tmpdir = getenv("TMPDIR");
    snprintf(cfg.tmp, sizeof cfg.tmp, "%s/asylo-bench-XXXXXX",
             tmpdir != NULL && tmpdir[0] ? tmpdir : "/tmp");
    if (mkdtemp(cfg.tmp) == NULL) {
        die("mkdtemp: %s", strerror(errno));
    }
    asylo_log_set_level(ASYLO_LOG_WARNING);
    double started = bench_now_ns();
    make_certs();
    cfg.ipv6 = ipv6_loopback();
    /* One gRPC runtime for the whole run: no init/shutdown between rows. */
    asylo__grpc_acquire();

    asylo_manager *manager;
    asylo_status status;
    check(asylo_manager_create(&manager, &status), &status, "creating the manager");
    long proxy_rss = -1, raw_rss_remote = -1, server_rss = -1, raw_rss_fresh = -1;
    if (group_enabled("sim")) {
        double group_start = bench_now_ns();
        bench_sim_calls(manager);
        group_took(group_start);
    }
    if (group_enabled("remote") || group_enabled("throughput")) {
        double group_start = bench_now_ns();
        bench_remote(manager, &proxy_rss, &raw_rss_remote);
        group_took(group_start);
    }
    if (group_enabled("load")) {
        double group_start = bench_now_ns();
        bench_load(manager);
        group_took(group_start);
    }
    if (group_enabled("provision")) {
        double group_start = bench_now_ns();
        bench_provisioning(&server_rss, &raw_rss_fresh);
        group_took(group_start);
    }
    if (proxy_rss > 0 || server_rss > 0) {
        printf("resident memory (MiB, VmRSS; one reading)\n");
    }
    if (proxy_rss > 0 && raw_rss_remote > 0) {
        samples subject = {0}, base = {0};
        samples_add(&subject, (double)proxy_rss);
        samples_add(&base, (double)raw_rss_remote);
        add_row("rss", "RSS asylo-remote-proxy, idle, enclave loaded", "MiB", 1.0 / 1024,
                "raw gRPC server process idle after the same traffic", &subject, &base, false, 0);
        samples_free(&subject);
        samples_free(&base);
    }
    if (server_rss > 0 && raw_rss_fresh > 0) {
        samples subject = {0}, base = {0};
        samples_add(&subject, (double)server_rss);
        samples_add(&base, (double)raw_rss_fresh);
        add_row("rss", "RSS asylo-provision-server, idle", "MiB", 1.0 / 1024,
                "raw gRPC server process idle, freshly started", &subject, &base, false, 0);
        samples_free(&subject);
        samples_free(&base);
    }
    if (group_enabled("process")) {
        double group_start = bench_now_ns();
        bench_process(manager);
        group_took(group_start);
    }
    if (group_enabled("kvm")) {
        double group_start = bench_now_ns();
        bench_kvm(manager);
        group_took(group_start);
    }
    if (group_enabled("growth-threads")) {
        double group_start = bench_now_ns();
        bench_growth_threads(manager);
        group_took(group_start);
    }
    if (group_enabled("growth-enclaves")) {
        double group_start = bench_now_ns();
        bench_growth_provision(manager);
        group_took(group_start);
    }
    if (group_enabled("growth-payload")) {
        double group_start = bench_now_ns();
        bench_growth_payload(manager);
        group_took(group_start);
    }
    asylo_manager_destroy(manager);
    asylo__grpc_release();
    bench_rmtree(cfg.tmp);
    write_outputs((bench_now_ns() - started) / 1e9);
    return 0;
}
