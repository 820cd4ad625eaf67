/* asylo-sign: signs enclave images and shows their identity.
 *
 * The image keeps a 512-byte `.asylo_sig` section reserved by
 * asylo_add_enclave; signing fills it with a block (src/identity/sigblock.h)
 * holding the measurement, product id, svn, debug flag and the signer's
 * public key, signed with ECDSA P-256 over SHA-256. Signing does not change
 * the measurement, so re-signing is allowed and changes only the block. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asylo/crypto.h"
#include "identity/image_identity.h"
#include "identity/sigblock.h"

static void usage(FILE *out) {
    fprintf(out,
            "Usage:\n"
            "  asylo-sign sign --key KEY.pem --product_id N --svn N [--debug] IMAGE\n"
            "  asylo-sign verify IMAGE\n"
            "  asylo-sign show IMAGE\n"
            "  asylo-sign keygen --out KEY.pem\n"
            "  asylo-sign --help\n"
            "\n"
            "sign     fills IMAGE's .asylo_sig section (reserved by asylo_add_enclave) with a\n"
            "         block covering its measurement, the signer's public key, product id,\n"
            "         svn (0..4294967295) and the debug flag; ECDSA P-256 with SHA-256.\n"
            "         KEY.pem is a P-256 private key in PEM (PKCS#8 or SEC1).\n"
            "verify   exits 0 when IMAGE carries a valid signature for its contents;\n"
            "         1 (with the reason) when unsigned, tampered or badly signed.\n"
            "show     prints measurement, signer id, product id, svn and debug.\n"
            "keygen   writes a fresh P-256 private key (PEM, PKCS#8, mode 0600).\n"
            "\n"
            "measurement = SHA-256 of IMAGE with the .asylo_sig bytes counted as zeros;\n"
            "signer id   = SHA-256 of the 65-byte uncompressed public key (0x04||X||Y).\n"
            "See docs/attestation.md.\n");
}

__attribute__((format(printf, 1, 2))) static int fail(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "asylo-sign: ");
    vfprintf(stderr, format, args);
    va_end(args);
    fprintf(stderr, "\n");
    return 1;
}

static int parse_u32(const char *text, uint32_t *value) {
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return 0;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long parsed = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || parsed > UINT32_MAX) {
        return 0;
    }
    *value = (uint32_t)parsed;
    return 1;
}

/* Reads a P-256 private key from PEM into its raw scalar. */
static int read_private_key(const char *path, uint8_t scalar[32]) {
    int ok = 0;
    BIGNUM *number = NULL;
    char group[32] = "";
    FILE *file = fopen(path, "r");
    EVP_PKEY *key = file == NULL ? NULL : PEM_read_PrivateKey(file, NULL, NULL, NULL);
    if (key == NULL) {
        fail("cannot read a PEM private key from '%s'", path);
        goto out;
    }
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       NULL) != 1 ||
        strcmp(group, "prime256v1") != 0) {
        fail("'%s' is not a P-256 (prime256v1) key", path);
        goto out;
    }
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &number) != 1 ||
        BN_bn2binpad(number, scalar, 32) != 32) {
        fail("cannot extract the private scalar of '%s'", path);
        goto out;
    }
    ok = 1;
out:
    BN_clear_free(number);
    EVP_PKEY_free(key);
    if (file != NULL) {
        fclose(file);
    }
    return ok;
}

/* Replaces `path` with `bytes` through a temporary file and rename, so a
 * process that has the old image mapped keeps a consistent copy. */
static int write_image(const char *path, const uint8_t *bytes, size_t size) {
    struct stat info;
    if (stat(path, &info) != 0) {
        return fail("cannot stat '%s'", path);
    }
    char temporary[PATH_MAX];
    if (snprintf(temporary, sizeof temporary, "%s.signing-XXXXXX", path) >= (int)sizeof temporary) {
        return fail("path too long: '%s'", path);
    }
    int fd = mkstemp(temporary);
    if (fd < 0) {
        return fail("cannot create a temporary file next to '%s'", path);
    }
    size_t written = 0;
    while (written < size) {
        ssize_t now = write(fd, bytes + written, size - written);
        if (now < 0 && errno == EINTR) {
            continue;
        }
        if (now <= 0) {
            break;
        }
        written += (size_t)now;
    }
    int ok = written == size && fchmod(fd, info.st_mode & 07777) == 0 && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(temporary, path) != 0) {
        unlink(temporary);
        return fail("cannot write the signed image '%s'", path);
    }
    return 0;
}

static int command_sign(int argc, char **argv) {
    const char *key_path = NULL, *image_path = NULL;
    uint32_t product_id = 0, svn = 0;
    int have_product = 0, have_svn = 0, debug = 0;
    for (int i = 0; i < argc; i++) {
        const char *argument = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argument, "--key") == 0 && value != NULL) {
            key_path = value;
            i++;
        } else if (strcmp(argument, "--product_id") == 0 && value != NULL) {
            if (!parse_u32(value, &product_id)) {
                return fail("--product_id '%s' is not an integer in 0..4294967295", value);
            }
            have_product = 1;
            i++;
        } else if (strcmp(argument, "--svn") == 0 && value != NULL) {
            if (!parse_u32(value, &svn)) {
                return fail("--svn '%s' is not an integer in 0..4294967295", value);
            }
            have_svn = 1;
            i++;
        } else if (strcmp(argument, "--debug") == 0) {
            debug = 1;
        } else if (argument[0] != '-' && image_path == NULL) {
            image_path = argument;
        } else {
            return fail("sign: unexpected argument '%s' (see --help)", argument);
        }
    }
    if (key_path == NULL || image_path == NULL || !have_product || !have_svn) {
        return fail("%s", "sign needs --key, --product_id, --svn and IMAGE (see --help)");
    }
    uint8_t scalar[32];
    if (!read_private_key(key_path, scalar)) {
        return 1;
    }
    int result = 1;
    asylo_status status;
    asylo__image image;
    if (asylo__image_read(image_path, &image, &status) != ASYLO_OK) {
        fail("%s", status.message);
        goto wipe;
    }
    if (!image.has_section) {
        fail("'%s' has no .asylo_sig section: build it with asylo_add_enclave", image_path);
        goto out;
    }
    asylo__sig_block block = {.format_version = ASYLO__SIG_FORMAT_VERSION,
                              .algorithm = ASYLO__SIG_ALGORITHM_ECDSA_P256_SHA256,
                              .flags = debug ? ASYLO__SIG_FLAG_DEBUG : 0,
                              .product_id = product_id,
                              .svn = svn};
    memcpy(block.measurement, image.measurement, 32);
    uint8_t encoded[ASYLO__SIG_BLOCK_SIZE];
    if (asylo_p256_public_key(scalar, block.public_key, &status) != ASYLO_OK) {
        fail("%s", status.message);
        goto out;
    }
    asylo__sig_encode(&block, encoded);
    if (asylo_p256_sign(scalar, encoded, ASYLO__SIG_SIGNED_SIZE, block.signature, &status) !=
        ASYLO_OK) {
        fail("%s", status.message);
        goto out;
    }
    asylo__sig_encode(&block, encoded);
    memcpy(image.bytes + image.location.offset, encoded, sizeof encoded);
    result = write_image(image_path, image.bytes, image.size);
out:
    asylo__image_fini(&image);
wipe:
    asylo_crypto_wipe(scalar, sizeof scalar);
    return result;
}

static int command_show_or_verify(int argc, char **argv, int verify) {
    if (argc != 1) {
        return fail("%s", "give exactly one IMAGE (see --help)");
    }
    const char *path = argv[0];
    asylo_status status;
    asylo__image image;
    if (asylo__image_read(path, &image, &status) != ASYLO_OK) {
        return fail("%s", status.message);
    }
    asylo_enclave_identity identity;
    asylo_code code = asylo__image_verify(&image, path, &identity, &status);
    asylo__image_fini(&image);
    char hex[65];
    if (verify) {
        if (code != ASYLO_OK) {
            return fail("%s", status.message);
        }
        asylo__hex(identity.signer_id, 32, hex);
        printf("%s: signature OK (signer id %s)\n", path, hex);
        return 0;
    }
    asylo__hex(identity.measurement, 32, hex);
    printf("image:       %s\nmeasurement: %s\n", path, hex);
    if (code == ASYLO_NOT_FOUND) {
        printf("signed:      no\n");
        return 0;
    }
    asylo__hex(identity.signer_id, 32, hex);
    printf("signed:      %s\n", code == ASYLO_OK ? "yes, signature valid" : "INVALID");
    if (code != ASYLO_OK) {
        return fail("%s", status.message);
    }
    printf("signer id:   %s\nproduct id:  %u\nsvn:         %u\ndebug:       %s\n", hex,
           identity.product_id, identity.svn, identity.debug ? "yes" : "no");
    return 0;
}

static int command_keygen(int argc, char **argv) {
    if (argc != 2 || strcmp(argv[0], "--out") != 0) {
        return fail("%s", "keygen needs --out KEY.pem (see --help)");
    }
    int result = 1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *file = fd < 0 ? NULL : fdopen(fd, "w");
    if (key == NULL || file == NULL) {
        fail("cannot create key file '%s' (it must not exist yet)", argv[1]);
        goto out;
    }
    fd = -1;
    if (PEM_write_PrivateKey(file, key, NULL, NULL, 0, NULL, NULL) != 1) {
        fail("cannot write '%s'", argv[1]);
        goto out;
    }
    result = 0;
out:
    if (file != NULL && fclose(file) != 0) {
        result = fail("cannot write '%s'", argv[1]);
    }
    if (fd >= 0) {
        close(fd);
    }
    EVP_PKEY_free(key);
    return result;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "sign") == 0) {
        return command_sign(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "verify") == 0) {
        return command_show_or_verify(argc - 2, argv + 2, 1);
    }
    if (strcmp(argv[1], "show") == 0) {
        return command_show_or_verify(argc - 2, argv + 2, 0);
    }
    if (strcmp(argv[1], "keygen") == 0) {
        return command_keygen(argc - 2, argv + 2);
    }
    fprintf(stderr, "asylo-sign: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
