/* Flags, endpoint and health for server binaries; see observability.h. */
#include "observability/observability.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "metrics/process.h"

void asylo__observability_flags_init(asylo__observability_flags *flags) {
    flags->metrics_port = ASYLO__OBSERVABILITY_NO_METRICS;
    flags->metrics_address = NULL;
}

/* The value of "--name=value" or "--name value"; *consumed set when it is. */
static const char *flag_value(const char *argument, const char *next, const char *name,
                              int *consumed) {
    size_t length = strlen(name);
    if (strncmp(argument, name, length) != 0) {
        return NULL;
    }
    if (argument[length] == '=') {
        *consumed = 1;
        return argument + length + 1;
    }
    if (argument[length] == '\0') {
        *consumed = 2;
        return next;
    }
    return NULL;
}

asylo_code asylo__observability_parse_flag(asylo__observability_flags *flags, const char *argument,
                                           const char *next, int *consumed, asylo_status *status) {
    *consumed = 0;
    const char *value;
    if ((value = flag_value(argument, next, "--metrics_port", consumed)) != NULL ||
        *consumed != 0) {
        char *end = NULL;
        errno = 0;
        long port = value != NULL ? strtol(value, &end, 10) : -1;
        if (value == NULL || value[0] == '\0' || *end != '\0' || errno != 0 || port < 0 ||
            port > 65535) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "--metrics_port must be a port number from 0 (a free port) "
                                    "to 65535, not '%s'",
                                    value != NULL ? value : "(missing)");
        }
        flags->metrics_port = (int)port;
        return asylo_status_ok(status);
    }
    if ((value = flag_value(argument, next, "--metrics_address", consumed)) != NULL ||
        *consumed != 0) {
        if (value == NULL || value[0] == '\0') {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "--metrics_address needs a numeric IPv4 or IPv6 address");
        }
        flags->metrics_address = value;
        return asylo_status_ok(status);
    }
    return asylo_status_ok(status);
}

const char *asylo__observability_usage(void) {
    return "  --metrics_port=N        serve Prometheus metrics on http://ADDR:N/metrics\n"
           "                          (0: a free port, logged); default: no endpoint\n"
           "  --metrics_address=ADDR  numeric address for that endpoint (default 127.0.0.1;\n"
           "                          0.0.0.0 or :: for every interface; no TLS, no auth)\n";
}

asylo_code asylo__observability_start(const asylo__observability_flags *flags,
                                      const char *component, asylo__observability *observability,
                                      asylo_status *status) {
    memset(observability, 0, sizeof *observability);
    if (flags == NULL || flags->metrics_port < 0) {
        return asylo_status_ok(status);
    }
    asylo_code code = asylo__metrics_registry_create(&observability->registry, status);
    if (code == ASYLO_OK) {
        code = asylo__std_metrics_register(observability->registry, &observability->std, status);
    }
    if (code == ASYLO_OK) {
        code = asylo__metrics_register_process(observability->registry, status);
    }
    if (code == ASYLO_OK) {
        code = asylo__metrics_server_start(observability->registry, flags->metrics_address,
                                           flags->metrics_port, &observability->server, status);
        if (code != ASYLO_OK) {
            asylo_status_prefix(status, "--metrics_port");
        }
    }
    if (code != ASYLO_OK) {
        asylo__observability_stop(observability);
        return code;
    }
    observability->metrics = &observability->std;
    snprintf(observability->url, sizeof observability->url, "http://%s/metrics",
             asylo__metrics_server_address(observability->server));
    /* The endpoint logs "serving URL" itself. */
    (void)component;
    return asylo_status_ok(status);
}

asylo_code asylo__observability_add_health(asylo__observability *observability,
                                           asylo__server *server, const char *service,
                                           asylo_status *status) {
    if (observability->health != NULL) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                "the health service is already registered");
    }
    asylo__health *health;
    asylo_code code = asylo__health_create(&health, status);
    if (code != ASYLO_OK) {
        return code;
    }
    if (service != NULL && service[0] != '\0') {
        code = asylo__health_add_service(health, service, status);
    }
    if (code == ASYLO_OK) {
        code = asylo__health_register(health, server, status);
    }
    if (code != ASYLO_OK) {
        asylo__health_destroy(health);
        return code;
    }
    observability->health = health;
    return asylo_status_ok(status);
}

void asylo__observability_set_serving(asylo__observability *observability, bool serving) {
    asylo__health_set_serving(observability->health, serving);
}

void asylo__observability_stop(asylo__observability *observability) {
    asylo__metrics_server_destroy(observability->server);
    observability->server = NULL;
    asylo__metrics_registry_destroy(observability->registry);
    observability->registry = NULL;
    observability->metrics = NULL;
    memset(&observability->std, 0, sizeof observability->std);
    asylo__health_destroy(observability->health);
    observability->health = NULL;
    observability->url[0] = '\0';
}
