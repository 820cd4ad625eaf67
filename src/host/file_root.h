/* The host's file policy for the built-in file exit calls.
 *
 * An enclave names files by path, and those paths are untrusted: a remote
 * target that was taken over sends whatever it likes. So the host reaches
 * no file at all unless its load config names a root directory
 * (asylo_load_config.file_root), opened once at load as an O_PATH descriptor.
 * Inside it a path must be relative, have no ".." component and cross no
 * symbolic link (not even as its last component); the kernel enforces the
 * same with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS), or, where openat2 is missing, a walk that opens
 * one component at a time with O_NOFOLLOW. Only regular files are opened.
 * Unlink resolves the parent directory the same way and removes the name
 * relative to it. The policy is on the host, so every backend gets it. */
#ifndef ASYLO_HOST_FILE_ROOT_H
#define ASYLO_HOST_FILE_ROOT_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "asylo/status.h"

/* The load config field a host sets to allow file exit calls. */
#define ASYLO__FILE_ROOT_FIELD "asylo_load_config.file_root"

typedef struct asylo__file_root {
    int fd;         /* O_PATH directory descriptor; -1: no root, files refused */
    char path[256]; /* as configured (cut), for messages */
} asylo__file_root;

/* No root: every file exit call is refused. */
void asylo__file_root_init(asylo__file_root *root);
/* Opens `path` (NULL: no root, OK) as the root. Errors name the path and the
 * field: INVALID_ARGUMENT for an empty path or one that is not a directory,
 * NOT_FOUND, PERMISSION_DENIED. */
asylo_code asylo__file_root_open(asylo__file_root *root, const char *path, asylo_status *status);
/* Closes the root descriptor. Safe on an initialized root. */
void asylo__file_root_fini(asylo__file_root *root);

/* OK when a root is set; PERMISSION_DENIED naming ASYLO__FILE_ROOT_FIELD and
 * `what` (the exit call) otherwise. */
asylo_code asylo__file_root_check(const asylo__file_root *root, const char *what,
                                  asylo_status *status);
/* Opens a regular file beneath the root with open(2) `flags` (O_NOFOLLOW and
 * O_CLOEXEC are added) and `mode`; *fd is the caller's. PERMISSION_DENIED for
 * no root, an absolute path, "..", a symbolic link or a file that is not
 * regular; otherwise errno as a status naming the path. */
asylo_code asylo__file_root_open_file(const asylo__file_root *root, const char *path, int flags,
                                      mode_t mode, int *fd, asylo_status *status);
/* Removes a name beneath the root (a symbolic link itself, never its target). */
asylo_code asylo__file_root_unlink(const asylo__file_root *root, const char *path,
                                   asylo_status *status);

/* Stats a name beneath the root (a symbolic link is refused, never followed)
 * into *info; the same refusals as asylo__file_root_open_file, but any kind of
 * file may be asked about. */
asylo_code asylo__file_root_stat(const asylo__file_root *root, const char *path, struct stat *info,
                                 asylo_status *status);

/* errno as a status: "<what> '<path>': <strerror>" (path may be NULL). */
asylo_code asylo__file_errno_status(asylo_status *status, int error, const char *what,
                                    const char *path);

/* For tests: resolve with the component walk even where openat2 exists, so
 * the fallback is tested on every kernel. */
void asylo__file_root_force_walk(bool walk);

#endif
