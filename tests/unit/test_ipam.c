/* IPAM (ipam.c): leases under a temp state dir; nothing on the host changes. */
#include <arpa/inet.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "runtime/internal.h"

static char state_dir[] = "/tmp/hoody-test-ipam-XXXXXX";

/* Just what ipam.c reads: the state dir, the subnet and its lock. */
static struct runtime *bare_runtime_new(const char *subnet)
{
	struct runtime *rt = xcalloc(1, sizeof(*rt));
	rt->state_dir = state_dir;
	rt->subnet = (char *)subnet;
	pthread_mutex_init(&rt->ipam_lock, NULL);
	return rt;
}

static void bare_runtime_free(struct runtime *rt)
{
	pthread_mutex_destroy(&rt->ipam_lock);
	free(rt);
}

static void wipe(void)
{
	struct error e = {0};
	_cleanup_free_ char *dir = xasprintf("%s/ipam", state_dir);
	assert_int_equal(rm_rf(dir, &e), 0);
}

static void acquire_ok(struct runtime *rt, const char *id, char ip[20])
{
	struct error e = {0};
	if (ipam_acquire(rt, id, ip, &e) < 0)
		fail_msg("acquire %s: %s", id, e.msg);
}

static uint32_t host_of(const char *ip)
{
	struct in_addr in;
	assert_int_equal(inet_pton(AF_INET, ip, &in), 1);
	return ntohl(in.s_addr);
}

static void test_gateway(void **state)
{
	(void)state;
	struct runtime *rt = bare_runtime_new("10.203.7.9/16");
	char gw[20];
	int prefix = 0;
	struct error e = {0};
	assert_int_equal(ipam_gateway(rt, gw, &prefix, &e), 0);
	assert_string_equal(gw, "10.203.0.1"); /* host bits of the CIDR are ignored */
	assert_int_equal(prefix, 16);
	bare_runtime_free(rt);
}

static void test_bad_input(void **state)
{
	(void)state;
	static const char *const bad[] = {"10.0.0.0",	  "10.0.0.0/31", "10.0.0.0/4", "x/16",
					  "10.0.0.0/16x", "10.0.0.0/",	 "::1/64"};
	char ip[20];
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct runtime *rt = bare_runtime_new(bad[i]);
		struct error e = {0};
		assert_int_equal(ipam_acquire(rt, "c1", ip, &e), -1);
		assert_int_equal(e.code, E_VALIDATION);
		bare_runtime_free(rt);
	}
	struct runtime *rt = bare_runtime_new("10.203.0.0/24");
	struct error e = {0};
	assert_int_equal(ipam_acquire(rt, "../x", ip, &e), -1);
	assert_int_equal(e.code, E_INVALID_ID);
	assert_int_equal(ipam_release(rt, "a/b", &e), -1);
	bare_runtime_free(rt);
}

static void test_idempotent_distinct_exhaustion(void **state)
{
	(void)state;
	wipe();
	struct runtime *rt = bare_runtime_new("10.203.0.0/29"); /* .2 - .6: five addresses */
	char ips[5][20], again[20];
	const char *ids[] = {"c0", "c1", "c2", "c3", "c4"};
	for (int i = 0; i < 5; i++) {
		acquire_ok(rt, ids[i], ips[i]);
		uint32_t h = host_of(ips[i]);
		assert_true(h >= host_of("10.203.0.2") && h <= host_of("10.203.0.6"));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(ips[i], ips[j]);
	}
	for (int i = 0; i < 5; i++) {
		acquire_ok(rt, ids[i], again);
		assert_string_equal(again, ips[i]);
	}
	struct error e = {0};
	assert_int_equal(ipam_acquire(rt, "c5", again, &e), -1);
	assert_int_equal(e.code, E_SERVER_LIMIT);
	assert_non_null(strstr(e.msg, "10.203.0.0/29"));

	/* Release frees exactly that address; releasing twice is fine. */
	assert_int_equal(ipam_release(rt, "c2", &e), 0);
	assert_int_equal(ipam_release(rt, "c2", &e), 0);
	assert_int_equal(ipam_release(rt, "never", &e), 0);
	acquire_ok(rt, "c5", again);
	assert_string_equal(again, ips[2]);
	bare_runtime_free(rt);
}

static void test_persistence(void **state)
{
	(void)state;
	wipe();
	struct runtime *rt = bare_runtime_new("10.203.0.0/16");
	char a[20], b[20], c[20];
	acquire_ok(rt, "persist-a", a);
	acquire_ok(rt, "persist-b", b);
	bare_runtime_free(rt);
	/* A new runtime (daemon restart) over the same state dir. */
	rt = bare_runtime_new("10.203.0.0/16");
	acquire_ok(rt, "persist-b", c);
	assert_string_equal(c, b);
	acquire_ok(rt, "persist-a", c);
	assert_string_equal(c, a);
	bare_runtime_free(rt);
	/* A changed subnet: old leases do not apply, new ones are in it. */
	rt = bare_runtime_new("10.204.0.0/24");
	acquire_ok(rt, "persist-a", c);
	assert_true((host_of(c) >> 8) == (host_of("10.204.0.0") >> 8));
	bare_runtime_free(rt);
}

static void test_crash_healing(void **state)
{
	(void)state;
	wipe();
	struct runtime *rt = bare_runtime_new("10.203.0.0/29");
	char ip[20], again[20];
	acquire_ok(rt, "heal", ip);
	/* Crash after the address link, before the index: same address back. */
	_cleanup_free_ char *index = xasprintf("%s/ipam/id-heal", state_dir);
	assert_int_equal(unlink(index), 0);
	acquire_ok(rt, "heal", again);
	assert_string_equal(again, ip);
	/* Addresses held by ids without an index are collected when full. */
	_cleanup_free_ char *dir = xasprintf("%s/ipam", state_dir);
	for (int i = 2; i <= 6; i++) {
		_cleanup_free_ char *p = xasprintf("%s/10.203.0.%d", dir, i);
		if (symlink("ghost", p) < 0)
			assert_true(strcmp(ip, strrchr(p, '/') + 1) == 0);
	}
	acquire_ok(rt, "fresh", again);
	assert_string_not_equal(again, ip);
	bare_runtime_free(rt);
}

struct racer {
	struct runtime *rt;
	int n;
	char ips[16][20];
};

static void *race(void *arg)
{
	struct racer *r = arg;
	for (int i = 0; i < 16; i++) {
		char id[32];
		struct error e = {0};
		snprintf(id, sizeof(id), "t%d-%d", r->n, i);
		if (ipam_acquire(r->rt, id, r->ips[i], &e) < 0)
			r->ips[i][0] = '\0';
	}
	return NULL;
}

static int cmp_ip(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_threads_distinct(void **state)
{
	(void)state;
	wipe();
	struct runtime *rt = bare_runtime_new("10.203.0.0/24");
	struct racer r[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){.rt = rt, .n = i};
		pthread_create(&t[i], NULL, race, &r[i]);
	}
	char all[64][20];
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		for (int k = 0; k < 16; k++) {
			assert_true(r[i].ips[k][0] != '\0');
			memcpy(all[i * 16 + k], r[i].ips[k], 20);
		}
	}
	qsort(all, 64, 20, cmp_ip);
	for (int i = 1; i < 64; i++)
		assert_string_not_equal(all[i], all[i - 1]);
	bare_runtime_free(rt);
}

int main(void)
{
	if (!mkdtemp(state_dir))
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gateway),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_idempotent_distinct_exhaustion),
	    cmocka_unit_test(test_persistence),
	    cmocka_unit_test(test_crash_healing),
	    cmocka_unit_test(test_threads_distinct),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	struct error e = {0};
	rm_rf(state_dir, &e);
	return rc;
}
