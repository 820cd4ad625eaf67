/* Measuring an image and verifying its signature block. */
#include "identity/image_identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asylo/crypto.h"

void asylo__hex(const uint8_t *bytes, size_t size, char *text) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        text[2 * i] = digits[bytes[i] >> 4];
        text[2 * i + 1] = digits[bytes[i] & 0xf];
    }
    text[2 * size] = '\0';
}

static asylo_code open_failed(asylo_status *status, const char *path, int error) {
    asylo_code code = error == ENOENT   ? ASYLO_NOT_FOUND
                      : error == EACCES ? ASYLO_PERMISSION_DENIED
                                        : ASYLO_INTERNAL;
    return asylo_status_set(status, code, ASYLO_ORIGIN_BACKEND,
                            "cannot read enclave image '%s': %s", path, strerror(error));
}

asylo_code asylo__image_read(const char *path, asylo__image *image, asylo_status *status) {
    memset(image, 0, sizeof *image);
    asylo_code code = ASYLO_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat info;
    if (fd < 0 || fstat(fd, &info) != 0) {
        code = open_failed(status, path, errno);
        goto out;
    }
    if (!S_ISREG(info.st_mode) || (uint64_t)info.st_size > ASYLO__MAX_IMAGE_SIZE) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "enclave image '%s' is not a regular file of at most %zu bytes",
                                path, ASYLO__MAX_IMAGE_SIZE);
        goto out;
    }
    image->size = (size_t)info.st_size;
    image->bytes = malloc(image->size == 0 ? 1 : image->size);
    if (image->bytes == NULL) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "no memory to measure enclave image '%s' (%zu bytes)", path,
                                image->size);
        goto out;
    }
    size_t filled = 0;
    while (filled < image->size) {
        ssize_t got = pread(fd, image->bytes + filled, image->size - filled, (off_t)filled);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            code = asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_BACKEND,
                                    "enclave image '%s' changed size while being read", path);
            goto out;
        }
        filled += (size_t)got;
    }
    code = asylo__sig_locate(image->bytes, image->size, path, &image->location, status);
    if (code == ASYLO_OK) {
        image->has_section = 1;
        memcpy(image->block, image->bytes + image->location.offset, ASYLO__SIG_BLOCK_SIZE);
        /* Measure with the block zeroed, then put it back. */
        memset(image->bytes + image->location.offset, 0, ASYLO__SIG_BLOCK_SIZE);
        code = asylo_sha256(image->bytes, image->size, image->measurement, status);
        memcpy(image->bytes + image->location.offset, image->block, ASYLO__SIG_BLOCK_SIZE);
    } else if (code == ASYLO_NOT_FOUND) {
        code = asylo_sha256(image->bytes, image->size, image->measurement, status);
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    if (code != ASYLO_OK) {
        asylo__image_fini(image);
    }
    return code;
}

void asylo__image_fini(asylo__image *image) {
    free(image->bytes);
    image->bytes = NULL;
    image->size = 0;
}

asylo_code asylo__image_verify(const asylo__image *image, const char *path,
                               asylo_enclave_identity *identity, asylo_status *status) {
    memset(identity, 0, sizeof *identity);
    memcpy(identity->measurement, image->measurement, 32);
    identity->debug = 1;
    if (!image->has_section) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_BACKEND,
                                "enclave image '%s' has no " ASYLO__SIG_SECTION_NAME
                                " section: it is not signed (build it with asylo_add_enclave "
                                "and sign it with asylo-sign)",
                                path);
    }
    asylo__sig_block block;
    asylo_code code = asylo__sig_decode(image->block, sizeof image->block, &block, status);
    if (code != ASYLO_OK) {
        asylo_status_prefix(status, "enclave image '%s'", path);
        return code;
    }
    if (!asylo_crypto_equal(block.measurement, image->measurement, 32)) {
        char signed_hex[65], actual_hex[65];
        asylo__hex(block.measurement, 32, signed_hex);
        asylo__hex(image->measurement, 32, actual_hex);
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_BACKEND,
                                "enclave image '%s' was modified after signing: its measurement "
                                "is %s but the signature covers %s",
                                path, actual_hex, signed_hex);
    }
    asylo_status inner;
    code = asylo_p256_verify(block.public_key, image->block, ASYLO__SIG_SIGNED_SIZE,
                             block.signature, &inner);
    if (code != ASYLO_OK) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_BACKEND,
                                "enclave image '%s': the signature block's signature does not "
                                "verify (%s)",
                                path, inner.message);
    }
    code = asylo_sha256(block.public_key, sizeof block.public_key, identity->signer_id, status);
    if (code != ASYLO_OK) {
        return code;
    }
    identity->product_id = block.product_id;
    identity->svn = block.svn;
    identity->is_signed = 1;
    identity->debug = (block.flags & ASYLO__SIG_FLAG_DEBUG) != 0;
    return asylo_status_ok(status);
}

static asylo_code pin_mismatch(asylo_status *status, const char *path, const char *what,
                               const uint8_t *expected, const uint8_t *actual) {
    char expected_hex[65], actual_hex[65];
    asylo__hex(expected, 32, expected_hex);
    asylo__hex(actual, 32, actual_hex);
    return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_BACKEND,
                            "enclave image '%s': %s is %s but the load config expects %s", path,
                            what, actual_hex, expected_hex);
}

asylo_code asylo__identity_check(const char *path, const char *shown_path,
                                 const asylo__identity_policy *policy, const char *backend_name,
                                 asylo_enclave_identity *identity, asylo_status *status) {
    asylo__image image;
    asylo_code code = asylo__image_read(path, &image, status);
    if (code != ASYLO_OK) {
        return code;
    }
    if (!image.has_section && !policy->debug_load) {
        asylo__image_fini(&image);
        return asylo_status_set(
            status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
            "'%s' is a shared object but not an asylo enclave: it has no " ASYLO__SIG_SECTION_NAME
            " section (build it with "
            "asylo_add_enclave)",
            shown_path);
    }
    asylo_status inner;
    code = asylo__image_verify(&image, shown_path, identity, &inner);
    asylo__image_fini(&image);
    if (code == ASYLO_NOT_FOUND) {
        if (!policy->debug_load) {
            return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_BACKEND,
                                    "%s; only a load with debug set may run an unsigned image",
                                    inner.message);
        }
        code = ASYLO_OK;
    }
    if (code != ASYLO_OK) {
        if (status != NULL) {
            *status = inner;
        }
        return code;
    }
    if (policy->debug_load) {
        identity->debug = 1;
    }
    if (policy->expected_measurement != NULL &&
        !asylo_crypto_equal(policy->expected_measurement, identity->measurement, 32)) {
        return pin_mismatch(status, shown_path, "the measurement", policy->expected_measurement,
                            identity->measurement);
    }
    if (policy->expected_signer_id != NULL &&
        (!identity->is_signed ||
         !asylo_crypto_equal(policy->expected_signer_id, identity->signer_id, 32))) {
        return pin_mismatch(status, shown_path, "the signer id", policy->expected_signer_id,
                            identity->signer_id);
    }
    snprintf(identity->backend, sizeof identity->backend, "%s",
             backend_name == NULL ? "" : backend_name);
    return asylo_status_ok(status);
}
