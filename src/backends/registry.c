/* The list of backends built into this library. The only place that knows
 * which backends exist. */
#include <string.h>

#include "backends/backend.h"

extern const asylo__backend asylo__sim_backend;
extern const asylo__backend asylo__remote_backend;
extern const asylo__backend asylo__process_backend;
extern const asylo__backend asylo__kvm_backend;

static const asylo__backend *const backends[] = {
    &asylo__sim_backend,
#ifdef ASYLO_HAVE_PROCESS_BACKEND
    &asylo__process_backend,
#endif
#ifdef ASYLO_HAVE_REMOTE_BACKEND
    &asylo__remote_backend,
#endif
    &asylo__kvm_backend,
};

const asylo__backend *asylo__backend_at(size_t index) {
    return index < sizeof backends / sizeof backends[0] ? backends[index] : NULL;
}

const asylo__backend *asylo__backend_find(const char *name) {
    for (size_t i = 0; name != NULL && i < sizeof backends / sizeof backends[0]; i++) {
        if (strcmp(backends[i]->name, name) == 0) {
            return backends[i];
        }
    }
    return NULL;
}
