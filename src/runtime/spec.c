/* config.json: the OCI runtime spec (1.0.2) of a container, built with
 * jansson and written once per start. The choices mirror Docker/Podman's
 * defaults for an unprivileged container: the same capabilities, masked and
 * read-only /proc paths, and a seccomp profile (seccomp.c). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "runtime/internal.h"

#define SPEC_ENV_MAX 1024
#define SPEC_ENV_KEY_MAX 256
/* The platform caps values at 65536 characters and 127 KiB; one KEY=value
 * string of a process must stay under MAX_ARG_STRLEN (128 KiB). */
#define SPEC_ENV_VALUE_MAX (127 * 1024)
/* execve() refuses more than ARG_MAX (2 MiB here) of argv + env; exec passes
 * this env again as arguments, so keep well below. */
#define SPEC_ENV_TOTAL_MAX (1024 * 1024)
#define CPU_PERIOD_US 100000
#define CPU_QUOTA_MIN_US 1000
#define CPU_SHARES_MIN 2
#define CPU_SHARES_MAX 262144
#define BLKIO_WEIGHT_MIN 10
#define BLKIO_WEIGHT_MAX 1000
#define NOFILE_DEFAULT 16384
#define NOFILE_SOFT 1024
#define NOFILE_MIN 64
#define SHM_DEFAULT (64ULL << 20)
/* What a container name may hold (the API allows [A-Za-z0-9_-]; dots are
 * harmless in a hostname). */
#define HOSTNAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."

/* Docker's default capability set (no SYS_ADMIN, SYS_MODULE, SYS_PTRACE...)
 * without NET_RAW: no raw or packet sockets, so no forged frames (ARP,
 * router advertisements) from inside; ping works without it through ICMP
 * datagram sockets (ping_group_range, set on the namespace in netns.c). */
static const char *const caps[] = {
    "CAP_CHOWN",      "CAP_DAC_OVERRIDE", "CAP_FSETID",	    "CAP_FOWNER",  "CAP_MKNOD",
    "CAP_SETGID",     "CAP_SETUID",	  "CAP_SETFCAP",    "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL",	  "CAP_AUDIT_WRITE"};

/* clang-format off */
static const char *const masked_paths[] = {
	"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", "/sys/devices/virtual/powercap",
};
/* clang-format on */

static const char *const readonly_paths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
					     "/proc/sysrq-trigger"};

static const char *const base_env[][2] = {
    {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
    {"TERM", "xterm"},
    {"HOME", "/root"}};

static json_t *str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static bool env_key_valid(const char *k)
{
	size_t n = strlen(k);
	return n > 0 && n <= SPEC_ENV_KEY_MAX && !strchr(k, '=');
}

/* Later keys replace earlier ones: execve would otherwise keep duplicates and
 * getenv() would see the first (ours), not the user's. */
static bool env_put(json_t *obj, json_t *order, const char *k, const char *v)
{
	json_t *key = json_string(k), *val = json_string(v); /* NULL unless UTF-8 */
	bool ok = key && val;
	if (ok && !json_object_get(obj, k))
		json_array_append(order, key);
	if (ok)
		json_object_set(obj, k, val);
	json_decref(key);
	json_decref(val);
	return ok;
}

static int build_env(const struct rt_spec *spec, const char *hostname, json_t **out,
		     struct error *err)
{
	if (spec->env_count > SPEC_ENV_MAX)
		return err_set(err, E_VALIDATION, "too many environment variables");
	json_t *obj = json_object(), *order = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(base_env); i++)
		env_put(obj, order, base_env[i][0], base_env[i][1]);
	env_put(obj, order, "HOSTNAME", hostname);
	int rc = 0;
	size_t total = 0;
	for (size_t i = 0; i < spec->env_count && rc == 0; i++) {
		const struct rt_env *e = &spec->env[i];
		const char *v = e->value ? e->value : "";
		if (e->key)
			total += strlen(e->key) + strlen(v) + 2;
		if (!e->key || !env_key_valid(e->key))
			rc = err_set(err, E_INVALID_ENV_KEY, "invalid environment variable name");
		else if (total > SPEC_ENV_TOTAL_MAX)
			rc = err_set(err, E_VALIDATION, "environment too large");
		else if (strlen(v) > SPEC_ENV_VALUE_MAX)
			rc = err_set(err, E_VALIDATION, "environment value of %s is too long",
				     e->key);
		else if (!env_put(obj, order, e->key, v))
			rc = err_set(err, E_VALIDATION, "environment variable %s is not UTF-8",
				     e->key);
	}
	if (rc < 0) {
		json_decref(obj);
		json_decref(order);
		return rc;
	}
	json_t *env = json_array();
	size_t i;
	json_t *k;
	json_array_foreach(order, i, k)
	{
		const char *key = json_string_value(k);
		char *kv = xasprintf("%s=%s", key, json_string_value(json_object_get(obj, key)));
		json_array_append_new(env, json_string(kv));
		free(kv);
	}
	json_decref(obj);
	json_decref(order);
	*out = env;
	return 0;
}

/* crun fails if asked for more than its own hard limit (20000 on our
 * hosts), so the runtime clamps to ours. */
static json_t *rlimits(struct runtime *rt, const struct rt_spec *spec)
{
	uint64_t hard = spec->nofile ? spec->nofile : NOFILE_DEFAULT;
	if (hard > rt->nofile_max)
		hard = rt->nofile_max;
	if (hard < NOFILE_MIN)
		hard = NOFILE_MIN;
	uint64_t soft = hard < NOFILE_SOFT ? hard : NOFILE_SOFT;
	return json_pack("[{s:s, s:I, s:I}]", "type", "RLIMIT_NOFILE", "soft", (json_int_t)soft,
			 "hard", (json_int_t)hard);
}

static json_t *process(struct runtime *rt, const struct rt_spec *spec, json_t *env)
{
	size_t ncaps = ARRAY_SIZE(caps);
	return json_pack("{s:b, s:{s:i, s:i}, s:[s], s:o, s:s, s:{s:o, s:o, s:o}, s:o, s:b}",
			 "terminal", 0, "user", "uid", 0, "gid", 0, "args", "/.hoody/init", "env",
			 env, "cwd", "/", "capabilities", "bounding", str_array(caps, ncaps),
			 "effective", str_array(caps, ncaps), "permitted", str_array(caps, ncaps),
			 "rlimits", rlimits(rt, spec), "noNewPrivileges", 1);
}

static json_t *mount(const char *dst, const char *type, const char *src, json_t *options)
{
	return json_pack("{s:s, s:s, s:s, s:o}", "destination", dst, "type", type, "source", src,
			 "options", options);
}

static json_t *bind(const char *dst, const char *src, const char *mode)
{
	return mount(dst, "bind", src,
		     json_pack("[s, s, s, s]", "rbind", "rprivate", "nosuid", mode));
}

/* "size=<bytes>" of a tmpfs. */
static json_t *size_opt(uint64_t bytes)
{
	char opt[40];
	snprintf(opt, sizeof(opt), "size=%llu", (unsigned long long)bytes);
	return json_string(opt);
}

static json_t *mounts(struct runtime *rt, const struct rt_spec *spec, const struct spec_paths *p)
{
	_cleanup_free_ char *hosts = xasprintf("%s/hosts", p->cdir);
	_cleanup_free_ char *hostname = xasprintf("%s/hostname", p->cdir);
	_cleanup_free_ char *resolv = xasprintf("%s/resolv.conf", p->cdir);
	json_t *m = json_array();
	json_array_append_new(
	    m, mount("/proc", "proc", "proc", json_pack("[s, s, s]", "nosuid", "noexec", "nodev")));
	json_array_append_new(m, mount("/dev", "tmpfs", "tmpfs",
				       json_pack("[s, s, s, s]", "nosuid", "strictatime",
						 "mode=755", "size=65536k")));
	json_array_append_new(
	    m, mount("/dev/pts", "devpts", "devpts",
		     json_pack("[s, s, s, s, s, s]", "nosuid", "noexec", "newinstance",
			       "ptmxmode=0666", "mode=0620", "gid=5")));
	/* Like /ramdisk, its pages are charged to the writer's memory cgroup. */
	json_array_append_new(
	    m, mount("/dev/shm", "tmpfs", "shm",
		     json_pack("[s, s, s, s, o]", "nosuid", "noexec", "nodev", "mode=1777",
			       size_opt(spec->shm_bytes ? spec->shm_bytes : SHM_DEFAULT))));
	json_array_append_new(m, mount("/dev/mqueue", "mqueue", "mqueue",
				       json_pack("[s, s, s]", "nosuid", "noexec", "nodev")));
	json_array_append_new(m,
			      mount("/sys", "sysfs", "sysfs",
				    json_pack("[s, s, s, s]", "nosuid", "noexec", "nodev", "ro")));
	json_array_append_new(
	    m, mount("/sys/fs/cgroup", "cgroup", "cgroup",
		     json_pack("[s, s, s, s, s]", "nosuid", "noexec", "nodev", "relatime", "ro")));
	json_array_append_new(m, bind("/etc/hosts", hosts, "rw"));
	json_array_append_new(m, bind("/etc/hostname", hostname, "rw"));
	json_array_append_new(m, bind("/etc/resolv.conf", resolv, "rw"));
	json_array_append_new(m, bind("/.hoody/init", rt->init_path, "ro"));
	/* hoody-init supervises /.hoody/kit when it exists; the agent listens
	 * only on a socket in kit.d, a host directory no other container sees. */
	if (p->kit_dir) {
		json_array_append_new(m, bind("/.hoody/kit", rt->kit_path, "ro"));
		json_t *d = bind("/.hoody/kit.d", p->kit_dir, "rw");
		json_array_append_new(json_object_get(d, "options"), json_string("nodev"));
		json_array_append_new(m, d);
	}
	if (p->ramdisk) {
		json_t *r = bind("/ramdisk", p->ramdisk, "rw");
		json_array_append_new(json_object_get(r, "options"), json_string("nodev"));
		json_array_append_new(m, r);
	}
	return m;
}

static json_t *namespaces(const struct spec_paths *p)
{
	json_t *ns = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid", "type",
			       "mount", "type", "uts", "type", "ipc", "type", "cgroup");
	json_t *net = json_pack("{s:s}", "type", "network");
	if (p->netns_path)
		json_object_set_new(net, "path", json_string(p->netns_path));
	json_array_append_new(ns, net);
	if (p->idmap_base)
		json_array_append_new(ns, json_pack("{s:s}", "type", "user"));
	return ns;
}

/* Container ids 0..65535 are host ids base.. (idmap.c). */
static json_t *id_mappings(uint32_t base)
{
	return json_pack("[{s:i, s:I, s:I}]", "containerID", 0, "hostID", (json_int_t)base, "size",
			 (json_int_t)IDMAP_RANGE);
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* memory.limit and memory+swap ("swap" in OCI is the sum). */
static json_t *memory_json(const struct rt_spec *spec)
{
	json_t *m = json_pack("{s:I}", "limit", (json_int_t)spec->memory_limit);
	json_object_set_new(m, "swap",
			    json_integer((json_int_t)(spec->memory_limit + spec->swap_limit)));
	return m;
}

static json_t *cpu_json(const struct rt_spec *spec)
{
	json_t *c = json_object();
	if (spec->cpu_millis) {
		uint64_t quota = spec->cpu_millis * CPU_PERIOD_US / 1000;
		json_object_set_new(
		    c, "quota",
		    json_integer((json_int_t)clamp(quota, CPU_QUOTA_MIN_US, INT64_MAX)));
		json_object_set_new(c, "period", json_integer(CPU_PERIOD_US));
	}
	if (spec->cpu_shares)
		json_object_set_new(c, "shares",
				    json_integer((json_int_t)clamp(spec->cpu_shares, CPU_SHARES_MIN,
								   CPU_SHARES_MAX)));
	return c;
}

/* linux.resources: crun writes them to cgroup v1 files or translates them
 * to v2 (shares -> cpu.weight, blkio weight -> io.weight). */
static json_t *resources(struct runtime *rt, const struct rt_spec *spec)
{
	json_t *r = json_pack("{s:[{s:b, s:s}]}", "devices", "allow", 0, "access", "rwm");
	if (spec->memory_limit) {
		json_t *m = memory_json(spec);
		if (!rt->swap_limits)
			json_object_del(m, "swap");
		json_object_set_new(r, "memory", m);
	}
	if (spec->cpu_millis || spec->cpu_shares)
		json_object_set_new(r, "cpu", cpu_json(spec));
	if (spec->pids_limit)
		json_object_set_new(r, "pids",
				    json_pack("{s:I}", "limit", (json_int_t)spec->pids_limit));
	/* Without BFQ there is no weight file and crun would fail the start. */
	if (spec->blkio_weight && rt->io_weight)
		json_object_set_new(
		    r, "blockIO",
		    json_pack("{s:i}", "weight",
			      (int)clamp(spec->blkio_weight, BLKIO_WEIGHT_MIN, BLKIO_WEIGHT_MAX)));
	return r;
}

static json_t *linux_section(struct runtime *rt, const struct rt_spec *spec,
			     const struct spec_paths *p)
{
	_cleanup_free_ char *cgpath = xasprintf("/hoody/%s", spec->id);
	json_t *l =
	    json_pack("{s:o, s:s, s:o, s:o, s:o, s:o}", "namespaces", namespaces(p), "cgroupsPath",
		      cgpath, "resources", resources(rt, spec), "maskedPaths",
		      str_array(masked_paths, ARRAY_SIZE(masked_paths)), "readonlyPaths",
		      str_array(readonly_paths, ARRAY_SIZE(readonly_paths)), "seccomp",
		      seccomp_profile_new());
	if (l && p->idmap_base) {
		json_object_set_new(l, "uidMappings", id_mappings(p->idmap_base));
		json_object_set_new(l, "gidMappings", id_mappings(p->idmap_base));
	}
	return l;
}

int spec_validate(const struct rt_spec *spec, char hostname[RT_HOSTNAME_MAX + 1], struct error *err)
{
	if (rt_check_id(spec->id, err) < 0)
		return -1;
	const char *name = spec->hostname;
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len > 255 || strspn(name, HOSTNAME_CHARS) != len)
		return err_set(err, E_INVALID_CONTAINER_NAME, "invalid container name");
	if (!spec->image || !*spec->image)
		return err_set(err, E_VALIDATION, "no image given");
	/* Names may be longer than the kernel's hostname limit: cut them. */
	snprintf(hostname, RT_HOSTNAME_MAX + 1, "%.*s", RT_HOSTNAME_MAX, name);
	json_t *env = NULL;
	if (build_env(spec, hostname, &env, err) < 0)
		return -1;
	json_decref(env);
	return 0;
}

char *spec_json_new(struct runtime *rt, const struct rt_spec *spec, const struct spec_paths *p,
		    struct error *err)
{
	char hostname[RT_HOSTNAME_MAX + 1];
	json_t *env = NULL;
	if (spec_validate(spec, hostname, err) < 0 || build_env(spec, hostname, &env, err) < 0)
		return NULL;
	json_t *root =
	    json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.0.2", "process",
		      process(rt, spec, env), "root", "path", "rootfs", "readonly", 0, "hostname",
		      hostname, "mounts", mounts(rt, spec, p), "linux", linux_section(rt, spec, p));
	if (!root) {
		err_set(err, E_INTERNAL, "cannot build config.json");
		return NULL;
	}
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!text)
		err_set(err, E_INTERNAL, "cannot serialise config.json");
	return text;
}
