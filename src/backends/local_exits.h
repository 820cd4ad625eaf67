/* How a backend that runs the enclave on this machine (sim, process, kvm)
 * routes the enclave's exit calls: the identity, seal-key and evidence exits
 * are answered here from the image verified at load, so the host
 * application's handlers never see them (nor can fake them); every other exit
 * goes to the host's dispatcher. One rule, kept in one place. */
#ifndef ASYLO_BACKENDS_LOCAL_EXITS_H
#define ASYLO_BACKENDS_LOCAL_EXITS_H

#include "asylo/identity.h"
#include "backends/backend.h"

asylo_code asylo__local_exit_call(const asylo_enclave_identity *identity,
                                  const asylo__exit_dispatcher *host, uint32_t selector,
                                  const uint8_t *input, size_t input_size, asylo_output *output,
                                  asylo_status *status);

#endif
