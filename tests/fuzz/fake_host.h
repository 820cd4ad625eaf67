/* A host for the trusted runtime inside a fuzz target: attaches to the
 * runtime linked into the same process and answers its exit calls. The
 * identity and seal key answers are honest and fixed; every other exit is
 * answered with fake_host_reply (code and bytes the fuzzer chose). */
#ifndef ASYLO_TESTS_FUZZ_FAKE_HOST_H
#define ASYLO_TESTS_FUZZ_FAKE_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"

typedef struct fake_host_reply {
    asylo_code code;
    const uint8_t *data;
    size_t size;
    /* When set, identity and seal key exits get this reply too. */
    int lie_about_identity;
} fake_host_reply;

extern fake_host_reply fake_host_reply_now;

/* Attaches once; aborts on failure. */
void fake_host_attach(void);

#endif
