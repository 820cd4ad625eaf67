/* The provision server's two methods.
 *
 * Provision: header first (checked against every limit and the allowlist
 * before a byte is stored; an upload of more than one message is then
 * acknowledged with an empty reply), then chunks into a private upload file
 * hashed as it grows while the proxy for the image starts alongside, then
 * the image's checks and the reply. A client that vanishes
 * or stops early leaves nothing: the upload is removed, the slot freed, and a
 * proxy whose reply could not be delivered is stopped.
 *
 * Release: stops a proxy given its id and token. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asylo/provision.pb-c.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/log.h"
#include "provision/fleet_target.h"
#include "provision/image_verify.h"
#include "provision/provision_server.h"

static double seconds_since(int64_t start_ms) {
    return (double)(asylo__monotonic_ms() - start_ms) / 1000.0;
}

/* The whole upload's end (monotonic ms): --upload_deadline_ms, or sooner
 * for a small image at --min_upload_rate, so a client trickling bytes cannot
 * hold an upload slot for long. */
static int64_t upload_deadline(const asylo__provision_server *server, int64_t start_ms,
                               uint64_t image_size) {
    int64_t allowed = server->options.upload_deadline_ms;
    uint64_t rate = server->options.min_upload_rate;
    if (rate > 0) {
        uint64_t at_rate_ms = image_size / rate * 1000 + (image_size % rate) * 1000 / rate;
        if (allowed > ASYLO__PROVISION_RATE_GRACE_MS &&
            at_rate_ms < (uint64_t)(allowed - ASYLO__PROVISION_RATE_GRACE_MS)) {
            allowed = ASYLO__PROVISION_RATE_GRACE_MS + (int64_t)at_rate_ms;
        }
    }
    return start_ms + allowed;
}

/* Receives one request; deadline_ms (monotonic, 0: none) bounds it besides
 * --upload_timeout_ms. */
static asylo_code receive_request(asylo__provision_server *server, asylo__server_call *call,
                                  int64_t deadline_ms, Asylo__Remote__ProvisionRequest **request,
                                  asylo_status *status) {
    uint8_t *data = NULL;
    size_t size = 0;
    int64_t timeout_ms = server->options.upload_timeout_ms;
    bool by_deadline = false;
    if (deadline_ms > 0) {
        int64_t left = deadline_ms - asylo__monotonic_ms();
        if (left < 1) {
            left = 1;
        }
        if (left < timeout_ms) {
            timeout_ms = left;
            by_deadline = true;
        }
    }
    /* A ProvisionRequest carries the image and public header fields only. */
    asylo_code code =
        asylo__server_call_receive_public_bytes(call, &data, &size, timeout_ms, status);
    if (code == ASYLO_DEADLINE_EXCEEDED && by_deadline) {
        return asylo_status_set(status, ASYLO_DEADLINE_EXCEEDED, ASYLO_ORIGIN_API,
                                "the upload did not finish in time (--upload_deadline_ms of "
                                "%lld ms, or %lld ms plus its size at --min_upload_rate of "
                                "%llu bytes/s); nothing was kept",
                                (long long)server->options.upload_deadline_ms,
                                (long long)ASYLO__PROVISION_RATE_GRACE_MS,
                                (unsigned long long)server->options.min_upload_rate);
    }
    if (code == ASYLO_OUT_OF_RANGE) {
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_API,
                                "the client ended the upload before its last chunk: truncated; "
                                "nothing was kept");
    }
    if (code != ASYLO_OK) {
        return code;
    }
    *request = asylo__remote__provision_request__unpack(NULL, size, data);
    free(data);
    if (*request == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "malformed ProvisionRequest (%zu bytes)", size);
    }
    return ASYLO_OK;
}

static asylo_code check_header(const Asylo__Remote__ProvisionRequest *request,
                               asylo_status *status) {
    const Asylo__Remote__ProvisionHeader *header = request->header;
    if (header == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "the first ProvisionRequest must carry the header");
    }
    if (header->image_sha256.len != ASYLO__SHA256_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "image_sha256 must be %d bytes, not %zu", ASYLO__SHA256_SIZE,
                                header->image_sha256.len);
    }
    if (strlen(header->backend) > 32 || strlen(header->name) > 127) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "backend must be at most 32 bytes (empty: the server's) and name "
                                "at most 127");
    }
    return ASYLO_OK;
}

/* Receives the image into `upload` until the message marked last. */
static asylo_code receive_image(asylo__provision_server *server, asylo__server_call *call,
                                int64_t deadline_ms, Asylo__Remote__ProvisionRequest *first,
                                asylo__image_upload *upload, asylo_status *status) {
    Asylo__Remote__ProvisionRequest *request = first;
    asylo_code code = ASYLO_OK;
    for (;;) {
        if (request != first && request->header != NULL) {
            code = asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "a second header in one upload");
        } else {
            code =
                asylo__image_upload_write(upload, request->chunk.data, request->chunk.len, status);
        }
        bool last = request->last;
        if (request != first) {
            asylo__remote__provision_request__free_unpacked(request, NULL);
        }
        if (code != ASYLO_OK || last) {
            return code;
        }
        code = receive_request(server, call, deadline_ms, &request, status);
        if (code != ASYLO_OK) {
            return code;
        }
    }
}

/* The proxy address a client can dial: --advertise_address with the proxy's
 * port, else the address it is bound to; a loopback one never goes to a
 * client that is not on loopback (it gets "" and dials the host it reached
 * this server at). */
static void reported_address(const asylo__provision_server *server,
                             const asylo__provisioned_proxy *proxy, asylo__server_call *call,
                             char *out, size_t size) {
    snprintf(out, size, "%s", proxy->process.address);
    if (server->address.family == ASYLO__ADDRESS_UNIX) {
        return;
    }
    asylo__address reported;
    if (server->options.advertise_address != NULL &&
        asylo__address_parse(server->options.advertise_address, &reported, NULL) == ASYLO_OK) {
        asylo__address with_port;
        asylo__address_with_port(&reported, proxy->port, &with_port);
        snprintf(out, size, "%s", asylo__address_target(&with_port));
    } else if (asylo__address_parse(proxy->process.address, &reported, NULL) != ASYLO_OK) {
        return;
    }
    asylo__address client;
    if (asylo__address_is_local(&reported) &&
        (!asylo__peer_address_parse(asylo__server_call_peer(call), &client) ||
         !asylo__address_is_local(&client))) {
        out[0] = '\0';
    }
}

static asylo_code send_reply(asylo__server_call *call, const asylo__provision_server *server,
                             const asylo__provisioned_proxy *proxy, const char *image_path,
                             asylo_status *status) {
    char address[sizeof proxy->process.address + 16];
    reported_address(server, proxy, call, address, sizeof address);
    Asylo__Remote__ProvisionReply reply = ASYLO__REMOTE__PROVISION_REPLY__INIT;
    reply.proxy_id = (char *)proxy->id;
    reply.proxy_address = address;
    reply.proxy_port = proxy->port;
    reply.token = (char *)proxy->process.token;
    reply.enclave_path = (char *)image_path;
    size_t size = asylo__remote__provision_reply__get_packed_size(&reply);
    uint8_t *packed = malloc(size == 0 ? 1 : size);
    if (packed == NULL) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory for the reply");
    }
    asylo__remote__provision_reply__pack(&reply, packed);
    asylo_code code = asylo__server_call_send_bytes(call, packed, size, status);
    asylo__secure_zero(packed, size);
    free(packed);
    return code;
}

/* The proxy is spawned while the image streams in: starting the binary
 * (dynamic linking, gRPC, listening) takes about as long as a 16 MiB upload,
 * and nothing in it needs the image. It is given the image's final path,
 * which holds only bytes whose SHA-256 the server checked (the upload is
 * renamed there after the check), and it loads nothing until a host with
 * its one-time token asks; the token goes out only in the reply, after
 * every check. A refused upload stops it.
 *
 * An early proxy takes no --max_proxies place until its upload is complete
 * (the place is claimed then, as without it), and at most EARLY_LIMIT run
 * at once server-wide: slow uploads (slowloris) hold no proxy places and at
 * most that many processes; past the limit an upload's proxy starts after
 * it, as before. */
#define EARLY_LIMIT 2
static atomic_int early_count;

typedef struct early_proxy {
    asylo__provision_server *server;
    asylo__provisioned_proxy *slot;
    const char *backend;
    asylo_code code;
    asylo_status status;
} early_proxy;

static void *spawn_early(void *opaque) {
    early_proxy *early = opaque;
    early->code =
        asylo__provision_spawn(early->server, early->slot, early->backend, &early->status);
    return NULL;
}

/* Joins the early spawn; true when its proxy is still there to register.
 * One that already ended (its --load_timeout_ms ran out during a long
 * upload) is reaped and spawned again by the caller. */
static bool join_early(early_proxy *early, pthread_t thread) {
    pthread_join(thread, NULL);
    if (early->code != ASYLO_OK) {
        return false;
    }
    if (asylo__proxy_process_wait(&early->slot->process, 0, NULL)) {
        asylo__proxy_process_stop(&early->slot->process, 0, NULL);
        return false;
    }
    return true;
}

/* Takes one of the EARLY_LIMIT places; false when all are taken. */
static bool early_place_take(void) {
    int seen = atomic_load(&early_count);
    while (seen < EARLY_LIMIT) {
        if (atomic_compare_exchange_weak(&early_count, &seen, seen + 1)) {
            return true;
        }
    }
    return false;
}

static void serve_provision(asylo__server_call *call, void *context) {
    asylo__provision_server *server = context;
    int64_t start_ms = asylo__monotonic_ms();
    const char *identity = asylo__server_call_peer_identity(call);
    asylo_status status;
    Asylo__Remote__ProvisionRequest *first = NULL;
    asylo__provisioned_proxy *slot = NULL;
    asylo__image_upload upload = {.fd = -1};
    uint64_t image_size = 0;
    char sha256_hex[ASYLO__SHA256_HEX_SIZE];
    char image_path[PATH_MAX];
    early_proxy early = {.code = ASYLO_UNAVAILABLE};
    pthread_t early_thread;
    bool early_running = false;
    bool spawned = false;
    asylo_code code = receive_request(server, call, 0, &first, &status);
    if (code == ASYLO_OK) {
        code = check_header(first, &status);
    }
    if (code == ASYLO_OK) {
        image_size = first->header->image_size;
        code = asylo__provision_reserve(server, identity, first->header->image_sha256.data,
                                        image_size, first->header->backend, &slot, &status);
    }
    if (code == ASYLO_OK) {
        code = asylo__image_upload_begin(&server->store, image_size,
                                         first->header->image_sha256.data, &upload, &status);
    }
    bool early_place = code == ASYLO_OK && early_place_take();
    if (early_place) {
        early = (early_proxy){server, slot, first->header->backend, ASYLO_UNAVAILABLE, {0}};
        early_running = pthread_create(&early_thread, NULL, spawn_early, &early) == 0;
    }
    if (code == ASYLO_OK && !first->last) {
        /* Accepted: an empty reply tells the client to send the rest (and
         * lets its first batch, which waits for our initial metadata,
         * complete). */
        code = asylo__server_call_send_bytes(call, "", 0, &status);
    }
    if (code == ASYLO_OK) {
        code = receive_image(server, call, upload_deadline(server, start_ms, image_size), first,
                             &upload, &status);
    }
    if (code == ASYLO_OK) {
        code = asylo__image_upload_commit(&upload, &server->store, sha256_hex, &status);
    }
    if (code == ASYLO_OK) {
        /* The loader's own check, before any process loads the image (the
         * early proxy only waits for a host); on failure the slot's release
         * removes the image. */
        char name[ASYLO__SHA256_HEX_SIZE + 32];
        snprintf(name, sizeof name, "the uploaded image %.16s...", sha256_hex);
        asylo__image_store_path(&server->store, sha256_hex, image_path);
        code = asylo__image_verify_enclave(image_path, name, first->header->backend, &status);
    }
    if (early_running) {
        spawned = join_early(&early, early_thread);
    }
    if (code == ASYLO_OK) {
        code = asylo__provision_claim(server, slot, &status);
    }
    if (code == ASYLO_OK && !spawned) {
        code = asylo__provision_spawn(server, slot, first->header->backend, &status);
        spawned = code == ASYLO_OK;
    }
    if (code == ASYLO_OK) {
        /* On failure register stops the proxy itself. */
        spawned = false;
        code = asylo__provision_register(server, slot, &status);
    }
    if (code == ASYLO_OK) {
        asylo__image_store_path(&server->store, sha256_hex, image_path);
        if (send_reply(call, server, slot, image_path, &status) == ASYLO_OK) {
            asylo__server_call_finish(call, ASYLO_OK, NULL, NULL);
        } else {
            /* The client is gone: its proxy would wait for nobody. */
            asylo__log(ASYLO_LOG_WARNING, "provision", NULL, 0,
                       "client vanished before its reply; stopping proxy %s", slot->id);
            char id[sizeof slot->id];
            char token[sizeof slot->process.token];
            snprintf(id, sizeof id, "%s", slot->id);
            snprintf(token, sizeof token, "%s", slot->process.token);
            asylo__provision_stop(server, id, token, NULL);
            asylo__secure_zero(token, sizeof token);
            code = ASYLO_UNAVAILABLE;
        }
    } else {
        if (spawned) {
            /* Spawned for an upload that was then refused: never registered. */
            asylo__proxy_process_stop(&slot->process, 0, NULL);
        }
        asylo__image_upload_abort(&upload);
        asylo__provision_unreserve(server, slot);
        char text[ASYLO_STATUS_MESSAGE_SIZE + 64];
        ASYLO__LOG_LIMITED(ASYLO_LOG_WARNING, "provision", NULL, 0, "provision from %s refused: %s",
                           asylo__server_call_peer(call),
                           asylo_status_format(&status, text, sizeof text));
        asylo__server_call_finish(call, code, status.message, NULL);
    }
    if (early_place) {
        atomic_fetch_sub(&early_count, 1);
    }
    if (first != NULL) {
        asylo__remote__provision_request__free_unpacked(first, NULL);
    }
    if (server->on_provision != NULL) {
        server->on_provision(server->on_provision_context, code, seconds_since(start_ms),
                             image_size);
    }
}

static void serve_release(asylo__server_call *call, void *context) {
    asylo__provision_server *server = context;
    asylo_status status;
    uint8_t *data = NULL;
    size_t size = 0;
    asylo_code code = asylo__server_call_receive_bytes(call, &data, &size,
                                                       server->options.upload_timeout_ms, &status);
    Asylo__Remote__ReleaseRequest *request = NULL;
    if (code == ASYLO_OK && size > ASYLO__PROVISION_MESSAGE_OVERHEAD) {
        code = asylo_status_set(&status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "a ReleaseRequest of %zu bytes is over its limit of %d bytes", size,
                                ASYLO__PROVISION_MESSAGE_OVERHEAD);
    } else if (code == ASYLO_OK) {
        request = asylo__remote__release_request__unpack(NULL, size, data);
        if (request == NULL) {
            code = asylo_status_set(&status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "malformed ReleaseRequest");
        }
    }
    free(data);
    if (code == ASYLO_OK) {
        code = asylo__provision_stop(server, request->proxy_id, request->token, &status);
    }
    if (code == ASYLO_OK) {
        Asylo__Remote__ReleaseReply reply = ASYLO__REMOTE__RELEASE_REPLY__INIT;
        uint8_t packed[16];
        size_t packed_size = asylo__remote__release_reply__pack(&reply, packed);
        code = asylo__server_call_send_bytes(call, packed, packed_size, &status);
    }
    asylo__server_call_finish(call, code, code == ASYLO_OK ? NULL : status.message, NULL);
    if (request != NULL) {
        asylo__remote__release_request__free_unpacked(request, NULL);
    }
}

void asylo__provision_server_transport_options(const asylo__provision_server_options *options,
                                               asylo__server_options *transport) {
    size_t chunk =
        options->max_chunk_size > 0 ? options->max_chunk_size : ASYLO__PROVISION_DEFAULT_CHUNK;
    transport->max_message_size = chunk + ASYLO__PROVISION_MESSAGE_OVERHEAD;
    transport->memory_quota = 2 * transport->max_message_size > ASYLO__PROVISION_MEMORY_QUOTA
                                  ? 2 * transport->max_message_size
                                  : ASYLO__PROVISION_MEMORY_QUOTA;
}

asylo_code asylo__provision_server_add_methods(asylo__provision_server *server,
                                               asylo__server *transport, asylo_status *status) {
    asylo_code code = asylo__server_add_method(transport, ASYLO__PROVISION_METHOD, serve_provision,
                                               server, status);
    if (code == ASYLO_OK) {
        code = asylo__server_add_method(transport, ASYLO__RELEASE_METHOD, serve_release, server,
                                        status);
    }
    return code;
}
