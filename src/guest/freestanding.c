/* The guest runtime without a C library: the four functions the compiler may
 * call on its own (memcpy, memmove, memset, memcmp) and an empty start-up.
 * Guests linked with musl's libc.a use musl's instead (libc_env.c). */
#include <stddef.h>
#include <stdint.h>

#include "guest/guest_internal.h"

void *memcpy(void *to, const void *from, size_t size);
void *memmove(void *to, const void *from, size_t size);
void *memset(void *to, int value, size_t size);
int memcmp(const void *left, const void *right, size_t size);

void asylo__guest_copy(void *to, const void *from, size_t size) {
    __asm__ volatile("rep movsb" : "+D"(to), "+S"(from), "+c"(size) : : "memory");
}

void *memcpy(void *to, const void *from, size_t size) {
    asylo__guest_copy(to, from, size);
    return to;
}

void *memmove(void *to, const void *from, size_t size) {
    uint8_t *out = to;
    const uint8_t *in = from;
    if (out <= in || out >= in + size) {
        asylo__guest_copy(to, from, size);
    } else {
        for (size_t i = size; i > 0; i--) {
            out[i - 1] = in[i - 1];
        }
    }
    return to;
}

void *memset(void *to, int value, size_t size) {
    void *cursor = to;
    __asm__ volatile("rep stosb" : "+D"(cursor), "+c"(size) : "a"(value) : "memory");
    return to;
}

int memcmp(const void *left, const void *right, size_t size) {
    const uint8_t *a = left;
    const uint8_t *b = right;
    for (size_t i = 0; i < size; i++) {
        if (a[i] != b[i]) {
            return a[i] < b[i] ? -1 : 1;
        }
    }
    return 0;
}

void asylo__guest_runtime_start(void (*serve)(void)) {
    serve();
    __builtin_unreachable();
}
