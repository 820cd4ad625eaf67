/* The trusted runtime inside a kvm guest: tests/enclaves/test_enclave.c
 * built as a kvm image (musl + BearSSL + src/enclave) and driven through
 * the raw enclave ABI selectors over the VMM, as the host library drives the
 * sim image. Skips (exit 77) where /dev/kvm is unusable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "asylo/enclave_config.h"
#include "asylo/selectors.h"
#include "backends/kvm/kvm_vm.h"
#include "common/bytes_output.h"
#include "common/enclave_config_codec.h"
#include "test_enclave_selectors.h"

#define TIMEOUT_MS 20000
#define HOST_ECHO 0x2001

static int host_exits;

static asylo_code dispatch(void *context, uint32_t selector, const uint8_t *input,
                           size_t input_size, asylo_output *output, asylo_status *status) {
    (void)context;
    host_exits++;
    if (selector == HOST_ECHO) {
        return asylo_output_write(output, input, input_size, status);
    }
    return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_HOST, "no exit 0x%x", selector);
}

static asylo_code enter(asylo__kvm_vm *vm, uint32_t selector, const void *input, size_t size,
                        asylo__bytes_output *out, asylo_status *status) {
    asylo__bytes_output_init(out, 1u << 20);
    asylo_code code =
        asylo__kvm_vm_enter(vm, selector, input, size, &out->output, TIMEOUT_MS, status);
    if (code != ASYLO_OK) {
        printf("selector 0x%x: %s: %s\n", selector, asylo_code_name(code), status->message);
    }
    return code;
}

static asylo__kvm_vm *load_and_initialize(void) {
    asylo__kvm_options options = {.exits = {.dispatch = dispatch}};
    asylo__kvm_vm *vm = NULL;
    asylo_status status;
    if (asylo__kvm_vm_create(TEST_ENCLAVE_KVM, &options, &vm, NULL, &status) != ASYLO_OK) {
        fail_msg("create: %s", status.message);
    }
    static const asylo_environment_variable environment[] = {{"NAME", "value"}};
    asylo_enclave_config config = {
        .log_level = ASYLO_LOG_WARNING, .environment = environment, .environment_count = 1};
    asylo__bytes encoded;
    asylo__bytes_init(&encoded, ASYLO__BYTES_DEFAULT_LIMIT);
    assert_int_equal(asylo__enclave_config_encode(&config, &encoded, &status), ASYLO_OK);
    asylo__bytes_output out;
    asylo_code code =
        enter(vm, ASYLO_SELECTOR_INITIALIZE, encoded.data, encoded.size, &out, &status);
    asylo__bytes_output_fini(&out);
    asylo__bytes_fini(&encoded);
    if (code != ASYLO_OK) {
        fail_msg("initialize: %s", status.message);
    }
    return vm;
}

static void test_basic_selectors(void **state) {
    (void)state;
    asylo__kvm_vm *vm = load_and_initialize();
    asylo__bytes_output out;
    asylo_status status;

    assert_int_equal(enter(vm, TEST_GETENV, "NAME", 4, &out, &status), ASYLO_OK);
    assert_int_equal(out.bytes.size, 5);
    assert_memory_equal(out.bytes.data, "value", 5);
    asylo__bytes_output_fini(&out);

    assert_int_equal(enter(vm, TEST_COUNTER, NULL, 0, &out, &status), ASYLO_OK);
    assert_int_equal(out.bytes.size, 8);
    asylo__bytes_output_fini(&out);

    /* TEST_RANDOM and TEST_TIME use the host library's built-in exit calls,
     * which this VMM-level test does not serve. */
    uint32_t code = ASYLO_PERMISSION_DENIED;
    assert_int_equal(enter(vm, TEST_FAIL, &code, sizeof code, &out, &status),
                     ASYLO_PERMISSION_DENIED);
    assert_int_equal(status.origin, ASYLO_ORIGIN_ENCLAVE);
    asylo__bytes_output_fini(&out);

    /* An exit call through the trusted runtime and back. */
    uint8_t input[4 + 5];
    uint32_t selector = HOST_ECHO;
    memcpy(input, &selector, 4);
    memcpy(input + 4, "hello", 5);
    assert_int_equal(enter(vm, TEST_EXIT_CALL, input, sizeof input, &out, &status), ASYLO_OK);
    assert_int_equal(out.bytes.size, 5);
    assert_memory_equal(out.bytes.data, "hello", 5);
    asylo__bytes_output_fini(&out);
    /* A host handler's error comes back through the enclave. */
    selector = 0x2002;
    memcpy(input, &selector, 4);
    assert_int_equal(enter(vm, TEST_EXIT_CALL, input, sizeof input, &out, &status),
                     ASYLO_NOT_FOUND);
    printf("host error through the enclave: %s (%s)\n", status.message,
           asylo_origin_name(status.origin));
    asylo__bytes_output_fini(&out);

    uint32_t size = 100000;
    assert_int_equal(enter(vm, TEST_BIG_OUTPUT, &size, sizeof size, &out, &status), ASYLO_OK);
    assert_int_equal(out.bytes.size, size);
    asylo__bytes_output_fini(&out);

    assert_int_equal(enter(vm, ASYLO_SELECTOR_FINALIZE, NULL, 0, &out, &status), ASYLO_OK);
    asylo__bytes_output_fini(&out);
    assert_false(asylo__kvm_vm_is_lost(vm));
    asylo__kvm_vm_destroy(vm);
}

int main(void) {
    asylo_status status;
    if (asylo__kvm_probe(&status) != ASYLO_OK) {
        printf("SKIP: %s\n", status.message);
        return 77;
    }
    alarm(120);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_basic_selectors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
