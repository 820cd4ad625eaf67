/* The metrics endpoint on libmicrohttpd; see server.h. */
#include "metrics/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/log.h"
#include "metrics/render.h"
#include "metrics/text_format.h"

/* A scrape bigger than this is refused with 500 rather than eating memory. */
#define MAX_SCRAPE_BYTES ((size_t)64 << 20)

struct asylo__metrics_server {
    asylo__metrics_registry *registry;
    pthread_mutex_t mutex; /* guards daemon for stop */
    struct MHD_Daemon *daemon;
    int port;
    char address[INET6_ADDRSTRLEN + 16];
};

static void log_from_mhd(void *arg, const char *format, va_list args) {
    (void)arg;
    char message[512];
    vsnprintf(message, sizeof message, format, args);
    size_t length = strlen(message);
    while (length > 0 && message[length - 1] == '\n') {
        message[--length] = '\0';
    }
    asylo__log(ASYLO_LOG_WARNING, "metrics", NULL, 0, "http: %s", message);
}

static enum MHD_Result reply_text(struct MHD_Connection *connection, unsigned int http_code,
                                  const char *body, const char *allow) {
    struct MHD_Response *response =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (response == NULL) {
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (allow != NULL) {
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
    }
    enum MHD_Result result = MHD_queue_response(connection, http_code, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result reply_metrics(struct MHD_Connection *connection,
                                     asylo__metrics_registry *registry) {
    asylo__bytes body;
    asylo__bytes_init(&body, MAX_SCRAPE_BYTES);
    asylo_status status;
    if (asylo__metrics_render(registry, &body, &status) != ASYLO_OK) {
        asylo__bytes_fini(&body);
        asylo__log(ASYLO_LOG_ERROR, "metrics", NULL, 0, "rendering /metrics failed: %s",
                   status.message);
        return reply_text(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "rendering metrics failed\n",
                          NULL);
    }
    size_t size = 0;
    uint8_t *data = asylo__bytes_release(&body, &size);
    struct MHD_Response *response =
        data != NULL ? MHD_create_response_from_buffer(size, data, MHD_RESPMEM_MUST_FREE)
                     : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (response == NULL) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, ASYLO__METRICS_CONTENT_TYPE);
    enum MHD_Result result = MHD_queue_response(connection, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    return result;
}

static enum MHD_Result handle_request(void *arg, struct MHD_Connection *connection, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **request_state) {
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)request_state;
    asylo__metrics_server *server = arg;
    if (strcmp(url, "/metrics") != 0) {
        return reply_text(connection, MHD_HTTP_NOT_FOUND, "not found: metrics are at /metrics\n",
                          NULL);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return reply_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: use GET\n",
                          "GET, HEAD");
    }
    return reply_metrics(connection, server->registry);
}

/* Fills *storage from text; returns 4 or 6, or 0 when text is no numeric address. */
static int parse_address(const char *text, int port, struct sockaddr_storage *storage,
                         socklen_t *size) {
    memset(storage, 0, sizeof *storage);
    struct sockaddr_in *v4 = (struct sockaddr_in *)storage;
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *size = sizeof *v4;
        return 4;
    }
    char bare[INET6_ADDRSTRLEN + 2];
    size_t length = strlen(text);
    if (length >= 2 && text[0] == '[' && text[length - 1] == ']' && length - 2 < sizeof bare) {
        memcpy(bare, text + 1, length - 2);
        bare[length - 2] = '\0';
        text = bare;
    }
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)storage;
    if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *size = sizeof *v6;
        return 6;
    }
    return 0;
}

static void format_address(const struct sockaddr_storage *storage, char *out, size_t size) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (storage->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)storage;
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
        snprintf(out, size, "%s:%u", host, ntohs(v4->sin_port));
    } else {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)storage;
        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
        snprintf(out, size, "[%s]:%u", host, ntohs(v6->sin6_port));
    }
}

static asylo_code bind_error(int error, const char *where, asylo_status *status) {
    switch (error) {
    case EADDRINUSE:
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_API,
                                "metrics endpoint: address %s is already in use", where);
    case EADDRNOTAVAIL:
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_API,
                                "metrics endpoint: address %s is not an address of this host",
                                where);
    case EACCES:
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_API,
                                "metrics endpoint: binding %s is not permitted", where);
    default:
        return asylo_status_set(status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_API,
                                "metrics endpoint: cannot listen on %s: %s", where,
                                strerror(error));
    }
}

/* Binds and listens ourselves, so errors name the address and the cause. */
static asylo_code open_listener(const char *address, int port, int *fd_out,
                                struct sockaddr_storage *bound, asylo_status *status) {
    socklen_t size = 0;
    struct sockaddr_storage wanted;
    if (parse_address(address, port, &wanted, &size) == 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "metrics endpoint: '%s' is not a numeric IPv4 or IPv6 address",
                                address);
    }
    char where[INET6_ADDRSTRLEN + 16];
    format_address(&wanted, where, sizeof where);
    int fd = socket(wanted.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return bind_error(errno, where, status);
    }
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(fd, (const struct sockaddr *)&wanted, size) != 0 || listen(fd, 64) != 0) {
        int error = errno;
        close(fd);
        return bind_error(error, where, status);
    }
    socklen_t bound_size = sizeof *bound;
    if (getsockname(fd, (struct sockaddr *)bound, &bound_size) != 0) {
        int error = errno;
        close(fd);
        return bind_error(error, where, status);
    }
    *fd_out = fd;
    return asylo_status_ok(status);
}

asylo_code asylo__metrics_server_start(asylo__metrics_registry *registry, const char *address,
                                       int port, asylo__metrics_server **server_out,
                                       asylo_status *status) {
    if (server_out != NULL) {
        *server_out = NULL;
    }
    if (registry == NULL || server_out == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "metrics endpoint: registry and server must not be NULL");
    }
    if (port < 0 || port > 65535) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "metrics endpoint: port %d is outside 0..65535", port);
    }
    if (address == NULL || address[0] == '\0') {
        address = ASYLO__METRICS_DEFAULT_ADDRESS;
    }
    asylo__metrics_server *server = calloc(1, sizeof *server);
    if (server == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "metrics endpoint: out of memory");
    }
    server->registry = registry;
    pthread_mutex_init(&server->mutex, NULL);

    int fd = -1;
    struct sockaddr_storage bound;
    asylo_code code = open_listener(address, port, &fd, &bound, status);
    if (code != ASYLO_OK) {
        asylo__metrics_server_destroy(server);
        return code;
    }
    format_address(&bound, server->address, sizeof server->address);
    server->port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                    : ((struct sockaddr_in6 *)&bound)->sin6_port);
    struct stat listener;
    fstat(fd, &listener);

    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (bound.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    server->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle_request, server, MHD_OPTION_EXTERNAL_LOGGER, log_from_mhd,
        NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)32, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_END);
    if (server->daemon == NULL) {
        /* Close the socket unless libmicrohttpd already did. */
        struct stat now;
        if (fstat(fd, &now) == 0 && now.st_ino == listener.st_ino &&
            now.st_dev == listener.st_dev) {
            close(fd);
        }
        code = asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_API,
                                "metrics endpoint: libmicrohttpd failed to start on %s",
                                server->address);
        asylo__metrics_server_destroy(server);
        return code;
    }
    asylo__log(ASYLO_LOG_INFO, "metrics", NULL, 0, "serving http://%s/metrics", server->address);
    *server_out = server;
    return asylo_status_ok(status);
}

int asylo__metrics_server_port(const asylo__metrics_server *server) {
    return server != NULL ? server->port : 0;
}

const char *asylo__metrics_server_address(const asylo__metrics_server *server) {
    return server != NULL ? server->address : "";
}

void asylo__metrics_server_stop(asylo__metrics_server *server) {
    if (server == NULL) {
        return;
    }
    pthread_mutex_lock(&server->mutex);
    struct MHD_Daemon *daemon = server->daemon;
    server->daemon = NULL;
    pthread_mutex_unlock(&server->mutex);
    if (daemon != NULL) {
        MHD_stop_daemon(daemon); /* joins the thread, closes the socket */
    }
}

void asylo__metrics_server_destroy(asylo__metrics_server *server) {
    if (server == NULL) {
        return;
    }
    asylo__metrics_server_stop(server);
    pthread_mutex_destroy(&server->mutex);
    free(server);
}
