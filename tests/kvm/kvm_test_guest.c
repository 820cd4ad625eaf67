/* The kvm test guest: one selector per behaviour the VMM must handle, good
 * and hostile (kvm_test_selectors.h). Built freestanding with the guest
 * runtime by asylo_add_kvm_guest. */
#include <stdint.h>

#include "backends/kvm/kvm_layout.h"
#include "guest/guest.h"
#include "kvm_test_selectors.h"

static uint64_t input_u64(const asylo_guest_call *call) {
    uint64_t value = 0;
    if (call->input_size >= sizeof value) {
        __builtin_memcpy(&value, call->input, sizeof value);
    }
    return value;
}

static int output_u64(asylo_guest_call *call, uint64_t value) {
    __builtin_memcpy(call->output, &value, sizeof value);
    call->output_size = sizeof value;
    return 0;
}

static int nest(asylo_guest_call *call) {
    uint32_t n = 0;
    if (call->input_size != sizeof n) {
        call->error = "nest wants a u32";
        return 3;
    }
    __builtin_memcpy(&n, call->input, sizeof n);
    if (n > 0) {
        uint32_t next = n - 1;
        size_t size = 0;
        int code =
            asylo_guest_exit(2, &next, sizeof next, call->output, call->output_capacity, &size);
        if (code != 0) {
            call->error = asylo_guest_last_error();
            return code;
        }
    }
    uint32_t reached = n;
    __builtin_memcpy(call->output, &reached, sizeof reached);
    call->output_size = sizeof reached;
    return 0;
}

static volatile double sse_operand = 1.5;

static int sse_tls(asylo_guest_call *call) {
    double value = sse_operand;
    for (int i = 0; i < 10; i++) {
        value = value * 2.0 + 0.25;
    }
    uint64_t canary;
    __asm__ volatile("movq %%fs:0x28, %0" : "=r"(canary));
    uint64_t self;
    __asm__ volatile("movq %%fs:0, %0" : "=r"(self));
    uint64_t result[3] = {(uint64_t)value, canary, self};
    __builtin_memcpy(call->output, result, sizeof result);
    call->output_size = sizeof result;
    return 0;
}

/* Recursion bounded only by a count the compiler cannot see through, so it
 * runs into the guard page below the stack. */
static volatile int smash_limit = 1 << 30;

static int stack_smash(int depth) {
    volatile char pad[4096];
    pad[0] = (char)depth;
    if (depth >= smash_limit) {
        return pad[0];
    }
    return stack_smash(depth + 1) + pad[0];
}

/* A frame the host must refuse: written straight into the window. */
static void bad_frame(uint32_t magic, uint64_t size) {
    const asylo__kvm_boot_info *info = (const asylo__kvm_boot_info *)ASYLO_KVM_BOOT_INFO;
    asylo__kvm_frame *frame = (asylo__kvm_frame *)(uintptr_t)info->window_base;
    frame->magic = magic;
    frame->kind = ASYLO_KVM_FRAME_RETURN;
    frame->size = size;
    __asm__ volatile("outb %%al, %%dx" : : "a"(0), "d"(ASYLO_KVM_PORT_CALL) : "memory");
}

int asylo_guest_enter(uint32_t selector, asylo_guest_call *call) {
    switch (selector) {
    case KVM_TEST_ECHO:
        __builtin_memcpy(call->output, call->input, call->input_size);
        call->output_size = call->input_size;
        return 0;
    case KVM_TEST_UD2:
        __asm__ volatile("ud2");
        return 0;
    case KVM_TEST_LOOP:
        for (;;) {
            __asm__ volatile("" ::: "memory");
        }
    case KVM_TEST_NULL:
        return *(volatile int *)(uintptr_t)input_u64(call);
    case KVM_TEST_WRITE_PT:
        *(volatile uint64_t *)(uintptr_t)ASYLO_KVM_PML4 = 0;
        return 0;
    case KVM_TEST_PORT:
        __asm__ volatile("outb %%al, %%dx" : : "a"(0), "d"(KVM_TEST_OPEN_PORT) : "memory");
        return 0;
    case KVM_TEST_EXIT_ECHO: {
        size_t size = 0;
        int code = asylo_guest_exit(1, call->input, call->input_size, call->output,
                                    call->output_capacity, &size);
        call->output_size = size;
        call->error = code != 0 ? asylo_guest_last_error() : 0;
        return code;
    }
    case KVM_TEST_NEST:
        return nest(call);
    case KVM_TEST_SSE_TLS:
        return sse_tls(call);
    case KVM_TEST_SYSCALL: {
        uint64_t a[7] = {0};
        if (call->input_size != sizeof a) {
            call->error = "syscall wants 7 u64";
            return 3;
        }
        __builtin_memcpy(a, call->input, sizeof a);
        return output_u64(call, (uint64_t)asylo_guest_syscall((long)a[0], (long)a[1], (long)a[2],
                                                              (long)a[3], (long)a[4], (long)a[5],
                                                              (long)a[6]));
    }
    case KVM_TEST_BENCH_OUT:
        for (uint64_t i = input_u64(call); i > 0; i--) {
            __asm__ volatile("outb %%al, %%dx" : : "a"(0), "d"(ASYLO_KVM_PORT_BENCH) : "memory");
        }
        return 0;
    case KVM_TEST_BENCH_SYSCALL:
        for (uint64_t i = input_u64(call); i > 0; i--) {
            asylo_guest_syscall(39, 0, 0, 0, 0, 0, 0);
        }
        return 0;
    case KVM_TEST_BAD_FRAME:
        bad_frame(ASYLO_KVM_FRAME_MAGIC, input_u64(call));
        return 0;
    case KVM_TEST_BAD_MAGIC:
        bad_frame(0x12345678, 0);
        return 0;
    case KVM_TEST_STACK_SMASH:
        return stack_smash(0);
    case KVM_TEST_FAIL:
        call->error = "test failure";
        return 3;
    default:
        call->error = "unknown selector";
        return 12;
    }
}
