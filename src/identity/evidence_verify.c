/* The evidence verifier (asylo_attestation_verify). Its input is untrusted:
 * the token is decoded with libcbor into a bounded tree, every item's type
 * is checked before use, duplicate map keys are refused, and nothing is
 * believed before the signature verified with a trusted key. Checks run in
 * the order docs/attestation.md lists; the first failure is returned. */
#include <cbor.h>
#include <stdio.h>
#include <string.h>

#include "asylo/attestation.h"
#include "asylo/crypto.h"
#include "identity/evidence.h"
#include "identity/image_identity.h"
#include "identity/platform.h"
#include "identity/tpm_quote.h"

static asylo_code malformed(asylo_status *status, const char *what) {
    return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_API, "evidence is malformed: %s",
                            what);
}

/* An integer map key as int64; false for anything else. */
static bool int_key(const cbor_item_t *item, int64_t *value) {
    if (cbor_isa_uint(item) && cbor_get_int(item) <= INT64_MAX) {
        *value = (int64_t)cbor_get_int(item);
        return true;
    }
    if (cbor_isa_negint(item) && cbor_get_int(item) < INT64_MAX) {
        *value = -1 - (int64_t)cbor_get_int(item);
        return true;
    }
    return false;
}

static bool definite_bytes(const cbor_item_t *item) {
    return item != NULL && cbor_isa_bytestring(item) && cbor_bytestring_is_definite(item);
}

static bool definite_text(const cbor_item_t *item) {
    return item != NULL && cbor_isa_string(item) && cbor_string_is_definite(item);
}

/* The value of integer key `key` in map, NULL when absent; *duplicate set
 * when a key (of any kind) repeats or a key is not an integer. */
static cbor_item_t *lookup_int(const cbor_item_t *map, int64_t key, bool *bad) {
    cbor_item_t *found = NULL;
    struct cbor_pair *pairs = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++) {
        int64_t value;
        if (!int_key(pairs[i].key, &value)) {
            *bad = true;
            continue;
        }
        if (value == key) {
            if (found != NULL) {
                *bad = true;
            }
            found = pairs[i].value;
        }
    }
    return found;
}

static cbor_item_t *lookup_text(const cbor_item_t *map, const char *key, bool *bad) {
    cbor_item_t *found = NULL;
    size_t key_size = strlen(key);
    struct cbor_pair *pairs = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++) {
        if (!definite_text(pairs[i].key)) {
            *bad = true;
            continue;
        }
        if (cbor_string_length(pairs[i].key) == key_size &&
            memcmp(cbor_string_handle(pairs[i].key), key, key_size) == 0) {
            if (found != NULL) {
                *bad = true;
            }
            found = pairs[i].value;
        }
    }
    return found;
}

#define MAX_CBOR_DEPTH 8

/* Checks that data starts with one well-formed CBOR item of the kinds the
 * format uses (no tags, no indefinite lengths, nesting at most
 * MAX_CBOR_DEPTH) whose declared lengths fit in the bytes present, and sets
 * *used to its size. libcbor 0.8 allocates an array or map of the declared
 * size before it has seen the items, so a 5-byte input could make it clear
 * gigabytes: nothing reaches cbor_load without passing this first. Linear:
 * each item consumes at least one byte. */
static bool well_formed(const uint8_t *data, size_t size, int depth, size_t *used) {
    if (size == 0 || depth > MAX_CBOR_DEPTH) {
        return false;
    }
    unsigned major = data[0] >> 5, info = data[0] & 0x1f;
    size_t at = 1;
    uint64_t value = info;
    if (info >= 24) {
        static const unsigned widths[] = {1, 2, 4, 8};
        if (info > 27) {
            return false; /* reserved or indefinite */
        }
        unsigned width = widths[info - 24];
        if (size < 1 + width) {
            return false;
        }
        value = 0;
        for (unsigned i = 0; i < width; i++) {
            value = value << 8 | data[1 + i];
        }
        at += width;
    }
    size_t left = size - at;
    switch (major) {
    case 0:
    case 1:
    case 7:
        break;
    case 2:
    case 3:
        if (value > left) {
            return false;
        }
        at += (size_t)value;
        break;
    case 4:
    case 5: {
        uint64_t count = major == 5 ? value * 2 : value;
        if (value > left || count > left) {
            return false;
        }
        for (uint64_t i = 0; i < count; i++) {
            size_t item = 0;
            if (!well_formed(data + at, size - at, depth + 1, &item)) {
                return false;
            }
            at += item;
        }
        break;
    }
    default: /* tags appear only as the token's outer 0xd2, removed first */
        return false;
    }
    *used = at;
    return true;
}

/* Decodes exactly `size` bytes as one CBOR item; NULL otherwise. */
static cbor_item_t *decode_all(const uint8_t *data, size_t size) {
    size_t used = 0;
    if (!well_formed(data, size, 0, &used) || used != size) {
        return NULL;
    }
    struct cbor_load_result result;
    cbor_item_t *item = cbor_load(data, size, &result);
    if (item != NULL && (result.error.code != CBOR_ERR_NONE || result.read != size)) {
        cbor_decref(&item);
    }
    return item;
}

static bool uint32_value(const cbor_item_t *item, uint32_t *value) {
    if (item == NULL || !cbor_isa_uint(item) || cbor_get_int(item) > UINT32_MAX) {
        return false;
    }
    *value = (uint32_t)cbor_get_int(item);
    return true;
}

static bool bool_value(const cbor_item_t *item, int *value) {
    if (item == NULL || !cbor_is_bool(item)) {
        return false;
    }
    *value = cbor_get_bool(item) ? 1 : 0;
    return true;
}

/* Checks the protected header is exactly {1: -7}: ES256 and nothing else. */
static asylo_code check_protected(const cbor_item_t *bytes, asylo_status *status) {
    cbor_item_t *header = decode_all(cbor_bytestring_handle(bytes), cbor_bytestring_length(bytes));
    asylo_code code = ASYLO_OK;
    bool bad = false;
    int64_t alg = 0;
    if (header == NULL || !cbor_isa_map(header)) {
        code = malformed(status, "the protected header is not a CBOR map");
        goto out;
    }
    cbor_item_t *alg_item = lookup_int(header, 1, &bad);
    if (alg_item == NULL || bad || !int_key(alg_item, &alg) || alg != ASYLO__COSE_ALG_ES256 ||
        cbor_map_size(header) != 1) {
        code = asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_API,
                                "evidence refused: the protected header must be exactly {1: -7} "
                                "(alg ES256); it names another or no algorithm");
    }
out:
    if (header != NULL) {
        cbor_decref(&header);
    }
    return code;
}

/* Finds the trusted key that verifies the signature. */
static asylo_code check_signature(const cbor_item_t *protected_bytes, const cbor_item_t *payload,
                                  const cbor_item_t *signature,
                                  const asylo_attestation_policy *policy, uint8_t ueid[33],
                                  const uint8_t **verified_key, asylo_status *status) {
    if (cbor_bytestring_length(signature) != ASYLO_P256_SIGNATURE_SIZE) {
        return asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_API,
                                "evidence refused: the signature is %zu bytes, ES256 needs 64",
                                cbor_bytestring_length(signature));
    }
    size_t to_verify_size = 0;
    uint8_t *to_verify = asylo__cose_sig_structure(
        cbor_bytestring_handle(protected_bytes), cbor_bytestring_length(protected_bytes),
        cbor_bytestring_handle(payload), cbor_bytestring_length(payload), &to_verify_size);
    if (to_verify == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "evidence: no memory for the Sig_structure");
    }
    asylo_code code = ASYLO_UNAUTHENTICATED;
    for (size_t i = 0; i < policy->trusted_key_count; i++) {
        const uint8_t *key = policy->trusted_keys + i * ASYLO_PLATFORM_KEY_SIZE;
        if (asylo_p256_verify(key, to_verify, to_verify_size, cbor_bytestring_handle(signature),
                              NULL) == ASYLO_OK) {
            ueid[0] = 0x01;
            *verified_key = key;
            code = asylo_sha256(key, ASYLO_PLATFORM_KEY_SIZE, ueid + 1, status);
            break;
        }
    }
    free(to_verify);
    if (code == ASYLO_UNAUTHENTICATED) {
        return asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_API,
                                "evidence refused: its signature does not verify with any of the "
                                "%zu trusted platform keys (unknown key or modified token)",
                                policy->trusted_key_count);
    }
    return code;
}

static asylo_code decode_measurements(const cbor_item_t *list, asylo_enclave_identity *identity,
                                      asylo_status *status) {
    if (list == NULL || !cbor_isa_array(list) || cbor_array_size(list) != 1) {
        return malformed(status, "measurements (273) is not a one-entry array");
    }
    cbor_item_t *entry = cbor_array_handle(list)[0];
    uint32_t format = 0;
    if (!cbor_isa_array(entry) || cbor_array_size(entry) != 2 ||
        !uint32_value(cbor_array_handle(entry)[0], &format) ||
        format != ASYLO__CONTENT_FORMAT_CBOR || !definite_bytes(cbor_array_handle(entry)[1])) {
        return malformed(status, "the measurements entry is not [60, bstr]");
    }
    cbor_item_t *bytes = cbor_array_handle(entry)[1];
    cbor_item_t *map = decode_all(cbor_bytestring_handle(bytes), cbor_bytestring_length(bytes));
    asylo_code code = ASYLO_OK;
    bool bad = false;
    if (map == NULL || !cbor_isa_map(map)) {
        code = malformed(status, "the measurements entry is not a CBOR map");
        goto out;
    }
    cbor_item_t *measurement = lookup_text(map, "measurement", &bad);
    cbor_item_t *signer = lookup_text(map, "signer-id", &bad);
    cbor_item_t *backend = lookup_text(map, "backend", &bad);
    if (bad || !definite_bytes(measurement) || cbor_bytestring_length(measurement) != 32 ||
        !definite_bytes(signer) || cbor_bytestring_length(signer) != 32 ||
        !definite_text(backend) || cbor_string_length(backend) >= sizeof identity->backend ||
        !uint32_value(lookup_text(map, "product-id", &bad), &identity->product_id) ||
        !uint32_value(lookup_text(map, "svn", &bad), &identity->svn) ||
        !bool_value(lookup_text(map, "signed", &bad), &identity->is_signed) ||
        !bool_value(lookup_text(map, "debug", &bad), &identity->debug) || bad ||
        cbor_map_size(map) != 7) {
        code = malformed(status, "the measurements map lacks a field, has a wrong type or an "
                                 "unknown or repeated key");
        goto out;
    }
    memcpy(identity->measurement, cbor_bytestring_handle(measurement), 32);
    memcpy(identity->signer_id, cbor_bytestring_handle(signer), 32);
    memcpy(identity->backend, cbor_string_handle(backend), cbor_string_length(backend));
    identity->backend[cbor_string_length(backend)] = '\0';
out:
    if (map != NULL) {
        cbor_decref(&map);
    }
    return code;
}

static bool copy_text(const cbor_item_t *item, char *out, size_t size) {
    if (!definite_text(item) || cbor_string_length(item) >= size) {
        return false;
    }
    memcpy(out, cbor_string_handle(item), cbor_string_length(item));
    out[cbor_string_length(item)] = '\0';
    return true;
}

/* The TPM quote claim [pcr, attest, signature] of a `tpm` root's evidence,
 * checked with the key that signed the token (identity/tpm_quote.h). */
static asylo_code check_quote(const cbor_item_t *quote, const uint8_t *key,
                              const asylo_attestation_policy *policy,
                              const asylo_enclave_identity *identity, asylo_status *status) {
    uint32_t pcr = 0;
    if (!cbor_isa_array(quote) || cbor_array_size(quote) != 3 ||
        !uint32_value(cbor_array_handle(quote)[0], &pcr) ||
        !definite_bytes(cbor_array_handle(quote)[1]) ||
        !definite_bytes(cbor_array_handle(quote)[2])) {
        return malformed(status, "the TPM quote claim (-70002) is not [uint, bstr, bstr]");
    }
    if (pcr != ASYLO__TPM_QUOTE_PCR) {
        return asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_API,
                                "evidence refused: its TPM quote claim names PCR %u, not %d", pcr,
                                ASYLO__TPM_QUOTE_PCR);
    }
    cbor_item_t *attest = cbor_array_handle(quote)[1];
    cbor_item_t *signature = cbor_array_handle(quote)[2];
    return asylo__tpm_quote_check(cbor_bytestring_handle(attest), cbor_bytestring_length(attest),
                                  cbor_bytestring_handle(signature),
                                  cbor_bytestring_length(signature), key, policy->nonce,
                                  policy->nonce_size, identity->measurement, status);
}

static asylo_code decode_claims(const cbor_item_t *payload, const uint8_t ueid[33],
                                const uint8_t *key, const asylo_attestation_policy *policy,
                                asylo_attestation_claims *claims, asylo_status *status) {
    cbor_item_t *map = decode_all(cbor_bytestring_handle(payload), cbor_bytestring_length(payload));
    asylo_code code = ASYLO_OK;
    bool bad = false;
    if (map == NULL || !cbor_isa_map(map)) {
        code = malformed(status, "the payload is not a CBOR map of claims");
        goto out;
    }
    cbor_item_t *nonce_item = lookup_int(map, ASYLO__CLAIM_NONCE, &bad);
    cbor_item_t *ueid_item = lookup_int(map, ASYLO__CLAIM_UEID, &bad);
    cbor_item_t *user_item = lookup_int(map, ASYLO__CLAIM_USER_DATA, &bad);
    cbor_item_t *iat_item = lookup_int(map, ASYLO__CLAIM_IAT, &bad);
    uint32_t dbgstat = 0;
    if (bad || !definite_bytes(nonce_item) || !definite_bytes(ueid_item) ||
        !definite_bytes(user_item) ||
        cbor_bytestring_length(user_item) > ASYLO_EVIDENCE_MAX_USER_DATA_SIZE ||
        !uint32_value(lookup_int(map, ASYLO__CLAIM_DBGSTAT, &bad), &dbgstat) || dbgstat > 4 ||
        !copy_text(lookup_int(map, ASYLO__CLAIM_PROFILE, &bad), claims->profile,
                   sizeof claims->profile) ||
        !copy_text(lookup_int(map, ASYLO__CLAIM_ROOT, &bad), claims->root, sizeof claims->root) ||
        iat_item == NULL || !cbor_isa_uint(iat_item) || cbor_get_int(iat_item) > INT64_MAX || bad) {
        code = malformed(status, "a required claim is missing, repeated or of the wrong type");
        goto out;
    }
    if (cbor_bytestring_length(nonce_item) != policy->nonce_size ||
        !asylo_crypto_equal(cbor_bytestring_handle(nonce_item), policy->nonce,
                            policy->nonce_size)) {
        code = asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_API,
                                "evidence refused: its nonce is not the one this verifier sent "
                                "(a replayed or relayed token)");
        goto out;
    }
    if (strcmp(claims->profile, ASYLO_EAT_PROFILE) != 0) {
        code = asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_API,
                                "evidence refused: profile '%s' is not '%s'", claims->profile,
                                ASYLO_EAT_PROFILE);
        goto out;
    }
    if (cbor_bytestring_length(ueid_item) != 33 ||
        memcmp(cbor_bytestring_handle(ueid_item), ueid, 33) != 0) {
        code = asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_API,
                                "evidence refused: its ueid is not the signing platform's");
        goto out;
    }
    code = decode_measurements(lookup_int(map, ASYLO__CLAIM_MEASUREMENTS, &bad), &claims->identity,
                               status);
    if (code != ASYLO_OK) {
        goto out;
    }
    if ((dbgstat == 0) != (claims->identity.debug != 0)) {
        code = malformed(status, "dbgstat and the measurements' debug flag disagree");
        goto out;
    }
    /* A `tpm` root's evidence carries its quote, and only it does. */
    cbor_item_t *quote = lookup_int(map, ASYLO__CLAIM_TPM_QUOTE, &bad);
    bool tpm_root = strcmp(claims->root, ASYLO__ROOT_TPM) == 0;
    if (bad || tpm_root != (quote != NULL)) {
        code = malformed(status, tpm_root ? "root 'tpm' without its TPM quote claim (-70002)"
                                          : "a TPM quote claim (-70002) under a root other "
                                            "than 'tpm'");
        goto out;
    }
    if (quote != NULL) {
        code = check_quote(quote, key, policy, &claims->identity, status);
        if (code != ASYLO_OK) {
            goto out;
        }
    }
    memcpy(claims->ueid, ueid, 33);
    claims->issued_at = (int64_t)cbor_get_int(iat_item);
    claims->user_data_size = cbor_bytestring_length(user_item);
    memcpy(claims->user_data, cbor_bytestring_handle(user_item), claims->user_data_size);
out:
    if (map != NULL) {
        cbor_decref(&map);
    }
    return code;
}

static asylo_code hex_mismatch(asylo_status *status, const char *what, const uint8_t *expected,
                               const uint8_t *actual) {
    char expected_hex[65], actual_hex[65];
    asylo__hex(expected, 32, expected_hex);
    asylo__hex(actual, 32, actual_hex);
    return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_API,
                            "evidence refused: %s is %s but the policy expects %s", what,
                            actual_hex, expected_hex);
}

/* The identity checks of the policy, after the token is authentic. */
static asylo_code check_identity(const asylo_enclave_identity *identity,
                                 const asylo_attestation_policy *policy, asylo_status *status) {
    if (policy->expected_measurement != NULL &&
        !asylo_crypto_equal(policy->expected_measurement, identity->measurement, 32)) {
        return hex_mismatch(status, "the measurement", policy->expected_measurement,
                            identity->measurement);
    }
    if (policy->expected_signer_id != NULL &&
        !asylo_crypto_equal(policy->expected_signer_id, identity->signer_id, 32)) {
        return hex_mismatch(status, "the signer id", policy->expected_signer_id,
                            identity->signer_id);
    }
    if (policy->check_product_id && identity->product_id != policy->product_id) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_API,
                                "evidence refused: product id %u, the policy expects %u",
                                identity->product_id, policy->product_id);
    }
    if (identity->svn < policy->min_svn) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_API,
                                "evidence refused: svn %u is below the policy's minimum %u",
                                identity->svn, policy->min_svn);
    }
    if (identity->debug && !policy->allow_debug) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_API,
                                "evidence refused: the enclave is in debug mode and the policy "
                                "does not allow debug");
    }
    return ASYLO_OK;
}

asylo_code asylo_attestation_verify(const uint8_t *evidence, size_t evidence_size,
                                    const asylo_attestation_policy *policy,
                                    asylo_attestation_claims *claims, asylo_status *status) {
    if (policy == NULL || policy->nonce == NULL ||
        policy->nonce_size < ASYLO_EVIDENCE_MIN_NONCE_SIZE ||
        policy->nonce_size > ASYLO_EVIDENCE_MAX_NONCE_SIZE || policy->trusted_keys == NULL ||
        policy->trusted_key_count == 0 || (evidence == NULL && evidence_size > 0)) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "asylo_attestation_verify: the policy needs a nonce of %d..%d "
                                "bytes and at least one trusted platform key",
                                ASYLO_EVIDENCE_MIN_NONCE_SIZE, ASYLO_EVIDENCE_MAX_NONCE_SIZE);
    }
    if (evidence_size == 0 || evidence_size > ASYLO_EVIDENCE_MAX_SIZE) {
        return malformed(status, "empty or larger than ASYLO_EVIDENCE_MAX_SIZE");
    }
    asylo_attestation_claims local;
    asylo_attestation_claims *out = claims != NULL ? claims : &local;
    memset(out, 0, sizeof *out);
    asylo_code code = ASYLO_OK;
    bool bad = false;
    uint8_t ueid[33];
    const uint8_t *key = NULL;
    /* The tag is taken off by hand: it must be the one-byte head 0xd2 (the
     * format allows no other), and libcbor 0.8 refuses to decode tag 18. */
    cbor_item_t *array = NULL;
    if (evidence[0] != 0xd2 || (array = decode_all(evidence + 1, evidence_size - 1)) == NULL) {
        code = malformed(status, "not one CBOR item tagged 18 (COSE_Sign1, head 0xd2)");
        goto out;
    }
    bool shape = cbor_isa_array(array) && cbor_array_size(array) == 4;
    cbor_item_t **items = shape ? cbor_array_handle(array) : NULL;
    if (!shape || !definite_bytes(items[0]) || !cbor_isa_map(items[1]) ||
        !definite_bytes(items[2]) || !definite_bytes(items[3])) {
        cbor_decref(&array);
        code = malformed(status, "COSE_Sign1 is not [bstr, map, bstr, bstr]");
        goto out;
    }
    /* An algorithm in the unprotected header would not be signed: refuse it
     * rather than choose between the two. */
    if (lookup_int(items[1], 1, &bad) != NULL) {
        cbor_decref(&array);
        code = asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_API,
                                "evidence refused: the unprotected header names an algorithm");
        goto out;
    }
    code = check_protected(items[0], status);
    if (code == ASYLO_OK) {
        code = check_signature(items[0], items[2], items[3], policy, ueid, &key, status);
    }
    /* The unprotected header is not signed: allow exactly {4: kid} with kid
     * naming the key that verified, so nothing unsigned can vary. */
    if (code == ASYLO_OK) {
        cbor_item_t *kid = lookup_int(items[1], 4, &bad);
        if (bad || cbor_map_size(items[1]) != 1 || !definite_bytes(kid) ||
            cbor_bytestring_length(kid) != 32 ||
            memcmp(cbor_bytestring_handle(kid), ueid + 1, 32) != 0) {
            code = asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_API,
                                    "evidence refused: the unprotected header is not exactly "
                                    "{4: kid} with the signing key's kid");
        }
    }
    if (code == ASYLO_OK) {
        code = decode_claims(items[2], ueid, key, policy, out, status);
    }
    cbor_decref(&array);
    if (code == ASYLO_OK) {
        code = check_identity(&out->identity, policy, status);
    }
    if (code == ASYLO_OK) {
        code = asylo_status_ok(status);
    }
out:
    if (code != ASYLO_OK && claims != NULL) {
        memset(claims, 0, sizeof *claims);
    }
    return code;
}

asylo_code asylo_platform_attestation_key(uint8_t public_key[ASYLO_PLATFORM_KEY_SIZE],
                                          asylo_status *status) {
    if (public_key == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "asylo_platform_attestation_key: public_key is NULL");
    }
    asylo_code code = asylo__platform_attestation_public_key(public_key, status);
    return code == ASYLO_OK ? asylo_status_ok(status) : code;
}
