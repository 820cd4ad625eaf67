#include "host/file_table.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

void asylo__file_table_init(asylo__file_table *table) {
    pthread_mutex_init(&table->lock, NULL);
    for (int i = 0; i < ASYLO__MAX_OPEN_FILES; i++) {
        table->descriptors[i] = -1;
    }
    asylo__file_root_init(&table->root);
}

void asylo__file_table_fini(asylo__file_table *table) {
    for (int i = 0; i < ASYLO__MAX_OPEN_FILES; i++) {
        if (table->descriptors[i] >= 0) {
            close(table->descriptors[i]);
            table->descriptors[i] = -1;
        }
    }
    asylo__file_root_fini(&table->root);
    pthread_mutex_destroy(&table->lock);
}

asylo_code asylo__file_table_add(asylo__file_table *table, int fd, int *handle,
                                 asylo_status *status) {
    pthread_mutex_lock(&table->lock);
    for (int i = 0; i < ASYLO__MAX_OPEN_FILES; i++) {
        if (table->descriptors[i] < 0) {
            table->descriptors[i] = fd;
            pthread_mutex_unlock(&table->lock);
            *handle = i;
            return asylo_status_ok(status);
        }
    }
    pthread_mutex_unlock(&table->lock);
    close(fd);
    return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_HOST,
                            "the enclave already has %d files open; close some first",
                            ASYLO__MAX_OPEN_FILES);
}

static asylo_code bad_handle(int handle, asylo_status *status) {
    return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST,
                            "file handle %d is not open in this enclave", handle);
}

asylo_code asylo__file_table_dup(asylo__file_table *table, int handle, int *fd,
                                 asylo_status *status) {
    *fd = -1;
    if (handle < 0 || handle >= ASYLO__MAX_OPEN_FILES) {
        return bad_handle(handle, status);
    }
    pthread_mutex_lock(&table->lock);
    int stored = table->descriptors[handle];
    int duplicate = stored < 0 ? -1 : fcntl(stored, F_DUPFD_CLOEXEC, 0);
    int error = errno;
    pthread_mutex_unlock(&table->lock);
    if (stored < 0) {
        return bad_handle(handle, status);
    }
    if (duplicate < 0) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_HOST,
                                "cannot use file handle %d: %s", handle, strerror(error));
    }
    *fd = duplicate;
    return asylo_status_ok(status);
}

asylo_code asylo__file_table_close(asylo__file_table *table, int handle, asylo_status *status) {
    if (handle < 0 || handle >= ASYLO__MAX_OPEN_FILES) {
        return bad_handle(handle, status);
    }
    pthread_mutex_lock(&table->lock);
    int stored = table->descriptors[handle];
    table->descriptors[handle] = -1;
    pthread_mutex_unlock(&table->lock);
    if (stored < 0) {
        return bad_handle(handle, status);
    }
    if (close(stored) != 0 && errno != EINTR) {
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_HOST,
                                "closing file handle %d failed: %s", handle, strerror(errno));
    }
    return asylo_status_ok(status);
}
