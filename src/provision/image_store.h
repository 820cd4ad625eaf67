/* Enclave images received by asylo-provision-server, stored privately.
 *
 * Layout under the storage directory (0700, owned by the server's user):
 *   images/<sha256>.so      content-addressed images (0600)
 *   images/upload-XXXXXX    uploads in progress (never trusted: removed at start)
 *   proxies/<id>.pid        one per running proxy, for cleanup after a crash
 *   proxies/<id>.sock       proxies' unix sockets (unix: server addresses)
 * An upload is hashed as it is written; only a complete upload whose size and
 * SHA-256 match what was declared is renamed to its final name, so a
 * truncated or corrupted upload never becomes an image. */
#ifndef ASYLO_PROVISION_IMAGE_STORE_H
#define ASYLO_PROVISION_IMAGE_STORE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"

#define ASYLO__SHA256_SIZE 32
#define ASYLO__SHA256_HEX_SIZE 65

typedef struct asylo__image_store {
    char directory[PATH_MAX - 64];
    int lock_fd; /* holds an exclusive lock: one server per storage directory */
} asylo__image_store;

/* Creates the directories (0700), refuses a directory others can write or
 * read or another server uses (FAILED_PRECONDITION), and removes leftovers of
 * an earlier run: uploads and images. */
asylo_code asylo__image_store_open(asylo__image_store *store, const char *directory,
                                   asylo_status *status);
void asylo__image_store_close(asylo__image_store *store);
/* The path of an image by its hex digest. */
void asylo__image_store_path(const asylo__image_store *store, const char *sha256_hex,
                             char path[PATH_MAX]);
void asylo__image_store_remove(const asylo__image_store *store, const char *sha256_hex);

typedef struct asylo__image_upload {
    int fd;
    char temp_path[PATH_MAX];
    void *digest; /* EVP_MD_CTX */
    uint64_t declared_size;
    uint64_t received_size;
    uint8_t declared_sha256[ASYLO__SHA256_SIZE];
} asylo__image_upload;

void asylo__sha256_hex(const uint8_t digest[ASYLO__SHA256_SIZE], char hex[ASYLO__SHA256_HEX_SIZE]);

asylo_code asylo__image_upload_begin(const asylo__image_store *store, uint64_t declared_size,
                                     const uint8_t sha256[ASYLO__SHA256_SIZE],
                                     asylo__image_upload *upload, asylo_status *status);
/* INVALID_ARGUMENT when the bytes run past the declared size. */
asylo_code asylo__image_upload_write(asylo__image_upload *upload, const uint8_t *data, size_t size,
                                     asylo_status *status);
/* DATA_LOSS for a short upload or a wrong SHA-256 (nothing kept); on success
 * the image is at asylo__image_store_path(sha256_hex). */
asylo_code asylo__image_upload_commit(asylo__image_upload *upload, const asylo__image_store *store,
                                      char sha256_hex[ASYLO__SHA256_HEX_SIZE],
                                      asylo_status *status);
/* Removes an unfinished upload. Safe after commit (then a no-op). */
void asylo__image_upload_abort(asylo__image_upload *upload);

#endif
