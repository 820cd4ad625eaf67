/* An enclave that exercises every feature of the trusted runtime, one user
 * selector each (test_enclave_selectors.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "asylo/trusted.h"
#include "common/bytes.h"
#include "test_enclave_selectors.h"

static atomic_ulong counter;

/* The host test binary exports a function of the same name returning 7: this
 * one must win inside the enclave. */
int asylo_test_collision(void);
int asylo_test_collision(void) {
    return 42;
}

static asylo_code write_u32(asylo_output *output, uint32_t value, asylo_status *status) {
    uint8_t encoded[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
                          (uint8_t)(value >> 24)};
    return asylo_output_write(output, encoded, 4, status);
}

static asylo_code read_u32_input(const uint8_t *input, size_t size, uint32_t *value,
                                 asylo_status *status) {
    asylo__reader reader;
    asylo__reader_init(&reader, input, size, "u32 input");
    *value = asylo__read_u32(&reader);
    return asylo__reader_finish(&reader, status);
}

static asylo_code on_counter(void *context, const uint8_t *input, size_t input_size,
                             asylo_output *output, asylo_status *status) {
    (void)context, (void)input, (void)input_size;
    unsigned long value = atomic_fetch_add(&counter, 1) + 1;
    uint64_t encoded = value;
    return asylo_output_write(output, &encoded, sizeof encoded, status);
}

static asylo_code on_exit_call(void *context, const uint8_t *input, size_t input_size,
                               asylo_output *output, asylo_status *status) {
    (void)context;
    if (input_size < 4) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "exit_call needs a u32 selector");
    }
    uint32_t selector;
    memcpy(&selector, input, 4);
    asylo_buffer reply = {0};
    asylo_code code = asylo_enclave_exit_call(selector, input + 4, input_size - 4, &reply, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, reply.data, reply.size, status);
    }
    asylo_buffer_free(&reply);
    return code;
}

static asylo_code on_getenv(void *context, const uint8_t *input, size_t input_size,
                            asylo_output *output, asylo_status *status) {
    (void)context;
    char name[256];
    if (input_size == 0 || input_size >= sizeof name) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "bad variable name size %zu", input_size);
    }
    memcpy(name, input, input_size);
    name[input_size] = '\0';
    const char *value = asylo_enclave_getenv(name);
    if (value == NULL) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_ENCLAVE, "%s is unset", name);
    }
    return asylo_output_write(output, value, strlen(value), status);
}

static asylo_code on_file_roundtrip(void *context, const uint8_t *input, size_t input_size,
                                    asylo_output *output, asylo_status *status) {
    (void)context;
    asylo__reader reader;
    asylo__reader_init(&reader, input, input_size, "file roundtrip input");
    char *path = asylo__read_string(&reader, ASYLO_MAX_PATH_SIZE - 1);
    const uint8_t *data;
    size_t size;
    asylo__read_blob(&reader, &data, &size, ASYLO_MAX_FILE_IO_SIZE);
    asylo_code code = asylo__reader_finish(&reader, status);
    int handle = -1;
    size_t moved = 0;
    uint8_t *space = NULL;
    if (code == ASYLO_OK) {
        code = asylo_enclave_file_open(
            path, ASYLO_FILE_READ | ASYLO_FILE_WRITE | ASYLO_FILE_CREATE | ASYLO_FILE_TRUNCATE,
            0600, &handle, status);
    }
    if (code == ASYLO_OK) {
        code = asylo_enclave_file_write(handle, data, size, &moved, status);
    }
    if (code == ASYLO_OK) {
        code = asylo_enclave_file_close(handle, status);
        handle = -1;
    }
    if (code == ASYLO_OK) {
        code = asylo_enclave_file_open(path, ASYLO_FILE_READ, 0, &handle, status);
    }
    if (code == ASYLO_OK) {
        space = asylo_output_reserve(output, size, status);
        code = space == NULL && size > 0 ? status->code : ASYLO_OK;
    }
    if (code == ASYLO_OK) {
        code = asylo_enclave_file_read(handle, space, size, &moved, status);
    }
    if (code == ASYLO_OK && moved != size) {
        code = asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE,
                                "read back %zu of %zu bytes", moved, size);
    }
    if (handle >= 0) {
        asylo_enclave_file_close(handle, NULL);
    }
    if (path != NULL && code == ASYLO_OK) {
        code = asylo_enclave_file_unlink(path, status);
    }
    free(path);
    return code;
}

static asylo_code on_time(void *context, const uint8_t *input, size_t input_size,
                          asylo_output *output, asylo_status *status) {
    (void)context, (void)input, (void)input_size;
    int64_t times[2];
    asylo_code code = asylo_enclave_time_wall(&times[0], status);
    if (code == ASYLO_OK) {
        code = asylo_enclave_time_monotonic(&times[1], status);
    }
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, times, sizeof times, status);
    }
    return code;
}

static asylo_code on_log(void *context, const uint8_t *input, size_t input_size,
                         asylo_output *output, asylo_status *status) {
    (void)context, (void)output;
    asylo_enclave_log(ASYLO_LOG_INFO, "%.*s", (int)input_size, (const char *)input);
    return asylo_status_ok(status);
}

static asylo_code on_fail(void *context, const uint8_t *input, size_t input_size,
                          asylo_output *output, asylo_status *status) {
    (void)context, (void)output;
    uint32_t code;
    if (read_u32_input(input, input_size, &code, status) != ASYLO_OK) {
        return status->code;
    }
    return asylo_status_set(status, (asylo_code)code, ASYLO_ORIGIN_ENCLAVE,
                            "requested failure with code %u", code);
}

static asylo_code on_big_output(void *context, const uint8_t *input, size_t input_size,
                                asylo_output *output, asylo_status *status) {
    (void)context;
    uint32_t size;
    if (read_u32_input(input, input_size, &size, status) != ASYLO_OK) {
        return status->code;
    }
    uint8_t *space = asylo_output_reserve(output, size, status);
    if (space == NULL) {
        return status->code;
    }
    memset(space, 0xab, size);
    return ASYLO_OK;
}

static asylo_code on_sleep(void *context, const uint8_t *input, size_t input_size,
                           asylo_output *output, asylo_status *status) {
    (void)context, (void)output;
    uint32_t milliseconds;
    if (read_u32_input(input, input_size, &milliseconds, status) != ASYLO_OK) {
        return status->code;
    }
    struct timespec delay = {milliseconds / 1000, (long)(milliseconds % 1000) * 1000000L};
    while (nanosleep(&delay, &delay) != 0) {
    }
    return asylo_status_ok(status);
}

static asylo_code on_bad_handle(void *context, const uint8_t *input, size_t input_size,
                                asylo_output *output, asylo_status *status) {
    (void)context, (void)input, (void)input_size;
    uint8_t buffer[8];
    size_t got;
    asylo_status inner;
    asylo_code code = asylo_enclave_file_read(7, buffer, sizeof buffer, &got, &inner);
    return write_u32(output, (uint32_t)code, status);
}

static asylo_code on_random(void *context, const uint8_t *input, size_t input_size,
                            asylo_output *output, asylo_status *status) {
    (void)context, (void)input, (void)input_size;
    uint8_t *space = asylo_output_reserve(output, 32, status);
    if (space == NULL) {
        return status->code;
    }
    return asylo_enclave_random(space, 32, status);
}

static asylo_code on_collision(void *context, const uint8_t *input, size_t input_size,
                               asylo_output *output, asylo_status *status) {
    (void)context, (void)input, (void)input_size;
    return write_u32(output, (uint32_t)asylo_test_collision(), status);
}

/* Asks the host to re-enter us `depth` times, nested. */
static asylo_code on_run_nested(void *context, const uint8_t *input, size_t input_size,
                                asylo_output *output, asylo_status *status) {
    (void)context;
    uint32_t depth;
    if (read_u32_input(input, input_size, &depth, status) != ASYLO_OK) {
        return status->code;
    }
    if (depth == 0) {
        return write_u32(output, 0, status);
    }
    uint32_t next = depth - 1;
    asylo_buffer reply = {0};
    asylo_code code =
        asylo_enclave_exit_call(TEST_HOST_REENTER, &next, sizeof next, &reply, status);
    if (code == ASYLO_OK) {
        uint32_t below = 0;
        if (reply.size == 4) {
            memcpy(&below, reply.data, 4);
        }
        code = write_u32(output, below + 1, status);
    }
    asylo_buffer_free(&reply);
    return code;
}

static asylo_code on_file_open(void *context, const uint8_t *input, size_t input_size,
                               asylo_output *output, asylo_status *status) {
    (void)context, (void)output;
    char path[ASYLO_MAX_PATH_SIZE];
    if (input_size <= 4 || input_size - 4 >= sizeof path) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "file_open needs u32 flags and a path");
    }
    uint32_t flags;
    memcpy(&flags, input, 4);
    memcpy(path, input + 4, input_size - 4);
    path[input_size - 4] = '\0';
    int handle;
    asylo_code code = asylo_enclave_file_open(path, flags, 0600, &handle, status);
    if (code == ASYLO_OK) {
        code = asylo_enclave_file_close(handle, status);
    }
    return code;
}

static asylo_code on_file_unlink(void *context, const uint8_t *input, size_t input_size,
                                 asylo_output *output, asylo_status *status) {
    (void)context, (void)output;
    char path[ASYLO_MAX_PATH_SIZE];
    if (input_size == 0 || input_size >= sizeof path) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "file_unlink needs a path");
    }
    memcpy(path, input, input_size);
    path[input_size] = '\0';
    return asylo_enclave_file_unlink(path, status);
}

/* Keeps writing after the sink said RESOURCE_EXHAUSTED and claims success:
 * the host must not believe it. */
static asylo_code on_output_ignoring_limit(void *context, const uint8_t *input, size_t input_size,
                                           asylo_output *output, asylo_status *status) {
    (void)context;
    uint32_t size;
    if (read_u32_input(input, input_size, &size, status) != ASYLO_OK) {
        return status->code;
    }
    static uint8_t piece[64 * 1024];
    memset(piece, 0xcd, sizeof piece);
    for (uint32_t written = 0; written < size;) {
        uint32_t part = size - written < sizeof piece ? size - written : (uint32_t)sizeof piece;
        asylo_status ignored;
        (void)asylo_output_write(output, piece, part, &ignored);
        written += part;
    }
    return asylo_status_ok(status);
}

/* An exit call, then a read of the config: finalize must not free it meanwhile. */
static asylo_code on_exit_then_getenv(void *context, const uint8_t *input, size_t input_size,
                                      asylo_output *output, asylo_status *status) {
    (void)context;
    char name[256];
    if (input_size <= 4 || input_size - 4 >= sizeof name) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "exit_then_getenv needs a u32 selector and a name");
    }
    uint32_t selector;
    memcpy(&selector, input, 4);
    memcpy(name, input + 4, input_size - 4);
    name[input_size - 4] = '\0';
    asylo_code code = asylo_enclave_exit_call(selector, NULL, 0, NULL, status);
    if (code != ASYLO_OK) {
        return code;
    }
    const char *value = asylo_enclave_getenv(name);
    if (value == NULL) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_ENCLAVE, "%s is unset", name);
    }
    return asylo_output_write(output, value, strlen(value), status);
}

/* Never returns: what a destroy must cope with when trusted code hangs.
 * With a u32 input, exit-calls that selector first (to say "spinning now"). */
static asylo_code on_spin(void *context, const uint8_t *input, size_t input_size,
                          asylo_output *output, asylo_status *status) {
    (void)context, (void)output;
    if (input_size == 4) {
        uint32_t selector;
        memcpy(&selector, input, 4);
        asylo_enclave_exit_call(selector, NULL, 0, NULL, status);
    }
    static volatile unsigned long spins;
    static volatile int never;
    while (!never) {
        spins++;
    }
    return asylo_status_ok(status);
}

/* Says "inside now" with an exit call, then holds the thread (and, in
 * process, its call slot) for a while: a test that needs a call in flight
 * waits for the exit call instead of guessing a time. */
static asylo_code on_exit_then_sleep(void *context, const uint8_t *input, size_t input_size,
                                     asylo_output *output, asylo_status *status) {
    (void)context, (void)output;
    asylo__reader reader;
    asylo__reader_init(&reader, input, input_size, "exit_then_sleep input");
    uint32_t selector = asylo__read_u32(&reader);
    uint32_t milliseconds = asylo__read_u32(&reader);
    if (asylo__reader_finish(&reader, status) != ASYLO_OK) {
        return status->code;
    }
    asylo_code code = asylo_enclave_exit_call(selector, NULL, 0, NULL, status);
    if (code != ASYLO_OK) {
        return code;
    }
    struct timespec delay = {milliseconds / 1000, (long)(milliseconds % 1000) * 1000000L};
    while (nanosleep(&delay, &delay) != 0) {
    }
    return asylo_status_ok(status);
}

/* The enclave crashes its whole process (the proxy, under remote). */
static asylo_code on_crash_segv(void *context, const uint8_t *input, size_t input_size,
                                asylo_output *output, asylo_status *status) {
    (void)context, (void)input, (void)input_size, (void)output, (void)status;
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    abort();
}

static asylo_code on_exit_42(void *context, const uint8_t *input, size_t input_size,
                             asylo_output *output, asylo_status *status) {
    (void)context, (void)input, (void)input_size, (void)output, (void)status;
    exit(42);
}

static asylo_code on_abort(void *context, const uint8_t *input, size_t input_size,
                           asylo_output *output, asylo_status *status) {
    (void)context, (void)input, (void)input_size, (void)output, (void)status;
    abort();
}

/* Bounces exit calls forever: only a failed one (a deadline, a lost host)
 * ends it. */
static asylo_code on_exit_loop(void *context, const uint8_t *input, size_t input_size,
                               asylo_output *output, asylo_status *status) {
    (void)context, (void)output;
    if (input_size != 4) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "exit loop input is a u32 selector, not %zu bytes", input_size);
    }
    uint32_t selector;
    memcpy(&selector, input, 4);
    for (;;) {
        asylo_code code = asylo_enclave_exit_call(selector, NULL, 0, NULL, status);
        if (code != ASYLO_OK) {
            return code;
        }
    }
}

/* One step of the Fibonacci bounce: (steps, a, b) -> the host gets
 * (steps - 1, b, a + b), which comes back here one level deeper. */
static asylo_code on_fib(void *context, const uint8_t *input, size_t input_size,
                         asylo_output *output, asylo_status *status) {
    (void)context;
    asylo__reader reader;
    asylo__reader_init(&reader, input, input_size, "fib input");
    uint32_t steps = asylo__read_u32(&reader);
    uint64_t a = asylo__read_u64(&reader);
    uint64_t b = asylo__read_u64(&reader);
    if (asylo__reader_finish(&reader, status) != ASYLO_OK) {
        return status->code;
    }
    if (steps == 0) {
        return asylo_output_write(output, &a, sizeof a, status);
    }
    uint8_t next[20];
    uint32_t next_steps = steps - 1;
    uint64_t sum = a + b;
    memcpy(next, &next_steps, 4);
    memcpy(next + 4, &b, 8);
    memcpy(next + 12, &sum, 8);
    asylo_buffer reply = {0};
    asylo_code code = asylo_enclave_exit_call(TEST_HOST_FIB, next, sizeof next, &reply, status);
    if (code == ASYLO_OK) {
        code = asylo_output_write(output, reply.data, reply.size, status);
    }
    asylo_buffer_free(&reply);
    return code;
}

/* Makes the calling thread a tracee of its process's parent (the host, with
 * local provisioning), as a hostile enclave could. */
static asylo_code on_ptrace_traceme(void *context, const uint8_t *input, size_t input_size,
                                    asylo_output *output, asylo_status *status) {
    (void)context, (void)input, (void)input_size;
    int32_t result[2];
    errno = 0;
    result[0] = (int32_t)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    result[1] = errno;
    return asylo_output_write(output, result, sizeof result, status);
}

/* Plain C library calls, as enclave code written without asylo in mind makes
 * them: in process they are forwarded to the host, in sim they are direct. */
static asylo_code on_posix_files(void *context, const uint8_t *input, size_t input_size,
                                 asylo_output *output, asylo_status *status) {
    (void)context;
    char path[256];
    if (input_size == 0 || input_size >= sizeof path) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "posix_files needs a path");
    }
    memcpy(path, input, input_size);
    path[input_size] = '\0';
    printf("posix_files: writing %s\n", path);
    fflush(stdout);
    FILE *file = fopen(path, "w");
    if (file == NULL) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_ENCLAVE,
                                "fopen(%s, w) failed: errno %d", path, errno);
    }
    fprintf(file, "hello %d from the enclave", 42);
    if (fclose(file) != 0) {
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE,
                                "fclose failed: errno %d", errno);
    }
    int fd = open(path, O_RDONLY);
    char text[64];
    ssize_t got = fd < 0 ? -1 : read(fd, text, sizeof text);
    int read_errno = errno;
    if (fd >= 0) {
        close(fd);
    }
    if (got < 0) {
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE,
                                "reading %s back failed: errno %d", path, read_errno);
    }
    if (unlink(path) != 0) {
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE,
                                "unlink(%s) failed: errno %d", path, errno);
    }
    if (open("definitely-not-here", O_RDONLY) >= 0 || errno != ENOENT) {
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_ENCLAVE,
                                "opening a missing file did not fail with ENOENT (errno %d)",
                                errno);
    }
    return asylo_output_write(output, text, (size_t)got, status);
}

static int64_t monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static asylo_code on_posix_more(void *context, const uint8_t *input, size_t input_size,
                                asylo_output *output, asylo_status *status) {
    (void)context;
    char path[256];
    if (input_size == 0 || input_size >= sizeof path) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "posix_more needs a path");
    }
    memcpy(path, input, input_size);
    path[input_size] = '\0';
    struct stat info;
    if (stat(path, &info) != 0 || !S_ISREG(info.st_mode)) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_ENCLAVE,
                                "stat(%s) failed: errno %d", path, errno);
    }
    int fd = open(path, O_RDONLY);
    errno = 0;
    off_t where = fd < 0 ? -1 : lseek(fd, 0, SEEK_SET);
    int lseek_errno = where < 0 ? errno : 0;
    if (fd >= 0) {
        close(fd);
    }
    struct stat out_info;
    int stdout_chr = fstat(1, &out_info) == 0 && S_ISCHR(out_info.st_mode);
    int64_t before = monotonic_ms();
    struct timespec delay = {0, 20 * 1000000L};
    int slept = nanosleep(&delay, NULL) == 0 && monotonic_ms() - before >= 20;
    uint8_t random[16];
    ssize_t got = getrandom(random, sizeof random, 0);
    fprintf(stderr, "posix_more: to stderr\n");
    char text[160];
    int length = snprintf(text, sizeof text,
                          "size=%lld lseek_errno=%d stdout_chr=%d slept_ms_ok=%d random=%d",
                          (long long)info.st_size, lseek_errno, stdout_chr, slept, (int)got);
    return asylo_output_write(output, text, (size_t)length, status);
}

static asylo_code posix_failed(const char *what, asylo_status *status) {
    return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE, "%s failed: errno %d",
                            what, errno);
}

/* Seeking and stat with plain C library calls (forwarded in process). */
static asylo_code on_posix_seek_stat(void *context, const uint8_t *input, size_t input_size,
                                     asylo_output *output, asylo_status *status) {
    (void)context;
    char path[256];
    if (input_size == 0 || input_size >= sizeof path) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "posix_seek_stat needs a path");
    }
    memcpy(path, input, input_size);
    path[input_size] = '\0';
    FILE *file = fopen(path, "w");
    if (file == NULL || fputs("0123456789", file) < 0 || fclose(file) != 0) {
        return posix_failed("writing the file", status);
    }
    struct stat info;
    if (stat(path, &info) != 0) {
        return posix_failed("stat", status);
    }
    if (info.st_size != 10 || !S_ISREG(info.st_mode)) {
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_ENCLAVE,
                                "stat: size %lld mode 0%o, want 10 and a regular file",
                                (long long)info.st_size, (unsigned)info.st_mode);
    }
    char text[16] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return posix_failed("open", status);
    }
    bool ok = lseek(fd, 4, SEEK_SET) == 4 && read(fd, text, 3) == 3;
    ok = ok && lseek(fd, -2, SEEK_END) == 8 && read(fd, text + 3, 8) == 2;
    ok = ok && fstat(fd, &info) == 0 && info.st_size == 10;
    int saved = errno;
    close(fd);
    errno = saved;
    if (!ok) {
        return posix_failed("lseek, read or fstat", status);
    }
    file = fopen(path, "r");
    int seventh = file == NULL || fseek(file, 7, SEEK_SET) != 0 ? EOF : fgetc(file);
    if (file != NULL) {
        fclose(file);
    }
    if (seventh != '7') {
        return posix_failed("fseek", status);
    }
    if (unlink(path) != 0) {
        return posix_failed("unlink", status);
    }
    if (stat(path, &info) == 0 || errno != ENOENT) {
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_ENCLAVE,
                                "stat of the removed file did not fail with ENOENT (errno %d)",
                                errno);
    }
    char result[16];
    int length = snprintf(result, sizeof result, "%.3s|%.2s|%c", text, text + 3, seventh);
    return asylo_output_write(output, result, (size_t)length, status);
}

static asylo_code on_posix_stat_path(void *context, const uint8_t *input, size_t input_size,
                                     asylo_output *output, asylo_status *status) {
    (void)context;
    char path[256];
    if (input_size == 0 || input_size >= sizeof path) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "posix_stat_path needs a path");
    }
    memcpy(path, input, input_size);
    path[input_size] = '\0';
    struct stat info;
    memset(&info, 0, sizeof info);
    errno = 0;
    int32_t result[2];
    result[0] = stat(path, &info);
    result[1] = errno;
    uint64_t size = (uint64_t)info.st_size;
    asylo_code code = asylo_output_write(output, result, sizeof result, status);
    return code == ASYLO_OK ? asylo_output_write(output, &size, sizeof size, status) : code;
}

/* ---- hostile selectors: what a malicious or broken enclave might do ---- */

/* Reads another process's memory through /proc, as an enclave after its
 * host's secrets might. */
static asylo_code on_hostile_read_proc_mem(void *context, const uint8_t *input, size_t input_size,
                                           asylo_output *output, asylo_status *status) {
    (void)context;
    asylo__reader reader;
    asylo__reader_init(&reader, input, input_size, "read_proc_mem input");
    uint32_t pid = asylo__read_u32(&reader);
    uint64_t address = asylo__read_u64(&reader);
    if (asylo__reader_finish(&reader, status) != ASYLO_OK) {
        return status->code;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/%u/mem", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_ENCLAVE,
                                "open %s failed: errno %d", path, errno);
    }
    uint8_t bytes[8];
    ssize_t got = pread(fd, bytes, sizeof bytes, (off_t)address);
    int saved = errno;
    close(fd);
    if (got != (ssize_t)sizeof bytes) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_ENCLAVE,
                                "reading %s failed: errno %d", path, saved);
    }
    return asylo_output_write(output, bytes, sizeof bytes, status);
}

__attribute__((no_sanitize("address", "undefined"))) static void write_byte_at(uint64_t address) {
    *(volatile uint8_t *)(uintptr_t)address = 0x5a;
}

static asylo_code on_hostile_write_host_pointer(void *context, const uint8_t *input,
                                                size_t input_size, asylo_output *output,
                                                asylo_status *status) {
    (void)context, (void)output;
    asylo__reader reader;
    asylo__reader_init(&reader, input, input_size, "write_host_pointer input");
    uint64_t address = asylo__read_u64(&reader);
    if (asylo__reader_finish(&reader, status) != ASYLO_OK) {
        return status->code;
    }
    write_byte_at(address);
    return asylo_status_ok(status);
}

static asylo_code on_hostile_oversized_exit(void *context, const uint8_t *input, size_t input_size,
                                            asylo_output *output, asylo_status *status) {
    (void)context, (void)output;
    uint32_t size;
    if (read_u32_input(input, input_size, &size, status) != ASYLO_OK) {
        return status->code;
    }
    uint8_t *data = malloc(size == 0 ? 1 : size);
    if (data == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_ENCLAVE,
                                "no memory for %u bytes", size);
    }
    memset(data, 0x77, size);
    asylo_buffer reply = {0};
    asylo_code code = asylo_enclave_exit_call(TEST_HOST_ECHO, data, size, &reply, status);
    asylo_buffer_free(&reply);
    free(data);
    return code;
}

static volatile int *volatile null_pointer;
static volatile unsigned long spin_counter;

static asylo_code on_hostile(void *context, const uint8_t *input, size_t input_size,
                             asylo_output *output, asylo_status *status);

/* A real fault, not a sanitizer's report of one (the sanitizer build must
 * see the same crash). */
__attribute__((no_sanitize("address", "undefined"))) static void write_null(void) {
    *null_pointer = 1;
}

static int recurse(int depth) {
    volatile char frame[4096];
    frame[0] = (char)depth;
    return depth <= 0 ? frame[0] : recurse(depth - 1) + frame[0];
}

static asylo_code hostile_result(const char *what, long result, asylo_status *status) {
    /* Reached only where the backend let the call through. */
    return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_ENCLAVE, "%s returned %ld", what,
                            result);
}

static asylo_code on_hostile(void *context, const uint8_t *input, size_t input_size,
                             asylo_output *output, asylo_status *status) {
    uint32_t selector = (uint32_t)(uintptr_t)context;
    (void)output;
    switch (selector) {
    case TEST_HOSTILE_NULL_DEREF:
        write_null();
        return hostile_result("null write", 0, status);
    case TEST_HOSTILE_ABORT:
        abort();
    case TEST_HOSTILE_EXIT: {
        uint32_t code = 3;
        if (input_size == 4) {
            memcpy(&code, input, 4);
        }
        exit((int)code);
    }
    case TEST_HOSTILE_LOOP:
        for (;;) {
            spin_counter++;
        }
    case TEST_HOSTILE_FORK:
        return hostile_result("fork", (long)fork(), status);
    case TEST_HOSTILE_EXECVE: {
        char *const argv[] = {"/bin/sh", NULL};
        return hostile_result("execve", execve("/bin/sh", argv, NULL), status);
    }
    case TEST_HOSTILE_OPEN_SHADOW:
        return hostile_result("open /etc/shadow", open("/etc/shadow", O_RDONLY), status);
    case TEST_HOSTILE_SOCKET:
        return hostile_result("socket", socket(AF_INET, SOCK_STREAM, 0), status);
    case TEST_HOSTILE_PTRACE:
        return hostile_result("ptrace", ptrace(PTRACE_TRACEME, 0, NULL, NULL), status);
    case TEST_HOSTILE_KILL_PARENT:
        return hostile_result("kill parent", kill(getppid(), SIGKILL), status);
    case TEST_HOSTILE_STACK_OVERFLOW:
        return hostile_result("recursion", recurse(1 << 30), status);
    case TEST_HOSTILE_ALLOCATE: {
        /* Bounded (4 GiB) so a backend without a memory limit survives it. */
        enum { BLOCK = 1 << 20, MOST = 4096 };
        static void *blocks[MOST];
        int count = 0;
        while (count < MOST && (blocks[count] = malloc(BLOCK)) != NULL) {
            memset(blocks[count], 1, BLOCK);
            count++;
        }
        for (int i = 0; i < count; i++) {
            free(blocks[i]);
        }
        if (count == MOST) {
            return asylo_status_ok(status);
        }
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_ENCLAVE,
                                "allocation failed after %d MiB", count);
    }
    default:
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_ENCLAVE,
                                "no hostile selector 0x%x", selector);
    }
}

static const struct {
    uint32_t selector;
    asylo_entry_handler_fn handler;
} handlers[] = {
    {TEST_COUNTER, on_counter},
    {TEST_EXIT_CALL, on_exit_call},
    {TEST_GETENV, on_getenv},
    {TEST_FILE_ROUNDTRIP, on_file_roundtrip},
    {TEST_TIME, on_time},
    {TEST_LOG, on_log},
    {TEST_FAIL, on_fail},
    {TEST_BIG_OUTPUT, on_big_output},
    {TEST_SLEEP, on_sleep},
    {TEST_BAD_HANDLE, on_bad_handle},
    {TEST_RANDOM, on_random},
    {TEST_COLLISION, on_collision},
    {TEST_RUN_NESTED, on_run_nested},
    {TEST_FILE_OPEN, on_file_open},
    {TEST_FILE_UNLINK, on_file_unlink},
    {TEST_OUTPUT_IGNORING_LIMIT, on_output_ignoring_limit},
    {TEST_EXIT_THEN_GETENV, on_exit_then_getenv},
    {TEST_SPIN, on_spin},
    {TEST_CRASH_SEGV, on_crash_segv},
    {TEST_EXIT_42, on_exit_42},
    {TEST_PTRACE_TRACEME, on_ptrace_traceme},
    {TEST_POSIX_FILES, on_posix_files},
    {TEST_POSIX_MORE, on_posix_more},
    {TEST_ABORT, on_abort},
    {TEST_FIB, on_fib},
    {TEST_EXIT_THEN_SLEEP, on_exit_then_sleep},
    {TEST_POSIX_SEEK_STAT, on_posix_seek_stat},
    {TEST_POSIX_STAT_PATH, on_posix_stat_path},
    {TEST_HOSTILE_READ_PROC_MEM, on_hostile_read_proc_mem},
    {TEST_HOSTILE_WRITE_HOST_POINTER, on_hostile_write_host_pointer},
    {TEST_HOSTILE_OVERSIZED_EXIT, on_hostile_oversized_exit},
    {TEST_EXIT_LOOP, on_exit_loop},
};

/* Exit-calls `selector` (named by an environment variable) if set: lets tests
 * see what the host allows during initialize and finalize. */
static asylo_code exit_call_from_env(const char *variable, asylo_status *status) {
    const char *value = asylo_enclave_getenv(variable);
    if (value == NULL) {
        return asylo_status_ok(status);
    }
    uint32_t selector = (uint32_t)strtoul(value, NULL, 0);
    return asylo_enclave_exit_call(selector, NULL, 0, NULL, status);
}

static asylo_code test_initialize(const asylo_enclave_config *config, asylo_status *status) {
    (void)config;
    if (asylo_enclave_getenv("FAIL_INIT") != NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "initialize refused: FAIL_INIT is set");
    }
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++) {
        asylo_code code =
            asylo_enclave_register_entry(handlers[i].selector, handlers[i].handler, NULL, status);
        if (code != ASYLO_OK) {
            return code;
        }
    }
    for (uint32_t selector = TEST_HOSTILE_NULL_DEREF; selector <= TEST_HOSTILE_ALLOCATE;
         selector++) {
        asylo_code code =
            asylo_enclave_register_entry(selector, on_hostile, (void *)(uintptr_t)selector, status);
        if (code != ASYLO_OK) {
            return code;
        }
    }
    return exit_call_from_env("INIT_EXIT_SELECTOR", status);
}

static asylo_code test_run(const uint8_t *input, size_t input_size, asylo_output *output,
                           asylo_status *status) {
    return asylo_output_write(output, input, input_size, status);
}

static asylo_code test_finalize(const uint8_t *input, size_t input_size, asylo_status *status) {
    if (input_size == 4 && memcmp(input, "fail", 4) == 0) {
        return asylo_status_set(status, ASYLO_ABORTED, ASYLO_ORIGIN_ENCLAVE,
                                "finalize asked to fail");
    }
    return exit_call_from_env("FINALIZE_EXIT_SELECTOR", status);
}

ASYLO_TRUSTED_APPLICATION(test_initialize, test_run, test_finalize);
