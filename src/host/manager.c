/* The manager: a named set of clients. Its lock guards only the list; loads
 * and destroys run outside it, with the name reserved up front so two loads
 * of one name cannot both proceed. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/struct_size.h"
#include "host/client_internal.h"

struct asylo_manager {
    pthread_mutex_t lock;
    asylo_client *clients; /* includes ones still loading (state uninitialized) */
};

void asylo_load_config_init(asylo_load_config *config) {
    if (config == NULL) {
        return;
    }
    memset(config, 0, sizeof *config);
    config->struct_size = sizeof *config;
    config->enclave_config.log_level = ASYLO_LOG_INFO;
}

asylo_code asylo_manager_create(asylo_manager **manager, asylo_status *status) {
    if (manager == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "asylo_manager_create: manager pointer is NULL");
    }
    *manager = calloc(1, sizeof **manager);
    if (*manager == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory for a manager");
    }
    pthread_mutex_init(&(*manager)->lock, NULL);
    return asylo_status_ok(status);
}

static asylo_code check_name(const char *name, asylo_status *status) {
    if (name == NULL || name[0] == '\0') {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "load config has no enclave name");
    }
    size_t length = strnlen(name, ASYLO_MAX_ENCLAVE_NAME_SIZE);
    if (length >= ASYLO_MAX_ENCLAVE_NAME_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "enclave name is longer than %d bytes",
                                ASYLO_MAX_ENCLAVE_NAME_SIZE - 1);
    }
    for (size_t i = 0; i < length; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "enclave name '%s' has character 0x%02x at %zu: use letters, "
                                    "digits, '.', '_' and '-'",
                                    name, (unsigned char)c, i);
        }
    }
    return ASYLO_OK;
}

static asylo_code find_backend(const char *name, const asylo__backend **backend,
                               asylo_status *status) {
    char known[128] = "";
    for (size_t i = 0; asylo__backend_at(i) != NULL; i++) {
        size_t used = strlen(known);
        snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                 asylo__backend_at(i)->name);
    }
    if (name == NULL || name[0] == '\0') {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "load config names no backend; choose one of: %s", known);
    }
    *backend = asylo__backend_find(name);
    if (*backend == NULL) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_API,
                                "no backend named '%s' in this build; available: %s", name, known);
    }
    if ((*backend)->interface_version < ASYLO__BACKEND_INTERFACE_MIN_VERSION) {
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                                "backend '%s' implements interface version %u, expected at least "
                                "%u",
                                name, (*backend)->interface_version,
                                ASYLO__BACKEND_INTERFACE_MIN_VERSION);
    }
    asylo_code code = (*backend)->probe(status);
    if (code != ASYLO_OK) {
        asylo_status_prefix(status, "backend '%s' cannot run here", name);
    }
    return code;
}

static asylo_client *find_locked(asylo_manager *manager, const char *name) {
    for (asylo_client *client = manager->clients; client != NULL; client = client->next) {
        if (strcmp(client->name, name) == 0) {
            return client;
        }
    }
    return NULL;
}

static void unlink_locked(asylo_manager *manager, asylo_client *client) {
    for (asylo_client **link = &manager->clients; *link != NULL; link = &(*link)->next) {
        if (*link == client) {
            *link = client->next;
            return;
        }
    }
}

asylo_code asylo_manager_load(asylo_manager *manager, const asylo_load_config *config,
                              asylo_client **result, asylo_status *status) {
    asylo_status local;
    asylo_status *out = status != NULL ? status : &local;
    if (result != NULL) {
        *result = NULL;
    }
    if (manager == NULL || config == NULL) {
        return asylo_status_set(out, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "asylo_manager_load: manager or config is NULL");
    }
    /* Read only the fields the caller's struct has; the rest keep defaults. */
    asylo_load_config adopted;
    asylo_load_config_init(&adopted);
    asylo_code code = asylo__struct_adopt(config, &adopted, sizeof adopted,
                                          ASYLO__V1_SIZE(asylo_load_config, expected_signer_id),
                                          "asylo_load_config", out);
    if (code != ASYLO_OK) {
        return code;
    }
    config = &adopted;
    code = check_name(config->name, out);
    const asylo__backend *backend = NULL;
    if (code == ASYLO_OK) {
        code = find_backend(config->backend, &backend, out);
    }
    asylo_client *client = NULL;
    if (code == ASYLO_OK) {
        code = asylo__client_create(manager, config, backend, &client, out);
    }
    if (code != ASYLO_OK) {
        return code;
    }
    pthread_mutex_lock(&manager->lock);
    if (find_locked(manager, config->name) != NULL) {
        pthread_mutex_unlock(&manager->lock);
        asylo__client_discard(client);
        return asylo_status_set(out, ASYLO_ALREADY_EXISTS, ASYLO_ORIGIN_API,
                                "an enclave named '%s' is already loaded", config->name);
    }
    client->next = manager->clients;
    manager->clients = client;
    pthread_mutex_unlock(&manager->lock);

    code = asylo__client_load(client, config, out);
    if (code != ASYLO_OK) {
        pthread_mutex_lock(&manager->lock);
        unlink_locked(manager, client);
        pthread_mutex_unlock(&manager->lock);
        asylo__client_discard(client);
        return code;
    }
    if (result != NULL) {
        *result = client;
    }
    return asylo_status_ok(out);
}

asylo_code asylo_manager_get_client(asylo_manager *manager, const char *name, asylo_client **client,
                                    asylo_status *status) {
    if (client != NULL) {
        *client = NULL;
    }
    if (manager == NULL || name == NULL || client == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "asylo_manager_get_client: manager, name or client is NULL");
    }
    pthread_mutex_lock(&manager->lock);
    asylo_client *found = find_locked(manager, name);
    /* A client still loading is not handed out. */
    if (found != NULL && asylo__call_gate_state(&found->gate) == ASYLO_CLIENT_UNINITIALIZED) {
        found = NULL;
    }
    pthread_mutex_unlock(&manager->lock);
    if (found == NULL) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_API,
                                "no enclave named '%s' is loaded", name);
    }
    *client = found;
    return asylo_status_ok(status);
}

asylo_code asylo_manager_destroy_client(asylo_manager *manager, asylo_client *client,
                                        const void *final_input, size_t final_input_size,
                                        asylo_status *status) {
    if (client == NULL) {
        /* Like every destroy of ours: NULL is harmless. */
        return asylo_status_ok(status);
    }
    if (manager == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "asylo_manager_destroy_client: manager is NULL (client '%s')",
                                client->name);
    }
    if (final_input == NULL && final_input_size != 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "final input is NULL but its size is %zu", final_input_size);
    }
    pthread_mutex_lock(&manager->lock);
    asylo_client *found = manager->clients;
    while (found != NULL && found != client) {
        found = found->next;
    }
    bool inside = false;
    if (found != NULL && asylo__call_gate_state(&found->gate) != ASYLO_CLIENT_UNINITIALIZED) {
        /* Destroy waits for the calls in flight, this thread's among them
         * when it is inside one: refuse, and leave the client as it is. */
        inside = asylo__client_is_inside(found);
        if (!inside) {
            unlink_locked(manager, client);
        }
    } else {
        found = NULL;
    }
    pthread_mutex_unlock(&manager->lock);
    if (found == NULL) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_API,
                                "that client is not loaded in this manager (already destroyed?)");
    }
    if (inside) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                "cannot destroy enclave '%s' from inside a call on it (an exit "
                                "handler): destroy it after that call has returned",
                                client->name);
    }
    return asylo__client_destroy(client, final_input, final_input_size, status);
}

void asylo_manager_destroy(asylo_manager *manager) {
    if (manager == NULL) {
        return;
    }
    /* From inside a call on one of its enclaves this would wait for itself
     * forever: refuse loudly and leave everything loaded instead. */
    pthread_mutex_lock(&manager->lock);
    const asylo_client *busy = manager->clients;
    while (busy != NULL && !asylo__client_is_inside(busy)) {
        busy = busy->next;
    }
    pthread_mutex_unlock(&manager->lock);
    if (busy != NULL) {
        asylo__log(ASYLO_LOG_ERROR, "host", busy->name, 0,
                   "asylo_manager_destroy called from inside a call on this enclave (an exit "
                   "handler): refused, nothing was destroyed");
        return;
    }
    for (;;) {
        pthread_mutex_lock(&manager->lock);
        asylo_client *client = manager->clients;
        if (client != NULL) {
            manager->clients = client->next;
        }
        pthread_mutex_unlock(&manager->lock);
        if (client == NULL) {
            break;
        }
        asylo__client_destroy(client, NULL, 0, NULL);
    }
    pthread_mutex_destroy(&manager->lock);
    free(manager);
}

const char *asylo_backend_name_at(size_t index) {
    const asylo__backend *backend = asylo__backend_at(index);
    return backend == NULL ? NULL : backend->name;
}
