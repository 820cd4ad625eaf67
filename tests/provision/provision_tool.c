/* provision_tool: the helper the provision tests drive asylo-provision-server
 * with.
 *
 *   provision_tool reap -- CMD ARGS...
 *       Runs CMD as a child subreaper: every process CMD leaves behind is
 *       re-parented here. After CMD exits, anything still running is named on
 *       stderr, killed, and the exit status is 1 ("no processes left behind").
 *       Otherwise CMD's own status (77 stays 77: skipped).
 *
 *   provision_tool upload --server=ADDR --image=PATH [security flags]
 *       [--declared_size=N] [--bad_hash] [--chunk=N] [--backend=NAME]
 *       [--stop_after=BYTES]  half-close the stream before the last chunk
 *       [--hang_after=BYTES]  print "hanging" and sleep (for kill -9)
 *       [--pause_after=BYTES] print "paused", wait for a line on stdin, go on
 *       [--trickle_ms=MS]     sleep MS between messages (with --chunk=1: a
 *                             slowloris upload)
 *       [--vanish]            exit at once after the reply (no Release, no close)
 *       [--release=right|wrong]  release the proxy (wrong: a wrong token first,
 *                                which must give PERMISSION_DENIED)
 *       [--expect=CODE]       the code the provision must end with (default OK)
 *     A raw client of the RemoteProxyProvisionServer protocol (src/transport +
 *     provision.pb-c.h), so it can send what the real client never does.
 *     Prints "result code=NAME ..." and exits 0 when CODE was met.
 *
 *   provision_tool load --server=ADDR --image=PATH [security flags]
 *       [--hold_ms=N] [--backend=NAME]  (the proxy's backend; default sim)
 *     The real client (public API): provisions the image through the server,
 *     loads it with backend remote, makes one call, prints "loaded", waits
 *     hold_ms (or until stdin closes), then destroys the enclave. Prints
 *     "destroyed code=NAME". */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asylo/asylo.h"
#include "asylo/provision.pb-c.h"
#include "asylo/remote.h"
#include "provision/provision_protocol.h"
#include "test_enclave_selectors.h"
#include "transport/client_stream.h"
#include "transport/grpc_runtime.h"
#include "transport/security.h"

#define CALL_TIMEOUT_MS 20000

static const char *flag_value(const char *argument, const char *name) {
    size_t length = strlen(name);
    if (strncmp(argument, name, length) == 0 && argument[length] == '=') {
        return argument + length + 1;
    }
    return NULL;
}

static void sleep_ms(int64_t milliseconds) {
    struct timespec pause = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
}

static bool code_from_name(const char *name, asylo_code *code) {
    for (int value = 0; value <= 16; value++) {
        if (strcmp(asylo_code_name((asylo_code)value), name) == 0) {
            *code = (asylo_code)value;
            return true;
        }
    }
    return false;
}

/* ---- reap ---------------------------------------------------------------- */

/* Children of this process still alive (re-parented orphans included). */
static size_t list_children(pid_t *pids, size_t capacity) {
    size_t count = 0;
    FILE *children = NULL;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
    children = fopen(path, "re");
    if (children == NULL) {
        return 0;
    }
    int pid;
    while (count < capacity && fscanf(children, "%d", &pid) == 1) {
        pids[count++] = (pid_t)pid;
    }
    fclose(children);
    return count;
}

static void describe(pid_t pid, char *text, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    text[0] = '\0';
    FILE *file = fopen(path, "re");
    if (file != NULL) {
        size_t got = fread(text, 1, size - 1, file);
        fclose(file);
        for (size_t i = 0; i + 1 < got; i++) {
            text[i] = text[i] == '\0' ? ' ' : text[i];
        }
        text[got] = '\0';
    }
}

static int run_reap(int argc, char **argv) {
    if (argc < 1) {
        fprintf(stderr, "provision_tool reap -- CMD ARGS...\n");
        return 2;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        perror("PR_SET_CHILD_SUBREAPER");
        return 2;
    }
    pid_t main_child = fork();
    if (main_child < 0) {
        perror("fork");
        return 2;
    }
    if (main_child == 0) {
        execvp(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    int main_status = 0;
    for (;;) {
        int wait_status = 0;
        pid_t done = waitpid(-1, &wait_status, 0);
        if (done == main_child) {
            main_status = wait_status;
            break;
        }
        if (done < 0 && errno != EINTR) {
            break;
        }
    }
    /* Orphans get a moment to finish what they were told to (a proxy whose
     * server went away exits by itself). */
    int leftovers = 0;
    for (int round = 0; round < 60; round++) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        pid_t pids[64];
        size_t count = list_children(pids, 64);
        if (count == 0) {
            break;
        }
        if (round < 50) {
            sleep_ms(100);
            continue;
        }
        for (size_t i = 0; i < count; i++) {
            char text[512];
            describe(pids[i], text, sizeof text);
            fprintf(stderr, "provision_tool reap: left behind: pid %d: %s\n", (int)pids[i], text);
            kill(pids[i], SIGKILL);
            leftovers++;
        }
        sleep_ms(100);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    if (leftovers > 0) {
        return 1;
    }
    if (WIFEXITED(main_status)) {
        return WEXITSTATUS(main_status);
    }
    fprintf(stderr, "provision_tool reap: %s ended by signal %d\n", argv[0],
            WIFSIGNALED(main_status) ? WTERMSIG(main_status) : -1);
    return 1;
}

/* ---- upload (raw client) --------------------------------------------------- */

typedef struct upload_flags {
    const char *server;
    const char *image;
    const char *backend;
    asylo__security_options security;
    long long declared_size; /* -1: the real size */
    bool bad_hash;
    size_t chunk;
    long long stop_after;  /* -1: never */
    long long hang_after;  /* -1: never */
    long long pause_after; /* -1: never */
    long long trickle_ms;  /* 0: no pause between messages */
    bool vanish;
    const char *release; /* NULL, "right", "wrong" */
    asylo_code expect;
} upload_flags;

static int read_file(const char *path, uint8_t **data, size_t *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat info;
    if (fd < 0 || fstat(fd, &info) != 0) {
        fprintf(stderr, "provision_tool: cannot open '%s': %s\n", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    *size = (size_t)info.st_size;
    *data = malloc(*size == 0 ? 1 : *size);
    size_t got = 0;
    while (*data != NULL && got < *size) {
        ssize_t n = read(fd, *data + got, *size - got);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    return got == *size && *data != NULL ? 0 : -1;
}

/* The first message of several is answered with an empty acknowledgement
 * (or the refusal); the last with the reply. */
static asylo_code send_message(asylo__client_stream *stream,
                               const Asylo__Remote__ProvisionRequest *request, bool first,
                               uint8_t **reply, size_t *reply_size, asylo_status *status) {
    size_t size = asylo__remote__provision_request__get_packed_size(request);
    uint8_t *packed = malloc(size == 0 ? 1 : size);
    asylo__remote__provision_request__pack(request, packed);
    bool acknowledge = first && !request->last;
    asylo_code code =
        asylo__client_stream_exchange_bytes(stream, packed, size, request->last || acknowledge,
                                            reply, reply_size, CALL_TIMEOUT_MS, status);
    if (code == ASYLO_OK && acknowledge) {
        if (*reply_size != 0) {
            code = asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_API,
                                    "the header was answered with %zu bytes, not an empty "
                                    "acknowledgement",
                                    *reply_size);
        }
        free(*reply);
        *reply = NULL;
        *reply_size = 0;
    }
    free(packed);
    return code;
}

static asylo_code release(asylo__channel *channel, const char *id, const char *token,
                          asylo_status *status) {
    Asylo__Remote__ReleaseRequest request = ASYLO__REMOTE__RELEASE_REQUEST__INIT;
    request.proxy_id = (char *)id;
    request.token = (char *)token;
    uint8_t packed[512];
    size_t size = asylo__remote__release_request__pack(&request, packed);
    asylo__client_stream *stream = NULL;
    asylo_code code =
        asylo__client_stream_open(channel, ASYLO__RELEASE_METHOD, NULL, &stream, status);
    if (code == ASYLO_OK) {
        uint8_t *reply = NULL;
        size_t reply_size = 0;
        code = asylo__client_stream_exchange_bytes(stream, packed, size, true, &reply, &reply_size,
                                                   CALL_TIMEOUT_MS, status);
        free(reply);
    }
    asylo_status close_status;
    asylo_code close_code = asylo__client_stream_close(stream, 5000, &close_status);
    if (code == ASYLO_OK && close_code != ASYLO_OK) {
        code = close_code;
        *status = close_status;
    }
    return code;
}

static int report(const char *what, asylo_code code, const asylo_status *status,
                  asylo_code expect) {
    printf("%s code=%s message=%s\n", what, asylo_code_name(code),
           code == ASYLO_OK ? "" : status->message);
    fflush(stdout);
    return code == expect ? 0 : 1;
}

static int do_upload(const upload_flags *flags) {
    uint8_t *image = NULL;
    size_t image_size = 0;
    if (read_file(flags->image, &image, &image_size) != 0) {
        return 2;
    }
    uint8_t digest[32];
    unsigned int digest_size = 0;
    EVP_Digest(image, image_size, digest, &digest_size, EVP_sha256(), NULL);
    if (flags->bad_hash) {
        digest[0] ^= 0xff;
    }
    Asylo__Remote__ProvisionHeader header = ASYLO__REMOTE__PROVISION_HEADER__INIT;
    header.image_size = flags->declared_size >= 0 ? (uint64_t)flags->declared_size : image_size;
    header.image_sha256.data = digest;
    header.image_sha256.len = sizeof digest;
    header.backend = (char *)flags->backend;
    header.name = "provision_tool";

    asylo__grpc_acquire();
    asylo_status status;
    asylo__channel *channel = NULL;
    asylo__client_stream *stream = NULL;
    asylo__channel_options options = {
        .address = flags->server,
        .security = &flags->security,
        .max_message_size = flags->chunk + 4096,
        .connect_timeout_ms = 10000,
    };
    uint8_t *reply_bytes = NULL;
    size_t reply_size = 0;
    asylo_code code = asylo__channel_open(&options, &channel, &status);
    if (code == ASYLO_OK) {
        code = asylo__client_stream_open(channel, ASYLO__PROVISION_METHOD, NULL, &stream, &status);
    }
    size_t sent = 0;
    bool first = true;
    bool stopped = false;
    bool paused = false;
    while (code == ASYLO_OK) {
        if (flags->hang_after >= 0 && (long long)sent >= flags->hang_after && !first) {
            printf("hanging after %zu bytes\n", sent);
            fflush(stdout);
            for (;;) {
                pause();
            }
        }
        if (flags->pause_after >= 0 && (long long)sent >= flags->pause_after && !first && !paused) {
            printf("paused after %zu bytes\n", sent);
            fflush(stdout);
            char line[16];
            if (fgets(line, sizeof line, stdin) == NULL) {
                clearerr(stdin);
            }
            paused = true;
        }
        if (flags->stop_after >= 0 && (long long)sent >= flags->stop_after && !first) {
            stopped = true;
            break;
        }
        if (flags->trickle_ms > 0 && !first) {
            struct timespec pause_time = {.tv_sec = flags->trickle_ms / 1000,
                                          .tv_nsec = (flags->trickle_ms % 1000) * 1000000};
            nanosleep(&pause_time, NULL);
        }
        size_t want = image_size - sent < flags->chunk ? image_size - sent : flags->chunk;
        Asylo__Remote__ProvisionRequest request = ASYLO__REMOTE__PROVISION_REQUEST__INIT;
        request.header = first ? &header : NULL;
        request.chunk.data = image + sent;
        request.chunk.len = want;
        sent += want;
        request.last = sent == image_size;
        code = send_message(stream, &request, first, &reply_bytes, &reply_size, &status);
        first = false;
        if (request.last) {
            break;
        }
    }
    Asylo__Remote__ProvisionReply *reply = NULL;
    if (code == ASYLO_OK && !stopped) {
        reply = asylo__remote__provision_reply__unpack(NULL, reply_size, reply_bytes);
        if (reply == NULL) {
            code = asylo_status_set(&status, ASYLO_INTERNAL, ASYLO_ORIGIN_API, "malformed reply");
        }
    }
    if (code == ASYLO_OK && flags->vanish) {
        printf("result code=OK id=%s vanishing\n", reply->proxy_id);
        fflush(stdout);
        _exit(0);
    }
    /* The final status: after a stop, it is what the server made of the
     * truncated stream. */
    asylo_status close_status;
    asylo_code close_code = asylo__client_stream_close(stream, 5000, &close_status);
    if (code == ASYLO_OK && close_code != ASYLO_OK) {
        code = close_code;
        status = close_status;
    }
    int result = 0;
    if (code == ASYLO_OK && reply != NULL) {
        printf("result code=OK id=%s address=%s port=%u path=%s\n", reply->proxy_id,
               reply->proxy_address, reply->proxy_port, reply->enclave_path);
        fflush(stdout);
        result = code == flags->expect ? 0 : 1;
        if (flags->release != NULL && strcmp(flags->release, "wrong") == 0) {
            char wrong[128];
            snprintf(wrong, sizeof wrong, "%s", reply->token);
            wrong[0] = wrong[0] == '0' ? '1' : '0';
            asylo_code release_code = release(channel, reply->proxy_id, wrong, &status);
            result |= report("release_wrong", release_code, &status, ASYLO_PERMISSION_DENIED);
        }
        if (flags->release != NULL) {
            asylo_code release_code = release(channel, reply->proxy_id, reply->token, &status);
            result |= report("release", release_code, &status, ASYLO_OK);
        }
    } else {
        result = report("result", code, &status, flags->expect);
    }
    if (reply != NULL) {
        asylo__remote__provision_reply__free_unpacked(reply, NULL);
    }
    free(reply_bytes);
    asylo__channel_close(channel);
    asylo__grpc_release();
    free(image);
    return result;
}

static int run_upload(int argc, char **argv) {
    upload_flags flags = {
        .backend = "sim",
        .declared_size = -1,
        .chunk = 64 * 1024,
        .stop_after = -1,
        .hang_after = -1,
        .pause_after = -1,
        .expect = ASYLO_OK,
    };
    for (int i = 0; i < argc; i++) {
        const char *value;
        int consumed = 0;
        asylo_status status;
        if (asylo__security_parse_flag(&flags.security, argv[i], NULL, &consumed, &status) !=
            ASYLO_OK) {
            fprintf(stderr, "provision_tool: %s\n", status.message);
            return 2;
        }
        if (consumed > 0) {
            continue;
        }
        if ((value = flag_value(argv[i], "--server")) != NULL) {
            flags.server = value;
        } else if ((value = flag_value(argv[i], "--image")) != NULL) {
            flags.image = value;
        } else if ((value = flag_value(argv[i], "--backend")) != NULL) {
            flags.backend = value;
        } else if ((value = flag_value(argv[i], "--declared_size")) != NULL) {
            flags.declared_size = atoll(value);
        } else if (strcmp(argv[i], "--bad_hash") == 0) {
            flags.bad_hash = true;
        } else if ((value = flag_value(argv[i], "--chunk")) != NULL) {
            flags.chunk = (size_t)atoll(value);
        } else if ((value = flag_value(argv[i], "--stop_after")) != NULL) {
            flags.stop_after = atoll(value);
        } else if ((value = flag_value(argv[i], "--hang_after")) != NULL) {
            flags.hang_after = atoll(value);
        } else if ((value = flag_value(argv[i], "--trickle_ms")) != NULL) {
            flags.trickle_ms = atoll(value);
        } else if ((value = flag_value(argv[i], "--pause_after")) != NULL) {
            flags.pause_after = atoll(value);
        } else if (strcmp(argv[i], "--vanish") == 0) {
            flags.vanish = true;
        } else if ((value = flag_value(argv[i], "--release")) != NULL) {
            flags.release = value;
        } else if ((value = flag_value(argv[i], "--expect")) != NULL) {
            if (!code_from_name(value, &flags.expect)) {
                fprintf(stderr, "provision_tool: unknown code '%s'\n", value);
                return 2;
            }
        } else {
            fprintf(stderr, "provision_tool upload: unknown flag '%s'\n", argv[i]);
            return 2;
        }
    }
    if (flags.server == NULL || flags.image == NULL || flags.chunk == 0) {
        fprintf(stderr, "provision_tool upload: --server and --image are required\n");
        return 2;
    }
    return do_upload(&flags);
}

/* ---- load (public API) ------------------------------------------------------ */

static int run_load(int argc, char **argv) {
    const char *server = NULL;
    const char *image = NULL;
    long long hold_ms = -1;
    const char *target_backend = NULL;
    asylo_provision_server_options provision_options;
    asylo_provision_server_options_init(&provision_options);
    for (int i = 0; i < argc; i++) {
        const char *value;
        int consumed = 0;
        asylo_status status;
        if (asylo_security_parse_flag(&provision_options.security, argv[i], NULL, &consumed,
                                      &status) != ASYLO_OK) {
            fprintf(stderr, "provision_tool: %s\n", status.message);
            return 2;
        }
        if (consumed > 0) {
            continue;
        }
        if ((value = flag_value(argv[i], "--server")) != NULL) {
            server = value;
        } else if ((value = flag_value(argv[i], "--image")) != NULL) {
            image = value;
        } else if ((value = flag_value(argv[i], "--hold_ms")) != NULL) {
            hold_ms = atoll(value);
        } else if ((value = flag_value(argv[i], "--backend")) != NULL) {
            target_backend = value;
        } else {
            fprintf(stderr, "provision_tool load: unknown flag '%s'\n", argv[i]);
            return 2;
        }
    }
    if (server == NULL || image == NULL) {
        fprintf(stderr, "provision_tool load: --server and --image are required\n");
        return 2;
    }
    provision_options.server_address = server;
    asylo_status status;
    asylo_remote_provision *provision = NULL;
    asylo_manager *manager = NULL;
    asylo_client *client = NULL;
    asylo_code code =
        asylo_provision_server_provision_create(&provision_options, &provision, &status);
    if (code == ASYLO_OK) {
        code = asylo_manager_create(&manager, &status);
    }
    if (code == ASYLO_OK) {
        asylo_remote_config remote;
        asylo_remote_config_init(&remote);
        remote.provision = provision;
        remote.security = provision_options.security;
        if (target_backend != NULL) {
            remote.target_backend = target_backend;
        }
        asylo_load_config load;
        asylo_load_config_init(&load);
        load.name = "provision_tool";
        load.backend = "remote";
        load.enclave_path = image;
        load.backend_config = &remote;
        code = asylo_manager_load(manager, &load, &client, &status);
    }
    if (code == ASYLO_OK) {
        asylo_buffer output = {0};
        code = asylo_client_call(client, TEST_COUNTER, NULL, 0, &output, &status);
        asylo_buffer_free(&output);
    }
    if (code != ASYLO_OK) {
        int result = report("load", code, &status, ASYLO_OK);
        if (client != NULL) {
            asylo_manager_destroy_client(manager, client, NULL, 0, NULL);
        }
        asylo_manager_destroy(manager);
        asylo_remote_provision_destroy(provision);
        return result;
    }
    printf("loaded\n");
    fflush(stdout);
    if (hold_ms >= 0) {
        sleep_ms(hold_ms);
    } else {
        char byte;
        while (read(0, &byte, 1) > 0) {
        }
    }
    code = asylo_manager_destroy_client(manager, client, NULL, 0, &status);
    printf("destroyed code=%s\n", asylo_code_name(code));
    fflush(stdout);
    asylo_manager_destroy(manager);
    asylo_remote_provision_destroy(provision);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "reap") == 0) {
        int first = argc >= 3 && strcmp(argv[2], "--") == 0 ? 3 : 2;
        return run_reap(argc - first, argv + first);
    }
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 2 && strcmp(argv[1], "upload") == 0) {
        return run_upload(argc - 2, argv + 2);
    }
    if (argc >= 2 && strcmp(argv[1], "load") == 0) {
        return run_load(argc - 2, argv + 2);
    }
    fprintf(stderr, "usage: provision_tool reap|upload|load ... (see the source)\n");
    return 2;
}
