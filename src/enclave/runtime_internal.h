/* Shared state of the trusted runtime's files. Enclave side only: this
 * folder never includes host code. */
#ifndef ASYLO_ENCLAVE_RUNTIME_INTERNAL_H
#define ASYLO_ENCLAVE_RUNTIME_INTERNAL_H

#ifndef ASYLO_TRUSTED_BUILD
#error "src/enclave is the trusted runtime; host code must not include it"
#endif

#include "asylo/trusted.h"
#include "common/abi.h"

/* Set once by attach; NULL before. */
const asylo__host_interface *asylo__enclave_host(void);
/* The log level from the enclave config (info before initialize). */
asylo_log_level asylo__enclave_log_level(void);

/* Entry handler table (entry_table.c). */
asylo_code asylo__entry_dispatch(uint32_t selector, const uint8_t *input, size_t input_size,
                                 asylo_output *output, asylo_status *status);
void asylo__entry_table_clear(void);

/* Raw exit call for any selector (built-ins included); output collected into
 * a bounded buffer the caller frees. */
asylo_code asylo__enclave_exit(uint32_t selector, const uint8_t *input, size_t input_size,
                               size_t max_output_size, asylo_buffer *output, asylo_status *status);

#endif
