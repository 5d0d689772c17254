/* What the runtime does about limits besides config.json (spec.c): probing
 * what the host supports, capping all containers together so the host
 * keeps memory and pids for itself, and noticing out-of-memory kills.
 *
 * cgroup v1 has one hierarchy per controller (<root>/memory/hoody); on a
 * cgroup v2 host the parent is <root>/hoody in the unified tree, and
 * hoodyd enables the controllers it needs there (cgroup.c has the paths). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

#define OOM_SEEN_MAX 4096
#define PIDS_HOST_SHARE_NUM 3 /* containers together get 3/4 of pid_max */
#define PIDS_HOST_SHARE_DEN 4
#define CONTROLLERS_MAX 256

/* A file of the hoody parent cgroup in controller's hierarchy. */
static bool parent_has(struct runtime *rt, const char *controller, const char *file)
{
	_cleanup_free_ char *dir = cgroup_parent_path(rt, controller);
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
	return path_exists(path);
}

/* name is one of the space-separated words of list. */
static bool word_in(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = strstr(list, name); p; p = strstr(p + 1, name))
		if ((p == list || isspace((unsigned char)p[-1])) &&
		    (!p[n] || isspace((unsigned char)p[n])))
			return true;
	return false;
}

/* The controllers a container needs, among those the root offers, enabled
 * for the root's children: crun would do the same at the first start, but
 * the parent's own limits and files are needed before that. One write of
 * them all, else one per controller (enabling cpu fails while a realtime
 * process runs, and must not stop memory). */
static void v2_enable_controllers(struct runtime *rt)
{
	static const char *const wanted[] = {"cpu", "io", "memory", "pids"};
	_cleanup_free_ char *avail_path = cgroup_root_file(rt, "cgroup.controllers");
	_cleanup_free_ char *ctl = cgroup_root_file(rt, "cgroup.subtree_control");
	_cleanup_free_ char *avail = NULL;
	if (read_file(avail_path, 4096, &avail, NULL, NULL) < 0)
		return;
	char all[CONTROLLERS_MAX] = "", one[ARRAY_SIZE(wanted)][16];
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(wanted); i++) {
		if (!word_in(avail, wanted[i]))
			continue;
		snprintf(one[n], sizeof(one[n]), "+%s", wanted[i]);
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s", n ? " " : "",
			 one[n]);
		n++;
	}
	struct error e;
	if (!n || cgroup_write(ctl, all, &e) == 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (cgroup_write(ctl, one[i], &e) < 0)
			log_warn("limits: %s", e.msg);
}

/* Weights need a non-root cgroup to show: io.bfq.weight (BFQ), or
 * io.weight of blk-iocost, which weighs nothing until iocost is enabled on
 * a device (io.cost.qos "enable=1"). */
static bool v2_io_weight(struct runtime *rt)
{
	if (parent_has(rt, "io", "io.bfq.weight"))
		return true;
	_cleanup_free_ char *qos_path = cgroup_root_file(rt, "io.cost.qos");
	_cleanup_free_ char *qos = NULL;
	return parent_has(rt, "io", "io.weight") &&
	       read_file(qos_path, 65536, &qos, NULL, NULL) == 0 && strstr(qos, "enable=1");
}

static void probe_v2(struct runtime *rt)
{
	v2_enable_controllers(rt);
	_cleanup_free_ char *parent = cgroup_parent_path(rt, "memory");
	if (mkdir(parent, 0755) < 0 && errno != EEXIST)
		log_warn("limits: cannot create %s: %s", parent, strerror(errno));
	rt->io_weight = v2_io_weight(rt);
	rt->swap_limits = parent_has(rt, "memory", "memory.swap.max");
}

void limits_probe(struct runtime *rt)
{
	struct rlimit rl;
	rt->nofile_max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY
			     ? (uint64_t)rl.rlim_max
			     : 1048576;
	/* Without limits the containers' cgroups are crun's alone: a v2 root
	 * keeps the controllers the host's admin enabled, and no hoody/ is
	 * made before a container needs it. */
	if (rt->cgroup_v2) {
		if (!rt->limits_off)
			probe_v2(rt);
		return;
	}
	_cleanup_free_ char *weight = cgroup_root_file(rt, "blkio/blkio.weight");
	_cleanup_free_ char *bfq = cgroup_root_file(rt, "blkio/blkio.bfq.weight");
	_cleanup_free_ char *memsw = cgroup_root_file(rt, "memory/memory.memsw.limit_in_bytes");
	rt->io_weight = path_exists(weight) || path_exists(bfq);
	rt->swap_limits = path_exists(memsw);
}

bool rt_io_weight_supported(struct runtime *rt)
{
	return rt->io_weight;
}

static void write_num(struct runtime *rt, const char *controller, const char *file, uint64_t v)
{
	_cleanup_free_ char *dir = cgroup_parent_path(rt, controller);
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	struct error e;
	if (cgroup_write(path, buf, &e) < 0)
		log_warn("limits: cannot write %s to %s: %s", buf, path, e.msg);
}

static uint64_t pid_max(void)
{
	_cleanup_free_ char *text = NULL;
	if (read_file("/proc/sys/kernel/pid_max", 64, &text, NULL, NULL) < 0)
		return 32768;
	return strtoull(text, NULL, 10);
}

static bool parent_made(struct runtime *rt, const char *controller)
{
	_cleanup_free_ char *dir = cgroup_parent_path(rt, controller);
	if (mkdir(dir, 0755) == 0 || errno == EEXIST)
		return true;
	log_warn("limits: cannot create %s: %s", dir, strerror(errno));
	return false;
}

/* The same numbers in both layouts: memory.max and pids.max (v2) read
 * plain byte and process counts like their v1 namesakes. */
void limits_parent_write(struct runtime *rt, uint64_t memory, uint64_t pids)
{
	if (!parent_made(rt, "memory") || !parent_made(rt, "pids"))
		return;
	write_num(rt, "memory", rt->cgroup_v2 ? "memory.max" : "memory.limit_in_bytes", memory);
	write_num(rt, "pids", "pids.max", pids);
}

/* The parent cgroup every container lives under gets host RAM minus the
 * reserve and 3/4 of the pids: however many containers hit their own
 * limits at once, the host keeps enough to run sshd, hoodyd and the API. */
void limits_parent_ensure(struct runtime *rt)
{
	if (!rt->host_memory_reserve || rt->limits_off)
		return;
	struct sysinfo si;
	if (sysinfo(&si) < 0)
		return;
	uint64_t ram = (uint64_t)si.totalram * si.mem_unit;
	if (ram <= rt->host_memory_reserve * 2)
		return; /* a tiny host: a cap would starve the containers */
	limits_parent_write(rt, ram - rt->host_memory_reserve,
			    pid_max() * PIDS_HOST_SHARE_NUM / PIDS_HOST_SHARE_DEN);
}

/* The last count seen per container; a cgroup made again (restart) starts
 * from zero, which is told apart by the count going down. Only the scanning
 * thread touches it. */
struct oom_seen {
	char id[RT_ID_MAX + 1];
	uint64_t kills;
	bool live;
};
static struct oom_seen seen[OOM_SEEN_MAX];
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;

static struct oom_seen *seen_slot(const char *id)
{
	struct oom_seen *free_slot = NULL;
	for (size_t i = 0; i < OOM_SEEN_MAX; i++) {
		if (seen[i].id[0] && !strcmp(seen[i].id, id))
			return &seen[i];
		if (!seen[i].id[0] && !free_slot)
			free_slot = &seen[i];
	}
	if (free_slot) {
		memset(free_slot, 0, sizeof(*free_slot));
		memcpy(free_slot->id, id, strnlen(id, RT_ID_MAX)); /* rt_id_valid: <= RT_ID_MAX */
	}
	return free_slot;
}

static void scan_one(struct runtime *rt, const char *id, bool report, rt_oom_cb cb, void *arg)
{
	uint64_t total;
	if (!cgroup_oom_kills(rt, id, &total))
		return;
	struct oom_seen *s = seen_slot(id);
	if (!s)
		return;
	s->live = true;
	uint64_t before = total < s->kills ? 0 : s->kills;
	s->kills = total;
	if (total > before && report)
		cb(id, total - before, total, arg);
}

int rt_oom_scan(struct runtime *rt, rt_oom_cb cb, void *arg, struct error *err)
{
	_cleanup_free_ char *dir = cgroup_parent_path(rt, "memory");
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : err_sys(err, E_RUNTIME, "open %s", dir);
	pthread_mutex_lock(&seen_lock);
	/* The first scan of a process only learns the counts: kills from before
	 * a daemon restart were reported by the daemon that saw them. */
	static bool primed;
	bool report = primed;
	primed = true;
	for (size_t i = 0; i < OOM_SEEN_MAX; i++)
		seen[i].live = false;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_type == DT_DIR && rt_id_valid(de->d_name))
			scan_one(rt, de->d_name, report, cb, arg);
	/* Gone cgroups free their slot: a later one of the same id starts at 0. */
	for (size_t i = 0; i < OOM_SEEN_MAX; i++)
		if (!seen[i].live)
			seen[i].id[0] = '\0';
	pthread_mutex_unlock(&seen_lock);
	closedir(d);
	return 0;
}
