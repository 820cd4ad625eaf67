#include "host/call_gate.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define STATE_SHIFT 29u
#define COUNT_MASK ((UINT32_C(1) << STATE_SHIFT) - 1u)

static uint32_t state_of(uint32_t word) {
    return word >> STATE_SHIFT;
}

void asylo__call_gate_init(asylo__call_gate *gate, int state) {
    atomic_init(&gate->word, (uint32_t)state << STATE_SHIFT);
}

int asylo__call_gate_state(const asylo__call_gate *gate) {
    return (int)state_of(atomic_load(&((asylo__call_gate *)gate)->word));
}

bool asylo__call_gate_enter(asylo__call_gate *gate, int running, int *state) {
    uint32_t word = atomic_load(&gate->word);
    for (;;) {
        if (state_of(word) != (uint32_t)running || (word & COUNT_MASK) == COUNT_MASK) {
            *state = (int)state_of(word);
            return false;
        }
        if (atomic_compare_exchange_weak(&gate->word, &word, word + 1)) {
            return true;
        }
    }
}

void asylo__call_gate_exit(asylo__call_gate *gate, int running) {
    uint32_t before = atomic_fetch_sub(&gate->word, 1);
    if (state_of(before) != (uint32_t)running && (before & COUNT_MASK) == 1) {
        /* FUTEX_WAKE only hashes the address: safe even if the owner is gone. */
        syscall(SYS_futex, &gate->word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
    }
}

bool asylo__call_gate_transition(asylo__call_gate *gate, int from, int to, int *seen) {
    uint32_t word = atomic_load(&gate->word);
    for (;;) {
        if (state_of(word) != (uint32_t)from) {
            *seen = (int)state_of(word);
            return false;
        }
        uint32_t next = ((uint32_t)to << STATE_SHIFT) | (word & COUNT_MASK);
        if (atomic_compare_exchange_weak(&gate->word, &word, next)) {
            return true;
        }
    }
}

void asylo__call_gate_set_state(asylo__call_gate *gate, int state) {
    uint32_t word = atomic_load(&gate->word);
    uint32_t next;
    do {
        next = ((uint32_t)state << STATE_SHIFT) | (word & COUNT_MASK);
    } while (!atomic_compare_exchange_weak(&gate->word, &word, next));
}

void asylo__call_gate_wait_drained(asylo__call_gate *gate) {
    for (;;) {
        uint32_t word = atomic_load(&gate->word);
        if ((word & COUNT_MASK) == 0) {
            return;
        }
        /* Sleeps only while the word is unchanged: no lost wake-up. */
        syscall(SYS_futex, &gate->word, FUTEX_WAIT_PRIVATE, word, NULL, NULL, 0);
    }
}

bool asylo__call_gate_wait_drained_for(asylo__call_gate *gate, uint32_t timeout_ms) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        uint32_t word = atomic_load(&gate->word);
        if ((word & COUNT_MASK) == 0) {
            return true;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long waited_ms =
            (now.tv_sec - start.tv_sec) * 1000L + (now.tv_nsec - start.tv_nsec) / 1000000L;
        if (waited_ms >= (long)timeout_ms) {
            return false;
        }
        /* Exits wake only a finalizing waiter, so poll in short slices. */
        long left_ms = (long)timeout_ms - waited_ms;
        left_ms = left_ms > 5 ? 5 : left_ms;
        struct timespec timeout = {left_ms / 1000, (left_ms % 1000) * 1000000L};
        syscall(SYS_futex, &gate->word, FUTEX_WAIT_PRIVATE, word, &timeout, NULL, 0);
    }
}
