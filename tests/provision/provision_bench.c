/* provision_bench: time to provision and load an enclave image through
 * asylo-provision-server (not a test; tests/provision/provision_bench.sh
 * runs it for 1 MiB and 16 MiB images over loopback).
 *
 *   provision_bench --server=ADDR --image=PATH [--runs=N] [security flags]
 *
 * One run: asylo_manager_load with backend remote through the provision
 * server (hash, upload, store, proxy start, connect, load, initialize), then
 * one call into the enclave; the clock stops when that call returns. The
 * enclave is then destroyed (which releases the proxy) outside the clock.
 * Prints every run and the median in milliseconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "asylo/asylo.h"
#include "asylo/remote.h"
#include "test_enclave_selectors.h"

#define MAX_RUNS 100

static double now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *server = NULL;
    const char *image = NULL;
    int runs = 5;
    asylo_provision_server_options options;
    asylo_provision_server_options_init(&options);
    for (int i = 1; i < argc; i++) {
        int consumed = 0;
        asylo_status status;
        if (asylo_security_parse_flag(&options.security, argv[i], NULL, &consumed, &status) !=
            ASYLO_OK) {
            fprintf(stderr, "provision_bench: %s\n", status.message);
            return 2;
        }
        if (consumed > 0) {
            continue;
        }
        if (strncmp(argv[i], "--server=", 9) == 0) {
            server = argv[i] + 9;
        } else if (strncmp(argv[i], "--image=", 8) == 0) {
            image = argv[i] + 8;
        } else if (strncmp(argv[i], "--runs=", 7) == 0) {
            runs = atoi(argv[i] + 7);
        } else {
            fprintf(stderr, "provision_bench: unknown flag '%s'\n", argv[i]);
            return 2;
        }
    }
    if (server == NULL || image == NULL || runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "usage: provision_bench --server=ADDR --image=PATH [--runs=1..100]\n");
        return 2;
    }
    options.server_address = server;
    options.timeout_ms = 120000;
    struct stat info;
    if (stat(image, &info) != 0) {
        perror(image);
        return 2;
    }
    asylo_manager *manager = NULL;
    asylo_status status;
    if (asylo_manager_create(&manager, &status) != ASYLO_OK) {
        fprintf(stderr, "provision_bench: %s\n", status.message);
        return 1;
    }
    double times[MAX_RUNS];
    int result = 0;
    for (int run = 0; run < runs && result == 0; run++) {
        asylo_remote_provision *provision = NULL;
        asylo_client *client = NULL;
        asylo_buffer output = {0};
        double start = now_ms();
        asylo_code code = asylo_provision_server_provision_create(&options, &provision, &status);
        if (code == ASYLO_OK) {
            asylo_remote_config remote;
            asylo_remote_config_init(&remote);
            remote.provision = provision;
            remote.security = options.security;
            remote.provision_timeout_ms = 120000;
            asylo_load_config load;
            asylo_load_config_init(&load);
            load.name = "provision_bench";
            load.backend = "remote";
            load.enclave_path = image;
            load.backend_config = &remote;
            code = asylo_manager_load(manager, &load, &client, &status);
        }
        if (code == ASYLO_OK) {
            code = asylo_client_call(client, TEST_COUNTER, NULL, 0, &output, &status);
        }
        times[run] = now_ms() - start;
        asylo_buffer_free(&output);
        if (code != ASYLO_OK) {
            fprintf(stderr, "provision_bench: run %d: %s: %s\n", run + 1, asylo_code_name(code),
                    status.message);
            result = 1;
        } else {
            printf("run %d: %.1f ms\n", run + 1, times[run]);
        }
        if (client != NULL) {
            asylo_manager_destroy_client(manager, client, NULL, 0, NULL);
        }
        asylo_remote_provision_destroy(provision);
    }
    if (result == 0) {
        qsort(times, (size_t)runs, sizeof times[0], compare);
        double median = runs % 2 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
        printf("image %s (%lld bytes): provision + load + first call, median of %d: %.1f ms "
               "(min %.1f, max %.1f)\n",
               image, (long long)info.st_size, runs, median, times[0], times[runs - 1]);
    }
    asylo_manager_destroy(manager);
    return result;
}
