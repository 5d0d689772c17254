/* Runtime integration tests: real busybox containers run by crun, as root.
 * Own state, run dir, bridge and subnet under $HOODY_TEST_STATE so that they
 * never touch a real daemon's. Every test deletes what it creates, and the
 * group teardown checks that nothing is left on the host. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "runtime/internal.h"
#include "testnet.h"

static struct testnet net;
#define ID(name) testnet_id(&net, name)

static struct runtime *rt;
static struct rt_config cfg;
static char *state_dir, *run_dir, *image_dir, *init_path;

/* ---- exit callback recorder ---- */

static pthread_mutex_t ex_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ex_cond = PTHREAD_COND_INITIALIZER;
static char ex_ids[64][RT_ID_MAX + 1];
static int ex_status[64];
static int ex_count;

static void on_exit_cb(const char *id, int status, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&ex_lock);
	if (ex_count < 64) {
		ex_status[ex_count] = status;
		snprintf(ex_ids[ex_count++], RT_ID_MAX + 1, "%s", id);
	}
	pthread_cond_broadcast(&ex_cond);
	pthread_mutex_unlock(&ex_lock);
}

static bool saw_exit(const char *id)
{
	for (int i = 0; i < ex_count; i++)
		if (!strcmp(ex_ids[i], id))
			return true;
	return false;
}

static int exit_status_of(const char *id)
{
	int st = -2;
	pthread_mutex_lock(&ex_lock);
	for (int i = 0; i < ex_count; i++)
		if (!strcmp(ex_ids[i], id))
			st = ex_status[i];
	pthread_mutex_unlock(&ex_lock);
	return st;
}

/* True when an unexpected exit of id was reported within timeout_ms. */
static bool wait_exit_report(const char *id, int timeout_ms)
{
	int64_t deadline = mono_ns() + (int64_t)timeout_ms * 1000000;
	pthread_mutex_lock(&ex_lock);
	while (!saw_exit(id) && mono_ns() < deadline) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&ex_cond, &ex_lock, &ts);
	}
	bool seen = saw_exit(id);
	pthread_mutex_unlock(&ex_lock);
	return seen;
}

/* ---- helpers ---- */

static void must(int rc, struct error *e, const char *what)
{
	if (rc < 0)
		fail_msg("%s: %s", what, e->msg);
}

static struct rt_spec spec_of(const char *id)
{
	return (struct rt_spec){.id = id, .hostname = id, .image = "busybox", .ramdisk = true};
}

static void create(const struct rt_spec *s)
{
	struct error e = {0};
	must(rt_create_start(rt, s, &e), &e, "create");
	enum rt_state st;
	must(rt_state(rt, s->id, &st, &e), &e, "state");
	assert_int_equal(st, RT_RUNNING);
}

static void destroy(const char *id)
{
	struct error e = {0};
	must(rt_delete(rt, id, &e), &e, "delete");
}

static enum rt_state state_of(const char *id)
{
	struct error e = {0};
	enum rt_state st;
	must(rt_state(rt, id, &st, &e), &e, "state");
	return st;
}

/* Runs `sh -c cmd` inside; returns the exit code, output in *out (freed by caller). */
static int sh(const char *id, const char *cmd, char **out, char **errout)
{
	struct error e = {0};
	struct rt_exec_result r;
	const char *argv[] = {"sh", "-c", cmd, NULL};
	must(rt_exec(rt, id, argv, NULL, 0, 20, 1 << 20, &r, &e), &e, cmd);
	if (out)
		*out = r.out;
	else
		free(r.out);
	if (errout)
		*errout = r.err;
	else
		free(r.err);
	return r.exit_code;
}

static char *sh_ok(const char *id, const char *cmd)
{
	char *out, *err;
	int code = sh(id, cmd, &out, &err);
	if (code != 0)
		fail_msg("`%s` exited %d: %s", cmd, code, err);
	free(err);
	return out;
}

static void expect_out(const char *id, const char *cmd, const char *want)
{
	char *out = sh_ok(id, cmd);
	assert_string_equal(out, want);
	free(out);
}

static bool host_mounts_mention(const char *needle)
{
	char *m = NULL;
	if (read_file("/proc/self/mountinfo", 1 << 22, &m, NULL, NULL) < 0)
		return false;
	bool found = strstr(m, needle) != NULL;
	free(m);
	return found;
}

static bool any_cgroup_left(const char *id)
{
	static const char *const ctrls[] = {"cpu",     "cpuacct", "cpuset", "memory",
					    "devices", "freezer", "blkio",  "pids",
					    "hugetlb", "systemd", "unified"};
	for (size_t i = 0; i < ARRAY_SIZE(ctrls); i++) {
		char *p = rt_cgroup_path(rt, ctrls[i], id);
		bool left = path_exists(p);
		free(p);
		if (left)
			return true;
	}
	return false;
}

static int bridge_ports(void)
{
	_cleanup_free_ char *brif = xasprintf("/sys/class/net/%s/brif", net.bridge);
	DIR *d = opendir(brif);
	int n = 0;
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The veth goes with its namespace, asynchronously (the kernel's namespace
 * cleanup is one queue for the whole host, and lags tens of seconds behind
 * when another test run churns namespaces): a deadlock guard of 120 s. */
static int bridge_ports_soon(int want)
{
	for (int i = 0; i < 12000 && bridge_ports() != want; i++)
		usleep(10000);
	return bridge_ports();
}

static void assert_no_trace(const char *id)
{
	char *cdir = rt_container_dir(rt, id);
	char *rd = ramdisk_path(rt, id);
	char *crun = xasprintf("%s/crun/%s", run_dir, id);
	char *netns = xasprintf("%s/netns/%s", run_dir, id);
	assert_false(path_exists(cdir));
	assert_false(host_mounts_mention(cdir));
	assert_false(host_mounts_mention(rd));
	assert_false(path_exists(rd));
	assert_false(path_exists(crun));
	assert_false(path_exists(netns));
	assert_false(any_cgroup_left(id));
	assert_int_equal(state_of(id), RT_ABSENT);
	free(cdir);
	free(rd);
	free(crun);
	free(netns);
}

static int64_t ms_since(int64_t t0)
{
	return (mono_ns() - t0) / 1000000;
}

/* Deadlock guard of the polls below, not a bound: on a host loaded by
 * another test run, under ASan, a kill or a namespace's teardown has taken
 * seconds. */
#define LIVENESS_MS 120000

/* Polls `sh -c cmd` in id until it prints want. */
static void eventually_out(const char *id, const char *cmd, const char *want)
{
	char *out = NULL;
	for (int64_t t0 = mono_ns(); ms_since(t0) < LIVENESS_MS; usleep(20 * 1000)) {
		free(out);
		out = sh_ok(id, cmd);
		if (!strcmp(out, want))
			break;
	}
	assert_string_equal(out, want);
	free(out);
}

/* Starts a shell loop in id that notes a TERM in /tmp/termed (a builtin:
 * no fork) and goes on, orphaned into init (which waits for its children
 * when told to stop); returns once the trap is set. */
static void start_stubborn(const char *id)
{
	free(sh_ok(
	    id, "rm -f /tmp/trapped /tmp/termed; (trap 'echo > /tmp/termed' TERM; "
		"touch /tmp/trapped; while true; do sleep 1; done) >/dev/null 2>&1 </dev/null &"));
	eventually_out(id, "test -e /tmp/trapped && echo set || true", "set\n");
}

/* Whether the last stubborn loop saw a TERM (run after the next start). */
static const char TERMED[] = "test -e /tmp/termed && echo termed || echo not";

static char *rootfs_file(const char *id, const char *rel)
{
	char *cdir = rt_container_dir(rt, id);
	char *p = xasprintf("%s/rootfs/%s", cdir, rel);
	free(cdir);
	return p;
}

static long read_counter(const char *id)
{
	char *p = rootfs_file(id, "tmp/count"), *text = NULL;
	long v = -1;
	if (read_file(p, 64, &text, NULL, NULL) == 0)
		v = strtol(text, NULL, 10);
	free(text);
	free(p);
	return v;
}

/* The counter once it is past v; -1 if it never gets there. A liveness
 * bound only: on a host loaded by another test run the loop can go a
 * second without a turn. */
static long counter_past(const char *id, long v)
{
	for (int i = 0; i < 600; i++) {
		long now = read_counter(id);
		if (now > v)
			return now;
		usleep(50 * 1000);
	}
	return -1;
}

/* ---- setup ---- */

static int open_runtime(void)
{
	struct error e = {0};
	if (runtime_open(&cfg, &rt, &e) < 0) {
		fprintf(stderr, "runtime_open: %s\n", e.msg);
		return -1;
	}
	runtime_set_exit_cb(rt, on_exit_cb, NULL);
	return 0;
}

static int group_setup(void **state)
{
	(void)state;
	const char *base = getenv("HOODY_TEST_STATE");
	const char *bin = getenv("HOODY_BIN_DIR");
	if (!base)
		base = "/tmp/hoody-test-state";
	if (testnet_claim("hdyit", &net) < 0) {
		fprintf(stderr, "no free test network in %s\n", TESTNET_DIR);
		return -1;
	}
	image_dir = xasprintf("%s/images", base);
	state_dir = xasprintf("%s/rt-integration", base);
	run_dir = xasprintf("%s/rt-integration-run", base);
	init_path = bin ? xasprintf("%s/hoody-init", bin) : NULL;
	cfg = (struct rt_config){.state_dir = state_dir,
				 .image_dir = image_dir,
				 .run_dir = run_dir,
				 .bridge = net.bridge,
				 .subnet = net.subnet,
				 .init_path = init_path,
				 .ramdisk_max_bytes = 64 << 20};
	if (open_runtime() < 0)
		return -1;
	struct error e = {0};
	/* Leftovers of an interrupted earlier run. */
	if (rt_purge(rt, &e) < 0)
		fprintf(stderr, "purge: %s\n", e.msg);
	if (!rt_image_exists(rt, "busybox") && rt_image_build(rt, "busybox", false, &e) < 0) {
		fprintf(stderr, "image build: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	struct error e = {0};
	int rc = rt_purge(rt, &e);
	if (rc < 0)
		fprintf(stderr, "purge: %s\n", e.msg);
	runtime_close(rt);
	return rc;
}

/* ---- tests ---- */

static void test_create_exec_env_hostname(void **state)
{
	(void)state;
	struct rt_env env[] = {{"FOO", "bar baz"}, {"TERM", "dumb"}};
	struct rt_spec s = spec_of(ID("it-basic"));
	s.hostname = "alpha";
	s.env = env;
	s.env_count = 2;
	int ports = bridge_ports();
	create(&s);
	/* Its veth is on our bridge, and eth0 has the leased address. */
	assert_int_equal(bridge_ports(), ports + 1);
	char *out = sh_ok(ID("it-basic"), "ip -4 -o addr show eth0");
	_cleanup_free_ char *inet = xasprintf("inet %s", net.prefix);
	assert_non_null(strstr(out, inet));
	free(out);
	_cleanup_free_ char *grep =
	    xasprintf("grep -c '^10\\.%d\\..*[[:space:]]alpha$' /etc/hosts", net.slot);
	expect_out(ID("it-basic"), grep, "1\n");

	expect_out(ID("it-basic"), "echo hello", "hello\n");
	expect_out(ID("it-basic"), "echo \"$FOO|$TERM|$HOSTNAME\"; hostname; cat /etc/hostname",
		   "bar baz|dumb|alpha\nalpha\nalpha\n");
	/* The init's own environment, not just exec's. */
	expect_out(ID("it-basic"), "tr '\\0' '\\n' < /proc/1/environ | grep FOO", "FOO=bar baz\n");
	assert_int_equal(sh(ID("it-basic"), "exit 3", NULL, NULL), 3);

	/* Extra env of one exec, and the env set at runtime. */
	struct error e = {0};
	struct rt_env extra[] = {{"ONCE", "1"}};
	const char *argv[] = {"sh", "-c", "echo $ONCE", NULL};
	struct rt_exec_result r;
	must(rt_exec(rt, ID("it-basic"), argv, extra, 1, 10, 1024, &r, &e), &e, "exec");
	assert_string_equal(r.out, "1\n");
	rt_exec_result_free(&r);
	struct rt_env later[] = {{"LATER", "yes it is"}};
	must(rt_set_env(rt, ID("it-basic"), later, 1, &e), &e, "set_env");
	expect_out(ID("it-basic"), "echo $LATER; cat /etc/environment",
		   "yes it is\nLATER=\"yes it is\"\n");

	/* Output is bounded. */
	const char *big[] = {"sh", "-c", "head -c 100000 /dev/zero", NULL};
	must(rt_exec(rt, ID("it-basic"), big, NULL, 0, 10, 1000, &r, &e), &e, "exec big");
	assert_int_equal(r.out_len, 1000);
	rt_exec_result_free(&r);

	/* A timeout kills the command, inside the container too (a sleep of
	 * 72 minutes: that the exec returns at all is the timeout's doing). */
	const char *slow[] = {"sleep", "4321", NULL};
	must(rt_exec(rt, ID("it-basic"), slow, NULL, 0, 1, 1024, &r, &e), &e, "exec slow");
	assert_true(r.timed_out);
	assert_int_equal(r.exit_code, -1);
	rt_exec_result_free(&r);
	eventually_out(ID("it-basic"), "ps | grep -c '[s]leep 4321' || true", "0\n");
	destroy(ID("it-basic"));
	assert_no_trace(ID("it-basic"));
	assert_int_equal(bridge_ports_soon(ports), ports);
}

static void test_idempotent_and_errors(void **state)
{
	(void)state;
	struct error e = {0};
	struct rt_spec s = spec_of(ID("it-idem"));
	create(&s);
	pid_t p1, p2;
	must(rt_init_pid(rt, ID("it-idem"), &p1, &e), &e, "init pid");
	create(&s); /* create on a running container repairs, keeps it */
	must(rt_init_pid(rt, ID("it-idem"), &p2, &e), &e, "init pid");
	assert_int_equal(p1, p2);
	must(rt_stop(rt, ID("it-idem"), 5, &e), &e, "stop");
	must(rt_stop(rt, ID("it-idem"), 5, &e), &e, "stop again");
	assert_int_equal(state_of(ID("it-idem")), RT_STOPPED);
	assert_int_equal(rt_pause(rt, ID("it-idem"), &e), -1);
	assert_int_equal(e.code, E_STATE_CONFLICT);
	const char *argv[] = {"true", NULL};
	struct rt_exec_result r;
	assert_int_equal(rt_exec(rt, ID("it-idem"), argv, NULL, 0, 5, 10, &r, &e), -1);
	assert_int_equal(e.code, E_STATE_CONFLICT);
	assert_int_equal(rt_stop(rt, "../etc", 1, &e), -1);
	assert_int_equal(e.code, E_INVALID_ID);
	struct rt_spec bad = spec_of(ID("it-badimg"));
	bad.image = "no-such-image";
	assert_int_equal(rt_create_start(rt, &bad, &e), -1);
	destroy(ID("it-badimg"));
	assert_no_trace(ID("it-badimg"));
	destroy(ID("it-idem"));
	destroy(ID("it-idem"));
	destroy(ID("it-never-existed"));
	assert_no_trace(ID("it-idem"));
}

static void test_ramdisk_survives_restart(void **state)
{
	(void)state;
	struct error e = {0};
	struct rt_spec s = spec_of(ID("it-ram"));
	create(&s);
	free(sh_ok(ID("it-ram"), "echo kept > /ramdisk/f; echo layer > /root/f"));
	pid_t before, after;
	must(rt_init_pid(rt, ID("it-ram"), &before, &e), &e, "pid");
	must(rt_restart(rt, &s, 5, &e), &e, "restart");
	must(rt_init_pid(rt, ID("it-ram"), &after, &e), &e, "pid");
	assert_int_not_equal(before, after);
	expect_out(ID("it-ram"), "cat /ramdisk/f /root/f", "kept\nlayer\n");
	must(rt_stop(rt, ID("it-ram"), 5, &e), &e, "stop");
	must(rt_start(rt, &s, &e), &e, "start");
	expect_out(ID("it-ram"), "cat /ramdisk/f", "kept\n");
	/* Without ramdisk there is no /ramdisk mount. */
	s.ramdisk = false;
	must(rt_restart(rt, &s, 5, &e), &e, "restart without ramdisk");
	expect_out(ID("it-ram"), "grep -c ' /ramdisk ' /proc/mounts || true", "0\n");
	destroy(ID("it-ram"));
	assert_no_trace(ID("it-ram"));
}

/* After a host reboot the overlay, the ramdisk and crun's state are gone but
 * the container's directory is not: start puts it all back. */
static void test_start_after_host_reboot(void **state)
{
	(void)state;
	struct error e = {0};
	struct rt_spec s = spec_of(ID("it-reboot"));
	create(&s);
	free(sh_ok(ID("it-reboot"), "echo layer > /root/f; echo ram > /ramdisk/f"));
	must(rt_stop(rt, ID("it-reboot"), 5, &e), &e, "stop");
	char *cdir = rt_container_dir(rt, ID("it-reboot"));
	char *rootfs = xasprintf("%s/rootfs", cdir);
	char *rd = ramdisk_path(rt, ID("it-reboot"));
	must(rt_umount_all(rootfs, &e), &e, "umount rootfs");
	must(rt_umount_all(rd, &e), &e, "umount ramdisk");
	assert_false(rt_is_mountpoint(rootfs));
	assert_int_equal(state_of(ID("it-reboot")), RT_STOPPED);
	must(rt_start(rt, &s, &e), &e, "start after reboot");
	expect_out(ID("it-reboot"), "cat /root/f; ls /ramdisk | wc -l", "layer\n0\n");
	free(cdir);
	free(rootfs);
	free(rd);
	destroy(ID("it-reboot"));
	assert_no_trace(ID("it-reboot"));
}

static void test_pause_resume(void **state)
{
	(void)state;
	struct error e = {0};
	struct rt_spec s = spec_of(ID("it-pause"));
	create(&s);
	free(sh_ok(ID("it-pause"), "i=0; (while true; do i=$((i+1)); echo $i > /tmp/count; "
				   "usleep 20000; done) >/dev/null 2>&1 </dev/null &"));
	assert_true(counter_past(ID("it-pause"), 0) > 0);
	must(rt_pause(rt, ID("it-pause"), &e), &e, "pause");
	must(rt_pause(rt, ID("it-pause"), &e), &e, "pause again");
	assert_int_equal(state_of(ID("it-pause")), RT_PAUSED);
	usleep(100 * 1000);
	long c1 = read_counter(ID("it-pause"));
	usleep(500 * 1000);
	long c2 = read_counter(ID("it-pause"));
	assert_true(c1 > 0);
	assert_int_equal(c1, c2);
	must(rt_resume(rt, ID("it-pause"), &e), &e, "resume");
	assert_int_equal(state_of(ID("it-pause")), RT_RUNNING);
	assert_true(counter_past(ID("it-pause"), c2) > c2);
	/* Stopping a paused container works too, without waiting out the
	 * grace period (a frozen init never answers TERM): an hour of grace,
	 * so that only a wait for it could take LIVENESS_MS. */
	must(rt_pause(rt, ID("it-pause"), &e), &e, "pause");
	int64_t t0 = mono_ns();
	must(rt_stop(rt, ID("it-pause"), 3600, &e), &e, "stop paused");
	assert_true(ms_since(t0) < LIVENESS_MS);
	assert_int_equal(state_of(ID("it-pause")), RT_STOPPED);
	assert_false(saw_exit(ID("it-pause")));
	destroy(ID("it-pause"));
}

static void test_stop_graceful_and_forced(void **state)
{
	(void)state;
	struct error e = {0};
	struct rt_spec s = spec_of(ID("it-stop"));
	create(&s);
	free(sh_ok(ID("it-stop"), "sleep 1000 >/dev/null 2>&1 </dev/null &"));
	/* init forwards TERM, everyone exits: the stop ends with them, not
	 * with an hour of grace. */
	int64_t t0 = mono_ns();
	must(rt_stop(rt, ID("it-stop"), 3600, &e), &e, "graceful stop");
	assert_true(ms_since(t0) < LIVENESS_MS);
	assert_int_equal(state_of(ID("it-stop")), RT_STOPPED);

	/* A process that ignores TERM holds a graceful stop until the timeout
	 * (a lower bound: a slow host only adds to it), then dies; it was told
	 * TERM first. */
	must(rt_start(rt, &s, &e), &e, "start");
	start_stubborn(ID("it-stop"));
	t0 = mono_ns();
	must(rt_stop(rt, ID("it-stop"), 2, &e), &e, "stop with timeout");
	assert_true(ms_since(t0) >= 2000);
	assert_int_equal(state_of(ID("it-stop")), RT_STOPPED);
	must(rt_start(rt, &s, &e), &e, "start");
	expect_out(ID("it-stop"), TERMED, "termed\n");

	/* timeout 0 gives it no grace: no TERM at all, a kill at once. */
	start_stubborn(ID("it-stop"));
	must(rt_stop(rt, ID("it-stop"), 0, &e), &e, "force stop");
	assert_int_equal(state_of(ID("it-stop")), RT_STOPPED);
	must(rt_start(rt, &s, &e), &e, "start");
	expect_out(ID("it-stop"), TERMED, "not\n");
	must(rt_stop(rt, ID("it-stop"), 0, &e), &e, "stop");
	assert_false(saw_exit(ID("it-stop")));
	destroy(ID("it-stop"));
	assert_no_trace(ID("it-stop"));
}

/* True once pid sits in rt_sigtimedwait (128 on x86-64, first field of
 * /proc/<pid>/syscall): hoody-init's loop, which turns TERM into a clean
 * exit. A TERM sent earlier reaches crun's half of the process before it
 * has exec'd hoody-init. (SigBlk does not show it: the kernel unblocks the
 * awaited set while sigwaitinfo sleeps.) */
static bool waits_for_term(pid_t pid, int timeout_ms)
{
	char path[64], exe_path[64], exe[256];
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	snprintf(exe_path, sizeof(exe_path), "/proc/%d/exe", (int)pid);
	for (int waited = 0; waited <= timeout_ms; waited += 5) {
		char *text = NULL;
		ssize_t n = readlink(exe_path, exe, sizeof(exe) - 1);
		exe[n > 0 ? n : 0] = '\0';
		bool in_wait = strstr(exe, "/.hoody/init") &&
			       read_file(path, 4096, &text, NULL, NULL) == 0 &&
			       strncmp(text, "128 ", 4) == 0;
		free(text);
		if (in_wait)
			return true;
		usleep(5000);
	}
	return false;
}

static void test_unexpected_exit_reported(void **state)
{
	(void)state;
	struct error e = {0};
	struct rt_spec s = spec_of(ID("it-crash"));
	create(&s);
	pid_t pid;
	must(rt_init_pid(rt, ID("it-crash"), &pid, &e), &e, "pid");
	/* Not through rt_stop: init exits 0 on TERM, our child, so the
	 * reaper knows the code. */
	assert_true(waits_for_term(pid, LIVENESS_MS));
	kill(pid, SIGTERM);
	assert_true(wait_exit_report(ID("it-crash"), LIVENESS_MS));
	assert_int_equal(exit_status_of(ID("it-crash")), 0);
	assert_int_equal(state_of(ID("it-crash")), RT_STOPPED);
	must(rt_start(rt, &s, &e), &e, "start after crash");
	assert_int_equal(state_of(ID("it-crash")), RT_RUNNING);
	destroy(ID("it-crash"));
	assert_no_trace(ID("it-crash"));
}

/* True when pid has a TERM queued (SigPnd or ShdPnd in /proc/pid/status). */
static bool term_pending(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	_cleanup_free_ char *text = NULL;
	if (read_file(path, 16384, &text, NULL, NULL) < 0)
		return false;
	for (const char *k = text; (k = strstr(k, "Pnd:\t")); k += 5)
		if (strtoull(k + 5, NULL, 16) & (1ULL << (SIGTERM - 1)))
			return true;
	return false;
}

static int exit_reports_of(const char *id, int *last_status)
{
	int n = 0;
	pthread_mutex_lock(&ex_lock);
	for (int i = 0; i < ex_count; i++)
		if (!strcmp(ex_ids[i], id)) {
			n++;
			*last_status = ex_status[i];
		}
	pthread_mutex_unlock(&ex_lock);
	return n;
}

struct killer {
	const char *id;
	int delay_us;
	pid_t pid;
};

/* Sends init its TERM delay_us after crun has recorded its pid: from
 * before hoody-init is even exec'd to after it waits for signals. */
static void *killer_main(void *arg)
{
	struct killer *k = arg;
	for (int i = 0; i < 100000 && !(k->pid = rt_live_init_pid(rt, k->id)); i++)
		usleep(20);
	if (k->pid) {
		usleep((useconds_t)k->delay_us);
		kill(k->pid, SIGTERM);
	}
	return NULL;
}

/* A TERM at every point of a start: whatever it hits, the recorded exit
 * status is the real one (hoody-init exits 0 on TERM; a process killed by
 * the signal would read 128 + 15), never "unknown" (-1) for a container
 * this runtime started itself. */
static void test_term_at_every_point_of_start(void **state)
{
	(void)state;
	static const int delays_us[] = {0, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600};
	struct error e = {0};
	struct rt_spec s = spec_of(ID("it-term"));
	create(&s);
	must(rt_stop(rt, ID("it-term"), 5, &e), &e, "stop");
	for (size_t i = 0; i < ARRAY_SIZE(delays_us); i++) {
		int before_status = 0, status = -2;
		int before = exit_reports_of(ID("it-term"), &before_status);
		struct killer k = {.id = ID("it-term"), .delay_us = delays_us[i]};
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, killer_main, &k), 0);
		int rc = rt_start(rt, &s, &e);
		pthread_join(t, NULL);
		assert_true(k.pid > 0);
		/* Rarely the init dies where nobody but crun's helper could read
		 * its status: the start then fails saying so, and records none
		 * (never a wrong one). */
		if (rc < 0) {
			print_message("TERM %d us in: %s\n", delays_us[i], e.msg);
			assert_non_null(strstr(e.msg, "init exited at once"));
			assert_int_equal(exit_reports_of(ID("it-term"), &status), before);
			continue;
		}
		/* Otherwise the exit is reported with its true status: hoody-init
		 * exits 0 on TERM. A TERM that came before hoody-init blocked its
		 * signals, while crun still ran in the process, is dropped by the
		 * kernel (a pid namespace's init has no default action); then the
		 * container is simply still running. Which of the two it was is
		 * known without a clock: a dropped TERM leaves init waiting in
		 * sigwaitinfo with nothing queued, which a delivered one never
		 * does (init has no children to wait for: it exits at once). */
		int64_t t0 = mono_ns();
		while (exit_reports_of(ID("it-term"), &status) == before &&
		       !(rt_live_init_pid(rt, ID("it-term")) == k.pid && waits_for_term(k.pid, 0) &&
			 !term_pending(k.pid)) &&
		       ms_since(t0) < LIVENESS_MS)
			usleep(1000);
		int reports = exit_reports_of(ID("it-term"), &status) - before;
		print_message("TERM %d us after crun recorded the pid: %s\n", delays_us[i],
			      reports ? "init exited" : "dropped (still running)");
		if (reports) {
			assert_int_equal(reports, 1);
			assert_int_equal(status, 0);
			assert_int_equal(state_of(ID("it-term")), RT_STOPPED);
		} else {
			assert_int_equal(state_of(ID("it-term")), RT_RUNNING);
			must(rt_stop(rt, ID("it-term"), 5, &e), &e, "stop");
		}
	}
	destroy(ID("it-term"));
	assert_no_trace(ID("it-term"));
}

static void test_isolation(void **state)
{
	(void)state;
	struct rt_spec a = spec_of(ID("it-iso-a")), b = spec_of(ID("it-iso-b"));
	create(&a);
	create(&b);
	free(sh_ok(ID("it-iso-b"), "sleep 4242 >/dev/null 2>&1 </dev/null &"));
	eventually_out(ID("it-iso-b"), "ps -o args | grep -c '^sleep 4242'", "1\n");
	/* a sees only its init and what it runs: no b, no host. */
	char *out = sh_ok(ID("it-iso-a"), "ps -o pid,args");
	assert_non_null(strstr(out, "    1 /.hoody/init\n"));
	assert_null(strstr(out, "4242"));
	assert_null(strstr(out, "test_runtime"));
	free(out);
	out = sh_ok(ID("it-iso-a"), "ls -d /proc/[0-9]* | wc -l");
	assert_true(atoi(out) <= 4);
	free(out);
	destroy(ID("it-iso-a"));
	destroy(ID("it-iso-b"));
}

static void test_security(void **state)
{
	(void)state;
	struct rt_spec s = spec_of(ID("it-sec"));
	create(&s);
	char *err = NULL;
	assert_int_not_equal(
	    sh(ID("it-sec"), "mkdir -p /mnt && mount -t tmpfs none /mnt", NULL, NULL), 0);
	assert_int_not_equal(sh(ID("it-sec"), "echo x > /tmp/m.ko; insmod /tmp/m.ko", NULL, &err),
			     0);
	assert_non_null(strstr(err, "not permitted"));
	free(err);
	assert_int_not_equal(sh(ID("it-sec"), "echo 1 > /proc/sys/kernel/sysrq", NULL, NULL), 0);
	assert_int_not_equal(sh(ID("it-sec"), "echo b > /proc/sysrq-trigger", NULL, NULL), 0);
	assert_int_not_equal(sh(ID("it-sec"), "unshare -n true", NULL, NULL), 0);
	assert_int_not_equal(sh(ID("it-sec"), "nsenter -t 1 -m true", NULL, NULL), 0);
	assert_int_not_equal(sh(ID("it-sec"), "hostname evil", NULL, NULL), 0);
	/* Masked /proc files read empty. */
	expect_out(ID("it-sec"), "cat /proc/keys /proc/timer_list | wc -c", "0\n");
	/* No CAP_SYS_ADMIN (bit 21) in the effective set; noNewPrivs on. */
	char *out =
	    sh_ok(ID("it-sec"), "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status");
	assert_non_null(strstr(out, "CapEff:\t00000000a80405fb"));
	assert_non_null(strstr(out, "NoNewPrivs:\t1"));
	assert_non_null(strstr(out, "Seccomp:\t2"));
	free(out);
	destroy(ID("it-sec"));
}

/* Puts a host file into the container's root (through its overlay). */
static void put_in(const char *id, const char *src, const char *dst, mode_t mode)
{
	char *data = NULL, *cdir = rt_container_dir(rt, id);
	char *path = xasprintf("%s/rootfs%s", cdir, dst);
	size_t len = 0;
	struct error e = {0};
	must(read_file(src, 16 << 20, &data, &len, &e), &e, src);
	must(write_file_atomic(path, data, len, mode, &e), &e, path);
	free(data);
	free(path);
	free(cdir);
}

/* Every system call of Docker's deny list gets EPERM from the filter. The
 * probe's arguments make the kernel answer otherwise (EFAULT, EINVAL...)
 * when nothing filters, so a missing rule fails here. */
static void test_seccomp(void **state)
{
	(void)state;
	struct rt_spec s = spec_of(ID("it-scmp"));
	create(&s);
	put_in(ID("it-scmp"), SYSCALL_PROBE, "/probe", 0755);
	char *out = sh_ok(ID("it-scmp"), "/probe");
	int lines = 0;
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		char name[64];
		int code = -1;
		assert_int_equal(sscanf(l, "%63s %d", name, &code), 2);
		int want = !strcmp(name, "personality_query") ? 0
			   : !strcmp(name, "clone3")	      ? 38
							      : 1;
		if (code != want)
			fail_msg("%s: errno %d, want %d", name, code, want);
		lines++;
	}
	assert_true(lines >= 40);
	free(out);
	destroy(ID("it-scmp"));
}

/* The host's disks and network stay out of reach: a device node made with
 * CAP_MKNOD cannot be opened (device cgroup), and the only interfaces are
 * loopback and the container's own veth end. */
static void test_host_devices_and_network(void **state)
{
	(void)state;
	struct rt_spec s = spec_of(ID("it-dev"));
	create(&s);
	struct stat st;
	assert_int_equal(stat("/", &st), 0);
	char *cmd = xasprintf("mknod /tmp/disk b %u %u && head -c 512 /tmp/disk > /dev/null",
			      major(st.st_dev), minor(st.st_dev));
	char *err = NULL;
	assert_int_not_equal(sh(ID("it-dev"), cmd, NULL, &err), 0);
	assert_non_null(strstr(err, "not permitted"));
	free(err);
	free(cmd);
	expect_out(ID("it-dev"), "ls /sys/class/net | tr '\\n' ' '", "eth0 lo ");
	expect_out(ID("it-dev"),
		   "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '",
		   "eth0 lo ");
	destroy(ID("it-dev"));
}

static void test_memory_limit(void **state)
{
	(void)state;
	struct rt_spec s = spec_of(ID("it-mem"));
	s.memory_limit = 32 << 20;
	create(&s);
	/* sort holds its whole input (one 200 MB line) in memory. */
	int code =
	    sh(ID("it-mem"), "head -c 200000000 /dev/zero | sort > /dev/null; echo $? > /tmp/rc",
	       NULL, NULL);
	assert_int_equal(code, 0);
	expect_out(ID("it-mem"), "cat /tmp/rc", "137\n"); /* SIGKILL by the OOM killer */
	assert_int_equal(state_of(ID("it-mem")), RT_RUNNING);
	char *p = rt_cgroup_path(rt, "memory", ID("it-mem")),
	     *f = xasprintf("%s/memory.limit_in_bytes", p);
	uint64_t limit = 0;
	assert_int_equal(read_u64_file(f, &limit), 0);
	assert_int_equal(limit, 32 << 20);
	free(p);
	free(f);
	assert_false(saw_exit(ID("it-mem")));
	destroy(ID("it-mem"));
}

static uint64_t pids_events_max(const char *id)
{
	char *p = rt_cgroup_path(rt, "pids", id), *f = xasprintf("%s/pids.events", p), *text = NULL;
	uint64_t n = 0;
	if (read_file(f, 256, &text, NULL, NULL) == 0 && !strncmp(text, "max ", 4))
		n = strtoull(text + 4, NULL, 10);
	free(text);
	free(p);
	free(f);
	return n;
}

static void test_pids_limit(void **state)
{
	(void)state;
	struct error e = {0};
	struct rt_spec s = spec_of(ID("it-pids"));
	s.pids_limit = 32;
	create(&s);
	/* A fork bomb in the background of the exec's shell. ash gives up when
	 * fork fails, so the bomb collapses once it hits the limit. */
	free(sh_ok(ID("it-pids"),
		   "(b() { while true; do b & done; }; b) >/dev/null 2>&1 </dev/null &"));
	char *p = rt_cgroup_path(rt, "pids", ID("it-pids")), *f = xasprintf("%s/pids.current", p);
	/* Sampled for a second at least, and until it has hit the wall (on a
	 * loaded host the bomb may take longer to get there). */
	uint64_t peak = 0;
	int64_t t0 = mono_ns();
	for (int i = 0;
	     i < 50 || (pids_events_max(ID("it-pids")) == 0 && ms_since(t0) < LIVENESS_MS); i++) {
		uint64_t cur = 0;
		if (read_u64_file(f, &cur) == 0 && cur > peak)
			peak = cur;
		usleep(20 * 1000);
	}
	free(p);
	free(f);
	assert_true(peak <= 32);
	assert_true(pids_events_max(ID("it-pids")) > 0); /* it did hit the wall */
	assert_int_equal(state_of(ID("it-pids")), RT_RUNNING);
	must(rt_stop(rt, ID("it-pids"), 0, &e), &e, "stop");
	assert_int_equal(state_of(ID("it-pids")), RT_STOPPED);
	destroy(ID("it-pids"));
	assert_no_trace(ID("it-pids"));
}

struct par_arg {
	int n;
	int failures;
	char msg[600];
};

static void *par_worker(void *p)
{
	struct par_arg *a = p;
	for (int i = 0; i < 3; i++) {
		char id[32];
		snprintf(id, sizeof(id), "it-par-%d-%d-%d", a->n, i, net.slot);
		struct rt_spec s = spec_of(id);
		struct error e = {0};
		struct rt_exec_result r = {0};
		const char *argv[] = {"hostname", NULL};
		if (rt_create_start(rt, &s, &e) < 0 ||
		    rt_exec(rt, id, argv, NULL, 0, 10, 256, &r, &e) < 0 ||
		    strncmp(r.out, id, strlen(id)) || rt_delete(rt, id, &e) < 0) {
			a->failures++;
			snprintf(a->msg, sizeof(a->msg), "%s: %s", id, e.msg);
		}
		rt_exec_result_free(&r);
	}
	return NULL;
}

/* Operations on different containers run in parallel. */
static void test_parallel(void **state)
{
	(void)state;
	pthread_t th[4];
	struct par_arg args[4] = {{0}};
	for (int i = 0; i < 4; i++) {
		args[i].n = i;
		assert_int_equal(pthread_create(&th[i], NULL, par_worker, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		if (args[i].failures)
			fail_msg("worker %d: %s", i, args[i].msg);
	}
}

struct adopted {
	int n;
	char ids[8][RT_ID_MAX + 1];
	enum rt_state st[8];
};

static void on_adopt(const char *id, enum rt_state st, void *arg)
{
	struct adopted *a = arg;
	if (a->n < 8) {
		snprintf(a->ids[a->n], RT_ID_MAX + 1, "%s", id);
		a->st[a->n++] = st;
	}
}

static enum rt_state adopted_state(const struct adopted *a, const char *id)
{
	for (int i = 0; i < a->n; i++)
		if (!strcmp(a->ids[i], id))
			return a->st[i];
	return RT_ABSENT;
}

/* Creates a container from a child process that exits without stopping it,
 * as a daemon that dies would: its init is then not our child. */
static void create_in_orphaning_child(const char *id)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct error e = {0};
		struct runtime *crt;
		if (runtime_open(&cfg, &crt, &e) < 0)
			_exit(2);
		struct rt_spec s = spec_of(id);
		_exit(rt_create_start(crt, &s, &e) < 0 ? 3 : 0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_readopt_after_restart(void **state)
{
	(void)state;
	struct error e = {0};
	struct rt_spec a = spec_of(ID("it-adopt-a")), b = spec_of(ID("it-adopt-b"));
	create(&a);
	create(&b);
	must(rt_pause(rt, ID("it-adopt-b"), &e), &e, "pause");

	/* Daemon "restart" in the same process. */
	runtime_close(rt);
	/* A real restart: a previous daemon process started it and died. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
	create_in_orphaning_child(ID("it-adopt-c"));
	assert_int_equal(open_runtime(), 0);

	struct adopted got = {0};
	must(rt_adopt(rt, on_adopt, &got, &e), &e, "adopt");
	assert_true(got.n >= 3);
	assert_int_equal(adopted_state(&got, ID("it-adopt-a")), RT_RUNNING);
	assert_int_equal(adopted_state(&got, ID("it-adopt-b")), RT_PAUSED);
	assert_int_equal(adopted_state(&got, ID("it-adopt-c")), RT_RUNNING);

	/* Exits are still detected: our child (reaper) and not (pidfd). */
	pid_t pa, pc;
	must(rt_init_pid(rt, ID("it-adopt-a"), &pa, &e), &e, "pid a");
	must(rt_init_pid(rt, ID("it-adopt-c"), &pc, &e), &e, "pid c");
	kill(pa, SIGKILL);
	kill(pc, SIGKILL);
	assert_true(wait_exit_report(ID("it-adopt-a"), LIVENESS_MS));
	assert_true(wait_exit_report(ID("it-adopt-c"), LIVENESS_MS));
	must(rt_resume(rt, ID("it-adopt-b"), &e), &e, "resume adopted");
	expect_out(ID("it-adopt-b"), "echo alive", "alive\n");
	destroy(ID("it-adopt-a"));
	destroy(ID("it-adopt-b"));
	destroy(ID("it-adopt-c"));
	assert_no_trace(ID("it-adopt-c"));
}

static void test_nothing_left(void **state)
{
	(void)state;
	char **ids;
	size_t n;
	struct error e = {0};
	must(rt_list_ids(rt, &ids, &n, &e), &e, "list");
	assert_int_equal(n, 0);
	free(ids);
	assert_false(host_mounts_mention(state_dir));
	assert_int_equal(bridge_ports_soon(0), 0);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "runtime integration tests need root (hoody runs as root)\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_exec_env_hostname),
	    cmocka_unit_test(test_idempotent_and_errors),
	    cmocka_unit_test(test_ramdisk_survives_restart),
	    cmocka_unit_test(test_start_after_host_reboot),
	    cmocka_unit_test(test_pause_resume),
	    cmocka_unit_test(test_stop_graceful_and_forced),
	    cmocka_unit_test(test_unexpected_exit_reported),
	    cmocka_unit_test(test_term_at_every_point_of_start),
	    cmocka_unit_test(test_isolation),
	    cmocka_unit_test(test_security),
	    cmocka_unit_test(test_seccomp),
	    cmocka_unit_test(test_host_devices_and_network),
	    cmocka_unit_test(test_memory_limit),
	    cmocka_unit_test(test_pids_limit),
	    cmocka_unit_test(test_parallel),
	    cmocka_unit_test(test_readopt_after_restart),
	    cmocka_unit_test(test_nothing_left),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
