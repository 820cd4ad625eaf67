/* Uploads to asylo-provision-server through fault_proxy (one fault per
 * argv[1], so ctest runs them as faults.upload.<kind>): the host loads the
 * test enclave with the provision-server provisioner, whose upload crosses
 * the faulty link (the proxy it then starts is dialed directly). The load
 * must end OK (and work) or with a clean UNAVAILABLE / DEADLINE_EXCEEDED
 * within its bound, never a hang; afterwards nothing may be left behind:
 * no image or pid file in the store, no proxy process, and no slot (the
 * server allows one upload and one proxy at a time, so a leaked one would
 * refuse the direct load that follows). */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asylo/asylo.h"
#include "fault_proxy.h"
#include "remote_util.h"
#include "test_enclave_selectors.h"

/* The provision's timeout, and the server's wait for the next chunk. */
#define PROVISION_TIMEOUT_MS 3000
#define SERVER_UPLOAD_TIMEOUT_MS 2000
#define LOAD_BOUND_MS (PROVISION_TIMEOUT_MS + 5000 + 5000)
/* A slot held by an upload the server saw stall is released by its
 * --upload_timeout_ms; the direct load waits for that at most this long. */
#define RECOVER_BOUND_MS (SERVER_UPLOAD_TIMEOUT_MS + 10000)
#define CHUNK_SIZE (16 * 1024)

static int failures;

#define CHECK(condition, ...)                                                                      \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static bool parse_kind(const char *name, fault_config *config) {
    memset(config, 0, sizeof *config);
    bool found = false;
    for (int kind = FAULT_NONE; kind <= FAULT_RESET; kind++) {
        if (strcmp(name, fault_kind_name((fault_kind)kind)) == 0) {
            config->kind = (fault_kind)kind;
            found = true;
        }
    }
    config->latency_ms = 20;
    config->jitter_ms = 10;
    config->rate_bytes_per_s = 1 << 20;
    /* The test enclave is about 170 KiB: the fault fires mid-upload. */
    config->after_bytes = 48 * 1024;
    config->stall_ms = PROVISION_TIMEOUT_MS + 2000;
    config->slice_bytes = 211;
    config->slice_delay_us = 20;
    return found;
}

/* Regular files in dir (0 when it does not exist). */
static int files_in(const char *dir) {
    DIR *handle = opendir(dir);
    if (handle == NULL) {
        return 0;
    }
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(handle)) != NULL) {
        count += entry->d_name[0] != '.';
    }
    closedir(handle);
    return count;
}

/* Children of pid (the server's proxies), from /proc. */
static int children_of(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    char *text = util_read_file(path);
    int count = 0;
    for (char *at = text; at != NULL && *at != '\0';) {
        count += strtol(at, &at, 10) > 0;
        while (*at == ' ' || *at == '\n') {
            at++;
        }
    }
    free(text);
    return count;
}

static bool nothing_left(const char *store, pid_t server) {
    char images[UTIL_PATH_SIZE], proxies[UTIL_PATH_SIZE];
    util_join(images, sizeof images, store, "images");
    util_join(proxies, sizeof proxies, store, "proxies");
    return files_in(images) == 0 && files_in(proxies) == 0 && children_of(server) == 0;
}

static void report_left(const char *store, pid_t server) {
    char images[UTIL_PATH_SIZE], proxies[UTIL_PATH_SIZE];
    util_join(images, sizeof images, store, "images");
    util_join(proxies, sizeof proxies, store, "proxies");
    fprintf(stderr, "left behind: %d images, %d proxy files, %d server children\n",
            files_in(images), files_in(proxies), children_of(server));
}

/* Provision through server_address, load, echo, destroy. */
static asylo_code load_and_call(asylo_manager *manager, const char *server_address,
                                int64_t *took_ms, asylo_status *status) {
    asylo_provision_server_options options;
    asylo_provision_server_options_init(&options);
    options.server_address = server_address;
    options.timeout_ms = PROVISION_TIMEOUT_MS;
    options.chunk_size = CHUNK_SIZE;
    asylo_remote_provision *provision = NULL;
    int64_t started = util_now_ms();
    asylo_code code = asylo_provision_server_provision_create(&options, &provision, status);
    if (code != ASYLO_OK) {
        return code;
    }
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.provision = provision;
    remote.provision_timeout_ms = PROVISION_TIMEOUT_MS;
    remote.call_timeout_ms = 5000;
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "uploaded";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote;
    asylo_client *client = NULL;
    code = asylo_manager_load(manager, &config, &client, status);
    *took_ms = util_now_ms() - started;
    if (code == ASYLO_OK) {
        static const char input[] = "uploaded through a fault";
        asylo_buffer output = {0};
        code = asylo_client_run(client, input, sizeof input, &output, status);
        CHECK(code != ASYLO_OK ||
                  (output.size == sizeof input && memcmp(output.data, input, sizeof input) == 0),
              "the echo came back wrong (%zu bytes)", output.size);
        asylo_buffer_free(&output);
        asylo_status destroyed;
        CHECK(asylo_manager_destroy_client(manager, client, NULL, 0, &destroyed) == ASYLO_OK,
              "destroy: %s", util_status_text(&destroyed));
    }
    asylo_remote_provision_destroy(provision);
    return code;
}

int main(int argc, char **argv) {
    fault_config fault;
    if (argc != 2 || !parse_kind(argv[1], &fault)) {
        fprintf(stderr,
                "usage: %s none|latency|bandwidth|stall|slow_close|slicer|limit_data|reset\n",
                argv[0]);
        return 2;
    }
    char dir[UTIL_PATH_SIZE], store[UTIL_PATH_SIZE], log_path[UTIL_PATH_SIZE];
    if (!util_make_temp_dir("asylo-upload-faults", dir, sizeof dir)) {
        return 1;
    }
    util_join(store, sizeof store, dir, "store");
    util_join(log_path, sizeof log_path, dir, "server.log");
    /* Proxies need ports from a range: one of 64 small ranges picked by pid
     * (the server skips ports in use), away from the provision tests'. */
    int low = 40000 + (int)(getpid() % 64) * 16;
    char ports[64], storage[UTIL_PATH_SIZE + 16], remote_proxy[UTIL_PATH_SIZE + 16];
    snprintf(ports, sizeof ports, "--proxy_ports=%d-%d", low, low + 15);
    snprintf(storage, sizeof storage, "--storage_dir=%s", store);
    snprintf(remote_proxy, sizeof remote_proxy, "--remote_proxy=%s", ASYLO_PROXY_PATH);
    char upload_timeout[64];
    snprintf(upload_timeout, sizeof upload_timeout, "--upload_timeout_ms=%d",
             SERVER_UPLOAD_TIMEOUT_MS);
    const char *arguments[] = {
        "--address=127.0.0.1:0", storage,        remote_proxy,          ports, "--max_uploads=1",
        "--max_proxies=1",       upload_timeout, "--log_level=warning", NULL};
    util_proxy server;
    if (!util_proxy_spawn(&server, ASYLO_PROVISION_SERVER_PATH, arguments, NULL, log_path, true,
                          15000)) {
        fprintf(stderr, "FAIL: the provision server did not start\n");
        util_kill_children();
        util_rmtree(dir);
        return 1;
    }
    const char *colon = strrchr(server.address, ':');
    fault_proxy *faults = colon != NULL ? fault_proxy_start(atoi(colon + 1), &fault) : NULL;
    CHECK(faults != NULL, "fault proxy for %s did not start", server.address);
    asylo_manager *manager = NULL;
    asylo_status status;
    CHECK(asylo_manager_create(&manager, &status) == ASYLO_OK, "manager: %s",
          util_status_text(&status));
    if (faults == NULL || manager == NULL) {
        goto out;
    }
    printf("fault %s: host -> %s -> provision server %s\n", argv[1], fault_proxy_address(faults),
           server.address);

    int64_t took = 0;
    asylo_code code = load_and_call(manager, fault_proxy_address(faults), &took, &status);
    printf("through the fault: %s (%lld ms)\n", util_status_text(&status), (long long)took);
    CHECK(took <= LOAD_BOUND_MS, "the load took %lld ms (bound %d)", (long long)took,
          LOAD_BOUND_MS);
    CHECK(code == ASYLO_OK || code == ASYLO_UNAVAILABLE || code == ASYLO_DEADLINE_EXCEEDED,
          "load through %s: %s", argv[1], util_status_text(&status));
    if (fault.kind == FAULT_NONE || fault.kind == FAULT_LATENCY || fault.kind == FAULT_BANDWIDTH ||
        fault.kind == FAULT_SLICER || fault.kind == FAULT_SLOW_CLOSE) {
        CHECK(code == ASYLO_OK, "%s only slows the link, yet: %s", argv[1],
              util_status_text(&status));
    }

    /* Nothing left behind: the server notices a vanished upload, removes
     * its partial image and frees the slot (bounded by its chunk wait). */
    int64_t deadline = util_now_ms() + RECOVER_BOUND_MS;
    while (!nothing_left(store, server.pid) && util_now_ms() < deadline) {
        util_sleep_ms(50);
    }
    if (!nothing_left(store, server.pid)) {
        report_left(store, server.pid);
        CHECK(false, "the store or the server's children were not cleaned up within %d ms",
              RECOVER_BOUND_MS);
    }

    /* No slot leaked: a direct load succeeds (retried while the server may
     * still be finishing the faulted upload). */
    int64_t started = util_now_ms();
    do {
        code = load_and_call(manager, server.address, &took, &status);
        if (code != ASYLO_RESOURCE_EXHAUSTED) {
            break;
        }
        util_sleep_ms(200);
    } while (util_now_ms() - started < RECOVER_BOUND_MS);
    printf("direct load afterwards: %s (%lld ms)\n", util_status_text(&status),
           (long long)(util_now_ms() - started));
    CHECK(code == ASYLO_OK, "a direct load after the fault: %s", util_status_text(&status));
    deadline = util_now_ms() + RECOVER_BOUND_MS;
    while (!nothing_left(store, server.pid) && util_now_ms() < deadline) {
        util_sleep_ms(50);
    }
    CHECK(nothing_left(store, server.pid), "the direct load left something behind");
    CHECK(util_process_exists(server.pid), "the provision server died");
    printf("fault %s fired %d times over %d connections\n", argv[1], fault_proxy_fired(faults),
           fault_proxy_connections(faults));
out:
    asylo_manager_destroy(manager);
    if (faults != NULL) {
        fault_proxy_stop(faults);
    }
    /* SIGTERM drains; it must exit 0. */
    kill(server.pid, SIGTERM);
    CHECK(util_proxy_wait(&server, 15000) && WIFEXITED(server.wait_status) &&
              WEXITSTATUS(server.wait_status) == 0,
          "the provision server did not exit 0 after SIGTERM (log %s)", log_path);
    util_proxy_kill(&server);
    if (failures != 0) {
        char *log = util_read_file(log_path);
        fprintf(stderr, "server log:\n%s\n", log != NULL ? log : "(none)");
        free(log);
    }
    util_rmtree(dir);
    printf("%s\n", failures == 0 ? "PASS" : "FAIL");
    return failures == 0 ? 0 : 1;
}
