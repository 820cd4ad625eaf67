/* Forwarding of plain POSIX calls from enclave code to the host, inside the
 * runner (runner_posix.h). The strict seccomp filter traps them; the SIGSYS
 * handler, on the calling thread, turns each into the same built-in exit
 * call the asylo_enclave_file_* functions make, so the host's handlers (and
 * any the host application put in their place) decide, and returns the
 * result in the trapped call's return register. */
#include "runner_posix.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdint.h>

#include "asylo/selectors.h"
#include "asylo/trusted.h"
#include "common/bytes.h"
#include "common/bytes_output.h"
#include "common/posix_file.h"

/* One built-in exit call with an encoded input; the reply lands in *reply. */
static long call(asylo__protocol_session *session, uint32_t selector, asylo__bytes *input,
                 size_t reply_limit, asylo__bytes_output *reply) {
    asylo__bytes_output_init(reply, reply_limit);
    asylo_status status;
    asylo_code code =
        asylo__protocol_call(session, selector, input->data, input->size, &reply->output, &status);
    asylo__bytes_fini(input);
    return code == ASYLO_OK ? 0 : asylo__posix_errno_of(code);
}

static long reply_u32(asylo__bytes_output *reply, long *value) {
    asylo__reader reader;
    asylo__reader_init(&reader, reply->bytes.data, reply->bytes.size, "forwarded call reply");
    *value = (long)asylo__read_u32(&reader);
    asylo_status status;
    long result = asylo__reader_finish(&reader, &status) == ASYLO_OK ? 0 : -EIO;
    asylo__bytes_output_fini(reply);
    return result;
}

static long handle_of(long fd) {
    return fd >= ASYLO__RUNNER_FORWARDED_FD_BASE ? fd - ASYLO__RUNNER_FORWARDED_FD_BASE : -1;
}

static long forward_open(asylo__protocol_session *session, long directory, const char *path,
                         long flags, long mode) {
    if (path == NULL || ((int)directory != AT_FDCWD && path[0] != '/')) {
        return -EBADF;
    }
    size_t length = strnlen(path, ASYLO_MAX_PATH_SIZE);
    if (length == 0 || length >= ASYLO_MAX_PATH_SIZE) {
        return -ENAMETOOLONG;
    }
    asylo__bytes input;
    asylo__posix_encode_open(&input, path, (uint64_t)flags, (uint64_t)mode);
    asylo__bytes_output reply;
    long result = call(session, ASYLO_SELECTOR_FILE_OPEN, &input, 4, &reply);
    if (result != 0) {
        asylo__bytes_output_fini(&reply);
        return result;
    }
    long handle;
    result = reply_u32(&reply, &handle);
    if (result == 0 && handle > 1000000) {
        result = -EMFILE;
    }
    return result != 0 ? result : handle + ASYLO__RUNNER_FORWARDED_FD_BASE;
}

static long forward_read(asylo__protocol_session *session, long fd, void *data, size_t size) {
    long handle = handle_of(fd);
    if (handle < 0) {
        return -EBADF;
    }
    size = size > ASYLO_MAX_FILE_IO_SIZE ? ASYLO_MAX_FILE_IO_SIZE : size;
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_u32(&writer, (uint32_t)handle);
    asylo__write_u32(&writer, (uint32_t)size);
    asylo__bytes_output reply;
    long result = call(session, ASYLO_SELECTOR_FILE_READ, &input, size, &reply);
    if (result == 0) {
        memcpy(data, reply.bytes.data == NULL ? (const uint8_t *)"" : reply.bytes.data,
               reply.bytes.size);
        result = (long)reply.bytes.size;
    }
    asylo__bytes_output_fini(&reply);
    return result;
}

static long forward_write(asylo__protocol_session *session, long fd, const void *data,
                          size_t size) {
    size = size > ASYLO_MAX_FILE_IO_SIZE ? ASYLO_MAX_FILE_IO_SIZE : size;
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__bytes_output reply;
    if (fd == 1 || fd == 2) {
        /* stdout and stderr become the host's log lines (info / warning),
         * like asylo_enclave_log; a NUL ends the text. */
        char text[1024];
        size_t length = size < sizeof text - 1 ? size : sizeof text - 1;
        memcpy(text, data, length);
        text[length] = '\0';
        while (length > 0 && text[length - 1] == '\n') {
            text[--length] = '\0';
        }
        asylo__write_u32(&writer, fd == 1 ? ASYLO_LOG_INFO : ASYLO_LOG_WARNING);
        asylo__write_string(&writer, text);
        long result = call(session, ASYLO_SELECTOR_LOG, &input, 0, &reply);
        asylo__bytes_output_fini(&reply);
        return result != 0 ? result : (long)size;
    }
    long handle = handle_of(fd);
    if (handle < 0) {
        asylo__bytes_fini(&input);
        return -EBADF;
    }
    asylo__write_u32(&writer, (uint32_t)handle);
    asylo__write_blob(&writer, data, size);
    long result = call(session, ASYLO_SELECTOR_FILE_WRITE, &input, 4, &reply);
    if (result != 0) {
        asylo__bytes_output_fini(&reply);
        return result;
    }
    long written;
    result = reply_u32(&reply, &written);
    return result != 0 ? result : written > (long)size ? -EIO : written;
}

static long forward_handle_only(asylo__protocol_session *session, uint32_t selector, long fd) {
    long handle = handle_of(fd);
    if (handle < 0) {
        /* Real descriptors belong to the runner: the enclave may not close
         * them. */
        return -EBADF;
    }
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_u32(&writer, (uint32_t)handle);
    asylo__bytes_output reply;
    long result = call(session, selector, &input, 0, &reply);
    asylo__bytes_output_fini(&reply);
    return result;
}

static long forward_unlink(asylo__protocol_session *session, long directory, const char *path,
                           long flags) {
    if (path == NULL || flags != 0 || ((int)directory != AT_FDCWD && path[0] != '/')) {
        return -EINVAL;
    }
    size_t length = strnlen(path, ASYLO_MAX_PATH_SIZE);
    if (length == 0 || length >= ASYLO_MAX_PATH_SIZE) {
        return -ENAMETOOLONG;
    }
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_string(&writer, path);
    asylo__bytes_output reply;
    long result = call(session, ASYLO_SELECTOR_FILE_UNLINK, &input, 0, &reply);
    asylo__bytes_output_fini(&reply);
    return result;
}

static long forward_seek(asylo__protocol_session *session, long fd, long offset, long whence) {
    long handle = handle_of(fd);
    if (handle < 0) {
        return -EBADF;
    }
    if (whence < 0 || whence > 2) {
        return -EINVAL; /* SEEK_DATA and SEEK_HOLE are not forwarded */
    }
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_u32(&writer, (uint32_t)handle);
    asylo__write_i64(&writer, (int64_t)offset);
    asylo__write_u32(&writer, (uint32_t)whence);
    asylo__bytes_output reply;
    long result = call(session, ASYLO_SELECTOR_FILE_SEEK, &input, 8, &reply);
    if (result == 0) {
        asylo__reader reader;
        asylo__reader_init(&reader, reply.bytes.data, reply.bytes.size, "file_seek reply");
        uint64_t position = asylo__read_u64(&reader);
        asylo_status status;
        result = asylo__reader_finish(&reader, &status) != ASYLO_OK ? -EIO
                 : position > (uint64_t)INT64_MAX                   ? -EOVERFLOW
                                                                    : (long)position;
    }
    asylo__bytes_output_fini(&reply);
    return result;
}

/* A stat reply (common/builtins.h) into *out: what the host sends, the rest
 * zero (no host device, inode or owner), blocks from the size. */
static long stat_reply(asylo__bytes_output *reply, struct stat *out) {
    asylo__reader reader;
    asylo__reader_init(&reader, reply->bytes.data, reply->bytes.size, "file_stat reply");
    uint32_t mode = asylo__read_u32(&reader);
    uint32_t links = asylo__read_u32(&reader);
    uint64_t size = asylo__read_u64(&reader);
    int64_t times[3];
    for (int i = 0; i < 3; i++) {
        times[i] = asylo__read_i64(&reader);
    }
    asylo_status status;
    if (asylo__reader_finish(&reader, &status) != ASYLO_OK || size > (uint64_t)INT64_MAX) {
        return -EIO;
    }
    memset(out, 0, sizeof *out);
    out->st_mode = mode;
    out->st_nlink = links;
    out->st_size = (off_t)size;
    out->st_blksize = 4096;
    out->st_blocks = (blkcnt_t)((size + 511) / 512);
    struct timespec *const fields[] = {&out->st_atim, &out->st_mtim, &out->st_ctim};
    for (int i = 0; i < 3; i++) {
        fields[i]->tv_sec = times[i] / 1000000000;
        fields[i]->tv_nsec = times[i] % 1000000000;
        if (fields[i]->tv_nsec < 0) {
            fields[i]->tv_sec--;
            fields[i]->tv_nsec += 1000000000;
        }
    }
    return 0;
}

static long forward_stat(asylo__protocol_session *session, long directory, const char *path,
                         struct stat *out, long flags) {
    if (path == NULL || out == NULL) {
        return -EFAULT;
    }
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    uint32_t selector;
    if (path[0] == '\0' && (flags & AT_EMPTY_PATH) != 0) {
        long handle = handle_of(directory);
        if (handle < 0) {
            /* One of the runner's own descriptors: the kernel answers. */
            asylo__bytes_fini(&input);
            return syscall(SYS_fstat, directory, out) == 0 ? 0 : -errno;
        }
        selector = ASYLO_SELECTOR_FILE_FSTAT;
        asylo__write_u32(&writer, (uint32_t)handle);
    } else {
        size_t length = strnlen(path, ASYLO_MAX_PATH_SIZE);
        if ((int)directory != AT_FDCWD && path[0] != '/') {
            asylo__bytes_fini(&input);
            return -EBADF;
        }
        if (length == 0 || length >= ASYLO_MAX_PATH_SIZE) {
            asylo__bytes_fini(&input);
            return length == 0 ? -ENOENT : -ENAMETOOLONG;
        }
        selector = ASYLO_SELECTOR_FILE_STAT;
        asylo__write_string(&writer, path);
    }
    asylo__bytes_output reply;
    long result = call(session, selector, &input, 128, &reply);
    if (result == 0) {
        result = stat_reply(&reply, out);
    }
    asylo__bytes_output_fini(&reply);
    return result;
}

bool asylo__runner_unforwarded(long number, const long args[6], long *result) {
    switch (number) {
    case SYS_read:
    case SYS_write:
    case SYS_close:
        /* No descriptor of the enclave's is open, so a stray printf fails
         * quietly instead of ending the enclave. */
        *result = -EBADF;
        return true;
    case SYS_newfstatat:
        /* fstat() of a real descriptor (stdio and malloc ask) is answered by
         * the kernel; a path finds nothing, as in the empty root. */
        if (args[1] != 0 && ((const char *)args[1])[0] == '\0' && (args[3] & AT_EMPTY_PATH)) {
            *result = syscall(SYS_fstat, args[0], (struct stat *)args[2]) == 0 ? 0 : -errno;
        } else {
            *result = -ENOENT;
        }
        return true;
    default:
        return false;
    }
}

bool asylo__runner_forward(asylo__protocol_session *session, long number, const long args[6],
                           long *result) {
    switch (number) {
    case SYS_openat:
        *result = forward_open(session, args[0], (const char *)args[1], args[2], args[3]);
        return true;
    case SYS_open:
        *result = forward_open(session, AT_FDCWD, (const char *)args[0], args[1], args[2]);
        return true;
    case SYS_read:
        *result = forward_read(session, args[0], (void *)args[1], (size_t)args[2]);
        return true;
    case SYS_write:
        *result = forward_write(session, args[0], (const void *)args[1], (size_t)args[2]);
        return true;
    case SYS_close:
        *result = forward_handle_only(session, ASYLO_SELECTOR_FILE_CLOSE, args[0]);
        return true;
    case SYS_unlink:
        *result = forward_unlink(session, AT_FDCWD, (const char *)args[0], 0);
        return true;
    case SYS_unlinkat:
        *result = forward_unlink(session, args[0], (const char *)args[1], args[2]);
        return true;
    case SYS_lseek:
        *result = forward_seek(session, args[0], args[1], args[2]);
        return true;
    case SYS_newfstatat:
        *result =
            forward_stat(session, args[0], (const char *)args[1], (struct stat *)args[2], args[3]);
        return true;
    case SYS_stat:
        *result = forward_stat(session, AT_FDCWD, (const char *)args[0], (struct stat *)args[1], 0);
        return true;
    case SYS_lstat:
        *result = forward_stat(session, AT_FDCWD, (const char *)args[0], (struct stat *)args[1],
                               AT_SYMLINK_NOFOLLOW);
        return true;
    default:
        return false;
    }
}
