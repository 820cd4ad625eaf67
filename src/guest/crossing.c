/* The guest runtime's ring-3 part: reads the boot info, then serves ENTER
 * frames from the window forever, and makes exit calls for the enclave. Each
 * crossing is one `out` to PORT_CALL; the host runs the guest again with its
 * reply in the window. The guest validates every frame the host writes. */
#include <stdint.h>

#include "backends/kvm/kvm_layout.h"
#include "guest/guest.h"
#include "guest/guest_internal.h"

/* asylo_code values the runtime itself returns (asylo/status.h). */
#define CODE_OK 0
#define CODE_INVALID_ARGUMENT 3
#define CODE_RESOURCE_EXHAUSTED 8
#define CODE_INTERNAL 13

static uint8_t *window;
static uint64_t window_payload;
/* The call arena: each nesting level's input and output start where the
 * enclosing call's output ends so far (it is suspended while the nested call
 * runs) and are given back when it returns, so a level costs only what it
 * uses and deep nesting of small calls fits. */
static uint8_t *arena;
static uint8_t *arena_end;
static asylo_guest_call *active; /* the innermost running call, or NULL */
static uint64_t depth;
static char last_error[256];
static uint32_t last_origin;

static void port_out(uint16_t port) {
    __asm__ volatile("outb %%al, %%dx" : : "a"(0), "d"(port) : "memory");
}

/* The runtime cannot go on: tell the host and never return. */
static void __attribute__((noreturn)) halt(void) {
    for (;;) {
        port_out(ASYLO_KVM_PORT_HALT);
    }
}

static asylo__kvm_frame *frame_header(void) {
    return (asylo__kvm_frame *)(void *)window;
}

static void send(uint32_t kind, uint32_t selector, const void *payload, uint64_t size) {
    if (size > 0 && payload != window + ASYLO_KVM_FRAME_HEADER_SIZE) {
        asylo__guest_copy(window + ASYLO_KVM_FRAME_HEADER_SIZE, payload, (size_t)size);
    }
    asylo__kvm_frame frame = {.magic = ASYLO_KVM_FRAME_MAGIC,
                              .kind = kind,
                              .selector = selector,
                              .origin = 0,
                              .size = size,
                              .depth = depth};
    asylo__guest_copy(window, &frame, sizeof frame);
    port_out(ASYLO_KVM_PORT_CALL);
}

/* The host's frame, copied and checked; a bad one halts the guest. */
static asylo__kvm_frame receive(void) {
    asylo__kvm_frame frame;
    asylo__guest_copy(&frame, frame_header(), sizeof frame);
    if (frame.magic != ASYLO_KVM_FRAME_MAGIC || frame.size > window_payload ||
        (frame.kind != ASYLO_KVM_FRAME_ENTER && frame.kind != ASYLO_KVM_FRAME_RETURN &&
         frame.kind != ASYLO_KVM_FRAME_ERROR)) {
        halt();
    }
    return frame;
}

static size_t string_length(const char *text) {
    size_t length = 0;
    while (text[length] != '\0') {
        length++;
    }
    return length;
}

static void send_error(int code, uint32_t origin, const char *message) {
    size_t size = string_length(message);
    if (size > window_payload) {
        size = (size_t)window_payload;
    }
    asylo__guest_copy(window + ASYLO_KVM_FRAME_HEADER_SIZE, message, size);
    asylo__kvm_frame frame = {.magic = ASYLO_KVM_FRAME_MAGIC,
                              .kind = ASYLO_KVM_FRAME_ERROR,
                              .selector = (uint32_t)code,
                              .origin = origin,
                              .size = size,
                              .depth = depth};
    asylo__guest_copy(window, &frame, sizeof frame);
    port_out(ASYLO_KVM_PORT_CALL);
}

/* An ENTER frame: copies the input into the arena, runs the enclave and
 * sends RETURN or ERROR (which the caller's next receive follows). */
static void serve_enter(const asylo__kvm_frame *frame) {
    uintptr_t start =
        active == 0 ? (uintptr_t)arena : (uintptr_t)(active->output + active->output_size);
    uint8_t *base = (uint8_t *)((start + 15) & ~(uintptr_t)15);
    if (base > arena_end || frame->size > (uint64_t)(arena_end - base)) {
        send_error(CODE_RESOURCE_EXHAUSTED, 0, "guest call arena exhausted by nested calls");
        return;
    }
    uint64_t room = (uint64_t)(arena_end - base) - frame->size;
    asylo_guest_call call = {.input = base,
                             .input_size = (size_t)frame->size,
                             .output = base + frame->size,
                             .output_capacity =
                                 (size_t)(room < window_payload ? room : window_payload),
                             .output_size = 0,
                             .error = 0,
                             .origin = 0};
    asylo__guest_copy(base, window + ASYLO_KVM_FRAME_HEADER_SIZE, (size_t)frame->size);
    asylo_guest_call *enclosing = active;
    active = &call;
    depth++;
    int code = asylo_guest_enter(frame->selector, &call);
    depth--;
    active = enclosing;
    if (code == CODE_OK && call.output_size > call.output_capacity) {
        code = CODE_INTERNAL;
        call.error = "enclave handler claimed more output than its buffer holds";
    }
    if (code == CODE_OK) {
        send(ASYLO_KVM_FRAME_RETURN, 0, call.output, call.output_size);
    } else {
        send_error(code, call.origin, call.error != 0 ? call.error : "enclave handler failed");
    }
}

/* Sends an EXIT (or SLEEP) frame and serves nested ENTERs until the host's
 * reply; on OK the reply's payload is left in the window. */
static int exit_frame(uint32_t kind, uint32_t selector, const void *input, size_t input_size,
                      const uint8_t **reply, size_t *reply_size) {
    *reply = 0;
    *reply_size = 0;
    if (input_size > window_payload) {
        return CODE_RESOURCE_EXHAUSTED;
    }
    send(kind, selector, input, input_size);
    for (;;) {
        asylo__kvm_frame frame = receive();
        if (frame.kind == ASYLO_KVM_FRAME_ENTER) {
            serve_enter(&frame);
            continue;
        }
        const uint8_t *payload = window + ASYLO_KVM_FRAME_HEADER_SIZE;
        if (frame.kind == ASYLO_KVM_FRAME_ERROR) {
            size_t size =
                frame.size < sizeof last_error - 1 ? (size_t)frame.size : sizeof last_error - 1;
            asylo__guest_copy(last_error, payload, size);
            last_error[size] = '\0';
            last_origin = frame.origin;
            return frame.selector != CODE_OK ? (int)frame.selector : CODE_INTERNAL;
        }
        *reply = payload;
        *reply_size = (size_t)frame.size;
        return CODE_OK;
    }
}

int asylo_guest_exit_in_window(uint32_t selector, const void *input, size_t input_size,
                               const uint8_t **reply, size_t *reply_size) {
    return exit_frame(ASYLO_KVM_FRAME_EXIT, selector, input, input_size, reply, reply_size);
}

int asylo_guest_exit(uint32_t selector, const void *input, size_t input_size, void *output,
                     size_t output_capacity, size_t *output_size) {
    const uint8_t *reply;
    *output_size = 0;
    int code = exit_frame(ASYLO_KVM_FRAME_EXIT, selector, input, input_size, &reply, output_size);
    if (code == CODE_OK && *output_size > output_capacity) {
        *output_size = 0;
        return CODE_RESOURCE_EXHAUSTED;
    }
    if (code == CODE_OK) {
        asylo__guest_copy(output, reply, *output_size);
    }
    return code;
}

int asylo_guest_sleep(uint64_t seconds, uint64_t nanoseconds) {
    uint64_t request[2] = {seconds, nanoseconds};
    const uint8_t *reply;
    size_t reply_size;
    return exit_frame(ASYLO_KVM_FRAME_SLEEP, 0, request, sizeof request, &reply, &reply_size);
}

const char *asylo_guest_last_error(void) {
    return last_error;
}

uint32_t asylo_guest_last_origin(void) {
    return last_origin;
}

size_t asylo_guest_window_payload(void) {
    return (size_t)window_payload;
}

int __attribute__((weak)) asylo_guest_start(void) {
    return 0;
}

long asylo_guest_syscall(long number, long a0, long a1, long a2, long a3, long a4, long a5) {
    long result;
    register long r10 __asm__("r10") = a3;
    register long r8 __asm__("r8") = a4;
    register long r9 __asm__("r9") = a5;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "a"(number), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return result;
}

void asylo_guest_main(void);
static void __attribute__((noreturn)) serve(void);

void asylo_guest_main(void) {
    const asylo__kvm_boot_info *info = (const asylo__kvm_boot_info *)ASYLO_KVM_BOOT_INFO;
    if (info->magic != ASYLO_KVM_BOOT_INFO_MAGIC || info->version < 1 ||
        info->window_size <= ASYLO_KVM_FRAME_HEADER_SIZE || info->arena_end < info->arena_base) {
        halt();
    }
    window = (uint8_t *)(uintptr_t)info->window_base;
    window_payload = info->window_size - ASYLO_KVM_FRAME_HEADER_SIZE;
    arena = (uint8_t *)(uintptr_t)info->arena_base;
    arena_end = (uint8_t *)(uintptr_t)info->arena_end;
    asylo__guest_runtime_start(serve);
}

/* Runs once the C environment is up (asylo__guest_runtime_start). */
static void __attribute__((noreturn)) serve(void) {
    if (asylo_guest_start() != 0) {
        halt();
    }
    send(ASYLO_KVM_FRAME_READY, 0, 0, 0);
    for (;;) {
        asylo__kvm_frame frame = receive();
        if (frame.kind != ASYLO_KVM_FRAME_ENTER) {
            halt();
        }
        serve_enter(&frame);
    }
}
