#include "backends/sim/private_copy.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static asylo_code write_all(int fd, const uint8_t *data, size_t size, asylo_status *status) {
    while (size > 0) {
        ssize_t written = write(fd, data, size);
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written <= 0) {
            return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                    "cannot write the private copy of the enclave image: %s",
                                    strerror(errno));
        }
        data += written;
        size -= (size_t)written;
    }
    return ASYLO_OK;
}

asylo_code asylo__private_copy(int image_fd, const char *image_path, char copy_path[PATH_MAX],
                               uint8_t measurement[32], asylo_status *status) {
    const char *directory = getenv("TMPDIR");
    if (directory == NULL || directory[0] == '\0') {
        directory = "/tmp";
    }
    int length = snprintf(copy_path, PATH_MAX, "%s/asylo-sim-XXXXXX", directory);
    if (length < 0 || length >= PATH_MAX) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "TMPDIR '%s' is too long for a private image copy", directory);
    }
    int copy_fd = mkostemp(copy_path, O_CLOEXEC);
    if (copy_fd < 0) {
        int error = errno;
        /* Out of descriptors, space or memory is not a bad TMPDIR. */
        if (error == EMFILE || error == ENFILE || error == ENOSPC || error == EDQUOT ||
            error == ENOMEM) {
            return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                    "cannot create a private copy of '%s' in '%s': %s", image_path,
                                    directory, strerror(error));
        }
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                "cannot create a private copy of '%s' in '%s' (set TMPDIR to a "
                                "writable directory): %s",
                                image_path, directory, strerror(error));
    }
    asylo_code code = ASYLO_OK;
    EVP_MD_CTX *digest = EVP_MD_CTX_new();
    if (digest == NULL || EVP_DigestInit_ex(digest, EVP_sha256(), NULL) != 1) {
        code = asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                                "cannot start SHA-256 for the enclave measurement");
        goto out;
    }
    uint8_t chunk[65536];
    off_t offset = 0;
    for (;;) {
        ssize_t got = pread(image_fd, chunk, sizeof chunk, offset);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            code =
                asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_BACKEND,
                                 "cannot read enclave image '%s': %s", image_path, strerror(errno));
            goto out;
        }
        if (got == 0) {
            break;
        }
        EVP_DigestUpdate(digest, chunk, (size_t)got);
        code = write_all(copy_fd, chunk, (size_t)got, status);
        if (code != ASYLO_OK) {
            goto out;
        }
        offset += got;
    }
    unsigned int digest_size = 0;
    EVP_DigestFinal_ex(digest, measurement, &digest_size);
out:
    EVP_MD_CTX_free(digest);
    close(copy_fd);
    if (code != ASYLO_OK) {
        unlink(copy_path);
        copy_path[0] = '\0';
        return code;
    }
    return asylo_status_ok(status);
}
