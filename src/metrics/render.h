/* Renders a registry in the Prometheus text exposition format 0.0.4. */
#ifndef ASYLO_METRICS_RENDER_H
#define ASYLO_METRICS_RENDER_H

#include "asylo/status.h"
#include "common/bytes.h"
#include "metrics/metrics.h"

/* Appends every family to out, in registration order: "# HELP" and "# TYPE"
 * once per family, then its series in the order they were first looked up
 * (the overflow series last, when used). Callback families are read now.
 * RESOURCE_EXHAUSTED when out cannot grow. */
asylo_code asylo__metrics_render(asylo__metrics_registry *registry, asylo__bytes *out,
                                 asylo_status *status);

#endif
