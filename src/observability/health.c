/* grpc.health.v1.Health/Check; see health.h. */
#include "observability/health.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* A health check is one small message: a client that sends nothing in this
 * long is not a prober worth waiting for. */
#define RECEIVE_TIMEOUT_MS 5000
#define MAX_REQUEST_SIZE 4096

struct asylo__health {
    _Atomic int serving; /* asylo__serving_status */
    size_t service_count;
    char services[ASYLO__HEALTH_MAX_SERVICES][ASYLO__HEALTH_MAX_SERVICE_NAME];
};

asylo_code asylo__health_create(asylo__health **health, asylo_status *status) {
    *health = calloc(1, sizeof **health);
    if (*health == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory for the health service");
    }
    atomic_init(&(*health)->serving, ASYLO__HEALTH_NOT_SERVING);
    return asylo_status_ok(status);
}

asylo_code asylo__health_add_service(asylo__health *health, const char *service,
                                     asylo_status *status) {
    if (service == NULL || strlen(service) >= ASYLO__HEALTH_MAX_SERVICE_NAME) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "health service name missing or longer than %d bytes",
                                ASYLO__HEALTH_MAX_SERVICE_NAME - 1);
    }
    if (health->service_count == ASYLO__HEALTH_MAX_SERVICES) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "at most %d health service names", ASYLO__HEALTH_MAX_SERVICES);
    }
    strcpy(health->services[health->service_count++], service);
    return asylo_status_ok(status);
}

void asylo__health_set_serving(asylo__health *health, bool serving) {
    if (health != NULL) {
        atomic_store(&health->serving, serving ? ASYLO__HEALTH_SERVING : ASYLO__HEALTH_NOT_SERVING);
    }
}

asylo__serving_status asylo__health_status(const asylo__health *health) {
    return health == NULL ? ASYLO__HEALTH_UNKNOWN
                          : (asylo__serving_status)atomic_load(&health->serving);
}

void asylo__health_destroy(asylo__health *health) {
    free(health);
}

static bool read_varint(const uint8_t *data, size_t size, size_t *at, uint64_t *value) {
    *value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*at >= size) {
            return false;
        }
        uint8_t byte = data[(*at)++];
        *value |= (uint64_t)(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) {
            return true;
        }
    }
    return false;
}

asylo_code asylo__health_parse_request(const uint8_t *data, size_t data_size, char *service,
                                       size_t size, asylo_status *status) {
    service[0] = '\0';
    size_t at = 0;
    while (at < data_size) {
        uint64_t tag;
        uint64_t length;
        if (!read_varint(data, data_size, &at, &tag) || (tag >> 3) == 0) {
            goto malformed;
        }
        switch (tag & 7) {
        case 0: /* varint */
            if (!read_varint(data, data_size, &at, &length)) {
                goto malformed;
            }
            break;
        case 1: /* 64-bit */
            if (data_size - at < 8) {
                goto malformed;
            }
            at += 8;
            break;
        case 2: /* length-delimited */
            if (!read_varint(data, data_size, &at, &length) || length > data_size - at) {
                goto malformed;
            }
            if (tag == ((1 << 3) | 2)) {
                if (length >= size || memchr(data + at, '\0', (size_t)length) != NULL) {
                    return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_TRANSPORT,
                                            "health check: service name too long or not text");
                }
                memcpy(service, data + at, (size_t)length);
                service[length] = '\0';
            }
            at += (size_t)length;
            break;
        case 5: /* 32-bit */
            if (data_size - at < 4) {
                goto malformed;
            }
            at += 4;
            break;
        default:
            goto malformed;
        }
    }
    return asylo_status_ok(status);
malformed:
    return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_TRANSPORT,
                            "health check: malformed HealthCheckRequest (%zu bytes)", data_size);
}

size_t asylo__health_encode_response(asylo__serving_status serving, uint8_t out[2]) {
    if (serving == ASYLO__HEALTH_UNKNOWN) {
        return 0;
    }
    out[0] = (1 << 3) | 0; /* field 1, varint */
    out[1] = (uint8_t)serving;
    return 2;
}

static bool known_service(const asylo__health *health, const char *service) {
    if (service[0] == '\0') {
        return true;
    }
    for (size_t i = 0; i < health->service_count; i++) {
        if (strcmp(health->services[i], service) == 0) {
            return true;
        }
    }
    return false;
}

static void serve_check(asylo__server_call *call, void *context) {
    asylo__health *health = context;
    uint8_t *request = NULL;
    size_t request_size = 0;
    asylo_status status;
    asylo_code code = asylo__server_call_receive_bytes(call, &request, &request_size,
                                                       RECEIVE_TIMEOUT_MS, &status);
    if (code != ASYLO_OK) {
        asylo__server_call_finish(
            call, code == ASYLO_OUT_OF_RANGE ? ASYLO_INVALID_ARGUMENT : code,
            code == ASYLO_OUT_OF_RANGE ? "health check: no request" : status.message, NULL);
        return;
    }
    char service[ASYLO__HEALTH_MAX_SERVICE_NAME];
    code =
        request_size > MAX_REQUEST_SIZE
            ? asylo_status_set(&status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_TRANSPORT,
                               "health check: request of %zu bytes is too large", request_size)
            : asylo__health_parse_request(request, request_size, service, sizeof service, &status);
    free(request);
    if (code != ASYLO_OK) {
        asylo__server_call_finish(call, code, status.message, NULL);
        return;
    }
    if (!known_service(health, service)) {
        asylo__server_call_finish(call, ASYLO_NOT_FOUND, "unknown service", NULL);
        return;
    }
    asylo__serving_status serving = asylo__health_status(health);
    uint8_t response[2];
    size_t response_size = asylo__health_encode_response(serving, response);
    asylo__log(ASYLO_LOG_DEBUG, "health", NULL, 0, "check of '%s' from %s: %s", service,
               asylo__server_call_peer(call),
               serving == ASYLO__HEALTH_SERVING ? "SERVING" : "NOT_SERVING");
    if (asylo__server_call_send_bytes(call, response, response_size, &status) == ASYLO_OK) {
        asylo__server_call_finish(call, ASYLO_OK, NULL, NULL);
    }
}

asylo_code asylo__health_register(asylo__health *health, asylo__server *server,
                                  asylo_status *status) {
    return asylo__server_add_method(server, ASYLO__HEALTH_CHECK_METHOD, serve_check, health,
                                    status);
}
