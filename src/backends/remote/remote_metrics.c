/* One metrics endpoint for every remote enclave of this process, refcounted
 * by the loads that asked for it. The registry lives as long as the process
 * (freed at exit when unused), so counters never go back to zero while it
 * runs, even when the endpoint stops and starts again. */
#include "backends/remote/remote_metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "metrics/process.h"
#include "metrics/server.h"

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static asylo__metrics_registry *registry;
static asylo__std_metrics metrics;
static asylo__metrics_server *server;
static size_t users;

static asylo_code create_registry(asylo_status *status) {
    asylo_code code = asylo__metrics_registry_create(&registry, status);
    if (code == ASYLO_OK) {
        code = asylo__std_metrics_register(registry, &metrics, status);
    }
    if (code == ASYLO_OK) {
        code = asylo__metrics_register_process(registry, status);
    }
    if (code != ASYLO_OK) {
        asylo__metrics_registry_destroy(registry);
        registry = NULL;
        memset(&metrics, 0, sizeof metrics);
    }
    return code;
}

/* True when the running endpoint is not what config asked for. */
static bool differs(const asylo_remote_config *config) {
    const char *bound = asylo__metrics_server_address(server);
    int port = asylo__metrics_server_port(server);
    if (config->metrics_port > 0 && config->metrics_port != port) {
        return true;
    }
    const char *wanted = config->metrics_address != NULL && config->metrics_address[0]
                             ? config->metrics_address
                             : ASYLO__METRICS_DEFAULT_ADDRESS;
    /* bound is "A:port" or "[A]:port"; compare the address part. */
    size_t length = strlen(wanted);
    if (bound[0] == '[' && wanted[0] != '[') {
        return strncmp(bound + 1, wanted, length) != 0 || bound[1 + length] != ']';
    }
    return strncmp(bound, wanted, length) != 0 || bound[length] != ':';
}

asylo_code asylo__remote_metrics_acquire(const asylo_remote_config *config, const char *enclave,
                                         const asylo__std_metrics **out, asylo_status *status) {
    *out = NULL;
    if (config->metrics_port == 0) {
        return asylo_status_ok(status);
    }
    if (config->metrics_port < ASYLO_REMOTE_METRICS_ANY_PORT || config->metrics_port > 65535) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "remote config for '%s': metrics_port %d is not 0 (off), a port "
                                "1..65535 or ASYLO_REMOTE_METRICS_ANY_PORT",
                                enclave, config->metrics_port);
    }
    asylo_code code = ASYLO_OK;
    pthread_mutex_lock(&metrics_lock);
    if (registry == NULL) {
        code = create_registry(status);
    }
    if (code == ASYLO_OK && server == NULL) {
        code = asylo__metrics_server_start(
            registry, config->metrics_address,
            config->metrics_port == ASYLO_REMOTE_METRICS_ANY_PORT ? 0 : config->metrics_port,
            &server, status);
        if (code == ASYLO_OK) {
            asylo__log(ASYLO_LOG_INFO, "remote", enclave, 0,
                       "metrics: serving http://%s/metrics for this process's remote enclaves",
                       asylo__metrics_server_address(server));
        } else {
            asylo_status_prefix(status, "remote config for '%s': metrics endpoint", enclave);
        }
    } else if (code == ASYLO_OK && differs(config)) {
        asylo__log(ASYLO_LOG_WARNING, "remote", enclave, 0,
                   "metrics: this process already serves remote metrics at http://%s/metrics; "
                   "the enclave shares it (one endpoint per process)",
                   asylo__metrics_server_address(server));
    }
    if (code == ASYLO_OK) {
        users++;
        *out = &metrics;
    }
    pthread_mutex_unlock(&metrics_lock);
    return code;
}

void asylo__remote_metrics_release(void) {
    asylo__metrics_server *stopping = NULL;
    pthread_mutex_lock(&metrics_lock);
    if (users > 0 && --users == 0) {
        stopping = server;
        server = NULL;
    }
    pthread_mutex_unlock(&metrics_lock);
    if (stopping != NULL) {
        asylo__log(ASYLO_LOG_INFO, "remote", NULL, 0,
                   "metrics: the last remote enclave that asked for it is gone; endpoint %s "
                   "stopped",
                   asylo__metrics_server_address(stopping));
        asylo__metrics_server_destroy(stopping);
    }
}

asylo_code asylo_remote_metrics_address(char *address, size_t size, asylo_status *status) {
    asylo_code code;
    pthread_mutex_lock(&metrics_lock);
    if (server == NULL) {
        code = asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_API,
                                "no remote metrics endpoint runs in this process (set "
                                "asylo_remote_config.metrics_port on a remote load)");
    } else {
        const char *bound = asylo__metrics_server_address(server);
        if (address == NULL || strlen(bound) >= size) {
            code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                    "the metrics address needs %zu bytes", strlen(bound) + 1);
        } else {
            snprintf(address, size, "%s", bound);
            code = asylo_status_ok(status);
        }
    }
    pthread_mutex_unlock(&metrics_lock);
    return code;
}

/* At exit (or dlclose of the library), free what no one uses any more. */
__attribute__((destructor)) static void free_unused_registry(void) {
    pthread_mutex_lock(&metrics_lock);
    if (users == 0 && server == NULL) {
        asylo__metrics_registry_destroy(registry);
        registry = NULL;
        memset(&metrics, 0, sizeof metrics);
    }
    pthread_mutex_unlock(&metrics_lock);
}
