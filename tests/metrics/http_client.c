/* See http_client.h. */
#include "http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int connect_to(const char *host, int port) {
    struct sockaddr_storage storage;
    memset(&storage, 0, sizeof storage);
    socklen_t size;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&storage;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&storage;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        size = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        size = sizeof *v6;
    } else {
        return -1;
    }
    int fd = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    struct timeval timeout = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (connect(fd, (struct sockaddr *)&storage, size) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int http_request(const char *host, int port, const char *method, const char *path,
                 http_reply *reply) {
    memset(reply, 0, sizeof *reply);
    int fd = connect_to(host, port);
    if (fd < 0) {
        return -1;
    }
    char request[512];
    int length =
        snprintf(request, sizeof request,
                 "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", method, path);
    if (send(fd, request, (size_t)length, MSG_NOSIGNAL) != length) {
        close(fd);
        return -1;
    }
    size_t capacity = 4096;
    size_t size = 0;
    char *data = malloc(capacity);
    for (;;) {
        if (capacity - size < 2048) {
            capacity *= 2;
            data = realloc(data, capacity);
        }
        ssize_t got = recv(fd, data + size, capacity - size - 1, 0);
        if (got < 0) {
            free(data);
            close(fd);
            return -1;
        }
        if (got == 0) {
            break;
        }
        size += (size_t)got;
    }
    close(fd);
    data[size] = '\0';
    char *end = strstr(data, "\r\n\r\n");
    if (end == NULL || sscanf(data, "HTTP/1.%*d %d", &reply->status) != 1) {
        free(data);
        return -1;
    }
    *end = '\0';
    reply->headers = data;
    reply->body_size = size - (size_t)(end + 4 - data);
    reply->body = malloc(reply->body_size + 1);
    memcpy(reply->body, end + 4, reply->body_size);
    reply->body[reply->body_size] = '\0';
    return 0;
}

int http_header(const http_reply *reply, const char *name, char *value, size_t size) {
    size_t name_length = strlen(name);
    for (const char *line = strstr(reply->headers, "\r\n"); line != NULL;
         line = strstr(line + 2, "\r\n")) {
        const char *start = line + 2;
        if (strncasecmp(start, name, name_length) == 0 && start[name_length] == ':') {
            const char *text = start + name_length + 1;
            while (*text == ' ') {
                text++;
            }
            const char *stop = strstr(text, "\r\n");
            size_t length = stop != NULL ? (size_t)(stop - text) : strlen(text);
            if (length >= size) {
                length = size - 1;
            }
            memcpy(value, text, length);
            value[length] = '\0';
            return 0;
        }
    }
    return -1;
}

void http_reply_free(http_reply *reply) {
    free(reply->headers);
    free(reply->body);
    memset(reply, 0, sizeof *reply);
}
