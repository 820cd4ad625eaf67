/* The host's per-enclave file table: handles are slots, never descriptors;
 * a full table and bad handles are refused; nothing leaks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "host/file_table.h"

static int count_open_fds(void) {
    DIR *directory = opendir("/proc/self/fd");
    assert_non_null(directory);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (entry->d_name[0] != '.') {
            count++;
        }
    }
    closedir(directory);
    return count - 1; /* the directory's own descriptor */
}

static int open_null(void) {
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static int is_open(int fd) {
    return fcntl(fd, F_GETFD) != -1;
}

static void test_add_dup_close(void **state) {
    (void)state;
    int before = count_open_fds();
    asylo__file_table table;
    asylo__file_table_init(&table);
    asylo_status status;
    int fd = open_null();
    int handle = -1;
    assert_int_equal(asylo__file_table_add(&table, fd, &handle, &status), ASYLO_OK);
    assert_int_equal(handle, 0); /* a slot number, not the descriptor */

    int duplicate = -1;
    assert_int_equal(asylo__file_table_dup(&table, handle, &duplicate, &status), ASYLO_OK);
    assert_true(duplicate >= 0);
    assert_int_not_equal(duplicate, fd);
    struct stat a, b;
    assert_int_equal(fstat(fd, &a), 0);
    assert_int_equal(fstat(duplicate, &b), 0);
    assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
    assert_true(fcntl(duplicate, F_GETFD) & FD_CLOEXEC);
    close(duplicate);

    int second = -1;
    assert_int_equal(asylo__file_table_add(&table, open_null(), &second, &status), ASYLO_OK);
    assert_int_equal(second, 1);

    assert_int_equal(asylo__file_table_close(&table, handle, &status), ASYLO_OK);
    assert_false(is_open(fd));
    /* The freed slot is reused. */
    int third = -1;
    assert_int_equal(asylo__file_table_add(&table, open_null(), &third, &status), ASYLO_OK);
    assert_int_equal(third, 0);

    asylo__file_table_fini(&table); /* closes the two still open */
    assert_int_equal(count_open_fds(), before);
}

static void test_full_table(void **state) {
    (void)state;
    int before = count_open_fds();
    asylo__file_table table;
    asylo__file_table_init(&table);
    asylo_status status;
    for (int i = 0; i < ASYLO__MAX_OPEN_FILES; i++) {
        int handle = -1;
        assert_int_equal(asylo__file_table_add(&table, open_null(), &handle, &status), ASYLO_OK);
        assert_int_equal(handle, i);
    }
    int extra = open_null();
    int handle = 999;
    assert_int_equal(asylo__file_table_add(&table, extra, &handle, &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    assert_int_equal(status.origin, ASYLO_ORIGIN_HOST);
    assert_non_null(strstr(status.message, "already has 64 files open"));
    /* Ownership was taken: the refused descriptor is closed. */
    assert_false(is_open(extra));
    assert_int_equal(count_open_fds(), before + ASYLO__MAX_OPEN_FILES);

    /* Closing one makes room again. */
    assert_int_equal(asylo__file_table_close(&table, 17, &status), ASYLO_OK);
    assert_int_equal(asylo__file_table_add(&table, open_null(), &handle, &status), ASYLO_OK);
    assert_int_equal(handle, 17);
    asylo__file_table_fini(&table);
    assert_int_equal(count_open_fds(), before);
}

static void expect_bad_handle(asylo_code code, const asylo_status *status, int handle) {
    assert_int_equal(code, ASYLO_INVALID_ARGUMENT);
    assert_int_equal(status->origin, ASYLO_ORIGIN_HOST);
    char needle[64];
    snprintf(needle, sizeof needle, "file handle %d is not open in this enclave", handle);
    if (strstr(status->message, needle) == NULL) {
        fail_msg("expected '%s' in '%s'", needle, status->message);
    }
}

static void test_bad_handles(void **state) {
    (void)state;
    asylo__file_table table;
    asylo__file_table_init(&table);
    asylo_status status;
    static const int bad[] = {
        -1, -1000, ASYLO__MAX_OPEN_FILES,    ASYLO__MAX_OPEN_FILES + 1, 0x7fffffff,
        0,  5,     ASYLO__MAX_OPEN_FILES - 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int fd = 123;
        expect_bad_handle(asylo__file_table_dup(&table, bad[i], &fd, &status), &status, bad[i]);
        assert_int_equal(fd, -1);
        expect_bad_handle(asylo__file_table_close(&table, bad[i], &status), &status, bad[i]);
    }
    /* Closed twice. */
    int handle;
    assert_int_equal(asylo__file_table_add(&table, open_null(), &handle, &status), ASYLO_OK);
    assert_int_equal(asylo__file_table_close(&table, handle, &status), ASYLO_OK);
    expect_bad_handle(asylo__file_table_close(&table, handle, &status), &status, handle);
    int fd;
    expect_bad_handle(asylo__file_table_dup(&table, handle, &fd, &status), &status, handle);
    asylo__file_table_fini(&table);
}

/* A handle number never reaches the host's own descriptors: handle 2 is not
 * stderr. */
static void test_handles_are_not_descriptors(void **state) {
    (void)state;
    asylo__file_table table;
    asylo__file_table_init(&table);
    asylo_status status;
    int fd;
    expect_bad_handle(asylo__file_table_dup(&table, STDERR_FILENO, &fd, &status), &status,
                      STDERR_FILENO);
    expect_bad_handle(asylo__file_table_close(&table, STDERR_FILENO, &status), &status,
                      STDERR_FILENO);
    assert_true(is_open(STDERR_FILENO));
    asylo__file_table_fini(&table);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_dup_close),
        cmocka_unit_test(test_full_table),
        cmocka_unit_test(test_bad_handles),
        cmocka_unit_test(test_handles_are_not_descriptors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
