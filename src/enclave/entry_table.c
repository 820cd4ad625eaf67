/* Entry handlers registered by the enclave author, looked up by selector.
 * Registration is rare and lookups are on every call, so lookups take a read
 * lock and registration a write lock. */
#include <pthread.h>

#include "enclave/runtime_internal.h"

typedef struct entry {
    uint32_t selector;
    asylo_entry_handler_fn handler;
    void *context;
} entry;

static pthread_rwlock_t table_lock = PTHREAD_RWLOCK_INITIALIZER;
static entry table[ASYLO_MAX_ENTRY_HANDLERS];
static size_t table_count;

asylo_code asylo_enclave_register_entry(uint32_t selector, asylo_entry_handler_fn handler,
                                        void *context, asylo_status *status) {
    if (selector < ASYLO_SELECTOR_USER_FIRST) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "entry selector 0x%x is reserved; user selectors start at 0x%x",
                                selector, ASYLO_SELECTOR_USER_FIRST);
    }
    if (handler == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "entry handler for selector %u is NULL", selector);
    }
    asylo_code code = ASYLO_OK;
    pthread_rwlock_wrlock(&table_lock);
    for (size_t i = 0; i < table_count; i++) {
        if (table[i].selector == selector) {
            code = asylo_status_set(status, ASYLO_ALREADY_EXISTS, ASYLO_ORIGIN_ENCLAVE,
                                    "entry selector %u already has a handler", selector);
            goto out;
        }
    }
    if (table_count == ASYLO_MAX_ENTRY_HANDLERS) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_ENCLAVE,
                                "an enclave may register at most %d entry handlers",
                                ASYLO_MAX_ENTRY_HANDLERS);
        goto out;
    }
    table[table_count++] = (entry){selector, handler, context};
    asylo_status_ok(status);
out:
    pthread_rwlock_unlock(&table_lock);
    return code;
}

asylo_code asylo__entry_dispatch(uint32_t selector, const uint8_t *input, size_t input_size,
                                 asylo_output *output, asylo_status *status) {
    entry found = {0, NULL, NULL};
    pthread_rwlock_rdlock(&table_lock);
    for (size_t i = 0; i < table_count; i++) {
        if (table[i].selector == selector) {
            found = table[i];
            break;
        }
    }
    pthread_rwlock_unlock(&table_lock);
    if (found.handler == NULL) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_ENCLAVE,
                                "no entry handler is registered for selector %u", selector);
    }
    return found.handler(found.context, input, input_size, output, status);
}

void asylo__entry_table_clear(void) {
    pthread_rwlock_wrlock(&table_lock);
    table_count = 0;
    pthread_rwlock_unlock(&table_lock);
}
