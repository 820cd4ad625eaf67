/* The host's decoders of built-in exit calls (src/host/builtin_exits.c):
 * the bytes an enclave (or, through a proxy, the network) hands the host.
 * An input is a sequence of calls, each [selector index][u16 size][input],
 * run against one client whose file root is a fresh directory, so opens,
 * reads, writes and closes interleave. After each input no file may exist
 * outside that root. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asylo/selectors.h"
#include "common/bytes_output.h"
#include "fuzz.h"
#include "host/client_internal.h"

static char parent[] = "/tmp/asylo-fuzz-exits-XXXXXX";
static char root[sizeof parent + 8];

static const uint32_t selectors[] = {
    ASYLO_SELECTOR_LOG,        ASYLO_SELECTOR_TIME_WALL,  ASYLO_SELECTOR_TIME_MONOTONIC,
    ASYLO_SELECTOR_RANDOM,     ASYLO_SELECTOR_FILE_OPEN,  ASYLO_SELECTOR_FILE_READ,
    ASYLO_SELECTOR_FILE_WRITE, ASYLO_SELECTOR_FILE_CLOSE, ASYLO_SELECTOR_FILE_UNLINK,
    ASYLO_SELECTOR_FILE_SEEK,  ASYLO_SELECTOR_FILE_STAT,  ASYLO_SELECTOR_FILE_FSTAT,
    ASYLO_SELECTOR_SEAL_KEY, /* not a host built-in: NOT_FOUND */
};
#define SELECTOR_COUNT (sizeof selectors / sizeof selectors[0])
/* Bounds the work per input (libFuzzer inputs are small anyway). */
#define MAX_CALLS 32

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (mkdtemp(parent) == NULL) {
        perror("mkdtemp");
        abort();
    }
    snprintf(root, sizeof root, "%s/root", parent);
    if (mkdir(root, 0700) != 0) {
        perror("mkdir");
        abort();
    }
    /* Quiet: the log built-in would print every fuzzed line. */
    setenv("ASYLO_LOG_LEVEL", "fatal", 1);
    return 0;
}

/* Removes every entry of `path` (files only: the built-ins make no
 * directories) and returns how many there were. */
static size_t empty_directory(const char *path) {
    DIR *dir = opendir(path);
    FUZZ_CHECK(dir != NULL);
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) {
            continue;
        }
        count++;
        unlinkat(dirfd(dir), entry->d_name, 0);
    }
    closedir(dir);
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    asylo_client client;
    memset(&client, 0, sizeof client);
    snprintf(client.name, sizeof client.name, "fuzz");
    client.max_output_size = 1 << 20;
    asylo__file_table_init(&client.files);
    asylo_status status;
    FUZZ_CHECK(asylo__file_root_open(&client.files.root, root, &status) == ASYLO_OK);
    size_t offset = 0;
    for (int call = 0; call < MAX_CALLS && offset + 3 <= size; call++) {
        uint32_t selector = selectors[data[offset] % SELECTOR_COUNT];
        size_t input_size = (size_t)data[offset + 1] | (size_t)data[offset + 2] << 8;
        offset += 3;
        if (input_size > size - offset) {
            input_size = size - offset;
        }
        asylo__bytes_output output;
        asylo__bytes_output_init(&output, client.max_output_size);
        asylo_code code = asylo__builtin_exit(&client, selector, data + offset, input_size,
                                              &output.output, &status);
        FUZZ_CHECK(asylo_code_is_valid((int)code));
        FUZZ_CHECK(memchr(status.message, '\0', sizeof status.message) != NULL);
        asylo__bytes_output_fini(&output);
        offset += input_size;
    }
    asylo__file_table_fini(&client.files);
    empty_directory(root);
    /* The root is the only thing its parent may hold: a path that escaped
     * would have created a file next to it. */
    FUZZ_CHECK(mkdir(root, 0700) != 0);
    DIR *dir = opendir(parent);
    FUZZ_CHECK(dir != NULL);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        FUZZ_CHECK(strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0 ||
                   strcmp(entry->d_name, "root") == 0);
    }
    closedir(dir);
    return 0;
}
