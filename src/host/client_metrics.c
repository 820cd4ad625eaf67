/* One metrics endpoint for every enclave of this process that asked for
 * it (client_metrics.h), refcounted by those loads. The registry lives as long as the process
 * (freed at exit when unused), so counters never go back to zero while it
 * runs, even when the endpoint stops and starts again. */
#include "host/client_metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylo/remote.h"
#include "common/log.h"
#include "host/client_internal.h"
#include "metrics/call_cache.h"
#include "metrics/process.h"
#include "metrics/server.h"

/* A client's part: its series, looked up once. */
typedef struct asylo__client_metrics {
    asylo__call_cache calls;
} asylo__client_metrics;

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

/* True when the running endpoint is not what was asked for. */
static bool differs(const char *address, int port) {
    const char *bound = asylo__metrics_server_address(server);
    if (port > 0 && port != asylo__metrics_server_port(server)) {
        return true;
    }
    const char *wanted = address != NULL && address[0] ? address : ASYLO__METRICS_DEFAULT_ADDRESS;
    /* bound is "A:port" or "[A]:port"; compare the address part. */
    size_t length = strlen(wanted);
    if (bound[0] == '[' && wanted[0] != '[') {
        return strncmp(bound + 1, wanted, length) != 0 || bound[1 + length] != ']';
    }
    return strncmp(bound, wanted, length) != 0 || bound[length] != ':';
}

/* Starts or joins the endpoint; *out gets the metrics. */
static asylo_code acquire(const char *address, int port, const char *enclave,
                          const asylo__std_metrics **out, asylo_status *status) {
    asylo_code code = ASYLO_OK;
    pthread_mutex_lock(&metrics_lock);
    if (registry == NULL) {
        code = create_registry(status);
    }
    if (code == ASYLO_OK && server == NULL) {
        code = asylo__metrics_server_start(registry, address, port, &server, status);
        if (code == ASYLO_OK) {
            asylo__log(ASYLO_LOG_INFO, "host", enclave, 0,
                       "metrics: serving http://%s/metrics for this process's enclaves",
                       asylo__metrics_server_address(server));
        } else {
            asylo_status_prefix(status, "metrics endpoint for enclave '%s'", enclave);
        }
    } else if (code == ASYLO_OK && differs(address, port)) {
        asylo__log(ASYLO_LOG_WARNING, "host", enclave, 0,
                   "metrics: this process already serves metrics at http://%s/metrics; the "
                   "enclave shares it (one endpoint per process)",
                   asylo__metrics_server_address(server));
    }
    if (code == ASYLO_OK) {
        users++;
        *out = &metrics;
    }
    pthread_mutex_unlock(&metrics_lock);
    return code;
}

static void release(void) {
    asylo__metrics_server *stopping = NULL;
    pthread_mutex_lock(&metrics_lock);
    if (users > 0 && --users == 0) {
        stopping = server;
        server = NULL;
    }
    pthread_mutex_unlock(&metrics_lock);
    if (stopping != NULL) {
        asylo__log(ASYLO_LOG_INFO, "host", NULL, 0,
                   "metrics: the last enclave that asked for it is gone; endpoint %s stopped",
                   asylo__metrics_server_address(stopping));
        asylo__metrics_server_destroy(stopping);
    }
}

asylo_code asylo__client_metrics_serve(void *opaque, const char *address, int port,
                                       asylo_status *status) {
    asylo_client *client = opaque;
    if (client->metrics != NULL) {
        return asylo_status_ok(status); /* asked twice: one share is enough */
    }
    client->metrics = calloc(1, sizeof *client->metrics);
    if (client->metrics == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory for the metrics of enclave '%s'", client->name);
    }
    const asylo__std_metrics *shared;
    asylo_code code = acquire(address, port, client->name, &shared, status);
    if (code != ASYLO_OK) {
        free(client->metrics);
        client->metrics = NULL;
        return code;
    }
    asylo__call_cache_init(&client->metrics->calls, shared);
    asylo__metrics_enclaves_loaded_add(shared, 1);
    return asylo_status_ok(status);
}

void asylo__client_metrics_on_stat(void *opaque, const asylo__backend_stat *stat) {
    asylo_client *client = opaque;
    asylo__client_metrics *own = client->metrics;
    if (own == NULL) {
        return;
    }
    switch (stat->kind) {
    case ASYLO__STAT_ENTER:
    case ASYLO__STAT_EXIT:
        /* The series count bytes as the host sees them: received is what
         * came out of the enclave, sent what went into it. */
        asylo__call_cache_record(
            &own->calls, stat->kind == ASYLO__STAT_ENTER ? ASYLO__CALL_ENTER : ASYLO__CALL_EXIT,
            stat->selector, stat->code, stat->seconds, stat->bytes_out, stat->bytes_in);
        break;
    case ASYLO__STAT_CHANNELS:
        asylo__metrics_active_streams_add(own->calls.metrics, stat->channels_delta);
        break;
    default:
        break;
    }
}

void asylo__client_metrics_release(asylo_client *client) {
    asylo__client_metrics *own = client->metrics;
    if (own == NULL) {
        return;
    }
    client->metrics = NULL;
    asylo__metrics_enclaves_loaded_add(own->calls.metrics, -1);
    asylo__call_cache_fini(&own->calls);
    free(own);
    release();
}

asylo_code asylo_remote_metrics_address(char *address, size_t size, asylo_status *status) {
    asylo_code code;
    pthread_mutex_lock(&metrics_lock);
    if (server == NULL) {
        code = asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_API,
                                "no metrics endpoint runs in this process (set "
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
