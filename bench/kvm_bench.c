/* The kvm VMM's costs against their raw baselines, all measured in the same
 * run on the kvm test guest:
 *   raw out exit       one ring-3 `out` to a no-op port, host resumes at once
 *   raw system call    one `syscall` through the guest's trampoline, one exit
 *   enter round trip   ENTER frame in, RETURN frame out (64 B, 4 KiB, 64 KiB)
 *   exit round trip    an exit call from inside an enter, minus the enter
 *   create             VM setup (image, memory, tables, vCPU) and boot to READY
 * Prints a Markdown table. `--quick` runs tiny counts (numbers meaningless).
 * Exits 77 where /dev/kvm is unusable. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/kvm/kvm_vm.h"
#include "common/bytes_output.h"
#include "kvm_test_selectors.h"

static int64_t now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static int compare(const void *left, const void *right) {
    int64_t a = *(const int64_t *)left;
    int64_t b = *(const int64_t *)right;
    return a < b ? -1 : a > b;
}

static int64_t median(int64_t *values, size_t count) {
    qsort(values, count, sizeof *values, compare);
    return values[count / 2];
}

static asylo_code exit_echo(void *context, uint32_t selector, const uint8_t *input,
                            size_t input_size, asylo_output *output, asylo_status *status) {
    (void)context;
    (void)selector;
    return asylo_output_write(output, input, input_size, status);
}

/* One enter, timed; exits on failure (a bench has nothing to fall back to). */
static int64_t timed_enter(asylo__kvm_vm *vm, uint32_t selector, const void *input, size_t size) {
    asylo__bytes_output out;
    asylo_status status;
    asylo__bytes_output_init(&out, 1u << 20);
    int64_t start = now_ns();
    asylo_code code = asylo__kvm_vm_enter(vm, selector, input, size, &out.output, 0, &status);
    int64_t took = now_ns() - start;
    asylo__bytes_output_fini(&out);
    if (code != ASYLO_OK) {
        fprintf(stderr, "kvm_bench: selector %u: %s\n", selector, status.message);
        exit(1);
    }
    return took;
}

static int64_t median_enter(asylo__kvm_vm *vm, uint32_t selector, const void *input, size_t size,
                            int64_t *samples, size_t count) {
    for (size_t i = 0; i < count; i++) {
        samples[i] = timed_enter(vm, selector, input, size);
    }
    return median(samples, count);
}

/* Per-exit cost of a loop of `count` raw exits: the loop's time less an
 * empty loop's, over count. */
static double raw_loop(asylo__kvm_vm *vm, uint32_t selector, uint64_t count, int64_t *samples,
                       size_t rounds) {
    uint64_t zero = 0;
    int64_t empty = median_enter(vm, selector, &zero, sizeof zero, samples, rounds);
    int64_t full = median_enter(vm, selector, &count, sizeof count, samples, rounds);
    return (double)(full - empty) / (double)count;
}

int main(int argc, char **argv) {
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    asylo_status status;
    if (asylo__kvm_probe(&status) != ASYLO_OK) {
        printf("SKIP: %s\n", status.message);
        return 77;
    }
    size_t rounds = quick ? 5 : 201;
    uint64_t raw_count = quick ? 10 : 200;
    int64_t *samples = calloc(rounds, sizeof *samples);
    static uint8_t payload[64 << 10];
    asylo__kvm_options options = {.exits = {.dispatch = exit_echo}};

    int64_t *setup = calloc(rounds, sizeof *setup);
    int64_t *boot = calloc(rounds, sizeof *boot);
    size_t creates = quick ? 3 : 51;
    for (size_t i = 0; i < creates; i++) {
        asylo__kvm_vm *vm = NULL;
        asylo__kvm_create_times times;
        int64_t start = now_ns();
        if (asylo__kvm_vm_create(KVM_TEST_GUEST, &options, &vm, &times, &status) != ASYLO_OK) {
            fprintf(stderr, "kvm_bench: create: %s\n", status.message);
            return 1;
        }
        samples[i] = now_ns() - start;
        setup[i] = times.setup_ns;
        boot[i] = times.boot_ns;
        asylo__kvm_vm_destroy(vm);
    }
    double create_ms = median(samples, creates) / 1e6;
    double setup_ms = median(setup, creates) / 1e6;
    double boot_ms = median(boot, creates) / 1e6;

    asylo__kvm_vm *vm = NULL;
    if (asylo__kvm_vm_create(KVM_TEST_GUEST, &options, &vm, NULL, &status) != ASYLO_OK) {
        fprintf(stderr, "kvm_bench: create: %s\n", status.message);
        return 1;
    }
    size_t raw_rounds = quick ? 3 : 11;
    /* One extra exit in an enter (the marginal cost of an isolated exit),
     * and many back to back (slower here: the nested hypervisor seems to
     * emulate for a while after an exit). */
    double raw_out = raw_loop(vm, KVM_TEST_BENCH_OUT, 1, samples, rounds) / 1e3;
    double raw_syscall = raw_loop(vm, KVM_TEST_BENCH_SYSCALL, 1, samples, rounds) / 1e3;
    double loop_out = raw_loop(vm, KVM_TEST_BENCH_OUT, raw_count, samples, raw_rounds) / 1e3;
    double loop_syscall =
        raw_loop(vm, KVM_TEST_BENCH_SYSCALL, raw_count, samples, raw_rounds) / 1e3;

    printf("| kvm (median) | µs | vs raw out exit |\n|---|---:|---:|\n");
    printf("| raw ring-3 out exit round trip (one more in an enter) | %.1f | 1.00x |\n", raw_out);
    printf("| raw system call (trampoline, one exit; one more in an enter) | %.1f | %.2fx |\n",
           raw_syscall, raw_syscall / raw_out);
    printf("| raw out exits back to back (%llu in a loop), each | %.1f | %.2fx |\n",
           (unsigned long long)raw_count, loop_out, loop_out / raw_out);
    printf("| raw system calls back to back (%llu in a loop), each | %.1f | %.2fx |\n",
           (unsigned long long)raw_count, loop_syscall, loop_syscall / raw_out);
    const size_t sizes[] = {64, 4096, 65536};
    for (size_t i = 0; i < 3; i++) {
        double enter = median_enter(vm, KVM_TEST_ECHO, payload, sizes[i], samples, rounds) / 1e3;
        double both =
            median_enter(vm, KVM_TEST_EXIT_ECHO, payload, sizes[i], samples, rounds) / 1e3;
        printf("| enter round trip, %zu B | %.1f | %.2fx |\n", sizes[i], enter, enter / raw_out);
        printf("| exit round trip (inside an enter), %zu B | %.1f | %.2fx |\n", sizes[i],
               both - enter, (both - enter) / raw_out);
    }
    printf("\n| kvm create (median of %zu) | ms |\n|---|---:|\n", creates);
    printf("| create to first call ready (READY exit) | %.3f |\n", create_ms);
    printf("| of which setup: image, memory, tables, vCPU | %.3f |\n", setup_ms);
    printf("| of which boot: first KVM_RUN to READY exit | %.3f |\n", boot_ms);
    asylo__kvm_vm_destroy(vm);
    free(samples);
    free(setup);
    free(boot);
    return 0;
}
