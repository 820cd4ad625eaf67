/* Round-trip time of a 64-byte asylo_client_run over the remote backend
 * (local provisioning, test enclave, one host thread), per transport:
 * 127.0.0.1 with local security, unix: with local security, 127.0.0.1 with
 * ssl (mutual TLS), and sim for reference. Prints median, p90 and p99.
 *
 *   remote_rtt_bench [CALLS [WARMUP]]     defaults 5000 and 500 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asylo/asylo.h"
#include "remote_util.h"

static int compare(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static int measure(const char *label, const char *backend, const char *listen, bool ssl,
                   const char *certs, int calls, int warmup) {
    util_remote remote = {0};
    asylo_status status;
    bool is_remote = strcmp(backend, "remote") == 0;
    if (is_remote && !util_remote_setup(&remote, ASYLO_PROXY_PATH, listen, ssl, certs, &status)) {
        fprintf(stderr, "%s: %s\n", label, util_status_text(&status));
        return 1;
    }
    asylo_manager *manager;
    asylo_client *client;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "bench";
    config.backend = backend;
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = is_remote ? &remote.config : NULL;
    if (asylo_manager_create(&manager, &status) != ASYLO_OK ||
        asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fprintf(stderr, "%s: %s\n", label, util_status_text(&status));
        return 1;
    }
    uint8_t input[64];
    memset(input, 0x5a, sizeof input);
    int64_t *samples = calloc((size_t)calls, sizeof *samples);
    int failures = 0;
    for (int i = 0; i < warmup + calls; i++) {
        asylo_buffer output = {0};
        int64_t start = now_ns();
        asylo_code code = asylo_client_run(client, input, sizeof input, &output, &status);
        int64_t took = now_ns() - start;
        if (code != ASYLO_OK || output.size != sizeof input) {
            failures++;
        }
        asylo_buffer_free(&output);
        if (i >= warmup) {
            samples[i - warmup] = took;
        }
    }
    qsort(samples, (size_t)calls, sizeof *samples, compare);
    printf("%-26s median %7.1f us  p90 %7.1f us  p99 %7.1f us  (%d calls, %d failed)\n", label,
           samples[calls / 2] / 1e3, samples[calls * 9 / 10] / 1e3, samples[calls * 99 / 100] / 1e3,
           calls, failures);
    free(samples);
    asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    return failures > 0;
}

int main(int argc, char **argv) {
    int calls = argc > 1 ? atoi(argv[1]) : 5000;
    int warmup = argc > 2 ? atoi(argv[2]) : 500;
    if (calls < 10 || warmup < 0) {
        fprintf(stderr, "usage: %s [CALLS>=10 [WARMUP]]\n", argv[0]);
        return 2;
    }
    asylo_log_set_level(ASYLO_LOG_WARNING);
    char dir[UTIL_PATH_SIZE];
    if (!util_make_temp_dir("asylo-rtt-bench", dir, sizeof dir) ||
        !util_make_certs(MAKE_CERTS_SCRIPT, dir)) {
        return 1;
    }
    int failed = 0;
    failed += measure("sim (reference)", "sim", NULL, false, NULL, calls, warmup);
    failed +=
        measure("remote 127.0.0.1 local", "remote", "127.0.0.1:0", false, NULL, calls, warmup);
    failed += measure("remote unix: local", "remote", "unix:", false, NULL, calls, warmup);
    failed +=
        measure("remote 127.0.0.1 ssl(mTLS)", "remote", "127.0.0.1:0", true, dir, calls, warmup);
    util_rmtree(dir);
    failed += util_children_report("at exit") != 0;
    return failed == 0 ? 0 : 1;
}
