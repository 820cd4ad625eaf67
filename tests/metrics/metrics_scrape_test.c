/* Starts the endpoint on 127.0.0.1:0 with every kind of family, fetches
 * /metrics over a real socket, checks the body for duplicate samples and
 * broken histograms (exposition_check), then pipes it through
 * `promtool check metrics`. Exits 77 (skipped) when promtool is absent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exposition_check.h"
#include "http_client.h"
#include "metrics/asylo_metrics.h"
#include "metrics/metrics.h"
#include "metrics/process.h"
#include "metrics/server.h"

#define SKIPPED 77

static void die(const char *what, const asylo_status *status) {
    fprintf(stderr, "FAIL: %s: %s\n", what, status != NULL ? status->message : "");
    exit(1);
}

/* Finds promtool on $PATH; writes its path into out. */
static int find_promtool(char *out, size_t size) {
    const char *path = getenv("PATH");
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path != NULL ? path : "/usr/bin:/bin");
    char *saved = NULL;
    for (char *dir = strtok_r(copy, ":", &saved); dir != NULL; dir = strtok_r(NULL, ":", &saved)) {
        snprintf(out, size, "%s/promtool", dir);
        if (access(out, X_OK) == 0) {
            return 0;
        }
    }
    return -1;
}

static void fill(asylo__metrics_registry *registry) {
    asylo_status status;
    asylo__std_metrics metrics;
    if (asylo__std_metrics_register(registry, &metrics, &status) != ASYLO_OK) {
        die("std metrics", &status);
    }
    if (asylo__metrics_register_process(registry, &status) != ASYLO_OK) {
        die("process metrics", &status);
    }
    for (int i = 0; i < 50; i++) {
        asylo__metrics_record_call(&metrics, i % 3 ? ASYLO__CALL_ENTER : ASYLO__CALL_EXIT,
                                   4096 + (uint32_t)(i % 5), i % 7 ? ASYLO_OK : ASYLO_INTERNAL,
                                   0.0001 * i, 64, 64);
    }
    asylo__metrics_record_provision(&metrics, ASYLO_OK, 2);
    asylo__metrics_record_provision(&metrics, ASYLO_PERMISSION_DENIED, 0.1);
    asylo__metrics_enclaves_loaded_add(&metrics, 3);

    /* Awkward values: escapes, special floats, an overflowing family. */
    static const char *const labels[] = {"path", "kind"};
    asylo__metric_family *odd = NULL;
    asylo__metric_desc desc = {.name = "test_odd_values",
                               .help = "Odd \\ help\nwith a newline.",
                               .type = ASYLO__METRIC_GAUGE,
                               .label_names = labels,
                               .label_count = 2,
                               .max_series = 4};
    if (asylo__metrics_register(registry, &desc, &odd, &status) != ASYLO_OK) {
        die("odd family", &status);
    }
    asylo__gauge_set(asylo__gauge_get(odd, (const char *[]){"a\"b", "x"}), INFINITY);
    asylo__gauge_set(asylo__gauge_get(odd, (const char *[]){"c\\d", "x"}), -INFINITY);
    asylo__gauge_set(asylo__gauge_get(odd, (const char *[]){"e\nf", "x"}), NAN);
    asylo__gauge_set(asylo__gauge_get(odd, (const char *[]){"g", "x"}), 1e-300);
    for (int i = 0; i < 10; i++) {
        char path[16];
        snprintf(path, sizeof path, "p%d", i);
        asylo__gauge_add(asylo__gauge_get(odd, (const char *[]){path, "y"}), 1);
    }
}

int main(void) {
    asylo__metrics_registry *registry = NULL;
    asylo_status status;
    if (asylo__metrics_registry_create(&registry, &status) != ASYLO_OK) {
        die("registry", &status);
    }
    fill(registry);
    asylo__metrics_server *server = NULL;
    if (asylo__metrics_server_start(registry, "127.0.0.1", 0, &server, &status) != ASYLO_OK) {
        die("start", &status);
    }
    http_reply reply;
    if (http_request("127.0.0.1", asylo__metrics_server_port(server), "GET", "/metrics", &reply) !=
            0 ||
        reply.status != 200) {
        die("GET /metrics", NULL);
    }
    asylo__metrics_server_destroy(server);
    asylo__metrics_registry_destroy(registry);

    char error[512];
    if (exposition_check(reply.body, error, sizeof error) != 0) {
        fprintf(stderr, "FAIL: %s\n--- body ---\n%s", error, reply.body);
        return 1;
    }
    /* The checker itself must catch what it claims to catch. */
    static const char *const broken[] = {
        "a 1\na 2\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\n",
        "a{x=\"1\"} 1\na{x=\"1\"} 1\n",
        "a 1",
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        if (exposition_check(broken[i], error, sizeof error) == 0) {
            fprintf(stderr, "FAIL: checker accepted broken case %zu\n", i);
            return 1;
        }
    }
    printf("exposition checks passed (%zu bytes)\n", reply.body_size);

    char promtool[4200];
    if (find_promtool(promtool, sizeof promtool) != 0) {
        printf("SKIP: promtool not found on PATH (Debian package prometheus); "
               "only the built-in checks ran\n");
        http_reply_free(&reply);
        return SKIPPED;
    }
    char command[4300];
    snprintf(command, sizeof command, "'%s' check metrics", promtool);
    FILE *pipe = popen(command, "w");
    if (pipe == NULL) {
        die("popen promtool", NULL);
    }
    fwrite(reply.body, 1, reply.body_size, pipe);
    int wait_status = pclose(pipe);
    http_reply_free(&reply);
    if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
        fprintf(stderr, "FAIL: promtool check metrics exited with status %d\n",
                WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1);
        return 1;
    }
    printf("promtool check metrics: OK\n");
    return 0;
}
