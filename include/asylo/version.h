/* The version of the asylo-c API. The macros say what a program was compiled
 * against; asylo_version() and asylo_version_number() what it runs with.
 * Kept equal to the CMake project version by the test unit.version.
 *
 * Compatibility rule (docs/host-api.md, "Versions"): within one MAJOR, a
 * library of a later MINOR or PATCH runs programs built against an earlier
 * one unchanged. Caller-allocated structs only grow at their end and carry
 * their size in struct_size, set by their _init function; the library reads
 * only the fields inside that size and gives missing ones their defaults. */
#ifndef ASYLO_VERSION_H
#define ASYLO_VERSION_H

#include "asylo/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ASYLO_VERSION_MAJOR 0
#define ASYLO_VERSION_MINOR 1
#define ASYLO_VERSION_PATCH 0
#define ASYLO__STRINGIFY2(x) #x
#define ASYLO__STRINGIFY(x) ASYLO__STRINGIFY2(x)
/* "0.1.0" */
#define ASYLO_VERSION_STRING                                                                       \
    ASYLO__STRINGIFY(ASYLO_VERSION_MAJOR)                                                          \
    "." ASYLO__STRINGIFY(ASYLO_VERSION_MINOR) "." ASYLO__STRINGIFY(ASYLO_VERSION_PATCH)
/* MAJOR * 1000000 + MINOR * 1000 + PATCH, for comparisons. */
#define ASYLO_VERSION_NUMBER                                                                       \
    (ASYLO_VERSION_MAJOR * 1000000 + ASYLO_VERSION_MINOR * 1000 + ASYLO_VERSION_PATCH)

/* The version of the library running this program: "MAJOR.MINOR.PATCH". */
ASYLO_API const char *asylo_version(void);
/* The same as ASYLO_VERSION_NUMBER computes. */
ASYLO_API int asylo_version_number(void);

#ifdef __cplusplus
}
#endif

#endif
