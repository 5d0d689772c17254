/* Where the host's cgroups are and how their files read. Every cgroupfs
 * path of the runtime is made here, under rt->cgroup_root (/sys/fs/cgroup;
 * unit tests point it at a fake tree), in one of two layouts:
 *
 *   v1: one hierarchy per controller, <root>/<controller>/hoody/<id>
 *   v2: one unified hierarchy, <root>/hoody/<id>; told apart by
 *       <root>/cgroup.controllers, which only the root of a cgroup2 mount
 *       has (a hybrid host's cgroup2 at <root>/unified does not count: its
 *       controllers are the v1 hierarchies').
 *
 * crun's cgroupsPath is "/hoody/<id>" in both, under its own fixed
 * /sys/fs/cgroup. crun writes a container's limits (spec.c); hoodyd reads
 * them back, reads the counters, freezes and thaws, and writes the parent's
 * limits (limits.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

#define CGROUP_ROOT_DEFAULT "/sys/fs/cgroup"
#define KEYED_FILE_MAX 8192
#define STATE_MAX 32
#define PROCS_FILE_MAX (1 << 20)
#define PROCS_DEPTH_MAX 8
#define PROC_STATUS_MAX 16384
#define CAP_SYS_RESOURCE_BIT 24 /* linux/capability.h */

void cgroup_init(struct runtime *rt, const char *root)
{
	free(rt->cgroup_root);
	rt->cgroup_root = xstrdup(root && *root ? root : CGROUP_ROOT_DEFAULT);
	_cleanup_free_ char *probe = cgroup_root_file(rt, "cgroup.controllers");
	rt->cgroup_v2 = path_exists(probe);
}

char *cgroup_root_file(struct runtime *rt, const char *file)
{
	return xasprintf("%s/%s", rt->cgroup_root, file);
}

char *cgroup_parent_path(struct runtime *rt, const char *controller)
{
	return rt->cgroup_v2 ? xasprintf("%s/hoody", rt->cgroup_root)
			     : xasprintf("%s/%s/hoody", rt->cgroup_root, controller);
}

char *rt_cgroup_path(struct runtime *rt, const char *controller, const char *id)
{
	_cleanup_free_ char *parent = cgroup_parent_path(rt, controller);
	return xasprintf("%s/%s", parent, id);
}

static char *cg_file(struct runtime *rt, const char *controller, const char *id, const char *file)
{
	_cleanup_free_ char *dir = rt_cgroup_path(rt, controller, id);
	return xasprintf("%s/%s", dir, file);
}

/* v1 names the cgroup once per hierarchy ("4:memory:/hoody/<id>"), v2 once
 * ("0::/hoody/<id>"); either ends a line with ":/hoody/<id>". */
bool cgroup_lists(const char *proc_cgroup, const char *id)
{
	_cleanup_free_ char *needle = xasprintf(":/hoody/%s\n", id);
	return strstr(proc_cgroup, needle) != NULL;
}

/* v2 has no devices controller: crun attaches each container's device rules
 * as an eBPF program, and first raises RLIMIT_MEMLOCK to unlimited (crun
 * 1.8.1 does so on every kernel, also those that charge BPF memory to the
 * memory cgroup). Raising a hard limit takes CAP_SYS_RESOURCE, unless it is
 * unlimited already; else every start fails with "setrlimit (RLIM_MEMLOCK)". */
bool cgroup_device_filter_loadable(const char *proc_status, uint64_t memlock_max)
{
	if (memlock_max == (uint64_t)RLIM_INFINITY)
		return true;
	const char *eff = proc_status ? strstr(proc_status, "\nCapEff:") : NULL;
	if (!eff)
		return false;
	uint64_t caps = strtoull(eff + strlen("\nCapEff:"), NULL, 16);
	return caps & (1ULL << CAP_SYS_RESOURCE_BIT);
}

/* Refused at start, in words an admin can act on, rather than at every
 * container start as crun's bare EPERM. */
int cgroup_check_device_filter(struct runtime *rt, struct error *err)
{
	if (!rt->cgroup_v2)
		return 0;
	_cleanup_free_ char *status = NULL;
	struct rlimit rl = {0};
	if (read_file("/proc/self/status", PROC_STATUS_MAX, &status, NULL, NULL) < 0 ||
	    getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return err_sys(err, E_RUNTIME, "reading our capabilities and RLIMIT_MEMLOCK");
	if (cgroup_device_filter_loadable(status, (uint64_t)rl.rlim_max))
		return 0;
	return err_set(
	    err, E_RUNTIME,
	    "cgroup v2: crun needs CAP_SYS_RESOURCE (or an unlimited RLIMIT_MEMLOCK hard "
	    "limit, e.g. LimitMEMLOCK=infinity) to load containers' device filters; "
	    "hoodyd has neither (docs/SECURITY.md)");
}

/* No O_CREAT: cgroupfs shows every file its enabled controllers support, so
 * a missing one means a controller that is not there, never a file to make
 * (and a fake tree lacking it fails the same way). */
int cgroup_write(const char *path, const char *text, struct error *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, E_RUNTIME, "open %s", path);
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len)
		return err_sys(err, E_RUNTIME, "write %s", path);
	return 0;
}

bool cgroup_keyed(const char *path, const char *key, uint64_t *out)
{
	_cleanup_free_ char *text = NULL;
	if (read_file(path, KEYED_FILE_MAX, &text, NULL, NULL) < 0)
		return false;
	size_t klen = strlen(key);
	for (const char *line = text; line && *line;) {
		if (!strncmp(line, key, klen) && line[klen] == ' ') {
			*out = strtoull(line + klen + 1, NULL, 10);
			return true;
		}
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return false;
}

/* A counter of the container's cgroup; 0 when the file is absent. */
static uint64_t cg_u64(struct runtime *rt, const char *controller, const char *id, const char *file)
{
	_cleanup_free_ char *path = cg_file(rt, controller, id, file);
	uint64_t v = 0;
	return read_u64_file(path, &v) < 0 ? 0 : v;
}

/* v1 memsw counts memory plus swap; absent without swap accounting. */
static void stats_v1(struct runtime *rt, const char *id, struct rt_stats *s)
{
	s->cpu_ns = cg_u64(rt, "cpuacct", id, "cpuacct.usage");
	s->mem_usage = cg_u64(rt, "memory", id, "memory.usage_in_bytes");
	s->mem_peak = cg_u64(rt, "memory", id, "memory.max_usage_in_bytes");
	s->mem_limit = cg_u64(rt, "memory", id, "memory.limit_in_bytes");
	uint64_t sw = cg_u64(rt, "memory", id, "memory.memsw.usage_in_bytes");
	uint64_t sw_peak = cg_u64(rt, "memory", id, "memory.memsw.max_usage_in_bytes");
	s->swap_usage = sw > s->mem_usage ? sw - s->mem_usage : 0;
	s->swap_peak = sw_peak > s->mem_peak ? sw_peak - s->mem_peak : 0;
	s->pids = cg_u64(rt, "pids", id, "pids.current");
}

/* A peak file the kernel may not have (memory.peak: 5.19, memory.swap.peak:
 * 6.5): then the current value, the one peak known for sure. */
static uint64_t peak_or(struct runtime *rt, const char *id, const char *file, uint64_t current)
{
	_cleanup_free_ char *path = cg_file(rt, "memory", id, file);
	uint64_t v;
	return read_u64_file(path, &v) == 0 && v >= current ? v : current;
}

/* v2 counts swap apart from memory (memory.swap.*), CPU time in µs. */
static void stats_v2(struct runtime *rt, const char *id, struct rt_stats *s)
{
	_cleanup_free_ char *cpu_stat = cg_file(rt, "cpu", id, "cpu.stat");
	uint64_t usec = 0;
	if (cgroup_keyed(cpu_stat, "usage_usec", &usec))
		s->cpu_ns = usec * 1000;
	s->mem_usage = cg_u64(rt, "memory", id, "memory.current");
	s->mem_peak = peak_or(rt, id, "memory.peak", s->mem_usage);
	s->mem_limit = cg_u64(rt, "memory", id, "memory.max"); /* "max": UINT64_MAX */
	s->swap_usage = cg_u64(rt, "memory", id, "memory.swap.current");
	s->swap_peak = peak_or(rt, id, "memory.swap.peak", s->swap_usage);
	s->pids = cg_u64(rt, "pids", id, "pids.current");
}

void cgroup_read_stats(struct runtime *rt, const char *id, struct rt_stats *s)
{
	if (rt->cgroup_v2)
		stats_v2(rt, id, s);
	else
		stats_v1(rt, id, s);
	uint64_t kills = 0;
	s->oom_kills = cgroup_oom_kills(rt, id, &kills) ? kills : 0;
}

/* "oom_kill N" of memory.oom_control (v1) or memory.events (v2). */
bool cgroup_oom_kills(struct runtime *rt, const char *id, uint64_t *out)
{
	_cleanup_free_ char *path =
	    cg_file(rt, "memory", id, rt->cgroup_v2 ? "memory.events" : "memory.oom_control");
	return cgroup_keyed(path, "oom_kill", out);
}

/* v1: freezer.state; v2: cgroup.freeze, what was asked (1) as against
 * cgroup.events' "frozen", what is done. */
static char *freeze_file(struct runtime *rt, const char *id)
{
	return rt->cgroup_v2 ? cg_file(rt, "freezer", id, "cgroup.freeze")
			     : cg_file(rt, "freezer", id, "freezer.state");
}

bool cgroup_frozen(struct runtime *rt, const char *id)
{
	_cleanup_free_ char *path = freeze_file(rt, id);
	char buf[STATE_MAX] = "";
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	if (rt->cgroup_v2)
		return buf[0] == '1';
	/* FREEZING counts as paused: the freeze was asked and is under way. */
	return !strncmp(buf, "FROZEN", 6) || !strncmp(buf, "FREEZING", 8);
}

void cgroup_thaw(struct runtime *rt, const char *id)
{
	if (!cgroup_frozen(rt, id))
		return;
	_cleanup_free_ char *path = freeze_file(rt, id);
	struct error e;
	if (cgroup_write(path, rt->cgroup_v2 ? "0" : "THAWED", &e) < 0)
		log_warn("container %s: cannot thaw: %s", id, e.msg);
}

/* Every v1 hierarchy crun may have made the container's cgroup in. */
static const char *const v1_controllers[] = {
    "cpu",     "cpuacct", "cpuset",   "memory",	    "devices", "freezer", "blkio",   "pids",
    "hugetlb", "net_cls", "net_prio", "perf_event", "rdma",    "misc",	  "systemd", "unified"};

int cgroup_remove(struct runtime *rt, const char *id, struct error *err)
{
	size_t n = rt->cgroup_v2 ? 1 : ARRAY_SIZE(v1_controllers);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		/* v2: the controller names nothing, the one path is the cgroup. */
		_cleanup_free_ char *p = rt_cgroup_path(rt, v1_controllers[i], id);
		if (rmdir(p) < 0 && errno != ENOENT && rc == 0)
			rc = err_sys(err, E_RUNTIME, "rmdir %s", p);
	}
	return rc;
}

struct procs {
	pid_t *v;
	size_t n, max;
};

static void procs_add_file(struct procs *p, const char *path)
{
	_cleanup_free_ char *text = NULL;
	if (read_file(path, PROCS_FILE_MAX, &text, NULL, NULL) < 0)
		return;
	char *end;
	for (char *s = text; *s && p->n < p->max; s = end) {
		long pid = strtol(s, &end, 10);
		if (end == s)
			break;
		if (pid > 0)
			p->v[p->n++] = (pid_t)pid;
	}
}

/* cgroup.procs of dir and of its sub-cgroups (a container may make some). */
static void procs_collect(struct procs *p, const char *dir, int depth)
{
	_cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", dir);
	procs_add_file(p, procs);
	DIR *d = depth < PROCS_DEPTH_MAX ? opendir(dir) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *sub = xasprintf("%s/%s", dir, de->d_name);
		procs_collect(p, sub, depth + 1);
	}
	if (d)
		closedir(d);
}

/* v1: the pids hierarchy, which crun exec joins too. */
size_t cgroup_procs(struct runtime *rt, const char *id, pid_t *out, size_t max)
{
	struct procs p = {.v = out, .max = max};
	_cleanup_free_ char *dir = rt_cgroup_path(rt, "pids", id);
	procs_collect(&p, dir, 0);
	return p.n;
}
