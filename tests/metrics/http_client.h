/* A tiny blocking HTTP/1.1 client for the metrics tests: one request per
 * connection ("Connection: close"), reads until EOF. */
#ifndef ASYLO_TESTS_METRICS_HTTP_CLIENT_H
#define ASYLO_TESTS_METRICS_HTTP_CLIENT_H

#include <stddef.h>

typedef struct http_reply {
    int status;    /* 200, 404, ... */
    char *headers; /* raw header block, NUL-terminated */
    char *body;    /* NUL-terminated */
    size_t body_size;
} http_reply;

/* host is a numeric IPv4 or IPv6 address. Returns 0 on success. */
int http_request(const char *host, int port, const char *method, const char *path,
                 http_reply *reply);
/* The value of header `name` (case-insensitive) copied into value, or -1. */
int http_header(const http_reply *reply, const char *name, char *value, size_t size);
void http_reply_free(http_reply *reply);

#endif
