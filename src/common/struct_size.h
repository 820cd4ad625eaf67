/* Caller-allocated public structs that grow (asylo_load_config, the remote
 * and provisioning options) start with `size_t struct_size`, set by their
 * _init function to the size the caller was compiled with. The library
 * copies such a struct over its own defaults, reading only those bytes, so a
 * program built against an older, shorter layout keeps working. */
#ifndef ASYLO_COMMON_STRUCT_SIZE_H
#define ASYLO_COMMON_STRUCT_SIZE_H

#include <stddef.h>

#include "asylo/status.h"

/* The size of the first version of a struct: up to and including its field
 * `last` of version 1. */
#define ASYLO__V1_SIZE(type, last) (offsetof(type, last) + sizeof(((type *)0)->last))

/* `in` is a caller's struct of type `type` whose first field is its
 * struct_size; `out` holds the defaults (from the _init function) in the
 * library's current layout of out_size bytes. Copies the caller's
 * struct_size bytes over out and sets out's struct_size to out_size.
 * INVALID_ARGUMENT naming `type` when struct_size is below v1_size (0: never
 * initialized) or above out_size (a program built against a newer asylo-c). */
asylo_code asylo__struct_adopt(const void *in, void *out, size_t out_size, size_t v1_size,
                               const char *type, asylo_status *status);

#endif
