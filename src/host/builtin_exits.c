/* The host side of the built-in exit calls (layout in common/builtins.h).
 * Inputs come from the enclave and are checked before use. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "asylo/files.h" /* shared constants: file flags and size limits */
#include "common/builtins.h"
#include "common/nosigpipe.h"
#include "common/bytes.h"
#include "common/log.h"
#include "host/client_internal.h"
#include "host/file_root.h"

static asylo_code write_u32_output(asylo_output *output, uint32_t value, asylo_status *status) {
    uint8_t encoded[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
                          (uint8_t)(value >> 24)};
    return asylo_output_write(output, encoded, sizeof encoded, status);
}

static asylo_code builtin_log(asylo_client *client, asylo__reader *reader, asylo_status *status) {
    uint32_t level = asylo__read_u32(reader);
    const uint8_t *text;
    size_t text_size;
    asylo__read_blob(reader, &text, &text_size, ASYLO__MAX_LOG_LINE_SIZE);
    asylo_code code = asylo__reader_finish(reader, status);
    if (code != ASYLO_OK) {
        return code;
    }
    if (level > ASYLO_LOG_DEBUG) {
        level = ASYLO_LOG_ERROR;
    }
    asylo__log((asylo_log_level)level, "enclave", client->name, 0, "%.*s", (int)text_size,
               (const char *)text);
    return asylo_status_ok(status);
}

static asylo_code builtin_time(clockid_t clock, asylo__reader *reader, asylo_output *output,
                               asylo_status *status) {
    asylo_code code = asylo__reader_finish(reader, status);
    if (code != ASYLO_OK) {
        return code;
    }
    struct timespec now;
    clock_gettime(clock, &now);
    int64_t nanoseconds = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    uint8_t encoded[8];
    for (int i = 0; i < 8; i++) {
        encoded[i] = (uint8_t)((uint64_t)nanoseconds >> (8 * i));
    }
    return asylo_output_write(output, encoded, sizeof encoded, status);
}

static asylo_code builtin_random(asylo__reader *reader, asylo_output *output,
                                 asylo_status *status) {
    uint32_t size = asylo__read_u32(reader);
    asylo_code code = asylo__reader_finish(reader, status);
    if (code != ASYLO_OK) {
        return code;
    }
    if (size > ASYLO_MAX_FILE_IO_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST,
                                "random: %u bytes asked, the limit is %u", size,
                                ASYLO_MAX_FILE_IO_SIZE);
    }
    uint8_t *space = asylo_output_reserve(output, size, status);
    if (space == NULL && size > 0) {
        return status->code;
    }
    size_t filled = 0;
    while (filled < size) {
        ssize_t got = getrandom(space + filled, size - filled, 0);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            return asylo__file_errno_status(status, errno, "getrandom", NULL);
        }
        filled += (size_t)got;
    }
    return asylo_status_ok(status);
}

static int open_flags(uint32_t flags) {
    int result = O_CLOEXEC | O_NOCTTY;
    bool readable = flags & ASYLO_FILE_READ;
    bool writable = flags & ASYLO_FILE_WRITE;
    result |= readable && writable ? O_RDWR : writable ? O_WRONLY : O_RDONLY;
    result |= flags & ASYLO_FILE_CREATE ? O_CREAT : 0;
    result |= flags & ASYLO_FILE_TRUNCATE ? O_TRUNC : 0;
    result |= flags & ASYLO_FILE_APPEND ? O_APPEND : 0;
    result |= flags & ASYLO_FILE_EXCLUSIVE ? O_EXCL : 0;
    return result;
}

static asylo_code builtin_file_open(asylo_client *client, asylo__reader *reader,
                                    asylo_output *output, asylo_status *status) {
    char *path = asylo__read_string(reader, ASYLO_MAX_PATH_SIZE - 1);
    uint32_t flags = asylo__read_u32(reader);
    uint32_t mode = asylo__read_u32(reader);
    asylo_code code = asylo__reader_finish(reader, status);
    const uint32_t known = ASYLO_FILE_READ | ASYLO_FILE_WRITE | ASYLO_FILE_CREATE |
                           ASYLO_FILE_TRUNCATE | ASYLO_FILE_APPEND | ASYLO_FILE_EXCLUSIVE;
    if (code == ASYLO_OK && path[0] == '\0') {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST,
                                "file_open: empty path");
    } else if (code == ASYLO_OK && (flags & ~known) != 0) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST,
                                "file_open: unknown flag bits 0x%x", flags & ~known);
    } else if (code == ASYLO_OK && (flags & (ASYLO_FILE_READ | ASYLO_FILE_WRITE)) == 0) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST,
                                "file_open: flags 0x%x have neither ASYLO_FILE_READ nor "
                                "ASYLO_FILE_WRITE",
                                flags);
    } else if (code == ASYLO_OK && mode > 07777) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST,
                                "file_open: mode 0%o is not a permission mode", mode);
    }
    if (code != ASYLO_OK) {
        free(path);
        return code;
    }
    int fd;
    code = asylo__file_root_open_file(&client->files.root, path, open_flags(flags), (mode_t)mode,
                                      &fd, status);
    free(path);
    if (code != ASYLO_OK) {
        return code;
    }
    int handle;
    code = asylo__file_table_add(&client->files, fd, &handle, status);
    if (code != ASYLO_OK) {
        return code;
    }
    code = write_u32_output(output, (uint32_t)handle, status);
    if (code != ASYLO_OK) {
        asylo__file_table_close(&client->files, handle, NULL);
    }
    return code;
}

static asylo_code builtin_file_read(asylo_client *client, asylo__reader *reader,
                                    asylo_output *output, asylo_status *status) {
    uint32_t handle = asylo__read_u32(reader);
    uint32_t size = asylo__read_u32(reader);
    asylo_code code = asylo__reader_finish(reader, status);
    if (code == ASYLO_OK) {
        code = asylo__file_root_check(&client->files.root, "file_read", status);
    }
    if (code != ASYLO_OK) {
        return code;
    }
    if (size > ASYLO_MAX_FILE_IO_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST,
                                "file_read: %u bytes asked, the limit is %u", size,
                                ASYLO_MAX_FILE_IO_SIZE);
    }
    int fd;
    code = asylo__file_table_dup(&client->files, (int)handle, &fd, status);
    if (code != ASYLO_OK) {
        return code;
    }
    uint8_t *buffer = malloc(size == 0 ? 1 : size);
    if (buffer == NULL) {
        close(fd);
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_HOST,
                                "file_read: out of memory for %u bytes", size);
    }
    ssize_t got;
    do {
        got = read(fd, buffer, size);
    } while (got < 0 && errno == EINTR);
    int error = errno;
    close(fd);
    if (got < 0) {
        code = asylo__file_errno_status(status, error, "file_read", NULL);
    } else {
        code = asylo_output_write(output, buffer, (size_t)got, status);
    }
    /* The file's bytes are the enclave's data now. */
    asylo__secure_free(buffer, size == 0 ? 1 : size);
    return code;
}

static asylo_code builtin_file_write(asylo_client *client, asylo__reader *reader,
                                     asylo_output *output, asylo_status *status) {
    uint32_t handle = asylo__read_u32(reader);
    const uint8_t *data;
    size_t size;
    asylo__read_blob(reader, &data, &size, ASYLO_MAX_FILE_IO_SIZE);
    asylo_code code = asylo__reader_finish(reader, status);
    if (code == ASYLO_OK) {
        code = asylo__file_root_check(&client->files.root, "file_write", status);
    }
    if (code != ASYLO_OK) {
        return code;
    }
    int fd;
    code = asylo__file_table_dup(&client->files, (int)handle, &fd, status);
    if (code != ASYLO_OK) {
        return code;
    }
    ssize_t written;
    written = asylo__write_nosigpipe(fd, data, size); /* the file may be a FIFO */
    int error = errno;
    close(fd);
    if (written < 0) {
        return asylo__file_errno_status(status, error, "file_write", NULL);
    }
    return write_u32_output(output, (uint32_t)written, status);
}

static asylo_code builtin_file_close(asylo_client *client, asylo__reader *reader,
                                     asylo_status *status) {
    uint32_t handle = asylo__read_u32(reader);
    asylo_code code = asylo__reader_finish(reader, status);
    if (code == ASYLO_OK) {
        code = asylo__file_root_check(&client->files.root, "file_close", status);
    }
    if (code != ASYLO_OK) {
        return code;
    }
    return asylo__file_table_close(&client->files, (int)handle, status);
}

static asylo_code builtin_file_unlink(asylo_client *client, asylo__reader *reader,
                                      asylo_status *status) {
    char *path = asylo__read_string(reader, ASYLO_MAX_PATH_SIZE - 1);
    asylo_code code = asylo__reader_finish(reader, status);
    if (code == ASYLO_OK && path[0] == '\0') {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST,
                                "file_unlink: empty path");
    }
    if (code == ASYLO_OK) {
        code = asylo__file_root_unlink(&client->files.root, path, status);
    }
    free(path);
    return code;
}

static asylo_code builtin_file_seek(asylo_client *client, asylo__reader *reader,
                                    asylo_output *output, asylo_status *status) {
    uint32_t handle = asylo__read_u32(reader);
    int64_t offset = asylo__read_i64(reader);
    uint32_t whence = asylo__read_u32(reader);
    asylo_code code = asylo__reader_finish(reader, status);
    if (code == ASYLO_OK) {
        code = asylo__file_root_check(&client->files.root, "file_seek", status);
    }
    if (code == ASYLO_OK && whence > 2) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_HOST,
                                "file_seek: whence %u is none of 0 (set), 1 (current), 2 (end)",
                                whence);
    }
    if (code != ASYLO_OK) {
        return code;
    }
    int fd;
    code = asylo__file_table_dup(&client->files, (int)handle, &fd, status);
    if (code != ASYLO_OK) {
        return code;
    }
    /* A duplicate shares the file offset with the table's descriptor. */
    static const int whences[] = {SEEK_SET, SEEK_CUR, SEEK_END};
    off_t position = lseek(fd, (off_t)offset, whences[whence]);
    int error = errno;
    close(fd);
    if (position < 0) {
        return asylo__file_errno_status(status, error, "file_seek", NULL);
    }
    uint8_t encoded[8];
    for (int i = 0; i < 8; i++) {
        encoded[i] = (uint8_t)((uint64_t)position >> (8 * i));
    }
    return asylo_output_write(output, encoded, sizeof encoded, status);
}

/* The stat layout of common/builtins.h: no host device, inode or owner. */
static asylo_code write_stat(const struct stat *info, asylo_output *output, asylo_status *status) {
    asylo__bytes bytes;
    asylo__bytes_init(&bytes, 64);
    asylo__writer writer;
    asylo__writer_init(&writer, &bytes);
    asylo__write_u32(&writer, (uint32_t)info->st_mode);
    asylo__write_u32(&writer, (uint32_t)info->st_nlink);
    asylo__write_u64(&writer, (uint64_t)info->st_size);
    const struct timespec times[] = {info->st_atim, info->st_mtim, info->st_ctim};
    for (size_t i = 0; i < 3; i++) {
        asylo__write_i64(&writer, (int64_t)times[i].tv_sec * 1000000000 + times[i].tv_nsec);
    }
    asylo_code code = asylo__writer_status(&writer, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, bytes.data, bytes.size, status);
    }
    asylo__bytes_fini(&bytes);
    return code;
}

static asylo_code builtin_file_stat(asylo_client *client, asylo__reader *reader,
                                    asylo_output *output, asylo_status *status) {
    char *path = asylo__read_string(reader, ASYLO_MAX_PATH_SIZE - 1);
    asylo_code code = asylo__reader_finish(reader, status);
    struct stat info;
    if (code == ASYLO_OK) {
        code = asylo__file_root_stat(&client->files.root, path, &info, status);
    }
    free(path);
    return code == ASYLO_OK ? write_stat(&info, output, status) : code;
}

static asylo_code builtin_file_fstat(asylo_client *client, asylo__reader *reader,
                                     asylo_output *output, asylo_status *status) {
    uint32_t handle = asylo__read_u32(reader);
    asylo_code code = asylo__reader_finish(reader, status);
    if (code == ASYLO_OK) {
        code = asylo__file_root_check(&client->files.root, "file_fstat", status);
    }
    if (code != ASYLO_OK) {
        return code;
    }
    int fd;
    code = asylo__file_table_dup(&client->files, (int)handle, &fd, status);
    if (code != ASYLO_OK) {
        return code;
    }
    struct stat info;
    int result = fstat(fd, &info);
    int error = errno;
    close(fd);
    if (result != 0) {
        return asylo__file_errno_status(status, error, "file_fstat", NULL);
    }
    return write_stat(&info, output, status);
}

asylo_code asylo__builtin_exit(asylo_client *client, uint32_t selector, const uint8_t *input,
                               size_t input_size, asylo_output *output, asylo_status *status) {
    asylo__reader reader;
    asylo__reader_init(&reader, input, input_size, "built-in exit call input");
    switch (selector) {
    case ASYLO_SELECTOR_LOG:
        return builtin_log(client, &reader, status);
    case ASYLO_SELECTOR_TIME_WALL:
        return builtin_time(CLOCK_REALTIME, &reader, output, status);
    case ASYLO_SELECTOR_TIME_MONOTONIC:
        return builtin_time(CLOCK_MONOTONIC, &reader, output, status);
    case ASYLO_SELECTOR_RANDOM:
        return builtin_random(&reader, output, status);
    case ASYLO_SELECTOR_FILE_OPEN:
        return builtin_file_open(client, &reader, output, status);
    case ASYLO_SELECTOR_FILE_READ:
        return builtin_file_read(client, &reader, output, status);
    case ASYLO_SELECTOR_FILE_WRITE:
        return builtin_file_write(client, &reader, output, status);
    case ASYLO_SELECTOR_FILE_CLOSE:
        return builtin_file_close(client, &reader, status);
    case ASYLO_SELECTOR_FILE_UNLINK:
        return builtin_file_unlink(client, &reader, status);
    case ASYLO_SELECTOR_FILE_SEEK:
        return builtin_file_seek(client, &reader, output, status);
    case ASYLO_SELECTOR_FILE_STAT:
        return builtin_file_stat(client, &reader, output, status);
    case ASYLO_SELECTOR_FILE_FSTAT:
        return builtin_file_fstat(client, &reader, output, status);
    default:
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_HOST,
                                "no built-in exit call has selector 0x%x", selector);
    }
}
