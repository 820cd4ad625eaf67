/* BearSSL behind asylo/crypto.h inside a kvm guest: the guest's self-test,
 * and its AES-256-GCM ciphertexts and ECDSA signatures checked by the host's
 * OpenSSL implementation of the same API. Skips (exit 77) where /dev/kvm is
 * unusable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "asylo/crypto.h"
#include "backends/kvm/kvm_vm.h"
#include "common/bytes_output.h"

static asylo_code enter(asylo__kvm_vm *vm, uint32_t selector, const void *input, size_t size,
                        asylo__bytes_output *out, asylo_status *status) {
    asylo__bytes_output_init(out, 1u << 20);
    asylo_code code = asylo__kvm_vm_enter(vm, selector, input, size, &out->output, 20000, status);
    if (code != ASYLO_OK) {
        printf("selector %u: %s\n", selector, status->message);
    }
    return code;
}

static void test_guest_crypto(void **state) {
    (void)state;
    asylo__kvm_options options = {0};
    asylo__kvm_vm *vm = NULL;
    asylo_status status;
    if (asylo__kvm_vm_create(KVM_CRYPTO_GUEST, &options, &vm, NULL, &status) != ASYLO_OK) {
        fail_msg("create: %s", status.message);
    }
    asylo__bytes_output out;
    assert_int_equal(enter(vm, 1, NULL, 0, &out, &status), ASYLO_OK);
    assert_int_equal(out.bytes.size, 2);
    asylo__bytes_output_fini(&out);

    /* The guest's AES-256-GCM against the host's. */
    uint8_t input[44 + 1000];
    for (size_t i = 0; i < sizeof input; i++) {
        input[i] = (uint8_t)(i * 13 + 1);
    }
    assert_int_equal(enter(vm, 2, input, sizeof input, &out, &status), ASYLO_OK);
    assert_int_equal(out.bytes.size, 1000 + 16);
    uint8_t expected[1000];
    uint8_t tag[16];
    assert_int_equal(
        asylo_aes256_gcm_seal(input, input + 32, NULL, 0, input + 44, 1000, expected, tag, &status),
        ASYLO_OK);
    assert_memory_equal(out.bytes.data, expected, 1000);
    assert_memory_equal(out.bytes.data + 1000, tag, 16);
    asylo__bytes_output_fini(&out);

    /* The guest's ECDSA signature verifies on the host. */
    assert_int_equal(enter(vm, 3, "attested", 8, &out, &status), ASYLO_OK);
    assert_int_equal(out.bytes.size, 65 + 64);
    assert_int_equal(asylo_p256_verify(out.bytes.data, "attested", 8, out.bytes.data + 65, &status),
                     ASYLO_OK);
    assert_int_equal(asylo_p256_verify(out.bytes.data, "attestee", 8, out.bytes.data + 65, &status),
                     ASYLO_UNAUTHENTICATED);
    asylo__bytes_output_fini(&out);
    asylo__kvm_vm_destroy(vm);
}

int main(void) {
    asylo_status status;
    if (asylo__kvm_probe(&status) != ASYLO_OK) {
        printf("SKIP: %s\n", status.message);
        return 77;
    }
    alarm(120);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_guest_crypto)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
