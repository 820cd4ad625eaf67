/* Prints the process sandbox's system call allow-list (the one table) and
 * checks it: every name is the number the kernel knows, and the calls a
 * hostile enclave needs to escape or reach the host are not in it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>

#include "backends/process/syscall_allowlist.h"

static const asylo__syscall_rule *find(const char *name) {
    for (size_t i = 0; i < asylo__syscall_allowlist_count; i++) {
        if (strcmp(asylo__syscall_allowlist[i].name, name) == 0) {
            return &asylo__syscall_allowlist[i];
        }
    }
    return NULL;
}

static void test_table(void **state) {
    (void)state;
    printf("| system call | number | allowed | why |\n|---|---|---|---|\n");
    for (size_t i = 0; i < asylo__syscall_allowlist_count; i++) {
        const asylo__syscall_rule *rule = &asylo__syscall_allowlist[i];
        printf("| %s | %d | %s | %s |\n", rule->name, rule->number,
               rule->stage == ASYLO__SYSCALL_ALWAYS ? "always" : "while loading", rule->why);
        assert_int_equal(seccomp_syscall_resolve_name(rule->name), rule->number);
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(asylo__syscall_allowlist[j].number, rule->number);
        }
    }
    /* Never allowed: new processes and programs, the network, other
     * processes, namespaces and mounts, modules, raw I/O. */
    static const char *const forbidden[] = {
        "fork",
        "vfork",
        "clone",
        "clone3",
        "execve",
        "execveat",
        "socket",
        "socketpair",
        "connect",
        "ptrace",
        "kill",
        "tkill",
        "process_vm_readv",
        "process_vm_writev",
        "mount",
        "umount2",
        "setns",
        "unshare",
        "pivot_root",
        "init_module",
        "bpf",
        "perf_event_open",
        "keyctl",
        "ioctl",
        "open",
        "pidfd_open",
        "pidfd_send_signal",
        "userfaultfd",
        "io_uring_setup",
    };
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
        if (find(forbidden[i]) != NULL) {
            fail_msg("%s must not be in the allow-list", forbidden[i]);
        }
    }
    /* File access only while the loader runs, before the empty root. */
    static const char *const loading_only[] = {"openat", "chroot", "capset", "newfstatat", "lseek"};
    for (size_t i = 0; i < sizeof loading_only / sizeof loading_only[0]; i++) {
        const asylo__syscall_rule *rule = find(loading_only[i]);
        assert_non_null(rule);
        assert_int_equal(rule->stage, ASYLO__SYSCALL_LOADING);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_table)};
    return cmocka_run_group_tests_name("process.allowlist", tests, NULL, NULL);
}
