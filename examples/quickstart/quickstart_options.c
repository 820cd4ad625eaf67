#include "quickstart_options.h"

#include <ctype.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quickstart.h"

static void usage(FILE *out, const char *program) {
    fprintf(out,
            "Usage: %s --message=TEXT [options]\n"
            "\n"
            "Encrypts TEXT inside an enclave with an AES-256-GCM key the enclave made and\n"
            "never shows, prints the ciphertext (nonce || ciphertext || tag, hex), then has\n"
            "the enclave decrypt it to prove the round trip.\n"
            "\n"
            "Options:\n"
            "  --message=TEXT        the message to encrypt (1 byte to 1 MiB; required)\n"
            "  --enclave_path=PATH   the enclave image (default: quickstart_enclave.so beside\n"
            "                        this program)\n"
            "  --backend=NAME        where the enclave runs: sim (default), process (a\n"
            "                        sandboxed child process) or remote\n"
            "  --log_level=LEVEL     error, warning, info (default) or debug\n"
            "  --expected_measurement=HEX  refuse to run any enclave but the one with this\n"
            "                        measurement (64 hex digits, from `asylo-sign show`);\n"
            "                        with remote, checked by remote attestation before\n"
            "                        the enclave runs (docs/attestation.md)\n"
            "  --help                this text\n"
            "\n"
            "With --backend=remote:\n"
            "  --remote_proxy=PATH   provision locally: start this asylo-remote-proxy binary\n"
            "  --remote_listen=ADDR  where that proxy listens: 127.0.0.1:0 (default),\n"
            "                        [::1]:0, unix: (private socket) or a full address\n"
            "  --provision_server=ADDR  send the enclave to asylo-provision-server at ADDR\n"
            "                        (e.g. target.example:4321), which runs its proxy; a\n"
            "                        fleet: ipv4:A:P,B:P,... or dns:///NAME:PORT (round\n"
            "                        robin, retried on another server; docs/deploying.md)\n"
            "  --remote_address=ADDR connect to a proxy already running at ADDR instead\n"
            "  --remote_token=TOKEN  the token that proxy requires (with --remote_address)\n"
            "  --trusted_platform_key=HEX  the target's platform attestation key (130 hex\n"
            "                        digits, SEC1 uncompressed) that must sign its evidence;\n"
            "                        default: this machine's (a target on this machine)\n"
            "%s"
            "  With ssl and local provisioning the proxy gets the server certificate and\n"
            "  key; mutual TLS is on when --ssl_client_cert is given.\n",
            program, asylo_security_usage());
}

/* Exactly size bytes of lower- or upper-case hex. */
static bool parse_hex(const char *text, uint8_t *bytes, size_t size) {
    if (strlen(text) != 2 * size) {
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        unsigned int value;
        char pair[3] = {text[2 * i], text[2 * i + 1], '\0'};
        if (!isxdigit((unsigned char)pair[0]) || !isxdigit((unsigned char)pair[1]) ||
            sscanf(pair, "%2x", &value) != 1) {
            return false;
        }
        bytes[i] = (uint8_t)value;
    }
    return true;
}

/* quickstart_enclave.so in the directory of this executable. */
static char *default_enclave_path(void) {
    char self[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    if (length <= 0) {
        return NULL;
    }
    self[length] = '\0';
    char *path = malloc(PATH_MAX);
    if (path != NULL) {
        snprintf(path, PATH_MAX, "%s/quickstart_enclave.so", dirname(self));
    }
    return path;
}

/* The remote backend's config: local provisioning with --remote_proxy, or a
 * direct connection with --remote_address. */
static int setup_remote(quickstart_options *options, const char *remote_token) {
    int ways = (options->remote_proxy != NULL) + (options->remote_address != NULL) +
               (options->provision_server != NULL);
    if (ways != 1) {
        fprintf(stderr, "quickstart: --backend=remote needs exactly one of --remote_proxy (start "
                        "a proxy here), --provision_server (have a target start one) or "
                        "--remote_address (use a running one)\n");
        return QUICKSTART_OPTIONS_ERROR;
    }
    asylo_remote_config_init(&options->remote);
    options->remote.security = options->security;
    asylo_status status;
    if (options->provision_server != NULL) {
        asylo_provision_server_options server;
        asylo_provision_server_options_init(&server);
        server.server_address = options->provision_server;
        server.security = options->security;
        if (asylo_provision_server_provision_create(&server, &options->provision, &status) !=
            ASYLO_OK) {
            fprintf(stderr, "quickstart: --provision_server: %s\n", status.message);
            return QUICKSTART_OPTIONS_ERROR;
        }
        options->remote.provision = options->provision;
    } else if (options->remote_proxy != NULL) {
        asylo_local_provision_options local;
        asylo_local_provision_options_init(&local);
        local.proxy_path = options->remote_proxy;
        if (options->remote_listen != NULL) {
            local.listen_address = options->remote_listen;
        }
        local.log_level = asylo_log_level_name(asylo_log_get_level());
        /* The same parsed flags serve the proxy's (server) side: it uses the
         * server certificate and key, and requires client certificates only
         * when this side presents one (mutual TLS). */
        local.security = options->security;
        local.security.require_client_certificate = options->security.client_cert != NULL;
        if (asylo_local_provision_create(&local, &options->provision, &status) != ASYLO_OK) {
            fprintf(stderr, "quickstart: --remote_proxy: %s\n", status.message);
            return QUICKSTART_OPTIONS_ERROR;
        }
        options->remote.provision = options->provision;
    } else {
        options->remote.address = options->remote_address;
        options->remote.token = remote_token;
    }
    options->load_config.backend_config = &options->remote;
    return QUICKSTART_OPTIONS_OK;
}

int quickstart_options_parse(int argc, char **argv, quickstart_options *options) {
    memset(options, 0, sizeof *options);
    asylo_load_config_init(&options->load_config);
    asylo_security_options_init(&options->security);
    options->load_config.name = "quickstart";
    options->load_config.backend = "sim";
    enum {
        OPT_MESSAGE = 1,
        OPT_ENCLAVE_PATH,
        OPT_BACKEND,
        OPT_LOG_LEVEL,
        OPT_HELP,
        OPT_REMOTE_PROXY,
        OPT_REMOTE_LISTEN,
        OPT_REMOTE_ADDRESS,
        OPT_REMOTE_TOKEN,
        OPT_PROVISION_SERVER,
        OPT_EXPECTED_MEASUREMENT,
        OPT_TRUSTED_PLATFORM_KEY,
    };
    static const struct option long_options[] = {
        {"message", required_argument, NULL, OPT_MESSAGE},
        {"enclave_path", required_argument, NULL, OPT_ENCLAVE_PATH},
        {"backend", required_argument, NULL, OPT_BACKEND},
        {"log_level", required_argument, NULL, OPT_LOG_LEVEL},
        {"help", no_argument, NULL, OPT_HELP},
        {"remote_proxy", required_argument, NULL, OPT_REMOTE_PROXY},
        {"remote_listen", required_argument, NULL, OPT_REMOTE_LISTEN},
        {"remote_address", required_argument, NULL, OPT_REMOTE_ADDRESS},
        {"remote_token", required_argument, NULL, OPT_REMOTE_TOKEN},
        {"provision_server", required_argument, NULL, OPT_PROVISION_SERVER},
        {"expected_measurement", required_argument, NULL, OPT_EXPECTED_MEASUREMENT},
        {"trusted_platform_key", required_argument, NULL, OPT_TRUSTED_PLATFORM_KEY},
        {NULL, 0, NULL, 0},
    };
    const char *program = argv[0];
    const char *remote_token = NULL;
    bool trusted_key = false;
    asylo_status status;
    /* Security flags first (they are shared with the proxy); the rest with getopt. */
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        int consumed = 0;
        if (asylo_security_parse_flag(&options->security, argv[i],
                                      i + 1 < argc ? argv[i + 1] : NULL, &consumed,
                                      &status) != ASYLO_OK) {
            fprintf(stderr, "quickstart: %s\n", status.message);
            return QUICKSTART_OPTIONS_ERROR;
        }
        if (consumed == 0) {
            argv[kept++] = argv[i];
        } else {
            i += consumed - 1;
        }
    }
    argc = kept;
    opterr = 0;
    int option;
    while ((option = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        asylo_log_level level;
        switch (option) {
        case OPT_MESSAGE:
            options->message = optarg;
            break;
        case OPT_ENCLAVE_PATH:
            options->load_config.enclave_path = optarg;
            break;
        case OPT_BACKEND:
            options->load_config.backend = optarg;
            break;
        case OPT_LOG_LEVEL:
            if (asylo_log_level_parse(optarg, &level, &status) != ASYLO_OK) {
                fprintf(stderr, "quickstart: --log_level: %s\n", status.message);
                return QUICKSTART_OPTIONS_ERROR;
            }
            asylo_log_set_level(level);
            options->load_config.enclave_config.log_level = level;
            break;
        case OPT_HELP:
            usage(stdout, program);
            return QUICKSTART_OPTIONS_HELP;
        case OPT_REMOTE_PROXY:
            options->remote_proxy = optarg;
            break;
        case OPT_REMOTE_LISTEN:
            options->remote_listen = optarg;
            break;
        case OPT_REMOTE_ADDRESS:
            options->remote_address = optarg;
            break;
        case OPT_REMOTE_TOKEN:
            remote_token = optarg;
            break;
        case OPT_PROVISION_SERVER:
            options->provision_server = optarg;
            break;
        case OPT_EXPECTED_MEASUREMENT:
            if (!parse_hex(optarg, options->expected_measurement, 32)) {
                fprintf(stderr, "quickstart: --expected_measurement needs 64 hex digits (the "
                                "measurement `asylo-sign show IMAGE` prints)\n");
                return QUICKSTART_OPTIONS_ERROR;
            }
            options->load_config.expected_measurement = options->expected_measurement;
            break;
        case OPT_TRUSTED_PLATFORM_KEY:
            if (!parse_hex(optarg, options->trusted_platform_key, ASYLO_PLATFORM_KEY_SIZE)) {
                fprintf(stderr,
                        "quickstart: --trusted_platform_key needs %d hex digits (a "
                        "P-256 public key, SEC1 uncompressed)\n",
                        2 * ASYLO_PLATFORM_KEY_SIZE);
                return QUICKSTART_OPTIONS_ERROR;
            }
            trusted_key = true;
            break;
        default:
            fprintf(stderr, "quickstart: unknown or incomplete flag '%s' (see --help)\n",
                    argv[optind - 1]);
            return QUICKSTART_OPTIONS_ERROR;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "quickstart: unexpected argument '%s' (flags look like --name=value)\n",
                argv[optind]);
        return QUICKSTART_OPTIONS_ERROR;
    }
    if (options->message == NULL || options->message[0] == '\0') {
        fprintf(stderr, "quickstart: --message is required and must not be empty\n");
        return QUICKSTART_OPTIONS_ERROR;
    }
    if (strlen(options->message) > QUICKSTART_MAX_MESSAGE_SIZE) {
        fprintf(stderr, "quickstart: --message is longer than %u bytes\n",
                QUICKSTART_MAX_MESSAGE_SIZE);
        return QUICKSTART_OPTIONS_ERROR;
    }
    if (options->load_config.enclave_path == NULL) {
        options->default_enclave_path = default_enclave_path();
        options->load_config.enclave_path = options->default_enclave_path;
    }
    bool remote = strcmp(options->load_config.backend, "remote") == 0;
    if (!remote && (options->remote_proxy || options->remote_address || options->remote_listen ||
                    remote_token || options->provision_server || trusted_key)) {
        fprintf(stderr, "quickstart: --remote_* flags and --trusted_platform_key need "
                        "--backend=remote\n");
        return QUICKSTART_OPTIONS_ERROR;
    }
    if (remote) {
        int result = setup_remote(options, remote_token);
        if (result == QUICKSTART_OPTIONS_OK && trusted_key) {
            options->attestation.trusted_keys = options->trusted_platform_key;
            options->attestation.trusted_key_count = 1;
            options->attestation.allow_debug = options->load_config.debug;
            options->remote.attestation = &options->attestation;
        }
        return result;
    }
    return QUICKSTART_OPTIONS_OK;
}

void quickstart_options_fini(quickstart_options *options) {
    asylo_remote_provision_destroy(options->provision);
    options->provision = NULL;
    free(options->default_enclave_path);
    options->default_enclave_path = NULL;
}
