/* The quickstart's host: loads the enclave, asks it to encrypt --message,
 * prints the ciphertext, then asks it to decrypt and checks the round trip. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asylo/asylo.h"
#include "quickstart.h"
#include "quickstart_options.h"

static void print_hex(const uint8_t *data, size_t size) {
    for (size_t i = 0; i < size; i++) {
        printf("%02x", data[i]);
    }
}

static int fail(const char *what, const asylo_status *status) {
    char text[ASYLO_STATUS_MESSAGE_SIZE + 64];
    fprintf(stderr, "quickstart: %s: %s\n", what, asylo_status_format(status, text, sizeof text));
    return 1;
}

int main(int argc, char **argv) {
    quickstart_options options;
    int parsed = quickstart_options_parse(argc, argv, &options);
    if (parsed != QUICKSTART_OPTIONS_OK) {
        return parsed == QUICKSTART_OPTIONS_HELP ? 0 : 2;
    }

    asylo_status status;
    asylo_manager *manager = NULL;
    asylo_client *client = NULL;
    asylo_buffer sealed = {0};
    asylo_buffer opened = {0};
    int exit_code = 1;
    if (asylo_manager_create(&manager, &status) != ASYLO_OK) {
        exit_code = fail("creating the manager", &status);
        goto out;
    }
    if (asylo_manager_load(manager, &options.load_config, &client, &status) != ASYLO_OK) {
        exit_code = fail("loading the enclave", &status);
        goto out;
    }
    size_t message_size = strlen(options.message);
    if (asylo_client_run(client, options.message, message_size, &sealed, &status) != ASYLO_OK) {
        exit_code = fail("encrypting in the enclave", &status);
        goto out;
    }
    printf("Encrypted message: ");
    print_hex(sealed.data, sealed.size);
    printf("\n");
    if (asylo_client_call(client, QUICKSTART_SELECTOR_DECRYPT, sealed.data, sealed.size, &opened,
                          &status) != ASYLO_OK) {
        exit_code = fail("decrypting in the enclave", &status);
        goto out;
    }
    if (opened.size != message_size || memcmp(opened.data, options.message, message_size) != 0) {
        fprintf(stderr, "quickstart: the enclave decrypted something other than the message\n");
        goto out;
    }
    printf("Round trip OK: the enclave (backend %s) decrypted its ciphertext back to the "
           "%zu-byte message\n",
           asylo_client_backend_name(client), message_size);
    exit_code = 0;
out:
    asylo_buffer_free(&sealed);
    asylo_buffer_free(&opened);
    if (client != NULL &&
        asylo_manager_destroy_client(manager, client, NULL, 0, &status) != ASYLO_OK) {
        exit_code = fail("destroying the enclave", &status);
    }
    asylo_manager_destroy(manager);
    quickstart_options_fini(&options);
    return exit_code;
}
