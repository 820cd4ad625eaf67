/* Unit tests of the metrics registry, text rendering, process metrics, the
 * standard asylo families and the HTTP endpoint's error paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "http_client.h"
#include "metrics/asylo_metrics.h"
#include "metrics/metrics.h"
#include "metrics/process.h"
#include "metrics/render.h"
#include "metrics/server.h"
#include "metrics/text_format.h"

/* Renders registry into a NUL-terminated string the caller frees. */
static char *render(asylo__metrics_registry *registry) {
    asylo__bytes out;
    asylo__bytes_init(&out, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo_status status;
    assert_int_equal(asylo__metrics_render(registry, &out, &status), ASYLO_OK);
    assert_int_equal(asylo__bytes_append(&out, "", 1, NULL), ASYLO_OK);
    size_t size = 0;
    return (char *)asylo__bytes_release(&out, &size);
}

static asylo__metrics_registry *new_registry(void) {
    asylo__metrics_registry *registry = NULL;
    assert_int_equal(asylo__metrics_registry_create(&registry, NULL), ASYLO_OK);
    assert_non_null(registry);
    return registry;
}

static asylo__metric_family *add(asylo__metrics_registry *registry,
                                 const asylo__metric_desc *desc) {
    asylo__metric_family *family = NULL;
    asylo_status status;
    asylo_code code = asylo__metrics_register(registry, desc, &family, &status);
    if (code != ASYLO_OK) {
        fail_msg("register %s: %s", desc->name, status.message);
    }
    return family;
}

static void assert_text(asylo__metrics_registry *registry, const char *expected) {
    char *text = render(registry);
    if (strcmp(text, expected) != 0) {
        print_error("expected:\n%s\ngot:\n%s\n", expected, text);
    }
    assert_string_equal(text, expected);
    free(text);
}

static void test_registry_destroy_null(void **state) {
    (void)state;
    asylo__metrics_registry_destroy(NULL);
    assert_int_equal(asylo__metrics_registry_create(NULL, NULL), ASYLO_INVALID_ARGUMENT);
    asylo__metrics_registry *registry = new_registry();
    assert_text(registry, "");
    asylo__metrics_registry_destroy(registry);
}

static void test_counter_render(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    static const char *const labels[] = {"direction", "code"};
    asylo__metric_family *calls = add(registry, &(asylo__metric_desc){
                                                    .name = "test_calls_total",
                                                    .help = "Calls made.",
                                                    .type = ASYLO__METRIC_COUNTER,
                                                    .label_names = labels,
                                                    .label_count = 2,
                                                });
    asylo__metric_family *plain = add(registry, &(asylo__metric_desc){
                                                    .name = "test_plain_total",
                                                    .help = "A label-less counter.",
                                                    .type = ASYLO__METRIC_COUNTER,
                                                });
    /* Declared but never used: HELP and TYPE only. */
    add(registry, &(asylo__metric_desc){.name = "test_unused_total",
                                        .help = "Nothing yet.",
                                        .type = ASYLO__METRIC_COUNTER,
                                        .label_names = labels,
                                        .label_count = 2});
    asylo__counter *enter_ok = asylo__counter_get(calls, (const char *[]){"enter", "OK"});
    asylo__counter *exit_bad = asylo__counter_get(calls, (const char *[]){"exit", "INTERNAL"});
    assert_ptr_equal(enter_ok, asylo__counter_get(calls, (const char *[]){"enter", "OK"}));
    assert_ptr_not_equal(enter_ok, exit_bad);
    asylo__counter_inc(enter_ok);
    asylo__counter_add(enter_ok, 41);
    asylo__counter_inc(exit_bad);
    assert_int_equal(asylo__counter_add_double(asylo__counter_get(plain, NULL), 0.5, NULL),
                     ASYLO_OK);
    asylo__counter_add(asylo__counter_get(plain, NULL), 2);
    assert_true(asylo__counter_value(enter_ok) == 42.0);
    /* Wrong type: no handle. */
    assert_null(asylo__gauge_get(calls, (const char *[]){"enter", "OK"}));
    assert_null(asylo__histogram_get(calls, (const char *[]){"enter", "OK"}));
    assert_null(asylo__counter_get(NULL, NULL));
    asylo__counter_inc(NULL); /* no-op */
    assert_text(registry, "# HELP test_calls_total Calls made.\n"
                          "# TYPE test_calls_total counter\n"
                          "test_calls_total{direction=\"enter\",code=\"OK\"} 42\n"
                          "test_calls_total{direction=\"exit\",code=\"INTERNAL\"} 1\n"
                          "# HELP test_plain_total A label-less counter.\n"
                          "# TYPE test_plain_total counter\n"
                          "test_plain_total 2.5\n"
                          "# HELP test_unused_total Nothing yet.\n"
                          "# TYPE test_unused_total counter\n");
    asylo__metrics_registry_destroy(registry);
}

static void test_gauge_render(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    static const char *const labels[] = {"pool"};
    asylo__metric_family *loaded = add(registry, &(asylo__metric_desc){
                                                     .name = "test_loaded",
                                                     .help = "Loaded now.",
                                                     .type = ASYLO__METRIC_GAUGE,
                                                 });
    asylo__metric_family *temperature = add(registry, &(asylo__metric_desc){
                                                          .name = "test_temperature_celsius",
                                                          .help = "Temperature.",
                                                          .type = ASYLO__METRIC_GAUGE,
                                                          .label_names = labels,
                                                          .label_count = 1,
                                                      });
    asylo__gauge *gauge = asylo__gauge_get(loaded, NULL);
    asylo__gauge_inc(gauge);
    asylo__gauge_inc(gauge);
    asylo__gauge_inc(gauge);
    asylo__gauge_dec(gauge);
    asylo__gauge_set(asylo__gauge_get(temperature, (const char *[]){"a"}), -3.25);
    asylo__gauge_set(asylo__gauge_get(temperature, (const char *[]){"b"}), INFINITY);
    asylo__gauge_set(asylo__gauge_get(temperature, (const char *[]){"c"}), -INFINITY);
    asylo__gauge_set(asylo__gauge_get(temperature, (const char *[]){"d"}), NAN);
    asylo__gauge_add(asylo__gauge_get(temperature, (const char *[]){"e"}), 1e-7);
    asylo__gauge_set(asylo__gauge_get(temperature, (const char *[]){"f"}), 1e21);
    assert_text(registry, "# HELP test_loaded Loaded now.\n"
                          "# TYPE test_loaded gauge\n"
                          "test_loaded 2\n"
                          "# HELP test_temperature_celsius Temperature.\n"
                          "# TYPE test_temperature_celsius gauge\n"
                          "test_temperature_celsius{pool=\"a\"} -3.25\n"
                          "test_temperature_celsius{pool=\"b\"} +Inf\n"
                          "test_temperature_celsius{pool=\"c\"} -Inf\n"
                          "test_temperature_celsius{pool=\"d\"} NaN\n"
                          "test_temperature_celsius{pool=\"e\"} 1e-07\n"
                          "test_temperature_celsius{pool=\"f\"} 1e+21\n");
    asylo__metrics_registry_destroy(registry);
}

static void test_histogram_render(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    static const char *const labels[] = {"op"};
    static const double bounds[] = {0.1, 1, 2.5};
    asylo__metric_family *family = add(registry, &(asylo__metric_desc){
                                                     .name = "test_duration_seconds",
                                                     .help = "Durations.",
                                                     .type = ASYLO__METRIC_HISTOGRAM,
                                                     .label_names = labels,
                                                     .label_count = 1,
                                                     .buckets = bounds,
                                                     .bucket_count = 3,
                                                 });
    asylo__histogram *read = asylo__histogram_get(family, (const char *[]){"read"});
    asylo__histogram_observe(read, 0.05);
    asylo__histogram_observe(read, 0.1); /* bounds are inclusive (le) */
    asylo__histogram_observe(read, 0.5);
    asylo__histogram_observe(read, 100);
    asylo__histogram_observe(read, NAN); /* ignored */
    asylo__histogram_get(family, (const char *[]){"write"});
    assert_int_equal(asylo__histogram_count(read), 4);
    assert_text(registry, "# HELP test_duration_seconds Durations.\n"
                          "# TYPE test_duration_seconds histogram\n"
                          "test_duration_seconds_bucket{op=\"read\",le=\"0.1\"} 2\n"
                          "test_duration_seconds_bucket{op=\"read\",le=\"1\"} 3\n"
                          "test_duration_seconds_bucket{op=\"read\",le=\"2.5\"} 3\n"
                          "test_duration_seconds_bucket{op=\"read\",le=\"+Inf\"} 4\n"
                          "test_duration_seconds_sum{op=\"read\"} 100.65\n"
                          "test_duration_seconds_count{op=\"read\"} 4\n"
                          "test_duration_seconds_bucket{op=\"write\",le=\"0.1\"} 0\n"
                          "test_duration_seconds_bucket{op=\"write\",le=\"1\"} 0\n"
                          "test_duration_seconds_bucket{op=\"write\",le=\"2.5\"} 0\n"
                          "test_duration_seconds_bucket{op=\"write\",le=\"+Inf\"} 0\n"
                          "test_duration_seconds_sum{op=\"write\"} 0\n"
                          "test_duration_seconds_count{op=\"write\"} 0\n");
    asylo__metrics_registry_destroy(registry);
}

static void test_histogram_default_buckets(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    /* A trailing +Inf in the caller's list is accepted and not doubled. */
    static const double bounds[] = {1, INFINITY};
    asylo__metric_family *plain = add(registry, &(asylo__metric_desc){
                                                    .name = "test_latency_seconds",
                                                    .help = "Latency.",
                                                    .type = ASYLO__METRIC_HISTOGRAM,
                                                });
    asylo__metric_family *inf = add(registry, &(asylo__metric_desc){
                                                  .name = "test_inf_seconds",
                                                  .help = "With +Inf given.",
                                                  .type = ASYLO__METRIC_HISTOGRAM,
                                                  .buckets = bounds,
                                                  .bucket_count = 2,
                                              });
    asylo__histogram_observe(asylo__histogram_get(plain, NULL), 0.00005);
    asylo__histogram_observe(asylo__histogram_get(plain, NULL), 0.003);
    asylo__histogram_observe(asylo__histogram_get(plain, NULL), 60);
    asylo__histogram_observe(asylo__histogram_get(inf, NULL), 2);
    char *text = render(registry);
    static const char *const expected_les[] = {
        "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
        "0.05",  "0.1",    "0.25",    "0.5",    "1",     "2.5",    "5",     "10",   "+Inf",
    };
    static const int expected_counts[] = {1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3};
    assert_int_equal(asylo__metrics_latency_bucket_count + 1,
                     sizeof expected_les / sizeof expected_les[0]);
    const char *cursor = text;
    for (size_t i = 0; i < sizeof expected_les / sizeof expected_les[0]; i++) {
        char line[128];
        snprintf(line, sizeof line, "test_latency_seconds_bucket{le=\"%s\"} %d\n", expected_les[i],
                 expected_counts[i]);
        const char *found = strstr(cursor, line);
        if (found == NULL) {
            fail_msg("missing or out of order: %s in\n%s", line, text);
        }
        cursor = found + strlen(line);
    }
    assert_non_null(strstr(text, "test_latency_seconds_count 3\n"));
    assert_non_null(strstr(text, "test_inf_seconds_bucket{le=\"1\"} 0\n"
                                 "test_inf_seconds_bucket{le=\"+Inf\"} 1\n"
                                 "test_inf_seconds_sum 2\n"
                                 "test_inf_seconds_count 1\n"));
    free(text);
    asylo__metrics_registry_destroy(registry);
}

static void test_escaping(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    static const char *const labels[] = {"path"};
    asylo__metric_family *family =
        add(registry, &(asylo__metric_desc){
                          .name = "test_escape_total",
                          .help = "Help with a \\ backslash,\na newline and \"quotes\".",
                          .type = ASYLO__METRIC_COUNTER,
                          .label_names = labels,
                          .label_count = 1,
                      });
    asylo__counter_inc(asylo__counter_get(family, (const char *[]){"C:\\dir \"x\"\nnext"}));
    asylo__counter_inc(asylo__counter_get(family, (const char *[]){""}));
    asylo__counter_inc(asylo__counter_get(family, (const char *[]){"caf\xc3\xa9"}));
    assert_text(registry, "# HELP test_escape_total Help with a \\\\ backslash,\\na newline and "
                          "\"quotes\".\n"
                          "# TYPE test_escape_total counter\n"
                          "test_escape_total{path=\"C:\\\\dir \\\"x\\\"\\nnext\"} 1\n"
                          "test_escape_total{path=\"\"} 1\n"
                          "test_escape_total{path=\"caf\xc3\xa9\"} 1\n");
    asylo__metrics_registry_destroy(registry);
}

static void test_label_value_cleaning(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    static const char *const labels[] = {"v"};
    asylo__metric_family *family = add(registry, &(asylo__metric_desc){
                                                     .name = "test_clean",
                                                     .help = "h",
                                                     .type = ASYLO__METRIC_GAUGE,
                                                     .label_names = labels,
                                                     .label_count = 1,
                                                 });
    asylo__gauge_set(asylo__gauge_get(family, (const char *[]){"a\xff"
                                                               "b\xc3"}),
                     1);
    char long_value[300];
    memset(long_value, 'x', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    asylo__gauge_set(asylo__gauge_get(family, (const char *[]){long_value}), 2);
    asylo__gauge_set(asylo__gauge_get(family, (const char *[]){NULL}), 3);
    char expected[1024];
    snprintf(expected, sizeof expected,
             "# HELP test_clean h\n# TYPE test_clean gauge\n"
             "test_clean{v=\"a?b\"} 1\n"
             "test_clean{v=\"%.*s\"} 2\n"
             "test_clean{v=\"\"} 3\n",
             ASYLO__METRICS_MAX_LABEL_VALUE, long_value);
    assert_text(registry, expected);
    asylo__metrics_registry_destroy(registry);
}

static void test_number_format(void **state) {
    (void)state;
    static const struct {
        double value;
        const char *text;
    } cases[] = {
        {0, "0"},
        {-0.0, "0"},
        {1, "1"},
        {-17, "-17"},
        {0.1, "0.1"},
        {0.25, "0.25"},
        {1e-7, "1e-07"},
        {123456789, "123456789"},
        {9007199254740991.0, "9007199254740991"},
        {1e300, "1e+300"},
        {1.0 / 3, "0.3333333333333333"},
        {2.5e-05, "2.5e-05"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buffer[ASYLO__METRICS_NUMBER_SIZE];
        assert_string_equal(asylo__metrics_format_number(cases[i].value, buffer), cases[i].text);
        assert_true(strtod(buffer, NULL) == cases[i].value);
    }
    char buffer[ASYLO__METRICS_NUMBER_SIZE];
    assert_string_equal(asylo__metrics_format_number(INFINITY, buffer), "+Inf");
    assert_string_equal(asylo__metrics_format_number(-INFINITY, buffer), "-Inf");
    assert_string_equal(asylo__metrics_format_number(NAN, buffer), "NaN");
    assert_string_equal(asylo__metrics_format_number(-DBL_MAX, buffer), "-1.7976931348623157e+308");
}

static void test_label_overflow(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    static const char *const labels[] = {"user", "kind"};
    asylo__metric_family *family = add(registry, &(asylo__metric_desc){
                                                     .name = "test_requests_total",
                                                     .help = "Requests.",
                                                     .type = ASYLO__METRIC_COUNTER,
                                                     .label_names = labels,
                                                     .label_count = 2,
                                                     .max_series = 3,
                                                 });
    asylo__counter *kept[3];
    for (int i = 0; i < 3; i++) {
        char user[16];
        snprintf(user, sizeof user, "u%d", i);
        kept[i] = asylo__counter_get(family, (const char *[]){user, "k"});
        asylo__counter_inc(kept[i]);
    }
    assert_int_equal(asylo__metric_family_series_count(family), 3);
    asylo__counter *overflow = NULL;
    for (int i = 3; i < 1000; i++) {
        char user[16];
        snprintf(user, sizeof user, "u%d", i);
        asylo__counter *counter = asylo__counter_get(family, (const char *[]){user, "k"});
        if (overflow == NULL) {
            overflow = counter;
        }
        assert_ptr_equal(counter, overflow);
        asylo__counter_inc(counter);
    }
    /* Asking for "other" explicitly gives the same series: never a duplicate. */
    assert_ptr_equal(asylo__counter_get(family, (const char *[]){"other", "other"}), overflow);
    /* Known label sets still find their own series. */
    assert_ptr_equal(asylo__counter_get(family, (const char *[]){"u1", "k"}), kept[1]);
    assert_int_equal(asylo__metric_family_series_count(family), 4);
    assert_text(registry, "# HELP test_requests_total Requests.\n"
                          "# TYPE test_requests_total counter\n"
                          "test_requests_total{user=\"u0\",kind=\"k\"} 1\n"
                          "test_requests_total{user=\"u1\",kind=\"k\"} 1\n"
                          "test_requests_total{user=\"u2\",kind=\"k\"} 1\n"
                          "test_requests_total{user=\"other\",kind=\"other\"} 997\n");
    asylo__metrics_registry_destroy(registry);
}

static void test_other_before_full(void **state) {
    (void)state;
    /* "other" used as a real value before the family is full is the
     * overflow series too, and it is rendered last. */
    asylo__metrics_registry *registry = new_registry();
    static const char *const labels[] = {"k"};
    asylo__metric_family *family = add(registry, &(asylo__metric_desc){
                                                     .name = "test_kinds_total",
                                                     .help = "K.",
                                                     .type = ASYLO__METRIC_COUNTER,
                                                     .label_names = labels,
                                                     .label_count = 1,
                                                 });
    asylo__counter_inc(asylo__counter_get(family, (const char *[]){"other"}));
    asylo__counter_inc(asylo__counter_get(family, (const char *[]){"a"}));
    assert_text(registry, "# HELP test_kinds_total K.\n"
                          "# TYPE test_kinds_total counter\n"
                          "test_kinds_total{k=\"a\"} 1\n"
                          "test_kinds_total{k=\"other\"} 1\n");
    asylo__metrics_registry_destroy(registry);
}

static void test_counter_refuses_decrease(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    asylo__metric_family *family =
        add(registry, &(asylo__metric_desc){
                          .name = "test_up_total", .help = "Up.", .type = ASYLO__METRIC_COUNTER});
    asylo__counter *counter = asylo__counter_get(family, NULL);
    asylo__counter_add(counter, 5);
    asylo_status status;
    assert_int_equal(asylo__counter_add_double(counter, -1, &status), ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "only go up"));
    assert_int_equal(asylo__counter_add_double(counter, NAN, NULL), ASYLO_INVALID_ARGUMENT);
    assert_int_equal(asylo__counter_add_double(counter, INFINITY, NULL), ASYLO_INVALID_ARGUMENT);
    assert_int_equal(asylo__counter_add_double(counter, 0, NULL), ASYLO_OK);
    assert_true(asylo__counter_value(counter) == 5.0);
    asylo__metrics_registry_destroy(registry);
}

static void expect_refused(asylo__metrics_registry *registry, const asylo__metric_desc *desc,
                           asylo_code code, const char *fragment) {
    asylo__metric_family *family = (asylo__metric_family *)1;
    asylo_status status;
    assert_int_equal(asylo__metrics_register(registry, desc, &family, &status), code);
    assert_null(family);
    if (strstr(status.message, fragment) == NULL) {
        fail_msg("'%s' not in '%s'", fragment, status.message);
    }
}

static void test_bad_names(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    static const char *const bad_label[] = {"bad-label"};
    static const char *const reserved[] = {"__name"};
    static const char *const digit[] = {"1x"};
    static const char *const le[] = {"le"};
    static const char *const twice[] = {"a", "a"};
    static const double decreasing[] = {1, 0.5};
    static const double nan_bound[] = {NAN};
    static const double inf_inside[] = {1, INFINITY, 2};
    const asylo_code invalid = ASYLO_INVALID_ARGUMENT;
    expect_refused(registry, &(asylo__metric_desc){.name = "9lives", .type = ASYLO__METRIC_GAUGE},
                   invalid, "'9lives' is not valid");
    expect_refused(registry, &(asylo__metric_desc){.name = "a-b", .type = ASYLO__METRIC_GAUGE},
                   invalid, "'a-b' is not valid");
    expect_refused(registry, &(asylo__metric_desc){.name = "", .type = ASYLO__METRIC_GAUGE},
                   invalid, "is not valid");
    expect_refused(registry, &(asylo__metric_desc){.name = NULL, .type = ASYLO__METRIC_GAUGE},
                   invalid, "'(null)'");
    expect_refused(registry,
                   &(asylo__metric_desc){.name = "requests", .type = ASYLO__METRIC_COUNTER},
                   invalid, "must end in \"_total\"");
    expect_refused(
        registry,
        &(asylo__metric_desc){
            .name = "g", .type = ASYLO__METRIC_GAUGE, .label_names = bad_label, .label_count = 1},
        invalid, "label name 'bad-label'");
    expect_refused(
        registry,
        &(asylo__metric_desc){
            .name = "g", .type = ASYLO__METRIC_GAUGE, .label_names = reserved, .label_count = 1},
        invalid, "label name '__name'");
    expect_refused(
        registry,
        &(asylo__metric_desc){
            .name = "g", .type = ASYLO__METRIC_GAUGE, .label_names = digit, .label_count = 1},
        invalid, "label name '1x'");
    expect_refused(
        registry,
        &(asylo__metric_desc){
            .name = "h", .type = ASYLO__METRIC_HISTOGRAM, .label_names = le, .label_count = 1},
        invalid, "\"le\" is reserved");
    expect_refused(
        registry,
        &(asylo__metric_desc){
            .name = "g", .type = ASYLO__METRIC_GAUGE, .label_names = twice, .label_count = 2},
        invalid, "appears twice");
    expect_refused(
        registry, &(asylo__metric_desc){.name = "g", .type = ASYLO__METRIC_GAUGE, .label_count = 1},
        invalid, "label_names is NULL");
    expect_refused(registry,
                   &(asylo__metric_desc){.name = "g",
                                         .type = ASYLO__METRIC_GAUGE,
                                         .label_names = twice,
                                         .label_count = ASYLO__METRICS_MAX_LABELS + 1},
                   invalid, "at most");
    expect_refused(
        registry,
        &(asylo__metric_desc){
            .name = "h", .type = ASYLO__METRIC_HISTOGRAM, .buckets = decreasing, .bucket_count = 2},
        invalid, "strictly increasing");
    expect_refused(
        registry,
        &(asylo__metric_desc){
            .name = "h", .type = ASYLO__METRIC_HISTOGRAM, .buckets = nan_bound, .bucket_count = 1},
        invalid, "not finite");
    expect_refused(
        registry,
        &(asylo__metric_desc){
            .name = "h", .type = ASYLO__METRIC_HISTOGRAM, .buckets = inf_inside, .bucket_count = 3},
        invalid, "not finite");
    expect_refused(
        registry,
        &(asylo__metric_desc){
            .name = "g", .type = ASYLO__METRIC_GAUGE, .buckets = decreasing, .bucket_count = 2},
        invalid, "for histograms only");
    expect_refused(registry, &(asylo__metric_desc){.name = "g", .type = (asylo__metric_type)7},
                   invalid, "unknown type");
    expect_refused(
        registry,
        &(asylo__metric_desc){.name = "g", .type = ASYLO__METRIC_GAUGE, .max_series = 1000000},
        invalid, "max_series");
    /* Clashes: same name, and a histogram's generated names. */
    add(registry, &(asylo__metric_desc){.name = "taken", .type = ASYLO__METRIC_GAUGE});
    add(registry, &(asylo__metric_desc){.name = "lat", .type = ASYLO__METRIC_HISTOGRAM});
    add(registry, &(asylo__metric_desc){.name = "x_count", .type = ASYLO__METRIC_GAUGE});
    expect_refused(registry, &(asylo__metric_desc){.name = "taken", .type = ASYLO__METRIC_GAUGE},
                   ASYLO_ALREADY_EXISTS, "clashes with the registered gauge 'taken'");
    expect_refused(registry, &(asylo__metric_desc){.name = "lat_sum", .type = ASYLO__METRIC_GAUGE},
                   ASYLO_ALREADY_EXISTS, "histogram 'lat'");
    expect_refused(registry, &(asylo__metric_desc){.name = "x", .type = ASYLO__METRIC_HISTOGRAM},
                   ASYLO_ALREADY_EXISTS, "gauge 'x_count'");
    /* Callback families: label-less counters and gauges only. */
    asylo_status status;
    assert_int_equal(asylo__metrics_register_callback(
                         registry,
                         &(asylo__metric_desc){.name = "cb", .type = ASYLO__METRIC_HISTOGRAM},
                         (asylo__metric_callback)1, NULL, NULL, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_int_equal(asylo__metrics_register_callback(
                         registry, &(asylo__metric_desc){.name = "cb", .type = ASYLO__METRIC_GAUGE},
                         NULL, NULL, NULL, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_int_equal(asylo__metrics_register(NULL, NULL, NULL, NULL), ASYLO_INVALID_ARGUMENT);
    /* Valid odd names are fine. */
    add(registry, &(asylo__metric_desc){.name = "a:b_c:d", .type = ASYLO__METRIC_GAUGE});
    add(registry, &(asylo__metric_desc){.name = "_x", .type = ASYLO__METRIC_GAUGE});
    asylo__metrics_registry_destroy(registry);
}

static int callback_value(void *arg, double *value) {
    int *calls = arg;
    (*calls)++;
    *value = 7;
    return 0;
}

static int callback_fails(void *arg, double *value) {
    (void)arg;
    (void)value;
    return -1;
}

static void test_callback_family(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    int calls = 0;
    asylo__metric_family *family = NULL;
    assert_int_equal(
        asylo__metrics_register_callback(registry,
                                         &(asylo__metric_desc){.name = "test_loaded_now",
                                                               .help = "Read at scrape time.",
                                                               .type = ASYLO__METRIC_GAUGE},
                                         callback_value, &calls, &family, NULL),
        ASYLO_OK);
    assert_null(asylo__gauge_get(family, NULL)); /* no handles for callback families */
    assert_int_equal(
        asylo__metrics_register_callback(registry,
                                         &(asylo__metric_desc){.name = "test_broken_total",
                                                               .help = "Cannot be read.",
                                                               .type = ASYLO__METRIC_COUNTER},
                                         callback_fails, NULL, NULL, NULL),
        ASYLO_OK);
    assert_text(registry, "# HELP test_loaded_now Read at scrape time.\n"
                          "# TYPE test_loaded_now gauge\n"
                          "test_loaded_now 7\n"
                          "# HELP test_broken_total Cannot be read.\n"
                          "# TYPE test_broken_total counter\n");
    assert_int_equal(calls, 1);
    asylo__metrics_registry_destroy(registry);
}

/* The value of the sample line starting with `name ` in text, or NAN. */
static double sample_value(const char *text, const char *name) {
    char prefix[256];
    snprintf(prefix, sizeof prefix, "\n%s ", name);
    const char *line = strstr(text, prefix);
    return line != NULL ? strtod(line + strlen(prefix), NULL) : NAN;
}

static void test_process_metrics(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    assert_int_equal(asylo__metrics_register_process(registry, NULL), ASYLO_OK);
    /* Registering twice clashes. */
    assert_int_equal(asylo__metrics_register_process(registry, NULL), ASYLO_ALREADY_EXISTS);
    volatile double spin = 0;
    for (int i = 0; i < 20000000; i++) {
        spin += i;
    }
    char *text = render(registry);
    double rss = sample_value(text, "process_resident_memory_bytes");
    double fds = sample_value(text, "process_open_fds");
    double cpu = sample_value(text, "process_cpu_seconds_total");
    double start = sample_value(text, "process_start_time_seconds");
    double vsize = sample_value(text, "process_virtual_memory_bytes");
    double max_fds = sample_value(text, "process_max_fds");
    double now = (double)time(NULL);
    if (!(rss > 1e5 && fds >= 3 && cpu > 0 && start > now - 600 && start <= now + 1 &&
          vsize >= rss && max_fds >= fds)) {
        fail_msg("implausible process metrics:\n%s", text);
    }
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(text, "# TYPE process_resident_memory_bytes gauge\n"));
    free(text);
    asylo__metrics_registry_destroy(registry);
}

static void test_std_metrics(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    asylo__std_metrics metrics;
    asylo_status status;
    assert_int_equal(asylo__std_metrics_register(registry, &metrics, &status), ASYLO_OK);
    asylo__metrics_record_call(&metrics, ASYLO__CALL_ENTER, 4096, ASYLO_OK, 0.002, 100, 20);
    asylo__metrics_record_call(&metrics, ASYLO__CALL_ENTER, 4096, ASYLO_OK, 0.004, 100, 20);
    asylo__metrics_record_call(&metrics, ASYLO__CALL_EXIT, 256, ASYLO_INTERNAL, 0.5, 1, 2);
    asylo__call_series series;
    asylo__metrics_call_series(&metrics, ASYLO__CALL_EXIT, 256, ASYLO_INTERNAL, &series);
    asylo__metrics_record_call_series(&series, 0.25, 0, 0);
    asylo__metrics_call_series(NULL, ASYLO__CALL_EXIT, 256, ASYLO_INTERNAL, &series);
    asylo__metrics_record_call_series(&series, 0.25, 1, 1); /* metrics off: no-op */
    asylo__metrics_record_call_series(NULL, 0.25, 1, 1);
    asylo__metrics_record_bytes(&metrics, 1000, 0);
    asylo__metrics_record_provision(&metrics, ASYLO_OK, 3.5);
    asylo__metrics_add_image_bytes(&metrics, 1 << 20);
    asylo__metrics_enclaves_loaded_add(&metrics, 2);
    asylo__metrics_enclaves_loaded_add(&metrics, -1);
    asylo__metrics_active_streams_add(&metrics, 1);
    /* NULL: metrics off, nothing happens. */
    asylo__metrics_record_call(NULL, ASYLO__CALL_ENTER, 1, ASYLO_OK, 1, 1, 1);
    asylo__metrics_record_provision(NULL, ASYLO_OK, 1);
    asylo__metrics_enclaves_loaded_add(NULL, 1);
    char *text = render(registry);
    static const char *const expected[] = {
        "# TYPE asylo_calls_total counter\n",
        "asylo_calls_total{direction=\"enter\",selector=\"4096\",code=\"OK\"} 2\n",
        "asylo_calls_total{direction=\"exit\",selector=\"256\",code=\"INTERNAL\"} 2\n",
        "# TYPE asylo_call_duration_seconds histogram\n",
        "asylo_call_duration_seconds_bucket{direction=\"enter\",selector=\"4096\",le=\"0.0025\"} "
        "1\n",
        "asylo_call_duration_seconds_bucket{direction=\"enter\",selector=\"4096\",le=\"0.005\"} "
        "2\n",
        "asylo_call_duration_seconds_count{direction=\"exit\",selector=\"256\"} 2\n",
        "asylo_call_duration_seconds_sum{direction=\"exit\",selector=\"256\"} 0.75\n",
        "asylo_bytes_sent_total 42\n",
        "asylo_bytes_received_total 1201\n",
        "asylo_enclaves_loaded 1\n",
        "asylo_provisions_total{result=\"OK\"} 1\n",
        "asylo_provision_duration_seconds_bucket{le=\"2.5\"} 0\n",
        "asylo_provision_duration_seconds_bucket{le=\"5\"} 1\n",
        "asylo_provision_duration_seconds_bucket{le=\"300\"} 1\n",
        "asylo_provision_duration_seconds_bucket{le=\"+Inf\"} 1\n",
        "asylo_image_bytes_received_total 1048576\n",
        "asylo_active_streams 1\n",
    };
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        if (strstr(text, expected[i]) == NULL) {
            fail_msg("missing %s in\n%s", expected[i], text);
        }
    }
    free(text);
    asylo__std_metrics again;
    assert_int_equal(asylo__std_metrics_register(registry, &again, &status), ASYLO_ALREADY_EXISTS);
    assert_null(again.calls_total);
    asylo__metrics_registry_destroy(registry);
}

enum { THREADS = 8, ROUNDS = 200000 };

typedef struct worker {
    asylo__metric_family *calls;
    asylo__metric_family *latency;
    asylo__counter *shared;
    asylo__gauge *gauge;
    int id;
} worker;

static void *work(void *arg) {
    worker *self = arg;
    char id[8];
    snprintf(id, sizeof id, "t%d", self->id % 4); /* threads share label sets */
    for (int i = 0; i < ROUNDS; i++) {
        asylo__counter_inc(self->shared);
        asylo__gauge_add(self->gauge, 1);
        if (i % 16 == 0) {
            /* Lookups race with each other and with inserts. */
            asylo__counter_inc(asylo__counter_get(self->calls, (const char *[]){id}));
            asylo__histogram_observe(asylo__histogram_get(self->latency, (const char *[]){id}),
                                     1.0);
        }
    }
    return NULL;
}

static void *scrape(void *arg) {
    asylo__metrics_registry *registry = arg;
    for (int i = 0; i < 20; i++) {
        free(render(registry));
    }
    return NULL;
}

static void test_concurrency(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    static const char *const labels[] = {"thread"};
    worker workers[THREADS];
    asylo__metric_family *shared = add(
        registry, &(asylo__metric_desc){
                      .name = "test_shared_total", .help = "S.", .type = ASYLO__METRIC_COUNTER});
    asylo__metric_family *gauge =
        add(registry,
            &(asylo__metric_desc){.name = "test_gauge", .help = "G.", .type = ASYLO__METRIC_GAUGE});
    asylo__metric_family *calls = add(registry, &(asylo__metric_desc){
                                                    .name = "test_per_thread_total",
                                                    .help = "P.",
                                                    .type = ASYLO__METRIC_COUNTER,
                                                    .label_names = labels,
                                                    .label_count = 1,
                                                });
    asylo__metric_family *latency = add(registry, &(asylo__metric_desc){
                                                      .name = "test_latency_seconds",
                                                      .help = "L.",
                                                      .type = ASYLO__METRIC_HISTOGRAM,
                                                      .label_names = labels,
                                                      .label_count = 1,
                                                  });
    pthread_t threads[THREADS];
    pthread_t scraper;
    assert_int_equal(pthread_create(&scraper, NULL, scrape, registry), 0);
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (worker){.calls = calls,
                              .latency = latency,
                              .shared = asylo__counter_get(shared, NULL),
                              .gauge = asylo__gauge_get(gauge, NULL),
                              .id = i};
        assert_int_equal(pthread_create(&threads[i], NULL, work, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    pthread_join(scraper, NULL);
    assert_true(asylo__counter_value(asylo__counter_get(shared, NULL)) == (double)THREADS * ROUNDS);
    assert_true(asylo__gauge_value(asylo__gauge_get(gauge, NULL)) == (double)THREADS * ROUNDS);
    const int per_label = 2 * (ROUNDS / 16); /* two threads per label set */
    for (int i = 0; i < 4; i++) {
        char id[8];
        snprintf(id, sizeof id, "t%d", i);
        assert_true(asylo__counter_value(asylo__counter_get(calls, (const char *[]){id})) ==
                    per_label);
        asylo__histogram *histogram = asylo__histogram_get(latency, (const char *[]){id});
        assert_int_equal(asylo__histogram_count(histogram), per_label);
        assert_true(asylo__histogram_sum(histogram) == per_label);
    }
    assert_int_equal(asylo__metric_family_series_count(calls), 4);
    asylo__metrics_registry_destroy(registry);
}

/* --- endpoint --- */

static void test_server_serves_and_refuses(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    asylo__metric_family *family = add(
        registry, &(asylo__metric_desc){
                      .name = "test_hits_total", .help = "Hits.", .type = ASYLO__METRIC_COUNTER});
    asylo__counter_add(asylo__counter_get(family, NULL), 3);
    asylo__metrics_server *server = NULL;
    asylo_status status;
    assert_int_equal(asylo__metrics_server_start(registry, NULL, 0, &server, &status), ASYLO_OK);
    int port = asylo__metrics_server_port(server);
    assert_true(port > 0);
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", port);
    assert_string_equal(asylo__metrics_server_address(server), address);

    http_reply reply;
    assert_int_equal(http_request("127.0.0.1", port, "GET", "/metrics", &reply), 0);
    assert_int_equal(reply.status, 200);
    char content_type[128];
    assert_int_equal(http_header(&reply, "Content-Type", content_type, sizeof content_type), 0);
    assert_string_equal(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(reply.body, "# HELP test_hits_total Hits.\n"
                                    "# TYPE test_hits_total counter\n"
                                    "test_hits_total 3\n");
    http_reply_free(&reply);

    assert_int_equal(http_request("127.0.0.1", port, "GET", "/metrics?x=1", &reply), 0);
    assert_int_equal(reply.status, 200);
    http_reply_free(&reply);
    assert_int_equal(http_request("127.0.0.1", port, "HEAD", "/metrics", &reply), 0);
    assert_int_equal(reply.status, 200);
    assert_int_equal(reply.body_size, 0);
    http_reply_free(&reply);
    assert_int_equal(http_request("127.0.0.1", port, "GET", "/", &reply), 0);
    assert_int_equal(reply.status, 404);
    http_reply_free(&reply);
    assert_int_equal(http_request("127.0.0.1", port, "GET", "/metricsx", &reply), 0);
    assert_int_equal(reply.status, 404);
    http_reply_free(&reply);
    assert_int_equal(http_request("127.0.0.1", port, "POST", "/metrics", &reply), 0);
    assert_int_equal(reply.status, 405);
    char allow[64];
    assert_int_equal(http_header(&reply, "Allow", allow, sizeof allow), 0);
    assert_string_equal(allow, "GET, HEAD");
    http_reply_free(&reply);
    assert_int_equal(http_request("127.0.0.1", port, "DELETE", "/metrics", &reply), 0);
    assert_int_equal(reply.status, 405);
    http_reply_free(&reply);

    /* The same port again: in use, and the message names the address. */
    asylo__metrics_server *second = (asylo__metrics_server *)1;
    assert_int_equal(asylo__metrics_server_start(registry, "127.0.0.1", port, &second, &status),
                     ASYLO_UNAVAILABLE);
    assert_null(second);
    if (strstr(status.message, address) == NULL || strstr(status.message, "in use") == NULL) {
        fail_msg("unhelpful message: %s", status.message);
    }

    asylo__metrics_server_stop(server);
    asylo__metrics_server_stop(server); /* twice is fine */
    assert_int_not_equal(http_request("127.0.0.1", port, "GET", "/metrics", &reply), 0);
    asylo__metrics_server_destroy(server);
    asylo__metrics_server_stop(NULL);
    asylo__metrics_server_destroy(NULL);
    asylo__metrics_registry_destroy(registry);
}

static bool ipv6_loopback_available(void) {
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) {
        return false;
    }
    struct sockaddr_in6 address = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&address, sizeof address) == 0;
    close(fd);
    return ok;
}

static void test_server_ipv6(void **state) {
    (void)state;
    if (!ipv6_loopback_available()) {
        print_message("skipping: no IPv6 loopback here\n");
        return;
    }
    asylo__metrics_registry *registry = new_registry();
    for (int i = 0; i < 2; i++) {
        asylo__metrics_server *server = NULL;
        asylo_status status;
        const char *address = i == 0 ? "::1" : "[::1]";
        assert_int_equal(asylo__metrics_server_start(registry, address, 0, &server, &status),
                         ASYLO_OK);
        int port = asylo__metrics_server_port(server);
        char expected[64];
        snprintf(expected, sizeof expected, "[::1]:%d", port);
        assert_string_equal(asylo__metrics_server_address(server), expected);
        http_reply reply;
        assert_int_equal(http_request("::1", port, "GET", "/metrics", &reply), 0);
        assert_int_equal(reply.status, 200);
        assert_string_equal(reply.body, "");
        http_reply_free(&reply);
        asylo__metrics_server_destroy(server);
    }
    asylo__metrics_registry_destroy(registry);
}

static void test_server_bad_arguments(void **state) {
    (void)state;
    asylo__metrics_registry *registry = new_registry();
    asylo__metrics_server *server = NULL;
    asylo_status status;
    assert_int_equal(asylo__metrics_server_start(registry, "localhost", 0, &server, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "'localhost'"));
    assert_int_equal(asylo__metrics_server_start(registry, "1.2.3", 0, &server, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_int_equal(asylo__metrics_server_start(registry, NULL, 70000, &server, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "70000"));
    assert_int_equal(asylo__metrics_server_start(registry, NULL, -1, &server, &status),
                     ASYLO_INVALID_ARGUMENT);
    assert_int_equal(asylo__metrics_server_start(NULL, NULL, 0, &server, &status),
                     ASYLO_INVALID_ARGUMENT);
    /* An address this host does not have (TEST-NET-1). */
    assert_int_equal(asylo__metrics_server_start(registry, "192.0.2.1", 0, &server, &status),
                     ASYLO_UNAVAILABLE);
    assert_non_null(strstr(status.message, "192.0.2.1:0"));
    assert_null(server);
    asylo__metrics_registry_destroy(registry);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_destroy_null),
        cmocka_unit_test(test_counter_render),
        cmocka_unit_test(test_gauge_render),
        cmocka_unit_test(test_histogram_render),
        cmocka_unit_test(test_histogram_default_buckets),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_label_value_cleaning),
        cmocka_unit_test(test_number_format),
        cmocka_unit_test(test_label_overflow),
        cmocka_unit_test(test_other_before_full),
        cmocka_unit_test(test_counter_refuses_decrease),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_callback_family),
        cmocka_unit_test(test_process_metrics),
        cmocka_unit_test(test_std_metrics),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_server_serves_and_refuses),
        cmocka_unit_test(test_server_ipv6),
        cmocka_unit_test(test_server_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
