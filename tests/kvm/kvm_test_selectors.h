/* Selectors of the kvm test guest (kvm_test_guest.c), shared with the tests
 * and the bench. */
#ifndef ASYLO_TESTS_KVM_KVM_TEST_SELECTORS_H
#define ASYLO_TESTS_KVM_KVM_TEST_SELECTORS_H

enum {
    KVM_TEST_ECHO = 1,           /* returns its input */
    KVM_TEST_UD2 = 2,            /* executes ud2 (#UD) */
    KVM_TEST_LOOP = 3,           /* spins forever */
    KVM_TEST_NULL = 4,           /* reads address 0 (#PF, cr2 = 0) */
    KVM_TEST_WRITE_PT = 5,       /* writes its own PML4 (#PF: ring 0 only) */
    KVM_TEST_PORT = 6,           /* out to port 0x99 */
    KVM_TEST_EXIT_ECHO = 7,      /* exit call 1 with its input, returns the reply */
    KVM_TEST_NEST = 8,           /* input u32 n: n > 0 → exit call 2 with n - 1 */
    KVM_TEST_SSE_TLS = 9,        /* SSE arithmetic and the %fs:0x28 canary */
    KVM_TEST_SYSCALL = 10,       /* input: 7 x u64 (number, args); returns the result */
    KVM_TEST_BENCH_OUT = 11,     /* input u64 n: n raw PORT_BENCH exits */
    KVM_TEST_BENCH_SYSCALL = 12, /* input u64 n: n getpid system calls */
    KVM_TEST_BAD_FRAME = 13,     /* input u64 size: sends a RETURN claiming that size */
    KVM_TEST_BAD_MAGIC = 14,     /* sends a frame with a wrong magic */
    KVM_TEST_STACK_SMASH = 15,   /* recurses until the stack's guard page */
    KVM_TEST_FAIL = 16,          /* returns INVALID_ARGUMENT "test failure" */
};

#define KVM_TEST_OPEN_PORT 0x99

#endif
