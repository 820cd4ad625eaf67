#include "provision/image_verify.h"

#include <elf.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/sim/image_check.h"
#include "common/abi.h"

/* Bound on what a hostile file can make us allocate (e_shnum is 16 bits). */
#define MAX_TABLE_BYTES ((size_t)64 << 20)

static bool read_at(int fd, void *buffer, size_t size, uint64_t offset) {
    return offset <= (uint64_t)INT64_MAX - size &&
           pread(fd, buffer, size, (off_t)offset) == (ssize_t)size;
}

/* True when a SHT_DYNSYM section names `symbol` as a defined symbol. */
static bool exports_symbol(int fd, const char *symbol) {
    Elf64_Ehdr header;
    if (!read_at(fd, &header, sizeof header, 0) || header.e_shentsize != sizeof(Elf64_Shdr) ||
        header.e_shnum == 0) {
        return false;
    }
    bool found = false;
    for (unsigned i = 0; i < header.e_shnum && !found; i++) {
        Elf64_Shdr section;
        Elf64_Shdr strings;
        if (!read_at(fd, &section, sizeof section, header.e_shoff + (uint64_t)i * sizeof section) ||
            section.sh_type != SHT_DYNSYM || section.sh_link >= header.e_shnum ||
            !read_at(fd, &strings, sizeof strings,
                     header.e_shoff + (uint64_t)section.sh_link * sizeof strings) ||
            section.sh_size > MAX_TABLE_BYTES || strings.sh_size > MAX_TABLE_BYTES) {
            continue;
        }
        char *names = malloc(strings.sh_size + 1);
        Elf64_Sym *symbols = malloc(section.sh_size + 1);
        if (names != NULL && symbols != NULL &&
            read_at(fd, names, strings.sh_size, strings.sh_offset) &&
            read_at(fd, symbols, section.sh_size, section.sh_offset)) {
            names[strings.sh_size] = '\0';
            size_t count = section.sh_size / sizeof(Elf64_Sym);
            for (size_t j = 0; j < count && !found; j++) {
                found = symbols[j].st_name < strings.sh_size && symbols[j].st_shndx != SHN_UNDEF &&
                        strcmp(names + symbols[j].st_name, symbol) == 0;
            }
        }
        free(names);
        free(symbols);
    }
    return found;
}

/* A kvm image: the static guest ELF (its signature is checked when the proxy
 * loads it, like a shared object's). */
static asylo_code verify_kvm(const char *path, const char *name, asylo_status *status) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool guest = fd >= 0 && asylo__image_is_kvm_guest(fd);
    int other = -1;
    asylo_status inner;
    asylo_code code;
    if (guest) {
        code = asylo_status_ok(status);
    } else if (asylo__image_open(path, &other, &inner) == ASYLO_OK) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "%s is a shared object (an image for the sim or process backend), "
                                "but the backend is kvm: upload the <name>.kvm image that "
                                "asylo_add_enclave(... BACKENDS kvm) builds",
                                name);
    } else {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "%s is not a kvm enclave image (a static guest ELF built by "
                                "asylo_add_enclave(... BACKENDS kvm))",
                                name);
    }
    if (other >= 0) {
        close(other);
    }
    if (fd >= 0) {
        close(fd);
    }
    return code;
}

asylo_code asylo__image_verify_enclave(const char *path, const char *name, const char *backend,
                                       asylo_status *status) {
    if (backend != NULL && strcmp(backend, "kvm") == 0) {
        return verify_kvm(path, name, status);
    }
    int fd = -1;
    asylo_status inner;
    asylo_code code = asylo__image_open(path, &fd, &inner);
    if (code != ASYLO_OK) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "%s is not an enclave image: %s", name, inner.message);
    } else if (!exports_symbol(fd, ASYLO__ABI_SYMBOL)) {
        code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "%s is a shared object but not an asylo enclave: it exports no "
                                "%s symbol (build it with asylo_add_enclave)",
                                name, ASYLO__ABI_SYMBOL);
    } else {
        code = asylo_status_ok(status);
    }
    if (fd >= 0) {
        close(fd);
    }
    return code;
}
