/* The TPM quote a `tpm` platform root puts in evidence (claim -70002,
 * docs/attestation.md "TPM quote"): its constants, the parser of the
 * TPMS_ATTEST bytes (untrusted input: bounded, every length checked) and the
 * check of a quote against the platform key, the verifier's nonce and the
 * enclave's measurement. No TPM library is needed to check a quote. */
#ifndef ASYLO_IDENTITY_TPM_QUOTE_H
#define ASYLO_IDENTITY_TPM_QUOTE_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"

/* The PC Client resettable PCR for applications (resettable and extendable
 * from locality 0): reset, extended with the measurement, quoted. */
#define ASYLO__TPM_QUOTE_PCR 23
/* Upper bound of a TPMS_ATTEST we accept (a quote of one PCR is ~130 bytes). */
#define ASYLO__TPM_ATTEST_MAX_SIZE 512
#define ASYLO__TPM_GENERATED_VALUE 0xff544347u
#define ASYLO__TPM_ST_ATTEST_QUOTE 0x8018u
#define ASYLO__TPM_ALG_SHA256 0x000bu

/* A quote: the TPMS_ATTEST bytes exactly as the TPM marshalled them, and its
 * ECDSA P-256 signature (raw r || s) over SHA-256 of those bytes. */
typedef struct asylo__tpm_quote {
    uint8_t attest[ASYLO__TPM_ATTEST_MAX_SIZE];
    size_t attest_size;
    uint8_t signature[64];
} asylo__tpm_quote;

/* The fields of a TPMS_ATTEST of type quote that the check uses; pointers
 * into the parsed bytes. */
typedef struct asylo__tpm_quote_fields {
    const uint8_t *extra_data;
    size_t extra_data_size;
    uint16_t pcr_hash;     /* the one selection's hash algorithm */
    const uint8_t *select; /* its pcrSelect bitmap */
    size_t select_size;    /* sizeofSelect */
    uint32_t selection_count;
    const uint8_t *pcr_digest;
    size_t pcr_digest_size;
} asylo__tpm_quote_fields;

/* Parses attest as a TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE (TPM 2.0 part 2,
 * 10.12.12), all of it: DATA_LOSS naming the field that is malformed,
 * truncated or followed by extra bytes. */
asylo_code asylo__tpm_quote_parse(const uint8_t *attest, size_t attest_size,
                                  asylo__tpm_quote_fields *fields, asylo_status *status);

/* What a quote for (measurement, nonce) carries: extraData =
 * SHA-256(nonce), and pcrDigest = SHA-256(PCR value) with PCR value =
 * SHA-256(32 zero bytes || measurement) (one extend after a reset). */
asylo_code asylo__tpm_quote_expected(const uint8_t measurement[32], const uint8_t *nonce,
                                     size_t nonce_size, uint8_t extra_data[32],
                                     uint8_t pcr_digest[32], asylo_status *status);

/* Checks a quote: parses (DATA_LOSS), verifies the signature with
 * platform_key (UNAUTHENTICATED), then requires the qualifying data to be
 * SHA-256 of nonce (UNAUTHENTICATED: replayed), exactly PCR pcr of the
 * SHA-256 bank selected (UNAUTHENTICATED: wrong selection) and the PCR digest
 * of measurement (UNAUTHENTICATED). The message names the failed check. */
asylo_code asylo__tpm_quote_check(const uint8_t *attest, size_t attest_size,
                                  const uint8_t *signature, size_t signature_size,
                                  const uint8_t platform_key[65], const uint8_t *nonce,
                                  size_t nonce_size, const uint8_t measurement[32],
                                  asylo_status *status);

/* The TPM root's quote of PCR pcr (ASYLO__TPM_QUOTE_PCR in evidence; tests
 * quote another to check the verifier refuses it): reset, extend with
 * measurement, quote with qualifying data SHA-256(nonce). UNIMPLEMENTED in a
 * build without tpm2-tss. */
asylo_code asylo__tpm_root_quote_pcr(unsigned pcr, const uint8_t measurement[32],
                                     const uint8_t *nonce, size_t nonce_size,
                                     asylo__tpm_quote *quote, asylo_status *status);

#endif
