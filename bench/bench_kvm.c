/* The kvm backend's rows (issue 13), against raw baselines on a minimal
 * guest (kvm_raw_guest.c) run by the same VMM in the same bench,
 * interleaved with the subject:
 *   raw exit      one more ring-3 `out` exit round trip inside an enter: the
 *                 time of an enter making one `out` less that of an enter
 *                 making none, paired sample by sample (on this nested
 *                 hypervisor exits back to back cost about twice an
 *                 isolated one, so the baseline takes exits in the same
 *                 rhythm as the subject's calls);
 *   raw syscall   the same for one ring-3 `syscall` into the ring-0 handler,
 *                 which makes one exit;
 *   raw create    the VMM creating a VM of the minimal guest until its
 *                 first exit (READY).
 * The subject is the bench enclave built as a kvm guest (trusted runtime,
 * musl, BearSSL), loaded with config.backend = "kvm": an enter round trip of
 * asylo_client_run, one more exit call or forwarded write(2) inside an entry
 * (paired differences like the baselines), and load to first call. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/kvm/kvm_vm.h"
#include "bench_common.h"
#include "bench_selectors.h"
#include "common/bytes_output.h"

#define RAW_OUT 1
#define RAW_SYSCALL 2

#define KVM_SIZES 3
static const size_t kvm_sizes[KVM_SIZES] = {64, 4096, 65536};

static const char raw_exit_baseline[] =
    "one ring-3 port-I/O exit round trip of a minimal guest (enter with one `out` less enter "
    "with none, paired)";

static asylo_code raw_exit_echo(void *context, uint32_t selector, const uint8_t *input,
                                size_t input_size, asylo_output *output, asylo_status *status) {
    (void)context, (void)selector;
    return asylo_output_write(output, input, input_size, status);
}

static asylo__kvm_vm *raw_create(asylo__kvm_create_times *times) {
    asylo__kvm_options options = {.exits = {.dispatch = raw_exit_echo}};
    asylo__kvm_vm *vm = NULL;
    asylo_status status;
    check(asylo__kvm_vm_create(BENCH_KVM_RAW_GUEST, &options, &vm, times, &status), &status,
          "creating the minimal kvm guest");
    return vm;
}

/* One enter of the raw guest making `count` raw crossings; ns. */
static double raw_enter(asylo__kvm_vm *vm, uint32_t selector, uint64_t count) {
    asylo__bytes_output out;
    asylo_status status;
    asylo__bytes_output_init(&out, 4096);
    double t0 = bench_now_ns();
    asylo_code code = asylo__kvm_vm_enter(vm, selector, (const uint8_t *)&count, sizeof count,
                                          &out.output, 0, &status);
    double took = bench_now_ns() - t0;
    asylo__bytes_output_fini(&out);
    check(code, &status, "entering the minimal kvm guest");
    return took;
}

/* One raw crossing: paired difference, us. */
static double raw_marginal(asylo__kvm_vm *vm, uint32_t selector) {
    double none = raw_enter(vm, selector, 0);
    double one = raw_enter(vm, selector, 1);
    return (one - none) / 1e3;
}

static void kvm_run(asylo_client *client, const uint8_t *input, size_t size) {
    asylo_buffer output = {0};
    asylo_status status;
    check(asylo_client_run(client, input, size, &output, &status), &status, "kvm run");
    if (output.size != size) {
        die("kvm run returned %zu bytes, not %zu", output.size, size);
    }
    asylo_buffer_free(&output);
}

static double kvm_call(asylo_client *client, uint32_t selector, const uint8_t *input, size_t size) {
    asylo_status status;
    double t0 = bench_now_ns();
    check(asylo_client_call(client, selector, input, size, NULL, &status), &status, "kvm call");
    return bench_now_ns() - t0;
}

/* One more crossing made by the entry `selector` (input: u32 count + 64 B):
 * paired difference, us. */
static double kvm_marginal(asylo_client *client, uint32_t selector, uint8_t *input) {
    put_u32(input, 0);
    double none = kvm_call(client, selector, input, 4 + 64);
    put_u32(input, 1);
    double one = kvm_call(client, selector, input, 4 + 64);
    return (one - none) / 1e3;
}

static asylo_client *kvm_load(asylo_manager *manager, const char *name) {
    asylo_load_config config;
    load_config_for(&config, name, "kvm", BENCH_KVM_ENCLAVE_PATH, NULL);
    asylo_client *client = NULL;
    asylo_status status;
    check(asylo_manager_load(manager, &config, &client, &status), &status,
          "loading the kvm enclave");
    return client;
}

/* Whether the kvm rows can run; a note says why not. */
static bool kvm_usable(void) {
    asylo_status status;
    if (asylo__kvm_probe(&status) != ASYLO_OK) {
        printf("kvm rows skipped: %s\n", status.message);
        add_note("kvm rows skipped: %s", status.message);
        return false;
    }
    if (BENCH_KVM_ENCLAVE_PATH[0] == '\0') {
        printf("kvm rows skipped: the bench enclave's kvm image was not built (needs musl-dev "
               "and libbearssl-dev)\n");
        add_note("kvm rows skipped: the bench enclave's kvm image was not built (needs musl-dev "
                 "and libbearssl-dev)");
        return false;
    }
    return true;
}

static void kvm_round_trips(asylo_client *client, asylo__kvm_vm *raw, const uint8_t *input) {
    printf("kvm enter round trip (us; sample = one call)\n");
    for (int s = 0; s < KVM_SIZES; s++) {
        size_t size = kvm_sizes[s];
        int total = cfg.quick ? 4 : 150;
        samples subject = {0}, base = {0};
        for (int i = 0; i < 5; i++) {
            kvm_run(client, input, size);
            raw_marginal(raw, RAW_OUT);
        }
        for (int i = 0; i < total; i++) {
            samples_add(&base, raw_marginal(raw, RAW_OUT));
            double t0 = bench_now_ns();
            kvm_run(client, input, size);
            samples_add(&subject, (bench_now_ns() - t0) / 1e3);
        }
        char name[96], label[32];
        snprintf(name, sizeof name, "kvm enter+run %s", size_label(size, label, sizeof label));
        add_row("kvm", name, "us", 1, raw_exit_baseline, &subject, &base, false, 1.3);
        samples_free(&subject);
        samples_free(&base);
    }
}

static void kvm_exit_calls(asylo_client *client, asylo__kvm_vm *raw, uint8_t *input) {
    printf("kvm exit call 64 B and forwarded write(2) (us; sample = one more in an entry)\n");
    int total = cfg.quick ? 4 : 150;
    samples subject = {0}, base = {0};
    for (int i = -5; i < total; i++) {
        double raw_one = raw_marginal(raw, RAW_OUT);
        double one = kvm_marginal(client, BENCH_ENTRY_EXIT_LOOP, input);
        if (i >= 0) {
            samples_add(&base, raw_one);
            samples_add(&subject, one);
        }
    }
    add_row("kvm", "kvm exit call 64 B", "us", 1, raw_exit_baseline, &subject, &base, false, 1.3);
    samples_free(&subject);
    samples_free(&base);

    /* The guest's write(1, ...) lands in the host's stdout: /dev/null while
     * this row runs. */
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved < 0 || null_fd < 0 || dup2(null_fd, STDOUT_FILENO) < 0) {
        die("cannot point stdout at /dev/null for the forwarded writes");
    }
    for (int i = -5; i < total; i++) {
        double raw_one = raw_marginal(raw, RAW_SYSCALL);
        double one = kvm_marginal(client, BENCH_ENTRY_WRITE_LOOP, input);
        if (i >= 0) {
            samples_add(&base, raw_one);
            samples_add(&subject, one);
        }
    }
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(null_fd);
    add_row("kvm", "kvm forwarded write(2) to stdout, 64 B", "us", 1,
            "one ring-3 `syscall` into the minimal guest's ring-0 handler, which makes one exit "
            "(paired like the raw exit)",
            &subject, &base, false, 1.3);
    samples_free(&subject);
    samples_free(&base);
}

static void kvm_create(asylo_manager *manager, const uint8_t *input) {
    printf("kvm create to first call (ms; sample = one create)\n");
    int reps = cfg.quick ? 2 : 30;
    samples subject = {0}, base = {0};
    asylo_status status;
    for (int r = -2; r < reps; r++) {
        double t0 = bench_now_ns();
        asylo__kvm_vm *vm = raw_create(NULL);
        double t1 = bench_now_ns();
        asylo__kvm_vm_destroy(vm);
        double t2 = bench_now_ns();
        asylo_client *client = kvm_load(manager, "bench-kvm-create");
        kvm_run(client, input, 64);
        double t3 = bench_now_ns();
        check(asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status,
              "destroying the kvm enclave");
        if (r >= 0) {
            samples_add(&base, (t1 - t0) / 1e6);
            samples_add(&subject, (t3 - t2) / 1e6);
        }
    }
    add_row("kvm", "kvm create to first call", "ms", 1,
            "the VMM creating a VM of the minimal guest until its first exit (READY)", &subject,
            &base, false, 2.0);
    samples_free(&subject);
    samples_free(&base);
}

void bench_kvm(asylo_manager *manager) {
    if (!kvm_usable()) {
        return;
    }
    uint8_t *input = malloc(4 + kvm_sizes[KVM_SIZES - 1]);
    if (input == NULL) {
        die("out of memory");
    }
    for (size_t i = 0; i < 4 + kvm_sizes[KVM_SIZES - 1]; i++) {
        input[i] = (uint8_t)(i * 5 + 7);
    }
    asylo__kvm_vm *raw = raw_create(NULL);
    asylo_client *client = kvm_load(manager, "bench-kvm");
    kvm_round_trips(client, raw, input);
    kvm_exit_calls(client, raw, input);
    asylo_status status;
    check(asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status,
          "destroying the kvm enclave");
    asylo__kvm_vm_destroy(raw);
    kvm_create(manager, input);
    free(input);
}

void bench_kvm_payload(asylo_manager *manager, const size_t *sizes, size_t count) {
    if (!kvm_usable()) {
        return;
    }
    size_t largest = 0;
    for (size_t s = 0; s < count; s++) {
        /* One frame carries an input whole: the window bounds the sweep. */
        if (sizes[s] + 4096 <= ASYLO__KVM_WINDOW_SIZE) {
            largest = sizes[s];
        }
    }
    uint8_t *input = calloc(1, largest);
    if (input == NULL) {
        die("out of memory");
    }
    asylo__kvm_vm *raw = raw_create(NULL);
    asylo_client *client = kvm_load(manager, "bench-kvm-payload");
    for (size_t s = 0; s < count && sizes[s] <= largest; s++) {
        size_t size = sizes[s];
        int total = cfg.quick ? 4 : 100;
        samples subject = {0}, base = {0};
        kvm_run(client, input, size);
        for (int i = 0; i < total; i++) {
            samples_add(&base, raw_marginal(raw, RAW_OUT) * 1e3 / (double)size);
            double t0 = bench_now_ns();
            kvm_run(client, input, size);
            samples_add(&subject, (bench_now_ns() - t0) / (double)size);
        }
        char name[96], label[32];
        snprintf(name, sizeof name, "payload kvm %s", size_label(size, label, sizeof label));
        row *r = add_row("growth-payload", name, "ns/B", 1, raw_exit_baseline, &subject, &base,
                         false, 0);
        if (r != NULL) {
            r->bytes = size;
        }
        samples_free(&subject);
        samples_free(&base);
    }
    add_note("payload kvm: one frame carries an input whole and the window is %u KiB, so the kvm "
             "sweep stops at %zu bytes",
             ASYLO__KVM_WINDOW_SIZE / 1024, largest);
    asylo_status status;
    check(asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status,
          "destroying the kvm enclave");
    asylo__kvm_vm_destroy(raw);
    free(input);
}
