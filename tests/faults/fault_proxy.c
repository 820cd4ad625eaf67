/* See fault_proxy.h. Threads poll with a short timeout and check a stop
 * flag, so stopping never waits on a peer; sockets are closed only after
 * both directions' threads are joined. */
#include "fault_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 64
#define POLL_MS 20
#define CHUNK 16384

typedef struct connection connection;

typedef struct direction {
    connection *connection;
    int from;
    int to;
    size_t forwarded;
    pthread_t thread;
} direction;

struct connection {
    fault_proxy *proxy;
    int client;
    int upstream;
    atomic_bool dead; /* set to stop both directions */
    atomic_bool reset;
    direction ways[2];
    atomic_int finished; /* directions done */
};

struct fault_proxy {
    fault_config config;
    int listener;
    char address[64];
    atomic_bool stopping;
    pthread_t accept_thread;
    pthread_mutex_t lock;
    connection *connections[MAX_CONNECTIONS];
    int connection_count;
    atomic_int fired;
    unsigned random_state;
};

const char *fault_kind_name(fault_kind kind) {
    static const char *const names[] = {"none",       "latency", "bandwidth",  "stall",
                                        "slow_close", "slicer",  "limit_data", "reset"};
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}

static void sleep_us(long microseconds) {
    struct timespec pause = {microseconds / 1000000, (microseconds % 1000000) * 1000};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
}

/* Sleeps up to milliseconds, waking early when the connection dies. */
static void sleep_alive(connection *c, long milliseconds) {
    while (milliseconds > 0 && !atomic_load(&c->dead) && !atomic_load(&c->proxy->stopping)) {
        long step = milliseconds < POLL_MS ? milliseconds : POLL_MS;
        sleep_us(step * 1000);
        milliseconds -= step;
    }
}

static bool alive(connection *c) {
    return !atomic_load(&c->dead) && !atomic_load(&c->proxy->stopping);
}

/* Writes all of data (in slices for the slicer), false when the peer is gone. */
static bool write_all(connection *c, int fd, const uint8_t *data, size_t size) {
    const fault_config *config = &c->proxy->config;
    size_t slice =
        config->kind == FAULT_SLICER && config->slice_bytes > 0 ? config->slice_bytes : size;
    size_t done = 0;
    while (done < size && alive(c)) {
        size_t length = size - done < slice ? size - done : slice;
        ssize_t wrote = send(fd, data + done, length, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (wrote < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd entry = {fd, POLLOUT, 0};
            poll(&entry, 1, POLL_MS);
            continue;
        }
        if (wrote < 0 && errno == EINTR) {
            continue;
        }
        if (wrote <= 0) {
            return false;
        }
        done += (size_t)wrote;
        if (config->kind == FAULT_SLICER && done < size) {
            sleep_us(config->slice_delay_us);
        }
    }
    return done == size;
}

static unsigned next_random(fault_proxy *proxy) {
    pthread_mutex_lock(&proxy->lock);
    unsigned value = rand_r(&proxy->random_state);
    pthread_mutex_unlock(&proxy->lock);
    return value;
}

static void fire(connection *c, bool reset) {
    if (!atomic_exchange(&c->dead, true)) {
        atomic_store(&c->reset, reset);
        atomic_fetch_add(&c->proxy->fired, 1);
    }
}

/* Closes a connection both of whose directions are done: with RST when its fault
 * says so (SO_LINGER 0), else with FIN. */
static void close_connection(connection *c) {
    if (atomic_load(&c->reset)) {
        struct linger hard = {1, 0};
        setsockopt(c->client, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        setsockopt(c->upstream, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    }
    close(c->client);
    close(c->upstream);
}

static void *forward(void *context) {
    direction *way = context;
    connection *c = way->connection;
    const fault_config *config = &c->proxy->config;
    uint8_t buffer[CHUNK];
    bool stalled = false;
    while (alive(c)) {
        struct pollfd entry = {way->from, POLLIN, 0};
        int ready = poll(&entry, 1, POLL_MS);
        if (ready <= 0) {
            continue;
        }
        size_t want = sizeof buffer;
        if ((config->kind == FAULT_LIMIT_DATA || config->kind == FAULT_RESET) &&
            config->after_bytes - way->forwarded < want) {
            want = config->after_bytes - way->forwarded;
        }
        ssize_t got = want > 0 ? recv(way->from, buffer, want, MSG_DONTWAIT) : 0;
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        }
        if (got < 0) {
            fire(c, false);
            break;
        }
        if (got == 0 && want == 0) {
            /* The byte budget of this direction is spent. */
            fire(c, config->kind == FAULT_RESET);
            break;
        }
        if (got == 0) {
            /* EOF: pass the half-close on, late for a slow close. */
            if (config->kind == FAULT_SLOW_CLOSE) {
                atomic_fetch_add(&c->proxy->fired, 1);
                sleep_alive(c, config->stall_ms);
            }
            shutdown(way->to, SHUT_WR);
            break;
        }
        switch (config->kind) {
        case FAULT_LATENCY: {
            long jitter = config->jitter_ms > 0
                              ? (long)(next_random(c->proxy) % (2u * config->jitter_ms + 1)) -
                                    config->jitter_ms
                              : 0;
            sleep_alive(c, config->latency_ms + jitter);
            break;
        }
        case FAULT_BANDWIDTH:
            if (config->rate_bytes_per_s > 0) {
                sleep_us((long)((uint64_t)got * 1000000 / config->rate_bytes_per_s));
            }
            break;
        case FAULT_STALL:
            if (!stalled && way->forwarded + (size_t)got > config->after_bytes) {
                stalled = true;
                atomic_fetch_add(&c->proxy->fired, 1);
                sleep_alive(c, config->stall_ms);
            }
            break;
        default:
            break;
        }
        if (!write_all(c, way->to, buffer, (size_t)got)) {
            fire(c, false);
            break;
        }
        way->forwarded += (size_t)got;
    }
    /* The second direction to finish closes the sockets: no thread uses
     * them any more. */
    if (atomic_fetch_add(&c->finished, 1) == 1) {
        atomic_store(&c->dead, true);
        close_connection(c);
    }
    return NULL;
}

static int connect_upstream(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

typedef struct accept_context {
    fault_proxy *proxy;
    int upstream_port;
} accept_context;

static void *accept_loop(void *context) {
    accept_context *accept_ctx = context;
    fault_proxy *proxy = accept_ctx->proxy;
    while (!atomic_load(&proxy->stopping)) {
        struct pollfd entry = {proxy->listener, POLLIN, 0};
        if (poll(&entry, 1, POLL_MS) <= 0) {
            continue;
        }
        int client = accept4(proxy->listener, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0) {
            continue;
        }
        int upstream = connect_upstream(accept_ctx->upstream_port);
        pthread_mutex_lock(&proxy->lock);
        bool room = proxy->connection_count < MAX_CONNECTIONS;
        pthread_mutex_unlock(&proxy->lock);
        connection *c = room && upstream >= 0 ? calloc(1, sizeof *c) : NULL;
        if (c == NULL) {
            close(client);
            if (upstream >= 0) {
                close(upstream);
            }
            continue;
        }
        int one = 1;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->proxy = proxy;
        c->client = client;
        c->upstream = upstream;
        c->ways[0] = (direction){c, client, upstream, 0, 0};
        c->ways[1] = (direction){c, upstream, client, 0, 0};
        pthread_mutex_lock(&proxy->lock);
        proxy->connections[proxy->connection_count++] = c;
        pthread_mutex_unlock(&proxy->lock);
        pthread_create(&c->ways[0].thread, NULL, forward, &c->ways[0]);
        pthread_create(&c->ways[1].thread, NULL, forward, &c->ways[1]);
    }
    free(accept_ctx);
    return NULL;
}

fault_proxy *fault_proxy_start(int upstream_port, const fault_config *config) {
    fault_proxy *proxy = calloc(1, sizeof *proxy);
    accept_context *context = calloc(1, sizeof *context);
    if (proxy == NULL || context == NULL) {
        free(proxy);
        free(context);
        return NULL;
    }
    proxy->config = *config;
    proxy->random_state = 12345;
    pthread_mutex_init(&proxy->lock, NULL);
    proxy->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    if (proxy->listener < 0 ||
        bind(proxy->listener, (struct sockaddr *)&address, sizeof address) != 0 ||
        listen(proxy->listener, 16) != 0 ||
        getsockname(proxy->listener, (struct sockaddr *)&address, &length) != 0) {
        perror("fault proxy: listen");
        if (proxy->listener >= 0) {
            close(proxy->listener);
        }
        free(proxy);
        free(context);
        return NULL;
    }
    snprintf(proxy->address, sizeof proxy->address, "127.0.0.1:%d", ntohs(address.sin_port));
    context->proxy = proxy;
    context->upstream_port = upstream_port;
    pthread_create(&proxy->accept_thread, NULL, accept_loop, context);
    return proxy;
}

const char *fault_proxy_address(const fault_proxy *proxy) {
    return proxy->address;
}

int fault_proxy_connections(const fault_proxy *proxy) {
    pthread_mutex_lock((pthread_mutex_t *)&proxy->lock);
    int count = proxy->connection_count;
    pthread_mutex_unlock((pthread_mutex_t *)&proxy->lock);
    return count;
}

int fault_proxy_fired(const fault_proxy *proxy) {
    return atomic_load(&proxy->fired);
}

void fault_proxy_stop(fault_proxy *proxy) {
    if (proxy == NULL) {
        return;
    }
    atomic_store(&proxy->stopping, true);
    pthread_join(proxy->accept_thread, NULL);
    close(proxy->listener);
    for (int i = 0; i < proxy->connection_count; i++) {
        connection *c = proxy->connections[i];
        pthread_join(c->ways[0].thread, NULL);
        pthread_join(c->ways[1].thread, NULL);
        free(c);
    }
    pthread_mutex_destroy(&proxy->lock);
    free(proxy);
}
