#include "quickstart_options.h"

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
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
            "  --backend=NAME        where the enclave runs: sim (default)\n"
            "  --log_level=LEVEL     error, warning, info (default) or debug\n"
            "  --help                this text\n",
            program);
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

int quickstart_options_parse(int argc, char **argv, quickstart_options *options) {
    memset(options, 0, sizeof *options);
    asylo_load_config_init(&options->load_config);
    options->load_config.name = "quickstart";
    options->load_config.backend = "sim";
    enum { OPT_MESSAGE = 1, OPT_ENCLAVE_PATH, OPT_BACKEND, OPT_LOG_LEVEL, OPT_HELP };
    static const struct option long_options[] = {
        {"message", required_argument, NULL, OPT_MESSAGE},
        {"enclave_path", required_argument, NULL, OPT_ENCLAVE_PATH},
        {"backend", required_argument, NULL, OPT_BACKEND},
        {"log_level", required_argument, NULL, OPT_LOG_LEVEL},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *program = argv[0];
    opterr = 0;
    int option;
    while ((option = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        asylo_status status;
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
    return QUICKSTART_OPTIONS_OK;
}

void quickstart_options_fini(quickstart_options *options) {
    free(options->default_enclave_path);
    options->default_enclave_path = NULL;
}
