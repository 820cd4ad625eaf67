/* Forwarded guest system calls (see kvm_syscall.h). The numbers are the
 * x86-64 Linux ones, since that is what the guest's C library issues. */
#include "backends/kvm/kvm_syscall.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>

#include "backends/kvm/kvm_layout.h"

#define PAGE ASYLO_KVM_PAGE_SIZE
#define ARCH_SET_FS 0x1002
#define MAP_ANONYMOUS_FLAG 0x20
#define MAP_FIXED_FLAG 0x10
/* The largest single forwarded write: a guest cannot make the host block on
 * a huge buffer in one exit. */
#define MAX_WRITE (1u << 20)

asylo_code asylo__kvm_guest_os_init(asylo__kvm_guest_os *os, uint64_t base, uint64_t end,
                                    asylo_status *status) {
    memset(os, 0, sizeof *os);
    uint64_t pages = (end - base) / PAGE;
    /* A quarter for brk (musl's allocator keeps its metadata there), the
     * rest for mmap (its groups and large allocations). */
    os->brk_base = os->brk = base;
    os->brk_end = base + pages / 4 * PAGE;
    os->mmap_base = os->brk_end;
    os->mmap_pages = (size_t)((end - os->mmap_base) / PAGE);
    os->mmap_used = calloc(os->mmap_pages > 0 ? os->mmap_pages : 1, 1);
    if (os->mmap_used == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "no host memory for the kvm guest's page map");
    }
    return ASYLO_OK;
}

void asylo__kvm_guest_os_fini(asylo__kvm_guest_os *os) {
    free(os->mmap_used);
    os->mmap_used = NULL;
}

/* A guest buffer: inside the ring-3 region, no wrap-around. */
static uint8_t *guest_range(uint8_t *memory, uint64_t memory_size, uint64_t address,
                            uint64_t size) {
    if (address < ASYLO_KVM_USER_BASE || address > memory_size || size > memory_size - address) {
        return NULL;
    }
    return memory + address;
}

static int64_t guest_write(uint8_t *memory, uint64_t memory_size, uint64_t fd, uint64_t address,
                           uint64_t size) {
    if (fd != 1 && fd != 2) {
        return -EBADF;
    }
    if (size > MAX_WRITE) {
        size = MAX_WRITE;
    }
    uint8_t *data = guest_range(memory, memory_size, address, size);
    if (data == NULL) {
        return -EFAULT;
    }
    FILE *stream = fd == 1 ? stdout : stderr;
    size_t written = fwrite(data, 1, (size_t)size, stream);
    fflush(stream);
    return (int64_t)written;
}

static int64_t guest_writev(uint8_t *memory, uint64_t memory_size, const uint64_t *args) {
    uint64_t count = args[2];
    if (count > 1024) {
        return -EINVAL;
    }
    uint8_t *vector = guest_range(memory, memory_size, args[1], count * 16);
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
        int64_t written = guest_write(memory, memory_size, args[0], entry[0], entry[1]);
        if (written < 0) {
            return total > 0 ? total : written;
        }
        total += written;
    }
    return total;
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

static int64_t guest_brk(asylo__kvm_guest_os *os, uint64_t wanted) {
    if (wanted >= os->brk_base && wanted <= os->brk_end) {
        os->brk = wanted;
    }
    return (int64_t)os->brk;
}

/* mmap: anonymous, private, no address hint honoured; first fit over the
 * page map; the pages come back zeroed. */
static int64_t guest_mmap(asylo__kvm_guest_os *os, uint8_t *memory, const uint64_t *args) {
    uint64_t length = args[1];
    if (length == 0 || length > (uint64_t)os->mmap_pages * PAGE) {
        return length == 0 ? -EINVAL : -ENOMEM;
    }
    if (!(args[3] & MAP_ANONYMOUS_FLAG) || (args[3] & MAP_FIXED_FLAG)) {
        return -ENODEV;
    }
    size_t pages = (size_t)((length + PAGE - 1) / PAGE);
    size_t run = 0;
    for (size_t i = 0; i < os->mmap_pages; i++) {
        run = os->mmap_used[i] ? 0 : run + 1;
        if (run == pages) {
            size_t first = i + 1 - pages;
            memset(os->mmap_used + first, 1, pages);
            uint64_t address = os->mmap_base + (uint64_t)first * PAGE;
            memset(memory + address, 0, pages * PAGE);
            return (int64_t)address;
        }
    }
    return -ENOMEM;
}

static int64_t guest_munmap(asylo__kvm_guest_os *os, const uint64_t *args) {
    uint64_t address = args[0];
    uint64_t end = os->mmap_base + (uint64_t)os->mmap_pages * PAGE;
    if (address % PAGE != 0 || address < os->mmap_base || address > end ||
        args[1] > end - address) {
        return -EINVAL;
    }
    size_t first = (size_t)((address - os->mmap_base) / PAGE);
    size_t pages = (size_t)((args[1] + PAGE - 1) / PAGE);
    memset(os->mmap_used + first, 0, pages);
    return 0;
}

/* A signal to itself (the guest is one process with one thread): those whose
 * default action is to be ignored, and 0, do nothing; any other ends the
 * guest, since it has no handlers to run. */
static int64_t guest_signal(asylo__kvm_guest_os *os, uint64_t number) {
    if (number == 0 || number == SIGCHLD || number == SIGCONT || number == SIGURG ||
        number == SIGWINCH) {
        return 0;
    }
    if (number >= 65) {
        return -EINVAL;
    }
    os->signal = (int)number;
    return 0;
}

void asylo__kvm_syscall_serve(asylo__kvm_guest_os *os, uint8_t *memory, uint64_t memory_size) {
    asylo__kvm_syscall_record record;
    memcpy(&record, memory + ASYLO_KVM_SYSCALL_RECORD, sizeof record);
    const uint64_t *args = record.args;
    int64_t result;
    switch (record.number) {
    case SYS_write:
        result = guest_write(memory, memory_size, args[0], args[1], args[2]);
        break;
    case SYS_writev:
        result = guest_writev(memory, memory_size, args);
        break;
    case SYS_clock_gettime:
        result = guest_clock_gettime(memory, memory_size, args);
        break;
    case SYS_getrandom:
        result = guest_getrandom(memory, memory_size, args);
        break;
    case SYS_brk:
        result = guest_brk(os, args[0]);
        break;
    case SYS_mmap:
        result = guest_mmap(os, memory, args);
        break;
    case SYS_munmap:
        result = guest_munmap(os, args);
        break;
    case SYS_arch_prctl:
        if (args[0] != ARCH_SET_FS || args[1] < ASYLO_KVM_USER_BASE || args[1] >= memory_size) {
            result = -EINVAL;
        } else {
            os->fs_base_request = args[1];
            result = 0;
        }
        break;
    case SYS_exit:
    case SYS_exit_group:
        os->exited = 1;
        os->exit_code = (int)args[0];
        result = 0;
        break;
    case SYS_kill:
    case SYS_tkill:
        result = guest_signal(os, args[1]);
        break;
    case SYS_tgkill:
        result = guest_signal(os, args[2]);
        break;
    case SYS_getpid:
    case SYS_set_tid_address:
    case SYS_gettid:
        result = 1; /* the guest is one process with one thread */
        break;
    case SYS_ioctl:
        result = -ENOTTY; /* no terminals: stdout is fully buffered */
        break;
    case SYS_mprotect:
    case SYS_madvise:
    case SYS_rt_sigprocmask:
    case SYS_rt_sigaction:
    case SYS_futex: /* one thread: nobody to wait for or wake */
    case SYS_sched_yield:
        result = 0;
        break;
    default:
        result = -ENOSYS;
        break;
    }
    record.result = (uint64_t)result;
    memcpy(memory + ASYLO_KVM_SYSCALL_RECORD + offsetof(asylo__kvm_syscall_record, result),
           &record.result, sizeof record.result);
}
