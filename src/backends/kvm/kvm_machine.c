/* The guest's memory before its first instruction (see kvm_layout.h for the
 * map). The image is untrusted input here: every segment is bounds-checked
 * against the region it may occupy before a byte is copied. */
#include "backends/kvm/kvm_machine.h"

#include <elf.h>
#include <string.h>

#include "backends/kvm/kvm_layout.h"
#include "backends/kvm/kvm_vm.h"

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_U 0x4ull
#define PTE_A 0x20ull
#define PTE_D 0x40ull
#define PTE_NX (1ull << 63)

#define PAGE ASYLO_KVM_PAGE_SIZE

static uint64_t round_up(uint64_t value, uint64_t to) {
    return (value + to - 1) / to * to;
}

static void put64(uint8_t *memory, uint64_t address, uint64_t value) {
    memcpy(memory + address, &value, sizeof value);
}

static uint64_t *pte_of(uint8_t *memory, uint64_t address) {
    return (uint64_t *)(void *)(memory + ASYLO_KVM_PAGE_TABLES + (address / PAGE) * 8);
}

static void map_range(uint8_t *memory, uint64_t start, uint64_t end, uint64_t flags) {
    for (uint64_t page = start & ~(uint64_t)(PAGE - 1); page < end; page += PAGE) {
        *pte_of(memory, page) = page | flags | PTE_P | PTE_A | PTE_D;
    }
}

/* Upper levels: one PML4 entry, one PDPT entry, a PD whose entries point to
 * the page tables at ASYLO_KVM_PAGE_TABLES. Upper levels allow everything;
 * the 4 KiB entries decide. */
static void build_upper_tables(uint8_t *memory, uint64_t memory_size) {
    const uint64_t all = PTE_P | PTE_W | PTE_U | PTE_A;
    put64(memory, ASYLO_KVM_PML4, ASYLO_KVM_PDPT | all);
    put64(memory, ASYLO_KVM_PDPT, ASYLO_KVM_PD | all);
    for (uint64_t i = 0; i < memory_size / (2u << 20); i++) {
        put64(memory, ASYLO_KVM_PD + i * 8, (ASYLO_KVM_PAGE_TABLES + i * PAGE) | all);
    }
}

static void build_gdt(uint8_t *memory) {
    static const uint64_t descriptors[] = {
        0,                     /* null */
        0,                     /* 0x08 unused */
        0x00af9a000000ffffull, /* 0x10 ring-0 code, 64-bit */
        0x00cf92000000ffffull, /* 0x18 ring-0 data */
        0x00cffa000000ffffull, /* 0x20 ring-3 code, 32-bit (SYSRET's layout) */
        0x00cff2000000ffffull, /* 0x28 ring-3 data */
        0x00affa000000ffffull, /* 0x30 ring-3 code, 64-bit */
        0,                     /* 0x38 unused */
    };
    memcpy(memory + ASYLO_KVM_GDT, descriptors, sizeof descriptors);
    /* 0x30: the 16-byte 64-bit TSS descriptor, type 9 (available), present. */
    uint64_t base = ASYLO_KVM_TSS;
    uint64_t limit = ASYLO_KVM_TSS_LIMIT;
    uint64_t low = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
                   (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
    put64(memory, ASYLO_KVM_GDT + ASYLO_KVM_SEL_TSS, low);
    put64(memory, ASYLO_KVM_GDT + ASYLO_KVM_SEL_TSS + 8, base >> 32);
}

/* Interrupt gates (IF stays clear), DPL 0: `int n` from ring 3 is a #GP,
 * which is reported like any other exception. */
static void build_idt(uint8_t *memory, const asylo__kvm_kernel_header *header) {
    for (unsigned vector = 0; vector < ASYLO_KVM_VECTORS; vector++) {
        uint64_t handler = header->vectors[vector];
        uint64_t low = (handler & 0xffff) | ((uint64_t)ASYLO_KVM_SEL_KCODE << 16) |
                       (0x8eull << 40) | (((handler >> 16) & 0xffff) << 48);
        put64(memory, ASYLO_KVM_IDT + vector * 16, low);
        put64(memory, ASYLO_KVM_IDT + vector * 16 + 8, handler >> 32);
    }
}

static void build_tss(uint8_t *memory, uint16_t open_port) {
    uint8_t *tss = memory + ASYLO_KVM_TSS;
    put64(memory, ASYLO_KVM_TSS + 4, ASYLO_KVM_KSTACK_TOP); /* RSP0 */
    uint16_t iomap = ASYLO_KVM_TSS_IOMAP_OFFSET;
    memcpy(tss + 102, &iomap, sizeof iomap);
    uint8_t *bitmap = tss + ASYLO_KVM_TSS_IOMAP_OFFSET;
    memset(bitmap, 0xff, 8192 + 1); /* every port denied, plus the end byte */
    const uint16_t allowed[] = {ASYLO_KVM_PORT_CALL, ASYLO_KVM_PORT_HALT, ASYLO_KVM_PORT_SYSCALL,
                                ASYLO_KVM_PORT_BENCH, open_port};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        if (allowed[i] != 0) {
            bitmap[allowed[i] / 8] &= (uint8_t) ~(1u << (allowed[i] % 8));
        }
    }
}

static int segment_fits(uint64_t start, uint64_t size, uint64_t low, uint64_t high) {
    return start >= low && start <= high && size <= high - start;
}

/* Checks the ELF header and program headers; copies the PT_LOAD segments and
 * maps their pages. *user_end is the end of the highest ring-3 segment. */
static asylo_code load_segments(uint8_t *memory, uint64_t user_limit, const uint8_t *image,
                                size_t image_size, const char *path, uint64_t *user_end,
                                uint64_t *entry, asylo_status *status) {
    Elf64_Ehdr header;
    if (image_size < sizeof header) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "kvm image '%s' is %zu bytes, too short for an ELF header", path,
                                image_size);
    }
    memcpy(&header, image, sizeof header);
    if (memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
        header.e_machine != EM_X86_64) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "kvm image '%s' is not an x86-64 ELF file", path);
    }
    if (header.e_type == ET_DYN) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "'%s' is a shared object (an image for the sim or process "
                                "backend); the kvm backend loads the static guest ELF <name>.kvm "
                                "that asylo_add_enclave(... BACKENDS kvm) builds from the same "
                                "sources",
                                path);
    }
    if (header.e_type != ET_EXEC || header.e_phentsize != sizeof(Elf64_Phdr) ||
        header.e_phnum == 0 || header.e_phnum > 64 || header.e_phoff > image_size ||
        (uint64_t)header.e_phnum * sizeof(Elf64_Phdr) > image_size - header.e_phoff) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "kvm image '%s' is not a static executable with at most 64 "
                                "program headers inside the file",
                                path);
    }
    *user_end = ASYLO_KVM_USER_BASE;
    for (unsigned i = 0; i < header.e_phnum; i++) {
        Elf64_Phdr segment;
        memcpy(&segment, image + header.e_phoff + i * sizeof segment, sizeof segment);
        if (segment.p_type == PT_INTERP || segment.p_type == PT_DYNAMIC) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                    "kvm image '%s' is dynamically linked; the guest has no "
                                    "loader, link it static",
                                    path);
        }
        if (segment.p_type != PT_LOAD || segment.p_memsz == 0) {
            continue;
        }
        int kernel = segment_fits(segment.p_vaddr, segment.p_memsz, ASYLO_KVM_KERNEL_BASE,
                                  ASYLO_KVM_KERNEL_END);
        int user = segment_fits(segment.p_vaddr, segment.p_memsz, ASYLO_KVM_USER_BASE, user_limit);
        if ((!kernel && !user) || segment.p_filesz > segment.p_memsz ||
            segment.p_offset > image_size || segment.p_filesz > image_size - segment.p_offset) {
            return asylo_status_set(
                status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                "kvm image '%s': segment %u (0x%llx, %llu bytes) lies outside the ring-0 "
                "[0x%x, 0x%x) and ring-3 [0x%x, 0x%llx) regions or outside the file; the "
                "guest memory may be too small for this image",
                path, i, (unsigned long long)segment.p_vaddr, (unsigned long long)segment.p_memsz,
                ASYLO_KVM_KERNEL_BASE, ASYLO_KVM_KERNEL_END, ASYLO_KVM_USER_BASE,
                (unsigned long long)user_limit);
        }
        memcpy(memory + segment.p_vaddr, image + segment.p_offset, segment.p_filesz);
        uint64_t flags = (segment.p_flags & PF_W) ? PTE_W : 0;
        flags |= (segment.p_flags & PF_X) ? 0 : PTE_NX;
        flags |= user ? PTE_U : 0;
        map_range(memory, segment.p_vaddr, segment.p_vaddr + segment.p_memsz, flags);
        if (user && segment.p_vaddr + segment.p_memsz > *user_end) {
            *user_end = segment.p_vaddr + segment.p_memsz;
        }
    }
    *entry = header.e_entry;
    return ASYLO_OK;
}

asylo_code asylo__kvm_machine_build(uint8_t *memory, uint64_t memory_size, const uint8_t *image,
                                    size_t image_size, const char *path, uint16_t open_port,
                                    uint64_t canary, asylo__kvm_machine *machine,
                                    asylo_status *status) {
    if (memory_size < ASYLO_KVM_MIN_MEMORY || memory_size > ASYLO_KVM_MAX_MEMORY ||
        memory_size % (2u << 20) != 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "kvm guest memory of %llu bytes is not a multiple of 2 MiB "
                                "between %llu and %llu",
                                (unsigned long long)memory_size,
                                (unsigned long long)ASYLO_KVM_MIN_MEMORY,
                                (unsigned long long)ASYLO_KVM_MAX_MEMORY);
    }
    memset(machine, 0, sizeof *machine);
    machine->window_size = ASYLO__KVM_WINDOW_SIZE;
    machine->window_base = memory_size - machine->window_size;
    machine->tls_base = machine->window_base - PAGE;
    machine->stack_top = machine->tls_base;
    uint64_t stack_guard = machine->stack_top - ASYLO__KVM_STACK_SIZE - PAGE;
    uint64_t user_end = 0;
    asylo_code code = load_segments(memory, stack_guard, image, image_size, path, &user_end,
                                    &machine->user_entry, status);
    if (code != ASYLO_OK) {
        return code;
    }
    asylo__kvm_kernel_header kernel;
    memcpy(&kernel, memory + ASYLO_KVM_KERNEL_BASE, sizeof kernel);
    if (kernel.magic != ASYLO_KVM_KERNEL_MAGIC || kernel.version != 1) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "'%s' has no asylo kvm guest runtime at 0x%x (magic 0x%x); "
                                "build it with asylo_add_kvm_guest (src/guest)",
                                path, ASYLO_KVM_KERNEL_BASE, kernel.magic);
    }
    machine->boot_rip = kernel.start;
    machine->syscall_entry = kernel.syscall_entry;
    if (!segment_fits(kernel.syscall_entry, 1, ASYLO_KVM_USER_BASE, stack_guard) ||
        !segment_fits(kernel.start, 1, ASYLO_KVM_KERNEL_BASE, ASYLO_KVM_KERNEL_END)) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "kvm image '%s': its runtime header puts the system-call "
                                "trampoline or boot stub outside ring-3 or ring-0 code",
                                path);
    }

    build_upper_tables(memory, memory_size);
    map_range(memory, ASYLO_KVM_PML4, ASYLO_KVM_BOOT_INFO, PTE_W | PTE_NX);
    map_range(memory, ASYLO_KVM_BOOT_INFO, ASYLO_KVM_BOOT_INFO + PAGE, PTE_U | PTE_NX);
    map_range(memory, ASYLO_KVM_BOOT_INFO + PAGE, ASYLO_KVM_KSTACK_TOP, PTE_W | PTE_NX);
    map_range(memory, ASYLO_KVM_SYSCALL_RECORD, ASYLO_KVM_SYSCALL_RECORD + PAGE,
              PTE_W | PTE_U | PTE_NX);
    map_range(memory, ASYLO_KVM_PAGE_TABLES, ASYLO_KVM_USER_BASE, PTE_W | PTE_NX);
    uint64_t heap_base = round_up(user_end, PAGE);
    map_range(memory, heap_base, stack_guard, PTE_W | PTE_U | PTE_NX);
    map_range(memory, stack_guard + PAGE, memory_size, PTE_W | PTE_U | PTE_NX);

    /* The call arena takes a third of the heap (nested calls each hold an
     * input and an output there), the C library the rest. */
    machine->libc_heap_base = heap_base + (stack_guard - heap_base) / 3 / PAGE * PAGE;
    machine->libc_heap_end = stack_guard;

    build_gdt(memory);
    build_idt(memory, &kernel);
    build_tss(memory, open_port);

    /* TLS: %fs:0 points to itself (the x86-64 TLS ABI), %fs:0x28 holds the
     * stack-protector canary compiled code checks. */
    put64(memory, machine->tls_base, machine->tls_base);
    put64(memory, machine->tls_base + 0x28, canary);

    asylo__kvm_boot_info info = {
        .magic = ASYLO_KVM_BOOT_INFO_MAGIC,
        .version = ASYLO_KVM_BOOT_INFO_VERSION,
        .memory_size = memory_size,
        .arena_base = heap_base,
        .arena_end = machine->libc_heap_base,
        .libc_heap_base = machine->libc_heap_base,
        .libc_heap_end = machine->libc_heap_end,
        .window_base = machine->window_base,
        .window_size = machine->window_size,
        .tls_base = machine->tls_base,
        .stack_top = machine->stack_top,
    };
    memcpy(memory + ASYLO_KVM_BOOT_INFO, &info, sizeof info);
    return asylo_status_ok(status);
}
