/* Entry selectors of tests/enclaves/test_enclave.c, shared with the tests. */
#ifndef ASYLO_TESTS_TEST_ENCLAVE_SELECTORS_H
#define ASYLO_TESTS_TEST_ENCLAVE_SELECTORS_H

#include "asylo/selectors.h"

enum {
    TEST_COUNTER = ASYLO_SELECTOR_USER_FIRST, /* out: u64 count of calls in this instance */
    TEST_EXIT_CALL,      /* in: u32 selector + payload; out: the host's output */
    TEST_GETENV,         /* in: name; out: value (NOT_FOUND when unset) */
    TEST_FILE_ROUNDTRIP, /* in: blob path, blob data; writes, reads back, unlinks; out: data */
    TEST_TIME,           /* out: i64 wall ns, i64 monotonic ns */
    TEST_LOG,            /* in: text, logged at info */
    TEST_FAIL,           /* in: u32 code; fails with that code */
    TEST_BIG_OUTPUT,     /* in: u32 size; out: size bytes of 0xab */
    TEST_SLEEP,          /* in: u32 milliseconds */
    TEST_BAD_HANDLE,     /* reads handle 7 never opened; out: u32 code it got */
    TEST_RANDOM,         /* out: 32 bytes */
    TEST_COLLISION,      /* out: u32 value of the enclave's own asylo_test_collision() */
    TEST_RUN_NESTED,     /* in: u32 depth; calls exit selector TEST_HOST_REENTER depth times */
    TEST_FILE_OPEN,      /* in: u32 flags, path bytes; opens and closes the file */
};

/* More entry selectors, kept in 0x1300-0x13ff. */
enum {
    TEST_FILE_UNLINK = ASYLO_SELECTOR_USER_FIRST + 0x300, /* in: path bytes; unlinks that path */
    /* in: u32 size; writes size bytes of 0xcd in 64 KiB pieces, ignores every
     * write error and returns OK: a hostile enclave against the output limit. */
    TEST_OUTPUT_IGNORING_LIMIT,
};

/* Selectors added for the lifecycle tests (0x1200-0x12ff). */
enum {
    TEST_EXIT_THEN_GETENV = 0x1200, /* in: u32 exit selector, name; exit call (no input), then
                                       out: getenv(name) (NOT_FOUND when unset) */
    TEST_SPIN, /* in: optional u32 exit selector, called first; then spins forever */
};

/* Misbehaving enclaves, for the remote proxy's fault tests (0x1400-0x14ff). */
enum {
    TEST_CRASH_SEGV = ASYLO_SELECTOR_USER_FIRST + 0x400, /* raises SIGSEGV in its process */
    TEST_EXIT_42,                                        /* calls exit(42) in its process */
    TEST_PTRACE_TRACEME, /* ptrace(PTRACE_TRACEME) on its thread; out: i32 result, i32 errno */
    TEST_ABORT,          /* calls abort() in its process */
};

/* The Fibonacci bounce of the conformance suite (0x1600-0x16ff): the enclave
 * and the host take turns, each step one nesting level deeper. */
enum {
    /* in: u32 steps, u64 a, u64 b; steps == 0: out u64 a; otherwise exit call
     * TEST_HOST_FIB with (steps - 1, b, a + b) and out its reply. */
    TEST_FIB = ASYLO_SELECTOR_USER_FIRST + 0x600,
};

/* The call protocol's bounds (0x1900-0x19ff). */
enum {
    /* in: u32 exit selector; exit-calls it (no input) again and again until
     * one fails, and fails with that status: an enclave that bounces exits
     * forever. */
    TEST_EXIT_LOOP = 0x1900,
};

/* Hostile behaviour for the isolating backends (tests/process); never call
 * these on sim: each ends or endangers the process it runs in. */
enum {
    TEST_HOSTILE_NULL_DEREF = 0x1500, /* writes through a null pointer */
    TEST_HOSTILE_ABORT,               /* abort() */
    TEST_HOSTILE_EXIT,                /* in: u32 code; exit(code) */
    TEST_HOSTILE_LOOP,                /* spins forever */
    TEST_HOSTILE_FORK,                /* fork() */
    TEST_HOSTILE_EXECVE,              /* execve("/bin/sh") */
    TEST_HOSTILE_OPEN_SHADOW,         /* open("/etc/shadow") */
    TEST_HOSTILE_SOCKET,              /* socket(AF_INET) */
    TEST_HOSTILE_PTRACE,              /* ptrace(PTRACE_TRACEME) */
    TEST_HOSTILE_KILL_PARENT,         /* kill(getppid(), SIGKILL) */
    TEST_HOSTILE_STACK_OVERFLOW,      /* unbounded recursion */
    TEST_HOSTILE_ALLOCATE,            /* mallocs 1 MiB blocks (up to 4 GiB) until one fails */
    /* Not hostile: plain libc file calls and printf (forwarded in process). */
    TEST_POSIX_FILES = 0x1580, /* in: path; fopen/fprintf/fread/unlink; out: what it read */
};

/* More plain POSIX calls (0x1800-0x18ff), forwarded on kvm (tests/kvm). */
enum {
    /* in: path of an existing file; stat (size), lseek on it (ESPIPE when
     * forwarded), fstat(1), a 20 ms nanosleep measured with clock_gettime,
     * getrandom, a line to stderr; out: "size=N lseek_errno=E stdout_chr=1
     * slept_ms_ok=1 random=16" */
    TEST_POSIX_MORE = 0x1800,
};

/* The process backend's tests (0x1700-0x17ff). */
enum {
    /* in: u32 exit selector, u32 milliseconds; exit-calls that selector (no
     * input: "inside now"), then sleeps that long and returns OK. */
    TEST_EXIT_THEN_SLEEP = 0x1700,
    /* in: path; with plain libc calls writes "0123456789" there, then checks
     * stat, lseek (set, end), fstat and fseek, unlinks it and checks stat
     * fails with ENOENT; out: "456|89|7" (what the seeks read) */
    TEST_POSIX_SEEK_STAT,
    /* in: path; stat(path); out: i32 result, i32 errno, u64 st_size */
    TEST_POSIX_STAT_PATH,
    /* Hostile, like 0x1500 (never on sim): in: u32 pid; opens /proc/PID/mem
     * and reads 8 bytes at the host address given as u64 after the pid;
     * out: the bytes read (never reached in process) */
    TEST_HOSTILE_READ_PROC_MEM,
    /* in: u64 address (a host pointer as an integer); writes 0x5a there */
    TEST_HOSTILE_WRITE_HOST_POINTER,
    /* in: u32 size; one exit call to TEST_HOST_ECHO with size bytes; returns
     * its status */
    TEST_HOSTILE_OVERSIZED_EXIT,
};

/* Exit selectors of the process backend's tests (0x1780-0x17ff). */
enum {
    TEST_HOST_INSIDE = 0x1780, /* the host notes that the calling enclave thread is inside */
};

/* Exit selectors the tests register on the host. */
enum {
    TEST_HOST_ECHO = ASYLO_SELECTOR_USER_FIRST + 0x100,
    TEST_HOST_REENTER,      /* host handler re-enters the enclave */
    TEST_HOST_TRY_RUN,      /* host handler tries asylo_client_run and returns its code */
    TEST_HOST_TRY_FINALIZE, /* host handler tries asylo_client_finalize on its client */
    TEST_HOST_UNHANDLED,    /* never registered: reaches the fallback or gives NOT_FOUND */
    TEST_HOST_FIB,          /* the host's turn of TEST_FIB: same input, re-enters TEST_FIB */
};

#endif
