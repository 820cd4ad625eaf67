#include "common/posix_file.h"

#include <errno.h>
#include <fcntl.h>

#include "asylo/files.h"

int64_t asylo__posix_errno_of(asylo_code code) {
    switch (code) {
    case ASYLO_NOT_FOUND:
        return -ENOENT;
    case ASYLO_PERMISSION_DENIED:
        return -EACCES;
    case ASYLO_ALREADY_EXISTS:
        return -EEXIST;
    case ASYLO_INVALID_ARGUMENT:
        return -EINVAL;
    case ASYLO_RESOURCE_EXHAUSTED:
        return -ENOMEM;
    case ASYLO_UNIMPLEMENTED:
        return -ENOSYS;
    default:
        return -EIO;
    }
}

void asylo__posix_encode_open(asylo__bytes *input, const char *path, uint64_t open_flags,
                              uint64_t mode) {
    uint32_t flags;
    switch (open_flags & O_ACCMODE) {
    case O_RDONLY:
        flags = ASYLO_FILE_READ;
        break;
    case O_WRONLY:
        flags = ASYLO_FILE_WRITE;
        break;
    default:
        flags = ASYLO_FILE_READ | ASYLO_FILE_WRITE;
        break;
    }
    flags |= (open_flags & O_CREAT) ? ASYLO_FILE_CREATE : 0;
    flags |= (open_flags & O_TRUNC) ? ASYLO_FILE_TRUNCATE : 0;
    flags |= (open_flags & O_APPEND) ? ASYLO_FILE_APPEND : 0;
    asylo__bytes_init(input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, input);
    asylo__write_string(&writer, path);
    asylo__write_u32(&writer, flags);
    asylo__write_u32(&writer, (uint32_t)mode);
}
