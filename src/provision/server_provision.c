/* The provision-server RemoteProvision: the client of asylo-provision-server.
 * provision() hashes the image, streams it in chunks, and turns the reply into
 * an endpoint; finalize() releases the proxy on the server that runs it.
 *
 * The target may be a fleet (fleet_target.h: an address list or a DNS name).
 * It is dialed with gRPC's round_robin policy, so successive provisions go
 * to successive servers and a server whose connection failed is skipped; a
 * provision refused with UNAVAILABLE (dead, draining) or RESOURCE_EXHAUSTED
 * (full) is sent again, to the next server, within the load's deadline. A
 * refusal comes at the header, before the image is sent, so it costs one
 * round trip. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "asylo/provision.pb-c.h"
#include "asylo/remote.h"
#include "transport/security_options.h"
#include "transport/address.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/clock.h"
#include "common/struct_size.h"
#include "provision/fleet_report.h"
#include "provision/fleet_target.h"
#include "provision/provision_protocol.h"
#include "provision/upload_message.h"
#include "transport/client_stream.h"
#include "transport/grpc_runtime.h"

#define DEFAULT_TIMEOUT_MS 60000
#define DEFAULT_CHUNK_SIZE ((size_t)1 << 20)
#define MAX_CHUNK_SIZE ((size_t)16 << 20)
#define RELEASE_TIMEOUT_MS 15000
/* Release is a courtesy (a proxy also exits when its host goes): a server
 * that is gone must not hold up a destroy, or a load that provisions again. */
#define RELEASE_CONNECT_TIMEOUT_MS 3000

typedef struct server_provision {
    asylo_remote_provision base; /* first: the interface handed out */
    char *server_address;
    asylo__owned_security owned_security;
    asylo__security_options security; /* owned_security's, as transport options */
    int64_t timeout_ms;
    size_t chunk_size;
    bool provisioned;
    /* Kept from one provision to the next until destroy (or until no server
     * answers): on a fleet, round_robin then turns to the next server at
     * each provision instead of starting afresh. */
    asylo__channel *channel;
    /* The server that runs the proxy (a fleet's: the one that answered). */
    char release_address[ASYLO__ADDRESS_MAX_HOST + 16];
    char proxy_id[64];
    char token[ASYLO_REMOTE_TOKEN_SIZE];
} server_provision;

static int64_t time_left(int64_t deadline_ms) {
    int64_t left = deadline_ms - asylo__monotonic_ms();
    return left > 0 ? left : 1;
}

static asylo_code hash_file(int fd, const char *path, uint64_t *size, uint8_t digest[32],
                            asylo_status *status) {
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "enclave image '%s' is not a regular file", path);
    }
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (context == NULL || EVP_DigestInit_ex(context, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(context);
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                                "cannot start SHA-256");
    }
    uint8_t buffer[65536];
    uint64_t total = 0;
    asylo_code code = ASYLO_OK;
    for (;;) {
        ssize_t got = pread(fd, buffer, sizeof buffer, (off_t)total);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            code = asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_BACKEND,
                                    "cannot read enclave image '%s': %s", path, strerror(errno));
            break;
        }
        if (got == 0) {
            break;
        }
        EVP_DigestUpdate(context, buffer, (size_t)got);
        total += (uint64_t)got;
    }
    unsigned int digest_size = 0;
    EVP_DigestFinal_ex(context, digest, &digest_size);
    EVP_MD_CTX_free(context);
    *size = total;
    return code;
}

/* Sends one ProvisionRequest, its chunk read from the image straight into
 * gRPC's message (upload_message.h); with do_receive, also receives a reply
 * (the server's acceptance after the first of several messages, or its
 * answer to the last). Image bytes and a header of public fields: nothing
 * to wipe. */
static asylo_code send_request(asylo__client_stream *stream, asylo__upload_message *message,
                               bool do_receive, int64_t deadline_ms, uint8_t **reply,
                               size_t *reply_size, asylo_status *status) {
    return asylo__client_stream_exchange_filled(stream, asylo__upload_message_size(message),
                                                asylo__upload_message_fill, message, do_receive,
                                                reply, reply_size, time_left(deadline_ms), status);
}

static asylo_code upload(server_provision *self, asylo__client_stream *stream, int fd,
                         const char *path, const char *backend, uint64_t size,
                         const uint8_t digest[32], int64_t deadline_ms, uint8_t **reply,
                         size_t *reply_size, asylo_status *status) {
    Asylo__Remote__ProvisionHeader header = ASYLO__REMOTE__PROVISION_HEADER__INIT;
    header.image_size = size;
    header.image_sha256.data = (uint8_t *)digest;
    header.image_sha256.len = 32;
    header.backend = (char *)(backend != NULL ? backend : ""); /* "": the server's */
    asylo_code code = ASYLO_OK;
    uint64_t sent = 0;
    bool first = true;
    while (code == ASYLO_OK) {
        size_t want = size - sent < self->chunk_size ? (size_t)(size - sent) : self->chunk_size;
        Asylo__Remote__ProvisionRequest request = ASYLO__REMOTE__PROVISION_REQUEST__INIT;
        request.header = first ? &header : NULL;
        request.last = sent + want == size;
        asylo__upload_message message = {
            .request = &request, .fd = fd, .offset = sent, .chunk_size = want, .path = path};
        sent += want;
        /* After a first message that is not the last, the server answers
         * with an empty reply once it accepts the header (or ends the call
         * with its refusal): nothing more is sent to a server that refused. */
        bool acknowledge = first && !request.last;
        code = send_request(stream, &message, request.last || acknowledge, deadline_ms, reply,
                            reply_size, status);
        first = false;
        if (request.last) {
            break;
        }
        if (code == ASYLO_OK && acknowledge) {
            bool empty = *reply_size == 0;
            free(*reply);
            *reply = NULL;
            *reply_size = 0;
            if (!empty) {
                code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_TRANSPORT,
                                        "the provision server answered the header with "
                                        "something other than an empty acknowledgement");
            }
        }
    }
    return code;
}

/* Whether a host the server reported can be dialed from here: not a
 * wildcard, and loopback only when the server itself was reached on
 * loopback. */
static bool routable(const asylo__address *reported, const asylo__address *server) {
    if (asylo__address_is_wildcard(reported)) {
        return false;
    }
    return !asylo__address_is_local(reported) || asylo__address_is_local(server);
}

/* Where the proxy is dialed: the reported proxy_address when the server
 * gave a routable one (its --advertise_address), else the host this client
 * reached the server at (the one address given, or for a fleet the peer
 * gRPC connected to) on the port the server reports; a unix: proxy address
 * is used as it is. Release later goes to that host on the server's port. */
static asylo_code fill_endpoint(server_provision *self, const Asylo__Remote__ProvisionReply *reply,
                                const asylo__address *server, asylo_remote_endpoint *endpoint,
                                asylo_status *status) {
    if (strlen(reply->token) >= sizeof endpoint->token ||
        strlen(reply->enclave_path) >= sizeof endpoint->enclave_path ||
        strlen(reply->proxy_id) >= sizeof self->proxy_id ||
        strlen(reply->proxy_address) >= sizeof endpoint->address) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_TRANSPORT,
                                "the provision server's reply has an over-long field");
    }
    asylo__address reported;
    bool have_reported = reply->proxy_address[0] != '\0' &&
                         asylo__address_parse(reply->proxy_address, &reported, NULL) == ASYLO_OK;
    asylo__address release = *server;
    if (reply->proxy_port == 0 || reply->proxy_port > 65535) {
        snprintf(endpoint->address, sizeof endpoint->address, "%s", reply->proxy_address);
    } else if (have_reported && reported.family != ASYLO__ADDRESS_UNIX &&
               routable(&reported, server)) {
        asylo__address proxy;
        asylo__address_with_port(&reported, (uint16_t)reply->proxy_port, &proxy);
        snprintf(endpoint->address, sizeof endpoint->address, "%s", asylo__address_target(&proxy));
        asylo__address_with_port(&reported, server->port, &release);
    } else {
        asylo__address proxy;
        asylo__address_with_port(server, (uint16_t)reply->proxy_port, &proxy);
        snprintf(endpoint->address, sizeof endpoint->address, "%s", asylo__address_target(&proxy));
    }
    snprintf(self->release_address, sizeof self->release_address, "%s",
             asylo__address_target(&release));
    snprintf(endpoint->token, sizeof endpoint->token, "%s", reply->token);
    snprintf(endpoint->enclave_path, sizeof endpoint->enclave_path, "%s", reply->enclave_path);
    snprintf(self->proxy_id, sizeof self->proxy_id, "%s", reply->proxy_id);
    snprintf(self->token, sizeof self->token, "%s", reply->token);
    return asylo_status_ok(status);
}

/* One provision on the channel: the server it reaches is the channel's
 * choice (round_robin for a fleet); *answered names it ("" when the call
 * reached none). */
static asylo_code provision_once(server_provision *self, asylo__channel *channel,
                                 const asylo__fleet_target *target, int fd, const char *path,
                                 const char *backend, uint64_t size, const uint8_t digest[32],
                                 int64_t deadline_ms, asylo_remote_endpoint *endpoint,
                                 char *answered, size_t answered_size, asylo_status *status) {
    asylo__client_stream *stream = NULL;
    uint8_t *reply_bytes = NULL;
    size_t reply_size = 0;
    Asylo__Remote__ProvisionReply *reply = NULL;
    answered[0] = '\0';
    asylo_code code =
        asylo__client_stream_open(channel, ASYLO__PROVISION_METHOD, NULL, &stream, status);
    if (code == ASYLO_OK) {
        code = upload(self, stream, fd, path, backend, size, digest, deadline_ms, &reply_bytes,
                      &reply_size, status);
    }
    asylo__address server = target->is_dns ? target->dns_name : target->addresses[0];
    if (stream != NULL) {
        char peer[ASYLO__ADDRESS_MAX_HOST + 32];
        asylo__client_stream_peer(stream, peer, sizeof peer);
        asylo__address reached;
        if (asylo__peer_address_parse(peer, &reached)) {
            /* A single server keeps the name it was given (a certificate
             * may carry only that); a fleet's server is the one reached. */
            if (target->is_fleet) {
                server = reached;
            }
            snprintf(answered, answered_size, "%s", asylo__address_target(&server));
        }
    }
    if (code == ASYLO_OK) {
        reply = asylo__remote__provision_reply__unpack(NULL, reply_size, reply_bytes);
        code = reply == NULL
                   ? asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_TRANSPORT,
                                      "malformed reply from the provision server")
                   : fill_endpoint(self, reply, &server, endpoint, status);
    }
    asylo_status close_status;
    asylo_code close_code = asylo__client_stream_close(stream, 2000, &close_status);
    if (code == ASYLO_OK && close_code != ASYLO_OK) {
        code = close_code;
        *status = close_status;
    }
    if (reply != NULL) {
        asylo__remote__provision_reply__free_unpacked(reply, NULL);
    }
    if (reply_bytes != NULL) {
        asylo__secure_zero(reply_bytes, reply_size);
        free(reply_bytes);
    }
    return code;
}

static bool retryable(asylo_code code) {
    return code == ASYLO_UNAVAILABLE || code == ASYLO_RESOURCE_EXHAUSTED;
}

/* Successive provisions of this process start at successive servers of a
 * list (from a random place, so that processes differ too). */
static size_t next_rotation(void) {
    static _Atomic size_t counter;
    static _Atomic bool seeded;
    if (!atomic_exchange(&seeded, true)) {
        size_t seed = 0;
        if (getrandom(&seed, sizeof seed, 0) == (ssize_t)sizeof seed) {
            atomic_fetch_add(&counter, seed % 1024);
        }
    }
    return atomic_fetch_add(&counter, 1);
}

/* gRPC's round_robin policy: each new call goes to the next server with a
 * connection, and a server whose connection failed is skipped. */
#define ROUND_ROBIN_CONFIG "{\"loadBalancingConfig\": [{\"round_robin\": {}}]}"

static asylo_code server_provision_run(asylo_remote_provision *base, const char *enclave_path,
                                       const char *target_backend, int64_t timeout_ms,
                                       asylo_remote_endpoint *endpoint, asylo_status *status) {
    server_provision *self = (server_provision *)base;
    if (self->provisioned) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_API,
                                "this provision already has a proxy; one serves one enclave");
    }
    memset(endpoint, 0, sizeof *endpoint);
    int64_t deadline_ms = asylo__monotonic_ms() + (timeout_ms > 0 ? timeout_ms : self->timeout_ms);
    asylo__fleet_target *target = calloc(1, sizeof *target);
    asylo__fleet_report *attempts = calloc(1, sizeof *attempts);
    int fd = -1;
    asylo_code code;
    if (target == NULL || attempts == NULL) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory for a provision");
        goto out;
    }
    code = asylo__fleet_target_parse(self->server_address, next_rotation(), target, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    fd = open(enclave_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        code = asylo_status_set(status, errno == ENOENT ? ASYLO_NOT_FOUND : ASYLO_PERMISSION_DENIED,
                                ASYLO_ORIGIN_BACKEND, "cannot open enclave image '%s': %s",
                                enclave_path, strerror(errno));
        goto out;
    }
    uint64_t size = 0;
    uint8_t digest[32];
    code = hash_file(fd, enclave_path, &size, digest, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    asylo__channel_options options = {
        .address = asylo__address_target(&target->security_address),
        .grpc_target = target->grpc_target,
        .service_config = target->is_fleet ? ROUND_ROBIN_CONFIG : NULL,
        .security = &self->security,
        .max_message_size = self->chunk_size + 4096,
        .connect_timeout_ms = time_left(deadline_ms),
    };
    int64_t connect_start = asylo__monotonic_ms();
    bool opened = self->channel == NULL;
    code = opened ? asylo__channel_open(&options, &self->channel, status) : ASYLO_OK;
    if (code == ASYLO_OK && target->is_fleet && opened) {
        /* The channel is ready once its first server is; the others connect
         * in parallel. round_robin picks only among those connected, so a
         * first call made at once would go to whichever won the race, and
         * single provisions would pile onto the nearest server. Waiting as
         * long again as the first connection took (2 to 20 ms) lets servers
         * at a similar distance join the pick. */
        int64_t settle = asylo__monotonic_ms() - connect_start;
        settle = settle < 2 ? 2 : settle > 20 ? 20 : settle;
        struct timespec pause = {0, (long)settle * 1000000L};
        nanosleep(&pause, NULL);
    }
    /* A fleet gets a few tries per server: round_robin moves on at each, and
     * a server refusing (full, draining, dead) costs one round trip. */
    int max_attempts = target->is_fleet ? 2 * (int)(target->count > 0 ? target->count : 4) + 2 : 1;
    char answered[ASYLO__ADDRESS_MAX_HOST + 16] = "";
    char previous[sizeof answered] = "";
    bool connected = code == ASYLO_OK;
    for (int attempt = 0; connected && attempt < max_attempts; attempt++) {
        int64_t attempt_start = asylo__monotonic_ms();
        code = provision_once(self, self->channel, target, fd, enclave_path, target_backend, size,
                              digest, deadline_ms, endpoint, answered, sizeof answered, status);
        if (code == ASYLO_OK || !target->is_fleet || !retryable(code) ||
            asylo__monotonic_ms() >= deadline_ms) {
            break;
        }
        if (answered[0] != '\0') {
            asylo__fleet_report_add(attempts, answered, status);
        }
        asylo__log(ASYLO_LOG_INFO, "provision", NULL, 0,
                   "server %s: %s (after %lld ms); trying another",
                   answered[0] ? answered : "(none)", status->message,
                   (long long)(asylo__monotonic_ms() - attempt_start));
        if (strcmp(answered, previous) == 0) {
            /* The same server again: the others are still connecting. */
            struct timespec pause = {0, 20 * 1000000L};
            nanosleep(&pause, NULL);
        }
        snprintf(previous, sizeof previous, "%s", answered);
    }
    if (code != ASYLO_OK && target->is_fleet && retryable(code)) {
        if (answered[0] != '\0') {
            asylo__fleet_report_add(attempts, answered, status);
        }
        asylo_status last = *status;
        asylo__fleet_report_diagnose(attempts, target, &self->security, deadline_ms);
        if (attempts->count == 0) {
            asylo__fleet_report_add(attempts, "(no server reached)", &last);
        }
        code = asylo__fleet_report_status(attempts, self->server_address, code, status);
    } else if (code != ASYLO_OK) {
        asylo__address_status_prefix(status, "provision server",
                                     answered[0] ? answered : self->server_address);
    }
    if (code == ASYLO_UNAVAILABLE || code == ASYLO_RESOURCE_EXHAUSTED ||
        code == ASYLO_DEADLINE_EXCEEDED) {
        /* Nothing took it: the next provision dials afresh rather than wait
         * out the reconnect backoff of this channel's connections. */
        asylo__channel_close(self->channel);
        self->channel = NULL;
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    free(target);
    free(attempts);
    if (code != ASYLO_OK) {
        return code;
    }
    self->provisioned = true;
    asylo__log(ASYLO_LOG_DEBUG, "provision", NULL, 0, "server %s runs proxy %s at %s", answered,
               self->proxy_id, endpoint->address);
    return asylo_status_ok(status);
}

static asylo_code server_provision_finalize(asylo_remote_provision *base, asylo_status *status) {
    server_provision *self = (server_provision *)base;
    if (!self->provisioned) {
        return asylo_status_ok(status);
    }
    self->provisioned = false;
    Asylo__Remote__ReleaseRequest request = ASYLO__REMOTE__RELEASE_REQUEST__INIT;
    request.proxy_id = self->proxy_id;
    request.token = self->token;
    uint8_t packed[256];
    size_t size = asylo__remote__release_request__get_packed_size(&request);
    asylo__client_stream *stream = NULL;
    asylo__channel *channel = NULL;
    /* To the server that runs the proxy, whichever of a fleet that is. */
    asylo__channel_options options = {
        .address = self->release_address,
        .security = &self->security,
        .connect_timeout_ms = RELEASE_CONNECT_TIMEOUT_MS,
    };
    asylo_code code = size > sizeof packed
                          ? asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_API,
                                             "release request too large")
                          : asylo__channel_open(&options, &channel, status);
    if (code == ASYLO_OK) {
        code = asylo__client_stream_open(channel, ASYLO__RELEASE_METHOD, NULL, &stream, status);
    }
    if (code == ASYLO_OK) {
        asylo__remote__release_request__pack(&request, packed);
        uint8_t *reply = NULL;
        size_t reply_size = 0;
        code = asylo__client_stream_exchange_bytes(stream, packed, size, true, &reply, &reply_size,
                                                   RELEASE_TIMEOUT_MS, status);
        free(reply);
    }
    asylo__client_stream_close(stream, 2000, NULL);
    asylo__channel_close(channel);
    asylo__secure_zero(self->token, sizeof self->token);
    if (code != ASYLO_OK) {
        asylo_status_prefix(status, "releasing proxy %s on %s", self->proxy_id,
                            self->release_address);
    }
    return code;
}

static void server_provision_destroy(asylo_remote_provision *base) {
    server_provision *self = (server_provision *)base;
    server_provision_finalize(base, NULL);
    asylo__channel_close(self->channel);
    free(self->server_address);
    asylo__owned_security_fini(&self->owned_security);
    asylo__grpc_release();
    free(self);
}

void asylo_provision_server_options_init(asylo_provision_server_options *options) {
    if (options != NULL) {
        memset(options, 0, sizeof *options);
        options->struct_size = sizeof *options;
        asylo_security_options_init(&options->security);
    }
}

asylo_code asylo_provision_server_provision_create(const asylo_provision_server_options *options,
                                                   asylo_remote_provision **provision,
                                                   asylo_status *status) {
    if (provision == NULL || options == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "asylo_provision_server_provision_create: NULL argument");
    }
    *provision = NULL;
    /* Read only the fields the caller's struct has; the rest keep defaults. */
    asylo_provision_server_options adopted;
    asylo_provision_server_options_init(&adopted);
    asylo_code adopt_code =
        asylo__struct_adopt(options, &adopted, sizeof adopted,
                            ASYLO__V1_SIZE(asylo_provision_server_options, chunk_size),
                            "asylo_provision_server_options", status);
    if (adopt_code == ASYLO_OK) {
        adopt_code = asylo__security_options_adopt(&options->security, &adopted.security, status);
    }
    if (adopt_code != ASYLO_OK) {
        return adopt_code;
    }
    options = &adopted;
    if (options->server_address == NULL || options->server_address[0] == '\0') {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "provisioning through a server needs its address "
                                "(--provision_server)");
    }
    /* Checked now so a bad target is a configuration error, not a failed
     * load. */
    asylo__fleet_target *parsed = calloc(1, sizeof *parsed);
    asylo_code code = parsed == NULL
                          ? asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                             "out of memory for a provision")
                          : asylo__fleet_target_parse(options->server_address, 0, parsed, status);
    free(parsed);
    if (code != ASYLO_OK) {
        return code;
    }
    if (options->chunk_size > MAX_CHUNK_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "chunk_size %zu is over %zu", options->chunk_size, MAX_CHUNK_SIZE);
    }
    server_provision *self = calloc(1, sizeof *self);
    if (self == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory for a provision");
    }
    asylo__grpc_acquire();
    self->base.version = ASYLO_REMOTE_PROVISION_VERSION;
    self->base.provision = server_provision_run;
    self->base.finalize = server_provision_finalize;
    self->base.destroy = server_provision_destroy;
    self->server_address = strdup(options->server_address);
    bool failed = self->server_address == NULL;
    failed |= !asylo__owned_security_copy(&self->owned_security, &options->security);
    asylo__security_from_public(&self->owned_security.options, &self->security);
    self->timeout_ms = options->timeout_ms > 0 ? options->timeout_ms : DEFAULT_TIMEOUT_MS;
    self->chunk_size = options->chunk_size > 0 ? options->chunk_size : DEFAULT_CHUNK_SIZE;
    if (failed) {
        server_provision_destroy(&self->base);
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory copying provision options");
    }
    *provision = &self->base;
    return asylo_status_ok(status);
}
