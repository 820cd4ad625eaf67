/* The entry points every fuzz target defines (the libFuzzer interface), so a
 * target builds both with -fsanitize=fuzzer and with replay_main.c. */
#ifndef ASYLO_TESTS_FUZZ_FUZZ_H
#define ASYLO_TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional: runs once before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Stops the run loudly: an invariant of the code under test broke. */
#define FUZZ_CHECK(condition)                                                                      \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            fuzz_fail(__FILE__, __LINE__, #condition);                                             \
        }                                                                                          \
    } while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *condition);

#endif
