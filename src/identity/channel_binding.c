/* The channel binding of remote attestation (channel_binding.h). */
#include "identity/channel_binding.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asylo/crypto.h"

/* SHA-256(label || 0x00 || kind || SHA-256(value)). */
static asylo_code derive(uint8_t kind, const uint8_t *value, size_t value_size,
                         uint8_t binding[ASYLO__BINDING_SIZE], asylo_status *status) {
    uint8_t input[sizeof ASYLO__BINDING_LABEL + 1 + 32];
    size_t label_size = sizeof ASYLO__BINDING_LABEL; /* the NUL is the 0x00 separator */
    memcpy(input, ASYLO__BINDING_LABEL, label_size);
    input[label_size] = kind;
    asylo_code code = asylo_sha256(value_size == 0 ? (const uint8_t *)"" : value, value_size,
                                   input + label_size + 1, status);
    if (code == ASYLO_OK) {
        code = asylo_sha256(input, sizeof input, binding, status);
    }
    return code;
}

asylo_code asylo__binding_from_cert_pem(const char *pem, size_t pem_size, const char *what,
                                        uint8_t binding[ASYLO__BINDING_SIZE],
                                        asylo_status *status) {
    asylo_code code;
    unsigned char *der = NULL;
    BIO *bio = pem_size <= INT32_MAX ? BIO_new_mem_buf(pem, (int)pem_size) : NULL;
    X509 *certificate = bio == NULL ? NULL : PEM_read_bio_X509(bio, NULL, NULL, NULL);
    EVP_PKEY *key = certificate == NULL ? NULL : X509_get0_pubkey(certificate);
    int der_size = key == NULL ? -1 : i2d_PUBKEY(key, &der);
    if (der_size <= 0) {
        code = asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_TRANSPORT,
                                "channel binding: no certificate with a public key in %s", what);
        goto out;
    }
    code = derive(ASYLO__BINDING_KIND_TLS, der, (size_t)der_size, binding, status);
out:
    OPENSSL_free(der);
    X509_free(certificate);
    BIO_free(bio);
    return code;
}

asylo_code asylo__binding_from_cert_file(const char *path, uint8_t binding[ASYLO__BINDING_SIZE],
                                         asylo_status *status) {
    enum { MAX_PEM_SIZE = 1 << 20 };
    FILE *file = fopen(path, "re");
    if (file == NULL) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_TRANSPORT,
                                "channel binding: cannot open the certificate %s", path);
    }
    char *pem = malloc(MAX_PEM_SIZE);
    size_t size = pem == NULL ? 0 : fread(pem, 1, MAX_PEM_SIZE, file);
    fclose(file);
    asylo_code code;
    if (pem == NULL) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "channel binding: out of memory reading %s", path);
    } else {
        code = asylo__binding_from_cert_pem(pem, size, path, binding, status);
    }
    free(pem);
    return code;
}

asylo_code asylo__binding_from_token(const char *token, uint8_t binding[ASYLO__BINDING_SIZE],
                                     asylo_status *status) {
    const char *value = token == NULL ? "" : token;
    return derive(ASYLO__BINDING_KIND_TOKEN, (const uint8_t *)value, strlen(value), binding,
                  status);
}
