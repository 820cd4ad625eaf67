/* observability.unit: the health messages' wire format, the call-series
 * cache, the --metrics_* flag parser and the observability bundle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "metrics/call_cache.h"
#include "observability/health.h"
#include "observability/observability.h"

static void test_health_request_parse(void **state) {
    (void)state;
    char service[ASYLO__HEALTH_MAX_SERVICE_NAME];
    asylo_status status;
    /* Empty message: service "". */
    assert_int_equal(asylo__health_parse_request(NULL, 0, service, sizeof service, &status),
                     ASYLO_OK);
    assert_string_equal(service, "");
    /* service = "abc" */
    const uint8_t named[] = {0x0a, 3, 'a', 'b', 'c'};
    assert_int_equal(
        asylo__health_parse_request(named, sizeof named, service, sizeof service, &status),
        ASYLO_OK);
    assert_string_equal(service, "abc");
    /* Unknown fields of every wire type around it are skipped. */
    const uint8_t extra[] = {0x10, 0x96, 0x01,                     /* field 2 varint */
                             0x19, 1,    2,    3,   4, 5, 6, 7, 8, /* field 3 fixed64 */
                             0x0a, 2,    'x',  'y',                /* service */
                             0x22, 1,    0xff,                     /* field 4 bytes */
                             0x2d, 1,    2,    3,   4};            /* field 5 fixed32 */
    assert_int_equal(
        asylo__health_parse_request(extra, sizeof extra, service, sizeof service, &status),
        ASYLO_OK);
    assert_string_equal(service, "xy");
    /* Malformed: truncated length, length past the end, bad wire type,
     * unterminated varint, field number 0, a NUL in the name. */
    const uint8_t *bad[] = {
        (const uint8_t[]){0x0a},    (const uint8_t[]){0x0a, 5, 'a'},
        (const uint8_t[]){0x0b, 0}, (const uint8_t[]){0x10, 0x80},
        (const uint8_t[]){0x02, 0}, (const uint8_t[]){0x0a, 1, 0},
    };
    const size_t bad_sizes[] = {1, 3, 2, 2, 2, 3};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            asylo__health_parse_request(bad[i], bad_sizes[i], service, sizeof service, &status),
            ASYLO_INVALID_ARGUMENT);
    }
    /* Too long for the buffer. */
    assert_int_equal(asylo__health_parse_request(named, sizeof named, service, 3, &status),
                     ASYLO_INVALID_ARGUMENT);
}

static void test_health_response_encode(void **state) {
    (void)state;
    uint8_t out[2];
    assert_int_equal(asylo__health_encode_response(ASYLO__HEALTH_SERVING, out), 2);
    assert_int_equal(out[0], 0x08);
    assert_int_equal(out[1], 1);
    assert_int_equal(asylo__health_encode_response(ASYLO__HEALTH_NOT_SERVING, out), 2);
    assert_int_equal(out[1], 2);
    assert_int_equal(asylo__health_encode_response(ASYLO__HEALTH_UNKNOWN, out), 0);
}

static void test_health_status(void **state) {
    (void)state;
    asylo__health *health;
    asylo_status status;
    assert_int_equal(asylo__health_create(&health, &status), ASYLO_OK);
    assert_int_equal(asylo__health_status(health), ASYLO__HEALTH_NOT_SERVING);
    asylo__health_set_serving(health, true);
    assert_int_equal(asylo__health_status(health), ASYLO__HEALTH_SERVING);
    asylo__health_set_serving(health, false);
    assert_int_equal(asylo__health_status(health), ASYLO__HEALTH_NOT_SERVING);
    for (int i = 0; i < ASYLO__HEALTH_MAX_SERVICES; i++) {
        assert_int_equal(asylo__health_add_service(health, "svc", &status), ASYLO_OK);
    }
    assert_int_equal(asylo__health_add_service(health, "one.too.many", &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    asylo__health_destroy(health);
    assert_int_equal(asylo__health_status(NULL), ASYLO__HEALTH_UNKNOWN);
}

static double calls_of(const asylo__std_metrics *metrics, const char *direction,
                       const char *selector, const char *code) {
    const char *labels[] = {direction, selector, code};
    return asylo__counter_value(asylo__counter_get(metrics->calls_total, labels));
}

static void test_call_cache(void **state) {
    (void)state;
    asylo__metrics_registry *registry;
    asylo__std_metrics metrics;
    asylo_status status;
    assert_int_equal(asylo__metrics_registry_create(&registry, &status), ASYLO_OK);
    assert_int_equal(asylo__std_metrics_register(registry, &metrics, &status), ASYLO_OK);
    asylo__call_cache cache;
    asylo__call_cache_init(&cache, &metrics);
    for (int i = 0; i < 5; i++) {
        asylo__call_cache_record(&cache, ASYLO__CALL_ENTER, 2, ASYLO_OK, 0.001, 10, 20);
    }
    asylo__call_cache_record(&cache, ASYLO__CALL_EXIT, 2, ASYLO_OK, 0.001, 1, 1);
    asylo__call_cache_record(&cache, ASYLO__CALL_ENTER, 2, ASYLO_INTERNAL, 0.001, 0, 0);
    assert_true(calls_of(&metrics, "enter", "2", "OK") == 5);
    assert_true(calls_of(&metrics, "exit", "2", "OK") == 1);
    assert_true(calls_of(&metrics, "enter", "2", "INTERNAL") == 1);
    assert_true(asylo__counter_value(metrics.bytes_received) == 51);
    assert_true(asylo__counter_value(metrics.bytes_sent) == 101);
    /* More distinct keys than slots: every call still counted, once. */
    for (uint32_t selector = 4096; selector < 4096 + 3 * ASYLO__CALL_CACHE_SLOTS; selector++) {
        for (int i = 0; i < 2; i++) {
            asylo__call_cache_record(&cache, ASYLO__CALL_ENTER, selector, ASYLO_OK, 0.0001, 0, 0);
        }
    }
    for (uint32_t selector = 4096; selector < 4096 + 3 * ASYLO__CALL_CACHE_SLOTS; selector++) {
        char text[16];
        snprintf(text, sizeof text, "%u", selector);
        assert_true(calls_of(&metrics, "enter", text, "OK") == 2);
    }
    asylo__call_cache_fini(&cache);
    /* NULL metrics: a no-op. */
    asylo__call_cache_init(&cache, NULL);
    asylo__call_cache_record(&cache, ASYLO__CALL_ENTER, 2, ASYLO_OK, 0.001, 1, 1);
    asylo__call_cache_fini(&cache);
    asylo__metrics_registry_destroy(registry);
}

static void test_flags(void **state) {
    (void)state;
    asylo__observability_flags flags;
    asylo__observability_flags_init(&flags);
    assert_int_equal(flags.metrics_port, ASYLO__OBSERVABILITY_NO_METRICS);
    asylo_status status;
    int consumed;
    assert_int_equal(asylo__observability_parse_flag(&flags, "--other", NULL, &consumed, &status),
                     ASYLO_OK);
    assert_int_equal(consumed, 0);
    assert_int_equal(
        asylo__observability_parse_flag(&flags, "--metrics_portx=1", NULL, &consumed, &status),
        ASYLO_OK);
    assert_int_equal(consumed, 0);
    assert_int_equal(
        asylo__observability_parse_flag(&flags, "--metrics_port=9464", NULL, &consumed, &status),
        ASYLO_OK);
    assert_int_equal(consumed, 1);
    assert_int_equal(flags.metrics_port, 9464);
    assert_int_equal(
        asylo__observability_parse_flag(&flags, "--metrics_port", "0", &consumed, &status),
        ASYLO_OK);
    assert_int_equal(consumed, 2);
    assert_int_equal(flags.metrics_port, 0);
    assert_int_equal(
        asylo__observability_parse_flag(&flags, "--metrics_address", "::1", &consumed, &status),
        ASYLO_OK);
    assert_int_equal(consumed, 2);
    assert_string_equal(flags.metrics_address, "::1");
    const char *bad[] = {"--metrics_port=-1", "--metrics_port=65536",
                         "--metrics_port=", "--metrics_port=12x", "--metrics_address="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(asylo__observability_parse_flag(&flags, bad[i], NULL, &consumed, &status),
                         ASYLO_INVALID_ARGUMENT);
        assert_non_null(
            strstr(status.message, bad[i][10] == 'p' ? "--metrics_port" : "--metrics_address"));
    }
    assert_int_equal(
        asylo__observability_parse_flag(&flags, "--metrics_port", NULL, &consumed, &status),
        ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(asylo__observability_usage(), "--metrics_port"));
}

static void test_start_stop(void **state) {
    (void)state;
    asylo__observability_flags flags;
    asylo__observability_flags_init(&flags);
    asylo__observability observability;
    asylo_status status;
    /* Off: nothing runs, metrics NULL. */
    assert_int_equal(asylo__observability_start(&flags, "test", &observability, &status), ASYLO_OK);
    assert_null(observability.metrics);
    assert_null(observability.server);
    assert_string_equal(observability.url, "");
    asylo__observability_set_serving(&observability, true); /* no health: no-op */
    asylo__observability_stop(&observability);
    /* On, free port. */
    flags.metrics_port = 0;
    assert_int_equal(asylo__observability_start(&flags, "test", &observability, &status), ASYLO_OK);
    assert_non_null(observability.metrics);
    assert_non_null(observability.server);
    assert_non_null(strstr(observability.url, "http://127.0.0.1:"));
    /* A second one on the same port fails, naming the flag. */
    asylo__observability_flags taken = flags;
    taken.metrics_port = asylo__metrics_server_port(observability.server);
    asylo__observability other;
    assert_int_equal(asylo__observability_start(&taken, "test", &other, &status),
                     ASYLO_UNAVAILABLE);
    assert_non_null(strstr(status.message, "--metrics_port"));
    assert_null(other.server);
    asylo__observability_stop(&observability);
    asylo__observability_stop(&observability); /* twice is fine */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_request_parse),
        cmocka_unit_test(test_health_response_encode),
        cmocka_unit_test(test_health_status),
        cmocka_unit_test(test_call_cache),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_start_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
