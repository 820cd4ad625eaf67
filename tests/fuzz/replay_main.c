/* Replays fuzz inputs without a fuzzing engine, so every corpus and every
 * crash ever found runs as an ordinary test in the normal and sanitizer
 * builds (ctest fuzz.<name>).
 *
 *   <name>_fuzz_replay PATH...    each PATH a file or a directory of files
 *
 * Runs every file once through LLVMFuzzerTestOneInput; a crash aborts with
 * the file named on stderr. Exit 0 when all ran, 1 when a path could not be
 * read, 2 when no input at all was found (an empty corpus is a mistake). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    return 0;
}

/* Inputs larger than this are not ours (libFuzzer's default -max_len is far
 * below it); refuse rather than allocate without bound. */
#define MAX_INPUT_SIZE ((size_t)16 << 20)

static int run_file(const char *path, size_t *count) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    int result = 1;
    uint8_t *data = NULL;
    struct stat info;
    if (fstat(fileno(file), &info) != 0 || (size_t)info.st_size > MAX_INPUT_SIZE) {
        fprintf(stderr, "replay: %s is unreadable or larger than %zu bytes\n", path,
                MAX_INPUT_SIZE);
        goto out;
    }
    size_t size = (size_t)info.st_size;
    /* A separate allocation of exactly `size` bytes, so ASan catches reads
     * one past the end as libFuzzer would. */
    data = malloc(size > 0 ? size : 1);
    if (data == NULL || fread(data, 1, size, file) != size) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        goto out;
    }
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
    LLVMFuzzerTestOneInput(size > 0 ? data : NULL, size);
    (*count)++;
    result = 0;
out:
    free(data);
    fclose(file);
    return result;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of a directory in name order, so runs are reproducible. */
static int run_directory(const char *path, size_t *count) {
    DIR *dir = opendir(path);
    if (dir == NULL) {
        fprintf(stderr, "replay: cannot open directory %s: %s\n", path, strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t name_count = 0;
    int result = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') {
            continue; /* ., .. and hidden files such as .gitkeep */
        }
        char **grown = realloc(names, (name_count + 1) * sizeof *names);
        if (grown == NULL) {
            result = 1;
            break;
        }
        names = grown;
        names[name_count] = strdup(entry->d_name);
        if (names[name_count] == NULL) {
            result = 1;
            break;
        }
        name_count++;
    }
    closedir(dir);
    if (name_count > 0) {
        qsort(names, name_count, sizeof *names, compare_names);
    }
    for (size_t i = 0; i < name_count; i++) {
        if (result == 0) {
            char file[4096];
            snprintf(file, sizeof file, "%s/%s", path, names[i]);
            result = run_file(file, count);
        }
        free(names[i]);
    }
    free(names);
    return result;
}

int main(int argc, char **argv) {
    LLVMFuzzerInitialize(&argc, &argv);
    size_t count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat info;
        if (stat(argv[i], &info) != 0) {
            /* A crashes dir that does not exist yet has nothing to replay. */
            fprintf(stderr, "replay: %s does not exist; skipped\n", argv[i]);
            continue;
        }
        int result =
            S_ISDIR(info.st_mode) ? run_directory(argv[i], &count) : run_file(argv[i], &count);
        if (result != 0) {
            return result;
        }
    }
    fprintf(stderr, "replay: %zu inputs ran\n", count);
    return count > 0 ? 0 : 2;
}
