/* The runtime's cgroupfs code (cgroup.c, limits.c) on fake trees in a temp
 * dir, in both layouts: v1 (one hierarchy per controller, as on this host)
 * and v2 (one unified hierarchy, which this host cannot run: its
 * controllers are all bound to v1 hierarchies). A fake tree holds the files
 * the kernel would show; hoodyd never creates a cgroup file, so a file the
 * fake lacks is a controller or kernel feature the "kernel" does not have.
 * What this proves: paths, file names, formats and values on each layout;
 * not how a real kernel reacts to them (docs/SECURITY.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "runtime/internal.h"

struct fx {
	char dir[64];
	struct runtime rt;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/hoody-test-cgroup-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct error e = {0};
	assert_int_equal(rm_rf(f->dir, &e), 0);
	free(f->rt.cgroup_root);
	free(f);
	return 0;
}

/* Makes <dir>/<rel> (and its parents) hold text. */
static void put(struct fx *f, const char *rel, const char *text)
{
	struct error e = {0};
	_cleanup_free_ char *path = xasprintf("%s/%s", f->dir, rel);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	assert_int_equal(mkdir_p(path, 0755, &e), 0);
	*slash = '/';
	assert_int_equal(write_file(path, text, &e), 0);
}

static void mkdirs(struct fx *f, const char *rel)
{
	struct error e = {0};
	_cleanup_free_ char *path = xasprintf("%s/%s", f->dir, rel);
	assert_int_equal(mkdir_p(path, 0755, &e), 0);
}

/* <dir>/<rel>'s text, NULL when absent. */
static char *get(struct fx *f, const char *rel)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", f->dir, rel);
	char *text = NULL;
	return read_file(path, 4096, &text, NULL, NULL) == 0 ? text : NULL;
}

static bool exists(struct fx *f, const char *rel)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", f->dir, rel);
	return path_exists(path);
}

static void assert_file(struct fx *f, const char *rel, const char *want)
{
	_cleanup_free_ char *text = get(f, rel);
	if (!text)
		fail_msg("%s: missing", rel);
	assert_string_equal(text, want);
}

/* A fake tree: files (path, text); a NULL text makes a directory. */
struct fake_file {
	const char *path, *text;
};

static void put_all(struct fx *f, const struct fake_file *files, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (files[i].text)
			put(f, files[i].path, files[i].text);
		else
			mkdirs(f, files[i].path);
	}
	cgroup_init(&f->rt, f->dir);
}

/* A hybrid host like this one: v1 hierarchies, and an empty cgroup2 at
 * unified/ that must not be taken for a v2 host. */
static const struct fake_file v1_tree[] = {
    {"cpu/hoody", NULL},
    {"blkio", NULL},
    {"unified/cgroup.controllers", "\n"},
    {"memory/hoody/memory.limit_in_bytes", "9223372036854771712\n"},
    {"pids/hoody/pids.max", "max\n"},
    {"cpuacct/hoody/c1/cpuacct.usage", "123456789\n"},
    {"memory/hoody/c1/memory.usage_in_bytes", "1000000\n"},
    {"memory/hoody/c1/memory.max_usage_in_bytes", "5000000\n"},
    {"memory/hoody/c1/memory.limit_in_bytes", "67108864\n"},
    {"memory/hoody/c1/memory.memsw.usage_in_bytes", "1500000\n"},
    {"memory/hoody/c1/memory.memsw.max_usage_in_bytes", "6000000\n"},
    {"memory/hoody/c1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"},
    {"pids/hoody/c1/pids.current", "7\n"},
    {"pids/hoody/c1/cgroup.procs", "101\n102\n"},
    {"freezer/hoody/c1/freezer.state", "THAWED\n"},
};

/* A v2 host on a 6.5+ kernel after hoodyd enabled its controllers: the
 * parent hoody/ and a container c1 with every file hoodyd reads. In
 * memory.events, the kernel's order: "oom" and "oom_group_kill" must not
 * be read as the kill count. */
static const struct fake_file v2_tree[] = {
    {"cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n"},
    {"cgroup.subtree_control", ""},
    {"hoody/memory.max", "max\n"},
    {"hoody/pids.max", "max\n"},
    {"hoody/c1/cgroup.procs", "201\n202\n203\n"},
    {"hoody/c1/cgroup.freeze", "0\n"},
    {"hoody/c1/cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"
			  "nr_periods 10\nnr_throttled 3\nthrottled_usec 400\n"},
    {"hoody/c1/cpu.max", "100000 100000\n"},
    {"hoody/c1/cpu.weight", "39\n"},
    {"hoody/c1/memory.current", "4194304\n"},
    {"hoody/c1/memory.peak", "8388608\n"},
    {"hoody/c1/memory.max", "67108864\n"},
    {"hoody/c1/memory.swap.current", "65536\n"},
    {"hoody/c1/memory.swap.peak", "131072\n"},
    {"hoody/c1/memory.swap.max", "0\n"},
    {"hoody/c1/memory.events", "low 0\nhigh 0\nmax 12\noom 5\noom_kill 1\noom_group_kill 0\n"},
    {"hoody/c1/pids.current", "3\n"},
    {"hoody/c1/pids.max", "512\n"},
    {"hoody/c1/io.weight", "default 100\n"},
    {"hoody/c1/io.stat", "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n"},
};

static void layout_v1(struct fx *f)
{
	put_all(f, v1_tree, ARRAY_SIZE(v1_tree));
}

static void layout_v2(struct fx *f)
{
	put_all(f, v2_tree, ARRAY_SIZE(v2_tree));
}

static void test_layout_detected(void **state)
{
	struct fx *f = *state;
	layout_v1(f);
	assert_false(f->rt.cgroup_v2);
	_cleanup_free_ char *pids = rt_cgroup_path(&f->rt, "pids", "c1");
	_cleanup_free_ char *want = xasprintf("%s/pids/hoody/c1", f->dir);
	assert_string_equal(pids, want);

	layout_v2(f);
	assert_true(f->rt.cgroup_v2);
	_cleanup_free_ char *mem = rt_cgroup_path(&f->rt, "memory", "c1");
	_cleanup_free_ char *freezer = rt_cgroup_path(&f->rt, "freezer", "c1");
	_cleanup_free_ char *want2 = xasprintf("%s/hoody/c1", f->dir);
	assert_string_equal(mem, want2);
	assert_string_equal(freezer, want2);

	struct runtime host = {0};
	cgroup_init(&host, NULL);
	assert_string_equal(host.cgroup_root, "/sys/fs/cgroup");
	free(host.cgroup_root);
}

/* /proc/<pid>/cgroup of a container process, as crun leaves it (the v2
 * line is what crun 1.8.1 wrote on this host's own cgroup2 tree). */
static void test_proc_cgroup_membership(void **state)
{
	(void)state;
	const char *v1 = "12:pids:/hoody/c1\n4:memory:/hoody/c1\n1:name=systemd:/hoody/c1\n"
			 "0::/hoody/c1\n";
	const char *v2 = "0::/hoody/c1\n";
	assert_true(cgroup_lists(v1, "c1"));
	assert_true(cgroup_lists(v2, "c1"));
	assert_false(cgroup_lists(v2, "c"));
	assert_false(cgroup_lists("0::/hoody/c10\n", "c1"));
	assert_false(cgroup_lists("0::/hoody/c1/sub\n", "c1"));
	assert_false(cgroup_lists("0::/system.slice/c1\n", "c1"));
	assert_false(cgroup_lists("0::/\n", "c1"));
}

static void assert_counters(const struct rt_stats *got, const struct rt_stats *want)
{
	const uint64_t g[] = {got->cpu_ns,     got->mem_usage, got->mem_peak, got->mem_limit,
			      got->swap_usage, got->swap_peak, got->pids,     got->oom_kills};
	const uint64_t w[] = {want->cpu_ns,	want->mem_usage, want->mem_peak, want->mem_limit,
			      want->swap_usage, want->swap_peak, want->pids,	 want->oom_kills};
	static const char *const names[] = {"cpu_ns",	  "mem_usage", "mem_peak", "mem_limit",
					    "swap_usage", "swap_peak", "pids",	   "oom_kills"};
	for (size_t i = 0; i < ARRAY_SIZE(g); i++)
		if (g[i] != w[i])
			fail_msg("%s: %llu, want %llu", names[i], (unsigned long long)g[i],
				 (unsigned long long)w[i]);
}

static void test_stats_v1(void **state)
{
	struct fx *f = *state;
	layout_v1(f);
	struct rt_stats s = {0};
	cgroup_read_stats(&f->rt, "c1", &s);
	/* memsw counts memory plus swap: swap is the difference. */
	assert_counters(&s, &(struct rt_stats){.cpu_ns = 123456789,
					       .mem_usage = 1000000,
					       .mem_peak = 5000000,
					       .mem_limit = 67108864,
					       .swap_usage = 500000,
					       .swap_peak = 1000000,
					       .pids = 7,
					       .oom_kills = 2});

	/* Without swap accounting (no memsw files): no swap, not a wrap. */
	_cleanup_free_ char *memsw =
	    xasprintf("%s/memory/hoody/c1/memory.memsw.usage_in_bytes", f->dir);
	assert_int_equal(unlink(memsw), 0);
	cgroup_read_stats(&f->rt, "c1", &s);
	assert_int_equal(s.swap_usage, 0);

	struct rt_stats none = {0};
	cgroup_read_stats(&f->rt, "gone", &none);
	assert_int_equal(none.mem_usage + none.cpu_ns + none.pids + none.oom_kills, 0);
}

static void test_stats_v2(void **state)
{
	struct fx *f = *state;
	layout_v2(f);
	struct rt_stats s = {0};
	cgroup_read_stats(&f->rt, "c1", &s);
	/* CPU time from usage_usec; swap on its own, not on top of memory. */
	assert_counters(&s, &(struct rt_stats){.cpu_ns = 2500000ULL * 1000,
					       .mem_usage = 4194304,
					       .mem_peak = 8388608,
					       .mem_limit = 67108864,
					       .swap_usage = 65536,
					       .swap_peak = 131072,
					       .pids = 3,
					       .oom_kills = 1});

	/* Unlimited is "max" (stats.c reports the host's RAM for it). */
	put(f, "hoody/c1/memory.max", "max\n");
	cgroup_read_stats(&f->rt, "c1", &s);
	assert_true(s.mem_limit == UINT64_MAX);

	/* Before 5.19 there is no memory.peak, before 6.5 no
	 * memory.swap.peak: the current value stands for the peak. */
	_cleanup_free_ char *peak = xasprintf("%s/hoody/c1/memory.peak", f->dir);
	_cleanup_free_ char *swap_peak = xasprintf("%s/hoody/c1/memory.swap.peak", f->dir);
	assert_int_equal(unlink(peak), 0);
	assert_int_equal(unlink(swap_peak), 0);
	cgroup_read_stats(&f->rt, "c1", &s);
	assert_int_equal(s.mem_peak, 4194304);
	assert_int_equal(s.swap_peak, 65536);

	/* No v1 file is read on v2: v1 names next to v2 ones change nothing. */
	put(f, "hoody/c1/memory.usage_in_bytes", "1\n");
	put(f, "hoody/c1/memory.oom_control", "oom_kill 99\n");
	cgroup_read_stats(&f->rt, "c1", &s);
	assert_int_equal(s.mem_usage, 4194304);
	assert_int_equal(s.oom_kills, 1);
}

static void test_oom_kills_each_format(void **state)
{
	struct fx *f = *state;
	uint64_t n = 0;
	layout_v1(f);
	put(f, "memory/hoody/c1/memory.oom_control",
	    "oom_kill_disable 1\nunder_oom 1\noom_kill 4\n");
	assert_true(cgroup_oom_kills(&f->rt, "c1", &n));
	assert_int_equal(n, 4);
	put(f, "memory/hoody/c1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n");
	assert_false(cgroup_oom_kills(&f->rt, "c1", &n)); /* a kernel without the counter */

	layout_v2(f);
	put(f, "hoody/c1/memory.events",
	    "low 0\nhigh 0\nmax 3\noom 9\noom_group_kill 7\noom_kill 6\n");
	assert_true(cgroup_oom_kills(&f->rt, "c1", &n));
	assert_int_equal(n, 6);
	assert_false(cgroup_oom_kills(&f->rt, "nope", &n));
}

struct oom_seen_by_test {
	uint64_t calls, new_kills, total;
	char id[16];
};

static void on_oom(const char *id, uint64_t new_kills, uint64_t total, void *arg)
{
	struct oom_seen_by_test *o = arg;
	o->calls++;
	o->new_kills = new_kills;
	o->total = total;
	snprintf(o->id, sizeof(o->id), "%s", id);
}

/* The watcher's scan: kills after the first look are reported once, a
 * cgroup made again (count back to 0) starts over. events_rel is the kill
 * counter file of container "c1" relative to the tree. */
static void check_oom_scan(struct fx *f, const char *events_rel, const char *fmt)
{
	struct error e = {0};
	struct oom_seen_by_test o = {0};
	char text[128];
	snprintf(text, sizeof(text), fmt, 1);
	put(f, events_rel, text);
	/* The first scan of the process only learns; a later one may report. */
	assert_int_equal(rt_oom_scan(&f->rt, on_oom, &o, &e), 0);
	memset(&o, 0, sizeof(o));
	assert_int_equal(rt_oom_scan(&f->rt, on_oom, &o, &e), 0);
	assert_int_equal(o.calls, 0);

	snprintf(text, sizeof(text), fmt, 3);
	put(f, events_rel, text);
	assert_int_equal(rt_oom_scan(&f->rt, on_oom, &o, &e), 0);
	assert_int_equal(o.calls, 1);
	assert_string_equal(o.id, "c1");
	assert_int_equal(o.new_kills, 2);
	assert_int_equal(o.total, 3);

	snprintf(text, sizeof(text), fmt, 1); /* restarted: a new cgroup */
	put(f, events_rel, text);
	memset(&o, 0, sizeof(o));
	assert_int_equal(rt_oom_scan(&f->rt, on_oom, &o, &e), 0);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.new_kills, 1);
}

static void test_oom_scan_v1(void **state)
{
	struct fx *f = *state;
	layout_v1(f);
	check_oom_scan(f, "memory/hoody/c1/memory.oom_control",
		       "oom_kill_disable 0\nunder_oom 0\noom_kill %d\n");
}

static void test_oom_scan_v2(void **state)
{
	struct fx *f = *state;
	layout_v2(f);
	check_oom_scan(f, "hoody/c1/memory.events",
		       "low 0\nhigh 0\nmax 0\noom 4\noom_kill %d\noom_group_kill 0\n");
}

static void test_parent_limits_v1(void **state)
{
	struct fx *f = *state;
	layout_v1(f);
	limits_parent_write(&f->rt, 123456789, 1000);
	assert_file(f, "memory/hoody/memory.limit_in_bytes", "123456789");
	assert_file(f, "pids/hoody/pids.max", "1000");
}

static void test_parent_limits_v2(void **state)
{
	struct fx *f = *state;
	layout_v2(f);
	limits_parent_write(&f->rt, 123456789, 1000);
	assert_file(f, "hoody/memory.max", "123456789");
	assert_file(f, "hoody/pids.max", "1000");
	assert_false(exists(f, "hoody/memory.limit_in_bytes"));
	assert_false(exists(f, "memory"));
	assert_false(exists(f, "pids"));

	/* Controllers not enabled: the parent is made, no file is invented. */
	struct error e = {0};
	_cleanup_free_ char *hoody = xasprintf("%s/hoody", f->dir);
	assert_int_equal(rm_rf(hoody, &e), 0);
	limits_parent_write(&f->rt, 5, 6);
	assert_true(exists(f, "hoody"));
	assert_false(exists(f, "hoody/memory.max"));
	assert_false(exists(f, "hoody/pids.max"));
}

/* v2: the controllers are enabled for the root's children, only those the
 * root offers, in one write; then the parent's files tell swap and I/O. */
static void test_probe_v2(void **state)
{
	struct fx *f = *state;
	put(f, "cgroup.controllers", "cpuset memory hugetlb pids\n");
	put(f, "cgroup.subtree_control", "");
	cgroup_init(&f->rt, f->dir);
	limits_probe(&f->rt);
	assert_file(f, "cgroup.subtree_control", "+memory +pids"); /* cpuset is not cpu */
	assert_true(exists(f, "hoody"));
	assert_false(f->rt.io_weight);
	assert_false(f->rt.swap_limits);

	put(f, "cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
	put(f, "hoody/memory.swap.max", "max\n");
	put(f, "hoody/io.weight", "default 100\n"); /* blk-iocost, not enabled */
	put(f, "io.cost.qos", "8:0 enable=0 ctrl=auto rpct=0.00 rlat=250000\n");
	limits_probe(&f->rt);
	assert_file(f, "cgroup.subtree_control", "+cpu +io +memory +pids");
	assert_true(f->rt.swap_limits);
	assert_false(f->rt.io_weight);

	put(f, "io.cost.qos", "8:0 enable=1 ctrl=auto rpct=0.00 rlat=250000\n");
	limits_probe(&f->rt);
	assert_true(f->rt.io_weight);

	put(f, "io.cost.qos", "8:0 enable=0 ctrl=auto\n");
	put(f, "hoody/io.bfq.weight", "default 100\n");
	limits_probe(&f->rt);
	assert_true(f->rt.io_weight);
}

/* v2 with --no-limits, or a command that starts no container (images,
 * purge): the root's controllers and children are the host admin's; hoodyd
 * neither enables one nor makes hoody/, at any start. */
static void test_probe_v2_no_limits(void **state)
{
	struct fx *f = *state;
	put(f, "cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
	put(f, "cgroup.subtree_control", "");
	cgroup_init(&f->rt, f->dir);
	f->rt.limits_off = true;
	f->rt.host_memory_reserve = 1; /* images and purge keep the configured reserve */
	for (int start = 0; start < 2; start++) {
		limits_probe(&f->rt);
		limits_parent_ensure(&f->rt);
		assert_file(f, "cgroup.subtree_control", "");
		assert_false(exists(f, "hoody"));
		assert_false(f->rt.io_weight);
		assert_false(f->rt.swap_limits);
	}
	/* the control: limits on, the same tree gets both */
	f->rt.limits_off = false;
	limits_probe(&f->rt);
	assert_file(f, "cgroup.subtree_control", "+cpu +io +memory +pids");
	assert_true(exists(f, "hoody"));
}

/* crun's v2 device filter: CAP_SYS_RESOURCE (bit 24 of CapEff), or a
 * RLIMIT_MEMLOCK hard limit that is unlimited already. */
static void test_device_filter_loadable(void **state)
{
	(void)state;
	const char *root = "Name:\thoodyd\nCapInh:\t0000000000000000\n"
			   "CapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n";
	const char *no_res = "Name:\thoodyd\nCapPrm:\t000001fffeffffff\n"
			     "CapEff:\t000001fffeffffff\n"; /* what setpriv -sys_resource leaves */
	const char *only_res = "Name:\tx\nCapPrm:\t0000000000000000\nCapEff:\t0000000001000000\n";
	assert_true(cgroup_device_filter_loadable(root, 8 << 20));
	assert_true(cgroup_device_filter_loadable(only_res, 8 << 20));
	assert_false(cgroup_device_filter_loadable(no_res, 8 << 20));
	assert_true(cgroup_device_filter_loadable(no_res, (uint64_t)RLIM_INFINITY));
	/* CapPrm is not what the kernel checks */
	assert_false(cgroup_device_filter_loadable(
	    "CapPrm:\t000001ffffffffff\nCapEff:\t0000000000000000\n", 8 << 20));
	assert_false(cgroup_device_filter_loadable("Name:\tx\n", 8 << 20));
	assert_false(cgroup_device_filter_loadable(NULL, 8 << 20));
	assert_false(cgroup_device_filter_loadable("", 0));
}

/* v1: read-only probes of the hierarchies' roots; nothing is made. */
static void test_probe_v1(void **state)
{
	struct fx *f = *state;
	mkdirs(f, "memory");
	mkdirs(f, "blkio");
	cgroup_init(&f->rt, f->dir);
	limits_probe(&f->rt);
	assert_false(f->rt.io_weight);
	assert_false(f->rt.swap_limits);
	assert_false(exists(f, "memory/hoody"));
	assert_false(exists(f, "hoody"));

	put(f, "blkio/blkio.bfq.weight", "100\n");
	put(f, "memory/memory.memsw.limit_in_bytes", "9223372036854771712\n");
	limits_probe(&f->rt);
	assert_true(f->rt.io_weight);
	assert_true(f->rt.swap_limits);
}

static void test_freezer(void **state)
{
	struct fx *f = *state;
	layout_v1(f);
	assert_false(cgroup_frozen(&f->rt, "c1"));
	put(f, "freezer/hoody/c1/freezer.state", "FREEZING\n");
	assert_true(cgroup_frozen(&f->rt, "c1"));
	put(f, "freezer/hoody/c1/freezer.state", "FROZEN\n");
	assert_true(cgroup_frozen(&f->rt, "c1"));
	cgroup_thaw(&f->rt, "c1");
	assert_file(f, "freezer/hoody/c1/freezer.state", "THAWED");
	assert_false(cgroup_frozen(&f->rt, "gone"));

	layout_v2(f);
	assert_false(cgroup_frozen(&f->rt, "c1"));
	put(f, "hoody/c1/cgroup.freeze", "1\n");
	assert_true(cgroup_frozen(&f->rt, "c1"));
	cgroup_thaw(&f->rt, "c1");
	assert_file(f, "hoody/c1/cgroup.freeze", "0");
	assert_false(cgroup_frozen(&f->rt, "c1"));
	assert_false(exists(f, "hoody/c1/freezer.state"));
}

/* Processes: the container's cgroup.procs and its sub-cgroups'. */
static void test_procs(void **state)
{
	struct fx *f = *state;
	pid_t pids[8];
	layout_v1(f);
	put(f, "pids/hoody/c1/sub/cgroup.procs", "103\n");
	size_t n = cgroup_procs(&f->rt, "c1", pids, ARRAY_SIZE(pids));
	assert_int_equal(n, 3);
	assert_int_equal(pids[0] + pids[1] + pids[2], 101 + 102 + 103);

	layout_v2(f);
	n = cgroup_procs(&f->rt, "c1", pids, 2); /* bounded */
	assert_int_equal(n, 2);
	assert_int_equal(pids[0], 201);
	assert_int_equal(pids[1], 202);
	assert_int_equal(cgroup_procs(&f->rt, "gone", pids, ARRAY_SIZE(pids)), 0);
}

/* Leftover cgroups go; a busy one (here: not empty) is an error. */
static void test_remove(void **state)
{
	struct fx *f = *state;
	struct error e = {0};
	layout_v1(f);
	mkdirs(f, "memory/hoody/c2");
	mkdirs(f, "pids/hoody/c2");
	mkdirs(f, "unified/hoody/c2");
	assert_int_equal(cgroup_remove(&f->rt, "c2", &e), 0);
	assert_false(exists(f, "memory/hoody/c2"));
	assert_false(exists(f, "pids/hoody/c2"));
	assert_false(exists(f, "unified/hoody/c2"));
	assert_int_equal(cgroup_remove(&f->rt, "c2", &e), 0); /* idempotent */
	assert_int_equal(cgroup_remove(&f->rt, "c1", &e), -1);
	assert_int_equal(e.code, E_RUNTIME);

	layout_v2(f);
	mkdirs(f, "hoody/c2");
	assert_int_equal(cgroup_remove(&f->rt, "c2", &e), 0);
	assert_false(exists(f, "hoody/c2"));
	assert_true(exists(f, "hoody"));
	assert_int_equal(cgroup_remove(&f->rt, "c1", &e), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_layout_detected, setup, teardown),
	    cmocka_unit_test(test_proc_cgroup_membership),
	    cmocka_unit_test_setup_teardown(test_stats_v1, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stats_v2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oom_kills_each_format, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oom_scan_v1, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oom_scan_v2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parent_limits_v1, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parent_limits_v2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_v2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_v2_no_limits, setup, teardown),
	    cmocka_unit_test(test_device_filter_loadable),
	    cmocka_unit_test_setup_teardown(test_probe_v1, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_freezer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_procs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
