#include "tools/tool_flags.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>

const char *asylo__flag_value(int argc, char **argv, int *index, const char *name) {
    const char *argument = argv[*index];
    size_t length = strlen(name);
    if (strncmp(argument, name, length) != 0) {
        return NULL;
    }
    if (argument[length] == '=') {
        return argument + length + 1;
    }
    if (argument[length] != '\0') {
        return NULL;
    }
    if (*index + 1 >= argc) {
        return "";
    }
    *index += 1;
    return argv[*index];
}

asylo_code asylo__flag_integer(const char *name, const char *text, int64_t minimum, int64_t maximum,
                               int64_t *value, asylo_status *status) {
    char *end = NULL;
    errno = 0;
    long long parsed = strtoll(text, &end, 10);
    if (text[0] == '\0' || end == NULL || *end != '\0' || errno != 0 || parsed < minimum ||
        parsed > maximum) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "%s must be a whole number from %lld to %lld, not '%s'", name,
                                (long long)minimum, (long long)maximum, text);
    }
    *value = parsed;
    return asylo_status_ok(status);
}

void asylo__raise_fd_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}
