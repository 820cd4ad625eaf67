/* The sim backend's image check on crafted ELF headers (and, through
 * asylo__image_open, on crafted files): what is refused and what the message
 * says. */
#include <elf.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/sim/image_check.h"

static Elf64_Ehdr valid_header(void) {
    Elf64_Ehdr header;
    memset(&header, 0, sizeof header);
    memcpy(header.e_ident, ELFMAG, SELFMAG);
    header.e_ident[EI_CLASS] = ELFCLASS64;
    header.e_ident[EI_DATA] = ELFDATA2LSB;
    header.e_ident[EI_VERSION] = EV_CURRENT;
    header.e_type = ET_DYN;
    header.e_machine = EM_X86_64;
    header.e_version = EV_CURRENT;
    header.e_phoff = sizeof(Elf64_Ehdr);
    header.e_ehsize = sizeof(Elf64_Ehdr);
    header.e_phentsize = sizeof(Elf64_Phdr);
    header.e_phnum = 0;
    return header;
}

static void header_refused(const Elf64_Ehdr *header, size_t size, asylo_code expected,
                           const char *needle) {
    asylo_status status;
    asylo_code code =
        asylo__elf_header_check((const uint8_t *)header, size, "/images/x.so", &status);
    assert_int_equal(code, expected);
    if (expected == ASYLO_OK) {
        return;
    }
    assert_int_equal(status.origin, ASYLO_ORIGIN_BACKEND);
    assert_non_null(strstr(status.message, "'/images/x.so'"));
    if (strstr(status.message, needle) == NULL) {
        fail_msg("expected '%s' in '%s'", needle, status.message);
    }
}

static void test_valid_shared_object(void **state) {
    (void)state;
    Elf64_Ehdr header = valid_header();
    header_refused(&header, sizeof header, ASYLO_OK, NULL);
    /* Extra bytes after the header do not matter. */
    uint8_t bigger[sizeof header + 16];
    memcpy(bigger, &header, sizeof header);
    assert_int_equal(asylo__elf_header_check(bigger, sizeof bigger, "p", NULL), ASYLO_OK);
}

static void test_short_or_not_elf(void **state) {
    (void)state;
    Elf64_Ehdr header = valid_header();
    for (size_t size = 0; size < sizeof header; size += 7) {
        header_refused(&header, size, ASYLO_INVALID_ARGUMENT, "not an ELF file");
    }
    header_refused(&header, sizeof header - 1, ASYLO_INVALID_ARGUMENT, "not an ELF file");
    for (int i = 0; i < SELFMAG; i++) {
        Elf64_Ehdr bad = valid_header();
        bad.e_ident[i] ^= 0x20;
        header_refused(&bad, sizeof bad, ASYLO_INVALID_ARGUMENT, "not an ELF file");
    }
    /* Text that happens to be 64 bytes long, as /etc/passwd's first line might. */
    char text[sizeof(Elf64_Ehdr)];
    memset(text, 'r', sizeof text);
    header_refused((const Elf64_Ehdr *)text, sizeof text, ASYLO_INVALID_ARGUMENT,
                   "not an ELF file");
}

static void test_wrong_class_or_machine(void **state) {
    (void)state;
    Elf64_Ehdr header = valid_header();
    header.e_ident[EI_CLASS] = ELFCLASS32;
    header_refused(&header, sizeof header, ASYLO_INVALID_ARGUMENT,
                   "not an enclave image for this machine: it is not a 64-bit x86-64 ELF file");
    header = valid_header();
    header.e_ident[EI_CLASS] = ELFCLASSNONE;
    header_refused(&header, sizeof header, ASYLO_INVALID_ARGUMENT, "64-bit x86-64");
    header = valid_header();
    header.e_machine = EM_AARCH64;
    header_refused(&header, sizeof header, ASYLO_INVALID_ARGUMENT, "64-bit x86-64");
    header.e_machine = EM_386;
    header_refused(&header, sizeof header, ASYLO_INVALID_ARGUMENT, "64-bit x86-64");
}

static void test_wrong_type(void **state) {
    (void)state;
    Elf64_Ehdr header = valid_header();
    header.e_type = ET_EXEC;
    header_refused(&header, sizeof header, ASYLO_INVALID_ARGUMENT,
                   "it is an ELF executable, not a shared object");
    header.e_type = ET_REL;
    header_refused(&header, sizeof header, ASYLO_INVALID_ARGUMENT,
                   "it is an ELF file of another type, not a shared object");
    header.e_type = ET_CORE;
    header_refused(&header, sizeof header, ASYLO_INVALID_ARGUMENT, "file of another type");
    header.e_type = ET_NONE;
    header_refused(&header, sizeof header, ASYLO_INVALID_ARGUMENT, "file of another type");
}

/* The header is bytes from a file: the check must not assume alignment
 * (UBSan reports a misaligned Elf64_Ehdr access). */
static void test_unaligned_header(void **state) {
    (void)state;
    Elf64_Ehdr header = valid_header();
    uint8_t *storage = malloc(sizeof header + 1);
    assert_non_null(storage);
    memcpy(storage + 1, &header, sizeof header);
    assert_int_equal(asylo__elf_header_check(storage + 1, sizeof header, "p", NULL), ASYLO_OK);
    header.e_type = ET_EXEC;
    memcpy(storage + 1, &header, sizeof header);
    assert_int_equal(asylo__elf_header_check(storage + 1, sizeof header, "p", NULL),
                     ASYLO_INVALID_ARGUMENT);
    free(storage);
}

/* --- asylo__image_open on crafted files ---------------------------------- */

static char directory[] = "/tmp/asylo-elf-check-XXXXXX";

static int make_directory(void **state) {
    (void)state;
    return mkdtemp(directory) == NULL ? -1 : 0;
}

static int remove_directory(void **state) {
    (void)state;
    return rmdir(directory);
}

static void write_file(const char *path, const void *data, size_t size) {
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(data, 1, size, file), size);
    assert_int_equal(fclose(file), 0);
}

static void expect_open(const void *data, size_t size, asylo_code expected, const char *needle) {
    char path[256];
    snprintf(path, sizeof path, "%s/image.so", directory);
    write_file(path, data, size);
    int fd = 12345;
    asylo_status status;
    asylo_code code = asylo__image_open(path, &fd, &status);
    assert_int_equal(code, expected);
    if (code == ASYLO_OK) {
        assert_true(fd >= 0);
        close(fd);
    } else {
        assert_int_equal(fd, -1);
        assert_non_null(strstr(status.message, path));
        if (strstr(status.message, needle) == NULL) {
            fail_msg("expected '%s' in '%s'", needle, status.message);
        }
    }
    unlink(path);
}

static void test_image_open_program_headers(void **state) {
    (void)state;
    struct {
        Elf64_Ehdr header;
        Elf64_Phdr program[2];
    } image;
    memset(&image, 0, sizeof image);
    image.header = valid_header();
    image.header.e_phnum = 2;
    image.program[0].p_type = PT_LOAD;
    image.program[1].p_type = PT_DYNAMIC;
    expect_open(&image, sizeof image, ASYLO_OK, NULL);

    /* A PT_INTERP makes it a PIE executable. */
    image.program[1].p_type = PT_INTERP;
    expect_open(&image, sizeof image, ASYLO_INVALID_ARGUMENT, "(position-independent) executable");

    /* Program headers that run past the end of the file. */
    image.program[1].p_type = PT_LOAD;
    expect_open(&image, sizeof image - 1, ASYLO_INVALID_ARGUMENT, "truncated ELF program headers");
    image.header.e_phoff = UINT64_C(1) << 40;
    expect_open(&image, sizeof image, ASYLO_INVALID_ARGUMENT, "truncated ELF program headers");

    image.header = valid_header();
    image.header.e_phnum = 2;
    image.header.e_phentsize = 32;
    expect_open(&image, sizeof image, ASYLO_INVALID_ARGUMENT, "malformed ELF program headers");
    image.header.e_phentsize = sizeof(Elf64_Phdr);
    image.header.e_phnum = 5000;
    expect_open(&image, sizeof image, ASYLO_INVALID_ARGUMENT, "malformed ELF program headers");

    /* Empty and short files. */
    expect_open("", 0, ASYLO_INVALID_ARGUMENT, "not an ELF file");
    expect_open("\177ELF", 4, ASYLO_INVALID_ARGUMENT, "not an ELF file");
}

static void test_image_open_paths(void **state) {
    (void)state;
    int fd = 1;
    asylo_status status;
    assert_int_equal(asylo__image_open(NULL, &fd, &status), ASYLO_INVALID_ARGUMENT);
    assert_int_equal(fd, -1);
    assert_non_null(strstr(status.message, "no enclave image path given"));
    assert_int_equal(asylo__image_open("", &fd, &status), ASYLO_INVALID_ARGUMENT);
    assert_int_equal(asylo__image_open("/nonexistent/dir/x.so", &fd, &status), ASYLO_NOT_FOUND);
    assert_non_null(strstr(status.message, "'/nonexistent/dir/x.so'"));
    assert_int_equal(asylo__image_open(directory, &fd, &status), ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "is not a regular file"));
    assert_int_equal(asylo__image_open("/dev/null", &fd, &status), ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "is not a regular file"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_shared_object),
        cmocka_unit_test(test_short_or_not_elf),
        cmocka_unit_test(test_wrong_class_or_machine),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_unaligned_header),
        cmocka_unit_test(test_image_open_program_headers),
        cmocka_unit_test(test_image_open_paths),
    };
    return cmocka_run_group_tests(tests, make_directory, remove_directory);
}
