/* The kvm libc test guest: ordinary C against musl's libc.a inside the guest
 * (malloc, stdio, time, errno, the stack protector), one selector each. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guest/guest.h"

enum {
    LIBC_MALLOC = 1, /* allocates, fills, checks and frees many sizes */
    LIBC_SNPRINTF = 2,
    LIBC_PRINTF = 3,  /* printf + fflush to the host's stdout */
    LIBC_TIME = 4,    /* u64 seconds of CLOCK_REALTIME */
    LIBC_ERRNO = 5,   /* strtol overflow: errno ERANGE */
    LIBC_SMASH = 6,   /* overruns a stack buffer: the canary check fires */
    LIBC_EXHAUST = 7, /* mallocs 1 MiB blocks until NULL; u64 count */
    LIBC_EXIT = 8,    /* exit(3) */
};

static int fail(asylo_guest_call *call, const char *message) {
    call->error = message;
    return 13;
}

static int malloc_test(asylo_guest_call *call) {
    static const size_t sizes[] = {1, 16, 100, 4096, 65536, 300000, 2000000};
    for (int round = 0; round < 20; round++) {
        void *blocks[sizeof sizes / sizeof sizes[0]];
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            blocks[i] = malloc(sizes[i]);
            if (blocks[i] == NULL) {
                return fail(call, "malloc returned NULL");
            }
            memset(blocks[i], (int)(i + round), sizes[i]);
        }
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            const unsigned char *bytes = blocks[i];
            if (bytes[0] != (unsigned char)(i + round) ||
                bytes[sizes[i] - 1] != (unsigned char)(i + round)) {
                return fail(call, "a block lost its contents");
            }
            free(blocks[i]);
        }
    }
    return 0;
}

/* The size comes through a volatile, so the compiler cannot see the
 * overrun it is there to cause. */
static volatile size_t smash_size = 48;

static void __attribute__((noinline)) smash(const char *text) {
    char buffer[16];
    size_t size = smash_size;
    for (size_t i = 0; i < size; i++) {
        buffer[i] = text[i];
    }
    __asm__ volatile("" : : "r"(buffer) : "memory");
}

static int put_text(asylo_guest_call *call, const char *text) {
    size_t size = strlen(text);
    memcpy(call->output, text, size);
    call->output_size = size;
    return 0;
}

int asylo_guest_enter(uint32_t selector, asylo_guest_call *call) {
    char text[128];
    switch (selector) {
    case LIBC_MALLOC:
        return malloc_test(call);
    case LIBC_SNPRINTF:
        snprintf(text, sizeof text, "%s %d %.2f %#x", "guest", 42, 2.5, 255u);
        return put_text(call, text);
    case LIBC_PRINTF:
        printf("hello from the kvm guest, %d\n", 7);
        fflush(stdout);
        return 0;
    case LIBC_TIME: {
        struct timespec now;
        if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
            return fail(call, "clock_gettime failed");
        }
        uint64_t seconds = (uint64_t)now.tv_sec;
        memcpy(call->output, &seconds, sizeof seconds);
        call->output_size = sizeof seconds;
        return 0;
    }
    case LIBC_ERRNO:
        errno = 0;
        strtol("999999999999999999999999", NULL, 10);
        snprintf(text, sizeof text, "%s", errno == ERANGE ? "ERANGE" : "no ERANGE");
        return put_text(call, text);
    case LIBC_SMASH:
        smash("0123456789abcdefghijklmnopqrstuvwxyz0123456789ab");
        return 0;
    case LIBC_EXHAUST: {
        uint64_t count = 0;
        while (malloc(1u << 20) != NULL && count < 100000) {
            count++;
        }
        memcpy(call->output, &count, sizeof count);
        call->output_size = sizeof count;
        return 0;
    }
    case LIBC_EXIT:
        exit(3);
    default:
        return fail(call, "unknown selector");
    }
}
