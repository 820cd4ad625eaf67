#include "backends/remote/load_response.h"

#include "asylo/remote.pb-c.h"
#include "transport/frame.h"

asylo_code asylo__remote_check_load_response(const uint8_t *data, size_t size, const char *name,
                                             const char *address, asylo_status *status) {
    Asylo__Remote__LoadResponse *response = asylo__remote__load_response__unpack(NULL, size, data);
    if (response == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_TRANSPORT,
                                "remote enclave '%s': the proxy at %s answered LOAD with a "
                                "malformed LoadResponse (%zu bytes)",
                                name, address, size);
    }
    uint32_t version = response->protocol_version;
    asylo__remote__load_response__free_unpacked(response, NULL);
    if (version != ASYLO__WIRE_PROTOCOL_VERSION) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_TRANSPORT,
                                "remote enclave '%s': the proxy at %s speaks wire protocol "
                                "version %u, this host version %u (0: from before versioning); "
                                "run matching asylo-c versions",
                                name, address, (unsigned)version,
                                (unsigned)ASYLO__WIRE_PROTOCOL_VERSION);
    }
    return asylo_status_ok(status);
}
