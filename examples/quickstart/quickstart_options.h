/* The quickstart's command line. */
#ifndef ASYLO_EXAMPLES_QUICKSTART_OPTIONS_H
#define ASYLO_EXAMPLES_QUICKSTART_OPTIONS_H

#include "asylo/asylo.h"

typedef struct quickstart_options {
    const char *message;
    char *default_enclave_path;
    asylo_load_config load_config;
} quickstart_options;

enum { QUICKSTART_OPTIONS_OK = 0, QUICKSTART_OPTIONS_HELP = 1, QUICKSTART_OPTIONS_ERROR = 2 };

/* Parses argv; prints --help or a clear error itself. */
int quickstart_options_parse(int argc, char **argv, quickstart_options *options);
void quickstart_options_fini(quickstart_options *options);

#endif
