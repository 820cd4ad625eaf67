/* The guest's physical (= virtual: identity-mapped) memory layout, its ports,
 * its segment selectors and the frames of the shared window. Shared by the
 * VMM (host) and the guest runtime (src/guest/, assembly included), so it holds
 * only constants and fixed-layout structs, no host headers.
 *
 *   0x000000  null page, not mapped (a NULL dereference faults)
 *   0x001000  PML4, PDPT, PD                      ring 0 only
 *   0x004000  GDT                                 ring 0 only
 *   0x005000  IDT                                 ring 0 only
 *   0x006000  TSS + I/O bitmap (3 pages)          ring 0 only
 *   0x009000  fault record                        ring 0 only
 *   0x00a000  boot info (versioned)               ring 3 read-only
 *   0x00b000  ring-0 stack, top at 0x00f000       ring 0 only
 *   0x00f000  system-call record                  ring 3 read-write
 *   0x010000  ring-0 code and data of the image   ring 0 only
 *   0x100000  page tables (one per 2 MiB)         ring 0 only
 *   0x200000  the image's ring-3 segments, then the heap   ring 3
 *   ...       guard page, ring-3 stack, TLS page, window   ring 3
 *   mem_size  end of guest memory
 */
#ifndef ASYLO_BACKENDS_KVM_KVM_LAYOUT_H
#define ASYLO_BACKENDS_KVM_KVM_LAYOUT_H

#define ASYLO_KVM_PAGE_SIZE 0x1000
#define ASYLO_KVM_PML4 0x1000
#define ASYLO_KVM_PDPT 0x2000
#define ASYLO_KVM_PD 0x3000
#define ASYLO_KVM_GDT 0x4000
#define ASYLO_KVM_IDT 0x5000
#define ASYLO_KVM_TSS 0x6000
#define ASYLO_KVM_FAULT_RECORD 0x9000
#define ASYLO_KVM_BOOT_INFO 0xa000
#define ASYLO_KVM_KSTACK_TOP 0xf000
#define ASYLO_KVM_SYSCALL_RECORD 0xf000
#define ASYLO_KVM_KERNEL_BASE 0x10000
#define ASYLO_KVM_KERNEL_END 0x100000
#define ASYLO_KVM_PAGE_TABLES 0x100000
#define ASYLO_KVM_USER_BASE 0x200000
/* 256 page tables of 2 MiB each fit below ASYLO_KVM_USER_BASE. */
#define ASYLO_KVM_MAX_MEMORY (512ull << 20)
#define ASYLO_KVM_MIN_MEMORY (4ull << 20)
#define ASYLO_KVM_DEFAULT_MEMORY (32ull << 20)

/* The TSS: 104 bytes, then the I/O permission bitmap (65,536 bits), then the
 * 0xff byte the processor needs after it. */
#define ASYLO_KVM_TSS_IOMAP_OFFSET 104
#define ASYLO_KVM_TSS_LIMIT (104 + 8192)

/* Segment selectors. The order (kernel code, kernel data, user code32, user
 * data, user code) is the one STAR/SYSRET assume, and the values are Linux's:
 * a paravirtual hypervisor (kvm_pvm) requires the user ones to equal the
 * host's. */
#define ASYLO_KVM_SEL_KCODE 0x10
#define ASYLO_KVM_SEL_KDATA 0x18
#define ASYLO_KVM_SEL_UCODE32 0x23 /* 0x20 | RPL 3 */
#define ASYLO_KVM_SEL_UDATA 0x2b   /* 0x28 | RPL 3 */
#define ASYLO_KVM_SEL_UCODE 0x33   /* 0x30 | RPL 3 */
#define ASYLO_KVM_SEL_TSS 0x40

/* Ports. The TSS I/O bitmap lets ring 3 use CALL, HALT, SYSCALL (the
 * trampoline may run at CPL 3) and BENCH; FAULT is used from ring 0. Any
 * other port is an error. */
#define ASYLO_KVM_PORT_CALL 0xe0    /* ring 3: the window holds a frame */
#define ASYLO_KVM_PORT_HALT 0xe1    /* ring 3: the guest ends (boot failure) */
#define ASYLO_KVM_PORT_FAULT 0xe2   /* ring 0: the fault record is filled */
#define ASYLO_KVM_PORT_SYSCALL 0xe3 /* the system-call record is filled */
#define ASYLO_KVM_PORT_BENCH 0xe4   /* ring 3: a no-op exit, for the raw bench */

/* Frame kinds in the window. */
#define ASYLO_KVM_FRAME_READY 1  /* guest → host: booted, waiting for ENTER */
#define ASYLO_KVM_FRAME_ENTER 2  /* host → guest: run selector */
#define ASYLO_KVM_FRAME_EXIT 3   /* guest → host: run exit selector */
#define ASYLO_KVM_FRAME_RETURN 4 /* either way: the call returned OK + output */
#define ASYLO_KVM_FRAME_ERROR 5  /* either way: the call failed: code + message */
#define ASYLO_KVM_FRAME_SLEEP 6  /* guest → host: sleep {seconds, nanoseconds}; RETURN */

#define ASYLO_KVM_FRAME_MAGIC 0x4b564d46u /* "FMVK" */
#define ASYLO_KVM_FRAME_HEADER_SIZE 32
#define ASYLO_KVM_BOOT_INFO_VERSION 1u
#define ASYLO_KVM_BOOT_INFO_MAGIC 0x4f4f424bu
#define ASYLO_KVM_KERNEL_MAGIC 0x304c4e4bu /* "KNL0" */
#define ASYLO_KVM_VECTORS 32

#ifndef __ASSEMBLER__
#include <stdint.h>

/* The window's first 32 bytes; the payload follows. Written by one side,
 * read by the other, and each validates what it reads. */
typedef struct asylo__kvm_frame {
    uint32_t magic;
    uint32_t kind;
    uint32_t selector; /* ENTER, EXIT: the selector; ERROR: the status code */
    uint32_t origin;   /* ERROR: the status origin; otherwise 0 */
    uint64_t size;     /* payload bytes after the header */
    uint64_t depth;    /* nesting depth of the sender, for diagnostics */
} asylo__kvm_frame;

/* Filled by the ring-0 exception handler before it writes PORT_FAULT. */
typedef struct asylo__kvm_fault_record {
    uint64_t vector;
    uint64_t error_code;
    uint64_t rip;
    uint64_t cs;
    uint64_t rflags;
    uint64_t rsp;
    uint64_t cr2;
} asylo__kvm_fault_record;

/* Filled by the system-call trampoline before it writes PORT_SYSCALL; the
 * host puts the result in `result`. Written by the guest: the host copies it
 * and checks every pointer in it. */
typedef struct asylo__kvm_syscall_record {
    uint64_t number;
    uint64_t args[6];
    uint64_t result;
} asylo__kvm_syscall_record;

/* At ASYLO_KVM_KERNEL_BASE, the first bytes of the image's ring-0 part: where
 * the VMM points RIP, LSTAR and the IDT. */
typedef struct asylo__kvm_kernel_header {
    uint32_t magic;
    uint32_t version;
    uint64_t start;         /* ring 0, RDI = ring-3 entry, RSI = ring-3 stack */
    uint64_t syscall_entry; /* LSTAR: a trampoline in ring-3 text */
    uint64_t vectors[ASYLO_KVM_VECTORS];
} asylo__kvm_kernel_header;

/* Append-only: version 1 has these fields; later versions add at the end. */
typedef struct asylo__kvm_boot_info {
    uint32_t magic;
    uint32_t version;
    uint64_t memory_size;
    uint64_t arena_base; /* the runtime's call arena (inputs, outputs) */
    uint64_t arena_end;
    uint64_t libc_heap_base; /* the C library's brk and mmap region */
    uint64_t libc_heap_end;
    uint64_t window_base;
    uint64_t window_size;
    uint64_t tls_base;
    uint64_t stack_top;
} asylo__kvm_boot_info;

_Static_assert(sizeof(asylo__kvm_frame) == ASYLO_KVM_FRAME_HEADER_SIZE, "frame header");
#endif

#endif
