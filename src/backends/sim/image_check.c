#include "backends/sim/image_check.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/kvm/kvm_layout.h"

asylo_code asylo__elf_header_check(const uint8_t *header, size_t size, const char *path,
                                   asylo_status *status) {
    if (size < sizeof(Elf64_Ehdr) || memcmp(header, ELFMAG, SELFMAG) != 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "'%s' is not an enclave image: not an ELF file", path);
    }
    /* The bytes may sit at any address: copy them rather than cast them. */
    Elf64_Ehdr copy;
    memcpy(&copy, header, sizeof copy);
    const Elf64_Ehdr *elf = &copy;
    if (elf->e_ident[EI_CLASS] != ELFCLASS64 || elf->e_machine != EM_X86_64) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "'%s' is not an enclave image for this machine: it is not a "
                                "64-bit x86-64 ELF file",
                                path);
    }
    if (elf->e_type != ET_DYN) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "'%s' is not an enclave image: it is an ELF %s, not a shared "
                                "object (build enclaves with asylo_add_enclave)",
                                path,
                                elf->e_type == ET_EXEC ? "executable" : "file of another type");
    }
    return asylo_status_ok(status);
}

/* A position-independent executable is ET_DYN too; it names an interpreter. */
static asylo_code check_not_executable(int fd, const Elf64_Ehdr *elf, const char *path,
                                       asylo_status *status) {
    if (elf->e_phentsize != sizeof(Elf64_Phdr) || elf->e_phnum > 4096) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "'%s' is not an enclave image: malformed ELF program headers",
                                path);
    }
    for (unsigned i = 0; i < elf->e_phnum; i++) {
        Elf64_Phdr program_header;
        off_t offset = (off_t)elf->e_phoff + (off_t)i * (off_t)sizeof program_header;
        if (pread(fd, &program_header, sizeof program_header, offset) !=
            (ssize_t)sizeof program_header) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                    "'%s' is not an enclave image: truncated ELF program headers",
                                    path);
        }
        if (program_header.p_type == PT_INTERP) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                    "'%s' is not an enclave image: it is a (position-independent) "
                                    "executable, not a shared object built with "
                                    "asylo_add_enclave",
                                    path);
        }
    }
    return ASYLO_OK;
}

bool asylo__image_is_kvm_guest(int fd) {
    Elf64_Ehdr elf;
    if (pread(fd, &elf, sizeof elf, 0) != (ssize_t)sizeof elf ||
        memcmp(&elf, ELFMAG, SELFMAG) != 0 || elf.e_type != ET_EXEC ||
        elf.e_phentsize != sizeof(Elf64_Phdr) || elf.e_phnum == 0) {
        return false;
    }
    Elf64_Phdr first;
    if (pread(fd, &first, sizeof first, (off_t)elf.e_phoff) != (ssize_t)sizeof first ||
        first.p_type != PT_LOAD || first.p_vaddr != ASYLO_KVM_KERNEL_BASE) {
        return false;
    }
    uint32_t magic = 0;
    return pread(fd, &magic, sizeof magic, (off_t)first.p_offset) == (ssize_t)sizeof magic &&
           magic == ASYLO_KVM_KERNEL_MAGIC;
}

asylo_code asylo__image_open(const char *path, int *fd, asylo_status *status) {
    *fd = -1;
    if (path == NULL || path[0] == '\0') {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "no enclave image path given (load config enclave_path)");
    }
    int opened = open(path, O_RDONLY | O_CLOEXEC);
    if (opened < 0) {
        int error = errno;
        asylo_code code = error == ENOENT || error == ENOTDIR ? ASYLO_NOT_FOUND
                          : error == EACCES || error == EPERM ? ASYLO_PERMISSION_DENIED
                                                              : ASYLO_INVALID_ARGUMENT;
        return asylo_status_set(status, code, ASYLO_ORIGIN_BACKEND,
                                "cannot open enclave image '%s': %s", path, strerror(error));
    }
    struct stat info;
    if (fstat(opened, &info) != 0 || !S_ISREG(info.st_mode)) {
        close(opened);
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "enclave image '%s' is not a regular file", path);
    }
    Elf64_Ehdr header;
    ssize_t got = pread(opened, &header, sizeof header, 0);
    asylo_code code =
        asylo__elf_header_check((const uint8_t *)&header, got < 0 ? 0 : (size_t)got, path, status);
    if (code != ASYLO_OK && asylo__image_is_kvm_guest(opened)) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "'%s' is an image for the kvm backend (the static guest ELF "
                                "<name>.kvm); this backend loads the shared object <name>.so "
                                "that asylo_add_enclave builds from the same sources: pass that "
                                "one, or load this one with backend \"kvm\"",
                                path);
    }
    if (code == ASYLO_OK) {
        code = check_not_executable(opened, &header, path, status);
    }
    if (code != ASYLO_OK) {
        close(opened);
        return code;
    }
    *fd = opened;
    return asylo_status_ok(status);
}
