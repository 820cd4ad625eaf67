/* Evidence (EAT in COSE_Sign1, docs/attestation.md): issuing it for an
 * enclave and the CBOR labels both the issuer and the verifier use. */
#ifndef ASYLO_IDENTITY_EVIDENCE_H
#define ASYLO_IDENTITY_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/attestation.h"
#include "asylo/buffer.h"
#include "asylo/identity.h"
#include "asylo/status.h"

/* CWT/EAT claim keys (RFC 8392, RFC 9711) and our private ones. */
#define ASYLO__CLAIM_IAT 6
#define ASYLO__CLAIM_NONCE 10
#define ASYLO__CLAIM_UEID 256
#define ASYLO__CLAIM_DBGSTAT 263
#define ASYLO__CLAIM_PROFILE 265
#define ASYLO__CLAIM_SWNAME 271
#define ASYLO__CLAIM_SWVERSION 272
#define ASYLO__CLAIM_MEASUREMENTS 273
#define ASYLO__CLAIM_ROOT (-70000)
#define ASYLO__CLAIM_USER_DATA (-70001)
#define ASYLO__CLAIM_TPM_QUOTE (-70002)
/* CoAP content format of the measurements entry: application/cbor. */
#define ASYLO__CONTENT_FORMAT_CBOR 60
#define ASYLO__COSE_TAG_SIGN1 18
#define ASYLO__COSE_ALG_ES256 (-7)
#define ASYLO__ROOT_SOFTWARE "software"
#define ASYLO__ROOT_TPM "tpm"

struct asylo__tpm_quote;

/* Issues evidence for `identity` signed with the attestation key of the
 * selected platform root (identity/platform.h), with that root's quote when
 * it has one, and writes it to output. INVALID_ARGUMENT for a nonce or user
 * data out of bounds. */
asylo_code asylo__evidence_issue(const asylo_enclave_identity *identity, const uint8_t *nonce,
                                 size_t nonce_size, const uint8_t *user_data, size_t user_data_size,
                                 asylo_output *output, asylo_status *status);

/* The same with `quote` in place of a fresh one (NULL: no quote claim), and
 * the root claim `root`: for tests of the verifier's quote checks, which
 * need tokens the platform key signs around a wrong quote. */
asylo_code asylo__evidence_issue_quoted(const asylo_enclave_identity *identity,
                                        const uint8_t *nonce, size_t nonce_size,
                                        const uint8_t *user_data, size_t user_data_size,
                                        const char *root, const struct asylo__tpm_quote *quote,
                                        asylo_output *output, asylo_status *status);

/* The exact bytes of Sig_structure = ["Signature1", protected, h'', payload]
 * (RFC 9052 section 4.4) into a malloc'd buffer; NULL when out of memory. */
uint8_t *asylo__cose_sig_structure(const uint8_t *protected_header, size_t protected_size,
                                   const uint8_t *payload, size_t payload_size, size_t *size);

#endif
