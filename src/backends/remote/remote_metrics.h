/* The remote backend's opt-in, process-wide metrics endpoint (see
 * asylo_remote_config.metrics_port in asylo/remote.h). */
#ifndef ASYLO_BACKENDS_REMOTE_REMOTE_METRICS_H
#define ASYLO_BACKENDS_REMOTE_REMOTE_METRICS_H

#include "asylo/remote.h"
#include "metrics/asylo_metrics.h"

/* When config asks for metrics: starts the endpoint (first user) or joins it
 * and sets *metrics; otherwise sets *metrics to NULL. Each successful call
 * with a non-NULL *metrics needs one asylo__remote_metrics_release. */
asylo_code asylo__remote_metrics_acquire(const asylo_remote_config *config, const char *enclave,
                                         const asylo__std_metrics **metrics, asylo_status *status);
/* The last release stops the endpoint (the counters are kept). */
void asylo__remote_metrics_release(void);

#endif
