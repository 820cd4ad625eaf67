/* The standard process_* metrics of Prometheus clients, read from /proc/self
 * at every scrape. */
#ifndef ASYLO_METRICS_PROCESS_H
#define ASYLO_METRICS_PROCESS_H

#include "asylo/status.h"
#include "metrics/metrics.h"

/* Registers process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds and
 * process_start_time_seconds as callback families. A value that cannot be read
 * (no /proc) is left out of the scrape rather than reported as 0. */
asylo_code asylo__metrics_register_process(asylo__metrics_registry *registry, asylo_status *status);

#endif
