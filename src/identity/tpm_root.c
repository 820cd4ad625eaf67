/* The TPM platform root: the attestation key and the sealing root are
 * primary keys of a TPM 2.0's owner hierarchy, reached with tpm2-tss (ESAPI
 * through the TCTI loader). A primary key is derived from the hierarchy's
 * seed and its template, so the same TPM gives the same keys on every call
 * and nothing needs to be stored: no file holds a key, and a TPM whose owner
 * seed changed (TPM2_Clear, another TPM) gives other keys. docs/sealing.md
 * and docs/attestation.md say what this protects and what not. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "asylo/crypto.h"
#include "identity/platform.h"
#include "identity/tpm_quote.h"

#define DEFAULT_TCTI "device:/dev/tpmrm0"
/* Labels in the templates' unique field keep our primaries apart from other
 * software's on the same TPM. */
#define ATTESTATION_KEY_LABEL "asylo-c attestation key v1"
#define SEALING_KEY_LABEL "asylo-c sealing root key v1"
#define SEALING_ROOT_INPUT "asylo-c sealing root v1"
/* Another process using the PCR between our extend and quote shows as a
 * quote over another value; we then try again, at most this often. */
#define QUOTE_ATTEMPTS 4

typedef struct tpm {
    char tcti_conf[256];
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    ESYS_TR key;
} tpm;

/* Serializes this process's PCR reset/extend/quote sequences. */
static pthread_mutex_t pcr_lock = PTHREAD_MUTEX_INITIALIZER;

static asylo_code tpm_failed(asylo_status *status, const tpm *t, const char *what, TSS2_RC rc) {
    asylo_code code = ASYLO_INTERNAL;
    /* A format-one TPM response code: bit 7 set, the error in bits 0-5 (the
     * others name the parameter, handle or session). */
    TSS2_RC format_one = (rc & TPM2_RC_FMT1) != 0 ? (rc & 0xbf) : 0;
    if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER) {
        code = ASYLO_UNAVAILABLE;
    } else if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER &&
               (format_one == TPM2_RC_AUTH_FAIL || format_one == TPM2_RC_BAD_AUTH ||
                rc == TPM2_RC_LOCKOUT)) {
        code = ASYLO_PERMISSION_DENIED;
    }
    return asylo_status_set(status, code, ASYLO_ORIGIN_BACKEND,
                            "TPM platform root (TCTI '%s', from ASYLO_TPM_TCTI): %s failed: %s "
                            "(0x%x)",
                            t->tcti_conf, what, Tss2_RC_Decode(rc), (unsigned)rc);
}

static void tpm_close(tpm *t) {
    if (t->esys != NULL && t->key != ESYS_TR_NONE) {
        Esys_FlushContext(t->esys, t->key);
    }
    if (t->esys != NULL) {
        Esys_Finalize(&t->esys);
    }
    if (t->tcti != NULL) {
        Tss2_TctiLdr_Finalize(&t->tcti);
    }
}

static asylo_code tpm_open(tpm *t, asylo_status *status) {
    memset(t, 0, sizeof *t);
    t->key = ESYS_TR_NONE;
    const char *conf = getenv("ASYLO_TPM_TCTI");
    if (conf == NULL || conf[0] == '\0') {
        conf = DEFAULT_TCTI;
    }
    if (strlen(conf) >= sizeof t->tcti_conf) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "ASYLO_TPM_TCTI is longer than %zu bytes", sizeof t->tcti_conf - 1);
    }
    snprintf(t->tcti_conf, sizeof t->tcti_conf, "%s", conf);
    TSS2_RC rc = Tss2_TctiLdr_Initialize(t->tcti_conf, &t->tcti);
    if (rc != TSS2_RC_SUCCESS) {
        t->tcti = NULL;
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                "TPM platform root: cannot reach a TPM through TCTI '%s' (set "
                                "ASYLO_TPM_TCTI, e.g. device:/dev/tpmrm0 or "
                                "swtpm:host=127.0.0.1,port=2321, or unset ASYLO_PLATFORM_ROOT "
                                "for the software root): %s",
                                t->tcti_conf, Tss2_RC_Decode(rc));
    }
    rc = Esys_Initialize(&t->esys, t->tcti, NULL);
    if (rc != TSS2_RC_SUCCESS) {
        t->esys = NULL;
        asylo_code code = tpm_failed(status, t, "Esys_Initialize", rc);
        tpm_close(t);
        return code;
    }
    return ASYLO_OK;
}

static void set_label(uint8_t *buffer, uint16_t *size, const char *label) {
    *size = (uint16_t)strlen(label);
    memcpy(buffer, label, *size);
}

/* The attestation key: a restricted ECDSA P-256 / SHA-256 signing key, so
 * it signs only quotes the TPM makes itself and digests the TPM hashed
 * (never a forged TPMS_ATTEST). */
static void attestation_template(TPM2B_PUBLIC *template) {
    memset(template, 0, sizeof *template);
    TPMT_PUBLIC *area = &template->publicArea;
    area->type = TPM2_ALG_ECC;
    area->nameAlg = TPM2_ALG_SHA256;
    area->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                             TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                             TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
    area->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    area->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    area->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    area->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    area->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    set_label(area->unique.ecc.x.buffer, &area->unique.ecc.x.size, ATTESTATION_KEY_LABEL);
}

/* The sealing key: an HMAC-SHA256 key that never leaves the TPM. */
static void sealing_template(TPM2B_PUBLIC *template) {
    memset(template, 0, sizeof *template);
    TPMT_PUBLIC *area = &template->publicArea;
    area->type = TPM2_ALG_KEYEDHASH;
    area->nameAlg = TPM2_ALG_SHA256;
    area->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                             TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                             TPMA_OBJECT_SIGN_ENCRYPT;
    area->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_HMAC;
    area->parameters.keyedHashDetail.scheme.details.hmac.hashAlg = TPM2_ALG_SHA256;
    set_label(area->unique.keyedHash.buffer, &area->unique.keyedHash.size, SEALING_KEY_LABEL);
}

/* Opens the TPM and loads the primary key of template into t->key. */
static asylo_code open_with_key(tpm *t, const TPM2B_PUBLIC *template, TPM2B_PUBLIC **public_area,
                                asylo_status *status) {
    asylo_code code = tpm_open(t, status);
    if (code != ASYLO_OK) {
        return code;
    }
    TPM2B_SENSITIVE_CREATE sensitive = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION creation_pcrs = {0};
    TPM2B_PUBLIC *out_public = NULL;
    TPM2B_CREATION_DATA *creation_data = NULL;
    TPM2B_DIGEST *creation_hash = NULL;
    TPMT_TK_CREATION *creation_ticket = NULL;
    TSS2_RC rc =
        Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                           &sensitive, template, &outside, &creation_pcrs, &t->key, &out_public,
                           &creation_data, &creation_hash, &creation_ticket);
    Esys_Free(creation_data);
    Esys_Free(creation_hash);
    Esys_Free(creation_ticket);
    if (rc != TSS2_RC_SUCCESS) {
        t->key = ESYS_TR_NONE;
        code = tpm_failed(status, t,
                          "TPM2_CreatePrimary in the owner hierarchy (it needs the owner "
                          "authorization to be empty)",
                          rc);
        tpm_close(t);
        Esys_Free(out_public);
        return code;
    }
    if (public_area != NULL) {
        *public_area = out_public;
    } else {
        Esys_Free(out_public);
    }
    return ASYLO_OK;
}

/* A TPM2B_ECC_PARAMETER as 32 big-endian bytes; false when longer. */
static bool fixed32(const TPM2B_ECC_PARAMETER *value, uint8_t out[32]) {
    if (value->size > 32) {
        return false;
    }
    memset(out, 0, 32);
    memcpy(out + 32 - value->size, value->buffer, value->size);
    return true;
}

/* Opens the TPM with the attestation key loaded and its public point. */
static asylo_code open_attestation_key(tpm *t, uint8_t public_key[65], asylo_status *status) {
    TPM2B_PUBLIC template;
    attestation_template(&template);
    TPM2B_PUBLIC *out_public = NULL;
    asylo_code code = open_with_key(t, &template, &out_public, status);
    if (code != ASYLO_OK) {
        return code;
    }
    public_key[0] = 0x04;
    if (!fixed32(&out_public->publicArea.unique.ecc.x, public_key + 1) ||
        !fixed32(&out_public->publicArea.unique.ecc.y, public_key + 33)) {
        code = asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                                "TPM platform root (TCTI '%s'): the attestation key's public "
                                "point is not P-256",
                                t->tcti_conf);
        tpm_close(t);
    }
    Esys_Free(out_public);
    return code;
}

static asylo_code tpm_public_key(uint8_t public_key[65], asylo_status *status) {
    tpm t;
    asylo_code code = open_attestation_key(&t, public_key, status);
    if (code == ASYLO_OK) {
        tpm_close(&t);
    }
    return code;
}

static asylo_code signature_bytes(const tpm *t, const TPMT_SIGNATURE *signature, uint8_t out[64],
                                  asylo_status *status) {
    if (signature->sigAlg != TPM2_ALG_ECDSA ||
        !fixed32(&signature->signature.ecdsa.signatureR, out) ||
        !fixed32(&signature->signature.ecdsa.signatureS, out + 32)) {
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                                "TPM platform root (TCTI '%s'): the TPM answered a signature "
                                "that is not ECDSA P-256",
                                t->tcti_conf);
    }
    return ASYLO_OK;
}

/* The restricted key signs a digest only with a ticket saying the TPM hashed
 * the data itself (and it did not start with TPM_GENERATED_VALUE), so the
 * data goes through a TPM hash sequence. */
static asylo_code sign_with(tpm *t, const uint8_t *data, size_t size, uint8_t signature[64],
                            asylo_status *status) {
    asylo_code code = ASYLO_OK;
    TPM2B_AUTH auth = {0};
    ESYS_TR sequence = ESYS_TR_NONE;
    TPM2B_DIGEST *digest = NULL;
    TPMT_TK_HASHCHECK *ticket = NULL;
    TPMT_SIGNATURE *answer = NULL;
    TSS2_RC rc = Esys_HashSequenceStart(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &auth,
                                        TPM2_ALG_SHA256, &sequence);
    if (rc != TSS2_RC_SUCCESS) {
        code = tpm_failed(status, t, "TPM2_HashSequenceStart", rc);
        goto out;
    }
    /* 1024 bytes per update: the PC Client MAX_DIGEST_BUFFER. */
    TPM2B_MAX_BUFFER chunk;
    for (size_t at = 0; at < size; at += chunk.size) {
        chunk.size = (uint16_t)(size - at < 1024 ? size - at : 1024);
        memcpy(chunk.buffer, data + at, chunk.size);
        rc = Esys_SequenceUpdate(t->esys, sequence, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                 &chunk);
        if (rc != TSS2_RC_SUCCESS) {
            Esys_FlushContext(t->esys, sequence);
            code = tpm_failed(status, t, "TPM2_SequenceUpdate", rc);
            goto out;
        }
    }
    chunk.size = 0;
    rc = Esys_SequenceComplete(t->esys, sequence, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                               &chunk, ESYS_TR_RH_OWNER, &digest, &ticket);
    if (rc != TSS2_RC_SUCCESS) {
        Esys_FlushContext(t->esys, sequence);
        code = tpm_failed(status, t, "TPM2_SequenceComplete", rc);
        goto out;
    }
    TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
    rc = Esys_Sign(t->esys, t->key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, digest, &scheme,
                   ticket, &answer);
    if (rc != TSS2_RC_SUCCESS) {
        code = tpm_failed(status, t, "TPM2_Sign with the attestation key", rc);
        goto out;
    }
    code = signature_bytes(t, answer, signature, status);
out:
    Esys_Free(digest);
    Esys_Free(ticket);
    Esys_Free(answer);
    return code;
}

static asylo_code tpm_sealing_root(uint8_t root[ASYLO__ROOT_SIZE], asylo_status *status) {
    TPM2B_PUBLIC template;
    sealing_template(&template);
    tpm t;
    asylo_code code = open_with_key(&t, &template, NULL, status);
    if (code != ASYLO_OK) {
        return code;
    }
    TPM2B_MAX_BUFFER input;
    set_label(input.buffer, &input.size, SEALING_ROOT_INPUT);
    TPM2B_DIGEST *hmac = NULL;
    TSS2_RC rc = Esys_HMAC(t.esys, t.key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &input,
                           TPM2_ALG_SHA256, &hmac);
    if (rc != TSS2_RC_SUCCESS) {
        code = tpm_failed(status, &t, "TPM2_HMAC with the sealing key", rc);
    } else if (hmac->size != ASYLO__ROOT_SIZE) {
        code = asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                                "TPM platform root (TCTI '%s'): HMAC-SHA256 answered %u bytes",
                                t.tcti_conf, hmac->size);
    } else {
        memcpy(root, hmac->buffer, ASYLO__ROOT_SIZE);
    }
    if (hmac != NULL) {
        asylo_crypto_wipe(hmac->buffer, hmac->size);
    }
    Esys_Free(hmac);
    tpm_close(&t);
    return code;
}

/* One reset, extend and quote of PCR pcr; the caller holds pcr_lock. */
static asylo_code quote_once(tpm *t, unsigned pcr, const uint8_t measurement[32],
                             const TPM2B_DATA *qualifying, asylo__tpm_quote *quote,
                             asylo_status *status) {
    ESYS_TR pcr_handle = ESYS_TR_PCR0 + pcr;
    TSS2_RC rc = Esys_PCR_Reset(t->esys, pcr_handle, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
    if (rc != TSS2_RC_SUCCESS) {
        return tpm_failed(status, t, "TPM2_PCR_Reset (the quoted PCR must be resettable)", rc);
    }
    TPML_DIGEST_VALUES digests = {.count = 1};
    digests.digests[0].hashAlg = TPM2_ALG_SHA256;
    memcpy(digests.digests[0].digest.sha256, measurement, 32);
    rc = Esys_PCR_Extend(t->esys, pcr_handle, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                         &digests);
    if (rc != TSS2_RC_SUCCESS) {
        return tpm_failed(status, t, "TPM2_PCR_Extend", rc);
    }
    TPML_PCR_SELECTION selection = {.count = 1};
    selection.pcrSelections[0].hash = TPM2_ALG_SHA256;
    selection.pcrSelections[0].sizeofSelect = 3;
    selection.pcrSelections[0].pcrSelect[pcr / 8] = (uint8_t)(1u << (pcr % 8));
    TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
    TPM2B_ATTEST *quoted = NULL;
    TPMT_SIGNATURE *signature = NULL;
    rc = Esys_Quote(t->esys, t->key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, qualifying,
                    &scheme, &selection, &quoted, &signature);
    asylo_code code;
    if (rc != TSS2_RC_SUCCESS) {
        code = tpm_failed(status, t, "TPM2_Quote with the attestation key", rc);
    } else if (quoted->size > sizeof quote->attest) {
        code = asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                                "TPM platform root (TCTI '%s'): a quote of %u bytes (limit %zu)",
                                t->tcti_conf, quoted->size, sizeof quote->attest);
    } else {
        memcpy(quote->attest, quoted->attestationData, quoted->size);
        quote->attest_size = quoted->size;
        code = signature_bytes(t, signature, quote->signature, status);
    }
    Esys_Free(quoted);
    Esys_Free(signature);
    return code;
}

/* A quote of PCR pcr in the open session t (attestation key loaded). */
static asylo_code quote_with(tpm *t, unsigned pcr, const uint8_t measurement[32],
                             const uint8_t *nonce, size_t nonce_size, asylo__tpm_quote *quote,
                             asylo_status *status) {
    uint8_t pcr_digest[32];
    TPM2B_DATA qualifying = {.size = 32};
    asylo_code code = asylo__tpm_quote_expected(measurement, nonce, nonce_size, qualifying.buffer,
                                                pcr_digest, status);
    if (code != ASYLO_OK || pcr > 23) {
        return code != ASYLO_OK ? code
                                : asylo_status_set(status, ASYLO_INVALID_ARGUMENT,
                                                   ASYLO_ORIGIN_BACKEND, "no PCR %u", pcr);
    }
    pthread_mutex_lock(&pcr_lock);
    for (int attempt = 0; attempt < QUOTE_ATTEMPTS; attempt++) {
        code = quote_once(t, pcr, measurement, &qualifying, quote, status);
        asylo__tpm_quote_fields fields;
        if (code != ASYLO_OK || pcr != ASYLO__TPM_QUOTE_PCR) {
            break;
        }
        code = asylo__tpm_quote_parse(quote->attest, quote->attest_size, &fields, status);
        if (code == ASYLO_OK && fields.pcr_digest_size == 32 &&
            memcmp(fields.pcr_digest, pcr_digest, 32) == 0) {
            break;
        }
        code = asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                "TPM platform root (TCTI '%s'): PCR %u changed between extend "
                                "and quote %d times (another program uses it)",
                                t->tcti_conf, pcr, QUOTE_ATTEMPTS);
    }
    pthread_mutex_unlock(&pcr_lock);
    return code;
}

asylo_code asylo__tpm_root_quote_pcr(unsigned pcr, const uint8_t measurement[32],
                                     const uint8_t *nonce, size_t nonce_size,
                                     asylo__tpm_quote *quote, asylo_status *status) {
    uint8_t public_key[65];
    tpm t;
    asylo_code code = open_attestation_key(&t, public_key, status);
    if (code == ASYLO_OK) {
        code = quote_with(&t, pcr, measurement, nonce, nonce_size, quote, status);
        tpm_close(&t);
    }
    return code;
}

static asylo_code tpm_attest(const uint8_t measurement[32], const uint8_t *nonce, size_t nonce_size,
                             bool quote_wanted, asylo__attest_encoder encode, void *context,
                             uint8_t signature[64], asylo_status *status) {
    uint8_t public_key[65];
    uint8_t *to_sign = NULL;
    size_t to_sign_size = 0;
    asylo__tpm_quote *quote = quote_wanted ? calloc(1, sizeof *quote) : NULL;
    if (quote_wanted && quote == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "TPM platform root: out of memory for a quote");
    }
    tpm t;
    asylo_code code = open_attestation_key(&t, public_key, status);
    if (code != ASYLO_OK) {
        free(quote);
        return code;
    }
    if (quote != NULL) {
        code = quote_with(&t, ASYLO__TPM_QUOTE_PCR, measurement, nonce, nonce_size, quote, status);
    }
    if (code == ASYLO_OK) {
        code = encode(context, public_key, quote, &to_sign, &to_sign_size, status);
    }
    if (code == ASYLO_OK) {
        code = sign_with(&t, to_sign, to_sign_size, signature, status);
    }
    free(to_sign);
    free(quote);
    tpm_close(&t);
    return code;
}

const asylo__platform_root_ops asylo__tpm_root = {
    .name = ASYLO__ROOT_NAME_TPM,
    .sealing_root = tpm_sealing_root,
    .attestation_public_key = tpm_public_key,
    .attest = tpm_attest,
};
