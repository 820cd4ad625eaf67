/* The provision server's image allowlist (src/provision/allowlist.c): a
 * file an operator writes, parsed line by line. Input: the file. Every
 * entry loaded must be a digest one of its lines spelled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "provision/allowlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("allowlist", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    uint8_t(*entries)[ASYLO__SHA256_SIZE] = NULL;
    size_t count = 0;
    asylo_status status;
    asylo_code code = asylo__allowlist_load(path, &entries, &count, &status);
    FUZZ_CHECK(asylo_code_is_valid((int)code));
    if (code == ASYLO_OK) {
        /* 65 bytes at least per digest line ("64 hex digits" + newline, the
         * last one may lack it). */
        FUZZ_CHECK(count <= size / 64);
    }
    free(entries);
    close(fd);

    uint8_t digest[ASYLO__SHA256_SIZE];
    if (asylo__sha256_parse((const char *)data, size, digest)) {
        FUZZ_CHECK(size == 2 * ASYLO__SHA256_SIZE);
    }
    return 0;
}
