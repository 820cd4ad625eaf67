#include "host/call_gate.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"

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

void asylo__call_gate_finish(asylo__call_gate *gate, int state) {
    asylo__call_gate_set_state(gate, state);
    /* As in exit: the wake only hashes the address, safe if the owner is gone. */
    syscall(SYS_futex, &gate->word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

bool asylo__call_gate_wait_settled(asylo__call_gate *gate, int busy, int64_t timeout_ms) {
    int64_t deadline_ms = timeout_ms < 0 ? 0 : asylo__monotonic_ms() + timeout_ms;
    for (;;) {
        uint32_t word = atomic_load(&gate->word);
        if ((word & COUNT_MASK) == 0 && state_of(word) != (uint32_t)busy) {
            return true;
        }
        struct timespec left;
        struct timespec *bound = NULL;
        if (timeout_ms >= 0) {
            int64_t left_ms = deadline_ms - asylo__monotonic_ms();
            if (left_ms <= 0) {
                return false;
            }
            /* FUTEX_WAIT takes a relative timeout. */
            left = (struct timespec){(time_t)(left_ms / 1000), (long)(left_ms % 1000) * 1000000L};
            bound = &left;
        }
        /* Sleeps only while the word is unchanged: no lost wake-up. */
        syscall(SYS_futex, &gate->word, FUTEX_WAIT_PRIVATE, word, bound, NULL, 0);
    }
}
