/* Parsing and encoding of the signature block and finding its ELF section.
 * Inputs are untrusted: every offset and size is checked before use, with
 * arithmetic that cannot overflow. */
#include "identity/sigblock.h"

#include <elf.h>
#include <string.h>

static uint32_t load_u32(const uint8_t *bytes) {
    return (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
           (uint32_t)bytes[3] << 24;
}

static void store_u32(uint8_t *bytes, uint32_t value) {
    for (int i = 0; i < 4; i++) {
        bytes[i] = (uint8_t)(value >> (8 * i));
    }
}

/* True when [offset, offset + size) lies within [0, limit). */
static int range_ok(uint64_t offset, uint64_t size, uint64_t limit) {
    return offset <= limit && size <= limit - offset;
}

static asylo_code malformed(asylo_status *status, const char *path, const char *what) {
    return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_BACKEND, "enclave image '%s': %s",
                            path, what);
}

asylo_code asylo__sig_locate(const uint8_t *image, size_t image_size, const char *path,
                             asylo__sig_location *location, asylo_status *status) {
    Elf64_Ehdr header;
    if (image == NULL || image_size < sizeof header) {
        return malformed(status, path, "too short for an ELF header");
    }
    memcpy(&header, image, sizeof header);
    if (memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
        header.e_ident[EI_DATA] != ELFDATA2LSB) {
        return malformed(status, path, "not a 64-bit little-endian ELF file");
    }
    if (header.e_shentsize != sizeof(Elf64_Shdr) || header.e_shnum == 0 ||
        header.e_shstrndx >= header.e_shnum ||
        !range_ok(header.e_shoff, (uint64_t)header.e_shnum * sizeof(Elf64_Shdr), image_size)) {
        return malformed(status, path, "its section header table is missing or out of bounds");
    }
    Elf64_Shdr names;
    memcpy(&names, image + header.e_shoff + (size_t)header.e_shstrndx * sizeof names, sizeof names);
    if (names.sh_type != SHT_STRTAB || !range_ok(names.sh_offset, names.sh_size, image_size)) {
        return malformed(status, path, "its section name table is out of bounds");
    }
    const size_t wanted_size = sizeof ASYLO__SIG_SECTION_NAME; /* with the NUL */
    int found = 0;
    for (size_t i = 0; i < header.e_shnum; i++) {
        Elf64_Shdr section;
        memcpy(&section, image + header.e_shoff + i * sizeof section, sizeof section);
        if (section.sh_name >= names.sh_size || names.sh_size - section.sh_name < wanted_size ||
            memcmp(image + names.sh_offset + section.sh_name, ASYLO__SIG_SECTION_NAME,
                   wanted_size) != 0) {
            continue;
        }
        if (found) {
            return malformed(status, path,
                             "it has more than one " ASYLO__SIG_SECTION_NAME " section");
        }
        found = 1;
        if (section.sh_type != SHT_PROGBITS || section.sh_size != ASYLO__SIG_BLOCK_SIZE ||
            !range_ok(section.sh_offset, section.sh_size, image_size)) {
            return malformed(status, path,
                             "its " ASYLO__SIG_SECTION_NAME " section is not 512 bytes of file "
                             "data within the image");
        }
        /* The block must not cover the headers that say where it is. */
        uint64_t table_end = header.e_shoff + (uint64_t)header.e_shnum * sizeof(Elf64_Shdr);
        if (section.sh_offset < sizeof header ||
            (section.sh_offset < table_end &&
             header.e_shoff < section.sh_offset + section.sh_size)) {
            return malformed(status, path,
                             "its " ASYLO__SIG_SECTION_NAME " section overlaps the ELF headers");
        }
        location->offset = (size_t)section.sh_offset;
        location->size = (size_t)section.sh_size;
    }
    if (!found) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_BACKEND,
                                "enclave image '%s' has no " ASYLO__SIG_SECTION_NAME
                                " section (build it with asylo_add_enclave)",
                                path);
    }
    return asylo_status_ok(status);
}

static int all_zero(const uint8_t *bytes, size_t size) {
    uint8_t any = 0;
    for (size_t i = 0; i < size; i++) {
        any |= bytes[i];
    }
    return any == 0;
}

asylo_code asylo__sig_decode(const uint8_t *bytes, size_t size, asylo__sig_block *block,
                             asylo_status *status) {
    memset(block, 0, sizeof *block);
    if (bytes == NULL || size != ASYLO__SIG_BLOCK_SIZE) {
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_BACKEND,
                                "signature block is %zu bytes, expected %u", size,
                                ASYLO__SIG_BLOCK_SIZE);
    }
    if (all_zero(bytes, size)) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_BACKEND,
                                "the image is not signed (sign it with asylo-sign)");
    }
    if (memcmp(bytes, ASYLO__SIG_MAGIC, 8) != 0) {
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_BACKEND,
                                "signature block has no ASYLOSIG magic: it is corrupt");
    }
    block->format_version = load_u32(bytes + 8);
    block->algorithm = load_u32(bytes + 12);
    block->flags = load_u32(bytes + 16);
    block->product_id = load_u32(bytes + 20);
    block->svn = load_u32(bytes + 24);
    if (block->format_version != ASYLO__SIG_FORMAT_VERSION) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_BACKEND,
                                "signature block format version %u; this asylo-c reads version "
                                "%u",
                                block->format_version, ASYLO__SIG_FORMAT_VERSION);
    }
    if (block->algorithm != ASYLO__SIG_ALGORITHM_ECDSA_P256_SHA256) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_BACKEND,
                                "signature algorithm %u is not supported (1: ECDSA P-256)",
                                block->algorithm);
    }
    if ((block->flags & ~ASYLO__SIG_FLAG_DEBUG) != 0 || load_u32(bytes + 28) != 0 ||
        !all_zero(bytes + ASYLO__SIG_USED_SIZE, size - ASYLO__SIG_USED_SIZE)) {
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_BACKEND,
                                "signature block has unknown flags or nonzero reserved bytes");
    }
    memcpy(block->measurement, bytes + 32, 32);
    memcpy(block->public_key, bytes + 64, 65);
    memcpy(block->signature, bytes + ASYLO__SIG_SIGNED_SIZE, 64);
    return asylo_status_ok(status);
}

void asylo__sig_encode(const asylo__sig_block *block, uint8_t bytes[ASYLO__SIG_BLOCK_SIZE]) {
    memset(bytes, 0, ASYLO__SIG_BLOCK_SIZE);
    memcpy(bytes, ASYLO__SIG_MAGIC, 8);
    store_u32(bytes + 8, block->format_version);
    store_u32(bytes + 12, block->algorithm);
    store_u32(bytes + 16, block->flags);
    store_u32(bytes + 20, block->product_id);
    store_u32(bytes + 24, block->svn);
    memcpy(bytes + 32, block->measurement, 32);
    memcpy(bytes + 64, block->public_key, 65);
    memcpy(bytes + ASYLO__SIG_SIGNED_SIZE, block->signature, 64);
}
