/* The platform root: the sealing root secret and the attestation key, held
 * by the component that runs enclaves (the process that loads them with a
 * local backend: the host application for sim, asylo-remote-proxy on the
 * target for remote). Two implementations behind one interface, chosen by
 * the environment of that process (docs/sealing.md "The platform root"):
 *
 *   software (the default): 0600 files in the state directory, readable by
 *     that user and root. State directory, first that is set:
 *     $ASYLO_STATE_DIR, $XDG_STATE_HOME/asylo, $HOME/.local/state/asylo.
 *     Files, made on first use: sealing-root.key (32 random bytes) and
 *     attestation.key (the 32-byte private scalar of a P-256 key).
 *   tpm (ASYLO_PLATFORM_ROOT=tpm, or ASYLO_TPM_TCTI set): primary keys of a
 *     TPM 2.0's owner hierarchy, reached through the TCTI $ASYLO_TPM_TCTI
 *     (default device:/dev/tpmrm0); nothing is written to a file. */
#ifndef ASYLO_IDENTITY_PLATFORM_H
#define ASYLO_IDENTITY_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asylo/identity.h"
#include "asylo/status.h"

#define ASYLO__ROOT_SIZE 32
#define ASYLO__SEAL_KEY_ID_SIZE 16
#define ASYLO__SEAL_ROOT_FILE "sealing-root.key"
#define ASYLO__ATTESTATION_KEY_FILE "attestation.key"

#define ASYLO__ROOT_NAME_SOFTWARE "software"
#define ASYLO__ROOT_NAME_TPM "tpm"

struct asylo__tpm_quote;

/* Called by a root's attest with the attestation public key and, when one
 * was asked for and the root can quote, the quote (else NULL): returns the
 * bytes to sign in a malloc'd *to_sign. */
typedef asylo_code (*asylo__attest_encoder)(void *context, const uint8_t public_key[65],
                                            const struct asylo__tpm_quote *quote, uint8_t **to_sign,
                                            size_t *to_sign_size, asylo_status *status);

/* One platform root. Every function opens what it needs and releases it
 * before returning; all are safe to call from several threads. */
typedef struct asylo__platform_root_ops {
    /* What the evidence's root claim says: "software" or "tpm". */
    const char *name;
    /* The 32-byte sealing root (the IKM of docs/sealing.md's key derivation). */
    asylo_code (*sealing_root)(uint8_t root[ASYLO__ROOT_SIZE], asylo_status *status);
    /* The attestation public key, SEC1 uncompressed. */
    asylo_code (*attestation_public_key)(uint8_t public_key[65], asylo_status *status);
    /* Signs evidence in one session with the root: gets the attestation
     * public key, makes the quote (identity/tpm_quote.h) over the PCR
     * extended with measurement and qualified by nonce when quote_wanted and
     * the root can quote, asks encode for the bytes to sign, and signs them
     * with ECDSA P-256 / SHA-256 (raw r || s). One session, so a TPM creates
     * its key once per token. */
    asylo_code (*attest)(const uint8_t measurement[32], const uint8_t *nonce, size_t nonce_size,
                         bool quote_wanted, asylo__attest_encoder encode, void *context,
                         uint8_t signature[64], asylo_status *status);
} asylo__platform_root_ops;

/* The root this process's environment selects: software unless
 * ASYLO_PLATFORM_ROOT=tpm or ASYLO_TPM_TCTI is set. INVALID_ARGUMENT for an
 * unknown ASYLO_PLATFORM_ROOT; UNIMPLEMENTED for tpm in a build without
 * tpm2-tss. Never falls back from tpm to software: that would change the
 * sealing root under the enclaves' data. */
asylo_code asylo__platform_root_get(const asylo__platform_root_ops **ops, asylo_status *status);

/* The implementations, for the selector and tests. */
extern const asylo__platform_root_ops asylo__software_root;
extern const asylo__platform_root_ops asylo__tpm_root;

/* The state directory (created 0700 when missing). */
asylo_code asylo__platform_state_dir(char *path, size_t path_size, asylo_status *status);

/* The selected root's sealing root. The software root reads it from the
 * state directory, creating it on first use, and refuses
 * (PERMISSION_DENIED) a file others than its owner may read or write. */
asylo_code asylo__platform_root(uint8_t root[ASYLO__ROOT_SIZE], asylo_status *status);

/* The selected root's attestation public key (made on first use for
 * software). */
asylo_code asylo__platform_attestation_public_key(uint8_t public_key[65], asylo_status *status);

/* The sealing key of `identity` for policy (1 measurement, 2 signer), key id
 * and svn, as docs/sealing.md defines it. PERMISSION_DENIED when svn is above
 * the enclave's own (no keys for future versions); FAILED_PRECONDITION for
 * the signer policy on an unsigned image; INVALID_ARGUMENT for an unknown
 * policy. */
asylo_code asylo__seal_key_derive(const asylo_enclave_identity *identity, uint32_t policy,
                                  const uint8_t key_id[ASYLO__SEAL_KEY_ID_SIZE], uint32_t svn,
                                  uint8_t key[32], asylo_status *status);

#endif
