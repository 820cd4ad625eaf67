#include "provision/image_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static asylo_code make_private_directory(const char *path, asylo_status *status) {
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        return asylo_status_set(
            status, errno == EACCES ? ASYLO_PERMISSION_DENIED : ASYLO_UNAVAILABLE, ASYLO_ORIGIN_API,
            "cannot create storage directory '%s': %s", path, strerror(errno));
    }
    struct stat info;
    if (lstat(path, &info) != 0 || !S_ISDIR(info.st_mode)) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                "storage path '%s' is not a directory", path);
    }
    if (info.st_uid != geteuid() || (info.st_mode & 077) != 0) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_API,
                                "storage directory '%s' must be owned by this user with mode "
                                "0700 (it is %o, owner %u): images there must stay private",
                                path, info.st_mode & 0777, (unsigned)info.st_uid);
    }
    return ASYLO_OK;
}

/* Empties a directory of regular files (not recursive: the store is flat). */
static void clear_directory(const char *path) {
    DIR *directory = opendir(path);
    if (directory == NULL) {
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (entry->d_name[0] == '.') {
            continue;
        }
        unlinkat(dirfd(directory), entry->d_name, 0);
    }
    closedir(directory);
}

asylo_code asylo__image_store_open(asylo__image_store *store, const char *directory,
                                   asylo_status *status) {
    if (directory == NULL || directory[0] != '/' || strlen(directory) >= sizeof store->directory) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "--storage_dir must be an absolute path shorter than %zu bytes",
                                sizeof store->directory);
    }
    snprintf(store->directory, sizeof store->directory, "%s", directory);
    store->lock_fd = -1;
    char path[PATH_MAX];
    asylo_code code = make_private_directory(store->directory, status);
    if (code == ASYLO_OK) {
        snprintf(path, sizeof path, "%s/lock", store->directory);
        store->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (store->lock_fd < 0 || flock(store->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            code = asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                    "another asylo-provision-server uses --storage_dir '%s' "
                                    "(or it cannot be locked: %s)",
                                    store->directory, strerror(errno));
        }
    }
    snprintf(path, sizeof path, "%s/images", store->directory);
    if (code == ASYLO_OK) {
        code = make_private_directory(path, status);
    }
    if (code == ASYLO_OK) {
        /* Nothing runs yet, so no image is in use: an earlier run's leftovers go. */
        clear_directory(path);
        snprintf(path, sizeof path, "%s/proxies", store->directory);
        code = make_private_directory(path, status);
    }
    if (code != ASYLO_OK) {
        asylo__image_store_close(store);
        return code;
    }
    return asylo_status_ok(status);
}

void asylo__image_store_close(asylo__image_store *store) {
    if (store->lock_fd >= 0) {
        close(store->lock_fd);
        store->lock_fd = -1;
    }
}

void asylo__sha256_hex(const uint8_t digest[ASYLO__SHA256_SIZE], char hex[ASYLO__SHA256_HEX_SIZE]) {
    for (int i = 0; i < ASYLO__SHA256_SIZE; i++) {
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    }
}

void asylo__image_store_path(const asylo__image_store *store, const char *sha256_hex,
                             char path[PATH_MAX]) {
    snprintf(path, PATH_MAX, "%s/images/%s.so", store->directory, sha256_hex);
}

void asylo__image_store_remove(const asylo__image_store *store, const char *sha256_hex) {
    char path[PATH_MAX];
    asylo__image_store_path(store, sha256_hex, path);
    unlink(path);
}

asylo_code asylo__image_upload_begin(const asylo__image_store *store, uint64_t declared_size,
                                     const uint8_t sha256[ASYLO__SHA256_SIZE],
                                     asylo__image_upload *upload, asylo_status *status) {
    memset(upload, 0, sizeof *upload);
    upload->fd = -1;
    upload->declared_size = declared_size;
    memcpy(upload->declared_sha256, sha256, ASYLO__SHA256_SIZE);
    snprintf(upload->temp_path, sizeof upload->temp_path, "%s/images/upload-XXXXXX",
             store->directory);
    upload->fd = mkostemp(upload->temp_path, O_CLOEXEC);
    if (upload->fd < 0) {
        upload->temp_path[0] = '\0';
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_API,
                                "cannot store an upload: %s", strerror(errno));
    }
    EVP_MD_CTX *digest = EVP_MD_CTX_new();
    upload->digest = digest;
    if (digest == NULL || EVP_DigestInit_ex(digest, EVP_sha256(), NULL) != 1) {
        asylo__image_upload_abort(upload);
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_API,
                                "cannot start SHA-256 for an upload");
    }
    return asylo_status_ok(status);
}

asylo_code asylo__image_upload_write(asylo__image_upload *upload, const uint8_t *data, size_t size,
                                     asylo_status *status) {
    if (size > upload->declared_size - upload->received_size) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "the upload runs past its declared size of %llu bytes",
                                (unsigned long long)upload->declared_size);
    }
    EVP_DigestUpdate(upload->digest, data, size);
    size_t written = 0;
    while (written < size) {
        ssize_t result = write(upload->fd, data + written, size - written);
        if (result < 0 && errno == EINTR) {
            continue;
        }
        if (result <= 0) {
            return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                    "cannot store the upload: %s", strerror(errno));
        }
        written += (size_t)result;
    }
    upload->received_size += size;
    return asylo_status_ok(status);
}

asylo_code asylo__image_upload_commit(asylo__image_upload *upload, const asylo__image_store *store,
                                      char sha256_hex[ASYLO__SHA256_HEX_SIZE],
                                      asylo_status *status) {
    if (upload->received_size != upload->declared_size) {
        asylo_code code = asylo_status_set(
            status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_API,
            "truncated upload: %llu of the declared %llu bytes arrived; nothing was kept",
            (unsigned long long)upload->received_size, (unsigned long long)upload->declared_size);
        asylo__image_upload_abort(upload);
        return code;
    }
    uint8_t digest[ASYLO__SHA256_SIZE];
    unsigned int digest_size = 0;
    EVP_DigestFinal_ex(upload->digest, digest, &digest_size);
    if (CRYPTO_memcmp(digest, upload->declared_sha256, sizeof digest) != 0) {
        char declared[ASYLO__SHA256_HEX_SIZE];
        char actual[ASYLO__SHA256_HEX_SIZE];
        asylo__sha256_hex(upload->declared_sha256, declared);
        asylo__sha256_hex(digest, actual);
        asylo_code code = asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_API,
                                           "image SHA-256 is %.16s..., not the declared "
                                           "%.16s...; nothing was kept",
                                           actual, declared);
        asylo__image_upload_abort(upload);
        return code;
    }
    /* No fsync: the store is a cache that every start clears, so durability
     * would buy nothing and cost tens of milliseconds per image. */
    if (close(upload->fd) != 0) {
        upload->fd = -1;
        asylo_code code = asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_API,
                                           "cannot store the upload: %s", strerror(errno));
        asylo__image_upload_abort(upload);
        return code;
    }
    upload->fd = -1;
    asylo__sha256_hex(digest, sha256_hex);
    char final_path[PATH_MAX];
    asylo__image_store_path(store, sha256_hex, final_path);
    /* Same content, same name: an image already there is identical. */
    if (rename(upload->temp_path, final_path) != 0) {
        asylo_code code = asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_API,
                                           "cannot store the image: %s", strerror(errno));
        asylo__image_upload_abort(upload);
        return code;
    }
    upload->temp_path[0] = '\0';
    EVP_MD_CTX_free(upload->digest);
    upload->digest = NULL;
    return asylo_status_ok(status);
}

void asylo__image_upload_abort(asylo__image_upload *upload) {
    if (upload->fd >= 0) {
        close(upload->fd);
        upload->fd = -1;
    }
    if (upload->temp_path[0] != '\0') {
        unlink(upload->temp_path);
        upload->temp_path[0] = '\0';
    }
    EVP_MD_CTX_free(upload->digest);
    upload->digest = NULL;
}
