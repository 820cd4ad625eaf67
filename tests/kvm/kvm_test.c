/* The kvm VMM against the kvm test guest: boot, the crossing both ways and
 * nested, and every hostile-guest case the VMM must turn into a status while
 * the host survives. Skips (exit 77) with the reason where /dev/kvm is
 * unusable. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/kvm/kvm_layout.h"
#include "backends/kvm/kvm_vm.h"
#include "common/bytes_output.h"
#include "kvm_test_selectors.h"

#define TIMEOUT_MS 10000

typedef struct host_context {
    asylo__kvm_vm *vm;
    int exits;
} host_context;

static host_context host;

static asylo_code dispatch(void *context, uint32_t selector, const uint8_t *input,
                           size_t input_size, asylo_output *output, asylo_status *status) {
    host_context *self = context;
    self->exits++;
    if (selector == 1) {
        if (input_size >= 4 && memcmp(input, "fail", 4) == 0) {
            return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_HOST,
                                    "host refuses");
        }
        return asylo_output_write(output, input, input_size, status);
    }
    if (selector == 2) {
        /* Nested: enter the guest again from inside its exit call. */
        asylo__bytes_output collector;
        asylo__bytes_output_init(&collector, 1024);
        asylo_code code = asylo__kvm_vm_enter(self->vm, KVM_TEST_NEST, input, input_size,
                                              &collector.output, 0, status);
        if (code == ASYLO_OK) {
            code = asylo_output_write(output, collector.bytes.data, collector.bytes.size, status);
        }
        asylo__bytes_output_fini(&collector);
        return code;
    }
    return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_HOST, "no exit %u", selector);
}

static asylo__kvm_vm *create(uint16_t open_port) {
    asylo__kvm_options options = {.exits = {.context = &host, .dispatch = dispatch},
                                  .test_open_port = open_port};
    asylo__kvm_vm *vm = NULL;
    asylo_status status;
    asylo_code code = asylo__kvm_vm_create(KVM_TEST_GUEST, &options, &vm, NULL, &status);
    if (code != ASYLO_OK) {
        fail_msg("create: %s", status.message);
    }
    host.vm = vm;
    host.exits = 0;
    return vm;
}

/* Enters and returns the code; the output lands in *out (freed by caller). */
static asylo_code call(asylo__kvm_vm *vm, uint32_t selector, const void *input, size_t size,
                       asylo__bytes_output *out, asylo_status *status, int64_t timeout_ms) {
    asylo__bytes_output_init(out, ASYLO__KVM_WINDOW_SIZE);
    return asylo__kvm_vm_enter(vm, selector, input, size, &out->output, timeout_ms, status);
}

static void expect_fault(uint32_t selector, uint64_t argument, const char *needle,
                         uint16_t open_port) {
    asylo__kvm_vm *vm = create(open_port);
    asylo__bytes_output out;
    asylo_status status;
    asylo_code code = call(vm, selector, &argument, sizeof argument, &out, &status, TIMEOUT_MS);
    asylo__bytes_output_fini(&out);
    printf("selector %u: %s\n", selector, status.message);
    assert_int_not_equal(code, ASYLO_OK);
    if (strstr(status.message, needle) == NULL) {
        fail_msg("'%s' not in '%s'", needle, status.message);
    }
    assert_true(asylo__kvm_vm_is_lost(vm));
    /* A lost VM refuses further calls, saying why. */
    code = call(vm, KVM_TEST_ECHO, "x", 1, &out, &status, TIMEOUT_MS);
    asylo__bytes_output_fini(&out);
    assert_int_equal(code, ASYLO_ABORTED);
    assert_non_null(strstr(status.message, needle));
    asylo__kvm_vm_destroy(vm);
}

static void test_boot_times(void **state) {
    (void)state;
    asylo__kvm_options options = {0};
    asylo__kvm_vm *vm = NULL;
    asylo__kvm_create_times times = {0};
    asylo_status status;
    assert_int_equal(asylo__kvm_vm_create(KVM_TEST_GUEST, &options, &vm, &times, &status),
                     ASYLO_OK);
    printf("setup %.3f ms, boot to first exit %.3f ms\n", times.setup_ns / 1e6,
           times.boot_ns / 1e6);
    assert_true(times.boot_ns > 0);
    asylo__kvm_vm_destroy(vm);
}

static void test_echo_sizes(void **state) {
    (void)state;
    asylo__kvm_vm *vm = create(0);
    static uint8_t data[ASYLO__KVM_WINDOW_SIZE];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)(i * 7 + 3);
    }
    const size_t capacity = ASYLO__KVM_WINDOW_SIZE - ASYLO_KVM_FRAME_HEADER_SIZE;
    const size_t sizes[] = {0, 1, 64, 4096, 65536, capacity};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        asylo__bytes_output out;
        asylo_status status;
        assert_int_equal(call(vm, KVM_TEST_ECHO, data, sizes[i], &out, &status, TIMEOUT_MS),
                         ASYLO_OK);
        assert_int_equal(out.bytes.size, sizes[i]);
        assert_memory_equal(out.bytes.data, data, sizes[i]);
        asylo__bytes_output_fini(&out);
    }
    asylo__bytes_output out;
    asylo_status status;
    assert_int_equal(call(vm, KVM_TEST_ECHO, data, capacity + 1, &out, &status, TIMEOUT_MS),
                     ASYLO_RESOURCE_EXHAUSTED);
    asylo__bytes_output_fini(&out);
    /* An enclave error arrives with its code and message; the VM lives on. */
    assert_int_equal(call(vm, KVM_TEST_FAIL, NULL, 0, &out, &status, TIMEOUT_MS),
                     ASYLO_INVALID_ARGUMENT);
    assert_string_equal(status.message, "test failure");
    assert_int_equal(status.origin, ASYLO_ORIGIN_ENCLAVE);
    asylo__bytes_output_fini(&out);
    assert_false(asylo__kvm_vm_is_lost(vm));
    asylo__kvm_vm_destroy(vm);
}

static void test_exit_calls(void **state) {
    (void)state;
    asylo__kvm_vm *vm = create(0);
    asylo__bytes_output out;
    asylo_status status;
    assert_int_equal(call(vm, KVM_TEST_EXIT_ECHO, "hello", 5, &out, &status, TIMEOUT_MS), ASYLO_OK);
    assert_int_equal(out.bytes.size, 5);
    assert_memory_equal(out.bytes.data, "hello", 5);
    asylo__bytes_output_fini(&out);
    assert_int_equal(host.exits, 1);
    /* A host handler's error reaches the guest, which returns it. */
    assert_int_equal(call(vm, KVM_TEST_EXIT_ECHO, "fail", 4, &out, &status, TIMEOUT_MS),
                     ASYLO_PERMISSION_DENIED);
    assert_string_equal(status.message, "host refuses");
    asylo__bytes_output_fini(&out);
    asylo__kvm_vm_destroy(vm);
}

static void test_nested(void **state) {
    (void)state;
    asylo__kvm_vm *vm = create(0);
    asylo__bytes_output out;
    asylo_status status;
    uint32_t n = 20;
    assert_int_equal(call(vm, KVM_TEST_NEST, &n, sizeof n, &out, &status, TIMEOUT_MS), ASYLO_OK);
    assert_int_equal(host.exits, 20);
    asylo__bytes_output_fini(&out);
    /* 10,000 nested calls are refused at the depth limit, cleanly. */
    n = 10000;
    asylo_code code = call(vm, KVM_TEST_NEST, &n, sizeof n, &out, &status, TIMEOUT_MS);
    asylo__bytes_output_fini(&out);
    printf("10,000 nested: %s\n", status.message);
    assert_int_equal(code, ASYLO_RESOURCE_EXHAUSTED);
    assert_false(asylo__kvm_vm_is_lost(vm));
    assert_int_equal(call(vm, KVM_TEST_ECHO, "ok", 2, &out, &status, TIMEOUT_MS), ASYLO_OK);
    asylo__bytes_output_fini(&out);
    asylo__kvm_vm_destroy(vm);
}

static void test_sse_and_tls(void **state) {
    (void)state;
    asylo__kvm_vm *vm = create(0);
    asylo__bytes_output out;
    asylo_status status;
    assert_int_equal(call(vm, KVM_TEST_SSE_TLS, NULL, 0, &out, &status, TIMEOUT_MS), ASYLO_OK);
    assert_int_equal(out.bytes.size, 24);
    uint64_t result[3];
    memcpy(result, out.bytes.data, sizeof result);
    double expected = 1.5;
    for (int i = 0; i < 10; i++) {
        expected = expected * 2.0 + 0.25;
    }
    assert_int_equal(result[0], (uint64_t)expected);
    assert_true(result[1] != 0 && (result[1] & 0xff) == 0); /* the canary */
    size_t memory_size = 0;
    asylo__kvm_vm_guest_memory(vm, &memory_size);
    assert_int_equal(result[2], memory_size - ASYLO__KVM_WINDOW_SIZE - ASYLO_KVM_PAGE_SIZE);
    asylo__bytes_output_fini(&out);
    asylo__kvm_vm_destroy(vm);
}

static int64_t guest_syscall(asylo__kvm_vm *vm, uint64_t number, uint64_t a0, uint64_t a1,
                             uint64_t a2) {
    uint64_t args[7] = {number, a0, a1, a2, 0, 0, 0};
    asylo__bytes_output out;
    asylo_status status;
    asylo_code code = call(vm, KVM_TEST_SYSCALL, args, sizeof args, &out, &status, TIMEOUT_MS);
    if (code != ASYLO_OK) {
        fail_msg("system call %llu: %s", (unsigned long long)number, status.message);
    }
    int64_t result;
    assert_int_equal(out.bytes.size, sizeof result);
    memcpy(&result, out.bytes.data, sizeof result);
    asylo__bytes_output_fini(&out);
    return result;
}

static void test_syscalls(void **state) {
    (void)state;
    asylo__kvm_vm *vm = create(0);
    assert_int_equal(guest_syscall(vm, 39, 0, 0, 0), 1); /* getpid */
    assert_int_equal(guest_syscall(vm, 9999, 0, 0, 0), -38);
    /* Pointers into the ring-0 region or past memory are refused. */
    assert_int_equal(guest_syscall(vm, 1, 1, ASYLO_KVM_GDT, 8), -14);
    assert_int_equal(guest_syscall(vm, 1, 1, ~0ull - 4, 8), -14);
    assert_int_equal(guest_syscall(vm, 318, ASYLO_KVM_PML4, 8, 0), -14);
    /* write(2, <guest code>, 0) is a valid empty write. */
    assert_int_equal(guest_syscall(vm, 1, 2, ASYLO_KVM_USER_BASE, 0), 0);
    asylo__kvm_vm_destroy(vm);
}

static void test_faults(void **state) {
    (void)state;
    expect_fault(KVM_TEST_UD2, 0, "vector 6 (#UD invalid opcode) at rip 0x2", 0);
    expect_fault(KVM_TEST_NULL, 0, "address (cr2) 0x0,", 0);
    expect_fault(KVM_TEST_WRITE_PT, 0, "address (cr2) 0x1000,", 0);
    expect_fault(KVM_TEST_PORT, 0, "vector 13 (#GP", 0);
    expect_fault(KVM_TEST_PORT, 0, "unknown port 0x99", KVM_TEST_OPEN_PORT);
    expect_fault(KVM_TEST_STACK_SMASH, 0, "vector 14 (#PF page fault)", 0);
}

static void test_bad_frames(void **state) {
    (void)state;
    const uint64_t capacity = ASYLO__KVM_WINDOW_SIZE - ASYLO_KVM_FRAME_HEADER_SIZE;
    const uint64_t sizes[] = {capacity + 1, 1ull << 40, ~0ull, (uint64_t)INT64_MIN};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        expect_fault(KVM_TEST_BAD_FRAME, sizes[i], "malformed frame", 0);
    }
    expect_fault(KVM_TEST_BAD_MAGIC, 0, "malformed frame (magic 0x12345678", 0);
    /* Exactly the window's payload is a valid frame. */
    asylo__kvm_vm *vm = create(0);
    asylo__bytes_output out;
    asylo_status status;
    uint64_t size = capacity;
    assert_int_equal(call(vm, KVM_TEST_BAD_FRAME, &size, sizeof size, &out, &status, TIMEOUT_MS),
                     ASYLO_OK);
    assert_int_equal(out.bytes.size, capacity);
    asylo__bytes_output_fini(&out);
    asylo__kvm_vm_destroy(vm);
}

static void test_triple_fault(void **state) {
    (void)state;
    asylo__kvm_vm *vm = create(0);
    size_t size = 0;
    uint8_t *memory = asylo__kvm_vm_guest_memory(vm, &size);
    /* No IDT: the #UD cannot be delivered, nor the #DF after it. */
    memset(memory + ASYLO_KVM_IDT, 0, ASYLO_KVM_PAGE_SIZE);
    asylo__bytes_output out;
    asylo_status status;
    asylo_code code = call(vm, KVM_TEST_UD2, NULL, 0, &out, &status, TIMEOUT_MS);
    asylo__bytes_output_fini(&out);
    printf("%s\n", status.message);
    assert_int_equal(code, ASYLO_ABORTED);
    assert_non_null(strstr(status.message, "triple-faulted"));
    assert_true(asylo__kvm_vm_is_lost(vm));
    asylo__kvm_vm_destroy(vm);
}

static int64_t now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void test_runaway_deadline(void **state) {
    (void)state;
    asylo__kvm_vm *vm = create(0);
    asylo__bytes_output out;
    asylo_status status;
    int64_t start = now_ms();
    asylo_code code = call(vm, KVM_TEST_LOOP, NULL, 0, &out, &status, 200);
    int64_t took = now_ms() - start;
    asylo__bytes_output_fini(&out);
    printf("runaway interrupted after %lld ms: %s\n", (long long)took, status.message);
    assert_int_equal(code, ASYLO_DEADLINE_EXCEEDED);
    assert_true(took >= 200 && took < 5000);
    assert_true(asylo__kvm_vm_is_lost(vm));
    asylo__kvm_vm_destroy(vm);
}

static void *abandon_later(void *argument) {
    usleep(150 * 1000);
    asylo__kvm_vm_abandon(argument);
    return NULL;
}

static void test_runaway_abandon(void **state) {
    (void)state;
    asylo__kvm_vm *vm = create(0);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, abandon_later, vm), 0);
    asylo__bytes_output out;
    asylo_status status;
    int64_t start = now_ms();
    asylo_code code = call(vm, KVM_TEST_LOOP, NULL, 0, &out, &status, 0);
    int64_t took = now_ms() - start;
    pthread_join(thread, NULL);
    asylo__bytes_output_fini(&out);
    printf("abandoned after %lld ms: %s\n", (long long)took, status.message);
    assert_int_equal(code, ASYLO_CANCELLED);
    assert_true(took < 5000);
    asylo__kvm_vm_destroy(vm);
}

static void test_wrong_images(void **state) {
    (void)state;
    asylo__kvm_options options = {0};
    asylo__kvm_vm *vm = NULL;
    asylo_status status;
    assert_int_equal(asylo__kvm_vm_create(SIM_TEST_ENCLAVE, &options, &vm, NULL, &status),
                     ASYLO_INVALID_ARGUMENT);
    printf("%s\n", status.message);
    assert_non_null(strstr(status.message, "BACKENDS kvm"));
    assert_int_equal(asylo__kvm_vm_create("/nonexistent/guest.kvm", &options, &vm, NULL, &status),
                     ASYLO_NOT_FOUND);
    /* A guest memory size the layout cannot hold. */
    options.memory_size = 3u << 20;
    assert_int_equal(asylo__kvm_vm_create(KVM_TEST_GUEST, &options, &vm, NULL, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_null(vm);
}

int main(int argc, char **argv) {
    asylo_status status;
    if (asylo__kvm_probe(&status) != ASYLO_OK) {
        printf("SKIP: %s\n", status.message);
        return 77;
    }
    if (argc > 1 && strcmp(argv[1], "--probe") == 0) {
        printf("kvm is usable\n");
        return 0;
    }
    alarm(120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boot_times),      cmocka_unit_test(test_echo_sizes),
        cmocka_unit_test(test_exit_calls),      cmocka_unit_test(test_nested),
        cmocka_unit_test(test_sse_and_tls),     cmocka_unit_test(test_syscalls),
        cmocka_unit_test(test_faults),          cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_triple_fault),    cmocka_unit_test(test_runaway_deadline),
        cmocka_unit_test(test_runaway_abandon), cmocka_unit_test(test_wrong_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
