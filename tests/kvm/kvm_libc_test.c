/* Ordinary C inside a kvm guest: musl's malloc, stdio, clocks, errno and
 * stack protector work, and a guest that exhausts its memory, smashes its
 * stack or calls exit is reported while the host lives on. Skips (exit 77)
 * where /dev/kvm is unusable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/kvm/kvm_vm.h"
#include "common/bytes_output.h"

#define TIMEOUT_MS 20000

static asylo__kvm_vm *create(void) {
    asylo__kvm_options options = {0};
    asylo__kvm_vm *vm = NULL;
    asylo_status status;
    if (asylo__kvm_vm_create(KVM_LIBC_GUEST, &options, &vm, NULL, &status) != ASYLO_OK) {
        fail_msg("create: %s", status.message);
    }
    return vm;
}

static asylo_code call(asylo__kvm_vm *vm, uint32_t selector, asylo__bytes_output *out,
                       asylo_status *status) {
    asylo__bytes_output_init(out, 1u << 20);
    return asylo__kvm_vm_enter(vm, selector, NULL, 0, &out->output, TIMEOUT_MS, status);
}

static void expect_text(asylo__kvm_vm *vm, uint32_t selector, const char *text) {
    asylo__bytes_output out;
    asylo_status status;
    asylo_code code = call(vm, selector, &out, &status);
    if (code != ASYLO_OK) {
        fail_msg("selector %u: %s", selector, status.message);
    }
    assert_int_equal(out.bytes.size, strlen(text));
    assert_memory_equal(out.bytes.data, text, strlen(text));
    asylo__bytes_output_fini(&out);
}

static void test_libc_works(void **state) {
    (void)state;
    asylo__kvm_vm *vm = create();
    expect_text(vm, 1, "");
    expect_text(vm, 2, "guest 42 2.50 0xff");
    expect_text(vm, 3, "");
    expect_text(vm, 5, "ERANGE");
    asylo__bytes_output out;
    asylo_status status;
    assert_int_equal(call(vm, 4, &out, &status), ASYLO_OK);
    uint64_t seconds = 0;
    assert_int_equal(out.bytes.size, sizeof seconds);
    memcpy(&seconds, out.bytes.data, sizeof seconds);
    int64_t difference = (int64_t)seconds - (int64_t)time(NULL);
    assert_true(difference > -5 && difference < 5);
    asylo__bytes_output_fini(&out);
    /* Again: the allocator reuses what it freed. */
    expect_text(vm, 1, "");
    asylo__kvm_vm_destroy(vm);
}

static void test_memory_exhaustion(void **state) {
    (void)state;
    asylo__kvm_vm *vm = create();
    asylo__bytes_output out;
    asylo_status status;
    asylo_code code = call(vm, 7, &out, &status);
    if (code != ASYLO_OK) {
        fail_msg("exhaust: %s", status.message);
    }
    uint64_t count = 0;
    memcpy(&count, out.bytes.data, sizeof count);
    printf("malloc gave %llu MiB before NULL\n", (unsigned long long)count);
    assert_true(count > 0 && count < 64);
    asylo__bytes_output_fini(&out);
    asylo__kvm_vm_destroy(vm);
}

static void expect_lost(uint32_t selector, const char *needle) {
    asylo__kvm_vm *vm = create();
    asylo__bytes_output out;
    asylo_status status;
    asylo_code code = call(vm, selector, &out, &status);
    asylo__bytes_output_fini(&out);
    printf("selector %u: %s\n", selector, status.message);
    assert_int_not_equal(code, ASYLO_OK);
    if (strstr(status.message, needle) == NULL) {
        fail_msg("'%s' not in '%s'", needle, status.message);
    }
    assert_true(asylo__kvm_vm_is_lost(vm));
    asylo__kvm_vm_destroy(vm);
}

static void test_smash_and_exit(void **state) {
    (void)state;
    /* musl's __stack_chk_fail crashes with hlt: a #GP in ring 3. */
    expect_lost(6, "vector 13 (#GP");
    expect_lost(8, "exited with status 3");
}

int main(void) {
    asylo_status status;
    if (asylo__kvm_probe(&status) != ASYLO_OK) {
        printf("SKIP: %s\n", status.message);
        return 77;
    }
    alarm(120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libc_works),
        cmocka_unit_test(test_memory_exhaustion),
        cmocka_unit_test(test_smash_and_exit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
