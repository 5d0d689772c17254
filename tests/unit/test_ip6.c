/* Containers' IPv6 settings and addresses (ip6.c): nothing on the host
 * changes (the mode is "off" wherever the host would be asked). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "runtime/internal.h"
#include "runtime/runtime.h"

static int init(struct runtime *rt, const char *bridge, const char *mode, const char *subnet6,
		struct error *e)
{
	memset(rt, 0, sizeof(*rt));
	rt->bridge = (char *)bridge;
	struct rt_config cfg = {.ipv6 = mode, .subnet6 = subnet6};
	return ip6_init(rt, &cfg, e);
}

static void test_prefix_canonical(void **state)
{
	(void)state;
	struct runtime rt;
	struct error e = {0};
	/* host bits cleared; the longest prefix that leaves 32 bits */
	assert_int_equal(init(&rt, "br0", "off", "fd12:3456:789a:1:ffff::1/64", &e), 0);
	assert_string_equal(rt.subnet6, "fd12:3456:789a:1::/64");
	assert_int_equal(init(&rt, "br0", "off", "2001:db8:1:2:3:4::/96", &e), 0);
	assert_string_equal(rt.subnet6, "2001:db8:1:2:3:4::/96");
	assert_false(rt.ipv6);
}

static void test_bad_values(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "fd00::/97",  "fd00::/7",  "fd00::",     "fd00::/", "fd00::/64x",
	    "nope/64",	  "ff02::/64", "fe80::/64",  "::/64",	"::1/96",
	    "10.0.0.0/8", "fd00::/-1", "fd00:::/64", "",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct runtime rt;
		struct error e = {0};
		if (!*bad[i])
			continue; /* empty means "derive" */
		assert_int_equal(init(&rt, "br0", "off", bad[i], &e), -1);
		assert_int_equal(e.code, E_VALIDATION);
		assert_non_null(strstr(e.msg, "subnet6"));
	}
	struct runtime rt;
	struct error e = {0};
	assert_int_equal(init(&rt, "br0", "maybe", NULL, &e), -1);
	assert_non_null(strstr(e.msg, "ipv6"));
}

static void test_derived_per_bridge(void **state)
{
	(void)state;
	struct runtime a, b, c;
	struct error e = {0};
	assert_int_equal(init(&a, "hoody0", "off", NULL, &e), 0);
	assert_int_equal(init(&b, "hoody1", "off", NULL, &e), 0);
	assert_int_equal(init(&c, "hoody0", "off", NULL, &e), 0);
	assert_int_equal(a.subnet6_prefix, 64);
	assert_int_equal(a.subnet6_net[0], 0xfd);
	assert_non_null(strstr(a.subnet6, "::/64"));
	assert_string_equal(a.subnet6, c.subnet6); /* stable across restarts */
	assert_string_not_equal(a.subnet6, b.subnet6);
}

static void test_addresses(void **state)
{
	(void)state;
	struct runtime rt;
	struct error e = {0};
	char out[48];
	assert_int_equal(init(&rt, "br0", "off", "fd12:3456:789a:1::/64", &e), 0);
	ip6_of(&rt, "10.5.0.3", out);
	assert_string_equal(out, ""); /* off: none */
	rt.ipv6 = true;
	ip6_of(&rt, "10.5.0.3", out);
	assert_string_equal(out, "fd12:3456:789a:1::a05:3");
	ip6_of(&rt, "10.5.0.1", out);
	assert_string_equal(out, "fd12:3456:789a:1::a05:1");
	ip6_of(&rt, "not an address", out);
	assert_string_equal(out, "");
	/* the kernel's EUI-64 of the container's MAC (net_mac_of) */
	unsigned char mac[6];
	net_mac_of("10.5.0.3", mac);
	ip6_link_local(mac, out);
	assert_string_equal(out, "fe80::68:aff:fe05:3");
}

/* The egress proxy's resolver list: IPv6 resolvers too, and one that
 * would not fit whole is left out, never cut into another address. */
static void test_dns_servers(void **state)
{
	(void)state;
	struct runtime rt;
	struct error e = {0};
	char out[160], small[24];
	memset(&rt, 0, sizeof(rt));
	rt.ipv6 = true;
	assert_int_equal(
	    dns_init(&rt, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,fdee:6e74::53,9.9.9.9", &e), 0);
	rt_dns_servers(&rt, out, sizeof(out));
	assert_string_equal(out, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,fdee:6e74::53,9.9.9.9");
	rt_dns_servers(&rt, small, sizeof(small));
	assert_string_equal(small, "fdee:6e74::53,9.9.9.9");
	rt_dns_servers(&rt, small, 1);
	assert_string_equal(small, "");
	assert_true(rt_ipv6_on(&rt));
	/* with IPv6 off an IPv6 resolver is refused, and none is listed */
	memset(&rt, 0, sizeof(rt));
	assert_int_equal(dns_init(&rt, "fdee:6e74::53", &e), -1);
	assert_int_equal(dns_init(&rt, "9.9.9.9", &e), 0);
	rt_dns_servers(&rt, out, sizeof(out));
	assert_string_equal(out, "9.9.9.9");
	assert_false(rt_ipv6_on(&rt));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prefix_canonical),   cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_derived_per_bridge), cmocka_unit_test(test_addresses),
	    cmocka_unit_test(test_dns_servers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
