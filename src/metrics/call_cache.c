/* The call-series cache; see call_cache.h. */
#include "metrics/call_cache.h"

#include <stdlib.h>

/* Probes per key before giving up on caching it. */
#define PROBES 8

void asylo__call_cache_init(asylo__call_cache *cache, const asylo__std_metrics *metrics) {
    cache->metrics = metrics;
    for (size_t i = 0; i < ASYLO__CALL_CACHE_SLOTS; i++) {
        atomic_init(&cache->slots[i], NULL);
    }
}

void asylo__call_cache_fini(asylo__call_cache *cache) {
    for (size_t i = 0; i < ASYLO__CALL_CACHE_SLOTS; i++) {
        free(atomic_exchange(&cache->slots[i], NULL));
    }
    cache->metrics = NULL;
}

static uint64_t mix(uint64_t key) {
    key ^= key >> 33;
    key *= UINT64_C(0xff51afd7ed558ccd);
    key ^= key >> 33;
    return key;
}

void asylo__call_cache_record(asylo__call_cache *cache, asylo__call_direction direction,
                              uint32_t selector, asylo_code code, double seconds, uint64_t bytes_in,
                              uint64_t bytes_out) {
    if (cache == NULL || cache->metrics == NULL) {
        return;
    }
    /* Codes are 0..16 (anything else is named UNKNOWN by the metrics). */
    uint64_t key =
        ((uint64_t)selector << 8) | ((uint64_t)(direction & 1) << 7) | ((uint64_t)code & 0x7f);
    size_t start = (size_t)mix(key);
    asylo__call_cache_entry *fresh = NULL;
    for (size_t probe = 0; probe < PROBES; probe++) {
        asylo__call_cache_entry *_Atomic *slot =
            &cache->slots[(start + probe) % ASYLO__CALL_CACHE_SLOTS];
        asylo__call_cache_entry *entry = atomic_load_explicit(slot, memory_order_acquire);
        if (entry == NULL) {
            if (fresh == NULL) {
                fresh = malloc(sizeof *fresh);
                if (fresh == NULL) {
                    break;
                }
                fresh->key = key;
                asylo__metrics_call_series(cache->metrics, direction, selector, code,
                                           &fresh->series);
            }
            asylo__call_cache_entry *expected = NULL;
            if (atomic_compare_exchange_strong_explicit(
                    slot, &expected, fresh, memory_order_acq_rel, memory_order_acquire)) {
                asylo__metrics_record_call_series(&fresh->series, seconds, bytes_in, bytes_out);
                return;
            }
            entry = expected; /* another thread filled the slot first */
        }
        if (entry->key == key) {
            free(fresh);
            asylo__metrics_record_call_series(&entry->series, seconds, bytes_in, bytes_out);
            return;
        }
    }
    if (fresh != NULL) {
        asylo__metrics_record_call_series(&fresh->series, seconds, bytes_in, bytes_out);
        free(fresh);
        return;
    }
    asylo__metrics_record_call(cache->metrics, direction, selector, code, seconds, bytes_in,
                               bytes_out);
}
