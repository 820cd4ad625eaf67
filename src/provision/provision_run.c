/* The life of an asylo-provision-server process (provision_run.h). */
#include "provision/provision_run.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "observability/health.h"
#include "observability/observability.h"
#include "transport/security_options.h"

#define DRAIN_GRACE_MS 10000

/* Each provision's result into the metrics (no-ops without --metrics_port). */
static void record_provision(void *context, asylo_code result, double seconds,
                             uint64_t image_bytes) {
    const asylo__observability *observability = context;
    asylo__metrics_record_provision(observability->metrics, result, seconds);
    if (result == ASYLO_OK) {
        asylo__metrics_add_image_bytes(observability->metrics, image_bytes);
    }
}

/* SIGTERM and SIGINT start the drain. */
static void *wait_for_signal(void *context) {
    sigset_t *signals = context;
    int signal_number = 0;
    sigwait(signals, &signal_number);
    asylo__log(ASYLO_LOG_INFO, "provision", NULL, 0, "%s: draining",
               signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
    return NULL;
}

int asylo__provision_server_run(const asylo__provision_server_options *options,
                                const char *health_address,
                                const asylo__observability_flags *observability_flags) {
    /* Only the waiter thread takes the stop signals (blocked before gRPC
     * starts threads); a client that vanishes must not kill us with SIGPIPE. */
    static sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    asylo_status status;
    char text[ASYLO_STATUS_MESSAGE_SIZE + 64];
    asylo__provision_server server;
    asylo__server *transport = NULL;
    asylo__observability observability;
    if (asylo__provision_server_init(&server, options, &status) != ASYLO_OK ||
        asylo__observability_start(observability_flags, "provision", &observability, &status) !=
            ASYLO_OK) {
        asylo__log(ASYLO_LOG_ERROR, "provision", NULL, 0, "cannot start: %s",
                   asylo_status_format(&status, text, sizeof text));
        asylo__provision_server_fini(&server);
        return 1;
    }
    server.on_provision = record_provision;
    server.on_provision_context = &observability;
    asylo__security_options security;
    asylo__security_from_public(&options->security, &security);
    asylo__server_options server_options = {.address = options->address, .security = &security};
    asylo__provision_server_transport_options(options, &server_options);
    if (asylo__server_create(&server_options, &transport, &status) != ASYLO_OK ||
        asylo__provision_server_add_methods(&server, transport, &status) != ASYLO_OK ||
        asylo__observability_add_health(&observability, transport,
                                        "asylo.remote.RemoteProxyProvisionServer",
                                        &status) != ASYLO_OK) {
        asylo__log(ASYLO_LOG_ERROR, "provision", NULL, 0, "cannot start: %s",
                   asylo_status_format(&status, text, sizeof text));
        asylo__server_shutdown(transport, 0);
        asylo__observability_stop(&observability);
        asylo__provision_server_fini(&server);
        return 1;
    }
    /* Plaintext on any address is fine here: health answers say nothing
     * secret and this listener serves nothing else. */
    asylo__server *health_server = NULL;
    asylo__security_options health_security = {.type = ASYLO__SECURITY_LOCAL,
                                               .allow_insecure_non_local = true};
    asylo__server_options health_options = {.address = health_address,
                                            .security = &health_security};
    if (health_address != NULL &&
        (asylo__server_create(&health_options, &health_server, &status) != ASYLO_OK ||
         asylo__health_register(observability.health, health_server, &status) != ASYLO_OK)) {
        asylo__log(ASYLO_LOG_ERROR, "provision", NULL, 0, "cannot start: --health_address: %s",
                   asylo_status_format(&status, text, sizeof text));
        asylo__server_shutdown(health_server, 0);
        asylo__server_shutdown(transport, 0);
        asylo__observability_stop(&observability);
        asylo__provision_server_fini(&server);
        return 1;
    }
    asylo__observability_set_serving(&observability, true);
    if (health_server != NULL) {
        printf("asylo-provision-server: health on %s\n", asylo__server_address(health_server));
    }
    printf("asylo-provision-server: listening on %s\n", asylo__server_address(transport));
    fflush(stdout);
    /* On unix: the port range is not used: proxies get sockets in the store. */
    char proxies[PATH_MAX + 64];
    if (strncmp(asylo__server_address(transport), "unix:", 5) == 0) {
        snprintf(proxies, sizeof proxies, "unix sockets in %s/proxies", options->storage_directory);
    } else {
        snprintf(proxies, sizeof proxies, "ports %u-%u", options->proxy_port_low,
                 options->proxy_port_high);
    }
    asylo__log(ASYLO_LOG_INFO, "provision", NULL, 0,
               "listening on %s (%s security), proxies on %s, store %s",
               asylo__server_address(transport),
               options->security.type == ASYLO_SECURITY_SSL ? "ssl" : "local", proxies,
               options->storage_directory);

    pthread_t signal_thread;
    pthread_create(&signal_thread, NULL, wait_for_signal, &signals);
    pthread_join(signal_thread, NULL);

    /* Probes see NOT_SERVING while proxies finish their enclaves. */
    asylo__observability_set_serving(&observability, false);
    asylo__provision_server_drain(&server, DRAIN_GRACE_MS);
    asylo__server_shutdown(transport, 1000);
    asylo__server_shutdown(health_server, 0);
    asylo__observability_stop(&observability);
    asylo__provision_server_fini(&server);
    asylo__log(ASYLO_LOG_INFO, "provision", NULL, 0, "drained and stopped");
    return 0;
}
