/* Issuing evidence: the claims as CBOR (libcbor), signed with COSE_Sign1
 * ES256 by the platform attestation key. Layout in docs/attestation.md. */
#include "identity/evidence.h"

#include <cbor.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asylo/crypto.h"
#include "identity/platform.h"
#include "identity/tpm_quote.h"

#ifndef ASYLO_VERSION_STRING
#define ASYLO_VERSION_STRING "0"
#endif

/* The protected header: the map {1: -7} (alg: ES256), encoded once. */
static const uint8_t protected_header[] = {0xa1, 0x01, 0x26};

/* An integer in its shortest encoding (libcbor encodes the width asked). */
static cbor_item_t *build_int(int64_t value) {
    uint64_t magnitude = value >= 0 ? (uint64_t)value : (uint64_t)(-(value + 1));
    cbor_item_t *item;
    if (magnitude <= UINT8_MAX) {
        item = value >= 0 ? cbor_build_uint8((uint8_t)magnitude)
                          : cbor_build_negint8((uint8_t)magnitude);
    } else if (magnitude <= UINT16_MAX) {
        item = value >= 0 ? cbor_build_uint16((uint16_t)magnitude)
                          : cbor_build_negint16((uint16_t)magnitude);
    } else if (magnitude <= UINT32_MAX) {
        item = value >= 0 ? cbor_build_uint32((uint32_t)magnitude)
                          : cbor_build_negint32((uint32_t)magnitude);
    } else {
        item = value >= 0 ? cbor_build_uint64(magnitude) : cbor_build_negint64(magnitude);
    }
    return item;
}

/* Adds key -> value, taking both references; false on failure. */
static bool put(cbor_item_t *map, cbor_item_t *key, cbor_item_t *value) {
    bool ok = key != NULL && value != NULL &&
              cbor_map_add(map, (struct cbor_pair){.key = key, .value = value});
    if (key != NULL) {
        cbor_decref(&key);
    }
    if (value != NULL) {
        cbor_decref(&value);
    }
    return ok;
}

static bool push(cbor_item_t *array, cbor_item_t *item) {
    bool ok = item != NULL && cbor_array_push(array, item);
    if (item != NULL) {
        cbor_decref(&item);
    }
    return ok;
}

/* Serializes and releases item; NULL on failure. */
static uint8_t *serialize(cbor_item_t *item, size_t *size) {
    uint8_t *buffer = NULL;
    size_t capacity = 0;
    *size = item == NULL ? 0 : cbor_serialize_alloc(item, &buffer, &capacity);
    if (item != NULL) {
        cbor_decref(&item);
    }
    if (*size == 0) {
        free(buffer);
        return NULL;
    }
    return buffer;
}

static uint8_t *encode_measurements(const asylo_enclave_identity *identity, size_t *size) {
    cbor_item_t *map = cbor_new_definite_map(7);
    bool ok =
        map != NULL &&
        put(map, cbor_build_string("measurement"),
            cbor_build_bytestring(identity->measurement, 32)) &&
        put(map, cbor_build_string("signer-id"), cbor_build_bytestring(identity->signer_id, 32)) &&
        put(map, cbor_build_string("product-id"), build_int(identity->product_id)) &&
        put(map, cbor_build_string("svn"), build_int(identity->svn)) &&
        put(map, cbor_build_string("signed"), cbor_build_bool(identity->is_signed != 0)) &&
        put(map, cbor_build_string("debug"), cbor_build_bool(identity->debug != 0)) &&
        put(map, cbor_build_string("backend"), cbor_build_string(identity->backend));
    if (!ok) {
        if (map != NULL) {
            cbor_decref(&map);
        }
        return NULL;
    }
    return serialize(map, size);
}

/* The quote claim: [pcr, attest bstr, signature bstr]. */
static cbor_item_t *build_quote(const asylo__tpm_quote *quote) {
    cbor_item_t *array = cbor_new_definite_array(3);
    if (array != NULL && !(push(array, build_int(ASYLO__TPM_QUOTE_PCR)) &&
                           push(array, cbor_build_bytestring(quote->attest, quote->attest_size)) &&
                           push(array, cbor_build_bytestring(quote->signature, 64)))) {
        cbor_decref(&array);
    }
    return array;
}

static uint8_t *encode_claims(const asylo_enclave_identity *identity, const uint8_t *nonce,
                              size_t nonce_size, const uint8_t *user_data, size_t user_data_size,
                              const uint8_t ueid[33], const char *root,
                              const asylo__tpm_quote *quote, size_t *size) {
    size_t measurements_size = 0;
    uint8_t *measurements = encode_measurements(identity, &measurements_size);
    cbor_item_t *claims = cbor_new_definite_map(quote != NULL ? 11 : 10);
    cbor_item_t *entry = cbor_new_definite_array(2);
    cbor_item_t *list = cbor_new_definite_array(1);
    cbor_item_t *version = cbor_new_definite_array(1);
    bool ok = measurements != NULL && claims != NULL && entry != NULL && list != NULL &&
              version != NULL && push(entry, build_int(ASYLO__CONTENT_FORMAT_CBOR)) &&
              push(entry, cbor_build_bytestring(measurements, measurements_size)) &&
              push(version, cbor_build_string(ASYLO_VERSION_STRING));
    if (ok) {
        ok = cbor_array_push(list, entry);
    }
    ok = ok &&
         put(claims, build_int(ASYLO__CLAIM_NONCE), cbor_build_bytestring(nonce, nonce_size)) &&
         put(claims, build_int(ASYLO__CLAIM_UEID), cbor_build_bytestring(ueid, 33)) &&
         put(claims, build_int(ASYLO__CLAIM_DBGSTAT), build_int(identity->debug ? 0 : 1)) &&
         put(claims, build_int(ASYLO__CLAIM_PROFILE), cbor_build_string(ASYLO_EAT_PROFILE)) &&
         put(claims, build_int(ASYLO__CLAIM_IAT), build_int((int64_t)time(NULL))) &&
         put(claims, build_int(ASYLO__CLAIM_SWNAME), cbor_build_string("asylo-c")) &&
         put(claims, build_int(ASYLO__CLAIM_SWVERSION), cbor_incref(version)) &&
         put(claims, build_int(ASYLO__CLAIM_MEASUREMENTS), cbor_incref(list)) &&
         put(claims, build_int(ASYLO__CLAIM_ROOT), cbor_build_string(root)) &&
         put(claims, build_int(ASYLO__CLAIM_USER_DATA),
             cbor_build_bytestring(user_data_size ? user_data : (const uint8_t *)"",
                                   user_data_size)) &&
         (quote == NULL || put(claims, build_int(ASYLO__CLAIM_TPM_QUOTE), build_quote(quote)));
    uint8_t *encoded = NULL;
    if (ok) {
        encoded = serialize(cbor_incref(claims), size);
    }
    free(measurements);
    cbor_item_t *items[] = {claims, entry, list, version};
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        if (items[i] != NULL) {
            cbor_decref(&items[i]);
        }
    }
    return encoded;
}

/* A CBOR byte-string head for size. */
static size_t bstr_head(uint8_t *out, size_t size) {
    if (size < 24) {
        out[0] = (uint8_t)(0x40 | size);
        return 1;
    }
    if (size <= UINT8_MAX) {
        out[0] = 0x58;
        out[1] = (uint8_t)size;
        return 2;
    }
    if (size <= UINT16_MAX) {
        out[0] = 0x59;
        out[1] = (uint8_t)(size >> 8);
        out[2] = (uint8_t)size;
        return 3;
    }
    out[0] = 0x5a;
    for (int i = 0; i < 4; i++) {
        out[1 + i] = (uint8_t)(size >> (24 - 8 * i));
    }
    return 5;
}

uint8_t *asylo__cose_sig_structure(const uint8_t *protected_header_bytes, size_t protected_size,
                                   const uint8_t *payload, size_t payload_size, size_t *size) {
    static const uint8_t prefix[] = {0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1'};
    if (protected_size > UINT32_MAX || payload_size > UINT32_MAX) {
        return NULL;
    }
    uint8_t *out = malloc(sizeof prefix + 5 + protected_size + 1 + 5 + payload_size);
    if (out == NULL) {
        return NULL;
    }
    size_t at = 0;
    memcpy(out, prefix, sizeof prefix);
    at += sizeof prefix;
    at += bstr_head(out + at, protected_size);
    memcpy(out + at, protected_header_bytes, protected_size);
    at += protected_size;
    out[at++] = 0x40; /* external_aad: empty */
    at += bstr_head(out + at, payload_size);
    memcpy(out + at, payload, payload_size);
    at += payload_size;
    *size = at;
    return out;
}

/* What the root's attest needs to encode the claims once it knows its key
 * and quote; the claims and ueid it made are kept for the COSE_Sign1. */
typedef struct issue_request {
    const asylo_enclave_identity *identity;
    const uint8_t *nonce;
    size_t nonce_size;
    const uint8_t *user_data;
    size_t user_data_size;
    const char *root;
    bool override_quote; /* use `quote` below, not the root's */
    const asylo__tpm_quote *quote;
    uint8_t ueid[33];
    uint8_t *claims;
    size_t claims_size;
} issue_request;

static asylo_code encode_for_root(void *context, const uint8_t public_key[65],
                                  const asylo__tpm_quote *quote, uint8_t **to_sign,
                                  size_t *to_sign_size, asylo_status *status) {
    issue_request *request = context;
    request->ueid[0] = 0x01; /* RFC 9711 UEID type RAND: the hash of a random key */
    asylo_code code = asylo_sha256(public_key, 65, request->ueid + 1, status);
    if (code != ASYLO_OK) {
        return code;
    }
    request->claims =
        encode_claims(request->identity, request->nonce, request->nonce_size, request->user_data,
                      request->user_data_size, request->ueid, request->root,
                      request->override_quote ? request->quote : quote, &request->claims_size);
    *to_sign = request->claims == NULL
                   ? NULL
                   : asylo__cose_sig_structure(protected_header, sizeof protected_header,
                                               request->claims, request->claims_size, to_sign_size);
    if (*to_sign == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "evidence: cannot encode the claims");
    }
    return ASYLO_OK;
}

static asylo_code issue(const asylo__platform_root_ops *ops, issue_request *request,
                        asylo_output *output, asylo_status *status);

static bool arguments_valid(const uint8_t *nonce, size_t nonce_size, const uint8_t *user_data,
                            size_t user_data_size) {
    return !(nonce == NULL || nonce_size < ASYLO_EVIDENCE_MIN_NONCE_SIZE ||
             nonce_size > ASYLO_EVIDENCE_MAX_NONCE_SIZE ||
             user_data_size > ASYLO_EVIDENCE_MAX_USER_DATA_SIZE ||
             (user_data == NULL && user_data_size > 0));
}

asylo_code asylo__evidence_issue(const asylo_enclave_identity *identity, const uint8_t *nonce,
                                 size_t nonce_size, const uint8_t *user_data, size_t user_data_size,
                                 asylo_output *output, asylo_status *status) {
    const asylo__platform_root_ops *ops = NULL;
    asylo_code code = asylo__platform_root_get(&ops, status);
    if (code != ASYLO_OK) {
        return code;
    }
    issue_request request = {.identity = identity,
                             .nonce = nonce,
                             .nonce_size = nonce_size,
                             .user_data = user_data,
                             .user_data_size = user_data_size,
                             .root = ops->name};
    return issue(ops, &request, output, status);
}

asylo_code asylo__evidence_issue_quoted(const asylo_enclave_identity *identity,
                                        const uint8_t *nonce, size_t nonce_size,
                                        const uint8_t *user_data, size_t user_data_size,
                                        const char *root, const asylo__tpm_quote *quote,
                                        asylo_output *output, asylo_status *status) {
    const asylo__platform_root_ops *ops = NULL;
    asylo_code code = asylo__platform_root_get(&ops, status);
    if (code != ASYLO_OK) {
        return code;
    }
    issue_request request = {.identity = identity,
                             .nonce = nonce,
                             .nonce_size = nonce_size,
                             .user_data = user_data,
                             .user_data_size = user_data_size,
                             .root = root,
                             .override_quote = true,
                             .quote = quote};
    return issue(ops, &request, output, status);
}

static asylo_code issue(const asylo__platform_root_ops *ops, issue_request *request,
                        asylo_output *output, asylo_status *status) {
    if (!arguments_valid(request->nonce, request->nonce_size, request->user_data,
                         request->user_data_size)) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "evidence: the nonce must be %d..%d bytes (got %zu) and user "
                                "data at most %d (got %zu)",
                                ASYLO_EVIDENCE_MIN_NONCE_SIZE, ASYLO_EVIDENCE_MAX_NONCE_SIZE,
                                request->nonce_size, ASYLO_EVIDENCE_MAX_USER_DATA_SIZE,
                                request->user_data_size);
    }
    uint8_t signature[64];
    uint8_t *token = NULL;
    size_t token_size = 0;
    cbor_item_t *sign1 = NULL;
    asylo_code code =
        ops->attest(request->identity->measurement, request->nonce, request->nonce_size,
                    !request->override_quote, encode_for_root, request, signature, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    cbor_item_t *array = cbor_new_definite_array(4);
    cbor_item_t *unprotected = cbor_new_definite_map(1);
    bool ok = array != NULL && unprotected != NULL &&
              put(unprotected, build_int(4), cbor_build_bytestring(request->ueid + 1, 32)) &&
              push(array, cbor_build_bytestring(protected_header, sizeof protected_header)) &&
              push(array, cbor_incref(unprotected)) &&
              push(array, cbor_build_bytestring(request->claims, request->claims_size)) &&
              push(array, cbor_build_bytestring(signature, sizeof signature));
    if (unprotected != NULL) {
        cbor_decref(&unprotected);
    }
    if (ok) {
        sign1 = cbor_build_tag(ASYLO__COSE_TAG_SIGN1, array);
    }
    if (array != NULL) {
        cbor_decref(&array);
    }
    token = sign1 == NULL ? NULL : serialize(sign1, &token_size);
    sign1 = NULL;
    if (token == NULL) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "evidence: cannot encode the COSE_Sign1 structure");
        goto out;
    }
    code = asylo_output_write(output, token, token_size, status);
out:
    free(request->claims);
    free(token);
    return code;
}
