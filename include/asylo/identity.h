/* asylo/identity.h: who an enclave is.
 *
 * An enclave image's identity (see docs/attestation.md and docs/sealing.md):
 *   - measurement: SHA-256 of the image file with the bytes of its
 *     `.asylo_sig` section (the signature block) counted as zeros, so signing
 *     an image does not change its measurement;
 *   - signer id: SHA-256 of the signer's ECDSA P-256 public key in SEC1
 *     uncompressed form (65 bytes, 0x04 || X || Y), all zeros when unsigned;
 *   - product id and security version (svn), set by asylo-sign;
 *   - debug: the image was signed with --debug, is unsigned, or was loaded
 *     with the load config's debug flag;
 *   - backend: the name of the local backend that runs it ("sim"; under the
 *     remote backend, the backend the proxy on the target uses).
 *
 * The backend computes the identity when it loads the image and answers the
 * enclave's question itself (a built-in exit the host application cannot
 * override). Nothing here has a hardware root: the identity is as trustworthy
 * as the component that runs the enclave (docs/attestation.md). */
#ifndef ASYLO_IDENTITY_H
#define ASYLO_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ASYLO_MEASUREMENT_SIZE 32
#define ASYLO_SIGNER_ID_SIZE 32
#define ASYLO_MAX_BACKEND_NAME_SIZE 32

typedef struct asylo_enclave_identity {
    uint8_t measurement[ASYLO_MEASUREMENT_SIZE];
    uint8_t signer_id[ASYLO_SIGNER_ID_SIZE];
    uint32_t product_id;
    uint32_t svn;
    int is_signed; /* 1 when the image carries a valid signature */
    int debug;
    char backend[ASYLO_MAX_BACKEND_NAME_SIZE]; /* NUL-terminated */
} asylo_enclave_identity;

/* Inside an enclave: this enclave's identity, as the backend that loaded it
 * computed it. Thread-safe. FAILED_PRECONDITION before the host attached;
 * DATA_LOSS when the answer is malformed. */
asylo_code asylo_enclave_identity_get(asylo_enclave_identity *identity, asylo_status *status);

#ifdef __cplusplus
}
#endif

#endif
