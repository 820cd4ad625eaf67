/* Channel security (see security.h). */
#include "transport/security.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "common/bytes.h"

/* One table drives parsing, so the aliases cannot drift from the main names. */
typedef enum flag_id {
    FLAG_SECURITY_TYPE,
    FLAG_SERVER_CERT,
    FLAG_SERVER_KEY,
    FLAG_ROOT_CERTS,
    FLAG_CLIENT_CERT,
    FLAG_CLIENT_KEY,
    FLAG_ALLOW_INSECURE,
} flag_id;

static const struct {
    const char *name;
    flag_id id;
} flags[] = {
    {"security_type", FLAG_SECURITY_TYPE},
    {"ssl_server_cert", FLAG_SERVER_CERT},
    {"ssl_cert", FLAG_SERVER_CERT},
    {"ssl_server_cred", FLAG_SERVER_KEY},
    {"ssl_key", FLAG_SERVER_KEY},
    {"ssl_root_certs", FLAG_ROOT_CERTS},
    {"ssl_client_cert", FLAG_CLIENT_CERT},
    {"ssl_client_key", FLAG_CLIENT_KEY},
    {"allow_insecure_non_local", FLAG_ALLOW_INSECURE},
};

const char *asylo__security_usage(void) {
    return "  --security_type=local|ssl   channel security (default local: gRPC local\n"
           "                              credentials, loopback and unix: only)\n"
           "  --ssl_server_cert=PEM       server certificate chain (alias --ssl_cert)\n"
           "  --ssl_server_cred=PEM       server private key (alias --ssl_key)\n"
           "  --ssl_root_certs=PEM        trusted CAs; on asylo-remote-proxy and\n"
           "                              asylo-provision-server, clients must present\n"
           "                              a certificate from them (mutual TLS)\n"
           "  --ssl_client_cert=PEM       client certificate for mutual TLS\n"
           "  --ssl_client_key=PEM        client private key for mutual TLS\n"
           "  --allow_insecure_non_local  allow plaintext (--security_type=local) on a\n"
           "                              non-loopback address: trusted networks only\n";
}

asylo_code asylo__security_parse_flag(asylo__security_options *options, const char *argument,
                                      const char *next, int *consumed, asylo_status *status) {
    *consumed = 0;
    if (argument == NULL || argument[0] != '-') {
        return asylo_status_ok(status);
    }
    const char *name = argument + (argument[1] == '-' ? 2 : 1);
    const char *equals = strchr(name, '=');
    size_t name_length = equals != NULL ? (size_t)(equals - name) : strlen(name);
    size_t index;
    for (index = 0; index < sizeof flags / sizeof flags[0]; index++) {
        if (strlen(flags[index].name) == name_length &&
            strncmp(flags[index].name, name, name_length) == 0) {
            break;
        }
    }
    if (index == sizeof flags / sizeof flags[0]) {
        return asylo_status_ok(status);
    }
    flag_id id = flags[index].id;
    if (id == FLAG_ALLOW_INSECURE) {
        if (equals != NULL && strcmp(equals + 1, "true") != 0 && strcmp(equals + 1, "1") != 0 &&
            strcmp(equals + 1, "false") != 0 && strcmp(equals + 1, "0") != 0) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "--allow_insecure_non_local takes no value (or true/false), "
                                    "got '%s'",
                                    equals + 1);
        }
        options->allow_insecure_non_local =
            equals == NULL || strcmp(equals + 1, "true") == 0 || strcmp(equals + 1, "1") == 0;
        *consumed = 1;
        return asylo_status_ok(status);
    }
    const char *value;
    int used;
    if (equals != NULL) {
        value = equals + 1;
        used = 1;
    } else if (next != NULL) {
        value = next;
        used = 2;
    } else {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "--%s needs a value", flags[index].name);
    }
    if (value[0] == '\0') {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "--%s needs a non-empty value", flags[index].name);
    }
    switch (id) {
    case FLAG_SECURITY_TYPE:
        if (strcmp(value, "local") == 0) {
            options->type = ASYLO__SECURITY_LOCAL;
        } else if (strcmp(value, "ssl") == 0) {
            options->type = ASYLO__SECURITY_SSL;
        } else {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "--security_type must be 'local' or 'ssl', got '%s'", value);
        }
        break;
    case FLAG_SERVER_CERT:
        options->server_cert = value;
        break;
    case FLAG_SERVER_KEY:
        options->server_key = value;
        break;
    case FLAG_ROOT_CERTS:
        options->root_certs = value;
        break;
    case FLAG_CLIENT_CERT:
        options->client_cert = value;
        break;
    case FLAG_CLIENT_KEY:
        options->client_key = value;
        break;
    case FLAG_ALLOW_INSECURE:
        break;
    }
    *consumed = used;
    return asylo_status_ok(status);
}

/* The file must be a readable regular file; errors name the flag. */
static asylo_code check_file(const char *flag, const char *path, asylo_status *status) {
    struct stat info;
    if (stat(path, &info) != 0) {
        int error = errno;
        return asylo_status_set(status, error == ENOENT ? ASYLO_NOT_FOUND : ASYLO_PERMISSION_DENIED,
                                ASYLO_ORIGIN_API, "--%s=%s: %s", flag, path, strerror(error));
    }
    if (!S_ISREG(info.st_mode)) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "--%s=%s: not a regular file", flag, path);
    }
    if (access(path, R_OK) != 0) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_API, "--%s=%s: %s",
                                flag, path, strerror(errno));
    }
    return asylo_status_ok(status);
}

asylo_code asylo__security_check(const asylo__security_options *options,
                                 const asylo__address *address, bool is_server,
                                 asylo_status *status) {
    if (options->type == ASYLO__SECURITY_LOCAL) {
        if (!asylo__address_is_local(address) && !options->allow_insecure_non_local) {
            return asylo_status_set(
                status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                "--security_type=local is plaintext and only allowed on loopback or unix: "
                "addresses, not '%s'; use --security_type=ssl, or force plaintext on a trusted "
                "network with --allow_insecure_non_local",
                address->target);
        }
        return asylo_status_ok(status);
    }
    if (options->type != ASYLO__SECURITY_SSL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "unknown security type %d", (int)options->type);
    }
    struct {
        const char *flag;
        const char *path;
    } files[3];
    size_t count = 0;
    if (is_server) {
        if (options->server_cert == NULL || options->server_key == NULL) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "--security_type=ssl on a server needs %s",
                                    options->server_cert == NULL
                                        ? "--ssl_server_cert (the certificate)"
                                        : "--ssl_server_cred (the private key)");
        }
        if (options->require_client_certificate && options->root_certs == NULL) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "requiring client certificates (mutual TLS) needs "
                                    "--ssl_root_certs: the CAs they must chain to");
        }
        files[count].flag = "ssl_server_cert";
        files[count++].path = options->server_cert;
        files[count].flag = "ssl_server_cred";
        files[count++].path = options->server_key;
    } else {
        if ((options->client_cert == NULL) != (options->client_key == NULL)) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "--ssl_client_cert and --ssl_client_key go together; %s is "
                                    "missing",
                                    options->client_cert == NULL ? "--ssl_client_cert"
                                                                 : "--ssl_client_key");
        }
        if (options->client_cert != NULL) {
            files[count].flag = "ssl_client_cert";
            files[count++].path = options->client_cert;
            files[count].flag = "ssl_client_key";
            files[count++].path = options->client_key;
        }
    }
    /* A server uses the roots only to check client certificates. */
    if (options->root_certs != NULL && (!is_server || options->require_client_certificate)) {
        files[count].flag = "ssl_root_certs";
        files[count++].path = options->root_certs;
    }
    for (size_t i = 0; i < count; i++) {
        asylo_code code = check_file(files[i].flag, files[i].path, status);
        if (code != ASYLO_OK) {
            return code;
        }
    }
    return asylo_status_ok(status);
}

asylo_code asylo__security_read_file(const char *flag, const char *path, size_t max_size,
                                     char **out, size_t *size, asylo_status *status) {
    asylo_code code = ASYLO_OK;
    char *data = NULL;
    size_t length = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int error = errno;
        code = asylo_status_set(status, error == ENOENT ? ASYLO_NOT_FOUND : ASYLO_PERMISSION_DENIED,
                                ASYLO_ORIGIN_API, "--%s=%s: %s", flag, path, strerror(error));
        goto out;
    }
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "--%s=%s: not a regular file", flag, path);
        goto out;
    }
    if ((uint64_t)info.st_size > max_size) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "--%s=%s: %lld bytes, more than the %zu allowed", flag, path,
                                (long long)info.st_size, max_size);
        goto out;
    }
    /* Read up to the limit, not st_size: the file may change under us. */
    data = malloc(max_size + 1);
    if (data == NULL) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "--%s=%s: out of memory", flag, path);
        goto out;
    }
    for (;;) {
        ssize_t got = read(fd, data + length, max_size + 1 - length);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            code = asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_API,
                                    "--%s=%s: %s", flag, path, strerror(errno));
            goto out;
        }
        if (got == 0) {
            break;
        }
        length += (size_t)got;
        if (length > max_size) {
            code =
                asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                 "--%s=%s: more than the %zu bytes allowed", flag, path, max_size);
            goto out;
        }
    }
    data[length] = '\0';
    *out = data;
    *size = length;
    data = NULL;
    asylo_status_ok(status);
out:
    if (data != NULL) {
        /* Key files end up here too. */
        asylo__secure_zero(data, length);
        free(data);
    }
    if (fd >= 0) {
        close(fd);
    }
    return code;
}

static void free_pem(char *pem, size_t size) {
    if (pem != NULL) {
        asylo__secure_zero(pem, size);
        free(pem);
    }
}

/* Reads a PEM file and checks that OpenSSL finds the expected object in it,
 * so a swapped flag ("--ssl_server_cert=key.pem") fails with a clear message
 * instead of an opaque handshake failure. */
static asylo_code read_pem(const char *flag, const char *path, bool is_key, char **out,
                           size_t *size, asylo_status *status) {
    asylo_code code =
        asylo__security_read_file(flag, path, ASYLO__SECURITY_MAX_PEM_SIZE, out, size, status);
    if (code != ASYLO_OK) {
        return code;
    }
    BIO *bio = BIO_new_mem_buf(*out, (int)*size);
    bool ok = false;
    if (bio != NULL) {
        if (is_key) {
            EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
            ok = key != NULL;
            EVP_PKEY_free(key);
        } else {
            X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
            ok = cert != NULL;
            X509_free(cert);
        }
        BIO_free(bio);
    }
    ERR_clear_error();
    if (!ok) {
        free_pem(*out, *size);
        *out = NULL;
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "--%s=%s: no PEM %s found", flag, path,
                                is_key ? "private key" : "certificate");
    }
    return ASYLO_OK;
}

/* The private key must belong to the certificate (its leaf, the first in
 * the file). gRPC would otherwise accept the pair and fail every handshake
 * later with a message that names neither file. */
static asylo_code check_key_matches(const char *cert_flag, const char *cert_path,
                                    const char *cert_pem, size_t cert_size, const char *key_flag,
                                    const char *key_path, const char *key_pem, size_t key_size,
                                    asylo_status *status) {
    BIO *cert_bio = BIO_new_mem_buf(cert_pem, (int)cert_size);
    BIO *key_bio = BIO_new_mem_buf(key_pem, (int)key_size);
    X509 *cert = cert_bio != NULL ? PEM_read_bio_X509(cert_bio, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = key_bio != NULL ? PEM_read_bio_PrivateKey(key_bio, NULL, NULL, NULL) : NULL;
    asylo_code code;
    if (cert == NULL || key == NULL) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "cannot compare --%s=%s with --%s=%s: out of memory", key_flag,
                                key_path, cert_flag, cert_path);
    } else if (X509_check_private_key(cert, key) != 1) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "the private key --%s=%s does not match the certificate "
                                "--%s=%s: give the key the certificate was issued for",
                                key_flag, key_path, cert_flag, cert_path);
    } else {
        code = asylo_status_ok(status);
    }
    EVP_PKEY_free(key);
    X509_free(cert);
    BIO_free(key_bio);
    BIO_free(cert_bio);
    ERR_clear_error();
    return code;
}

asylo_code asylo__security_channel_credentials(const asylo__security_options *options,
                                               const asylo__address *address,
                                               grpc_channel_credentials **out,
                                               asylo_status *status) {
    char *roots = NULL, *cert = NULL, *key = NULL;
    size_t roots_size = 0, cert_size = 0, key_size = 0;
    asylo_code code = asylo__security_check(options, address, false, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    *out = NULL;
    if (options->type == ASYLO__SECURITY_LOCAL) {
        if (asylo__address_is_local(address)) {
            *out = grpc_local_credentials_create(
                address->family == ASYLO__ADDRESS_UNIX ? UDS : LOCAL_TCP);
        } else {
            /* Only reachable with --allow_insecure_non_local (checked above). */
            *out = grpc_insecure_credentials_create();
        }
    } else {
        if (options->root_certs != NULL) {
            code =
                read_pem("ssl_root_certs", options->root_certs, false, &roots, &roots_size, status);
            if (code != ASYLO_OK) {
                goto out;
            }
        }
        if (options->client_cert != NULL) {
            code =
                read_pem("ssl_client_cert", options->client_cert, false, &cert, &cert_size, status);
            if (code == ASYLO_OK) {
                code =
                    read_pem("ssl_client_key", options->client_key, true, &key, &key_size, status);
            }
            if (code == ASYLO_OK) {
                code =
                    check_key_matches("ssl_client_cert", options->client_cert, cert, cert_size,
                                      "ssl_client_key", options->client_key, key, key_size, status);
            }
            if (code != ASYLO_OK) {
                goto out;
            }
        }
        grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
        /* NULL roots: gRPC falls back to the system bundle. */
        *out = grpc_ssl_credentials_create(roots, cert != NULL ? &pair : NULL, NULL, NULL);
    }
    if (*out == NULL) {
        code = asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_TRANSPORT,
                                "gRPC refused to create channel credentials for '%s'",
                                address->target);
        goto out;
    }
    code = asylo_status_ok(status);
out:
    /* gRPC copies the PEM strings. */
    free_pem(roots, roots_size);
    free_pem(cert, cert_size);
    free_pem(key, key_size);
    return code;
}

asylo_code asylo__security_server_credentials(const asylo__security_options *options,
                                              const asylo__address *address,
                                              grpc_server_credentials **out, asylo_status *status) {
    char *roots = NULL, *cert = NULL, *key = NULL;
    size_t roots_size = 0, cert_size = 0, key_size = 0;
    asylo_code code = asylo__security_check(options, address, true, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    *out = NULL;
    if (options->type == ASYLO__SECURITY_LOCAL) {
        if (asylo__address_is_local(address)) {
            *out = grpc_local_server_credentials_create(
                address->family == ASYLO__ADDRESS_UNIX ? UDS : LOCAL_TCP);
        } else {
            *out = grpc_insecure_server_credentials_create();
        }
    } else {
        code = read_pem("ssl_server_cert", options->server_cert, false, &cert, &cert_size, status);
        if (code == ASYLO_OK) {
            code = read_pem("ssl_server_cred", options->server_key, true, &key, &key_size, status);
        }
        if (code == ASYLO_OK) {
            code = check_key_matches("ssl_server_cert", options->server_cert, cert, cert_size,
                                     "ssl_server_cred", options->server_key, key, key_size, status);
        }
        if (code == ASYLO_OK && options->require_client_certificate) {
            code =
                read_pem("ssl_root_certs", options->root_certs, false, &roots, &roots_size, status);
        }
        if (code != ASYLO_OK) {
            goto out;
        }
        grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
        /* The handshake asks for a client certificate but does not check it: a
         * handshake failure reaches the client only as UNAVAILABLE. The server
         * verifies the certificate per call (asylo__client_verifier) and answers
         * UNAUTHENTICATED with the reason instead. */
        *out = grpc_ssl_server_credentials_create_ex(
            roots, &pair, 1,
            roots != NULL ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY
                          : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            NULL);
    }
    if (*out == NULL) {
        code =
            asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_TRANSPORT,
                             "gRPC refused to create server credentials for '%s'", address->target);
        goto out;
    }
    code = asylo_status_ok(status);
out:
    free_pem(roots, roots_size);
    free_pem(cert, cert_size);
    free_pem(key, key_size);
    return code;
}

struct asylo__client_verifier {
    X509_STORE *store;
};

asylo_code asylo__client_verifier_create(const asylo__security_options *options,
                                         asylo__client_verifier **out, asylo_status *status) {
    asylo__client_verifier *verifier = NULL;
    BIO *bio = NULL;
    char *roots = NULL;
    size_t roots_size = 0;
    asylo_code code = ASYLO_OK;
    *out = NULL;
    if (options->type != ASYLO__SECURITY_SSL || !options->require_client_certificate) {
        return asylo_status_ok(status);
    }
    if (options->root_certs == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "requiring client certificates (mutual TLS) needs "
                                "--ssl_root_certs: the CAs they must chain to");
    }
    code = read_pem("ssl_root_certs", options->root_certs, false, &roots, &roots_size, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    verifier = calloc(1, sizeof *verifier);
    bio = BIO_new_mem_buf(roots, (int)roots_size);
    if (verifier == NULL || bio == NULL || (verifier->store = X509_STORE_new()) == NULL) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_TRANSPORT,
                                "out of memory loading --ssl_root_certs");
        goto out;
    }
    size_t loaded = 0;
    X509 *cert;
    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        int added = X509_STORE_add_cert(verifier->store, cert);
        X509_free(cert);
        if (added != 1) {
            code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "--ssl_root_certs=%s: a certificate could not be added",
                                    options->root_certs);
            goto out;
        }
        loaded++;
    }
    ERR_clear_error(); /* the loop ends on a "no start line" error */
    if (loaded == 0) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "--ssl_root_certs=%s: no certificates", options->root_certs);
        goto out;
    }
    *out = verifier;
    verifier = NULL;
    code = asylo_status_ok(status);
out:
    BIO_free(bio);
    free_pem(roots, roots_size);
    asylo__client_verifier_destroy(verifier);
    return code;
}

void asylo__client_verifier_destroy(asylo__client_verifier *verifier) {
    if (verifier != NULL) {
        X509_STORE_free(verifier->store);
        free(verifier);
    }
}

/* Appends every certificate in a PEM property to chain. */
static void add_pem_certs(STACK_OF(X509) * chain, const char *pem, size_t size) {
    BIO *bio = BIO_new_mem_buf(pem, (int)size);
    X509 *cert;
    while (bio != NULL && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(chain, cert)) {
            X509_free(cert);
            break;
        }
    }
    ERR_clear_error();
    BIO_free(bio);
}

asylo_code asylo__client_verifier_check(asylo__client_verifier *verifier, grpc_call *call,
                                        char *identity, size_t identity_size,
                                        asylo_status *status) {
    grpc_auth_context *context = NULL;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    X509_STORE_CTX *store_context = NULL;
    BIO *bio = NULL;
    asylo_code code = ASYLO_OK;
    if (identity != NULL && identity_size > 0) {
        identity[0] = '\0';
    }
    context = grpc_call_auth_context(call);
    const grpc_auth_property *leaf_pem = NULL, *chain_pem = NULL;
    if (context != NULL) {
        grpc_auth_property_iterator it =
            grpc_auth_context_find_properties_by_name(context, GRPC_X509_PEM_CERT_PROPERTY_NAME);
        leaf_pem = grpc_auth_property_iterator_next(&it);
        it = grpc_auth_context_find_properties_by_name(context,
                                                       GRPC_X509_PEM_CERT_CHAIN_PROPERTY_NAME);
        chain_pem = grpc_auth_property_iterator_next(&it);
    }
    if (verifier == NULL) {
        /* No mutual TLS: there is no identity to report. */
        code = asylo_status_ok(status);
        goto out;
    }
    if (leaf_pem == NULL || leaf_pem->value_length == 0) {
        code = asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_TRANSPORT,
                                "the server requires a client certificate (mutual TLS) and the "
                                "client presented none: pass --ssl_client_cert and "
                                "--ssl_client_key");
        goto out;
    }
    bio = BIO_new_mem_buf(leaf_pem->value, (int)leaf_pem->value_length);
    leaf = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    chain = sk_X509_new_null();
    store_context = X509_STORE_CTX_new();
    if (leaf == NULL || chain == NULL || store_context == NULL) {
        code = asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_TRANSPORT,
                                "the client certificate could not be read");
        goto out;
    }
    if (chain_pem != NULL) {
        add_pem_certs(chain, chain_pem->value, chain_pem->value_length);
    }
    if (X509_STORE_CTX_init(store_context, verifier->store, leaf, chain) != 1) {
        code = asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_TRANSPORT,
                                "cannot set up client certificate verification");
        goto out;
    }
    X509_STORE_CTX_set_purpose(store_context, X509_PURPOSE_SSL_CLIENT);
    char subject[256];
    X509_NAME_oneline(X509_get_subject_name(leaf), subject, sizeof subject);
    if (X509_verify_cert(store_context) != 1) {
        int error = X509_STORE_CTX_get_error(store_context);
        code = asylo_status_set(status, ASYLO_UNAUTHENTICATED, ASYLO_ORIGIN_TRANSPORT,
                                "the client certificate '%s' is not trusted by this server "
                                "(--ssl_root_certs): %s",
                                subject, X509_verify_cert_error_string(error));
        goto out;
    }
    if (identity != NULL && identity_size > 0) {
        BIO *name = BIO_new(BIO_s_mem());
        if (name != NULL &&
            X509_NAME_print_ex(name, X509_get_subject_name(leaf), 0, XN_FLAG_RFC2253) >= 0) {
            int length = BIO_read(name, identity, (int)identity_size - 1);
            identity[length > 0 ? length : 0] = '\0';
        }
        BIO_free(name);
    }
    code = asylo_status_ok(status);
out:
    ERR_clear_error();
    X509_STORE_CTX_free(store_context);
    sk_X509_pop_free(chain, X509_free);
    X509_free(leaf);
    BIO_free(bio);
    grpc_auth_context_release(context);
    return code;
}
