/* Transport integration tests: the echo service over real gRPC on
 * 127.0.0.1, [::1] and unix:, with local and ssl (mutual TLS) security,
 * oversized frames, timeouts, concurrency, and a server killed with -9.
 * Loopback and unix sockets only; every wait is bounded. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "echo.h"
#include "transport/client_stream.h"
#include "transport/grpc_runtime.h"
#include "transport/server.h"

extern char **environ;

static char temp_dir[] = "/tmp/asylo-transport-XXXXXX";
static char path_buffer[16][256];
static int path_next;

static const char *in_temp(const char *name) {
    char *path = path_buffer[path_next++ % 16];
    snprintf(path, sizeof path_buffer[0], "%s/%s", temp_dir, name);
    return path;
}

static double now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
}

static int run_wait(char *const argv[]) {
    pid_t pid;
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0) {
        return -1;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int group_setup(void **state) {
    (void)state;
    if (mkdtemp(temp_dir) == NULL) {
        return -1;
    }
    char *argv[] = {"/bin/sh", MAKE_CERTS_SCRIPT, temp_dir, NULL};
    if (run_wait(argv) != 0) {
        fprintf(stderr, "make_certs.sh failed\n");
        return -1;
    }
    asylo__grpc_acquire();
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    asylo__grpc_release();
    char *argv[] = {"/bin/rm", "-rf", temp_dir, NULL};
    run_wait(argv);
    return 0;
}

/* ---- helpers ---- */

typedef struct fixture {
    asylo__server *server;
    echo_stats stats;
    asylo__channel *channel;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    size_t ended_calls;
    double idle_at; /* when on_call_end last reported 0 active calls */
} fixture;

static void on_call_end(void *context, size_t active_calls) {
    fixture *f = context;
    pthread_mutex_lock(&f->lock);
    f->ended_calls++;
    if (active_calls == 0) {
        f->idle_at = now_ms();
    }
    pthread_cond_broadcast(&f->changed);
    pthread_mutex_unlock(&f->lock);
}

/* Waits up to timeout_ms for on_call_end to report the server idle after
 * `ended` calls; returns the time it did, or 0. */
static double wait_idle(fixture *f, size_t ended, int timeout_ms) {
    double deadline = now_ms() + timeout_ms;
    double idle_at = 0;
    pthread_mutex_lock(&f->lock);
    while (now_ms() < deadline) {
        if (f->ended_calls >= ended && f->idle_at > 0) {
            idle_at = f->idle_at;
            break;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 10 * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&f->changed, &f->lock, &until);
    }
    pthread_mutex_unlock(&f->lock);
    return idle_at;
}

static asylo__security_options local_security(void) {
    asylo__security_options options = {.type = ASYLO__SECURITY_LOCAL};
    return options;
}

static asylo__security_options server_ssl(bool mutual) {
    asylo__security_options options = {.type = ASYLO__SECURITY_SSL,
                                       .server_cert = in_temp("server.pem"),
                                       .server_key = in_temp("server.key"),
                                       .root_certs = mutual ? in_temp("ca.pem") : NULL,
                                       .require_client_certificate = mutual};
    return options;
}

static asylo__security_options client_ssl(const char *roots, const char *identity) {
    asylo__security_options options = {.type = ASYLO__SECURITY_SSL, .root_certs = in_temp(roots)};
    if (identity != NULL) {
        char name[64];
        snprintf(name, sizeof name, "%s.pem", identity);
        options.client_cert = in_temp(name);
        snprintf(name, sizeof name, "%s.key", identity);
        options.client_key = in_temp(name);
    }
    return options;
}

static void start_server(fixture *f, const char *address, const asylo__security_options *security,
                         size_t max_message_size) {
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->changed, NULL);
    asylo__server_options options = {.address = address,
                                     .security = security,
                                     .max_message_size = max_message_size,
                                     .on_call_end = on_call_end,
                                     .on_call_end_context = f};
    asylo_status status;
    if (asylo__server_create(&options, &f->server, &status) != ASYLO_OK) {
        fail_msg("server on %s: %s", address, status.message);
    }
    echo_register(f->server, &f->stats);
}

static asylo_code open_channel(fixture *f, const asylo__security_options *security,
                               size_t max_message_size, asylo_status *status) {
    asylo__channel_options options = {.address = asylo__server_address(f->server),
                                      .security = security,
                                      .max_message_size = max_message_size,
                                      .connect_timeout_ms = 3000};
    return asylo__channel_open(&options, &f->channel, status);
}

static void stop(fixture *f) {
    asylo__channel_close(f->channel);
    f->channel = NULL;
    asylo__server_shutdown(f->server, 1000);
    f->server = NULL;
}

static asylo__frame enter(uint64_t call_id, uint32_t selector, const void *payload, size_t size) {
    asylo__frame frame;
    asylo__frame_init(&frame);
    frame.kind = ASYLO__FRAME_ENTER;
    frame.call_id = call_id;
    frame.selector = selector;
    frame.payload = payload;
    frame.payload_size = size;
    return frame;
}

/* Sends count echo frames on one stream and checks every reply. */
static void echo_round_trips(asylo__channel *channel, int count) {
    asylo__client_stream *stream = NULL;
    asylo_status status;
    assert_int_equal(asylo__client_stream_open(channel, NULL, NULL, &stream, &status), ASYLO_OK);
    for (int i = 0; i < count; i++) {
        char text[32];
        int length = snprintf(text, sizeof text, "hello %d", i);
        asylo__frame out = enter((uint64_t)i + 1, ECHO_RETURN, text, (size_t)length);
        asylo__frame in;
        if (asylo__client_stream_exchange(stream, &out, &in, 5000, &status) != ASYLO_OK) {
            fail_msg("exchange %d: %s", i, status.message);
        }
        assert_int_equal(in.kind, ASYLO__FRAME_RETURN);
        assert_true(in.call_id == (uint64_t)i + 1);
        assert_int_equal(in.payload_size, (size_t)length);
        assert_memory_equal(in.payload, text, (size_t)length);
        asylo__frame_release(&in);
    }
    /* ERROR frames carry the status across. */
    asylo__frame out = enter(99, ECHO_ERROR, NULL, 0);
    asylo__frame in;
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 5000, &status), ASYLO_OK);
    assert_int_equal(in.kind, ASYLO__FRAME_ERROR);
    assert_int_equal(in.status.code, ASYLO_NOT_FOUND);
    assert_int_equal(in.status.origin, ASYLO_ORIGIN_ENCLAVE);
    assert_string_equal(in.status.message, "echo error");
    asylo__frame_release(&in);
    assert_int_equal(asylo__client_stream_close(stream, 2000, &status), ASYLO_OK);
}

static void echo_over(const char *address) {
    fixture f;
    asylo__security_options security = local_security();
    start_server(&f, address, &security, 0);
    asylo_status status;
    if (open_channel(&f, &security, 0, &status) != ASYLO_OK) {
        fail_msg("channel to %s: %s", asylo__server_address(f.server), status.message);
    }
    echo_round_trips(f.channel, 50);
    stop(&f);
}

static bool ipv6_loopback_available(void) {
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    struct sockaddr_in6 address = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&address, sizeof address) == 0;
    close(fd);
    return ok;
}

/* ---- tests ---- */

static void test_local_tcp4(void **state) {
    (void)state;
    echo_over("127.0.0.1:0");
}

static void test_local_localhost(void **state) {
    (void)state;
    echo_over("localhost:0");
}

static void test_local_tcp6(void **state) {
    (void)state;
    if (!ipv6_loopback_available()) {
        printf("SKIP: ::1 is not available on this machine\n");
        skip();
    }
    echo_over("[::1]:0");
}

static void test_local_unix(void **state) {
    (void)state;
    char address[300];
    snprintf(address, sizeof address, "unix:%s", in_temp("echo.sock"));
    echo_over(address);
}

static void test_local_refused_on_non_loopback(void **state) {
    (void)state;
    asylo__server_options options = {.address = "0.0.0.0:0"};
    asylo__server *server = NULL;
    asylo_status status;
    assert_int_equal(asylo__server_create(&options, &server, &status), ASYLO_FAILED_PRECONDITION);
    assert_non_null(strstr(status.message, "--allow_insecure_non_local"));
    assert_null(server);
    asylo__channel *channel = NULL;
    asylo__channel_options channel_options = {.address = "192.0.2.1:5000"};
    assert_int_equal(asylo__channel_open(&channel_options, &channel, &status),
                     ASYLO_FAILED_PRECONDITION);
    assert_null(channel);
}

static void test_connect_refused(void **state) {
    (void)state;
    /* A port that was just free: nothing listens there. */
    fixture f;
    asylo__security_options security = local_security();
    start_server(&f, "127.0.0.1:0", &security, 0);
    char address[64];
    snprintf(address, sizeof address, "%s", asylo__server_address(f.server));
    asylo__server_shutdown(f.server, 0);
    asylo__channel_options options = {.address = address, .connect_timeout_ms = 500};
    asylo__channel *channel = NULL;
    asylo_status status;
    double start = now_ms();
    assert_int_equal(asylo__channel_open(&options, &channel, &status), ASYLO_UNAVAILABLE);
    assert_true(now_ms() - start < 3000);
    assert_non_null(strstr(status.message, address));
    printf("connect refused: %s\n", status.message);
}

/* A plaintext client at a TLS server: the error says the security settings
 * may differ; a caller that passes no status (a provision's release on
 * destroy does) gets the code and nothing is read through the NULL. */
static void test_plaintext_client_at_tls_server(void **state) {
    (void)state;
    fixture f;
    asylo__security_options server = server_ssl(false);
    start_server(&f, "127.0.0.1:0", &server, 0);
    asylo__security_options plaintext = local_security();
    asylo__channel_options options = {.address = asylo__server_address(f.server),
                                      .security = &plaintext,
                                      .connect_timeout_ms = 2000};
    asylo__channel *channel = NULL;
    asylo_status status;
    asylo_code code = asylo__channel_open(&options, &channel, &status);
    assert_int_equal(code, ASYLO_UNAVAILABLE);
    printf("plaintext at TLS: %s\n", status.message);
    channel = NULL;
    assert_int_equal(asylo__channel_open(&options, &channel, NULL), ASYLO_UNAVAILABLE);
    assert_null(channel);
    stop(&f);
}

static void test_ssl_mutual_accepts_good_client(void **state) {
    (void)state;
    fixture f;
    asylo__security_options server = server_ssl(true);
    start_server(&f, "127.0.0.1:0", &server, 0);
    asylo__security_options client = client_ssl("ca.pem", "client");
    asylo_status status;
    if (open_channel(&f, &client, 0, &status) != ASYLO_OK) {
        fail_msg("%s", status.message);
    }
    echo_round_trips(f.channel, 20);
    /* The handler sees the verified identity. */
    asylo__client_stream *stream = NULL;
    assert_int_equal(asylo__client_stream_open(f.channel, NULL, NULL, &stream, &status), ASYLO_OK);
    asylo__frame out = enter(1, ECHO_IDENTITY, NULL, 0);
    asylo__frame in;
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 5000, &status), ASYLO_OK);
    char identity[256] = {0};
    memcpy(identity, in.payload, in.payload_size < 255 ? in.payload_size : 255);
    assert_string_equal(identity, "CN=good client,O=asylo tests");
    asylo__frame_release(&in);
    asylo__client_stream_close(stream, 2000, NULL);
    stop(&f);
}

/* A client with the given identity must get UNAUTHENTICATED and never reach
 * the handler. */
static void expect_refused_client(const char *identity, const char *expected) {
    fixture f;
    asylo__security_options server = server_ssl(true);
    start_server(&f, "[::1]:0", &server, 0);
    asylo__security_options client = client_ssl("ca.pem", identity);
    asylo_status status;
    /* The handshake succeeds (the server asks but does not require)... */
    if (open_channel(&f, &client, 0, &status) != ASYLO_OK) {
        fail_msg("%s", status.message);
    }
    asylo__client_stream *stream = NULL;
    assert_int_equal(asylo__client_stream_open(f.channel, NULL, NULL, &stream, &status), ASYLO_OK);
    asylo__frame out = enter(1, ECHO_RETURN, "x", 1);
    asylo__frame in;
    /* ... and the call is refused with the reason. */
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 5000, &status),
                     ASYLO_UNAUTHENTICATED);
    printf("%s client: %s\n", identity != NULL ? identity : "no", status.message);
    assert_non_null(strstr(status.message, expected));
    assert_true(asylo__client_stream_is_dead(stream));
    assert_int_equal(asylo__client_stream_close(stream, 2000, &status), ASYLO_UNAUTHENTICATED);
    assert_int_equal(atomic_load(&f.stats.handler_calls), 0);
    assert_true(asylo__server_total_calls(f.server) >= 1);
    stop(&f);
}

static void test_ssl_mutual_refuses_wrong_client(void **state) {
    (void)state;
    expect_refused_client("rogue", "not trusted by this server");
}

static void test_ssl_mutual_refuses_missing_client_cert(void **state) {
    (void)state;
    expect_refused_client(NULL, "presented none");
}

static void test_ssl_untrusted_server(void **state) {
    (void)state;
    fixture f;
    asylo__security_options server = server_ssl(false);
    start_server(&f, "127.0.0.1:0", &server, 0);
    asylo__security_options client = client_ssl("other_ca.pem", NULL);
    asylo_status status;
    double start = now_ms();
    assert_int_equal(open_channel(&f, &client, 0, &status), ASYLO_UNAUTHENTICATED);
    printf("untrusted server (%.0f ms): %s\n", now_ms() - start, status.message);
    assert_non_null(strstr(status.message, "server certificate was not trusted"));
    assert_non_null(strstr(status.message, asylo__server_address(f.server)));
    assert_null(f.channel);
    assert_int_equal(atomic_load(&f.stats.handler_calls), 0);
    stop(&f);
}

static void test_ssl_server_only_unix(void **state) {
    (void)state;
    /* TLS without client certificates, over a unix socket (authority
     * "localhost" matches the DNS SAN). */
    fixture f;
    asylo__security_options server = server_ssl(false);
    char address[300];
    snprintf(address, sizeof address, "unix:%s", in_temp("tls.sock"));
    start_server(&f, address, &server, 0);
    asylo__security_options client = client_ssl("ca.pem", NULL);
    asylo_status status;
    if (open_channel(&f, &client, 0, &status) != ASYLO_OK) {
        fail_msg("%s", status.message);
    }
    echo_round_trips(f.channel, 10);
    stop(&f);
}

static void test_oversized_frames(void **state) {
    (void)state;
    fixture f;
    asylo__security_options security = local_security();
    const size_t limit = 1 << 20;
    start_server(&f, "127.0.0.1:0", &security, 8 << 20);
    asylo_status status;
    assert_int_equal(open_channel(&f, &security, limit, &status), ASYLO_OK);
    asylo__client_stream *stream = NULL;
    assert_int_equal(asylo__client_stream_open(f.channel, NULL, "t", &stream, &status), ASYLO_OK);
    uint8_t *big = calloc(1, 2 * limit);
    asylo__frame out = enter(1, ECHO_RETURN, big, 2 * limit);
    asylo__frame in;
    /* Refused locally, before anything was sent (this is the first batch). */
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 5000, &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(status.message, "nothing was sent"));
    assert_false(asylo__client_stream_is_dead(stream));
    /* The same stream still works, up to the limit. */
    out = enter(2, ECHO_RETURN, big, limit - 64);
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 5000, &status), ASYLO_OK);
    assert_int_equal(in.payload_size, limit - 64);
    asylo__frame_release(&in);
    out = enter(3, ECHO_RETURN, big, 2 * limit);
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 5000, &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    out = enter(4, ECHO_TOKEN, NULL, 0);
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 5000, &status), ASYLO_OK);
    assert_int_equal(in.payload_size, 1);
    assert_memory_equal(in.payload, "t", 1);
    asylo__frame_release(&in);
    /* A reply over the client's limit ends the stream with RESOURCE_EXHAUSTED. */
    char size_text[32];
    int length = snprintf(size_text, sizeof size_text, "%zu", 2 * limit);
    out = enter(5, ECHO_BIG, size_text, (size_t)length);
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 5000, &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    printf("oversized reply: %s\n", status.message);
    assert_true(asylo__client_stream_is_dead(stream));
    asylo__client_stream_close(stream, 2000, NULL);
    free(big);
    stop(&f);
}

static void test_token_unimplemented_and_health(void **state) {
    (void)state;
    fixture f;
    asylo__security_options security = local_security();
    start_server(&f, "127.0.0.1:0", &security, 0);
    asylo_status status;
    assert_int_equal(open_channel(&f, &security, 0, &status), ASYLO_OK);
    asylo__client_stream *stream = NULL;
    assert_int_equal(asylo__client_stream_open(f.channel, NULL, "one-time-token", &stream, &status),
                     ASYLO_OK);
    asylo__frame out = enter(1, ECHO_TOKEN, NULL, 0);
    asylo__frame in;
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 5000, &status), ASYLO_OK);
    assert_int_equal(in.payload_size, strlen("one-time-token"));
    assert_memory_equal(in.payload, "one-time-token", in.payload_size);
    asylo__frame_release(&in);
    /* The server's final status reaches the client. */
    out = enter(2, ECHO_FINISH, NULL, 0);
    double start = now_ms();
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 5000, &status),
                     ASYLO_PERMISSION_DENIED);
    assert_non_null(strstr(status.message, "echo finish"));
    assert_int_equal(asylo__client_stream_close(stream, 2000, &status), ASYLO_PERMISSION_DENIED);

    /* Unknown method: UNIMPLEMENTED, quickly. */
    assert_int_equal(
        asylo__client_stream_open(f.channel, "/no.such.Service/Method", NULL, &stream, &status),
        ASYLO_OK);
    start = now_ms();
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 5000, &status),
                     ASYLO_UNIMPLEMENTED);
    assert_true(now_ms() - start < 1000);
    assert_non_null(strstr(status.message, "/no.such.Service/Method"));
    asylo__client_stream_close(stream, 2000, NULL);

    /* A unary raw-bytes method on the same server. */
    assert_int_equal(asylo__client_stream_open(f.channel, HEALTH_METHOD, NULL, &stream, &status),
                     ASYLO_OK);
    uint8_t *reply = NULL;
    size_t reply_size = 0;
    assert_int_equal(asylo__client_stream_exchange_bytes(stream, "", 0, true, &reply, &reply_size,
                                                         5000, &status),
                     ASYLO_OK);
    assert_int_equal(reply_size, 2);
    assert_int_equal(reply[0], 0x08);
    assert_int_equal(reply[1], 0x01);
    free(reply);
    assert_int_equal(asylo__client_stream_close(stream, 2000, &status), ASYLO_OK);

    /* A reply that is not a frame, with no status to fill (status NULL):
     * INVALID_ARGUMENT and a dead stream, not a NULL dereference (cppcheck
     * nullPointerRedundantCheck, issue 9 item 9). The health method answers
     * bytes that decode as a frame of kind 0. */
    assert_int_equal(asylo__client_stream_open(f.channel, HEALTH_METHOD, NULL, &stream, &status),
                     ASYLO_OK);
    out = enter(3, ECHO_RETURN, NULL, 0);
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 5000, NULL),
                     ASYLO_INVALID_ARGUMENT);
    assert_true(asylo__client_stream_is_dead(stream));
    assert_int_equal(asylo__client_stream_close(stream, 2000, &status), ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "malformed frame"));
    assert_int_equal(atomic_load(&f.stats.handler_calls), 1);
    stop(&f);
}

static void test_timeout_kills_stream(void **state) {
    (void)state;
    fixture f;
    asylo__security_options security = local_security();
    start_server(&f, "127.0.0.1:0", &security, 0);
    asylo_status status;
    assert_int_equal(open_channel(&f, &security, 0, &status), ASYLO_OK);
    asylo__client_stream *stream = NULL;
    assert_int_equal(asylo__client_stream_open(f.channel, NULL, NULL, &stream, &status), ASYLO_OK);
    asylo__frame out = enter(1, ECHO_NO_REPLY, NULL, 0);
    asylo__frame in;
    double start = now_ms();
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 200, &status),
                     ASYLO_DEADLINE_EXCEEDED);
    double elapsed = now_ms() - start;
    assert_true(elapsed >= 190 && elapsed < 1500);
    assert_non_null(strstr(status.message, "cannot be used again"));
    assert_true(asylo__client_stream_is_dead(stream));
    out = enter(2, ECHO_RETURN, NULL, 0);
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 200, &status),
                     ASYLO_DEADLINE_EXCEEDED);
    asylo__client_stream_close(stream, 1000, NULL);
    /* The server's handler saw the client go away. */
    for (int i = 0; i < 200 && atomic_load(&f.stats.client_gone) == 0; i++) {
        usleep(10000);
    }
    assert_int_equal(atomic_load(&f.stats.client_gone), 1);
    /* A half-close is reported to the handler as OUT_OF_RANGE. */
    assert_int_equal(asylo__client_stream_open(f.channel, NULL, NULL, &stream, &status), ASYLO_OK);
    assert_int_equal(asylo__client_stream_close(stream, 1000, &status), ASYLO_OK);
    for (int i = 0; i < 200 && atomic_load(&f.stats.client_closed) == 0; i++) {
        usleep(10000);
    }
    assert_int_equal(atomic_load(&f.stats.client_closed), 1);
    stop(&f);
}

typedef struct worker {
    asylo__channel *channel;
    int index;
    int failures;
    char error[ASYLO_STATUS_MESSAGE_SIZE];
} worker;

static void *worker_main(void *argument) {
    worker *w = argument;
    asylo__client_stream *stream = NULL;
    asylo_status status;
    if (asylo__client_stream_open(w->channel, NULL, NULL, &stream, &status) != ASYLO_OK) {
        w->failures++;
        return NULL;
    }
    for (int i = 0; i < 300; i++) {
        char text[32];
        int length = snprintf(text, sizeof text, "thread %d call %d", w->index, i);
        asylo__frame out = enter((uint64_t)i + 1, ECHO_RETURN, text, (size_t)length);
        asylo__frame in;
        if (asylo__client_stream_exchange(stream, &out, &in, 5000, &status) != ASYLO_OK) {
            snprintf(w->error, sizeof w->error, "%s", status.message);
            w->failures++;
            break;
        }
        if (in.payload_size != (size_t)length || memcmp(in.payload, text, in.payload_size) != 0 ||
            in.call_id != (uint64_t)i + 1) {
            w->failures++;
        }
        asylo__frame_release(&in);
    }
    if (asylo__client_stream_close(stream, 2000, &status) != ASYLO_OK) {
        w->failures++;
    }
    return NULL;
}

static void test_eight_threads(void **state) {
    (void)state;
    fixture f;
    asylo__security_options security = local_security();
    start_server(&f, "127.0.0.1:0", &security, 0);
    asylo_status status;
    assert_int_equal(open_channel(&f, &security, 0, &status), ASYLO_OK);
    pthread_t threads[8];
    worker workers[8];
    for (int i = 0; i < 8; i++) {
        workers[i] = (worker){.channel = f.channel, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        if (workers[i].failures != 0) {
            fail_msg("thread %d: %d failures (%s)", i, workers[i].failures, workers[i].error);
        }
    }
    assert_int_equal(atomic_load(&f.stats.handler_calls), 8);
    stop(&f);
}

/* Starts transport_echo_server with argv (NULL-terminated, argv[0] unused),
 * waits for a first line starting with `ready`, returns the pid and the rest
 * of the line. */
static pid_t spawn_helper(char **argv, const char *ready, char *rest, size_t rest_size,
                          int *stdin_fd) {
    int out_pipe[2], in_pipe[2];
    assert_int_equal(pipe2(out_pipe, O_CLOEXEC), 0);
    assert_int_equal(pipe2(in_pipe, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
    argv[0] = ECHO_SERVER_PATH;
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, ECHO_SERVER_PATH, &actions, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(out_pipe[1]);
    close(in_pipe[0]);
    char line[300] = {0};
    size_t used = 0;
    while (used < sizeof line - 1 && strchr(line, '\n') == NULL) {
        ssize_t got = read(out_pipe[0], line + used, sizeof line - 1 - used);
        if (got <= 0) {
            break;
        }
        used += (size_t)got;
    }
    close(out_pipe[0]);
    char *newline = strchr(line, '\n');
    size_t ready_length = strlen(ready);
    if (strncmp(line, ready, ready_length) != 0 || newline == NULL) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("transport_echo_server did not say '%s': '%s'", ready, line);
    }
    *newline = '\0';
    snprintf(rest, rest_size, "%s", line + ready_length);
    *stdin_fd = in_pipe[1];
    return pid;
}

typedef struct killer {
    pid_t pid;
    int delay_ms;
    double killed_at;
} killer;

static void *killer_main(void *argument) {
    killer *k = argument;
    usleep((useconds_t)k->delay_ms * 1000);
    k->killed_at = now_ms();
    kill(k->pid, SIGKILL);
    return NULL;
}

static void kill_mid_exchange(const char *address) {
    char bound[300];
    int stdin_fd;
    char *argv[] = {NULL, (char *)address, NULL};
    pid_t pid = spawn_helper(argv, "LISTENING ", bound, sizeof bound, &stdin_fd);
    asylo__channel_options options = {.address = bound, .connect_timeout_ms = 3000};
    asylo__channel *channel = NULL;
    asylo_status status;
    if (asylo__channel_open(&options, &channel, &status) != ASYLO_OK) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("%s", status.message);
    }
    echo_round_trips(channel, 5);
    asylo__client_stream *stream = NULL;
    assert_int_equal(asylo__client_stream_open(channel, NULL, NULL, &stream, &status), ASYLO_OK);
    /* The server holds this call; the client waits without a timeout. */
    killer k = {.pid = pid, .delay_ms = 200};
    pthread_t thread;
    pthread_create(&thread, NULL, killer_main, &k);
    asylo__frame out = enter(1, ECHO_NO_REPLY, NULL, 0);
    asylo__frame in;
    asylo_code code = asylo__client_stream_exchange(stream, &out, &in, -1, &status);
    double noticed = now_ms() - k.killed_at;
    pthread_join(thread, NULL);
    waitpid(pid, NULL, 0);
    close(stdin_fd);
    printf("kill -9 of %s noticed after %.1f ms: %s\n", bound, noticed, status.message);
    assert_int_equal(code, ASYLO_UNAVAILABLE);
    assert_true(noticed < 2000);
    assert_int_equal(status.origin, ASYLO_ORIGIN_TRANSPORT);
    asylo__client_stream_close(stream, 1000, NULL);
    /* New streams on the dead channel fail fast too. */
    assert_int_equal(asylo__client_stream_open(channel, NULL, NULL, &stream, &status), ASYLO_OK);
    out = enter(2, ECHO_RETURN, NULL, 0);
    double start = now_ms();
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 3000, &status),
                     ASYLO_UNAVAILABLE);
    assert_true(now_ms() - start < 2000);
    asylo__client_stream_close(stream, 1000, NULL);
    asylo__channel_close(channel);
}

static void test_kill9_tcp(void **state) {
    (void)state;
    kill_mid_exchange("127.0.0.1:0");
}

static void test_kill9_unix(void **state) {
    (void)state;
    char address[300];
    snprintf(address, sizeof address, "unix:%s", in_temp("kill.sock"));
    kill_mid_exchange(address);
}

static void test_server_notices_client_kill9(void **state) {
    (void)state;
    fixture f;
    asylo__security_options security = local_security();
    start_server(&f, "127.0.0.1:0", &security, 0);
    char *argv[] = {NULL, "--connect", (char *)asylo__server_address(f.server), NULL};
    char rest[16];
    int stdin_fd;
    pid_t pid = spawn_helper(argv, "CONNECTED", rest, sizeof rest, &stdin_fd);
    assert_int_equal(asylo__server_active_calls(f.server), 1);
    double killed_at = now_ms();
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(stdin_fd);
    double idle_at = wait_idle(&f, 1, 5000);
    assert_true(idle_at > 0);
    printf("server noticed the client's kill -9 after %.1f ms\n", idle_at - killed_at);
    assert_true(idle_at - killed_at < 2000);
    assert_int_equal(atomic_load(&f.stats.client_gone), 1);
    assert_int_equal(asylo__server_active_calls(f.server), 0);
    stop(&f);
}

/* A TCP forwarder that can "cut the cable": stop moving bytes while keeping
 * both sockets open, as a dead host or a pulled cable looks to TCP. */
typedef struct forwarder {
    int listen_fd;
    int port;
    atomic_bool cut;
    atomic_bool stop;
    pthread_t thread;
} forwarder;

static void *forwarder_main(void *argument) {
    forwarder *fw = argument;
    int client = accept4(fw->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (client < 0) {
        return NULL;
    }
    int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in target = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)fw->port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(server, (struct sockaddr *)&target, sizeof target) != 0) {
        close(client);
        close(server);
        return NULL;
    }
    char buffer[65536];
    while (!atomic_load(&fw->stop)) {
        if (atomic_load(&fw->cut)) {
            usleep(10000);
            continue;
        }
        struct pollfd fds[2] = {{.fd = client, .events = POLLIN}, {.fd = server, .events = POLLIN}};
        if (poll(fds, 2, 10) <= 0) {
            continue;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t got = read(fds[i].fd, buffer, sizeof buffer);
                if (got <= 0) {
                    goto out;
                }
                int to = i == 0 ? server : client;
                for (ssize_t sent = 0; sent < got;) {
                    ssize_t put = write(to, buffer + sent, (size_t)(got - sent));
                    if (put <= 0) {
                        goto out;
                    }
                    sent += put;
                }
            }
        }
    }
out:
    close(client);
    close(server);
    return NULL;
}

static int forwarder_start(forwarder *fw, int target_port) {
    memset(fw, 0, sizeof *fw);
    fw->port = target_port;
    fw->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    assert_int_equal(bind(fw->listen_fd, (struct sockaddr *)&address, sizeof address), 0);
    assert_int_equal(listen(fw->listen_fd, 4), 0);
    assert_int_equal(getsockname(fw->listen_fd, (struct sockaddr *)&address, &length), 0);
    assert_int_equal(pthread_create(&fw->thread, NULL, forwarder_main, fw), 0);
    return ntohs(address.sin_port);
}

static void forwarder_stop(forwarder *fw) {
    atomic_store(&fw->stop, true);
    shutdown(fw->listen_fd, SHUT_RDWR);
    pthread_join(fw->thread, NULL);
    close(fw->listen_fd);
}

static void test_keepalive_notices_cut_cable(void **state) {
    (void)state;
    fixture f;
    asylo__security_options security = local_security();
    start_server(&f, "127.0.0.1:0", &security, 0);
    const char *bound = asylo__server_address(f.server);
    int server_port = atoi(strrchr(bound, ':') + 1);
    forwarder fw;
    int port = forwarder_start(&fw, server_port);
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", port);
    asylo__channel_options options = {.address = address, .connect_timeout_ms = 3000};
    asylo__channel *channel = NULL;
    asylo_status status;
    assert_int_equal(asylo__channel_open(&options, &channel, &status), ASYLO_OK);
    echo_round_trips(channel, 3);
    asylo__client_stream *stream = NULL;
    assert_int_equal(asylo__client_stream_open(channel, NULL, NULL, &stream, &status), ASYLO_OK);
    asylo__frame out = enter(1, ECHO_RETURN, "a", 1);
    asylo__frame in;
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 5000, &status), ASYLO_OK);
    asylo__frame_release(&in);
    double cut_at = now_ms();
    atomic_store(&fw.cut, true);
    out = enter(2, ECHO_RETURN, "b", 1);
    /* No timeout of our own: keepalive must end the wait. */
    asylo_code code = asylo__client_stream_exchange(stream, &out, &in, -1, &status);
    double client_noticed = now_ms() - cut_at;
    printf("cut cable: client noticed after %.0f ms: %s\n", client_noticed, status.message);
    assert_int_equal(code, ASYLO_UNAVAILABLE);
    assert_true(client_noticed < 2500);
    double idle_at = wait_idle(&f, 2, 5000);
    assert_true(idle_at > 0);
    printf("cut cable: server noticed after %.0f ms\n", idle_at - cut_at);
    assert_true(idle_at - cut_at < 2500);
    asylo__client_stream_close(stream, 1000, NULL);
    asylo__channel_close(channel);
    forwarder_stop(&fw);
    stop(&f);
}

static void test_server_shutdown_with_open_streams(void **state) {
    (void)state;
    fixture f;
    asylo__security_options security = local_security();
    start_server(&f, "127.0.0.1:0", &security, 0);
    asylo_status status;
    assert_int_equal(open_channel(&f, &security, 0, &status), ASYLO_OK);
    asylo__client_stream *stream = NULL;
    assert_int_equal(asylo__client_stream_open(f.channel, NULL, NULL, &stream, &status), ASYLO_OK);
    asylo__frame out = enter(1, ECHO_RETURN, "a", 1);
    asylo__frame in;
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 5000, &status), ASYLO_OK);
    asylo__frame_release(&in);
    /* The stream stays open: shutdown must cancel it after the grace. */
    double start = now_ms();
    asylo__server_shutdown(f.server, 200);
    double elapsed = now_ms() - start;
    printf("shutdown with an open stream took %.1f ms\n", elapsed);
    assert_true(elapsed < 2000);
    assert_int_equal(asylo__client_stream_exchange(stream, &out, &in, 2000, &status),
                     ASYLO_UNAVAILABLE);
    asylo__client_stream_close(stream, 1000, NULL);
    asylo__channel_close(f.channel);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_tcp4),
        cmocka_unit_test(test_local_localhost),
        cmocka_unit_test(test_local_tcp6),
        cmocka_unit_test(test_local_unix),
        cmocka_unit_test(test_local_refused_on_non_loopback),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_plaintext_client_at_tls_server),
        cmocka_unit_test(test_ssl_mutual_accepts_good_client),
        cmocka_unit_test(test_ssl_mutual_refuses_wrong_client),
        cmocka_unit_test(test_ssl_mutual_refuses_missing_client_cert),
        cmocka_unit_test(test_ssl_untrusted_server),
        cmocka_unit_test(test_ssl_server_only_unix),
        cmocka_unit_test(test_oversized_frames),
        cmocka_unit_test(test_token_unimplemented_and_health),
        cmocka_unit_test(test_timeout_kills_stream),
        cmocka_unit_test(test_eight_threads),
        cmocka_unit_test(test_kill9_tcp),
        cmocka_unit_test(test_kill9_unix),
        cmocka_unit_test(test_server_notices_client_kill9),
        cmocka_unit_test(test_keepalive_notices_cut_cable),
        cmocka_unit_test(test_server_shutdown_with_open_streams),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
