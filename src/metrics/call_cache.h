/* A small lock-free cache of asylo__call_series, keyed by (direction,
 * selector, code), for code that records every enclave call (the proxy, the
 * remote backend). A hit costs one hash, a few atomic loads and the updates
 * of asylo__metrics_record_call_series; a miss looks the series up once (the
 * families' locks) and publishes it for the next call.
 *
 * Bounded: ASYLO__CALL_CACHE_SLOTS entries at most. Once the probed slots of
 * a key are full, that key is recorded uncached (asylo__metrics_record_call),
 * which gives the same series: correctness never depends on the cache.
 * Thread-safe: any number of threads may record at once. */
#ifndef ASYLO_METRICS_CALL_CACHE_H
#define ASYLO_METRICS_CALL_CACHE_H

#include <stdatomic.h>
#include <stdint.h>

#include "metrics/asylo_metrics.h"

#define ASYLO__CALL_CACHE_SLOTS 64

typedef struct asylo__call_cache_entry {
    uint64_t key;
    asylo__call_series series;
} asylo__call_cache_entry;

typedef struct asylo__call_cache {
    const asylo__std_metrics *metrics; /* NULL: recording is a no-op */
    asylo__call_cache_entry *_Atomic slots[ASYLO__CALL_CACHE_SLOTS];
} asylo__call_cache;

/* metrics may be NULL (then every record is a no-op). */
void asylo__call_cache_init(asylo__call_cache *cache, const asylo__std_metrics *metrics);
/* Frees the entries; no thread may be recording. */
void asylo__call_cache_fini(asylo__call_cache *cache);
/* Same effect as asylo__metrics_record_call on cache->metrics. */
void asylo__call_cache_record(asylo__call_cache *cache, asylo__call_direction direction,
                              uint32_t selector, asylo_code code, double seconds, uint64_t bytes_in,
                              uint64_t bytes_out);

#endif
