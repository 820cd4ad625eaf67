/* Forwarded guest system calls (see kvm_syscall.h). The numbers are the
 * x86-64 Linux ones, since that is what the guest's C library issues. */
#include "backends/kvm/kvm_syscall.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>

#include "backends/kvm/kvm_layout.h"

/* A guest buffer: inside the ring-3 region, no wrap-around. */
static uint8_t *guest_range(uint8_t *memory, uint64_t memory_size, uint64_t address,
                            uint64_t size) {
    if (address < ASYLO_KVM_USER_BASE || address > memory_size || size > memory_size - address) {
        return NULL;
    }
    return memory + address;
}

static int64_t guest_write(uint8_t *memory, uint64_t memory_size, const uint64_t *args) {
    if (args[0] != 1 && args[0] != 2) {
        return -EBADF;
    }
    uint8_t *data = guest_range(memory, memory_size, args[1], args[2]);
    if (data == NULL) {
        return -EFAULT;
    }
    FILE *stream = args[0] == 1 ? stdout : stderr;
    size_t written = fwrite(data, 1, (size_t)args[2], stream);
    fflush(stream);
    return (int64_t)written;
}

static int64_t guest_clock_gettime(uint8_t *memory, uint64_t memory_size, const uint64_t *args) {
    if (args[0] != CLOCK_REALTIME && args[0] != CLOCK_MONOTONIC) {
        return -EINVAL;
    }
    uint8_t *to = guest_range(memory, memory_size, args[1], 16);
    if (to == NULL) {
        return -EFAULT;
    }
    struct timespec now;
    clock_gettime((clockid_t)args[0], &now);
    int64_t fields[2] = {now.tv_sec, now.tv_nsec};
    memcpy(to, fields, sizeof fields);
    return 0;
}

static int64_t guest_getrandom(uint8_t *memory, uint64_t memory_size, const uint64_t *args) {
    uint64_t size = args[1] > 256 ? 256 : args[1];
    uint8_t *to = guest_range(memory, memory_size, args[0], size);
    if (to == NULL) {
        return -EFAULT;
    }
    ssize_t got = getrandom(to, (size_t)size, 0);
    return got < 0 ? -errno : got;
}

void asylo__kvm_syscall_serve(uint8_t *memory, uint64_t memory_size) {
    asylo__kvm_syscall_record record;
    memcpy(&record, memory + ASYLO_KVM_SYSCALL_RECORD, sizeof record);
    int64_t result;
    switch (record.number) {
    case SYS_write:
        result = guest_write(memory, memory_size, record.args);
        break;
    case SYS_clock_gettime:
        result = guest_clock_gettime(memory, memory_size, record.args);
        break;
    case SYS_getrandom:
        result = guest_getrandom(memory, memory_size, record.args);
        break;
    case SYS_getpid:
        result = 1; /* the guest is one process */
        break;
    default:
        result = -ENOSYS;
        break;
    }
    record.result = (uint64_t)result;
    memcpy(memory + ASYLO_KVM_SYSCALL_RECORD + offsetof(asylo__kvm_syscall_record, result),
           &record.result, sizeof record.result);
}
