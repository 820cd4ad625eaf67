/* The quickstart's command line. */
#ifndef ASYLO_EXAMPLES_QUICKSTART_OPTIONS_H
#define ASYLO_EXAMPLES_QUICKSTART_OPTIONS_H

#include "asylo/asylo.h"

typedef struct quickstart_options {
    const char *message;
    char *default_enclave_path;
    asylo_load_config load_config;
    /* --backend=remote */
    const char *remote_proxy;     /* provision locally with this proxy binary */
    const char *remote_address;   /* or connect to a proxy already running here */
    const char *provision_server; /* or provision through asylo-provision-server */
    const char *remote_listen;    /* where a locally provisioned proxy listens */
    asylo_security_options security;
    asylo_remote_config remote;
    asylo_remote_provision *provision;
    /* --expected_measurement, --trusted_platform_key (remote attestation) */
    uint8_t expected_measurement[32];
    uint8_t trusted_platform_key[ASYLO_PLATFORM_KEY_SIZE];
    asylo_attestation_policy attestation;
} quickstart_options;

enum { QUICKSTART_OPTIONS_OK = 0, QUICKSTART_OPTIONS_HELP = 1, QUICKSTART_OPTIONS_ERROR = 2 };

/* Parses argv and sets up the load config (creating the provision for
 * --backend=remote); prints --help or a clear error itself. */
int quickstart_options_parse(int argc, char **argv, quickstart_options *options);
void quickstart_options_fini(quickstart_options *options);

#endif
