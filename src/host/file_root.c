/* The host's file policy: paths resolve beneath one root directory (see
 * file_root.h). */
#include "host/file_root.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "asylo/files.h" /* ASYLO_MAX_PATH_SIZE */

/* openat2 reports EAGAIN when a rename or mount raced the lookup; the retry
 * is bounded so a hostile loop of renames cannot hold the thread. */
#define OPENAT2_RETRIES 8

static atomic_bool openat2_missing;
static atomic_bool walk_forced;

void asylo__file_root_force_walk(bool walk) {
    atomic_store(&walk_forced, walk);
}

asylo_code asylo__file_errno_status(asylo_status *status, int error, const char *what,
                                    const char *path) {
    asylo_code code;
    switch (error) {
    case ENOENT:
    case ENOTDIR:
        code = ASYLO_NOT_FOUND;
        break;
    case EACCES:
    case EPERM:
    case EROFS:
        code = ASYLO_PERMISSION_DENIED;
        break;
    case EEXIST:
        code = ASYLO_ALREADY_EXISTS;
        break;
    case ENOSPC:
    case EMFILE:
    case ENFILE:
    case EDQUOT:
        code = ASYLO_RESOURCE_EXHAUSTED;
        break;
    case EISDIR:
        code = ASYLO_INVALID_ARGUMENT;
        break;
    default:
        code = ASYLO_INTERNAL;
        break;
    }
    return asylo_status_set(status, code, ASYLO_ORIGIN_HOST, "%s%s%s%s: %s", what, path ? " '" : "",
                            path ? path : "", path ? "'" : "", strerror(error));
}

void asylo__file_root_init(asylo__file_root *root) {
    root->fd = -1;
    root->path[0] = '\0';
}

asylo_code asylo__file_root_open(asylo__file_root *root, const char *path, asylo_status *status) {
    asylo__file_root_init(root);
    if (path == NULL) {
        return asylo_status_ok(status);
    }
    if (path[0] == '\0') {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "%s is empty: name a directory, or leave it NULL to refuse "
                                "file exit calls",
                                ASYLO__FILE_ROOT_FIELD);
    }
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int error = errno;
        asylo_code code = asylo__file_errno_status(status, error, ASYLO__FILE_ROOT_FIELD, path);
        if (error == ENOTDIR) {
            code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "%s '%s' is not a directory", ASYLO__FILE_ROOT_FIELD, path);
        }
        if (status != NULL) {
            status->origin = ASYLO_ORIGIN_API; /* the host's config, not an exit call */
        }
        return code;
    }
    root->fd = fd;
    snprintf(root->path, sizeof root->path, "%s", path);
    return asylo_status_ok(status);
}

void asylo__file_root_fini(asylo__file_root *root) {
    if (root->fd >= 0) {
        close(root->fd);
    }
    asylo__file_root_init(root);
}

asylo_code asylo__file_root_check(const asylo__file_root *root, const char *what,
                                  asylo_status *status) {
    if (root->fd >= 0) {
        return asylo_status_ok(status);
    }
    return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST,
                            "%s refused: the host allows this enclave no files (set %s to the "
                            "directory its file exit calls may use)",
                            what, ASYLO__FILE_ROOT_FIELD);
}

/* Refuses what the root never allows, before the kernel sees the path: an
 * absolute path and any ".." component. The kernel checks again. */
static asylo_code check_path(const asylo__file_root *root, const char *path, const char *what,
                             asylo_status *status) {
    asylo_code code = asylo__file_root_check(root, what, status);
    if (code != ASYLO_OK) {
        return code;
    }
    if (path[0] == '\0') {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST, "%s: empty path",
                                what);
    }
    if (path[0] == '/') {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST,
                                "%s '%s' refused: the path is absolute; paths are relative to the "
                                "host's file root (%s)",
                                what, path, ASYLO__FILE_ROOT_FIELD);
    }
    for (const char *part = path; *part != '\0';) {
        size_t length = strcspn(part, "/");
        if (length == 2 && part[0] == '.' && part[1] == '.') {
            return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST,
                                    "%s '%s' refused: '..' may not appear in a path beneath the "
                                    "host's file root (%s)",
                                    what, path, ASYLO__FILE_ROOT_FIELD);
        }
        part += length;
        part += *part == '/';
    }
    return ASYLO_OK;
}

/* The failure of a lookup beneath the root as a status. */
static asylo_code resolve_status(int error, const char *what, const char *path,
                                 asylo_status *status) {
    if (error == ELOOP) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST,
                                "%s '%s' refused: the path crosses a symbolic link, which file "
                                "exit calls never follow",
                                what, path);
    }
    if (error == EXDEV) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST,
                                "%s '%s' refused: the path leads out of the host's file root", what,
                                path);
    }
    return asylo__file_errno_status(status, error, what, path);
}

/* The S_IFMT bits of what fd refers to (0 when fstat fails). O_PATH |
 * O_NOFOLLOW opens a symbolic link itself, so the walk asks. */
static unsigned descriptor_kind(int fd) {
    struct stat info;
    return fstat(fd, &info) == 0 ? (unsigned)(info.st_mode & S_IFMT) : 0;
}

/* Opens `path` relative to root_fd one component at a time, never following
 * a symbolic link: what openat2 does with RESOLVE_BENEATH and
 * RESOLVE_NO_SYMLINKS for a path check_path accepted (relative, no ".."). An
 * empty last component (trailing '/') opens the directory itself. Returns the
 * descriptor or -errno. */
static int walk_open(int root_fd, const char *path, int flags, mode_t mode) {
    char copy[ASYLO_MAX_PATH_SIZE];
    if (strlen(path) >= sizeof copy) {
        return -ENAMETOOLONG;
    }
    snprintf(copy, sizeof copy, "%s", path);
    int directory = root_fd;
    int result = -ENOENT;
    char *component = copy;
    for (;;) {
        char *slash = strchr(component, '/');
        if (slash == NULL) {
            const char *last = component[0] != '\0' ? component : ".";
            int fd = openat(directory, last, flags | O_NOFOLLOW | O_CLOEXEC, mode);
            result = fd >= 0 ? fd : -errno;
            if (fd >= 0 && (flags & O_PATH) != 0 && descriptor_kind(fd) == S_IFLNK) {
                close(fd);
                result = -ELOOP;
            }
            break;
        }
        *slash = '\0';
        if (component[0] == '\0' || strcmp(component, ".") == 0) {
            component = slash + 1;
            continue;
        }
        int next = openat(directory, component, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            result = -errno;
            break;
        }
        int kind = descriptor_kind(next);
        if (kind != S_IFDIR) {
            result = kind == S_IFLNK ? -ELOOP : -ENOTDIR;
            close(next);
            break;
        }
        if (directory != root_fd) {
            close(directory);
        }
        directory = next;
        component = slash + 1;
    }
    if (directory != root_fd) {
        close(directory);
    }
    return result;
}

/* Opens beneath root_fd with openat2, or the walk where openat2 is missing.
 * Returns the descriptor or -errno. */
static int open_beneath(int root_fd, const char *path, int flags, mode_t mode) {
    flags |= O_NOFOLLOW | O_CLOEXEC;
    if (!atomic_load(&openat2_missing) && !atomic_load(&walk_forced)) {
        struct open_how how;
        memset(&how, 0, sizeof how);
        how.flags = (unsigned long long)flags;
        how.mode = (flags & (O_CREAT | O_TMPFILE)) != 0 ? mode : 0;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        for (int attempt = 0; attempt < OPENAT2_RETRIES; attempt++) {
            long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
            if (fd >= 0) {
                return (int)fd;
            }
            if (errno == ENOSYS) {
                atomic_store(&openat2_missing, true);
                break;
            }
            if (errno != EAGAIN && errno != EINTR) {
                return -errno;
            }
        }
        if (!atomic_load(&openat2_missing)) {
            return -EAGAIN;
        }
    }
    return walk_open(root_fd, path, flags, mode);
}

asylo_code asylo__file_root_open_file(const asylo__file_root *root, const char *path, int flags,
                                      mode_t mode, int *fd, asylo_status *status) {
    static const char what[] = "file_open";
    *fd = -1;
    asylo_code code = check_path(root, path, what, status);
    if (code != ASYLO_OK) {
        return code;
    }
    /* Non-blocking so a FIFO in the root cannot hold the thread in open;
     * cleared once the file is known to be regular. */
    int opened = open_beneath(root->fd, path, flags | O_NONBLOCK, mode);
    if (opened < 0) {
        return resolve_status(-opened, what, path, status);
    }
    struct stat info;
    if (fstat(opened, &info) != 0) {
        code = asylo__file_errno_status(status, errno, what, path);
    } else if (!S_ISREG(info.st_mode)) {
        code = asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST,
                                "%s '%s' refused: not a regular file (file exit calls open only "
                                "regular files)",
                                what, path);
    } else {
        int status_flags = fcntl(opened, F_GETFL);
        if (status_flags < 0 || fcntl(opened, F_SETFL, status_flags & ~O_NONBLOCK) != 0) {
            code = asylo__file_errno_status(status, errno, what, path);
        }
    }
    if (code != ASYLO_OK) {
        close(opened);
        return code;
    }
    *fd = opened;
    return asylo_status_ok(status);
}

asylo_code asylo__file_root_unlink(const asylo__file_root *root, const char *path,
                                   asylo_status *status) {
    static const char what[] = "file_unlink";
    asylo_code code = check_path(root, path, what, status);
    if (code != ASYLO_OK) {
        return code;
    }
    char parent[ASYLO_MAX_PATH_SIZE];
    if (strlen(path) >= sizeof parent) {
        return asylo__file_errno_status(status, ENAMETOOLONG, what, path);
    }
    snprintf(parent, sizeof parent, "%s", path);
    /* Split off the last component; the parent must resolve beneath the root. */
    char *slash = strrchr(parent, '/');
    const char *name = slash != NULL ? slash + 1 : parent;
    if (slash != NULL) {
        *slash = '\0';
    }
    if (name[0] == '\0' || strcmp(name, ".") == 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST,
                                "%s '%s': the path names no file", what, path);
    }
    const char *directory_path = slash != NULL && parent[0] != '\0' ? parent : ".";
    /* O_PATH without O_DIRECTORY, so a symbolic link as the parent's last
     * component comes back as itself and is reported as a link. */
    int directory = open_beneath(root->fd, directory_path, O_PATH, 0);
    if (directory >= 0 && descriptor_kind(directory) != S_IFDIR) {
        int error = descriptor_kind(directory) == S_IFLNK ? ELOOP : ENOTDIR;
        close(directory);
        directory = -error;
    }
    if (directory < 0) {
        return resolve_status(-directory, what, path, status);
    }
    if (unlinkat(directory, name, 0) != 0) {
        code = asylo__file_errno_status(status, errno, what, path);
    } else {
        code = asylo_status_ok(status);
    }
    close(directory);
    return code;
}

asylo_code asylo__file_root_stat(const asylo__file_root *root, const char *path, struct stat *info,
                                 asylo_status *status) {
    static const char what[] = "file_stat";
    asylo_code code = check_path(root, path, what, status);
    if (code != ASYLO_OK) {
        return code;
    }
    /* O_PATH opens no file (a FIFO cannot block), and with O_NOFOLLOW a
     * symbolic link as the last component comes back as itself. */
    int fd = open_beneath(root->fd, path, O_PATH, 0);
    if (fd < 0) {
        return resolve_status(-fd, what, path, status);
    }
    if (fstat(fd, info) != 0) {
        code = asylo__file_errno_status(status, errno, what, path);
    } else if (S_ISLNK(info->st_mode)) {
        code = resolve_status(ELOOP, what, path, status);
    } else {
        code = asylo_status_ok(status);
    }
    close(fd);
    return code;
}
