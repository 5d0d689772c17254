/* The runtime object: configuration, paths, and the cheap host probes the
 * lifecycle code builds on (is init alive, where are the cgroups). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

static const char *const state_names[] = {
    [RT_ABSENT] = "absent", [RT_CREATED] = "created", [RT_RUNNING] = "running",
    [RT_PAUSED] = "paused", [RT_STOPPED] = "stopped",
};

const char *rt_state_name(enum rt_state s)
{
	if ((int)s < 0 || (size_t)s >= ARRAY_SIZE(state_names))
		return "unknown";
	return state_names[s];
}

/* The executable's directory holds hoody-init and hoody-kit in every build
 * and install. */
static char *default_helper_path(const char *name)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return xasprintf("/usr/local/bin/%s", name);
	exe[n] = '\0';
	return xasprintf("%s/%s", dirname(exe), name);
}

char *rt_kit_dir(struct runtime *rt, const char *id)
{
	return xasprintf("%s/kit/%s", rt->run_dir, id);
}

int rt_kit_socket(struct runtime *rt, const char *id, char *path, size_t len, struct error *err)
{
	if (rt_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *dir = rt_kit_dir(rt, id);
	if ((size_t)snprintf(path, len, "%s/kit.sock", dir) >= len)
		return err_set(err, E_INTERNAL, "kit socket path too long");
	return 0;
}

/* Resolved once so that each spawn skips the PATH walk. */
static char *resolve_in_path(const char *prog)
{
	if (strchr(prog, '/'))
		return xstrdup(prog);
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy =
	    xstrdup(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	char *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *cand = xasprintf("%s/%s", dir, prog);
		if (access(cand, X_OK) == 0)
			return cand;
		free(cand);
	}
	return xstrdup(prog);
}

static uint64_t half_of_ram(void)
{
	struct sysinfo si;
	if (sysinfo(&si) < 0)
		return 1ULL << 30;
	return (uint64_t)si.totalram * si.mem_unit / 2;
}

static void runtime_free(struct runtime *rt)
{
	free(rt->state_dir);
	free(rt->image_dir);
	free(rt->run_dir);
	free(rt->bridge);
	free(rt->subnet);
	free(rt->crun_path);
	free(rt->init_path);
	free(rt->kit_path);
	free(rt->cgroup_root);
	pthread_mutex_destroy(&rt->ipam_lock);
	fw_free(rt);
	for (size_t i = 0; i < rt->userns_count; i++)
		close(rt->userns_fds[i].fd);
	pthread_mutex_destroy(&rt->idmap_lock);
	pthread_mutex_destroy(&rt->spare_lock);
	pthread_cond_destroy(&rt->spare_cv);
	free(rt);
}

static int make_dirs(struct runtime *rt, struct error *err)
{
	const char *const subs[][2] = {
	    {rt->state_dir, "containers"},
	    {rt->run_dir, "crun"},
	    {rt->run_dir, "ramdisk"},
	    {rt->run_dir, "kit"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", subs[i][0], subs[i][1]);
		if (mkdir_p(p, 0711, err) < 0)
			return -1;
	}
	return mkdir_p(rt->image_dir, 0755, err);
}

/* User-namespace containers are set up by crun as an unprivileged host id,
 * which must be able to pass (not list) the dirs above their bundles. */
static int make_searchable(struct runtime *rt, struct error *err)
{
	const char *const dirs[] = {rt->state_dir, rt->run_dir};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		struct stat st;
		if (stat(dirs[i], &st) < 0)
			return err_sys(err, E_IO, "stat %s", dirs[i]);
		if ((st.st_mode & 0011) != 0011 && chmod(dirs[i], (st.st_mode & 07777) | 0011) < 0)
			return err_sys(err, E_IO, "chmod %s", dirs[i]);
	}
	return 0;
}

int runtime_open(const struct rt_config *cfg, struct runtime **out_new, struct error *err)
{
	struct runtime *rt = xcalloc(1, sizeof(*rt));
	rt->state_dir = xstrdup(cfg->state_dir ? cfg->state_dir : RT_STATE_DIR_DEFAULT);
	rt->image_dir =
	    cfg->image_dir ? xstrdup(cfg->image_dir) : xasprintf("%s/images", rt->state_dir);
	rt->run_dir = xstrdup(cfg->run_dir ? cfg->run_dir : RT_RUN_DIR_DEFAULT);
	rt->bridge = xstrdup(cfg->bridge ? cfg->bridge : RT_BRIDGE_DEFAULT);
	rt->subnet = xstrdup(cfg->subnet ? cfg->subnet : RT_SUBNET_DEFAULT);
	rt->crun_path = resolve_in_path(cfg->crun_path ? cfg->crun_path : "crun");
	rt->init_path =
	    cfg->init_path ? xstrdup(cfg->init_path) : default_helper_path("hoody-init");
	rt->kit_path = cfg->kit_path ? xstrdup(cfg->kit_path) : default_helper_path("hoody-kit");
	rt->ramdisk_max_bytes = cfg->ramdisk_max_bytes ? cfg->ramdisk_max_bytes : half_of_ram();
	rt->disk_bytes = cfg->disk_bytes;
	rt->disk_inodes = cfg->disk_inodes;
	rt->host_memory_reserve = cfg->host_memory_reserve;
	rt->limits_off = cfg->no_limits || cfg->no_containers;
	cgroup_init(rt, cfg->cgroup_root);
	limits_probe(rt);
	if (cfg->nofile_max && cfg->nofile_max < rt->nofile_max)
		rt->nofile_max = cfg->nofile_max;
	rt->userns = cfg->userns;
	rt->userns_base = cfg->userns_base ? cfg->userns_base : RT_USERNS_BASE_DEFAULT;
	pthread_mutex_init(&rt->ipam_lock, NULL);
	pthread_mutex_init(&rt->idmap_lock, NULL);
	pthread_mutex_init(&rt->spare_lock, NULL);
	pthread_cond_init(&rt->spare_cv, NULL);
	if (!cfg->no_containers && cgroup_check_device_filter(rt, err) < 0)
		goto fail;
	if (fw_init(rt, cfg, err) < 0)
		goto fail;
	if (rt->userns && idmap_check_base(rt->userns_base, err) < 0)
		goto fail;
	if (make_dirs(rt, err) < 0 || (rt->userns && make_searchable(rt, err) < 0))
		goto fail;
	if (!path_exists(rt->init_path)) {
		err_set(err, E_INTERNAL, "container init %s not found", rt->init_path);
		goto fail;
	}
	/* The reaper needs zombies: an ignored SIGCHLD would auto-reap them. */
	signal(SIGCHLD, SIG_DFL);
	/* Container inits come back to us when crun run --detach exits. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		err_sys(err, E_INTERNAL, "PR_SET_CHILD_SUBREAPER");
		goto fail;
	}
	if (reaper_start(rt, err) < 0)
		goto fail;
	limits_parent_ensure(rt);
	*out_new = rt;
	return 0;
fail:
	runtime_free(rt);
	return -1;
}

void runtime_close(struct runtime *rt)
{
	if (!rt)
		return;
	/* Containers keep running: a restarted daemon re-adopts them. */
	layer_spares_stop(rt);
	reaper_stop(rt);
	runtime_free(rt);
}

char *rt_container_dir(struct runtime *rt, const char *id)
{
	return xasprintf("%s/containers/%s", rt->state_dir, id);
}

char *rt_image_rootfs(struct runtime *rt, const char *canonical)
{
	return xasprintf("%s/%s/rootfs", rt->image_dir, canonical);
}

char *rt_crun_root(struct runtime *rt)
{
	return xasprintf("%s/crun", rt->run_dir);
}

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

/* statx knows (Linux 5.8+); comparing devices with the parent misses a bind
 * mount of the same filesystem, such as an idmapped view of an image. */
bool rt_is_mountpoint(const char *path)
{
	struct statx sx;
	if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) == 0 &&
	    (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
		return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
	struct stat st, parent;
	_cleanup_free_ char *up = xasprintf("%s/..", path);
	if (stat(path, &st) < 0 || stat(up, &parent) < 0)
		return false;
	return st.st_dev != parent.st_dev || st.st_ino == parent.st_ino;
}

int rt_umount_all(const char *path, struct error *err)
{
	for (int i = 0; i < 8 && rt_is_mountpoint(path); i++) {
		if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			return err_sys(err, E_RUNTIME, "unmount %s", path);
	}
	return 0;
}

/* True when /proc/<pid> is a live (not zombie) member of the container's
 * cgroup: a pid file alone could name a recycled pid. */
bool rt_pid_in_container(pid_t pid, const char *id)
{
	char path[64];
	_cleanup_free_ char *stat = NULL, *cg = NULL;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_file(path, 4096, &stat, NULL, NULL) < 0)
		return false;
	char *p = strrchr(stat, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (read_file(path, 16384, &cg, NULL, NULL) < 0)
		return false;
	return cgroup_lists(cg, id);
}

pid_t rt_read_pid_file(const char *path)
{
	_cleanup_free_ char *buf = NULL;
	if (read_file(path, 64, &buf, NULL, NULL) < 0)
		return 0;
	char *end;
	long pid = strtol(buf, &end, 10);
	if (end == buf || pid <= 1 || pid > 1L << 22)
		return 0;
	return (pid_t)pid;
}

pid_t rt_live_init_pid(struct runtime *rt, const char *id)
{
	_cleanup_free_ char *dir = rt_container_dir(rt, id);
	_cleanup_free_ char *path = xasprintf("%s/init.pid", dir);
	pid_t pid = rt_read_pid_file(path);
	return pid && rt_pid_in_container(pid, id) ? pid : 0;
}

int rt_init_pid(struct runtime *rt, const char *id, pid_t *out, struct error *err)
{
	if (rt_check_id(id, err) < 0)
		return -1;
	pid_t pid = rt_live_init_pid(rt, id);
	if (!pid)
		return err_set(err, E_STATE_CONFLICT, "container %s is not running", id);
	*out = pid;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every valid id named by an entry of dir (missing dir: nothing). */
static int add_ids_in(const char *dir, char ***ids, size_t *n, size_t *cap, struct error *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : err_sys(err, E_IO, "opendir %s", dir);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!rt_id_valid(de->d_name))
			continue;
		bool dup = false;
		for (size_t i = 0; i < *n && !dup; i++)
			dup = !strcmp((*ids)[i], de->d_name);
		if (dup)
			continue;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*ids = xrealloc(*ids, *cap * sizeof(**ids));
		}
		(*ids)[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	return 0;
}

static void free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

int rt_list_ids(struct runtime *rt, char ***ids_new, size_t *count, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/containers", rt->state_dir);
	char **ids = NULL;
	size_t n = 0, cap = 0;
	if (add_ids_in(path, &ids, &n, &cap, err) < 0) {
		free_ids(ids, n);
		return -1;
	}
	if (n)
		qsort(ids, n, sizeof(*ids), cmp_str);
	*ids_new = ids;
	*count = n;
	return 0;
}

int rt_purge(struct runtime *rt, struct error *err)
{
	/* Also what a crash may have left without a container directory:
	 * crun state and ramdisk mounts of this run dir. */
	_cleanup_free_ char *cdirs = xasprintf("%s/containers", rt->state_dir);
	_cleanup_free_ char *crun = rt_crun_root(rt);
	_cleanup_free_ char *ramdisks = xasprintf("%s/ramdisk", rt->run_dir);
	const char *dirs[] = {cdirs, crun, ramdisks};
	char **ids = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (size_t i = 0; i < ARRAY_SIZE(dirs) && rc == 0; i++)
		rc = add_ids_in(dirs[i], &ids, &n, &cap, err);
	for (size_t i = 0; i < n; i++) {
		struct error e = {0};
		if (rt_delete(rt, ids[i], &e) < 0) {
			log_warn("purge: %s: %s", ids[i], e.msg);
			if (rc == 0 && err)
				*err = e;
			rc = -1;
		}
	}
	free_ids(ids, n);
	if (rc < 0)
		return rc;
	layer_spares_stop(rt);
	if (layer_spares_purge(rt, err) < 0)
		return -1;
	layer_spares_resume(rt);
	idmap_forget_all(rt);
	if (fw_remove_all(rt, err) < 0)
		return -1;
	return net_bridge_remove(rt, err);
}
