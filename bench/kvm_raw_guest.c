/* The minimal guest of the kvm rows' raw baselines: no C library, no trusted
 * runtime, only the guest runtime's ring-0 stubs and crossing code (built
 * freestanding by asylo_add_kvm_guest). Selector 1 makes n raw `out` exits
 * from ring 3 to a port the VMM answers at once; selector 2 makes n raw
 * `syscall`s (getpid), each one exit from the ring-0 handler. n is a u64
 * input; the output is empty. */
#include <stdint.h>

#include "backends/kvm/kvm_layout.h"
#include "guest/guest.h"

int asylo_guest_enter(uint32_t selector, asylo_guest_call *call) {
    uint64_t count = 0;
    if (call->input_size >= sizeof count) {
        __builtin_memcpy(&count, call->input, sizeof count);
    }
    call->output_size = 0;
    switch (selector) {
    case 1:
        for (uint64_t i = 0; i < count; i++) {
            __asm__ volatile("outb %%al, %%dx" : : "a"(0), "d"(ASYLO_KVM_PORT_BENCH) : "memory");
        }
        return 0;
    case 2:
        for (uint64_t i = 0; i < count; i++) {
            asylo_guest_syscall(39, 0, 0, 0, 0, 0, 0);
        }
        return 0;
    default:
        call->error = "unknown selector";
        return 12;
    }
}
