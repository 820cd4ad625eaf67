/* Units of asylo-provision-server: the private image store (uploads hashed as
 * they arrive, only complete and correct ones kept) and the allowlist file,
 * plus a bounded, deterministic fuzz loop over the allowlist parser. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "provision/allowlist.h"
#include "provision/image_store.h"
#include "provision/provision_server.h"
#include "provision/upload_message.h"

#define FUZZ_ITERATIONS 3000
#define FUZZ_SEED UINT64_C(0x243f6a8885a308d3)

static char scratch[256];

static int make_scratch(void **state) {
    (void)state;
    snprintf(scratch, sizeof scratch, "/tmp/asylo-provision-unit-XXXXXX");
    assert_non_null(mkdtemp(scratch));
    return 0;
}

static void remove_tree(const char *path) {
    DIR *directory = opendir(path);
    if (directory != NULL) {
        struct dirent *entry;
        while ((entry = readdir(directory)) != NULL) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) {
                continue;
            }
            char child[PATH_MAX + 256];
            snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
            struct stat info;
            if (lstat(child, &info) == 0 && S_ISDIR(info.st_mode)) {
                remove_tree(child);
            } else {
                unlink(child);
            }
        }
        closedir(directory);
    }
    rmdir(path);
}

static int remove_scratch(void **state) {
    (void)state;
    remove_tree(scratch);
    return 0;
}

static void store_directory(char *path, size_t size) {
    snprintf(path, size, "%s/store", scratch);
}

/* Regular files in store/images. */
static size_t count_images(const char *store) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/images", store);
    DIR *directory = opendir(path);
    assert_non_null(directory);
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        count += entry->d_name[0] != '.';
    }
    closedir(directory);
    return count;
}

static void sha256(const uint8_t *data, size_t size, uint8_t digest[32]) {
    unsigned int digest_size = 0;
    assert_int_equal(EVP_Digest(data, size, digest, &digest_size, EVP_sha256(), NULL), 1);
}

static void fill(uint8_t *data, size_t size, uint8_t seed) {
    for (size_t i = 0; i < size; i++) {
        data[i] = (uint8_t)(seed + i * 31);
    }
}

/* ---- the store ---------------------------------------------------------- */

static void test_open_makes_private_directories(void **state) {
    (void)state;
    char directory[PATH_MAX];
    store_directory(directory, sizeof directory);
    asylo__image_store store;
    asylo_status status;
    assert_int_equal(asylo__image_store_open(&store, directory, &status), ASYLO_OK);
    const char *parts[] = {"", "/images", "/proxies"};
    for (size_t i = 0; i < 3; i++) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s%s", directory, parts[i]);
        struct stat info;
        assert_int_equal(stat(path, &info), 0);
        assert_true(S_ISDIR(info.st_mode));
        assert_int_equal(info.st_mode & 0777, 0700);
    }
    /* One server per directory. */
    asylo__image_store second;
    assert_int_equal(asylo__image_store_open(&second, directory, &status),
                     ASYLO_FAILED_PRECONDITION);
    assert_non_null(strstr(status.message, "another asylo-provision-server"));
    asylo__image_store_close(&store);
    /* Released with the first. */
    assert_int_equal(asylo__image_store_open(&second, directory, &status), ASYLO_OK);
    asylo__image_store_close(&second);
}

static void test_open_refuses_bad_directories(void **state) {
    (void)state;
    asylo__image_store store;
    asylo_status status;
    assert_int_equal(asylo__image_store_open(&store, "relative/dir", &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "--storage_dir"));
    assert_int_equal(asylo__image_store_open(&store, NULL, &status), ASYLO_INVALID_ARGUMENT);

    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/open", scratch);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(chmod(path, 0755), 0);
    assert_int_equal(asylo__image_store_open(&store, path, &status), ASYLO_PERMISSION_DENIED);
    assert_non_null(strstr(status.message, "0700"));

    snprintf(path, sizeof path, "%s/file", scratch);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(asylo__image_store_open(&store, path, &status), ASYLO_FAILED_PRECONDITION);
    assert_non_null(strstr(status.message, "not a directory"));
}

static void test_open_removes_leftovers(void **state) {
    (void)state;
    char directory[PATH_MAX];
    store_directory(directory, sizeof directory);
    asylo__image_store store;
    asylo_status status;
    assert_int_equal(asylo__image_store_open(&store, directory, &status), ASYLO_OK);
    asylo__image_store_close(&store);
    const char *names[] = {"upload-abcdef", "0123.so"};
    for (size_t i = 0; i < 2; i++) {
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/images/%s", directory, names[i]);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
    }
    assert_int_equal(count_images(directory), 2);
    assert_int_equal(asylo__image_store_open(&store, directory, &status), ASYLO_OK);
    assert_int_equal(count_images(directory), 0);
    asylo__image_store_close(&store);
}

static void test_upload_complete_is_kept(void **state) {
    (void)state;
    char directory[PATH_MAX];
    store_directory(directory, sizeof directory);
    asylo__image_store store;
    asylo_status status;
    assert_int_equal(asylo__image_store_open(&store, directory, &status), ASYLO_OK);
    uint8_t image[10000];
    fill(image, sizeof image, 7);
    uint8_t digest[32];
    sha256(image, sizeof image, digest);
    asylo__image_upload upload;
    assert_int_equal(asylo__image_upload_begin(&store, sizeof image, digest, &upload, &status),
                     ASYLO_OK);
    assert_int_equal(count_images(directory), 1); /* the upload file */
    for (size_t offset = 0; offset < sizeof image; offset += 3000) {
        size_t size = sizeof image - offset < 3000 ? sizeof image - offset : 3000;
        assert_int_equal(asylo__image_upload_write(&upload, image + offset, size, &status),
                         ASYLO_OK);
    }
    /* An empty chunk is fine; a byte past the declared size is not. */
    assert_int_equal(asylo__image_upload_write(&upload, image, 0, &status), ASYLO_OK);
    assert_int_equal(asylo__image_upload_write(&upload, image, 1, &status), ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "past its declared size of 10000"));
    char hex[ASYLO__SHA256_HEX_SIZE];
    assert_int_equal(asylo__image_upload_commit(&upload, &store, hex, &status), ASYLO_OK);
    asylo__image_upload_abort(&upload); /* no-op after commit */
    char expected_hex[ASYLO__SHA256_HEX_SIZE];
    asylo__sha256_hex(digest, expected_hex);
    assert_string_equal(hex, expected_hex);

    char path[PATH_MAX];
    asylo__image_store_path(&store, hex, path);
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    assert_int_equal(info.st_size, sizeof image);
    assert_int_equal(info.st_mode & 0777, 0600);
    assert_int_equal(count_images(directory), 1); /* only the image */
    uint8_t *copy = malloc(sizeof image);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, copy, sizeof image), sizeof image);
    close(fd);
    assert_memory_equal(copy, image, sizeof image);
    free(copy);

    asylo__image_store_remove(&store, hex);
    assert_int_equal(count_images(directory), 0);
    asylo__image_store_close(&store);
}

static void test_upload_wrong_hash_or_short_leaves_nothing(void **state) {
    (void)state;
    char directory[PATH_MAX];
    store_directory(directory, sizeof directory);
    asylo__image_store store;
    asylo_status status;
    assert_int_equal(asylo__image_store_open(&store, directory, &status), ASYLO_OK);
    uint8_t image[4096];
    fill(image, sizeof image, 3);
    uint8_t digest[32];
    sha256(image, sizeof image, digest);
    char hex[ASYLO__SHA256_HEX_SIZE];

    /* Wrong hash. */
    uint8_t wrong[32];
    memcpy(wrong, digest, sizeof wrong);
    wrong[31] ^= 1;
    asylo__image_upload upload;
    assert_int_equal(asylo__image_upload_begin(&store, sizeof image, wrong, &upload, &status),
                     ASYLO_OK);
    assert_int_equal(asylo__image_upload_write(&upload, image, sizeof image, &status), ASYLO_OK);
    assert_int_equal(asylo__image_upload_commit(&upload, &store, hex, &status), ASYLO_DATA_LOSS);
    assert_non_null(strstr(status.message, "not the declared"));
    assert_non_null(strstr(status.message, "nothing was kept"));
    asylo__image_upload_abort(&upload);
    assert_int_equal(count_images(directory), 0);

    /* Short upload. */
    assert_int_equal(asylo__image_upload_begin(&store, sizeof image, digest, &upload, &status),
                     ASYLO_OK);
    assert_int_equal(asylo__image_upload_write(&upload, image, 100, &status), ASYLO_OK);
    assert_int_equal(asylo__image_upload_commit(&upload, &store, hex, &status), ASYLO_DATA_LOSS);
    assert_non_null(strstr(status.message, "100 of the declared 4096"));
    assert_int_equal(count_images(directory), 0);

    /* Abandoned upload (the client vanished). */
    assert_int_equal(asylo__image_upload_begin(&store, sizeof image, digest, &upload, &status),
                     ASYLO_OK);
    assert_int_equal(asylo__image_upload_write(&upload, image, 100, &status), ASYLO_OK);
    asylo__image_upload_abort(&upload);
    asylo__image_upload_abort(&upload);
    assert_int_equal(count_images(directory), 0);
    asylo__image_store_close(&store);
}

/* ---- the allowlist ----------------------------------------------------- */

static void write_text(const char *path, const char *text) {
    FILE *file = fopen(path, "we");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

#define HASH_A "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define HASH_B "60303AE22B998861BCE3B28F33EEC1BE758A213C86C93C076DBE9F558C11C752"

static void test_allowlist_good(void **state) {
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/allowlist", scratch);
    write_text(path, "# images we run\n\n  " HASH_A "  \r\n\t# comment\n" HASH_B);
    uint8_t(*entries)[ASYLO__SHA256_SIZE] = NULL;
    size_t count = 0;
    asylo_status status;
    assert_int_equal(asylo__allowlist_load(path, &entries, &count, &status), ASYLO_OK);
    assert_int_equal(count, 2);
    char hex[ASYLO__SHA256_HEX_SIZE];
    asylo__sha256_hex(entries[0], hex);
    assert_string_equal(hex, HASH_A);
    asylo__sha256_hex(entries[1], hex);
    assert_string_equal(hex, "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752");
    free(entries);

    /* An empty allowlist allows nothing (but loads). */
    write_text(path, "# nothing yet\n");
    assert_int_equal(asylo__allowlist_load(path, &entries, &count, &status), ASYLO_OK);
    assert_int_equal(count, 0);
    assert_non_null(entries);
    free(entries);
}

static void test_allowlist_bad(void **state) {
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/allowlist", scratch);
    uint8_t(*entries)[ASYLO__SHA256_SIZE] = NULL;
    size_t count = 0;
    asylo_status status;

    write_text(path, HASH_A "\n" HASH_A "0\n");
    assert_int_equal(asylo__allowlist_load(path, &entries, &count, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "line 2 is not a SHA-256"));
    assert_null(entries);
    assert_int_equal(count, 0);

    write_text(path, "sha256:" HASH_A "\n");
    assert_int_equal(asylo__allowlist_load(path, &entries, &count, &status),
                     ASYLO_INVALID_ARGUMENT);
    write_text(path, HASH_A " # trailing comment\n");
    assert_int_equal(asylo__allowlist_load(path, &entries, &count, &status),
                     ASYLO_INVALID_ARGUMENT);

    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof missing, "%s/missing", scratch);
    assert_int_equal(asylo__allowlist_load(missing, &entries, &count, &status), ASYLO_NOT_FOUND);
    assert_non_null(strstr(status.message, "--allowlist"));

    /* Too many entries. */
    FILE *file = fopen(path, "we");
    assert_non_null(file);
    for (int i = 0; i <= ASYLO__MAX_ALLOWLIST_ENTRIES; i++) {
        fprintf(file, "%064x\n", i);
    }
    fclose(file);
    assert_int_equal(asylo__allowlist_load(path, &entries, &count, &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(status.message, "more than 4096"));
    assert_null(entries);
}

/* A hash at the end of a long comment line is part of the comment, not an
 * entry (a line longer than the reader's buffer must not split in two). */
static void test_allowlist_long_comment(void **state) {
    (void)state;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/allowlist", scratch);
    char text[1024];
    memset(text, 0, sizeof text);
    text[0] = '#';
    memset(text + 1, 'x', 254);
    strcat(text, HASH_A "\n");
    write_text(path, text);
    uint8_t(*entries)[ASYLO__SHA256_SIZE] = NULL;
    size_t count = 0;
    asylo_status status;
    asylo_code code = asylo__allowlist_load(path, &entries, &count, &status);
    /* Either refused as too long, or loaded without the commented hash. */
    if (code == ASYLO_OK) {
        assert_int_equal(count, 0);
        free(entries);
    } else {
        assert_int_equal(code, ASYLO_INVALID_ARGUMENT);
        assert_non_null(strstr(status.message, "line 1"));
    }
}

/* ---- fuzz ---------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t next_random(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(0x2545f4914f6cdd1d);
}

static size_t random_below(size_t bound) {
    return bound == 0 ? 0 : (size_t)(next_random() % bound);
}

static void test_sha256_parse_fuzz(void **state) {
    (void)state;
    rng_state = FUZZ_SEED;
    static const char alphabet[] = "0123456789abcdefABCDEFgxyz #\t\r\n\0";
    for (int iteration = 0; iteration < FUZZ_ITERATIONS * 10; iteration++) {
        char text[80];
        size_t length = random_below(2) ? 64 : random_below(sizeof text);
        for (size_t i = 0; i < length; i++) {
            text[i] = alphabet[random_below(sizeof alphabet - 1)];
        }
        uint8_t digest[ASYLO__SHA256_SIZE];
        if (asylo__sha256_parse(text, length, digest)) {
            assert_int_equal(length, 64);
            char hex[ASYLO__SHA256_HEX_SIZE];
            asylo__sha256_hex(digest, hex);
            for (size_t i = 0; i < 64; i++) {
                char lower = text[i] >= 'A' && text[i] <= 'F' ? (char)(text[i] + 32) : text[i];
                assert_int_equal(hex[i], lower);
            }
        }
    }
}

/* Random files of random lines: loading never crashes, and every entry it
 * returns is a hash that appears whole, on its own line, in the file. */
static void test_allowlist_fuzz(void **state) {
    (void)state;
    rng_state = FUZZ_SEED ^ 0x55;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/fuzz", scratch);
    static const char alphabet[] = "0123456789abcdefABCDEF #\t\r\nxz";
    static char text[8192];
    for (int iteration = 0; iteration < FUZZ_ITERATIONS; iteration++) {
        size_t length = 0;
        size_t lines = random_below(12);
        for (size_t line = 0; line < lines && length + 700 < sizeof text; line++) {
            switch (random_below(5)) {
            case 0: /* a valid hash, maybe with spaces around */
                length +=
                    (size_t)snprintf(text + length, sizeof text - length, "%s%064llx%s\n",
                                     random_below(2) ? " " : "", (unsigned long long)next_random(),
                                     random_below(2) ? "\t" : "");
                break;
            case 1: /* a comment */
                length += (size_t)snprintf(text + length, sizeof text - length, "# c %llu\n",
                                           (unsigned long long)next_random());
                break;
            default: { /* random bytes, sometimes very long */
                size_t size = random_below(random_below(4) == 0 ? 600 : 80);
                for (size_t i = 0; i < size; i++) {
                    text[length++] = alphabet[random_below(sizeof alphabet - 1)];
                }
                text[length++] = '\n';
            }
            }
        }
        FILE *file = fopen(path, "we");
        assert_non_null(file);
        fwrite(text, 1, length, file);
        fclose(file);
        text[length] = '\0';
        uint8_t(*entries)[ASYLO__SHA256_SIZE] = NULL;
        size_t count = 0;
        asylo_status status;
        asylo_code code = asylo__allowlist_load(path, &entries, &count, &status);
        if (code != ASYLO_OK) {
            assert_int_equal(code, ASYLO_INVALID_ARGUMENT);
            assert_null(entries);
            continue;
        }
        for (size_t i = 0; i < count; i++) {
            char hex[ASYLO__SHA256_HEX_SIZE];
            asylo__sha256_hex(entries[i], hex);
            /* Find it (case-insensitively) as a whole line, spaces trimmed. */
            bool found = false;
            for (const char *line = text; *line != '\0' && !found;) {
                const char *end = strchr(line, '\n');
                size_t line_length = end != NULL ? (size_t)(end - line) : strlen(line);
                const char *start = line;
                while (start < line + line_length && strchr(" \t\r", *start) != NULL) {
                    start++;
                }
                const char *stop = line + line_length;
                while (stop > start && strchr(" \t\r", stop[-1]) != NULL) {
                    stop--;
                }
                found = stop - start == 64 && strncasecmp(start, hex, 64) == 0;
                line = end != NULL ? end + 1 : line + line_length;
            }
            assert_true(found);
        }
        free(entries);
    }
}

/* An upload message written into place unpacks, with protobuf-c, to the
 * header, the file's bytes and `last`; a file shorter than announced is
 * DATA_LOSS, never a message cut short. */
static void test_upload_message_round_trip(void **state) {
    (void)state;
    char path[] = "/tmp/asylo-upload-message-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t image[3000];
    for (size_t i = 0; i < sizeof image; i++) {
        image[i] = (uint8_t)(i * 13 + 7);
    }
    assert_int_equal(write(fd, image, sizeof image), (ssize_t)sizeof image);
    uint8_t digest[32];
    memset(digest, 0xab, sizeof digest);
    Asylo__Remote__ProvisionHeader header = ASYLO__REMOTE__PROVISION_HEADER__INIT;
    header.image_size = sizeof image;
    header.image_sha256.data = digest;
    header.image_sha256.len = sizeof digest;
    header.backend = "sim";
    Asylo__Remote__ProvisionRequest request = ASYLO__REMOTE__PROVISION_REQUEST__INIT;
    request.header = &header;
    request.last = true;
    asylo__upload_message message = {
        .request = &request, .fd = fd, .offset = 1000, .chunk_size = 2000, .path = path};
    size_t size = asylo__upload_message_size(&message);
    uint8_t *out = malloc(size);
    assert_non_null(out);
    asylo_status status;
    assert_int_equal(asylo__upload_message_fill(&message, out, size, &status), ASYLO_OK);
    Asylo__Remote__ProvisionRequest *decoded =
        asylo__remote__provision_request__unpack(NULL, size, out);
    assert_non_null(decoded);
    assert_non_null(decoded->header);
    assert_int_equal(decoded->header->image_size, sizeof image);
    assert_memory_equal(decoded->header->image_sha256.data, digest, sizeof digest);
    assert_string_equal(decoded->header->backend, "sim");
    assert_true(decoded->last);
    assert_int_equal(decoded->chunk.len, 2000);
    assert_memory_equal(decoded->chunk.data, image + 1000, 2000);
    asylo__remote__provision_request__free_unpacked(decoded, NULL);
    /* Past the end of the file: refused. */
    message.offset = 2000;
    assert_int_equal(asylo__upload_message_fill(&message, out, size, &status), ASYLO_DATA_LOSS);
    assert_non_null(strstr(status.message, "changed while it was being sent"));
    free(out);
    close(fd);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_makes_private_directories, make_scratch,
                                        remove_scratch),
        cmocka_unit_test_setup_teardown(test_open_refuses_bad_directories, make_scratch,
                                        remove_scratch),
        cmocka_unit_test_setup_teardown(test_open_removes_leftovers, make_scratch, remove_scratch),
        cmocka_unit_test_setup_teardown(test_upload_complete_is_kept, make_scratch, remove_scratch),
        cmocka_unit_test_setup_teardown(test_upload_wrong_hash_or_short_leaves_nothing,
                                        make_scratch, remove_scratch),
        cmocka_unit_test_setup_teardown(test_allowlist_good, make_scratch, remove_scratch),
        cmocka_unit_test_setup_teardown(test_allowlist_bad, make_scratch, remove_scratch),
        cmocka_unit_test_setup_teardown(test_allowlist_long_comment, make_scratch, remove_scratch),
        cmocka_unit_test(test_sha256_parse_fuzz),
        cmocka_unit_test(test_upload_message_round_trip),
        cmocka_unit_test_setup_teardown(test_allowlist_fuzz, make_scratch, remove_scratch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
