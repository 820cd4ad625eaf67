/* Parsing and checking the TPM quote of a `tpm` platform root's evidence
 * (docs/attestation.md "TPM quote"). The bytes are untrusted: a reader that
 * never goes past the end, and every field checked before use. */
#include "identity/tpm_quote.h"

#include <stdbool.h>
#include <string.h>

#include "asylo/crypto.h"

typedef struct reader {
    const uint8_t *data;
    size_t size;
    size_t at;
    bool ok;
} reader;

static uint64_t read_be(reader *in, size_t width) {
    uint64_t value = 0;
    if (!in->ok || in->size - in->at < width) {
        in->ok = false;
        return 0;
    }
    for (size_t i = 0; i < width; i++) {
        value = value << 8 | in->data[in->at + i];
    }
    in->at += width;
    return value;
}

static const uint8_t *read_bytes(reader *in, size_t size) {
    if (!in->ok || in->size - in->at < size) {
        in->ok = false;
        return NULL;
    }
    const uint8_t *bytes = in->data + in->at;
    in->at += size;
    return bytes;
}

/* A TPM2B: a big-endian u16 size, then that many bytes, at most max. */
static const uint8_t *read_tpm2b(reader *in, size_t max, size_t *size) {
    *size = (size_t)read_be(in, 2);
    if (*size > max) {
        in->ok = false;
        return NULL;
    }
    return read_bytes(in, *size);
}

static asylo_code bad(asylo_status *status, const char *what) {
    return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_API,
                            "evidence is malformed: its TPM quote %s", what);
}

asylo_code asylo__tpm_quote_parse(const uint8_t *attest, size_t attest_size,
                                  asylo__tpm_quote_fields *fields, asylo_status *status) {
    memset(fields, 0, sizeof *fields);
    if (attest == NULL || attest_size == 0 || attest_size > ASYLO__TPM_ATTEST_MAX_SIZE) {
        return bad(status, "is empty or larger than 512 bytes");
    }
    reader in = {.data = attest, .size = attest_size, .ok = true};
    uint32_t magic = (uint32_t)read_be(&in, 4);
    uint16_t type = (uint16_t)read_be(&in, 2);
    if (!in.ok || magic != ASYLO__TPM_GENERATED_VALUE || type != ASYLO__TPM_ST_ATTEST_QUOTE) {
        return bad(status, "does not start with TPM_GENERATED_VALUE and TPM_ST_ATTEST_QUOTE");
    }
    size_t name_size = 0;
    (void)read_tpm2b(&in, 68, &name_size); /* qualifiedSigner: TPM2B_NAME */
    fields->extra_data = read_tpm2b(&in, 64, &fields->extra_data_size);
    (void)read_bytes(&in, 8 + 4 + 4 + 1); /* clockInfo: clock, resets, restarts, safe */
    (void)read_bytes(&in, 8);             /* firmwareVersion */
    if (!in.ok) {
        return bad(status, "is truncated or has an oversized signer name or qualifying data");
    }
    fields->selection_count = (uint32_t)read_be(&in, 4);
    if (!in.ok || fields->selection_count != 1) {
        return bad(status, "does not select exactly one PCR bank");
    }
    fields->pcr_hash = (uint16_t)read_be(&in, 2);
    fields->select_size = (size_t)read_be(&in, 1);
    fields->select = read_bytes(&in, fields->select_size);
    fields->pcr_digest = read_tpm2b(&in, 64, &fields->pcr_digest_size);
    if (!in.ok) {
        return bad(status, "is truncated in its PCR selection or digest");
    }
    if (in.at != in.size) {
        return bad(status, "has bytes after its PCR digest");
    }
    return ASYLO_OK;
}

asylo_code asylo__tpm_quote_expected(const uint8_t measurement[32], const uint8_t *nonce,
                                     size_t nonce_size, uint8_t extra_data[32],
                                     uint8_t pcr_digest[32], asylo_status *status) {
    uint8_t extend[64] = {0};
    uint8_t pcr[32];
    memcpy(extend + 32, measurement, 32);
    asylo_code code = asylo_sha256(nonce, nonce_size, extra_data, status);
    if (code == ASYLO_OK) {
        code = asylo_sha256(extend, sizeof extend, pcr, status);
    }
    if (code == ASYLO_OK) {
        code = asylo_sha256(pcr, sizeof pcr, pcr_digest, status);
    }
    return code;
}

/* True when select names exactly PCR `pcr` (bit pcr % 8 of byte pcr / 8). */
static bool selects_only(const uint8_t *select, size_t size, unsigned pcr) {
    if (size < pcr / 8 + 1) {
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        uint8_t want = i == pcr / 8 ? (uint8_t)(1u << (pcr % 8)) : 0;
        if (select[i] != want) {
            return false;
        }
    }
    return true;
}

asylo_code asylo__tpm_quote_check(const uint8_t *attest, size_t attest_size,
                                  const uint8_t *signature, size_t signature_size,
                                  const uint8_t platform_key[65], const uint8_t *nonce,
                                  size_t nonce_size, const uint8_t measurement[32],
                                  asylo_status *status) {
    asylo__tpm_quote_fields fields;
    asylo_code code = asylo__tpm_quote_parse(attest, attest_size, &fields, status);
    if (code != ASYLO_OK) {
        return code;
    }
    if (signature_size != 64) {
        return bad(status, "signature is not 64 bytes (ECDSA P-256 r || s)");
    }
    if (asylo_p256_verify(platform_key, attest, attest_size, signature, NULL) != ASYLO_OK) {
        return asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_API,
                                "evidence refused: its TPM quote's signature does not verify "
                                "with the platform key (a modified or foreign quote)");
    }
    uint8_t extra_data[32], pcr_digest[32];
    code =
        asylo__tpm_quote_expected(measurement, nonce, nonce_size, extra_data, pcr_digest, status);
    if (code != ASYLO_OK) {
        return code;
    }
    if (fields.extra_data_size != 32 ||
        !asylo_crypto_equal(fields.extra_data, extra_data, sizeof extra_data)) {
        return asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_API,
                                "evidence refused: its TPM quote's qualifying data is not "
                                "SHA-256 of this verifier's nonce (a replayed quote)");
    }
    if (fields.pcr_hash != ASYLO__TPM_ALG_SHA256 ||
        !selects_only(fields.select, fields.select_size, ASYLO__TPM_QUOTE_PCR)) {
        return asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_API,
                                "evidence refused: its TPM quote does not select exactly PCR %d "
                                "of the SHA-256 bank (hash 0x%04x, %zu select bytes)",
                                ASYLO__TPM_QUOTE_PCR, fields.pcr_hash, fields.select_size);
    }
    if (fields.pcr_digest_size != 32 ||
        !asylo_crypto_equal(fields.pcr_digest, pcr_digest, sizeof pcr_digest)) {
        return asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_API,
                                "evidence refused: its TPM quote's PCR %d digest is not that of "
                                "one extend with the measurement the token claims",
                                ASYLO__TPM_QUOTE_PCR);
    }
    return ASYLO_OK;
}
