/* Descriptor exhaustion of the host: with RLIMIT_NOFILE lowered so that
 * only a few descriptors are left, loads of sim enclaves and file exit calls
 * (which open descriptors on the host) must succeed or fail cleanly (a load
 * with RESOURCE_EXHAUSTED and a message; a file call with a valid code),
 * never crash or hang; once the limit is back, everything works again and no
 * descriptor is left behind.
 *   fd_exhaustion_test        (ctest faults.fd_exhaustion) */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "asylo/asylo.h"
#include "remote_util.h"
#include "test_enclave_selectors.h"

#define ENCLAVES 16

static int failures;

#define CHECK(condition, ...)                                                                      \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static int open_descriptors(void) {
    DIR *dir = opendir("/proc/self/fd");
    int count = 0;
    if (dir == NULL) {
        return -1;
    }
    while (readdir(dir) != NULL) {
        count++;
    }
    closedir(dir);
    return count - 3; /* ., .. and the directory's own descriptor */
}

static asylo_code load(asylo_manager *manager, const char *root, int index, asylo_client **client,
                       asylo_status *status) {
    char name[32];
    snprintf(name, sizeof name, "fds-%d", index);
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = name;
    config.backend = "sim";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.file_root = root;
    return asylo_manager_load(manager, &config, client, status);
}

/* Opens and closes a file through the enclave (a host descriptor each). */
static asylo_code file_call(asylo_client *client, asylo_status *status) {
    uint8_t input[4 + 8];
    uint32_t flags = 0x01u | 0x02u | 0x04u; /* read, write, create (asylo/trusted.h) */
    memcpy(input, &flags, 4);
    memcpy(input + 4, "probe.txt", 8);
    asylo_buffer output = {0};
    asylo_code code =
        asylo_client_call(client, TEST_FILE_OPEN, input, sizeof input, &output, status);
    asylo_buffer_free(&output);
    return code;
}

/* One round: as many enclaves as the limit allows, a file call in each. */
static void round_under_limit(asylo_manager *manager, const char *root, int *loaded, int *refused) {
    asylo_client *clients[ENCLAVES] = {0};
    for (int i = 0; i < ENCLAVES; i++) {
        asylo_status status;
        asylo_code code = load(manager, root, i, &clients[i], &status);
        CHECK(asylo_code_is_valid((int)code), "load %d: invalid code %d", i, (int)code);
        if (code != ASYLO_OK) {
            CHECK(code == ASYLO_RESOURCE_EXHAUSTED && status.message[0] != '\0',
                  "load %d out of descriptors: %s", i, util_status_text(&status));
            if (*refused == 0) {
                printf("first refused load: %s\n", util_status_text(&status));
            }
            clients[i] = NULL;
            (*refused)++;
            continue;
        }
        (*loaded)++;
        code = file_call(clients[i], &status);
        CHECK(asylo_code_is_valid((int)code), "file call %d: invalid code", i);
        if (code != ASYLO_OK) {
            (*refused)++;
            printf("file call %d under the limit: %s\n", i, util_status_text(&status));
        }
    }
    for (int i = 0; i < ENCLAVES; i++) {
        if (clients[i] != NULL) {
            asylo_status status;
            asylo_manager_destroy_client(manager, clients[i], NULL, 0, &status);
        }
    }
}

int main(void) {
    char root[UTIL_PATH_SIZE];
    if (!util_make_temp_dir("asylo-fds", root, sizeof root)) {
        return 1;
    }
    asylo_manager *manager = NULL;
    asylo_status status;
    if (asylo_manager_create(&manager, &status) != ASYLO_OK) {
        fprintf(stderr, "manager: %s\n", util_status_text(&status));
        return 1;
    }
    /* Warm up: one enclave loaded, called and destroyed, so lazily opened
     * descriptors (logs, /dev/urandom) are open before the count. */
    asylo_client *client = NULL;
    CHECK(load(manager, root, 0, &client, &status) == ASYLO_OK, "warm-up load: %s",
          util_status_text(&status));
    if (client != NULL) {
        CHECK(file_call(client, &status) == ASYLO_OK, "warm-up file call: %s",
              util_status_text(&status));
        asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    }
    int baseline = open_descriptors();
    struct rlimit original;
    getrlimit(RLIMIT_NOFILE, &original);
    int total_loaded = 0, total_refused = 0;
    /* From almost nothing left to a few enclaves' worth. */
    for (int spare = 0; spare <= 12; spare += 2) {
        struct rlimit tight = {(rlim_t)(baseline + 3 + spare), original.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &tight) != 0) {
            perror("setrlimit");
            return 1;
        }
        int loaded = 0, refused = 0;
        round_under_limit(manager, root, &loaded, &refused);
        setrlimit(RLIMIT_NOFILE, &original);
        printf("%2d descriptors spare: %d enclaves loaded, %d loads or file calls refused\n", spare,
               loaded, refused);
        total_loaded += loaded;
        total_refused += refused;
        int now = open_descriptors();
        CHECK(now == baseline, "%d descriptors open after the round, %d before", now, baseline);
    }
    CHECK(total_refused > 0, "the limit never bit: the test did not exhaust descriptors");
    /* Recovery: the full set loads and works again. */
    int loaded = 0, refused = 0;
    round_under_limit(manager, root, &loaded, &refused);
    CHECK(loaded == ENCLAVES && refused == 0, "after the limit: %d loaded, %d refused", loaded,
          refused);
    asylo_manager_destroy(manager);
    util_rmtree(root);
    printf("%s (%d loaded and %d refused under the limits)\n", failures == 0 ? "PASS" : "FAIL",
           total_loaded, total_refused);
    return failures == 0 ? 0 : 1;
}
