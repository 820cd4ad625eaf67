/* gRPC's log into asylo-c's logger (see grpc_log.h). */
#include "transport/grpc_log.h"

#include <pthread.h>
#include <string.h>

#include <grpc/support/log.h>

#include "common/log.h"

/* gRPC's errors are about one connection or call (a failed handshake, a
 * reset stream), and the call that suffers reports them as its status with
 * the context gRPC lacks: they are warnings here, not errors of the
 * program. gRPC's info lines describe its internals ("grpc epoll fd: 6"):
 * debug here, so the default level shows what it showed before. */
static asylo_log_level level_of(gpr_log_severity severity) {
    return severity == GPR_LOG_SEVERITY_ERROR ? ASYLO_LOG_WARNING : ASYLO_LOG_DEBUG;
}

static void log_line(gpr_log_func_args *args) {
    asylo_log_level level = level_of(args->severity);
    if (!asylo__log_enabled(level)) {
        return;
    }
    const char *file = args->file != NULL ? args->file : "?";
    const char *slash = strrchr(file, '/');
    asylo__log(level, "grpc", NULL, 0, "%s:%d: %s", slash != NULL ? slash + 1 : file, args->line,
               args->message != NULL ? args->message : "");
}

static void install_once(void) {
    gpr_set_log_function(log_line);
}

void asylo__grpc_log_install(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_once);
    gpr_set_log_verbosity(asylo_log_get_level() == ASYLO_LOG_DEBUG ? GPR_LOG_SEVERITY_DEBUG
                                                                   : GPR_LOG_SEVERITY_ERROR);
}
