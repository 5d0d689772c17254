/* What the runtime does about limits besides config.json (spec.c): probing
 * what the host supports, capping all containers together so the host
 * keeps memory and pids for itself, and noticing out-of-memory kills.
 *
 * cgroup v1 has one hierarchy per controller (/sys/fs/cgroup/memory/hoody);
 * on a cgroup v2 host the same files are read in the unified tree
 * (/sys/fs/cgroup/hoody, memory.events instead of memory.oom_control). */
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

#define CG "/sys/fs/cgroup"
#define OOM_SEEN_MAX 4096
#define PIDS_HOST_SHARE_NUM 3 /* containers together get 3/4 of pid_max */
#define PIDS_HOST_SHARE_DEN 4

static bool cgroup_v2(void)
{
	return path_exists(CG "/cgroup.controllers");
}

void limits_probe(struct runtime *rt)
{
	struct rlimit rl;
	rt->nofile_max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY
			     ? (uint64_t)rl.rlim_max
			     : 1048576;
	rt->io_weight = cgroup_v2()
			    ? path_exists(CG "/io.weight") || path_exists(CG "/io.bfq.weight")
			    : path_exists(CG "/blkio/blkio.weight") ||
				  path_exists(CG "/blkio/blkio.bfq.weight");
	rt->swap_limits = cgroup_v2() || path_exists(CG "/memory/memory.memsw.limit_in_bytes");
}

bool rt_io_weight_supported(struct runtime *rt)
{
	return rt->io_weight;
}

static void write_num(const char *path, uint64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	if (write_file(path, buf, NULL) < 0)
		log_warn("limits: cannot write %s to %s", buf, path);
}

static uint64_t pid_max(void)
{
	_cleanup_free_ char *text = NULL;
	if (read_file("/proc/sys/kernel/pid_max", 64, &text, NULL, NULL) < 0)
		return 32768;
	return strtoull(text, NULL, 10);
}

/* The parent cgroup every container lives under gets host RAM minus the
 * reserve and 3/4 of the pids: however many containers hit their own
 * limits at once, the host keeps enough to run sshd, hoodyd and the API. */
void limits_parent_ensure(struct runtime *rt)
{
	if (!rt->host_memory_reserve)
		return;
	struct sysinfo si;
	if (sysinfo(&si) < 0)
		return;
	uint64_t ram = (uint64_t)si.totalram * si.mem_unit;
	if (ram <= rt->host_memory_reserve * 2)
		return; /* a tiny host: a cap would starve the containers */
	uint64_t mem = ram - rt->host_memory_reserve;
	uint64_t pids = pid_max() * PIDS_HOST_SHARE_NUM / PIDS_HOST_SHARE_DEN;
	if (cgroup_v2()) {
		if (mkdir(CG "/hoody", 0755) < 0 && errno != EEXIST)
			return;
		write_file(CG "/cgroup.subtree_control", "+memory +pids +cpu +io", NULL);
		write_num(CG "/hoody/memory.max", mem);
		write_num(CG "/hoody/pids.max", pids);
		return;
	}
	if ((mkdir(CG "/memory/hoody", 0755) < 0 && errno != EEXIST) ||
	    (mkdir(CG "/pids/hoody", 0755) < 0 && errno != EEXIST))
		return;
	write_num(CG "/memory/hoody/memory.limit_in_bytes", mem);
	write_num(CG "/pids/hoody/pids.max", pids);
}

/* "oom_kill N" of memory.oom_control (v1) or memory.events (v2). */
static bool read_oom_kills(const char *path, uint64_t *out)
{
	_cleanup_free_ char *text = NULL;
	if (read_file(path, 4096, &text, NULL, NULL) < 0)
		return false;
	const char *p = strstr(text, "oom_kill ");
	if (!p)
		return false;
	*out = strtoull(p + 9, NULL, 10);
	return true;
}

static char *limits_oom_file(const char *id)
{
	return cgroup_v2() ? xasprintf(CG "/hoody/%s/memory.events", id)
			   : xasprintf(CG "/memory/hoody/%s/memory.oom_control", id);
}

uint64_t limits_oom_kills(const char *id)
{
	_cleanup_free_ char *path = limits_oom_file(id);
	uint64_t n = 0;
	return read_oom_kills(path, &n) ? n : 0;
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

static void scan_one(const char *id, bool report, rt_oom_cb cb, void *arg)
{
	uint64_t total;
	_cleanup_free_ char *path = limits_oom_file(id);
	if (!read_oom_kills(path, &total))
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
	(void)rt;
	const char *dir = cgroup_v2() ? CG "/hoody" : CG "/memory/hoody";
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
			scan_one(de->d_name, report, cb, arg);
	/* Gone cgroups free their slot: a later one of the same id starts at 0. */
	for (size_t i = 0; i < OOM_SEEN_MAX; i++)
		if (!seen[i].live)
			seen[i].id[0] = '\0';
	pthread_mutex_unlock(&seen_lock);
	closedir(d);
	return 0;
}
