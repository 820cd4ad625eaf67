/* transport_echo_server ADDRESS [security flags]: serves the echo service and
 * prints "LISTENING <bound address>" on stdout; runs until killed or stdin
 * closes. Used by the kill -9 tests.
 *
 * transport_echo_server --connect ADDRESS: the other side: one echo round
 * trip, prints "CONNECTED", then waits on a call the server never answers,
 * until killed (the server-side kill -9 test). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "echo.h"
#include "transport/client_stream.h"
#include "transport/security.h"
#include "transport/server.h"

static int connect_and_hang(const char *address) {
    asylo__channel_options options = {.address = address};
    asylo__channel *channel = NULL;
    asylo__client_stream *stream = NULL;
    asylo_status status;
    if (asylo__channel_open(&options, &channel, &status) != ASYLO_OK ||
        asylo__client_stream_open(channel, NULL, NULL, &stream, &status) != ASYLO_OK) {
        fprintf(stderr, "%s\n", status.message);
        return 1;
    }
    asylo__frame out, in;
    asylo__frame_init(&out);
    out.kind = ASYLO__FRAME_ENTER;
    out.selector = ECHO_RETURN;
    if (asylo__client_stream_exchange(stream, &out, &in, 5000, &status) != ASYLO_OK) {
        fprintf(stderr, "%s\n", status.message);
        return 1;
    }
    asylo__frame_release(&in);
    printf("CONNECTED\n");
    fflush(stdout);
    out.selector = ECHO_NO_REPLY;
    asylo__client_stream_exchange(stream, &out, &in, 60000, &status);
    asylo__client_stream_close(stream, 1000, NULL);
    asylo__channel_close(channel);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--connect") == 0) {
        return connect_and_hang(argv[2]);
    }
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
    /* A server program: --ssl_root_certs means mutual TLS, as in the tools. */
    security.require_client_certificate = security.root_certs != NULL;
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
