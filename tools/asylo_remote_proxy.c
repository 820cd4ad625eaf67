/* asylo-remote-proxy: serves one enclave to one remote host.
 * Thin main(): flags, then src/proxy (proxy_run.h) does the work. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "asylo/process.h"
#include "asylo/remote.h"
#include "common/log.h"
#include "observability/observability.h"
#include "proxy/proxy_run.h"
#include "tools/server_memory.h"
#include "tools/tool_flags.h"

#define HEALTH_SERVICE ASYLO__PROXY_HEALTH_SERVICE

typedef struct proxy_flags {
    const char *address;
    const char *enclave_path;
    const char *backend;
    const char *token_file;
    int64_t control_fd;
    int64_t load_timeout_ms;
    int64_t drain_ms;
    bool owns_socket_dir;
    bool allow_any_enclave;
    asylo_security_options security;
    asylo__observability_flags observability;
} proxy_flags;

static void usage(FILE *out) {
    fprintf(out,
            "Usage: asylo-remote-proxy [options]\n"
            "\n"
            "Serves one enclave to one remote host over gRPC (asylo-c's remote backend).\n"
            "The host dials this proxy; the proxy never dials out. The enclave runs here\n"
            "with a local backend; logging, file and user exit calls go back to the host,\n"
            "time and randomness are answered here. The proxy exits when its host closes\n"
            "the enclave's control stream or disappears (kill, network loss: ~2 s).\n"
            "If its shutdown then takes over 3 s (an enclave call that never returns),\n"
            "it exits with code 4 without finalizing the enclave.\n"
            "\n"
            "Options:\n"
            "  --address=ADDR          where to listen (default 127.0.0.1:0 = a free port):\n"
            "                          IPv4 a.b.c.d:PORT, IPv6 [::1]:PORT, unix:/path\n"
            "  --enclave_path=PATH     serve only this enclave image\n"
            "  --allow_any_enclave     without --enclave_path and --token_file, load any\n"
            "                          image path a client names; the proxy refuses to start\n"
            "                          that way unless this flag is given (or --control_fd)\n"
            "  --backend=NAME          local backend for the enclave: process (the default\n"
            "                          where its sandbox works: namespaces, seccomp, root,\n"
            "                          asylo-enclave-runner; checked once at start) or sim\n"
            "                          (the default elsewhere, logged with what is missing;\n"
            "                          --backend=sim keeps the enclave in this process)\n"
            "  --token_file=PATH       require this one-time token (file content) on every\n"
            "                          stream\n"
            "  --control_fd=N          provisioning pipe: read 'token T' from it, write\n"
            "                          'ready ADDR' to it, exit when it closes\n"
            "  --load_timeout_ms=MS    exit if no host loads an enclave in time (30000)\n"
            "  --drain_ms=MS           once finishing (host gone, SIGTERM/SIGINT, control fd\n"
            "                          closed), keep answering for MS before shutting down:\n"
            "                          health checks say NOT_SERVING, running calls go on,\n"
            "                          new streams are refused (default 0; a second signal\n"
            "                          cuts it short)\n"
            "  --owns_socket_dir       with --address=unix:DIR/NAME: DIR was made for this\n"
            "                          proxy; remove the socket and DIR when exiting, on\n"
            "                          every exit path except a crash (local provisioning\n"
            "                          passes it, as its host may die without cleaning up)\n"
            "  --log_level=LEVEL       error, warning, info (default) or debug\n"
            "%s"
            "%s"
            "  --help                  this text\n"
            "\n"
            "The gRPC health service (grpc.health.v1.Health/Check) answers on the same\n"
            "address, for \"\" and \"" HEALTH_SERVICE "\": SERVING while the proxy\n"
            "runs, NOT_SERVING once it is finishing.\n"
            "\n"
            "Without --control_fd it prints 'asylo-remote-proxy: listening on ADDR' on\n"
            "stdout once ready, preceded by 'asylo-remote-proxy: metrics on URL' with\n"
            "--metrics_port.\n",
            asylo__observability_usage(), asylo_security_usage());
}

static int parse_flags(int argc, char **argv, proxy_flags *flags) {
    memset(flags, 0, sizeof *flags);
    flags->address = "127.0.0.1:0";
    flags->backend = NULL; /* chosen at start: choose_backend */
    flags->control_fd = -1;
    flags->load_timeout_ms = 30000;
    asylo__observability_flags_init(&flags->observability);
    for (int i = 1; i < argc; i++) {
        const char *argument = argv[i];
        const char *value;
        asylo_status status;
        int consumed = 0;
        if (asylo_security_parse_flag(&flags->security, argument, i + 1 < argc ? argv[i + 1] : NULL,
                                      &consumed, &status) != ASYLO_OK ||
            (consumed == 0 && asylo__observability_parse_flag(&flags->observability, argument,
                                                              i + 1 < argc ? argv[i + 1] : NULL,
                                                              &consumed, &status) != ASYLO_OK)) {
            fprintf(stderr, "asylo-remote-proxy: %s\n", status.message);
            return 2;
        }
        if (consumed > 0) {
            i += consumed - 1;
        } else if (strcmp(argument, "--help") == 0 || strcmp(argument, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--address")) != NULL) {
            flags->address = value;
        } else if (strcmp(argument, "--owns_socket_dir") == 0) {
            flags->owns_socket_dir = true;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--enclave_path")) != NULL) {
            flags->enclave_path = value;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--backend")) != NULL) {
            flags->backend = value;
        } else if (strcmp(argument, "--allow_any_enclave") == 0) {
            flags->allow_any_enclave = true;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--token_file")) != NULL) {
            flags->token_file = value;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--control_fd")) != NULL) {
            if (asylo__flag_integer("--control_fd", value, 0, 1 << 20, &flags->control_fd,
                                    &status) != ASYLO_OK) {
                fprintf(stderr, "asylo-remote-proxy: %s\n", status.message);
                return 2;
            }
        } else if ((value = asylo__flag_value(argc, argv, &i, "--load_timeout_ms")) != NULL) {
            if (asylo__flag_integer("--load_timeout_ms", value, 1, 86400000,
                                    &flags->load_timeout_ms, &status) != ASYLO_OK) {
                fprintf(stderr, "asylo-remote-proxy: %s\n", status.message);
                return 2;
            }
        } else if ((value = asylo__flag_value(argc, argv, &i, "--drain_ms")) != NULL) {
            if (asylo__flag_integer("--drain_ms", value, 0, 600000, &flags->drain_ms, &status) !=
                ASYLO_OK) {
                fprintf(stderr, "asylo-remote-proxy: %s\n", status.message);
                return 2;
            }
        } else if ((value = asylo__flag_value(argc, argv, &i, "--log_level")) != NULL) {
            asylo_log_level level;
            if (asylo_log_level_parse(value, &level, &status) != ASYLO_OK) {
                fprintf(stderr, "asylo-remote-proxy: --log_level: %s\n", status.message);
                return 2;
            }
            asylo_log_set_level(level);
        } else {
            fprintf(stderr, "asylo-remote-proxy: unknown flag '%s' (see --help)\n", argument);
            return 2;
        }
    }
    /* On a server, --ssl_root_certs means mutual TLS. */
    flags->security.require_client_certificate = flags->security.root_certs != NULL;
    /* Started by hand with neither, any client that reaches the address
     * could make it load any file path as an enclave. A provisioner
     * (--control_fd) passes the image it chose. */
    if (flags->control_fd < 0 && flags->token_file == NULL && flags->enclave_path == NULL &&
        !flags->allow_any_enclave) {
        fprintf(stderr,
                "asylo-remote-proxy: refusing to start: without --enclave_path or --token_file "
                "any client could load any image path; give one of them, or "
                "--allow_any_enclave to accept that (see --help)\n");
        return 2;
    }
    return 0;
}

/* Without --backend: process where this machine can run its sandbox (the
 * enclave then cannot kill, trace, read or write this proxy or its host),
 * sim otherwise, saying once what is missing. */
static void choose_backend(proxy_flags *flags) {
    if (flags->backend != NULL) {
        return;
    }
    asylo_status status;
    if (asylo_process_sandbox_available(&status) == ASYLO_OK) {
        flags->backend = "process";
        return;
    }
    flags->backend = "sim";
    asylo__log(ASYLO_LOG_WARNING, "proxy", NULL, 0,
               "enclaves run on sim, inside this proxy's process: the process backend cannot "
               "run here (%s)",
               status.message);
}

int main(int argc, char **argv) {
    /* Before anything else: no ptrace attach, no /proc/PID/mem or environ by
     * other processes of the same user (the host included), no core dump of
     * an enclave's secrets (with sim the enclave runs in this process; the
     * process backend, the default where it works, sandboxes it apart). */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    asylo__tune_server_memory();
    asylo__raise_fd_limit();
    proxy_flags flags;
    int parsed = parse_flags(argc, argv, &flags);
    if (parsed != 0) {
        return parsed == 1 ? 0 : 2;
    }
    choose_backend(&flags);
    asylo__proxy_run_options run = {
        .address = flags.address,
        .enclave_path = flags.enclave_path,
        .backend = flags.backend,
        .token_file = flags.token_file,
        .control_fd = (int)flags.control_fd,
        .load_timeout_ms = flags.load_timeout_ms,
        .drain_ms = flags.drain_ms,
        .owns_socket_dir = flags.owns_socket_dir,
        .security = &flags.security,
        .observability = &flags.observability,
    };
    return asylo__proxy_run(&run);
}
