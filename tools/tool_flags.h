/* Small helpers the tools share for their own flags. */
#ifndef ASYLO_TOOLS_TOOL_FLAGS_H
#define ASYLO_TOOLS_TOOL_FLAGS_H

#include <stdint.h>

#include "asylo/status.h"

/* The value of flag `name` when argv[*index] is it, in either form the
 * security and metrics flags accept: "--name=value", or "--name value" (then
 * *index moves past the value; a missing value reads as ""). NULL when
 * argv[*index] is another flag. */
const char *asylo__flag_value(int argc, char **argv, int *index, const char *name);
/* Parses a decimal integer in [minimum, maximum]; INVALID_ARGUMENT naming the
 * flag otherwise. */
asylo_code asylo__flag_integer(const char *name, const char *text, int64_t minimum, int64_t maximum,
                               int64_t *value, asylo_status *status);
/* Raises the soft RLIMIT_NOFILE to the hard limit, so a burst of connections
 * meets the limit the administrator chose (LimitNOFILE=, ulimit -Hn) rather
 * than a default soft 1024. Servers call it first thing. */
void asylo__raise_fd_limit(void);

#endif
