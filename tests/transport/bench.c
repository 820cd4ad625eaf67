/* transport_bench [N]: median round trip of a 64-byte frame exchange on one
 * stream (client thread waits on its own queue; server handler on its own
 * thread) over 127.0.0.1 with local credentials, unix:, and TLS. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "echo.h"
#include "transport/client_stream.h"
#include "transport/grpc_runtime.h"
#include "transport/server.h"

extern char **environ;

static double now_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1e6 + (double)now.tv_nsec / 1e3;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int measure(const char *name, const char *address, const asylo__security_options *server_sec,
                   const asylo__security_options *client_sec, int count) {
    echo_stats stats = {0};
    asylo__server *server = NULL;
    asylo__channel *channel = NULL;
    asylo__client_stream *stream = NULL;
    asylo_status status;
    int result = 1;
    double *samples = calloc((size_t)count, sizeof *samples);
    asylo__server_options options = {.address = address, .security = server_sec};
    if (asylo__server_create(&options, &server, &status) != ASYLO_OK) {
        goto out;
    }
    echo_register(server, &stats);
    asylo__channel_options channel_options = {.address = asylo__server_address(server),
                                              .security = client_sec};
    double start = now_us();
    if (asylo__channel_open(&channel_options, &channel, &status) != ASYLO_OK) {
        goto out;
    }
    double connect_us = now_us() - start;
    if (asylo__client_stream_open(channel, NULL, NULL, &stream, &status) != ASYLO_OK) {
        goto out;
    }
    uint8_t payload[64];
    memset(payload, 'p', sizeof payload);
    asylo__frame out;
    asylo__frame_init(&out);
    out.kind = ASYLO__FRAME_ENTER;
    out.selector = ECHO_RETURN;
    out.payload = payload;
    out.payload_size = sizeof payload;
    for (int i = -200; i < count; i++) {
        asylo__frame in;
        out.call_id = (uint64_t)(i + 201);
        double t0 = now_us();
        if (asylo__client_stream_exchange(stream, &out, &in, 5000, &status) != ASYLO_OK) {
            goto out;
        }
        double t1 = now_us();
        asylo__frame_release(&in);
        if (i >= 0) {
            samples[i] = t1 - t0;
        }
    }
    qsort(samples, (size_t)count, sizeof *samples, compare);
    printf("%-22s connect %7.0f us   round trip median %6.1f us  p10 %6.1f  p90 %6.1f  (n=%d)\n",
           name, connect_us, samples[count / 2], samples[count / 10], samples[count * 9 / 10],
           count);
    result = 0;
out:
    if (result != 0) {
        fprintf(stderr, "%s: %s\n", name, status.message);
    }
    asylo__client_stream_close(stream, 1000, NULL);
    asylo__channel_close(channel);
    asylo__server_shutdown(server, 500);
    free(samples);
    return result;
}

int main(int argc, char **argv) {
    int count = argc > 1 ? atoi(argv[1]) : 5000;
    if (count < 10) {
        count = 10;
    }
    char dir[] = "/tmp/asylo-transport-bench-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    char *make[] = {"/bin/sh", MAKE_CERTS_SCRIPT, dir, NULL};
    pid_t pid;
    int wait_status = 1;
    if (posix_spawn(&pid, make[0], NULL, NULL, make, environ) != 0 ||
        waitpid(pid, &wait_status, 0) < 0 || wait_status != 0) {
        fprintf(stderr, "make_certs.sh failed\n");
        return 1;
    }
    char cert[300], key[300], ca[300], sock[300];
    snprintf(cert, sizeof cert, "%s/server.pem", dir);
    snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    snprintf(sock, sizeof sock, "unix:%s/bench.sock", dir);
    asylo__grpc_acquire();
    asylo__security_options local = {.type = ASYLO__SECURITY_LOCAL};
    asylo__security_options tls_server = {
        .type = ASYLO__SECURITY_SSL, .server_cert = cert, .server_key = key};
    asylo__security_options tls_client = {.type = ASYLO__SECURITY_SSL, .root_certs = ca};
    int failures = 0;
    failures += measure("tcp 127.0.0.1 local", "127.0.0.1:0", &local, &local, count);
    failures += measure("unix local", sock, &local, &local, count);
    failures += measure("tcp 127.0.0.1 tls", "127.0.0.1:0", &tls_server, &tls_client, count);
    asylo__grpc_release();
    char *remove[] = {"/bin/rm", "-rf", dir, NULL};
    if (posix_spawn(&pid, remove[0], NULL, NULL, remove, environ) == 0) {
        waitpid(pid, NULL, 0);
    }
    return failures == 0 ? 0 : 1;
}
