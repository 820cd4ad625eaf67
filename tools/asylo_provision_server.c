/* asylo-provision-server: runs enclaves sent from other machines, each in its
 * own asylo-remote-proxy. Thin main(): flags, then src/provision (provision_run.h)
 * does the work. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asylo/process.h"
#include "asylo/remote.h"
#include "transport/security_options.h"
#include "common/log.h"
#include "observability/observability.h"
#include "provision/provision_run.h"
#include "provision/provision_server.h"
#include "tools/server_memory.h"
#include "tools/tool_flags.h"

static void usage(FILE *out) {
    fprintf(out,
            "Usage: asylo-provision-server [options]\n"
            "\n"
            "Receives enclave images from hosts, checks their size and SHA-256, stores them\n"
            "privately (content-addressed, mode 0600 in a 0700 directory) and runs an\n"
            "asylo-remote-proxy for each, returning its address and a one-time token.\n"
            "Proxies listen on this server's address, on ports from --proxy_ports.\n"
            "SIGTERM drains: no new provisions, proxies finish their enclaves, then exit.\n"
            "\n"
            "Options:\n"
            "  --address=ADDR              where to listen (default 127.0.0.1:4321);\n"
            "                              IPv4 a.b.c.d:PORT, IPv6 [::]:PORT, unix:/path\n"
            "  --remote_proxy=PATH         the asylo-remote-proxy binary (default: the one\n"
            "                              beside this program)\n"
            "  --storage_dir=DIR           private image store (default\n"
            "                              /tmp/asylo-provision-UID; one server per dir)\n"
            "  --proxy_ports=LOW-HIGH      ports proxies listen on (default 4400-4499)\n"
            "  --backend=NAME              local backend for enclaves (default sim, in each\n"
            "                              proxy's process; process sandboxes each enclave\n"
            "                              where this machine can: namespaces, seccomp)\n"
            "  --max_image_size=BYTES      largest image accepted (default 67108864)\n"
            "  --max_proxies=N             most running proxies at once (default 16)\n"
            "  --max_uploads=N             most uploads in progress at once (default 8);\n"
            "                              under mutual TLS a client already uploading\n"
            "                              cannot take the last one\n"
            "  --max_proxies_per_client=N  most per client certificate (default 4;\n"
            "                              mutual TLS only)\n"
            "  --allowlist=FILE            accept only images whose SHA-256 (hex, one per\n"
            "                              line) is listed\n"
            "  --proxy_load_timeout_ms=MS  a proxy no host loads from exits (default 15000)\n"
            "  --upload_timeout_ms=MS      longest wait for the next chunk (default 10000)\n"
            "  --upload_deadline_ms=MS     longest time for a whole upload (default 300000)\n"
            "  --min_upload_rate=BYTES_S   an upload must also end within 5 s plus its size\n"
            "                              at this rate (default 65536; 0: no rate bound)\n"
            "  --max_chunk_size=BYTES      largest image chunk in one message (default\n"
            "                              1048576, at most 16777216): larger messages are\n"
            "                              refused with RESOURCE_EXHAUSTED\n"
            "  --log_level=LEVEL           error, warning, info (default) or debug\n"
            "  --advertise_address=HOST    host name or IP clients dial proxies at (NAT,\n"
            "                              Kubernetes pods); default: the --address host,\n"
            "                              or where the client reached this server\n"
            "  --health_address=ADDR       also answer grpc.health.v1 here, in plaintext and\n"
            "                              nothing else (for probes that cannot do TLS,\n"
            "                              such as the kubelet's); default: none\n"
            "%s"
            "%s"
            "  With --ssl_root_certs the server requires client certificates chaining to\n"
            "  them (mutual TLS); proxies get the same security flags.\n"
            "  --help                      this text\n",
            asylo__observability_usage(), asylo_security_usage());
}

typedef struct server_flags {
    asylo__provision_server_options options;
    const char *health_address;
    char advertise[ASYLO__ADDRESS_MAX_HOST + 16];
    asylo__observability_flags observability;
    char default_proxy_path[PATH_MAX];
    char default_storage[PATH_MAX];
} server_flags;

static asylo_code parse_ports(const char *text, asylo__provision_server_options *options,
                              asylo_status *status) {
    unsigned low = 0;
    unsigned high = 0;
    char extra;
    if (sscanf(text, "%u-%u%c", &low, &high, &extra) != 2 || low == 0 || high > 65535 ||
        low > high) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "--proxy_ports must be LOW-HIGH with 1 <= LOW <= HIGH <= 65535, "
                                "not '%s'",
                                text);
    }
    options->proxy_port_low = (uint16_t)low;
    options->proxy_port_high = (uint16_t)high;
    return asylo_status_ok(status);
}

static int parse_flags(int argc, char **argv, server_flags *flags) {
    asylo__provision_server_options *options = &flags->options;
    memset(flags, 0, sizeof *flags);
    options->address = "127.0.0.1:4321";
    options->allowed_backend = "sim";
    options->proxy_port_low = 4400;
    options->proxy_port_high = 4499;
    options->max_image_size = 64u << 20;
    options->max_proxies = 16;
    options->max_proxies_per_client = 4;
    options->proxy_load_timeout_ms = 15000;
    options->upload_timeout_ms = 10000;
    options->max_chunk_size = ASYLO__PROVISION_DEFAULT_CHUNK;
    options->max_uploads = 8;
    options->upload_deadline_ms = 300000;
    options->min_upload_rate = 65536;
    char self[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    if (length > 0) {
        self[length] = '\0';
        snprintf(flags->default_proxy_path, sizeof flags->default_proxy_path,
                 "%s/asylo-remote-proxy", dirname(self));
        options->proxy_path = flags->default_proxy_path;
    }
    snprintf(flags->default_storage, sizeof flags->default_storage, "/tmp/asylo-provision-%u",
             (unsigned)geteuid());
    options->storage_directory = flags->default_storage;
    asylo__observability_flags_init(&flags->observability);

    for (int i = 1; i < argc; i++) {
        const char *argument = argv[i];
        const char *value;
        asylo_status status;
        asylo_status_ok(&status);
        int consumed = 0;
        int64_t number = 0;
        asylo_code code = asylo_security_parse_flag(
            &options->security, argument, i + 1 < argc ? argv[i + 1] : NULL, &consumed, &status);
        if (code == ASYLO_OK && consumed == 0) {
            code = asylo__observability_parse_flag(&flags->observability, argument,
                                                   i + 1 < argc ? argv[i + 1] : NULL, &consumed,
                                                   &status);
        }
        if (code == ASYLO_OK && consumed > 0) {
            i += consumed - 1;
            continue;
        }
        if (code != ASYLO_OK) {
            /* reported below */
        } else if (strcmp(argument, "--help") == 0 || strcmp(argument, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--address")) != NULL) {
            options->address = value;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--remote_proxy")) != NULL) {
            options->proxy_path = value;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--storage_dir")) != NULL) {
            options->storage_directory = value;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--proxy_ports")) != NULL) {
            code = parse_ports(value, options, &status);
        } else if ((value = asylo__flag_value(argc, argv, &i, "--backend")) != NULL) {
            options->allowed_backend = value;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--max_image_size")) != NULL) {
            code = asylo__flag_integer("--max_image_size", value, 1, (int64_t)1 << 32, &number,
                                       &status);
            options->max_image_size = (uint64_t)number;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--max_proxies")) != NULL) {
            code = asylo__flag_integer("--max_proxies", value, 1, 4096, &number, &status);
            options->max_proxies = (size_t)number;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--max_proxies_per_client")) !=
                   NULL) {
            code =
                asylo__flag_integer("--max_proxies_per_client", value, 1, 4096, &number, &status);
            options->max_proxies_per_client = (size_t)number;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--allowlist")) != NULL) {
            options->allowlist_path = value;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--proxy_load_timeout_ms")) != NULL) {
            code = asylo__flag_integer("--proxy_load_timeout_ms", value, 100, 86400000,
                                       &options->proxy_load_timeout_ms, &status);
        } else if ((value = asylo__flag_value(argc, argv, &i, "--max_uploads")) != NULL) {
            code = asylo__flag_integer("--max_uploads", value, 1, 4096, &number, &status);
            options->max_uploads = (size_t)number;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--upload_deadline_ms")) != NULL) {
            code = asylo__flag_integer("--upload_deadline_ms", value, 1000, 86400000,
                                       &options->upload_deadline_ms, &status);
        } else if ((value = asylo__flag_value(argc, argv, &i, "--min_upload_rate")) != NULL) {
            code = asylo__flag_integer("--min_upload_rate", value, 0, (int64_t)1 << 40, &number,
                                       &status);
            options->min_upload_rate = (uint64_t)number;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--max_chunk_size")) != NULL) {
            code = asylo__flag_integer("--max_chunk_size", value, 4096,
                                       (int64_t)ASYLO__PROVISION_MAX_CHUNK, &number, &status);
            options->max_chunk_size = (size_t)number;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--upload_timeout_ms")) != NULL) {
            code = asylo__flag_integer("--upload_timeout_ms", value, 100, 3600000,
                                       &options->upload_timeout_ms, &status);
        } else if ((value = asylo__flag_value(argc, argv, &i, "--advertise_address")) != NULL) {
            /* A host, bracketed or not for IPv6; checked by parsing it with
             * a port. */
            asylo__address parsed;
            if (value[0] == '\0') {
                value = "(empty)";
            }
            snprintf(flags->advertise, sizeof flags->advertise,
                     strchr(value, ':') != NULL && value[0] != '[' ? "[%s]:1" : "%s:1", value);
            code = asylo__address_parse(flags->advertise, &parsed, &status);
            if (code != ASYLO_OK || parsed.family == ASYLO__ADDRESS_UNIX) {
                code = asylo_status_set(&status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                        "--advertise_address must be a host name or IP, not '%s'",
                                        value);
            }
            options->advertise_address = flags->advertise;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--health_address")) != NULL) {
            flags->health_address = value;
        } else if ((value = asylo__flag_value(argc, argv, &i, "--log_level")) != NULL) {
            asylo_log_level level;
            code = asylo_log_level_parse(value, &level, &status);
            if (code == ASYLO_OK) {
                asylo_log_set_level(level);
                options->log_level = value;
            }
        } else {
            asylo_status_set(&status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                             "unknown flag '%s' (see --help)", argument);
            code = ASYLO_INVALID_ARGUMENT;
        }
        if (code != ASYLO_OK) {
            fprintf(stderr, "asylo-provision-server: %s\n", status.message);
            return 2;
        }
    }
    /* On a server, --ssl_root_certs means mutual TLS (for its proxies too). */
    options->security.require_client_certificate = options->security.root_certs != NULL;
    return 0;
}

int main(int argc, char **argv) {
    asylo__tune_server_memory();
    asylo__raise_fd_limit();
    server_flags flags;
    int parsed = parse_flags(argc, argv, &flags);
    if (parsed != 0) {
        return parsed == 1 ? 0 : 2;
    }
    /* The server keeps sim as its default (its clients name the backend they
     * expect, and an upload is checked against it), but says so where the
     * sandbox would work, rather than leave the weaker choice unspoken. */
    asylo_status sandbox;
    if (strcmp(flags.options.allowed_backend, "sim") == 0 &&
        asylo_process_sandbox_available(&sandbox) == ASYLO_OK) {
        asylo__log(ASYLO_LOG_WARNING, "provision", NULL, 0,
                   "enclaves run on sim, inside each proxy's process; this machine can sandbox "
                   "them: --backend=process");
    }
    return asylo__provision_server_run(&flags.options, flags.health_address, &flags.observability);
}
