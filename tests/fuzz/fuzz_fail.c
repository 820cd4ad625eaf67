/* fuzz_fail for both builds: abort() is what libFuzzer and the replay driver
 * both report as a crash, with the input that caused it. */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

_Noreturn void fuzz_fail(const char *file, int line, const char *condition) {
    fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, condition);
    abort();
}
