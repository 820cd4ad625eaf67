/* A demo of the metrics endpoint: registers the standard asylo families and
 * the process metrics, records some fixed values, prints where it serves and
 * keeps recording a call every 100 ms until SIGTERM/SIGINT or --seconds.
 *
 *   metrics_demo [--metrics_address ADDR] [--metrics_port PORT] [--seconds N]
 *
 * Fixed values (the prometheus test queries them):
 *   asylo_calls_total{direction="enter",selector="4096",code="OK"} 42
 *   asylo_enclaves_loaded 2
 * First stdout line: "serving <address> <port>". */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/asylo_metrics.h"
#include "metrics/metrics.h"
#include "metrics/process.h"
#include "metrics/server.h"

static volatile sig_atomic_t stopping = 0;

static void on_signal(int signal_number) {
    (void)signal_number;
    stopping = 1;
}

static int usage(const char *program) {
    fprintf(stderr, "usage: %s [--metrics_address ADDR] [--metrics_port PORT] [--seconds N]\n",
            program);
    return 2;
}

int main(int argc, char **argv) {
    const char *address = NULL;
    int port = 9464;
    int seconds = 60;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--metrics_address") == 0) {
            address = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--metrics_port") == 0) {
            port = atoi(argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0) {
            seconds = atoi(argv[++i]);
        } else {
            return usage(argv[0]);
        }
    }
    asylo_status status;
    asylo__metrics_registry *registry = NULL;
    asylo__std_metrics metrics;
    asylo__metrics_server *server = NULL;
    if (asylo__metrics_registry_create(&registry, &status) != ASYLO_OK ||
        asylo__std_metrics_register(registry, &metrics, &status) != ASYLO_OK ||
        asylo__metrics_register_process(registry, &status) != ASYLO_OK ||
        asylo__metrics_server_start(registry, address, port, &server, &status) != ASYLO_OK) {
        char text[700];
        fprintf(stderr, "metrics_demo: %s\n", asylo_status_format(&status, text, sizeof text));
        asylo__metrics_registry_destroy(registry);
        return 1;
    }
    for (int i = 0; i < 42; i++) {
        asylo__metrics_record_call(&metrics, ASYLO__CALL_ENTER, 4096, ASYLO_OK, 0.001 * (i % 10),
                                   128, 64);
    }
    asylo__metrics_enclaves_loaded_add(&metrics, 2);
    printf("serving %s %d\n", asylo__metrics_server_address(server),
           asylo__metrics_server_port(server));
    fflush(stdout);

    struct sigaction action = {.sa_handler = on_signal};
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    for (long tick = 0; !stopping && tick < 10L * seconds; tick++) {
        asylo__metrics_record_call(&metrics, ASYLO__CALL_EXIT, 256, ASYLO_OK, 0.0002, 16, 16);
        struct timespec pause = {.tv_nsec = 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    asylo__metrics_server_destroy(server);
    asylo__metrics_registry_destroy(registry);
    return 0;
}
