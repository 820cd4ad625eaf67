/* The host's file policy (host/file_root.h): nothing without a root; with
 * one, only regular files beneath it, whatever the path. Every case runs twice:
 * with openat2 and with the component walk used where openat2 is missing. */
#include <errno.h>
#include <fcntl.h>
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

#include "host/file_root.h"

static char base[256];     /* a temporary directory */
static char root_dir[300]; /* base/root: the file root */
static char outside[300];  /* base/outside.txt: must stay untouched */

static void join(char *out, size_t size, const char *directory, const char *name) {
    int written = snprintf(out, size, "%s/%s", directory, name);
    assert_true(written > 0 && (size_t)written < size);
}

static int setup(void **state) {
    (void)state;
    snprintf(base, sizeof base, "%s/asylo-file-root-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(base));
    join(root_dir, sizeof root_dir, base, "root");
    join(outside, sizeof outside, base, "outside.txt");
    assert_int_equal(mkdir(root_dir, 0700), 0);
    int fd = open(outside, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "secret", 6), 6);
    close(fd);
    char path[400];
    join(path, sizeof path, root_dir, "sub");
    assert_int_equal(mkdir(path, 0700), 0);
    join(path, sizeof path, root_dir, "escape"); /* a directory link out of the root */
    assert_int_equal(symlink(base, path), 0);
    join(path, sizeof path, root_dir, "last"); /* a file link out of the root */
    assert_int_equal(symlink(outside, path), 0);
    join(path, sizeof path, root_dir, "inner"); /* a link that stays inside */
    assert_int_equal(symlink("sub", path), 0);
    join(path, sizeof path, root_dir, "fifo");
    assert_int_equal(mkfifo(path, 0600), 0);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    static const char *const names[] = {"escape", "last", "inner", "fifo", "sub/a.txt", "a.txt"};
    char path[400];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        join(path, sizeof path, root_dir, names[i]);
        unlink(path);
    }
    join(path, sizeof path, root_dir, "sub");
    rmdir(path);
    rmdir(root_dir);
    unlink(outside);
    rmdir(base);
    return 0;
}

static void expect_code(asylo_code got, const asylo_status *status, asylo_code code,
                        const char *needle) {
    if (got != code || strstr(status->message, needle) == NULL) {
        fail_msg("expected %s with '%s', got %s: %s", asylo_code_name(code), needle,
                 asylo_code_name(got), status->message);
    }
}

static void outside_untouched(void) {
    char text[16] = {0};
    int fd = open(outside, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, text, sizeof text - 1), 6);
    close(fd);
    assert_string_equal(text, "secret");
}

static void open_refused(const asylo__file_root *root, const char *path, int flags,
                         const char *needle) {
    asylo_status status;
    int fd = 123;
    expect_code(asylo__file_root_open_file(root, path, flags, 0600, &fd, &status), &status,
                ASYLO_PERMISSION_DENIED, needle);
    assert_int_equal(fd, -1);
}

static void run_policy(bool walk) {
    asylo__file_root_force_walk(walk);
    asylo_status status;
    asylo__file_root root;

    /* No root: refused, naming the field to set. */
    assert_int_equal(asylo__file_root_open(&root, NULL, &status), ASYLO_OK);
    open_refused(&root, "a.txt", O_RDONLY, "asylo_load_config.file_root");
    expect_code(asylo__file_root_unlink(&root, "a.txt", &status), &status, ASYLO_PERMISSION_DENIED,
                "asylo_load_config.file_root");
    expect_code(asylo__file_root_check(&root, "file_read", &status), &status,
                ASYLO_PERMISSION_DENIED, "asylo_load_config.file_root");
    asylo__file_root_fini(&root);

    assert_int_equal(asylo__file_root_open(&root, root_dir, &status), ASYLO_OK);
    open_refused(&root, outside, O_RDONLY, "absolute");
    open_refused(&root, "../outside.txt", O_RDONLY, "'..'");
    open_refused(&root, "sub/../../outside.txt", O_RDONLY, "'..'");
    open_refused(&root, "escape/outside.txt", O_RDONLY, "symbolic link");
    open_refused(&root, "escape/new.txt", O_WRONLY | O_CREAT, "symbolic link");
    open_refused(&root, "last", O_RDONLY, "symbolic link");
    open_refused(&root, "last", O_WRONLY | O_CREAT | O_TRUNC, "symbolic link");
    open_refused(&root, "inner/a.txt", O_WRONLY | O_CREAT, "symbolic link");
    /* A FIFO would block the host's thread: refused, without blocking. */
    open_refused(&root, "fifo", O_RDONLY, "not a regular file");
    open_refused(&root, "sub", O_RDONLY, "not a regular file");
    outside_untouched();
    char created[400];
    join(created, sizeof created, base, "new.txt");
    assert_int_equal(access(created, F_OK), -1);

    /* Inside the root: create, write, read back, unlink. */
    static const char *const inside[] = {"a.txt", "sub/a.txt", "./sub//a.txt"};
    for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++) {
        int fd = -1;
        assert_int_equal(asylo__file_root_open_file(&root, inside[i], O_RDWR | O_CREAT | O_TRUNC,
                                                    0600, &fd, &status),
                         ASYLO_OK);
        assert_int_equal(write(fd, "hi", 2), 2);
        /* O_NONBLOCK (used while opening) is gone again. */
        assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
        close(fd);
        assert_int_equal(asylo__file_root_unlink(&root, inside[i], &status), ASYLO_OK);
    }
    expect_code(asylo__file_root_unlink(&root, "a.txt", &status), &status, ASYLO_NOT_FOUND,
                "No such file");

    /* Unlink resolves the parent beneath the root too. */
    expect_code(asylo__file_root_unlink(&root, outside, &status), &status, ASYLO_PERMISSION_DENIED,
                "absolute");
    expect_code(asylo__file_root_unlink(&root, "../outside.txt", &status), &status,
                ASYLO_PERMISSION_DENIED, "'..'");
    expect_code(asylo__file_root_unlink(&root, "escape/outside.txt", &status), &status,
                ASYLO_PERMISSION_DENIED, "symbolic link");
    expect_code(asylo__file_root_unlink(&root, "sub/", &status), &status, ASYLO_INVALID_ARGUMENT,
                "names no file");
    outside_untouched();

    /* Stat: the same refusals, each naming the path; any kind of file. */
    struct stat info;
    expect_code(asylo__file_root_stat(&root, outside, &info, &status), &status,
                ASYLO_PERMISSION_DENIED, "absolute");
    assert_non_null(strstr(status.message, outside));
    expect_code(asylo__file_root_stat(&root, "../outside.txt", &info, &status), &status,
                ASYLO_PERMISSION_DENIED, "file_stat '../outside.txt' refused");
    expect_code(asylo__file_root_stat(&root, "escape/outside.txt", &info, &status), &status,
                ASYLO_PERMISSION_DENIED, "symbolic link");
    expect_code(asylo__file_root_stat(&root, "last", &info, &status), &status,
                ASYLO_PERMISSION_DENIED, "file_stat 'last' refused");
    expect_code(asylo__file_root_stat(&root, "missing", &info, &status), &status, ASYLO_NOT_FOUND,
                "missing");
    assert_int_equal(asylo__file_root_stat(&root, "sub", &info, &status), ASYLO_OK);
    assert_true(S_ISDIR(info.st_mode));
    assert_int_equal(asylo__file_root_stat(&root, "fifo", &info, &status), ASYLO_OK);
    assert_true(S_ISFIFO(info.st_mode));
    asylo__file_root_fini(&root);
    expect_code(asylo__file_root_stat(&root, "sub", &info, &status), &status,
                ASYLO_PERMISSION_DENIED, "asylo_load_config.file_root");
    asylo__file_root_fini(&root); /* twice is harmless */
    asylo__file_root_force_walk(false);
}

static void test_policy_openat2(void **state) {
    (void)state;
    run_policy(false);
}

static void test_policy_walk(void **state) {
    (void)state;
    run_policy(true);
}

static void test_bad_roots(void **state) {
    (void)state;
    asylo_status status;
    asylo__file_root root;
    expect_code(asylo__file_root_open(&root, "", &status), &status, ASYLO_INVALID_ARGUMENT,
                "asylo_load_config.file_root");
    expect_code(asylo__file_root_open(&root, outside, &status), &status, ASYLO_INVALID_ARGUMENT,
                "is not a directory");
    char missing[400];
    join(missing, sizeof missing, base, "missing");
    expect_code(asylo__file_root_open(&root, missing, &status), &status, ASYLO_NOT_FOUND,
                "asylo_load_config.file_root");
    assert_int_equal(root.fd, -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_openat2),
        cmocka_unit_test(test_policy_walk),
        cmocka_unit_test(test_bad_roots),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
