/* Container networking (netns.c, ipam.c), and the stats and runtime info of
 * a real busybox container (stats.c, info.c), on the real host, as root: own
 * bridge, subnet, state and run dir under $HOODY_TEST_STATE. Only the
 * namespaces made here are ever pinged. Every test removes what it makes and
 * the group teardown checks the host is clean. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "runtime/internal.h"
#include "testnet.h"

static struct testnet net;
#define ID(name) testnet_id(&net, name)

static struct runtime *rt;

static void must(int rc, struct error *e, const char *what)
{
	if (rc < 0)
		fail_msg("%s: %s", what, e->msg);
}

static bool link_exists(const char *name)
{
	_cleanup_free_ char *p = xasprintf("/sys/class/net/%s", name);
	return path_exists(p);
}

static bool is_netns(const char *path)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && sf.f_type == 0x6e736673; /* NSFS_MAGIC */
}

/* The pair goes away with its namespace, asynchronously: the kernel's
 * namespace cleanup is one queue for the whole host and lags tens of seconds
 * behind when another test run churns namespaces: a deadlock guard of 120 s. */
static bool link_gone_soon(const char *name)
{
	for (int i = 0; i < 12000 && link_exists(name); i++)
		usleep(10000);
	return !link_exists(name);
}

static void assert_gone(const char *id, const struct net_lease *l)
{
	assert_true(link_gone_soon(l->host_veth));
	assert_false(path_exists(l->netns_path));
	_cleanup_free_ char *lease = xasprintf("%s/ipam/id-%s", rt->state_dir, id);
	assert_false(path_exists(lease));
}

/* Runs argv inside the namespace file ns (nsenter, busybox for the tools). */
static int in_ns(const char *ns, const char *cmd)
{
	_cleanup_free_ char *full =
	    xasprintf("nsenter --net=%s /bin/busybox %s >/dev/null 2>&1", ns, cmd);
	return system(full);
}

static const struct rt_netif *find_if(const struct rt_netif *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

/* With IPv6 on (auto: the host has a default route), eth0 holds exactly the
 * two addresses hoodyd derives: subnet6 + the IPv4, and fe80:: + EUI-64. */
static void assert_ipv6(const struct rt_netif *eth0, const struct net_lease *l)
{
	assert_non_null(eth0);
	if (!rt->ipv6) {
		assert_string_equal(l->ipv6, "");
		return;
	}
	assert_int_equal(eth0->ipv6_count, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct rt_netif_ip6 *a = &eth0->ipv6[i];
		bool link = !strcmp(a->scope, "link");
		assert_string_equal(a->addr, link ? l->link6 : l->ipv6);
		assert_int_equal(a->prefix, link ? 64 : rt->subnet6_prefix);
	}
	char want[48];
	ip6_of(rt, l->ipv4, want);
	assert_string_equal(l->ipv6, want);
}

static void test_setup_teardown(void **state)
{
	(void)state;
	struct error e = {0};
	struct net_lease l, again;
	must(net_setup(rt, ID("nt-one"), NULL, &l, &e), &e, "setup");
	assert_true(is_netns(l.netns_path));
	assert_true(link_exists(l.host_veth));
	assert_true(link_exists(net.bridge));
	assert_int_equal(l.prefix, 16);
	assert_string_equal(l.gateway, net.gateway);
	assert_int_equal(strncmp(l.ipv4, net.prefix, strlen(net.prefix)), 0);
	_cleanup_free_ char *master = xasprintf("/sys/class/net/%s/master", l.host_veth);
	char target[256] = "";
	assert_true(readlink(master, target, sizeof(target) - 1) > 0);
	assert_non_null(strstr(target, net.bridge));

	struct rt_netif ifs[8];
	size_t n = 0;
	must(net_read_ifaces(rt, ID("nt-one"), ifs, 8, &n, &e), &e, "read ifaces");
	const struct rt_netif *eth0 = find_if(ifs, n, "eth0");
	assert_non_null(eth0);
	assert_null(find_if(ifs, n, "lo"));
	assert_string_equal(eth0->ipv4, l.ipv4);
	assert_int_equal(eth0->prefix, 16);
	assert_true(eth0->up);
	assert_int_equal(strlen(eth0->mac), 17);
	assert_ipv6(eth0, &l);

	/* Idempotent: same lease, nothing duplicated. */
	must(net_setup(rt, ID("nt-one"), NULL, &again, &e), &e, "setup again");
	assert_memory_equal(&l, &again, sizeof(l));
	must(net_read_ifaces(rt, ID("nt-one"), ifs, 8, &n, &e), &e, "read ifaces again");
	assert_ipv6(find_if(ifs, n, "eth0"), &l);
	must(net_teardown(rt, ID("nt-one"), &e), &e, "teardown");
	assert_gone(ID("nt-one"), &l);
	must(net_teardown(rt, ID("nt-one"), &e), &e, "teardown again");
	size_t none = 9;
	must(net_read_ifaces(rt, ID("nt-one"), ifs, 8, &none, &e), &e, "read ifaces of none");
	assert_int_equal(none, 0);
}

static void test_repair(void **state)
{
	(void)state;
	struct error e = {0};
	struct net_lease l;
	must(net_setup(rt, ID("nt-fix"), NULL, &l, &e), &e, "setup");
	/* Host half of the pair lost (deleting it takes eth0 with it). */
	_cleanup_free_ char *del = xasprintf("ip link del %s", l.host_veth);
	assert_int_equal(system(del), 0);
	must(net_setup(rt, ID("nt-fix"), NULL, &l, &e), &e, "repair veth");
	assert_true(link_exists(l.host_veth));
	_cleanup_free_ char *ping_gw = xasprintf("ping -c 1 -W 2 %s", net.gateway);
	assert_int_equal(in_ns(l.netns_path, ping_gw), 0);
	/* Namespace file lost (its mount gone): a new namespace, rewired. */
	assert_int_equal(umount2(l.netns_path, MNT_DETACH), 0);
	must(net_setup(rt, ID("nt-fix"), NULL, &l, &e), &e, "repair netns");
	assert_true(is_netns(l.netns_path));
	assert_int_equal(in_ns(l.netns_path, ping_gw), 0);
	must(net_teardown(rt, ID("nt-fix"), &e), &e, "teardown");
	assert_gone(ID("nt-fix"), &l);
}

static void test_two_namespaces_ping(void **state)
{
	(void)state;
	struct error e = {0};
	struct net_lease a, b, c;
	must(net_setup(rt, ID("nt-a"), "group-1", &a, &e), &e, "setup a");
	must(net_setup(rt, ID("nt-b"), "group-1", &b, &e), &e, "setup b");
	must(net_setup(rt, ID("nt-c"), "group-2", &c, &e), &e, "setup c");
	assert_string_not_equal(a.ipv4, b.ipv4);
	assert_string_not_equal(a.host_veth, b.host_veth);

	struct rt_netif before[8], after[8];
	size_t nb = 0, na = 0;
	must(net_read_ifaces(rt, ID("nt-b"), before, 8, &nb, &e), &e, "read b");
	_cleanup_free_ char *ping_b = xasprintf("ping -c 3 -i 0.2 -W 2 %s", b.ipv4);
	_cleanup_free_ char *ping_a = xasprintf("ping -c 1 -W 2 %s", a.ipv4);
	assert_int_equal(in_ns(a.netns_path, ping_b), 0);
	assert_int_equal(in_ns(b.netns_path, ping_a), 0);
	/* Another group reaches neither, and nobody reaches the host itself
	 * (firewall.c) but for a ping of the gateway. */
	assert_int_not_equal(in_ns(c.netns_path, ping_a), 0);
	_cleanup_free_ char *ssh_gw = xasprintf("nc -w 1 %s 22 </dev/null", net.gateway);
	assert_int_not_equal(in_ns(a.netns_path, ssh_gw), 0);
	must(net_read_ifaces(rt, ID("nt-b"), after, 8, &na, &e), &e, "read b again");
	const struct rt_netif *x = find_if(before, nb, "eth0"), *y = find_if(after, na, "eth0");
	assert_non_null(x);
	assert_non_null(y);
	assert_true(y->rx_packets >= x->rx_packets + 3);
	assert_true(y->tx_bytes > x->tx_bytes);

	must(net_teardown(rt, ID("nt-a"), &e), &e, "teardown a");
	must(net_teardown(rt, ID("nt-b"), &e), &e, "teardown b");
	must(net_teardown(rt, ID("nt-c"), &e), &e, "teardown c");
	assert_gone(ID("nt-a"), &a);
	assert_gone(ID("nt-b"), &b);
	assert_gone(ID("nt-c"), &c);
}

struct par {
	int n;
	struct net_lease l[3];
	int rc;
	char msg[512];
};

static void *par_setup(void *arg)
{
	struct par *p = arg;
	for (int i = 0; i < 3 && p->rc == 0; i++) {
		char id[32];
		struct error e = {0};
		snprintf(id, sizeof(id), "nt-par-%d-%d-%d", p->n, i, net.slot);
		p->rc = net_setup(rt, id, "group-par", &p->l[i], &e);
		if (p->rc < 0)
			memcpy(p->msg, e.msg, sizeof(p->msg));
	}
	return NULL;
}

/* Creates from several threads at once (the daemon's workers do), starting
 * without a bridge: one of them makes it, none trips over the others. */
static void test_parallel(void **state)
{
	(void)state;
	struct error e = {0};
	must(net_bridge_remove(rt, &e), &e, "remove bridge");
	struct par p[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		p[i] = (struct par){.n = i};
		pthread_create(&t[i], NULL, par_setup, &p[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++)
		if (p[i].rc < 0)
			fail_msg("thread %d: %s", i, p[i].msg);
	/* Every namespace reaches every other of its group (checked from the
	 * last one). */
	const char *from = p[3].l[2].netns_path;
	for (int i = 0; i < 4; i++) {
		for (int k = 0; k < 3; k++) {
			assert_true(is_netns(p[i].l[k].netns_path));
			_cleanup_free_ char *ping = xasprintf("ping -c 1 -W 2 %s", p[i].l[k].ipv4);
			assert_int_equal(in_ns(from, ping), 0);
		}
	}
	for (int i = 0; i < 4; i++) {
		for (int k = 0; k < 3; k++) {
			char id[32];
			snprintf(id, sizeof(id), "nt-par-%d-%d-%d", i, k, net.slot);
			must(net_teardown(rt, id, &e), &e, "teardown");
			assert_gone(id, &p[i].l[k]);
		}
	}
}

/* Prints what a fresh setup, a repeat (restart) and a read cost; no bound on
 * them here (a loaded host is no failure): bench/runtime_bench.sh times the
 * whole create. */
static void test_timing(void **state)
{
	(void)state;
	enum { N = 10 };
	struct error e = {0};
	struct net_lease l;
	int64_t fresh = 0, repeat = 0, read = 0, teardown = 0, rules = 0;
	for (int i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof(id), "nt-time-%d-%d", i, net.slot);
		int64_t t0 = mono_ns();
		must(net_setup(rt, id, "group-t", &l, &e), &e, "setup");
		int64_t t1 = mono_ns();
		/* what the rules cost a setup: one transaction adding the port's
		 * elements (here replacing them: twice the work) */
		must(fw_attach(rt, id, &l, "group-t", &e), &e, "rules");
		rules += mono_ns() - t1;
		t1 = mono_ns();
		must(net_setup(rt, id, "group-t", &l, &e), &e, "setup again");
		int64_t t2 = mono_ns();
		struct rt_netif ifs[8];
		size_t n;
		must(net_read_ifaces(rt, id, ifs, 8, &n, &e), &e, "read");
		int64_t t3 = mono_ns();
		must(net_teardown(rt, id, &e), &e, "teardown");
		int64_t t4 = mono_ns();
		fresh += t1 - t0;
		repeat += t2 - t1;
		read += t3 - t2;
		teardown += t4 - t3;
		assert_gone(id, &l);
	}
	fprintf(stderr,
		"net timing (avg of %d): setup %.2f ms, setup again %.2f ms, read ifaces %.3f ms, "
		"teardown %.2f ms, rules replaced %.2f ms\n",
		N, fresh / N / 1e6, repeat / N / 1e6, read / N / 1e6, teardown / N / 1e6,
		rules / N / 1e6);
}

/* ---- stats and runtime info of a real container ---- */

static struct runtime *real;
static char *bin_dir, *base_dir;
static void open_real(void);

static void sh_in(const char *id, const char *script)
{
	const char *argv[] = {"sh", "-c", script, NULL};
	struct rt_exec_result r;
	struct error e = {0};
	must(rt_exec(real, id, argv, NULL, 0, 20, 4096, &r, &e), &e, "exec");
	if (r.exit_code != 0)
		fail_msg("%s: exit %d: %s", script, r.exit_code, r.err);
	rt_exec_result_free(&r);
}

static const struct rt_process *find_proc(const struct rt_runtime_info *in, const char *comm)
{
	for (size_t i = 0; i < in->proc_count; i++)
		if (!strcmp(in->procs[i].comm, comm))
			return &in->procs[i];
	return NULL;
}

static const struct rt_socket *find_sock(const struct rt_runtime_info *in, int port)
{
	for (size_t i = 0; i < in->sock_count; i++)
		if (in->socks[i].port == port)
			return &in->socks[i];
	return NULL;
}

static void check_running_stats(const char *id, int64_t t_create)
{
	struct error e = {0};
	struct rt_stats st;
	must(rt_stats(real, id, &st, &e), &e, "stats");
	assert_int_equal(st.state, RT_RUNNING);
	assert_true(st.started_at_ms >= t_create - 2000 && st.started_at_ms <= now_ms());
	assert_true(st.cpu_ns > 0);
	assert_true(st.mem_usage > 0 && st.mem_peak >= st.mem_usage);
	assert_int_equal(st.mem_limit, 256ULL << 20);
	assert_true(st.pids >= 2);
	assert_true(st.disk_usage >= 3ULL << 20);
	assert_true(st.disk_total > st.disk_usage);
	assert_true(st.ramdisk_usage >= 2ULL << 20);
	const struct rt_netif *eth0 = find_if(st.netif, st.netif_count, "eth0");
	assert_non_null(eth0);
	char ip[sizeof(eth0->ipv4)];
	memcpy(ip, eth0->ipv4, sizeof(ip));
	assert_int_equal(strncmp(ip, net.prefix, strlen(net.prefix)), 0);
	assert_true(eth0->rx_packets > 0 && eth0->tx_packets > 0);

	enum { N = 200 };
	int64_t t0 = mono_ns();
	for (int i = 0; i < N; i++)
		must(rt_stats(real, id, &st, &e), &e, "stats");
	int64_t avg = (mono_ns() - t0) / N;
	fprintf(stderr, "rt_stats: %.3f ms per call (avg of %d)\n", avg / 1e6, N);
}

static void check_running_info(const char *id)
{
	struct error e = {0};
	struct rt_runtime_info in;
	int64_t t0 = mono_ns();
	must(rt_runtime_info(real, id, &in, &e), &e, "runtime info");
	fprintf(stderr, "rt_runtime_info: %.3f ms\n", (mono_ns() - t0) / 1e6);
	const struct rt_process *init = find_proc(&in, "init"), *nc = find_proc(&in, "nc");
	assert_non_null(init);
	assert_int_equal(init->pid, 1);
	assert_non_null(nc);
	assert_true(nc->pid > 1 && nc->host_pid != nc->pid);
	assert_non_null(strstr(nc->cmdline, "nc -l -p 8080"));
	const struct rt_socket *s = find_sock(&in, 8080);
	assert_non_null(s);
	assert_int_equal(strncmp(s->proto, "tcp", 3), 0);
	assert_int_equal(s->pid, nc->pid);
	assert_string_equal(s->program, "nc");
	assert_null(find_sock(&in, 9)); /* nothing else invented */
	rt_runtime_info_free(&in);
}

static void test_container_stats_info(void **state)
{
	(void)state;
	/* Opened here, last: its reaper owns waitpid(-1), which would steal
	 * the exit status of the system() calls of the other tests. */
	open_real();
	assert_non_null(real); /* the busybox image and the runtime must open */
	struct error e = {0};
	const char *id = ID("nt-stats");
	struct rt_spec spec = {.id = id,
			       .hostname = id,
			       .image = "busybox",
			       .ramdisk = true,
			       .memory_limit = 256ULL << 20,
			       .pids_limit = 100};
	int64_t t_create = now_ms();
	must(rt_create_start(real, &spec, &e), &e, "create");
	_cleanup_free_ char *work =
	    xasprintf("nc -l -p 8080 </dev/null >/dev/null 2>&1 & "
		      "dd if=/dev/urandom of=/root/f bs=1M count=3 2>/dev/null && "
		      "dd if=/dev/zero of=/ramdisk/z bs=1M count=2 2>/dev/null && "
		      "(nc -w 1 %s 9 </dev/null; true) && sleep 0.2",
		      net.gateway);
	sh_in(id, work);
	check_running_stats(id, t_create);
	check_running_info(id);

	struct rt_stats st;
	struct rt_runtime_info in;
	must(rt_stop(real, id, 0, &e), &e, "stop");
	must(rt_stats(real, id, &st, &e), &e, "stats stopped");
	assert_int_equal(st.state, RT_STOPPED);
	assert_int_equal(st.started_at_ms, 0);
	assert_int_equal(st.pids, 0);
	must(rt_runtime_info(real, id, &in, &e), &e, "info stopped");
	assert_int_equal(in.proc_count + in.sock_count, 0);
	rt_runtime_info_free(&in);

	must(rt_delete(real, id, &e), &e, "delete");
	must(rt_stats(real, id, &st, &e), &e, "stats deleted");
	assert_int_equal(st.state, RT_ABSENT);
	assert_int_equal(rt_stats(real, "../x", &st, &e), -1);
	assert_int_equal(e.code, E_INVALID_ID);
}

/* A full runtime (reaper, hoody-init) for the container test; without
 * HOODY_BIN_DIR (a manual run) that test fails: it cannot run. */
static void open_real(void)
{
	if (!bin_dir)
		return;
	_cleanup_free_ char *st = xasprintf("%s/net-integration-rt", base_dir);
	_cleanup_free_ char *run = xasprintf("%s/net-integration-rt-run", base_dir);
	_cleanup_free_ char *img = xasprintf("%s/images", base_dir);
	_cleanup_free_ char *init = xasprintf("%s/hoody-init", bin_dir);
	struct rt_config cfg = {.state_dir = st,
				.image_dir = img,
				.run_dir = run,
				.bridge = net.bridge,
				.subnet = net.subnet,
				.init_path = init,
				.ramdisk_max_bytes = 64 << 20};
	struct error e = {0};
	if (runtime_open(&cfg, &real, &e) < 0 ||
	    (!rt_image_exists(real, "busybox") && rt_image_build(real, "busybox", false, &e) < 0)) {
		fprintf(stderr, "real runtime: %s\n", e.msg);
		runtime_close(real);
		real = NULL;
		return;
	}
	rt_purge(real, &e); /* leftovers of an interrupted run */
}

static int group_setup(void **state)
{
	(void)state;
	const char *b = getenv("HOODY_TEST_STATE");
	_cleanup_free_ char *base = xstrdup(b ? b : "/tmp/hoody-test-state");
	if (testnet_claim("hdynt", &net) < 0) {
		fprintf(stderr, "no free test network in %s\n", TESTNET_DIR);
		return -1;
	}
	rt = xcalloc(1, sizeof(*rt));
	rt->state_dir = xasprintf("%s/net-integration", base);
	rt->run_dir = xasprintf("%s/net-integration-run", base);
	rt->bridge = xstrdup(net.bridge);
	rt->subnet = xstrdup(net.subnet);
	pthread_mutex_init(&rt->ipam_lock, NULL);
	struct error e = {0};
	struct rt_config defaults = {0};
	if (fw_init(rt, &defaults, &e) < 0 || mkdir_p(rt->state_dir, 0700, &e) < 0 ||
	    mkdir_p(rt->run_dir, 0711, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return -1;
	}
	base_dir = xstrdup(base);
	bin_dir = getenv("HOODY_BIN_DIR") ? xstrdup(getenv("HOODY_BIN_DIR")) : NULL;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	struct error e = {0};
	if (real) {
		if (rt_purge(real, &e) < 0)
			fprintf(stderr, "purge: %s\n", e.msg);
		runtime_close(real);
	}
	int rc = fw_remove_all(rt, &e);
	if (rc < 0)
		fprintf(stderr, "rules remove: %s\n", e.msg);
	if (net_bridge_remove(rt, &e) < 0) {
		fprintf(stderr, "bridge remove: %s\n", e.msg);
		rc = -1;
	}
	if (link_exists(net.bridge))
		rc = -1;
	_cleanup_free_ char *netns = xasprintf("%s/netns", rt->run_dir);
	rm_rf(netns, &e); /* empty when every test cleaned up */
	return rc;
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_network: needs root (hoody runs as root)\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_setup_teardown),
	    cmocka_unit_test(test_repair),
	    cmocka_unit_test(test_two_namespaces_ping),
	    cmocka_unit_test(test_parallel),
	    cmocka_unit_test(test_timing),
	    cmocka_unit_test(test_container_stats_info),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
