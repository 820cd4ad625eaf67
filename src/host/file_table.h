/* Files the host opened for one enclave through the built-in file exit calls.
 *
 * The enclave gets small handles (slot numbers), never host descriptors, so
 * it cannot use the host's own descriptors (its sockets, its logs) or another
 * enclave's open files. Which files it may open by path is the file root's
 * job (file_root.h): none unless the host names a root directory, and then
 * only regular files beneath it. Leftovers are closed when the enclave is
 * unloaded. */
#ifndef ASYLO_HOST_FILE_TABLE_H
#define ASYLO_HOST_FILE_TABLE_H

#include <pthread.h>

#include "asylo/status.h"
#include "host/file_root.h"

#define ASYLO__MAX_OPEN_FILES 64

typedef struct asylo__file_table {
    pthread_mutex_t lock;
    int descriptors[ASYLO__MAX_OPEN_FILES]; /* -1 when free */
    asylo__file_root root;                  /* where paths resolve; set at load */
} asylo__file_table;

/* Starts with no root (file exit calls refused). */
void asylo__file_table_init(asylo__file_table *table);
/* Closes every file still open and the root. */
void asylo__file_table_fini(asylo__file_table *table);
/* Stores fd (taking ownership) and returns its handle; RESOURCE_EXHAUSTED
 * (and fd closed) when the table is full. */
asylo_code asylo__file_table_add(asylo__file_table *table, int fd, int *handle,
                                 asylo_status *status);
/* The descriptor behind a handle, INVALID_ARGUMENT for a handle not open. The
 * descriptor stays owned by the table; use it only while no close can race:
 * callers hold a duplicate (asylo__file_table_dup). */
asylo_code asylo__file_table_dup(asylo__file_table *table, int handle, int *fd,
                                 asylo_status *status);
asylo_code asylo__file_table_close(asylo__file_table *table, int handle, asylo_status *status);

#endif
