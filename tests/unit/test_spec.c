/* config.json generation (spec.c, seccomp.c): what every container gets, and
 * what a container spec changes. No host access: only JSON is checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/util.h"
#include "runtime/internal.h"

static struct runtime fake_rt = {
    .init_path = "/opt/hoody/bin/hoody-init", .nofile_max = 20000, .swap_limits = true};
static const struct spec_paths paths = {
    .cdir = "/var/lib/hoody/containers/c1",
    .netns_path = "/run/hoody/netns/c1",
    .ramdisk = "/run/hoody/ramdisk/c1",
};

static json_t *build(const struct rt_spec *spec, const struct spec_paths *p)
{
	struct error e = {0};
	char *text = spec_json_new(&fake_rt, spec, p, &e);
	if (!text)
		fail_msg("spec_json_new: %s", e.msg);
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	free(text);
	assert_non_null(root);
	return root;
}

static struct rt_spec base_spec(void)
{
	return (struct rt_spec){
	    .id = "c1", .hostname = "web-1", .image = "busybox", .ramdisk = true};
}

static bool array_has(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return true;
	}
	return false;
}

static json_t *find_mount(json_t *root, const char *dst)
{
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(root, "mounts"), i, m)
	{
		if (!strcmp(json_string_value(json_object_get(m, "destination")), dst))
			return m;
	}
	return NULL;
}

static json_t *linux_(json_t *root)
{
	return json_object_get(root, "linux");
}

static void test_basics(void **state)
{
	(void)state;
	struct rt_spec s = base_spec();
	json_t *root = build(&s, &paths);
	assert_string_equal(json_string_value(json_object_get(root, "ociVersion")), "1.0.2");
	assert_string_equal(json_string_value(json_object_get(root, "hostname")), "web-1");
	json_t *proc = json_object_get(root, "process");
	assert_true(json_is_true(json_object_get(proc, "noNewPrivileges")));
	json_t *args = json_object_get(proc, "args");
	assert_int_equal(json_array_size(args), 1);
	assert_string_equal(json_string_value(json_array_get(args, 0)), "/.hoody/init");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(root, "root"), "path")), "rootfs");
	assert_string_equal(json_string_value(json_object_get(linux_(root), "cgroupsPath")),
			    "/hoody/c1");
	/* hoody-init is bound read-only from the host. */
	json_t *init = find_mount(root, "/.hoody/init");
	assert_non_null(init);
	assert_string_equal(json_string_value(json_object_get(init, "source")),
			    "/opt/hoody/bin/hoody-init");
	assert_true(array_has(json_object_get(init, "options"), "ro"));
	json_t *hosts = find_mount(root, "/etc/hosts");
	assert_non_null(hosts);
	assert_string_equal(json_string_value(json_object_get(hosts, "source")),
			    "/var/lib/hoody/containers/c1/hosts");
	assert_non_null(find_mount(root, "/etc/hostname"));
	assert_non_null(find_mount(root, "/etc/resolv.conf"));
	assert_true(array_has(json_object_get(find_mount(root, "/sys"), "options"), "ro"));
	json_decref(root);
}

static void test_namespaces(void **state)
{
	(void)state;
	struct rt_spec s = base_spec();
	json_t *root = build(&s, &paths);
	const char *want[] = {"pid", "mount", "uts", "ipc", "cgroup", "network"};
	json_t *ns = json_object_get(linux_(root), "namespaces");
	assert_int_equal(json_array_size(ns), ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		size_t j;
		json_t *n;
		bool found = false;
		json_array_foreach(ns, j, n)
		{
			if (strcmp(json_string_value(json_object_get(n, "type")), want[i]))
				continue;
			found = true;
			json_t *path = json_object_get(n, "path");
			if (!strcmp(want[i], "network"))
				assert_string_equal(json_string_value(path), "/run/hoody/netns/c1");
			else
				assert_null(path);
		}
		assert_true(found);
	}
	/* No user namespace: that would need an id-mapped rootfs. */
	json_decref(root);
}

static void test_capabilities(void **state)
{
	(void)state;
	struct rt_spec s = base_spec();
	json_t *root = build(&s, &paths);
	json_t *caps = json_object_get(json_object_get(root, "process"), "capabilities");
	const char *sets[] = {"bounding", "effective", "permitted"};
	for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
		json_t *set = json_object_get(caps, sets[i]);
		assert_int_equal(json_array_size(set), 13); /* Docker's 14 minus NET_RAW */
		assert_true(array_has(set, "CAP_CHOWN"));
		assert_true(array_has(set, "CAP_NET_BIND_SERVICE"));
		assert_false(array_has(set, "CAP_SYS_ADMIN"));
		assert_false(array_has(set, "CAP_SYS_MODULE"));
		assert_false(array_has(set, "CAP_SYS_PTRACE"));
		assert_false(array_has(set, "CAP_NET_ADMIN"));
		assert_false(array_has(set, "CAP_NET_RAW"));
	}
	assert_null(json_object_get(caps, "inheritable"));
	assert_null(json_object_get(caps, "ambient"));
	json_decref(root);
}

static void test_env(void **state)
{
	(void)state;
	struct rt_env env[] = {{"FOO", "bar baz"}, {"TERM", "dumb"}, {"EMPTY", ""}};
	struct rt_spec s = base_spec();
	s.env = env;
	s.env_count = ARRAY_SIZE(env);
	json_t *root = build(&s, &paths);
	json_t *e = json_object_get(json_object_get(root, "process"), "env");
	assert_true(
	    array_has(e, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
	assert_true(array_has(e, "HOSTNAME=web-1"));
	assert_true(array_has(e, "HOME=/root"));
	assert_true(array_has(e, "FOO=bar baz"));
	assert_true(array_has(e, "EMPTY="));
	/* The user's value replaces ours instead of duplicating the key. */
	assert_true(array_has(e, "TERM=dumb"));
	assert_false(array_has(e, "TERM=xterm"));
	assert_int_equal(json_array_size(e), 6);
	json_decref(root);
}

static void test_bad_input_rejected(void **state)
{
	(void)state;
	struct error e = {0};
	struct rt_env bad_key[] = {{"A=B", "x"}};
	struct rt_spec s = base_spec();
	s.env = bad_key;
	s.env_count = 1;
	assert_null(spec_json_new(&fake_rt, &s, &paths, &e));
	assert_int_equal(e.code, E_INVALID_ENV_KEY);

	struct rt_env not_utf8[] = {{"K", "\xff\xfe"}};
	s.env = not_utf8;
	assert_null(spec_json_new(&fake_rt, &s, &paths, &e));
	assert_int_equal(e.code, E_VALIDATION);

	s = base_spec();
	s.id = "../../etc";
	assert_null(spec_json_new(&fake_rt, &s, &paths, &e));
	assert_int_equal(e.code, E_INVALID_ID);

	s = base_spec();
	s.hostname = "";
	assert_null(spec_json_new(&fake_rt, &s, &paths, &e));
	assert_int_equal(e.code, E_INVALID_CONTAINER_NAME);
	/* It ends up in /etc/hosts: no line breaks or spaces. */
	s.hostname = "web\n10.0.0.1 evil";
	assert_null(spec_json_new(&fake_rt, &s, &paths, &e));
	assert_int_equal(e.code, E_INVALID_CONTAINER_NAME);
}

static void test_long_name_cut_to_hostname_limit(void **state)
{
	(void)state;
	char name[101];
	memset(name, 'a', 100);
	name[100] = '\0';
	struct rt_spec s = base_spec();
	s.hostname = name;
	json_t *root = build(&s, &paths);
	const char *h = json_string_value(json_object_get(root, "hostname"));
	assert_int_equal(strlen(h), RT_HOSTNAME_MAX);
	char want[RT_HOSTNAME_MAX + 16];
	snprintf(want, sizeof(want), "HOSTNAME=%s", h);
	assert_true(array_has(json_object_get(json_object_get(root, "process"), "env"), want));
	json_decref(root);
}

static void test_limits(void **state)
{
	(void)state;
	struct rt_spec s = base_spec();
	json_t *root = build(&s, &paths);
	json_t *res = json_object_get(linux_(root), "resources");
	assert_null(json_object_get(res, "memory"));
	assert_null(json_object_get(res, "cpu"));
	assert_null(json_object_get(res, "pids"));
	json_decref(root);

	s.memory_limit = 256ULL << 20;
	s.cpu_millis = 1500;
	s.pids_limit = 512;
	root = build(&s, &paths);
	res = json_object_get(linux_(root), "resources");
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(res, "memory"), "limit")),
	    256LL << 20);
	json_t *cpu = json_object_get(res, "cpu");
	assert_int_equal(json_integer_value(json_object_get(cpu, "quota")), 150000);
	assert_int_equal(json_integer_value(json_object_get(cpu, "period")), 100000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")),
			 512);
	json_decref(root);
}

static json_int_t res_int(json_t *root, const char *group, const char *key)
{
	json_t *res = json_object_get(linux_(root), "resources");
	return json_integer_value(json_object_get(json_object_get(res, group), key));
}

static const char *mount_opt(json_t *root, const char *dst, const char *prefix)
{
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(find_mount(root, dst), "options"), i, o)
	{
		if (!strncmp(json_string_value(o), prefix, strlen(prefix)))
			return json_string_value(o);
	}
	return NULL;
}

/* memory+swap, CPU weight, open files and /dev/shm follow the spec; the
 * block I/O weight only where the host has one (crun fails otherwise). */
static void test_all_limits(void **state)
{
	(void)state;
	struct rt_spec s = base_spec();
	s.memory_limit = 64ULL << 20;
	s.swap_limit = 16ULL << 20;
	s.cpu_shares = 512;
	s.blkio_weight = 300;
	s.nofile = 4096;
	s.shm_bytes = 8ULL << 20;
	json_t *root = build(&s, &paths);
	assert_int_equal(res_int(root, "memory", "swap"), 80LL << 20);
	assert_int_equal(res_int(root, "cpu", "shares"), 512);
	assert_null(json_object_get(json_object_get(linux_(root), "resources"), "blockIO"));
	assert_string_equal(mount_opt(root, "/dev/shm", "size="), "size=8388608");
	json_t *rl =
	    json_array_get(json_object_get(json_object_get(root, "process"), "rlimits"), 0);
	assert_int_equal(json_integer_value(json_object_get(rl, "hard")), 4096);
	assert_int_equal(json_integer_value(json_object_get(rl, "soft")), 1024);
	json_decref(root);

	/* Above our own hard limit: clamped; weights clamped to their range. */
	fake_rt.io_weight = true;
	fake_rt.swap_limits = false;
	s.nofile = 1000000;
	s.blkio_weight = 5000;
	s.cpu_shares = 1;
	root = build(&s, &paths);
	assert_int_equal(res_int(root, "blockIO", "weight"), 1000);
	assert_int_equal(res_int(root, "cpu", "shares"), 2);
	assert_null(json_object_get(
	    json_object_get(json_object_get(linux_(root), "resources"), "memory"), "swap"));
	rl = json_array_get(json_object_get(json_object_get(root, "process"), "rlimits"), 0);
	assert_int_equal(json_integer_value(json_object_get(rl, "hard")), 20000);
	json_decref(root);
	fake_rt.io_weight = false;
	fake_rt.swap_limits = true;
}

/* What crun (1.8.1, src/libcrun/cgroup-resources.c) makes of
 * linux.resources on a cgroup v2 host: the file each key lands in and the
 * text written there. Keys crun refuses on v2 (kernel, kernelTCP,
 * swappiness, disableOOMKiller, useHierarchy, leafWeight, realtime*) and
 * keys it does not know are outside the model: emitting one fails here
 * before it fails a start on a v2 host. */
#define V2_FILES_MAX 8
struct v2_file {
	char name[24];
	char value[48];
};

static const char *const v2_keys[][4] = {
    {"memory", "limit", "swap", NULL}, {"cpu", "shares", "quota", "period"},
    {"pids", "limit", NULL, NULL},     {"blockIO", "weight", NULL, NULL},
    {"devices", NULL, NULL, NULL}, /* v2: an eBPF program, no file */
};

static void v2_check_keys(json_t *res)
{
	const char *section, *key;
	json_t *v, *sub;
	json_object_foreach(res, section, v)
	{
		size_t i = 0;
		while (i < ARRAY_SIZE(v2_keys) && strcmp(v2_keys[i][0], section))
			i++;
		if (i == ARRAY_SIZE(v2_keys))
			fail_msg("crun cannot map linux.resources.%s on cgroup v2", section);
		if (!json_is_object(v))
			continue;
		json_object_foreach(v, key, sub)
		{
			bool known = false;
			for (size_t k = 1; k < 4 && v2_keys[i][k]; k++)
				known |= !strcmp(v2_keys[i][k], key);
			if (!known)
				fail_msg("crun cannot map linux.resources.%s.%s on cgroup v2",
					 section, key);
		}
	}
}

static void v2_put(struct v2_file *out, size_t *n, const char *name, json_int_t v)
{
	assert_true(*n < V2_FILES_MAX);
	snprintf(out[*n].name, sizeof(out[*n].name), "%s", name);
	snprintf(out[(*n)++].value, sizeof(out[0].value), "%lld", (long long)v);
}

static size_t crun_v2_files(json_t *root, bool bfq, struct v2_file *out)
{
	json_t *res = json_object_get(linux_(root), "resources");
	v2_check_keys(res);
	size_t n = 0;
	json_t *mem = json_object_get(res, "memory"), *cpu = json_object_get(res, "cpu");
	json_int_t limit = json_integer_value(json_object_get(mem, "limit"));
	if (limit)
		v2_put(out, &n, "memory.max", limit);
	if (json_object_get(mem, "swap")) {
		/* OCI's swap is memory+swap (v1 memsw); v2's file is swap alone. */
		json_int_t swap = json_integer_value(json_object_get(mem, "swap"));
		assert_true(limit > 0 && swap >= limit); /* crun's errors otherwise */
		v2_put(out, &n, "memory.swap.max", swap - limit);
	}
	json_int_t shares = json_integer_value(json_object_get(cpu, "shares"));
	if (shares)
		v2_put(out, &n, "cpu.weight", 1 + ((shares - 2) * 9999) / 262142);
	json_int_t quota = json_integer_value(json_object_get(cpu, "quota"));
	json_int_t period = json_integer_value(json_object_get(cpu, "period"));
	if (quota) {
		assert_true(n < V2_FILES_MAX);
		snprintf(out[n].name, sizeof(out[n].name), "cpu.max");
		snprintf(out[n++].value, sizeof(out[0].value), "%lld %lld", (long long)quota,
			 (long long)(period ? period : 100000));
	}
	json_int_t pids =
	    json_integer_value(json_object_get(json_object_get(res, "pids"), "limit"));
	if (pids)
		v2_put(out, &n, "pids.max", pids);
	json_int_t w =
	    json_integer_value(json_object_get(json_object_get(res, "blockIO"), "weight"));
	if (w && bfq)
		v2_put(out, &n, "io.bfq.weight", w);
	else if (w)
		v2_put(out, &n, "io.weight", 1 + (w - 10) * 9999 / 990);
	return n;
}

static const char *v2_value(const struct v2_file *files, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(files[i].name, name))
			return files[i].value;
	return NULL;
}

/* The defaults (docs/SECURITY.md) on a v2 host with swap accounting and
 * I/O weights: every limit lands in its v2 file with v2's meaning; hoodyd
 * needs no linux.resources.unified for any of them. */
static void test_v2_resources(void **state)
{
	(void)state;
	fake_rt.io_weight = true;
	fake_rt.cgroup_v2 = true;
	struct rt_spec s = base_spec();
	s.memory_limit = 1ULL << 30;
	s.cpu_millis = 1000;
	s.cpu_shares = 1024;
	s.pids_limit = 512;
	s.blkio_weight = 500;
	json_t *root = build(&s, &paths);
	assert_null(json_object_get(json_object_get(linux_(root), "resources"), "unified"));
	struct v2_file f[V2_FILES_MAX];
	size_t n = crun_v2_files(root, false, f);
	assert_int_equal(n, 6);
	assert_string_equal(v2_value(f, n, "memory.max"), "1073741824");
	assert_string_equal(v2_value(f, n, "memory.swap.max"), "0"); /* no swap, as memsw=mem */
	assert_string_equal(v2_value(f, n, "cpu.max"), "100000 100000");
	assert_string_equal(v2_value(f, n, "cpu.weight"),
			    "39"); /* the kernel's 100 is 2597 shares */
	assert_string_equal(v2_value(f, n, "pids.max"), "512");
	assert_string_equal(v2_value(f, n, "io.weight"), "4950");
	n = crun_v2_files(root, true, f);
	assert_string_equal(v2_value(f, n, "io.bfq.weight"), "500");
	json_decref(root);

	/* 256 MiB of swap: OCI (and v1 memsw) say 1.25 GiB, v2 says 256 MiB. */
	s.swap_limit = 256ULL << 20;
	s.cpu_millis = 250;
	root = build(&s, &paths);
	n = crun_v2_files(root, false, f);
	assert_int_equal(res_int(root, "memory", "swap"), (1LL << 30) + (256LL << 20));
	assert_string_equal(v2_value(f, n, "memory.swap.max"), "268435456");
	assert_string_equal(v2_value(f, n, "cpu.max"), "25000 100000");
	json_decref(root);

	/* No limits at all: nothing but the device rules. */
	struct rt_spec bare = base_spec();
	root = build(&bare, &paths);
	assert_int_equal(crun_v2_files(root, false, f), 0);
	json_decref(root);
	fake_rt.io_weight = false;
	fake_rt.cgroup_v2 = false;
}

static void test_rlimits_under_host_hard_limit(void **state)
{
	(void)state;
	struct rt_spec s = base_spec();
	json_t *root = build(&s, &paths);
	json_t *rl = json_object_get(json_object_get(root, "process"), "rlimits");
	assert_true(json_array_size(rl) >= 1);
	size_t i;
	json_t *r;
	bool nofile = false;
	json_array_foreach(rl, i, r)
	{
		json_int_t soft = json_integer_value(json_object_get(r, "soft"));
		json_int_t hard = json_integer_value(json_object_get(r, "hard"));
		assert_true(soft <= hard);
		assert_true(hard < 20000); /* the host's hard RLIMIT_NOFILE */
		nofile |= !strcmp(json_string_value(json_object_get(r, "type")), "RLIMIT_NOFILE");
	}
	assert_true(nofile);
	json_decref(root);
}

static void test_ramdisk_mount(void **state)
{
	(void)state;
	struct rt_spec s = base_spec();
	json_t *root = build(&s, &paths);
	json_t *m = find_mount(root, "/ramdisk");
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "source")),
			    "/run/hoody/ramdisk/c1");
	assert_true(array_has(json_object_get(m, "options"), "nodev"));
	json_decref(root);

	s.ramdisk = false;
	struct spec_paths p = paths;
	p.ramdisk = NULL;
	root = build(&s, &p);
	assert_null(find_mount(root, "/ramdisk"));
	json_decref(root);
}

static void test_masked_and_readonly_paths(void **state)
{
	(void)state;
	struct rt_spec s = base_spec();
	json_t *root = build(&s, &paths);
	json_t *masked = json_object_get(linux_(root), "maskedPaths");
	json_t *ro = json_object_get(linux_(root), "readonlyPaths");
	assert_true(array_has(masked, "/proc/kcore"));
	assert_true(array_has(masked, "/proc/keys"));
	assert_true(array_has(masked, "/sys/firmware"));
	assert_true(array_has(ro, "/proc/sys"));
	assert_true(array_has(ro, "/proc/sysrq-trigger"));
	json_decref(root);
}

static bool seccomp_denies(json_t *sc, const char *name)
{
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(sc, "syscalls"), i, r)
	{
		if (array_has(json_object_get(r, "names"), name) && !json_object_get(r, "args") &&
		    !strcmp(json_string_value(json_object_get(r, "action")), "SCMP_ACT_ERRNO"))
			return true;
	}
	return false;
}

static void test_seccomp(void **state)
{
	(void)state;
	struct rt_spec s = base_spec();
	json_t *root = build(&s, &paths);
	json_t *sc = json_object_get(linux_(root), "seccomp");
	assert_non_null(sc);
	assert_string_equal(json_string_value(json_object_get(sc, "defaultAction")),
			    "SCMP_ACT_ALLOW");
	const char *denied[] = {"mount",       "umount2",      "pivot_root",	    "kexec_load",
				"init_module", "finit_module", "delete_module",	    "reboot",
				"bpf",	       "keyctl",       "open_by_handle_at", "setns",
				"unshare",     "ptrace",       "userfaultfd",	    "fsopen",
				"move_mount"};
	for (size_t i = 0; i < ARRAY_SIZE(denied); i++)
		assert_true(seccomp_denies(sc, denied[i]));
	assert_false(seccomp_denies(sc, "read"));
	assert_false(seccomp_denies(sc, "clone")); /* only with namespace flags */
	json_decref(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basics),
	    cmocka_unit_test(test_namespaces),
	    cmocka_unit_test(test_capabilities),
	    cmocka_unit_test(test_env),
	    cmocka_unit_test(test_bad_input_rejected),
	    cmocka_unit_test(test_long_name_cut_to_hostname_limit),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_rlimits_under_host_hard_limit),
	    cmocka_unit_test(test_all_limits),
	    cmocka_unit_test(test_v2_resources),
	    cmocka_unit_test(test_ramdisk_mount),
	    cmocka_unit_test(test_masked_and_readonly_paths),
	    cmocka_unit_test(test_seccomp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
