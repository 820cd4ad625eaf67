/* fleet.units: the provision-server target forms (provision/fleet_target.h)
 * and gRPC peer strings, without a network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "provision/fleet_target.h"

static asylo__fleet_target target;

static void parses(const char *text, size_t rotation, const char *grpc_target, bool is_fleet,
                   size_t count) {
    asylo_status status;
    asylo_code code = asylo__fleet_target_parse(text, rotation, &target, &status);
    if (code != ASYLO_OK) {
        fail_msg("'%s': %s", text, status.message);
    }
    assert_string_equal(target.grpc_target, grpc_target);
    assert_int_equal(target.is_fleet, is_fleet);
    assert_int_equal(target.count, count);
}

static void refuses(const char *text, const char *why) {
    asylo_status status;
    assert_int_equal(asylo__fleet_target_parse(text, 0, &target, &status), ASYLO_INVALID_ARGUMENT);
    if (strstr(status.message, why) == NULL) {
        fail_msg("'%s': message '%s' lacks '%s'", text, status.message, why);
    }
}

static void test_single(void **state) {
    (void)state;
    parses("10.0.0.1:4321", 5, "ipv4:10.0.0.1:4321", false, 1);
    parses("[fd00::1]:4321", 0, "ipv6:[fd00::1]:4321", false, 1);
    parses("target.example:4321", 0, "target.example:4321", false, 1);
    parses("unix:/run/asylo.sock", 0, "unix:/run/asylo.sock", false, 1);
    assert_string_equal(target.security_address.target, "unix:/run/asylo.sock");
}

static void test_lists_rotate(void **state) {
    (void)state;
    parses("ipv4:10.0.0.1:1,10.0.0.2:2,10.0.0.3:3", 0, "ipv4:10.0.0.1:1,10.0.0.2:2,10.0.0.3:3",
           true, 3);
    parses("ipv4:10.0.0.1:1,10.0.0.2:2,10.0.0.3:3", 1, "ipv4:10.0.0.2:2,10.0.0.3:3,10.0.0.1:1",
           true, 3);
    parses("10.0.0.1:1,10.0.0.2:2", 3, "ipv4:10.0.0.2:2,10.0.0.1:1", true, 2);
    parses("ipv6:[fd00::1]:1,[fd00::2]:2", 0, "ipv6:[fd00::1]:1,[fd00::2]:2", true, 2);
    parses("[::1]:1,[fd00::2]:2", 2, "ipv6:[::1]:1,[fd00::2]:2", true, 2);
    /* Plaintext checks look at the first address that leaves this machine. */
    assert_string_equal(target.security_address.target, "[fd00::2]:2");
    parses("ipv4:127.0.0.1:1,127.0.0.2:2", 0, "ipv4:127.0.0.1:1,127.0.0.2:2", true, 2);
    assert_string_equal(target.security_address.target, "127.0.0.1:1");
    /* One address in list syntax is one server. */
    parses("ipv4:10.0.0.1:1", 0, "ipv4:10.0.0.1:1", false, 1);
}

static void test_dns(void **state) {
    (void)state;
    parses("dns:///fleet.example:4321", 0, "dns:///fleet.example:4321", true, 0);
    assert_true(target.is_dns);
    assert_string_equal(target.dns_name.target, "fleet.example:4321");
    assert_string_equal(target.security_address.target, "fleet.example:4321");
    parses("dns://10.0.0.53/fleet.example:4321", 0, "dns://10.0.0.53/fleet.example:4321", true, 0);
    assert_string_equal(target.dns_name.host, "fleet.example");
}

static void test_refused(void **state) {
    (void)state;
    refuses("", "empty");
    refuses("10.0.0.1:1,[fd00::1]:2", "cannot share one list");
    refuses("10.0.0.1:1,host.example:2", "IP literals");
    refuses("10.0.0.1:1,10.0.0.2", "not an IP:PORT");
    refuses("10.0.0.1:1,,", "an empty entry");
    refuses("ipv4:", "missing port");
    refuses("ipv4:,10.0.0.1:1", "an empty entry");
    refuses("dns:///fleet.example", "is not NAME:PORT");
    refuses("dns:///fleet.example:0", "needs a port");
    refuses("dns://fleet.example:4321", "needs a '/'");
    char many[ASYLO__FLEET_MAX_TARGET];
    size_t used = 0;
    for (int i = 0; i < 33; i++) {
        used += (size_t)snprintf(many + used, sizeof many - used, "%s10.0.0.%d:1", i ? "," : "", i);
    }
    refuses(many, "more than 32");
}

static void test_peers(void **state) {
    (void)state;
    asylo__address address;
    assert_true(asylo__peer_address_parse("ipv4:10.0.0.1:4321", &address));
    assert_string_equal(address.target, "10.0.0.1:4321");
    assert_true(asylo__peer_address_parse("ipv6:%5B::1%5D:4321", &address));
    assert_string_equal(address.target, "[::1]:4321");
    assert_true(asylo__peer_address_parse("ipv6:[fd00::2]:5", &address));
    assert_string_equal(address.host, "fd00::2");
    assert_true(asylo__peer_address_parse("unix:/tmp/x.sock", &address));
    assert_false(asylo__peer_address_parse("", &address));
    assert_false(asylo__peer_address_parse("unknown", &address));
    assert_false(asylo__peer_address_parse("ipv6:%5Bnot an address%5D:1", &address));
}

static void test_wildcard(void **state) {
    (void)state;
    asylo__address address;
    assert_int_equal(asylo__address_parse("0.0.0.0:1", &address, NULL), ASYLO_OK);
    assert_true(asylo__address_is_wildcard(&address));
    assert_int_equal(asylo__address_parse("[::]:1", &address, NULL), ASYLO_OK);
    assert_true(asylo__address_is_wildcard(&address));
    assert_int_equal(asylo__address_parse("10.0.0.1:1", &address, NULL), ASYLO_OK);
    assert_false(asylo__address_is_wildcard(&address));
    assert_int_equal(asylo__address_parse("host.example:1", &address, NULL), ASYLO_OK);
    assert_false(asylo__address_is_wildcard(&address));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single), cmocka_unit_test(test_lists_rotate),
        cmocka_unit_test(test_dns),    cmocka_unit_test(test_refused),
        cmocka_unit_test(test_peers),  cmocka_unit_test(test_wildcard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
