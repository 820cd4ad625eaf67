/* The hello_world host: loads the enclave with the sim backend, asks it to
 * greet each name on the command line, and destroys it. */
#include <stdio.h>
#include <string.h>

#include "asylo/asylo.h"

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        printf("Usage: %s [NAME...]\nGreets each NAME (default: World) from inside an enclave "
               "run with the sim backend.\n",
               argv[0]);
        return 0;
    }
    asylo_status status;
    asylo_manager *manager = NULL;
    asylo_client *client = NULL;
    char text[ASYLO_STATUS_MESSAGE_SIZE + 64];
    int exit_code = 1;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "hello";
    config.backend = "sim";
    config.enclave_path = HELLO_ENCLAVE_PATH;
    if (asylo_manager_create(&manager, &status) != ASYLO_OK ||
        asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fprintf(stderr, "hello_world: %s\n", asylo_status_format(&status, text, sizeof text));
        goto out;
    }
    const char *default_name = "World";
    int count = argc > 1 ? argc - 1 : 1;
    for (int i = 0; i < count; i++) {
        const char *name = argc > 1 ? argv[i + 1] : default_name;
        asylo_buffer greeting = {0};
        if (asylo_client_run(client, name, strlen(name), &greeting, &status) != ASYLO_OK) {
            fprintf(stderr, "hello_world: %s\n", asylo_status_format(&status, text, sizeof text));
            goto out;
        }
        printf("%.*s\n", (int)greeting.size, (const char *)greeting.data);
        asylo_buffer_free(&greeting);
    }
    exit_code = 0;
out:
    if (client != NULL &&
        asylo_manager_destroy_client(manager, client, NULL, 0, &status) != ASYLO_OK) {
        fprintf(stderr, "hello_world: %s\n", asylo_status_format(&status, text, sizeof text));
        exit_code = 1;
    }
    asylo_manager_destroy(manager);
    return exit_code;
}
