/* Small helpers the tools share for "--name=value" flags. */
#ifndef ASYLO_TOOLS_TOOL_FLAGS_H
#define ASYLO_TOOLS_TOOL_FLAGS_H

#include <stdint.h>

#include "asylo/status.h"

/* The value of "--name=value" when argument is that flag, else NULL. */
const char *asylo__flag_value(const char *argument, const char *name);
/* Parses a decimal integer in [minimum, maximum]; INVALID_ARGUMENT naming the
 * flag otherwise. */
asylo_code asylo__flag_integer(const char *name, const char *text, int64_t minimum, int64_t maximum,
                               int64_t *value, asylo_status *status);

#endif
