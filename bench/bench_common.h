/* What every group of asylo_bench shares: the run's configuration, the rows
 * and notes of the table and their output files, and the pieces each group
 * needs to load the bench enclave. The groups live in their own files
 * (bench_main.c: sim, remote, load, provision; bench_process.c;
 * bench_kvm.c; bench_growth.c). */
#ifndef ASYLO_BENCH_COMMON_H
#define ASYLO_BENCH_COMMON_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "asylo/asylo.h"
#include "bench_util.h"
#include "raw_grpc.h"

#define MIB ((size_t)1 << 20)

/* ---- configuration ---- */

typedef struct bench_config {
    bool quick;
    const char *out_dir;
    const char *command;
    const char *only;
    const char *self; /* this binary (/proc/self/exe), for helper processes */
    char tmp[PATH_MAX];
    char ca[PATH_MAX + 32], server_cert[PATH_MAX + 32], server_key[PATH_MAX + 32];
    bool ipv6;
} bench_config;

extern bench_config cfg;

/* Whether --only names the group (every group without --only; "growth"
 * names every growth-... group). */
bool group_enabled(const char *group);
/* Prints the message, kills the helper processes, removes the temporary
 * directory and exits 1. */
__attribute__((format(printf, 1, 2), noreturn)) void die(const char *format, ...);

/* ---- rows ---- */

typedef struct row {
    char group[32];
    char name[96];
    char unit[16];
    char baseline[200];
    double subject_median, subject_tail, baseline_median, baseline_tail;
    size_t subject_count, baseline_count;
    bool higher_is_better;
    double target; /* on the ratio subject/baseline; 0: none */
    /* Absolute goals on the subject, in the row's unit; 0: none. */
    double median_limit, tail_limit;
    /* Payload bytes of a payload-sweep row (the plot's x axis); 0: none. */
    size_t bytes;
} row;

/* Adds a row from the sample sets and prints it; the tail is p99 (or p1 when
 * higher is better: the worst 1%). Values are scaled by `scale` into `unit`.
 * Returns the row so a caller can add absolute goals or the payload size
 * (then call row_print_verdict), or NULL when the table is full. */
row *add_row(const char *group, const char *name, const char *unit, double scale,
             const char *baseline, const samples *subject, const samples *base,
             bool higher_is_better, double target);
/* A row with absolute goals on the subject (in `unit`; 0: none) besides the
 * ratio target; lower is better. */
row *add_row_absolute(const char *group, const char *name, const char *unit, double scale,
                      const char *baseline, const samples *subject, const samples *base,
                      double target, double median_limit, double tail_limit);
/* "met", "MISSED" or "" (no goal) over every goal of the row. */
const char *row_verdict(const row *r);
void add_note(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* "64 B", "4 KiB", "16.0 MiB". */
const char *size_label(size_t size, char *text, size_t text_size);

/* Writes DIR/results.csv, results.json and RESULTS.md, and prints the table. */
void write_outputs(double seconds);

/* ---- the bench enclave ---- */

/* The bench's host exit handler: echoes its input. */
extern const asylo_exit_handler echo_handler;
/* Dies with the status unless code is OK. */
void check(asylo_code code, const asylo_status *status, const char *what);
/* A load config for the bench enclave with echo_handler. */
void load_config_for(asylo_load_config *config, const char *name, const char *backend,
                     const char *image, const void *backend_config);
/* Input for the exit-loop entry: u32 count (little-endian) at input[0..3]. */
void put_u32(uint8_t *bytes, uint32_t value);

/* ---- remote pieces (bench_main.c), shared with the growth rows ---- */

typedef struct remote_enclave {
    asylo_remote_provision *provision;
    asylo_remote_config remote;
    asylo_client *client;
} remote_enclave;

asylo__security_options raw_client_security(bool ssl);
/* The raw gRPC server on an address like the proxy's ("unix:" for a socket
 * in the temporary directory). */
void raw_server_start(const char *listen, bool ssl, child *server, char *address,
                      size_t address_size);
void remote_load(asylo_manager *manager, const char *name, const char *listen, bool ssl,
                 remote_enclave *enclave);
void remote_unload(asylo_manager *manager, remote_enclave *enclave);
void raw_round_trip(raw_stream *stream, const uint8_t *input, size_t size);
void remote_round_trip(asylo_client *client, const uint8_t *input, size_t size);

/* ---- the other groups ---- */

/* process rows (bench_process.c). */
void bench_process(asylo_manager *manager);
/* kvm rows (bench_kvm.c); a note where /dev/kvm is unusable. */
void bench_kvm(asylo_manager *manager);
/* The payload sweep of one backend (growth-payload rows): time per byte at
 * each of sizes[0..count) against the backend's baseline at that size. */
void bench_sim_payload(asylo_manager *manager, const size_t *sizes, size_t count);
void bench_process_payload(asylo_manager *manager, const size_t *sizes, size_t count);
void bench_kvm_payload(asylo_manager *manager, const size_t *sizes, size_t count);
void bench_remote_payload(asylo_manager *manager, const size_t *sizes, size_t count);
/* Growth rows (bench_growth.c): remote threads, enclaves per provision
 * server, payload sweep on every backend. */
void bench_growth_threads(asylo_manager *manager);
void bench_growth_provision(asylo_manager *manager);
void bench_growth_payload(asylo_manager *manager);

#endif
