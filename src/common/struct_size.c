#include "common/struct_size.h"

#include <string.h>

#include "asylo/version.h"

asylo_code asylo__struct_adopt(const void *in, void *out, size_t out_size, size_t v1_size,
                               const char *type, asylo_status *status) {
    size_t size;
    memcpy(&size, in, sizeof size);
    if (size == 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "%s.struct_size is 0: set the struct up with %s_init before "
                                "filling it in",
                                type, type);
    }
    if (size < v1_size || size > out_size) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "%s.struct_size is %zu; this library (asylo-c %s) accepts %zu to "
                                "%zu bytes: set the struct up with %s_init",
                                type, size, ASYLO_VERSION_STRING, v1_size, out_size, type);
    }
    memcpy(out, in, size);
    memcpy(out, &out_size, sizeof out_size);
    return asylo_status_ok(status);
}
