/* The VMM: /dev/kvm file descriptors, guest memory, the vCPU's registers,
 * the exit loop (one switch) and the crossing over the shared window. */
#include "backends/kvm/kvm_vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backends/kvm/kvm_layout.h"
#include "backends/kvm/kvm_machine.h"
#include "backends/kvm/kvm_posix.h"
#include "backends/kvm/kvm_syscall.h"
#include "backends/kvm/kvm_watchdog.h"
#include "common/bytes_output.h"

#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_SFMASK 0xc0000084u

struct asylo__kvm_vm {
    int kvm_fd;
    int vm_fd;
    int vcpu_fd;
    struct kvm_run *run;
    size_t run_size;
    uint8_t *memory;
    uint64_t memory_size;
    asylo__kvm_machine machine;
    asylo__kvm_guest_os os;
    asylo__kvm_options options;
    char path[256];

    /* One vCPU: calls from other threads wait for the gate; nested calls
     * from the thread inside an exit dispatch go straight in. A call sleeping
     * in the host (a SLEEP frame) opens the gate: other threads' calls then
     * enter nested on it, and it resumes once they are done (depth back to
     * its own), since the guest's stack is last in, first out. */
    bool busy; /* under `wake_lock` */
    pthread_t owner;
    _Atomic bool owned;
    unsigned depth;
    /* The thread in KVM_RUN now, for abandon's signal. */
    _Atomic bool running;
    pthread_t running_thread;
    _Atomic bool abandoned;
    _Atomic bool lost;
    /* The gate and sleeps wait here; abandon, loss and a gate opening wake
     * them. */
    pthread_mutex_t wake_lock;
    pthread_cond_t wake;
    asylo_status lost_status;
    int64_t deadline_ns; /* outermost call's watchdog deadline; 0: none */
};

static int64_t now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

asylo_code asylo__kvm_probe(asylo_status *status) {
    int fd = open(ASYLO__KVM_DEVICE, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int error = errno;
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                "the kvm backend needs %s read-write: %s%s", ASYLO__KVM_DEVICE,
                                strerror(error),
                                error == ENOENT   ? " (no KVM on this machine: load the kvm "
                                                    "module or use a host with virtualization)"
                                : error == EACCES ? " (add the user to the group owning it)"
                                                  : "");
    }
    int version = ioctl(fd, KVM_GET_API_VERSION, 0);
    close(fd);
    if (version != KVM_API_VERSION) {
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                "%s speaks KVM API %d, the kvm backend needs %d", ASYLO__KVM_DEVICE,
                                version, KVM_API_VERSION);
    }
    return asylo_status_ok(status);
}

static asylo_code read_image(const char *path, uint8_t **image, size_t *size,
                             asylo_status *status) {
    asylo_code code = ASYLO_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat info;
    *image = NULL;
    if (fd < 0 || fstat(fd, &info) != 0) {
        code = asylo_status_set(status, errno == ENOENT ? ASYLO_NOT_FOUND : ASYLO_UNAVAILABLE,
                                ASYLO_ORIGIN_API, "cannot read kvm image '%s': %s", path,
                                strerror(errno));
        goto out;
    }
    if (!S_ISREG(info.st_mode) || info.st_size <= 0 ||
        (uint64_t)info.st_size > ASYLO__KVM_MAX_IMAGE_SIZE) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "kvm image '%s' is not a regular file of 1 to %u bytes", path,
                                ASYLO__KVM_MAX_IMAGE_SIZE);
        goto out;
    }
    *image = malloc((size_t)info.st_size);
    if (*image == NULL) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "no memory to read kvm image '%s'", path);
        goto out;
    }
    size_t done = 0;
    while (done < (size_t)info.st_size) {
        ssize_t got = read(fd, *image + done, (size_t)info.st_size - done);
        if (got <= 0) {
            code = asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_API,
                                    "reading kvm image '%s' stopped at byte %zu: %s", path, done,
                                    got == 0 ? "file shrank" : strerror(errno));
            goto out;
        }
        done += (size_t)got;
    }
    *size = done;
out:
    if (code != ASYLO_OK) {
        free(*image);
        *image = NULL;
    }
    if (fd >= 0) {
        close(fd);
    }
    return code;
}

static asylo_code ioctl_failed(const char *what, asylo_status *status) {
    return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND, "%s on %s: %s", what,
                            ASYLO__KVM_DEVICE, strerror(errno));
}

static void set_segment(struct kvm_segment *segment, uint16_t selector, uint8_t type, int code,
                        uint8_t dpl) {
    memset(segment, 0, sizeof *segment);
    segment->base = 0;
    segment->limit = 0xffffffff;
    segment->selector = selector;
    segment->type = type;
    segment->present = 1;
    segment->dpl = dpl;
    segment->s = 1;
    segment->l = code ? 1 : 0;
    segment->db = code ? 0 : 1;
    segment->g = 1;
}

/* Long mode, paging, SSE, ring-0 CS/SS, user DS/ES/FS/GS (so the iretq to
 * ring 3 keeps FS and its base), the TSS and the system-call MSRs. */
static asylo_code setup_vcpu(asylo__kvm_vm *vm, asylo_status *status) {
    struct kvm_sregs sregs;
    if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) != 0) {
        return ioctl_failed("KVM_GET_SREGS", status);
    }
    set_segment(&sregs.cs, ASYLO_KVM_SEL_KCODE, 11, 1, 0);
    set_segment(&sregs.ss, ASYLO_KVM_SEL_KDATA, 3, 0, 0);
    set_segment(&sregs.ds, ASYLO_KVM_SEL_UDATA, 3, 0, 3);
    sregs.es = sregs.ds;
    sregs.gs = sregs.ds;
    sregs.fs = sregs.ds;
    sregs.fs.base = vm->machine.tls_base;
    memset(&sregs.tr, 0, sizeof sregs.tr);
    sregs.tr.base = ASYLO_KVM_TSS;
    sregs.tr.limit = ASYLO_KVM_TSS_LIMIT;
    sregs.tr.selector = ASYLO_KVM_SEL_TSS;
    sregs.tr.type = 11; /* busy 64-bit TSS */
    sregs.tr.present = 1;
    memset(&sregs.ldt, 0, sizeof sregs.ldt);
    sregs.ldt.type = 2;
    sregs.ldt.unusable = 1;
    sregs.gdt.base = ASYLO_KVM_GDT;
    sregs.gdt.limit = ASYLO_KVM_SEL_TSS + 16 - 1;
    sregs.idt.base = ASYLO_KVM_IDT;
    sregs.idt.limit = ASYLO_KVM_VECTORS * 16 - 1;
    /* PE | MP | ET | NE | WP | PG; EM clear so SSE works. */
    sregs.cr0 = 0x1u | 0x2u | 0x10u | 0x20u | 0x10000u | 0x80000000u;
    sregs.cr3 = ASYLO_KVM_PML4;
    sregs.cr4 = 0x20u | 0x200u | 0x400u;          /* PAE | OSFXSR | OSXMMEXCPT */
    sregs.efer = 0x1u | 0x100u | 0x400u | 0x800u; /* SCE | LME | LMA | NXE */
    if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) != 0) {
        return ioctl_failed("KVM_SET_SREGS", status);
    }

    struct {
        struct kvm_msrs header;
        struct kvm_msr_entry entries[3];
    } msrs;
    memset(&msrs, 0, sizeof msrs);
    msrs.header.nmsrs = 3;
    msrs.entries[0].index = MSR_STAR;
    msrs.entries[0].data =
        ((uint64_t)(ASYLO_KVM_SEL_UCODE32 & ~3) << 48) | ((uint64_t)ASYLO_KVM_SEL_KCODE << 32);
    msrs.entries[1].index = MSR_LSTAR;
    msrs.entries[1].data = vm->machine.syscall_entry;
    msrs.entries[2].index = MSR_SFMASK;
    msrs.entries[2].data = 0x47700; /* TF, IF, DF, IOPL, NT, AC cleared on entry */
    if (ioctl(vm->vcpu_fd, KVM_SET_MSRS, &msrs) != 3) {
        return ioctl_failed("KVM_SET_MSRS (STAR, LSTAR, SFMASK)", status);
    }

    struct kvm_regs regs;
    memset(&regs, 0, sizeof regs);
    regs.rip = vm->machine.boot_rip;
    regs.rsp = ASYLO_KVM_KSTACK_TOP;
    regs.rdi = vm->machine.user_entry;
    regs.rsi = vm->machine.stack_top;
    regs.rflags = 0x2;
    if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) != 0) {
        return ioctl_failed("KVM_SET_REGS", status);
    }
    return ASYLO_OK;
}

static asylo_code open_machine(asylo__kvm_vm *vm, const uint8_t *image, size_t image_size,
                               asylo_status *status) {
    vm->kvm_fd = open(ASYLO__KVM_DEVICE, O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0) {
        return asylo__kvm_probe(status);
    }
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        return ioctl_failed("KVM_CREATE_VM", status);
    }
    vm->memory = mmap(NULL, vm->memory_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (vm->memory == MAP_FAILED) {
        vm->memory = NULL;
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "cannot map %llu bytes of kvm guest memory: %s",
                                (unsigned long long)vm->memory_size, strerror(errno));
    }
    uint64_t canary = 0;
    if (getrandom(&canary, sizeof canary, 0) != (ssize_t)sizeof canary) {
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                                "getrandom for the guest's stack canary: %s", strerror(errno));
    }
    canary &= ~(uint64_t)0xff; /* a zero low byte stops string overflows, as glibc does */
    asylo_code code =
        asylo__kvm_machine_build(vm->memory, vm->memory_size, image, image_size, vm->path,
                                 vm->options.test_open_port, canary, &vm->machine, status);
    if (code != ASYLO_OK) {
        return code;
    }
    code = asylo__kvm_guest_os_init(&vm->os, vm->machine.libc_heap_base, vm->machine.libc_heap_end,
                                    status);
    if (code != ASYLO_OK) {
        return code;
    }
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = 0,
        .memory_size = vm->memory_size,
        .userspace_addr = (uint64_t)(uintptr_t)vm->memory,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) != 0) {
        return ioctl_failed("KVM_SET_USER_MEMORY_REGION", status);
    }
    vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
    if (vm->vcpu_fd < 0) {
        return ioctl_failed("KVM_CREATE_VCPU", status);
    }
    int run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run)) {
        return ioctl_failed("KVM_GET_VCPU_MMAP_SIZE", status);
    }
    vm->run_size = (size_t)run_size;
    vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
    if (vm->run == MAP_FAILED) {
        vm->run = NULL;
        return ioctl_failed("mmap of the vCPU's kvm_run", status);
    }
    return setup_vcpu(vm, status);
}

/* Marks the VM lost with the status that says why, and returns its code. */
static void wake_sleepers(asylo__kvm_vm *vm) {
    pthread_mutex_lock(&vm->wake_lock);
    pthread_cond_broadcast(&vm->wake);
    pthread_mutex_unlock(&vm->wake_lock);
}

static asylo_code mark_lost(asylo__kvm_vm *vm, asylo_status *status) {
    if (!atomic_load(&vm->lost)) {
        vm->lost_status = *status;
        atomic_store(&vm->lost, true);
        wake_sleepers(vm);
    }
    return status->code;
}

/* nanosleep and clock_nanosleep, forwarded: the calling host thread waits
 * (bounded by the call's deadline), and abandon or the VM's loss wake it with
 * -EINTR. TIMER_ABSTIME is honoured for the realtime and monotonic clocks. */
static int64_t guest_sleep(asylo__kvm_vm *vm, const asylo__kvm_syscall_record *record) {
    bool absolute_clock = record->number == SYS_clock_nanosleep;
    uint64_t clock = absolute_clock ? record->args[0] : CLOCK_REALTIME;
    bool absolute = absolute_clock && (record->args[1] & TIMER_ABSTIME);
    uint64_t address = absolute_clock ? record->args[2] : record->args[0];
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) {
        return -EINVAL;
    }
    if (address < ASYLO_KVM_USER_BASE || address > vm->memory_size - 16) {
        return -EFAULT;
    }
    int64_t fields[2];
    memcpy(fields, vm->memory + address, sizeof fields);
    if (fields[0] < 0 || fields[1] < 0 || fields[1] >= 1000000000) {
        return -EINVAL;
    }
    int64_t wanted =
        fields[0] > INT64_MAX / 2000000000 ? INT64_MAX / 2 : fields[0] * 1000000000 + fields[1];
    if (absolute) {
        struct timespec now;
        clock_gettime((clockid_t)clock, &now);
        wanted -= (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    }
    int64_t until = now_ns() + (wanted > 0 ? wanted : 0);
    if (vm->deadline_ns != 0 && vm->deadline_ns < until) {
        until = vm->deadline_ns; /* run_to_call then reports the deadline */
    }
    int64_t result = 0;
    pthread_mutex_lock(&vm->wake_lock);
    for (;;) {
        if (atomic_load(&vm->lost) || atomic_load(&vm->abandoned)) {
            result = -EINTR;
            break;
        }
        if (now_ns() >= until) {
            break;
        }
        struct timespec at = {.tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
        pthread_cond_timedwait(&vm->wake, &vm->wake_lock, &at);
    }
    pthread_mutex_unlock(&vm->wake_lock);
    return result;
}

static const char *vector_name(uint64_t vector) {
    static const char *const names[] = {"#DE divide error",
                                        "#DB debug",
                                        "NMI",
                                        "#BP breakpoint",
                                        "#OF overflow",
                                        "#BR bound range",
                                        "#UD invalid opcode",
                                        "#NM no math",
                                        "#DF double fault",
                                        "coprocessor",
                                        "#TS invalid TSS",
                                        "#NP not present",
                                        "#SS stack fault",
                                        "#GP general protection",
                                        "#PF page fault",
                                        "reserved",
                                        "#MF x87 error",
                                        "#AC alignment check",
                                        "#MC machine check",
                                        "#XM SIMD error",
                                        "#VE virtualization",
                                        "#CP control protection"};
    return vector < sizeof names / sizeof names[0] ? names[vector] : "reserved";
}

static asylo_code report_fault(asylo__kvm_vm *vm, asylo_status *status) {
    asylo__kvm_fault_record fault;
    memcpy(&fault, vm->memory + ASYLO_KVM_FAULT_RECORD, sizeof fault);
    asylo_status_set(status, ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE,
                     "kvm enclave '%s' faulted: vector %llu (%s) at rip 0x%llx in ring %llu, "
                     "error code 0x%llx, address (cr2) 0x%llx, rsp 0x%llx; the enclave is lost",
                     vm->path, (unsigned long long)fault.vector, vector_name(fault.vector),
                     (unsigned long long)fault.rip, (unsigned long long)(fault.cs & 3),
                     (unsigned long long)fault.error_code, (unsigned long long)fault.cr2,
                     (unsigned long long)fault.rsp);
    return mark_lost(vm, status);
}

/* One system call; then what it asked of the VMM: a new FS base (the C
 * library's thread pointer) or the end of the guest. */
static asylo_code serve_syscall(asylo__kvm_vm *vm, asylo_status *status) {
    asylo__kvm_syscall_record record;
    memcpy(&record, vm->memory + ASYLO_KVM_SYSCALL_RECORD, sizeof record);
    int64_t result;
    bool served = true;
    if (record.number == SYS_nanosleep || record.number == SYS_clock_nanosleep) {
        result = guest_sleep(vm, &record);
    } else if (!asylo__kvm_posix_forward(&vm->options.exits, vm->memory, vm->memory_size, &record,
                                         &result)) {
        served = false;
        asylo__kvm_syscall_serve(&vm->os, vm->memory, vm->memory_size);
    }
    if (served) {
        record.result = (uint64_t)result;
        memcpy(vm->memory + ASYLO_KVM_SYSCALL_RECORD, &record, sizeof record);
    }
    if (vm->os.exited) {
        return asylo_status_set(status, ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE,
                                "kvm enclave '%s' exited with status %d (it called exit(%d)); the "
                                "enclave is lost",
                                vm->path, vm->os.exit_code & 0xff, vm->os.exit_code);
    }
    if (vm->os.signal != 0) {
        /* The guest has no signal delivery: a signal it sends itself ends
         * it, as the default action would end a process. */
        const char *name = sigabbrev_np(vm->os.signal);
        return asylo_status_set(status, ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE,
                                "kvm enclave '%s' ended by signal %d (SIG%s) it raised; the "
                                "enclave is lost",
                                vm->path, vm->os.signal, name != NULL ? name : "?");
    }
    if (vm->os.fs_base_request != 0) {
        struct kvm_sregs sregs;
        uint64_t base = vm->os.fs_base_request;
        vm->os.fs_base_request = 0;
        if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) != 0) {
            return ioctl_failed("KVM_GET_SREGS", status);
        }
        sregs.fs.base = base;
        if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) != 0) {
            return ioctl_failed("KVM_SET_SREGS (FS base)", status);
        }
    }
    return ASYLO_OK;
}

/* Runs the vCPU until the guest writes PORT_CALL; system calls and bench
 * exits are served on the way. Anything else ends the call and the VM. */
static asylo_code run_to_call(asylo__kvm_vm *vm, asylo_status *status) {
    for (;;) {
        /* Cleared before the checks: a watchdog or abandon signal that comes
         * after this line sets immediate_exit again, one before it is seen
         * by the checks. */
        vm->run->immediate_exit = 0;
        if (atomic_load(&vm->abandoned)) {
            asylo_status_set(status, ASYLO_CANCELLED, ASYLO_ORIGIN_BACKEND,
                             "kvm enclave '%s' was abandoned by destroy", vm->path);
            return mark_lost(vm, status);
        }
        if (vm->deadline_ns != 0 && now_ns() >= vm->deadline_ns) {
            asylo_status_set(status, ASYLO_DEADLINE_EXCEEDED, ASYLO_ORIGIN_BACKEND,
                             "kvm enclave '%s' ran past its call deadline and was interrupted; "
                             "the enclave is lost",
                             vm->path);
            return mark_lost(vm, status);
        }
        asylo__kvm_watchdog_attach(vm->run);
        int result = ioctl(vm->vcpu_fd, KVM_RUN, 0);
        int error = errno;
        asylo__kvm_watchdog_attach(NULL);
        if (result != 0) {
            if (error == EINTR || error == EAGAIN) {
                continue;
            }
            errno = error;
            ioctl_failed("KVM_RUN", status);
            return mark_lost(vm, status);
        }
        struct kvm_run *run = vm->run;
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1 || run->io.count != 1) {
                asylo_status_set(status, ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE,
                                 "kvm enclave '%s' made a port access the VMM does not "
                                 "support (port 0x%x, %s, size %u, count %u); the enclave is lost",
                                 vm->path, run->io.port,
                                 run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", run->io.size,
                                 run->io.count);
                return mark_lost(vm, status);
            }
            switch (run->io.port) {
            case ASYLO_KVM_PORT_CALL:
                return ASYLO_OK;
            case ASYLO_KVM_PORT_BENCH:
                continue;
            case ASYLO_KVM_PORT_SYSCALL:
                if (serve_syscall(vm, status) != ASYLO_OK) {
                    return mark_lost(vm, status);
                }
                continue;
            case ASYLO_KVM_PORT_FAULT:
                return report_fault(vm, status);
            case ASYLO_KVM_PORT_HALT:
                asylo_status_set(status, ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE,
                                 "kvm enclave '%s' halted (its runtime found the boot info or a "
                                 "frame invalid); the enclave is lost",
                                 vm->path);
                return mark_lost(vm, status);
            default:
                asylo_status_set(status, ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE,
                                 "kvm enclave '%s' wrote to unknown port 0x%x; the enclave is "
                                 "lost",
                                 vm->path, run->io.port);
                return mark_lost(vm, status);
            }
        case KVM_EXIT_SHUTDOWN:
            asylo_status_set(status, ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE,
                             "kvm enclave '%s' triple-faulted (an exception it could not "
                             "report); the enclave is lost",
                             vm->path);
            return mark_lost(vm, status);
        case KVM_EXIT_HLT:
            asylo_status_set(status, ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE,
                             "kvm enclave '%s' executed hlt; the enclave is lost", vm->path);
            return mark_lost(vm, status);
        case KVM_EXIT_MMIO:
            asylo_status_set(status, ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE,
                             "kvm enclave '%s' accessed 0x%llx, outside its %llu bytes of "
                             "memory; the enclave is lost",
                             vm->path, (unsigned long long)run->mmio.phys_addr,
                             (unsigned long long)vm->memory_size);
            return mark_lost(vm, status);
        case KVM_EXIT_INTERNAL_ERROR:
            asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                             "KVM could not run kvm enclave '%s' (internal error, suberror %u; "
                             "on a nested hypervisor ring-0 guest code cannot use SSE); the "
                             "enclave is lost",
                             vm->path, run->internal.suberror);
            return mark_lost(vm, status);
        default:
            asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                             "kvm enclave '%s' stopped with KVM exit reason %u; the enclave "
                             "is lost",
                             vm->path, run->exit_reason);
            return mark_lost(vm, status);
        }
    }
}

static uint8_t *window(asylo__kvm_vm *vm) {
    return vm->memory + vm->machine.window_base;
}

static size_t window_capacity(const asylo__kvm_vm *vm) {
    return (size_t)vm->machine.window_size - ASYLO_KVM_FRAME_HEADER_SIZE;
}

static void write_frame(asylo__kvm_vm *vm, uint32_t kind, uint32_t selector, uint32_t origin,
                        const void *payload, size_t size) {
    asylo__kvm_frame frame = {.magic = ASYLO_KVM_FRAME_MAGIC,
                              .kind = kind,
                              .selector = selector,
                              .origin = origin,
                              .size = size,
                              .depth = vm->depth};
    memcpy(window(vm), &frame, sizeof frame);
    if (size > 0) {
        memcpy(window(vm) + sizeof frame, payload, size);
    }
}

/* Copies the guest's frame header out and checks it; the payload is read only
 * after its size passed, from the copy's size. */
static asylo_code read_frame(asylo__kvm_vm *vm, asylo__kvm_frame *frame, asylo_status *status) {
    memcpy(frame, window(vm), sizeof *frame);
    if (frame->magic != ASYLO_KVM_FRAME_MAGIC || frame->size > window_capacity(vm) ||
        frame->kind < ASYLO_KVM_FRAME_READY || frame->kind > ASYLO_KVM_FRAME_SLEEP ||
        frame->kind == ASYLO_KVM_FRAME_ENTER) {
        asylo_status_set(status, ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE,
                         "kvm enclave '%s' wrote a malformed frame (magic 0x%x, kind %u, size "
                         "%llu; the window holds %zu payload bytes); the enclave is lost",
                         vm->path, frame->magic, frame->kind, (unsigned long long)frame->size,
                         window_capacity(vm));
        return mark_lost(vm, status);
    }
    return ASYLO_OK;
}

static asylo_code enclave_error(asylo__kvm_vm *vm, const asylo__kvm_frame *frame,
                                asylo_status *status) {
    char message[256];
    size_t size = frame->size < sizeof message - 1 ? (size_t)frame->size : sizeof message - 1;
    memcpy(message, window(vm) + sizeof *frame, size);
    message[size] = '\0';
    for (size_t i = 0; i < size; i++) {
        if (message[i] < 0x20 || message[i] > 0x7e) {
            message[i] = '?';
        }
    }
    asylo_origin origin =
        frame->origin == ASYLO_ORIGIN_HOST ? ASYLO_ORIGIN_HOST : ASYLO_ORIGIN_ENCLAVE;
    if (!asylo_code_is_valid((int)frame->selector) || frame->selector == ASYLO_OK) {
        /* As the sim backend says it. */
        return asylo_status_set(status, ASYLO_UNKNOWN, ASYLO_ORIGIN_ENCLAVE,
                                "enclave returned code %d, which is not a canonical code (%s)",
                                (int)frame->selector, message);
    }
    return asylo_status_set(status, (asylo_code)frame->selector, origin, "%s", message);
}

/* An EXIT frame: the payload is copied out before the dispatch (which may
 * enter again and reuse the window), the reply written after it. */
static asylo_code serve_exit(asylo__kvm_vm *vm, const asylo__kvm_frame *frame,
                             asylo_status *status) {
    size_t size = (size_t)frame->size;
    uint8_t *input = malloc(size > 0 ? size : 1);
    asylo__bytes_output collector;
    asylo__bytes_output_init(&collector, window_capacity(vm));
    asylo_status result;
    asylo_status_ok(&result);
    asylo_code code;
    if (input == NULL) {
        code = asylo_status_set(&result, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "no host memory for a %zu-byte exit call input", size);
    } else if (vm->depth >= ASYLO__KVM_MAX_DEPTH) {
        code = asylo_status_set(&result, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "kvm enclave '%s': exit call %u nested %u deep, the limit is %d",
                                vm->path, frame->selector, vm->depth, ASYLO__KVM_MAX_DEPTH);
    } else if (vm->options.exits.dispatch == NULL) {
        code = asylo_status_set(&result, ASYLO_NOT_FOUND, ASYLO_ORIGIN_HOST,
                                "no exit call handlers for kvm enclave '%s'", vm->path);
    } else {
        memcpy(input, window(vm) + sizeof *frame, size);
        vm->depth++;
        code = vm->options.exits.dispatch(vm->options.exits.context, frame->selector, input, size,
                                          &collector.output, &result);
        vm->depth--;
        code = asylo__bytes_output_verdict(&collector, code, "exit call handler", NULL, &result);
    }
    if (code == ASYLO_OK) {
        write_frame(vm, ASYLO_KVM_FRAME_RETURN, 0, 0, collector.bytes.data, collector.bytes.size);
    } else {
        write_frame(vm, ASYLO_KVM_FRAME_ERROR, (uint32_t)code,
                    result.origin == ASYLO_ORIGIN_NONE ? ASYLO_ORIGIN_HOST
                                                       : (uint32_t)result.origin,
                    result.message, strlen(result.message));
    }
    asylo__bytes_output_fini(&collector);
    free(input);
    (void)status;
    return ASYLO_OK;
}

static void serve_sleep(asylo__kvm_vm *vm, const asylo__kvm_frame *frame);

/* After a frame went to the guest: serves its exit calls until it replies. */
static asylo_code await_reply(asylo__kvm_vm *vm, asylo_output *output, asylo_status *status) {
    for (;;) {
        asylo_code code = run_to_call(vm, status);
        if (code != ASYLO_OK) {
            return code;
        }
        asylo__kvm_frame frame;
        code = read_frame(vm, &frame, status);
        if (code != ASYLO_OK) {
            return code;
        }
        switch (frame.kind) {
        case ASYLO_KVM_FRAME_RETURN: {
            /* The output limit (max_output_size) is the host sink's: its
             * reserve refuses what would exceed it, as on every backend. */
            if (frame.size == 0) {
                return asylo_status_ok(status);
            }
            uint8_t *to = asylo_output_reserve(output, (size_t)frame.size, status);
            if (to == NULL) {
                return status->code;
            }
            memcpy(to, window(vm) + sizeof frame, (size_t)frame.size);
            return asylo_status_ok(status);
        }
        case ASYLO_KVM_FRAME_ERROR:
            return enclave_error(vm, &frame, status);
        case ASYLO_KVM_FRAME_SLEEP:
            serve_sleep(vm, &frame);
            if (atomic_load(&vm->lost)) {
                *status = vm->lost_status;
                return status->code;
            }
            continue;
        case ASYLO_KVM_FRAME_EXIT:
            serve_exit(vm, &frame, status);
            if (atomic_load(&vm->lost)) {
                *status = vm->lost_status;
                return status->code;
            }
            continue;
        default: /* READY after boot */
            asylo_status_set(status, ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE,
                             "kvm enclave '%s' sent frame kind %u while a call was in flight; "
                             "the enclave is lost",
                             vm->path, frame.kind);
            return mark_lost(vm, status);
        }
    }
}

static asylo_code lost_error(asylo__kvm_vm *vm, asylo_status *status) {
    return asylo_status_set(status, ASYLO_ABORTED, ASYLO_ORIGIN_BACKEND,
                            "kvm enclave '%s' is lost (%s); destroy it and load it again", vm->path,
                            vm->lost_status.message);
}

/* Takes the gate (under wake_lock): waits until it is free and, for a call
 * resuming after a sleep, until the calls nested on it are done (`depth` is
 * its own again); a lost or abandoned VM stops the second wait. */
static void gate_take_locked(asylo__kvm_vm *vm, bool resuming, unsigned depth) {
    while (vm->busy || (resuming && vm->depth != depth && !atomic_load(&vm->lost) &&
                        !atomic_load(&vm->abandoned))) {
        pthread_cond_wait(&vm->wake, &vm->wake_lock);
    }
    vm->busy = true;
    vm->owner = pthread_self();
    atomic_store(&vm->owned, true);
}

static void gate_open_locked(asylo__kvm_vm *vm) {
    atomic_store(&vm->owned, false);
    atomic_store(&vm->running, false);
    vm->busy = false;
    pthread_cond_broadcast(&vm->wake);
}

/* A SLEEP frame: the gate opens for the sleep (bounded by the call's
 * deadline, ended early by abandon or loss), then this call takes it back
 * once the calls that entered meanwhile are done. */
static void serve_sleep(asylo__kvm_vm *vm, const asylo__kvm_frame *frame) {
    uint64_t request[2] = {0, 0};
    if (frame->size == sizeof request) {
        memcpy(request, window(vm) + sizeof *frame, sizeof request);
    }
    int64_t wanted = request[0] > 1000000000ull
                         ? INT64_MAX / 2
                         : (int64_t)(request[0] * 1000000000ull + request[1]);
    int64_t until = now_ns() + wanted;
    int64_t deadline = vm->deadline_ns;
    if (deadline != 0 && deadline < until) {
        until = deadline;
    }
    unsigned depth = vm->depth;
    pthread_mutex_lock(&vm->wake_lock);
    gate_open_locked(vm);
    while (!atomic_load(&vm->lost) && !atomic_load(&vm->abandoned) && now_ns() < until) {
        struct timespec at = {.tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
        pthread_cond_timedwait(&vm->wake, &vm->wake_lock, &at);
    }
    gate_take_locked(vm, true, depth);
    pthread_mutex_unlock(&vm->wake_lock);
    vm->deadline_ns = deadline;
    vm->running_thread = pthread_self();
    atomic_store(&vm->running, true);
    write_frame(vm, ASYLO_KVM_FRAME_RETURN, 0, 0, NULL, 0);
}

asylo_code asylo__kvm_vm_enter(asylo__kvm_vm *vm, uint32_t selector, const uint8_t *input,
                               size_t input_size, asylo_output *output, int64_t timeout_ms,
                               asylo_status *status) {
    bool nested = atomic_load(&vm->owned) && pthread_equal(vm->owner, pthread_self());
    int64_t enclosing_deadline = vm->deadline_ns;
    if (!nested) {
        pthread_mutex_lock(&vm->wake_lock);
        gate_take_locked(vm, false, 0);
        pthread_mutex_unlock(&vm->wake_lock);
        enclosing_deadline = vm->deadline_ns; /* of a sleeping call this one nests on */
        vm->deadline_ns = timeout_ms > 0 ? now_ns() + timeout_ms * 1000000 : 0;
    }
    asylo_code code;
    asylo__kvm_watchdog timer;
    bool timer_armed = false;
    if (atomic_load(&vm->lost)) {
        code = lost_error(vm, status);
        goto out;
    }
    if (atomic_load(&vm->abandoned)) {
        code = asylo_status_set(status, ASYLO_CANCELLED, ASYLO_ORIGIN_BACKEND,
                                "kvm enclave '%s' is being destroyed", vm->path);
        goto out;
    }
    if (input_size > window_capacity(vm)) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "input of %zu bytes to kvm enclave '%s' is over the window's "
                                "%zu bytes",
                                input_size, vm->path, window_capacity(vm));
        goto out;
    }
    if (vm->depth >= ASYLO__KVM_MAX_DEPTH) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "kvm enclave '%s': enter %u nested %u deep, the limit is %d",
                                vm->path, selector, vm->depth, ASYLO__KVM_MAX_DEPTH);
        goto out;
    }
    if (!nested && vm->deadline_ns != 0) {
        code = asylo__kvm_watchdog_arm(&timer, timeout_ms, status);
        if (code != ASYLO_OK) {
            goto out;
        }
        timer_armed = true;
    }
    atomic_store(&vm->running, false);
    vm->running_thread = pthread_self();
    atomic_store(&vm->running, true);
    write_frame(vm, ASYLO_KVM_FRAME_ENTER, selector, 0, input, input_size);
    vm->depth++;
    code = await_reply(vm, output, status);
    vm->depth--;
out:
    if (timer_armed) {
        asylo__kvm_watchdog_disarm(&timer);
    }
    if (!nested) {
        vm->deadline_ns = enclosing_deadline;
        pthread_mutex_lock(&vm->wake_lock);
        gate_open_locked(vm);
        pthread_mutex_unlock(&vm->wake_lock);
    }
    return code;
}

void asylo__kvm_vm_abandon(asylo__kvm_vm *vm) {
    atomic_store(&vm->abandoned, true);
    wake_sleepers(vm);
    if (atomic_load(&vm->running)) {
        asylo__kvm_watchdog_kick(vm->running_thread);
    }
}

int asylo__kvm_vm_is_lost(const asylo__kvm_vm *vm) {
    return atomic_load(&vm->lost) ? 1 : 0;
}

uint8_t *asylo__kvm_vm_guest_memory(asylo__kvm_vm *vm, size_t *size) {
    *size = (size_t)vm->memory_size;
    return vm->memory;
}

void asylo__kvm_vm_destroy(asylo__kvm_vm *vm) {
    if (vm == NULL) {
        return;
    }
    if (vm->run != NULL) {
        munmap(vm->run, vm->run_size);
    }
    if (vm->vcpu_fd >= 0) {
        close(vm->vcpu_fd);
    }
    if (vm->vm_fd >= 0) {
        close(vm->vm_fd);
    }
    if (vm->kvm_fd >= 0) {
        close(vm->kvm_fd);
    }
    if (vm->memory != NULL) {
        munmap(vm->memory, vm->memory_size);
    }
    asylo__kvm_guest_os_fini(&vm->os);
    pthread_mutex_destroy(&vm->wake_lock);
    pthread_cond_destroy(&vm->wake);
    free(vm);
}

asylo_code asylo__kvm_vm_create(const char *path, const asylo__kvm_options *options,
                                asylo__kvm_vm **out, asylo__kvm_create_times *times,
                                asylo_status *status) {
    int64_t start = now_ns();
    uint8_t *image = NULL;
    size_t image_size = 0;
    asylo__kvm_vm *vm = NULL;
    *out = NULL;
    asylo_code code = asylo__kvm_watchdog_install(status);
    if (code != ASYLO_OK) {
        goto out;
    }
    code = read_image(path, &image, &image_size, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    vm = calloc(1, sizeof *vm);
    if (vm == NULL) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "no memory for a kvm VM");
        goto out;
    }
    vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = -1;
    pthread_mutex_init(&vm->wake_lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&vm->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    snprintf(vm->path, sizeof vm->path, "%s", path);
    vm->options = *options;
    vm->memory_size = options->memory_size != 0 ? options->memory_size : ASYLO_KVM_DEFAULT_MEMORY;
    code = open_machine(vm, image, image_size, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    int64_t booted = now_ns();
    /* Boot: the guest runs its start-up and says READY with its first exit. */
    vm->deadline_ns = booted + 5000 * 1000000LL;
    asylo__kvm_watchdog timer;
    code = asylo__kvm_watchdog_arm(&timer, 5000, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    code = run_to_call(vm, status);
    asylo__kvm_watchdog_disarm(&timer);
    vm->deadline_ns = 0;
    if (code != ASYLO_OK) {
        asylo_status_prefix(status, "booting kvm enclave '%s': ", path);
        goto out;
    }
    asylo__kvm_frame frame;
    code = read_frame(vm, &frame, status);
    if (code == ASYLO_OK && frame.kind != ASYLO_KVM_FRAME_READY) {
        code = asylo_status_set(status, ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE,
                                "kvm enclave '%s' sent frame kind %u instead of READY at boot",
                                path, frame.kind);
    }
    if (code != ASYLO_OK) {
        goto out;
    }
    if (times != NULL) {
        times->setup_ns = booted - start;
        times->boot_ns = now_ns() - booted;
    }
    *out = vm;
    vm = NULL;
    asylo_status_ok(status);
out:
    asylo__kvm_vm_destroy(vm);
    free(image);
    return code;
}
