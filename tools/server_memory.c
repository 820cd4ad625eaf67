#include "tools/server_memory.h"

#include <malloc.h>

void asylo__tune_server_memory(void) {
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
}
