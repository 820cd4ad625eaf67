/* The identity of an enclave image file: its measurement and, when signed,
 * the verified contents of its signature block. Host side (the sim backend at
 * load, asylo-sign, tests). */
#ifndef ASYLO_IDENTITY_IMAGE_IDENTITY_H
#define ASYLO_IDENTITY_IMAGE_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/identity.h"
#include "asylo/status.h"
#include "identity/sigblock.h"

#ifndef ASYLO_TRUSTED_BUILD

/* Largest image read for measuring. */
#define ASYLO__MAX_IMAGE_SIZE ((size_t)1 << 30)

/* An image read into memory with its block located and measured. */
typedef struct asylo__image {
    uint8_t *bytes;
    size_t size;
    int has_section; /* 0: no .asylo_sig section at all */
    asylo__sig_location location;
    uint8_t block[ASYLO__SIG_BLOCK_SIZE]; /* the block as found */
    uint8_t measurement[32];              /* with the block counted as zeros */
} asylo__image;

/* Reads and measures `path`. DATA_LOSS for malformed ELF headers; NOT_FOUND,
 * PERMISSION_DENIED for files that cannot be opened. */
asylo_code asylo__image_read(const char *path, asylo__image *image, asylo_status *status);
void asylo__image_fini(asylo__image *image);

/* Verifies the block of a read image and fills *identity (backend name left
 * empty). NOT_FOUND when unsigned (identity then has the measurement, debug 1
 * and zeros elsewhere); DATA_LOSS when the block is malformed or the image was
 * modified after signing; PERMISSION_DENIED when the signature does not verify;
 * FAILED_PRECONDITION for a newer block version. */
asylo_code asylo__image_verify(const asylo__image *image, const char *path,
                               asylo_enclave_identity *identity, asylo_status *status);

/* What a load asks of the image. */
typedef struct asylo__identity_policy {
    int debug_load;                      /* the load config's debug flag */
    const uint8_t *expected_measurement; /* 32 bytes or NULL */
    const uint8_t *expected_signer_id;   /* 32 bytes or NULL */
} asylo__identity_policy;

/* The check a backend runs at load: read `path`, verify, apply the policy;
 * messages name `shown_path` (the user's path, not a private copy). An image
 * with no signature section at all is INVALID_ARGUMENT (not an enclave)
 * unless the load is debug. A load
 * not marked debug needs a valid signature (PERMISSION_DENIED otherwise); a
 * present but bad signature is refused even for debug loads; pins mismatch is
 * PERMISSION_DENIED naming expected and actual. */
asylo_code asylo__identity_check(const char *path, const char *shown_path,
                                 const asylo__identity_policy *policy, const char *backend_name,
                                 asylo_enclave_identity *identity, asylo_status *status);

/* Lower-case hex of size bytes into text (2 * size + 1 bytes). */
void asylo__hex(const uint8_t *bytes, size_t size, char *text);

#endif

#endif
