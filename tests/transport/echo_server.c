/* transport_echo_server ADDRESS [security flags]: serves the echo service and
 * prints "LISTENING <bound address>" on stdout; runs until killed or stdin
 * closes. Used by the kill -9 test and the round-trip benchmark. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "echo.h"
#include "transport/security.h"
#include "transport/server.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s ADDRESS [flags]\n%s", argv[0], asylo__security_usage());
        return 2;
    }
    asylo__security_options security = {0};
    asylo_status status;
    for (int i = 2; i < argc;) {
        int consumed = 0;
        if (asylo__security_parse_flag(&security, argv[i], i + 1 < argc ? argv[i + 1] : NULL,
                                       &consumed, &status) != ASYLO_OK) {
            fprintf(stderr, "%s\n", status.message);
            return 2;
        }
        if (consumed == 0) {
            fprintf(stderr, "unknown argument '%s'\n", argv[i]);
            return 2;
        }
        i += consumed;
    }
    echo_stats stats = {0};
    asylo__server_options options = {.address = argv[1], .security = &security};
    asylo__server *server = NULL;
    if (asylo__server_create(&options, &server, &status) != ASYLO_OK) {
        fprintf(stderr, "%s\n", status.message);
        return 1;
    }
    echo_register(server, &stats);
    printf("LISTENING %s\n", asylo__server_address(server));
    fflush(stdout);
    char buffer[64];
    while (read(STDIN_FILENO, buffer, sizeof buffer) > 0) {
    }
    asylo__server_shutdown(server, 1000);
    return 0;
}
