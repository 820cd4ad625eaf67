/* A client's lifecycle state and its count of calls in flight, in one 32-bit
 * atomic word.
 *
 * Why one word: a finishing call must be able to tell "finalize is waiting
 * for me" and wake it without touching the client afterwards, because the
 * moment the count reaches zero the finalizing thread may free the client.
 * With state and count in one word, the decrement itself reports the state
 * it happened under, and the wake is a futex call on the word's address,
 * which the kernel does not dereference. Entering is a compare-and-swap that
 * refuses unless the state is running, so no call slips in after finalize
 * began. No lock on the call path. */
#ifndef ASYLO_HOST_CALL_GATE_H
#define ASYLO_HOST_CALL_GATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct asylo__call_gate {
    _Atomic uint32_t word; /* state in the top 3 bits, calls in flight below */
} asylo__call_gate;

void asylo__call_gate_init(asylo__call_gate *gate, int state);
int asylo__call_gate_state(const asylo__call_gate *gate);
/* Counts a call in when the state is `running`; otherwise returns false and
 * the state seen in *state. */
bool asylo__call_gate_enter(asylo__call_gate *gate, int running, int *state);
/* Counts a call out. Touches nothing of the gate's owner afterwards. */
void asylo__call_gate_exit(asylo__call_gate *gate, int running);
/* Moves the state from `from` to `to` (false, with the state seen in *seen,
 * when it was not `from`). */
bool asylo__call_gate_transition(asylo__call_gate *gate, int from, int to, int *seen);
void asylo__call_gate_set_state(asylo__call_gate *gate, int state);
/* Waits until no call is in flight. */
void asylo__call_gate_wait_drained(asylo__call_gate *gate);
/* Same, for at most timeout_ms; true when drained. */
bool asylo__call_gate_wait_drained_for(asylo__call_gate *gate, uint32_t timeout_ms);

#endif
