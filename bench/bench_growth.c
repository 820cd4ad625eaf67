/* Growth rows (issue 15): how cost grows as work grows, each against the
 * same run's one-unit figure or the backend's baseline.
 *   growth-threads   remote calls from 1, 2, 8, 32, 64 host threads on one
 *                    enclave: throughput and latency against 1 thread,
 *                    windows alternating with the 1-thread window;
 *   growth-enclaves  1, 10, 100 enclaves (quick: 1, 2, 3) provisioned on one
 *                    asylo-provision-server: time per load, RSS per proxy,
 *                    idle CPU of everything, against 1 enclave;
 *   growth-payload   payload 64 B to 16 MiB on each backend, time per byte
 *                    against the backend's own baseline at the same size. */
#include <limits.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"

/* ---- remote threads ---- */

typedef struct growth_worker {
    pthread_t thread;
    asylo_client *client;
    pthread_barrier_t *start;
    atomic_bool *stop;
    const uint8_t *input;
    samples latency; /* us */
    long calls;
    double end_ns;
} growth_worker;

static void *growth_worker_main(void *argument) {
    growth_worker *worker = argument;
    pthread_barrier_wait(worker->start);
    long calls = 0;
    while (!atomic_load_explicit(worker->stop, memory_order_relaxed)) {
        double t0 = bench_now_ns();
        remote_round_trip(worker->client, worker->input, 64);
        samples_add(&worker->latency, (bench_now_ns() - t0) / 1e3);
        calls++;
    }
    worker->end_ns = bench_now_ns();
    worker->calls = calls;
    return NULL;
}

/* One window of `threads` callers; adds every call's latency to `latency`
 * and returns calls per second. */
static double growth_window(asylo_client *client, int threads, const uint8_t *input,
                            int duration_ms, samples *latency) {
    growth_worker *workers = calloc((size_t)threads, sizeof *workers);
    if (workers == NULL) {
        die("out of memory");
    }
    pthread_barrier_t start;
    atomic_bool stop = false;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++) {
        workers[i].client = client;
        workers[i].start = &start;
        workers[i].stop = &stop;
        workers[i].input = input;
        if (pthread_create(&workers[i].thread, NULL, growth_worker_main, &workers[i]) != 0) {
            die("cannot start caller thread %d of %d", i, threads);
        }
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
        end = workers[i].end_ns > end ? workers[i].end_ns : end;
        for (size_t j = 0; j < workers[i].latency.count; j++) {
            samples_add(latency, workers[i].latency.values[j]);
        }
        samples_free(&workers[i].latency);
    }
    pthread_barrier_destroy(&start);
    free(workers);
    return end > t0 ? (double)calls / ((end - t0) / 1e9) : 0;
}

void bench_growth_threads(asylo_manager *manager) {
    static const int thread_counts[] = {2, 8, 32, 64};
    uint8_t input[64];
    memset(input, 0x33, sizeof input);
    remote_enclave enclave;
    remote_load(manager, "bench-growth-threads", "127.0.0.1:0", false, &enclave);
    int rounds = cfg.quick ? 1 : 4;
    int duration_ms = cfg.quick ? 30 : 250;
    printf("growth: remote calls from N host threads on one enclave, tcp 127.0.0.1 local, 64 B "
           "(sample = one %d ms window; latency: one call)\n",
           duration_ms);
    for (int i = 0; i < 10; i++) {
        remote_round_trip(enclave.client, input, sizeof input);
    }
    for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
        int threads = thread_counts[t];
        samples rate = {0}, one_rate = {0}, latency = {0}, one_latency = {0};
        for (int r = 0; r < rounds; r++) {
            samples_add(&one_rate,
                        growth_window(enclave.client, 1, input, duration_ms, &one_latency));
            samples_add(&rate,
                        growth_window(enclave.client, threads, input, duration_ms, &latency));
        }
        char name[96];
        snprintf(name, sizeof name, "growth remote %d threads: throughput", threads);
        add_row("growth-threads", name, "calls/s", 1,
                "the same enclave called from 1 thread, windows alternating", &rate, &one_rate,
                true, 0);
        snprintf(name, sizeof name, "growth remote %d threads: latency", threads);
        add_row("growth-threads", name, "us", 1,
                "one call's latency from 1 thread, windows alternating", &latency, &one_latency,
                false, 0);
        samples_free(&rate);
        samples_free(&one_rate);
        samples_free(&latency);
        samples_free(&one_latency);
    }
    remote_unload(manager, &enclave);
}

/* ---- enclaves on one provision server ---- */

#define MAX_GROWTH_ENCLAVES 100

typedef struct provisioned {
    asylo_remote_provision *provision;
    asylo_remote_config remote;
    asylo_client *client;
} provisioned;

/* Loads enclave `index` through the provision server; ms. */
static double provisioned_load(asylo_manager *manager, const char *server_address, int index,
                               provisioned *enclave) {
    asylo_status status;
    asylo_provision_server_options options;
    asylo_provision_server_options_init(&options);
    options.server_address = server_address;
    check(asylo_provision_server_provision_create(&options, &enclave->provision, &status), &status,
          "provision-server client");
    asylo_remote_config_init(&enclave->remote);
    enclave->remote.provision = enclave->provision;
    enclave->remote.target_backend = "sim"; /* as the remote rows: the transport's cost */
    char name[64];
    snprintf(name, sizeof name, "bench-growth-%d", index);
    asylo_load_config config;
    load_config_for(&config, name, "remote", BENCH_ENCLAVE_PATH, &enclave->remote);
    double t0 = bench_now_ns();
    check(asylo_manager_load(manager, &config, &enclave->client, &status), &status,
          "loading an enclave through the provision server");
    double took = (bench_now_ns() - t0) / 1e6;
    uint8_t input[64] = {0};
    remote_round_trip(enclave->client, input, sizeof input);
    return took;
}

/* A destroy that fails (the proxy was lost while idle, say) is counted and
 * its first message kept for a note: the enclave is gone either way. */
static int lost_count;
static char lost_message[ASYLO_STATUS_MESSAGE_SIZE + 64];

static void provisioned_unload(asylo_manager *manager, provisioned *enclave) {
    asylo_status status;
    if (asylo_manager_destroy_client(manager, enclave->client, NULL, 0, &status) != ASYLO_OK) {
        if (lost_count++ == 0) {
            asylo_status_format(&status, lost_message, sizeof lost_message);
        }
    }
    asylo_remote_provision_destroy(enclave->provision);
    memset(enclave, 0, sizeof *enclave);
}

typedef struct fleet_figures {
    samples load_ms;
    samples rss_mib;      /* per proxy: one sample, the mean */
    samples idle_cpu;     /* ms of CPU per s, one sample */
    samples lost_percent; /* enclaves whose destroy failed after the idle time */
    size_t proxies;
} fleet_figures;

/* The server, its proxies and this process. */
typedef struct fleet_pids {
    pid_t pids[MAX_GROWTH_ENCLAVES + 16];
    double cpu_us[MAX_GROWTH_ENCLAVES + 16];
    size_t count;
} fleet_pids;

static void fleet_pids_read(pid_t server, fleet_pids *fleet) {
    size_t room = sizeof fleet->pids / sizeof fleet->pids[0];
    fleet->pids[0] = server;
    fleet->pids[1] = getpid();
    fleet->count = 2 + bench_children_of(server, fleet->pids + 2, room - 2);
    for (size_t i = 0; i < fleet->count; i++) {
        fleet->cpu_us[i] = bench_cpu_us(fleet->pids[i]);
    }
}

/* CPU used since `before` by the processes still alive (a process that
 * ended took its count with it). */
static double fleet_cpu_delta_us(const fleet_pids *before) {
    double total = 0;
    for (size_t i = 0; i < before->count; i++) {
        double now = bench_cpu_us(before->pids[i]);
        if (now >= before->cpu_us[i]) {
            total += now - before->cpu_us[i];
        }
    }
    return total;
}

/* N enclaves loaded one after the other, then measured idle, then unloaded;
 * returns how many failed to destroy. */
static int fleet_measure(asylo_manager *manager, const char *address, pid_t server, int count,
                         provisioned *enclaves, fleet_figures *figures) {
    for (int i = 0; i < count; i++) {
        samples_add(&figures->load_ms, provisioned_load(manager, address, i, &enclaves[i]));
    }
    bench_sleep_ms(cfg.quick ? 50 : 500);
    pid_t proxies[MAX_GROWTH_ENCLAVES + 16];
    size_t found = bench_children_of(server, proxies, sizeof proxies / sizeof proxies[0]);
    long total_kib = 0;
    for (size_t i = 0; i < found; i++) {
        long kib = bench_rss_kib(proxies[i]);
        total_kib += kib > 0 ? kib : 0;
    }
    figures->proxies = found;
    if (found > 0) {
        samples_add(&figures->rss_mib, (double)total_kib / 1024.0 / (double)found);
    }
    int window_ms = cfg.quick ? 200 : 2000;
    static fleet_pids fleet;
    fleet_pids_read(server, &fleet);
    double t0 = bench_now_ns();
    bench_sleep_ms(window_ms);
    double used_us = fleet_cpu_delta_us(&fleet);
    double seconds = (bench_now_ns() - t0) / 1e9;
    samples_add(&figures->idle_cpu, used_us / 1e3 / seconds);
    int lost_before = lost_count;
    for (int i = 0; i < count; i++) {
        provisioned_unload(manager, &enclaves[i]);
    }
    int lost = lost_count - lost_before;
    samples_add(&figures->lost_percent, 100.0 * lost / count);
    return lost;
}

static void fleet_free(fleet_figures *figures) {
    samples_free(&figures->load_ms);
    samples_free(&figures->rss_mib);
    samples_free(&figures->idle_cpu);
    samples_free(&figures->lost_percent);
}

void bench_growth_provision(asylo_manager *manager) {
    int counts[2] = {10, 100};
    if (cfg.quick) {
        counts[0] = 2;
        counts[1] = 3;
    }
    char store[PATH_MAX + 16], store_flag[PATH_MAX + 32], ports_flag[64], proxy_flag[PATH_MAX + 32];
    snprintf(store, sizeof store, "%s/growth-store", cfg.tmp);
    snprintf(store_flag, sizeof store_flag, "--storage_dir=%s", store);
    /* A port range of our own (the provisioning rows use 20000-59999 in
     * steps of 100): 256 ports in 60000-64999. */
    unsigned low = 60000 + (unsigned)(getpid() % 19) * 256;
    snprintf(ports_flag, sizeof ports_flag, "--proxy_ports=%u-%u", low, low + 255);
    snprintf(proxy_flag, sizeof proxy_flag, "--remote_proxy=%s", BENCH_PROXY_PATH);
    char *argv[] = {BENCH_PROVISION_SERVER_PATH,
                    "--address=127.0.0.1:0",
                    store_flag,
                    ports_flag,
                    proxy_flag,
                    "--max_proxies=128",
                    "--max_proxies_per_client=128",
                    "--log_level=warning",
                    NULL};
    child server;
    char address[300];
    if (!child_spawn(argv, &server) ||
        !child_read_marker(&server, "listening on ", address, sizeof address, 10000)) {
        die("asylo-provision-server did not start");
    }
    provisioned *enclaves = calloc(MAX_GROWTH_ENCLAVES, sizeof *enclaves);
    if (enclaves == NULL) {
        die("out of memory");
    }
    printf("growth: enclaves on one asylo-provision-server (sim behind each proxy)\n");
    /* Every load would warn that it accepts any enclave (no attestation
     * policy): once per load is noise here. */
    asylo_log_set_level(ASYLO_LOG_ERROR);
    /* The one-enclave figures: a few rounds of one, so the unit has a
     * median of its own. */
    fleet_figures one = {0};
    int unit_rounds = cfg.quick ? 1 : 5;
    for (int r = 0; r < unit_rounds; r++) {
        fleet_measure(manager, address, server.pid, 1, enclaves, &one);
    }
    for (int c = 0; c < 2; c++) {
        fleet_figures many = {0};
        fleet_measure(manager, address, server.pid, counts[c], enclaves, &many);
        if (many.proxies != (size_t)counts[c]) {
            add_note("growth %d enclaves: found %zu proxy processes under the server", counts[c],
                     many.proxies);
        }
        char name[96];
        snprintf(name, sizeof name, "growth %d enclaves on one provision server: load", counts[c]);
        add_row("growth-enclaves", name, "ms", 1,
                "one enclave alone on the same server (load, then unload)", &many.load_ms,
                &one.load_ms, false, 0);
        snprintf(name, sizeof name, "growth %d enclaves: RSS per proxy", counts[c]);
        add_row("growth-enclaves", name, "MiB", 1, "the proxy of one enclave alone", &many.rss_mib,
                &one.rss_mib, false, 0);
        snprintf(name, sizeof name, "growth %d enclaves: idle CPU, all processes", counts[c]);
        add_row("growth-enclaves", name, "ms/s", 1,
                "server, proxies and this host process idle with one enclave (clock ticks: 10 ms "
                "resolution)",
                &many.idle_cpu, &one.idle_cpu, false, 0);
        snprintf(name, sizeof name, "growth %d enclaves: lost while idle", counts[c]);
        add_row("growth-enclaves", name, "%", 1,
                "the same for one enclave alone: destroy failed after the idle time (the host "
                "lost the proxy's connection)",
                &many.lost_percent, &one.lost_percent, false, 0);
        fleet_free(&many);
    }
    fleet_free(&one);
    asylo_log_set_level(ASYLO_LOG_WARNING);
    if (lost_count > 0) {
        add_note("growth enclaves: %d enclaves (over all rounds) failed to destroy after idling; "
                 "the first: %.400s",
                 lost_count, lost_message);
    }
    free(enclaves);
    /* The provision server drains on SIGTERM (stdin means nothing to it). */
    kill(server.pid, SIGTERM);
    child_stop(&server, 10000);
}

/* ---- payload sweep ---- */

void bench_growth_payload(asylo_manager *manager) {
    static const size_t sizes[] = {64, 4096, 65536, MIB, 16 * MIB};
    /* Quick: the small sizes only. */
    size_t count = cfg.quick ? 3 : sizeof sizes / sizeof sizes[0];
    printf("growth: payload sweep, time per byte (ns/B; sample = one call)\n");
    bench_sim_payload(manager, sizes, count);
    bench_process_payload(manager, sizes, count);
    bench_kvm_payload(manager, sizes, count);
    bench_remote_payload(manager, sizes, count);
}
