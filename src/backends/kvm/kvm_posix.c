/* Forwarded POSIX calls of a kvm guest (kvm_posix.h). The system-call
 * numbers and struct stat are the x86-64 Linux ones the guest's musl uses. */
#include "backends/kvm/kvm_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "asylo/files.h"
#include "asylo/log.h"
#include "asylo/selectors.h"
#include "common/bytes.h"
#include "common/bytes_output.h"
#include "common/posix_file.h"

/* stat's size is learnt by reading the file through the file exits: bounded. */
#define STAT_READ_LIMIT (64u << 20)

typedef struct forward {
    const asylo__exit_dispatcher *exits;
    uint8_t *memory;
    uint64_t memory_size;
} forward;

/* A guest buffer inside the ring-3 region, or NULL. */
static uint8_t *guest_range(const forward *f, uint64_t address, uint64_t size) {
    if (address < ASYLO_KVM_USER_BASE || address > f->memory_size ||
        size > f->memory_size - address) {
        return NULL;
    }
    return f->memory + address;
}

/* Copies a NUL-terminated guest path into `path` (ASYLO_MAX_PATH_SIZE). */
static int64_t guest_path(const forward *f, uint64_t address, char *path) {
    if (address < ASYLO_KVM_USER_BASE || address >= f->memory_size) {
        return -EFAULT;
    }
    uint64_t room = f->memory_size - address;
    size_t limit = room < ASYLO_MAX_PATH_SIZE ? (size_t)room : ASYLO_MAX_PATH_SIZE;
    size_t length = strnlen((const char *)f->memory + address, limit);
    if (length == limit) {
        return limit == ASYLO_MAX_PATH_SIZE ? -ENAMETOOLONG : -EFAULT;
    }
    if (length == 0) {
        return -ENOENT;
    }
    memcpy(path, f->memory + address, length + 1);
    return 0;
}

/* One exit call with an encoded input (consumed); the reply in *reply (the
 * caller finishes it). 0 or -errno. */
static int64_t call(const forward *f, uint32_t selector, asylo__bytes *input, size_t reply_limit,
                    asylo__bytes_output *reply) {
    asylo__bytes_output_init(reply, reply_limit);
    asylo_status status;
    asylo_status_ok(&status);
    asylo_code code = f->exits->dispatch(f->exits->context, selector, input->data, input->size,
                                         &reply->output, &status);
    asylo__bytes_fini(input);
    return code == ASYLO_OK ? 0 : asylo__posix_errno_of(code);
}

static int64_t reply_u32(asylo__bytes_output *reply, int64_t *value) {
    asylo__reader reader;
    asylo__reader_init(&reader, reply->bytes.data, reply->bytes.size, "forwarded call reply");
    *value = (int64_t)asylo__read_u32(&reader);
    asylo_status status;
    int64_t result = asylo__reader_finish(&reader, &status) == ASYLO_OK ? 0 : -EIO;
    asylo__bytes_output_fini(reply);
    return result;
}

static int64_t handle_of(uint64_t fd) {
    return fd >= ASYLO__KVM_FORWARDED_FD_BASE && fd < ASYLO__KVM_FORWARDED_FD_BASE + 1000000
               ? (int64_t)(fd - ASYLO__KVM_FORWARDED_FD_BASE)
               : -1;
}

static int64_t open_path(const forward *f, const char *path, uint64_t flags, uint64_t mode) {
    asylo__bytes input;
    asylo__posix_encode_open(&input, path, flags, mode);
    asylo__bytes_output reply;
    int64_t result = call(f, ASYLO_SELECTOR_FILE_OPEN, &input, 4, &reply);
    if (result != 0) {
        asylo__bytes_output_fini(&reply);
        return result;
    }
    int64_t handle;
    result = reply_u32(&reply, &handle);
    if (result == 0 && handle >= 1000000) {
        result = -EMFILE;
    }
    return result != 0 ? result : handle + ASYLO__KVM_FORWARDED_FD_BASE;
}

static int64_t forward_open(const forward *f, int64_t directory, uint64_t address, uint64_t flags,
                            uint64_t mode) {
    char path[ASYLO_MAX_PATH_SIZE];
    int64_t result = guest_path(f, address, path);
    if (result != 0) {
        return result;
    }
    if (directory != AT_FDCWD && path[0] != '/') {
        return -EBADF;
    }
    return open_path(f, path, flags, mode);
}

static int64_t read_handle(const forward *f, int64_t handle, uint8_t *to, uint64_t size) {
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_u32(&writer, (uint32_t)handle);
    asylo__write_u32(&writer, (uint32_t)size);
    asylo__bytes_output reply;
    int64_t result = call(f, ASYLO_SELECTOR_FILE_READ, &input, (size_t)size, &reply);
    if (result == 0 && reply.bytes.size > size) {
        result = -EIO;
    } else if (result == 0) {
        if (to != NULL && reply.bytes.size > 0) {
            memcpy(to, reply.bytes.data, reply.bytes.size);
        }
        result = (int64_t)reply.bytes.size;
    }
    asylo__bytes_output_fini(&reply);
    return result;
}

static int64_t forward_read(const forward *f, uint64_t fd, uint64_t address, uint64_t size) {
    int64_t handle = handle_of(fd);
    if (handle < 0) {
        return -EBADF;
    }
    size = size > ASYLO_MAX_FILE_IO_SIZE ? ASYLO_MAX_FILE_IO_SIZE : size;
    uint8_t *to = guest_range(f, address, size);
    if (to == NULL) {
        return -EFAULT;
    }
    return read_handle(f, handle, to, size);
}

/* stdout and stderr become the host's log lines (info / warning), like
 * asylo_enclave_log; long writes go as several lines of at most 1023 bytes,
 * so nothing is cut. */
static int64_t write_log(const forward *f, uint64_t fd, const uint8_t *data, uint64_t size) {
    if (f->exits->dispatch == NULL) {
        FILE *stream = fd == 1 ? stdout : stderr;
        size_t written = fwrite(data, 1, (size_t)size, stream);
        fflush(stream);
        return (int64_t)written;
    }
    for (uint64_t done = 0; done < size;) {
        char text[1024];
        size_t length = size - done < sizeof text - 1 ? (size_t)(size - done) : sizeof text - 1;
        memcpy(text, data + done, length);
        done += length;
        text[length] = '\0';
        while (length > 0 && text[length - 1] == '\n') {
            text[--length] = '\0';
        }
        if (length == 0) {
            continue;
        }
        asylo__bytes input;
        asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
        asylo__writer writer;
        asylo__writer_init(&writer, &input);
        asylo__write_u32(&writer, fd == 1 ? ASYLO_LOG_INFO : ASYLO_LOG_WARNING);
        asylo__write_string(&writer, text);
        asylo__bytes_output reply;
        int64_t result = call(f, ASYLO_SELECTOR_LOG, &input, 0, &reply);
        asylo__bytes_output_fini(&reply);
        if (result != 0) {
            return result;
        }
    }
    return (int64_t)size;
}

static int64_t forward_write(const forward *f, uint64_t fd, uint64_t address, uint64_t size) {
    size = size > ASYLO_MAX_FILE_IO_SIZE ? ASYLO_MAX_FILE_IO_SIZE : size;
    const uint8_t *data = guest_range(f, address, size);
    if (data == NULL) {
        return -EFAULT;
    }
    if (fd == 1 || fd == 2) {
        return write_log(f, fd, data, size);
    }
    int64_t handle = handle_of(fd);
    if (handle < 0) {
        return -EBADF;
    }
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_u32(&writer, (uint32_t)handle);
    asylo__write_blob(&writer, data, (size_t)size);
    asylo__bytes_output reply;
    int64_t result = call(f, ASYLO_SELECTOR_FILE_WRITE, &input, 4, &reply);
    if (result != 0) {
        asylo__bytes_output_fini(&reply);
        return result;
    }
    int64_t written;
    result = reply_u32(&reply, &written);
    return result != 0 ? result : written > (int64_t)size ? -EIO : written;
}

/* readv and writev (musl's stdio uses them): one forwarded read or write per
 * entry, stopping at the first short one, as a stream would. */
static int64_t forward_vector(const forward *f, bool write, uint64_t fd, uint64_t address,
                              uint64_t count) {
    if (count > 1024) {
        return -EINVAL;
    }
    const uint8_t *vector = guest_range(f, address, count * 16);
    if (vector == NULL) {
        return -EFAULT;
    }
    int64_t total = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t entry[2];
        memcpy(entry, vector + i * 16, sizeof entry);
        if (entry[1] == 0) {
            continue;
        }
        int64_t done = write ? forward_write(f, fd, entry[0], entry[1])
                             : forward_read(f, fd, entry[0], entry[1]);
        if (done < 0) {
            return total > 0 ? total : done;
        }
        total += done;
        if ((uint64_t)done < entry[1]) {
            break;
        }
    }
    return total;
}

static int64_t close_handle(const forward *f, int64_t handle) {
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_u32(&writer, (uint32_t)handle);
    asylo__bytes_output reply;
    int64_t result = call(f, ASYLO_SELECTOR_FILE_CLOSE, &input, 0, &reply);
    asylo__bytes_output_fini(&reply);
    return result;
}

static int64_t forward_unlink(const forward *f, int64_t directory, uint64_t address,
                              uint64_t flags) {
    char path[ASYLO_MAX_PATH_SIZE];
    int64_t result = guest_path(f, address, path);
    if (result != 0) {
        return result;
    }
    if (flags != 0 || (directory != AT_FDCWD && path[0] != '/')) {
        return -EINVAL;
    }
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_string(&writer, path);
    asylo__bytes_output reply;
    result = call(f, ASYLO_SELECTOR_FILE_UNLINK, &input, 0, &reply);
    asylo__bytes_output_fini(&reply);
    return result;
}

static int64_t put_stat(const forward *f, uint64_t address, mode_t mode, uint64_t size) {
    uint8_t *to = guest_range(f, address, sizeof(struct stat));
    if (to == NULL) {
        return -EFAULT;
    }
    struct stat info;
    memset(&info, 0, sizeof info);
    info.st_mode = mode;
    info.st_nlink = 1;
    info.st_size = (off_t)size;
    info.st_blksize = 4096;
    info.st_blocks = (blkcnt_t)((size + 511) / 512);
    memcpy(to, &info, sizeof info);
    return 0;
}

/* The file exits have no stat: a path that opens for reading is a regular
 * file whose size is what reading it gives (up to STAT_READ_LIMIT). */
static int64_t forward_stat(const forward *f, int64_t directory, uint64_t path_address,
                            uint64_t address, uint64_t flags) {
    char path[ASYLO_MAX_PATH_SIZE];
    int64_t result = guest_path(f, path_address, path);
    if (result != 0) {
        return result;
    }
    if ((directory != AT_FDCWD && path[0] != '/') || (flags & ~(uint64_t)AT_SYMLINK_NOFOLLOW)) {
        return -EINVAL;
    }
    int64_t fd = open_path(f, path, O_RDONLY, 0);
    if (fd < 0) {
        return fd;
    }
    int64_t handle = fd - ASYLO__KVM_FORWARDED_FD_BASE;
    uint64_t size = 0;
    for (;;) {
        int64_t got = read_handle(f, handle, NULL, ASYLO_MAX_FILE_IO_SIZE);
        if (got < 0 || size + (uint64_t)got > STAT_READ_LIMIT) {
            result = got < 0 ? got : -EOVERFLOW;
            break;
        }
        if (got == 0) {
            break;
        }
        size += (uint64_t)got;
    }
    close_handle(f, handle);
    return result != 0 ? result : put_stat(f, address, S_IFREG | 0600, size);
}

static int64_t forward_fstat(const forward *f, uint64_t fd, uint64_t address) {
    if (fd <= 2) {
        return put_stat(f, address, S_IFCHR | 0600, 0);
    }
    /* A forwarded file's size is not known without reading it. */
    return handle_of(fd) >= 0 ? -ENOSYS : -EBADF;
}

bool asylo__kvm_posix_forward(const asylo__exit_dispatcher *exits, uint8_t *memory,
                              uint64_t memory_size, const asylo__kvm_syscall_record *record,
                              int64_t *result) {
    forward f = {exits, memory, memory_size};
    const uint64_t *a = record->args;
    if (record->number == SYS_write && (a[0] == 1 || a[0] == 2)) {
        *result = forward_write(&f, a[0], a[1], a[2]);
        return true;
    }
    if (record->number == SYS_writev && (a[0] == 1 || a[0] == 2)) {
        *result = forward_vector(&f, true, a[0], a[1], a[2]);
        return true;
    }
    if (exits->dispatch == NULL) {
        return false;
    }
    switch (record->number) {
    case SYS_open:
        *result = forward_open(&f, AT_FDCWD, a[0], a[1], a[2]);
        return true;
    case SYS_openat:
        *result = forward_open(&f, (int32_t)a[0], a[1], a[2], a[3]);
        return true;
    case SYS_read:
        *result = forward_read(&f, a[0], a[1], a[2]);
        return true;
    case SYS_write:
        *result = forward_write(&f, a[0], a[1], a[2]);
        return true;
    case SYS_readv:
        *result = forward_vector(&f, false, a[0], a[1], a[2]);
        return true;
    case SYS_writev:
        *result = forward_vector(&f, true, a[0], a[1], a[2]);
        return true;
    case SYS_close:
        /* fds 0-2 stay: closing them is a no-op, as in the process runner. */
        *result = handle_of(a[0]) >= 0 ? close_handle(&f, handle_of(a[0])) : -EBADF;
        return true;
    case SYS_lseek:
        /* The host's file exit calls have no seek: forwarded files are
         * streams. */
        *result = handle_of(a[0]) >= 0 ? -ESPIPE : -EBADF;
        return true;
    case SYS_unlink:
        *result = forward_unlink(&f, AT_FDCWD, a[0], 0);
        return true;
    case SYS_unlinkat:
        *result = forward_unlink(&f, (int32_t)a[0], a[1], a[2]);
        return true;
    case SYS_stat:
    case SYS_lstat:
        *result = forward_stat(&f, AT_FDCWD, a[0], a[1], 0);
        return true;
    case SYS_newfstatat:
        *result = forward_stat(&f, (int32_t)a[0], a[1], a[2], a[3]);
        return true;
    case SYS_fstat:
        *result = forward_fstat(&f, a[0], a[1]);
        return true;
    default:
        return false;
    }
}
