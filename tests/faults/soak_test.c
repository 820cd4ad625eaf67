/* Soak of a remote enclave over mutual TLS: 8 host threads call it without
 * pause for ASYLO_SOAK_SECONDS (default 60). Zero errors; after a warm-up
 * of a sixth of the run, the resident memory of the host and of the proxy
 * stays within 5 % (plus 1 MiB for allocator noise; not under ASan, whose
 * quarantine holds freed memory) and the descriptor and thread counts of
 * both stay flat. Prints the figures.
 *   soak_test        (ctest faults.soak) */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "asylo/asylo.h"
#include "remote_util.h"
#include "test_enclave_selectors.h"

#define THREADS 8
#define PAYLOAD_SIZE 4096

static atomic_bool stop;
static atomic_long calls;
static atomic_long errors;

typedef struct usage {
    long rss_kib;
    int threads;
    int descriptors;
} usage;

static int count_descriptors(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *dir = opendir(path);
    if (dir == NULL) {
        return -1;
    }
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        count += entry->d_name[0] != '.';
    }
    closedir(dir);
    /* Our own listing is open while we count ourselves. */
    return pid == getpid() ? count - 1 : count;
}

static bool read_once(pid_t pid, usage *out) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return false;
    }
    char line[256];
    memset(out, 0, sizeof *out);
    while (fgets(line, sizeof line, file) != NULL) {
        sscanf(line, "VmRSS: %ld", &out->rss_kib);
        sscanf(line, "Threads: %d", &out->threads);
    }
    fclose(file);
    out->descriptors = count_descriptors(pid);
    return out->descriptors >= 0;
}

/* Calls in flight hold a descriptor or thread for a moment (a TLS session,
 * gRPC's wakeups): the least of 5 samples 100 ms apart is the steady count. */
static bool read_usage(pid_t pid, usage *out) {
    for (int i = 0; i < 5; i++) {
        usage sample;
        if (!read_once(pid, &sample)) {
            return false;
        }
        if (i == 0) {
            *out = sample;
        }
        out->rss_kib = sample.rss_kib;
        out->descriptors =
            sample.descriptors < out->descriptors ? sample.descriptors : out->descriptors;
        out->threads = sample.threads < out->threads ? sample.threads : out->threads;
        util_sleep_ms(100);
    }
    return true;
}

static void *work(void *context) {
    asylo_client *client = context;
    uint8_t input[PAYLOAD_SIZE];
    memset(input, 0x5a, sizeof input);
    while (!atomic_load(&stop)) {
        asylo_buffer output = {0};
        asylo_status status;
        asylo_code code = asylo_client_run(client, input, sizeof input, &output, &status);
        if (code != ASYLO_OK || output.size != sizeof input ||
            memcmp(output.data, input, sizeof input) != 0) {
            if (atomic_fetch_add(&errors, 1) < 5) {
                fprintf(stderr, "call failed: %s\n", util_status_text(&status));
            }
        }
        asylo_buffer_free(&output);
        atomic_fetch_add(&calls, 1);
    }
    return NULL;
}

static bool flat(const char *who, const usage *before, const usage *after) {
    long allowed = before->rss_kib / 20 + 1024;
#if defined(ASYLO_SANITIZE)
    /* ASan's quarantine keeps freed memory resident (up to 256 MiB): RSS
     * says nothing here; LeakSanitizer checks both processes at exit. */
    bool rss_ok = true;
#else
    bool rss_ok = after->rss_kib - before->rss_kib <= allowed;
#endif
    bool ok =
        rss_ok && after->descriptors == before->descriptors && after->threads == before->threads;
    printf("%s: RSS %ld -> %ld KiB (allowed +%ld), descriptors %d -> %d, threads %d -> %d: %s\n",
           who, before->rss_kib, after->rss_kib, allowed, before->descriptors, after->descriptors,
           before->threads, after->threads, ok ? "flat" : "GREW");
    return ok;
}

int main(void) {
    const char *text = getenv("ASYLO_SOAK_SECONDS");
    int seconds = text != NULL ? atoi(text) : 60;
    if (seconds < 6) {
        seconds = 6;
    }
    char dir[UTIL_PATH_SIZE];
    if (!util_make_temp_dir("asylo-soak", dir, sizeof dir) ||
        !util_make_certs(MAKE_CERTS_SCRIPT, dir)) {
        fprintf(stderr, "FAIL: cannot make the test PKI\n");
        return 1;
    }
    util_remote remote;
    asylo_status status;
    if (!util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", true, dir, &status)) {
        fprintf(stderr, "FAIL: provision: %s\n", util_status_text(&status));
        return 1;
    }
    asylo_manager *manager = NULL;
    asylo_client *client = NULL;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "soak";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote.config;
    if (asylo_manager_create(&manager, &status) != ASYLO_OK ||
        asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fprintf(stderr, "FAIL: load: %s\n", util_status_text(&status));
        return 1;
    }
    pid_t children[4];
    int child_count = util_children(children, 4);
    if (child_count != 1) {
        fprintf(stderr, "FAIL: expected one proxy child, found %d\n", child_count);
        return 1;
    }
    pid_t proxy = children[0];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        pthread_create(&threads[i], NULL, work, client);
    }
    int warmup = seconds / 6;
    util_sleep_ms((int64_t)warmup * 1000);
    usage host_before, proxy_before, host_after, proxy_after;
    bool sampled = read_usage(getpid(), &host_before) && read_usage(proxy, &proxy_before);
    long calls_before = atomic_load(&calls);
    util_sleep_ms((int64_t)(seconds - warmup) * 1000);
    sampled = sampled && read_usage(getpid(), &host_after) && read_usage(proxy, &proxy_after);
    long measured = atomic_load(&calls) - calls_before;
    atomic_store(&stop, true);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    int failures = 0;
    printf("soak: %d s over mutual TLS, %d threads, %ld calls (%ld/s after warm-up), %ld errors\n",
           seconds, THREADS, atomic_load(&calls), measured / (seconds - warmup),
           atomic_load(&errors));
    if (!sampled) {
        fprintf(stderr, "FAIL: could not read /proc\n");
        failures++;
    } else {
        failures += !flat("host", &host_before, &host_after);
        failures += !flat("proxy", &proxy_before, &proxy_after);
    }
    failures += atomic_load(&errors) != 0;
    if (asylo_manager_destroy_client(manager, client, NULL, 0, &status) != ASYLO_OK) {
        fprintf(stderr, "FAIL: destroy: %s\n", util_status_text(&status));
        failures++;
    }
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    util_rmtree(dir);
    printf("%s\n", failures == 0 ? "PASS" : "FAIL");
    return failures == 0 ? 0 : 1;
}
