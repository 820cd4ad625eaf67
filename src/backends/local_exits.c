#include "backends/local_exits.h"

#include "identity/identity_exits.h"

asylo_code asylo__local_exit_call(const asylo_enclave_identity *identity,
                                  const asylo__exit_dispatcher *host, uint32_t selector,
                                  const uint8_t *input, size_t input_size, asylo_output *output,
                                  asylo_status *status) {
    if (asylo__identity_exit_is_builtin(selector)) {
        return asylo__identity_exit(identity, selector, input, input_size, output, status);
    }
    return host->dispatch(host->context, selector, input, input_size, output, status);
}
