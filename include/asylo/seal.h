/* asylo/seal.h: sealing, for enclave code.
 *
 * asylo_seal encrypts data so that only enclaves matching a policy can
 * decrypt it later, on the same platform (the component that runs enclaves
 * holds the root secret: docs/sealing.md says who that is on each backend).
 *
 *   ASYLO_SEAL_MEASUREMENT  only an image with this exact measurement
 *   ASYLO_SEAL_SIGNER       any image with the same signer id and product id
 *                           and an svn not lower than the sealer's
 *
 * The blob carries a versioned header (policy, key id, AEAD scheme, svn,
 * identity) and the AES-256-GCM ciphertext; the AAD is not stored in it and
 * must be given again to unseal. The blob is not secret; store it anywhere
 * (e.g. with the asylo_enclave_file_* calls).
 *
 * Errors of asylo_unseal: DATA_LOSS when the blob is truncated, modified, or
 * the AAD differs; PERMISSION_DENIED (naming the policy) when this enclave
 * does not satisfy the blob's policy; FAILED_PRECONDITION when the blob is of
 * a newer format version than this runtime reads. */
#ifndef ASYLO_SEAL_H
#define ASYLO_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/buffer.h"
#include "asylo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum asylo_seal_policy {
    ASYLO_SEAL_MEASUREMENT = 1,
    ASYLO_SEAL_SIGNER = 2,
} asylo_seal_policy;

/* Largest plaintext (and AAD) one blob holds. */
#define ASYLO_MAX_SEAL_SIZE (64u << 20)

/* Seals plaintext under policy; *blob receives the sealed bytes (free with
 * asylo_buffer_free). The signer policy needs a signed image
 * (FAILED_PRECONDITION otherwise). */
asylo_code asylo_seal(asylo_seal_policy policy, const void *aad, size_t aad_size,
                      const void *plaintext, size_t plaintext_size, asylo_buffer *blob,
                      asylo_status *status);

/* Unseals a blob made by asylo_seal with the same aad; *plaintext receives
 * the data (free with asylo_buffer_free, which wipes it). */
asylo_code asylo_unseal(const void *blob, size_t blob_size, const void *aad, size_t aad_size,
                        asylo_buffer *plaintext, asylo_status *status);

#ifdef __cplusplus
}
#endif

#endif
