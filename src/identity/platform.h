/* The platform root: a secret held by the component that runs enclaves (the
 * process that loads them with a local backend: the host application for
 * sim, asylo-remote-proxy on the target for remote). Software only: a 0600
 * file, readable by that user and root (docs/sealing.md).
 *
 * State directory, first that is set:
 *   $ASYLO_STATE_DIR, $XDG_STATE_HOME/asylo, $HOME/.local/state/asylo
 * Files, made on first use: sealing-root.key (32 random bytes) and
 * attestation.key (the 32-byte private scalar of a P-256 key). */
#ifndef ASYLO_IDENTITY_PLATFORM_H
#define ASYLO_IDENTITY_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/identity.h"
#include "asylo/status.h"

#define ASYLO__ROOT_SIZE 32
#define ASYLO__SEAL_KEY_ID_SIZE 16
#define ASYLO__SEAL_ROOT_FILE "sealing-root.key"
#define ASYLO__ATTESTATION_KEY_FILE "attestation.key"

/* The state directory (created 0700 when missing). */
asylo_code asylo__platform_state_dir(char *path, size_t path_size, asylo_status *status);

/* Reads the root in the state directory, creating it on first use. Refuses
 * (PERMISSION_DENIED) a file others than its owner may read or write. */
asylo_code asylo__platform_root(uint8_t root[ASYLO__ROOT_SIZE], asylo_status *status);

/* The platform attestation key pair, creating it on first use. */
asylo_code asylo__platform_attestation_key(uint8_t private_key[32], uint8_t public_key[65],
                                           asylo_status *status);

/* The sealing key of `identity` for policy (1 measurement, 2 signer), key id
 * and svn, as docs/sealing.md defines it. PERMISSION_DENIED when svn is above
 * the enclave's own (no keys for future versions); FAILED_PRECONDITION for
 * the signer policy on an unsigned image; INVALID_ARGUMENT for an unknown
 * policy. */
asylo_code asylo__seal_key_derive(const asylo_enclave_identity *identity, uint32_t policy,
                                  const uint8_t key_id[ASYLO__SEAL_KEY_ID_SIZE], uint32_t svn,
                                  uint8_t key[32], asylo_status *status);

#endif
