/* The library's version at run time (asylo/version.h). */
#include "asylo/version.h"

const char *asylo_version(void) {
    return ASYLO_VERSION_STRING;
}

int asylo_version_number(void) {
    return ASYLO_VERSION_NUMBER;
}
