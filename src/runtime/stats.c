/* Container statistics, read straight from cgroupfs (v1 or v2: cgroup.c)
 * and procfs. No
 * process is spawned and nothing is written: a call costs a few dozen
 * syscalls, so the API can poll it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/internal.h"

#define TREE_DEPTH_MAX 128
#define DISK_CACHE_TTL_NS (10LL * 1000 * 1000 * 1000)
#define DISK_CACHE_MAX 4096
#define DISK_WALK_ENTRIES_MAX (2u * 1000 * 1000)

/* ---- tree usage ---- */

struct walk {
	uint64_t bytes;
	size_t left;
	dev_t dev;
	bool unshared_only; /* count only files with one link (snapshot sizes) */
};

/* Takes dfd (closed before returning). */
static void walk_dir(int dfd_owned, struct walk *w, int depth)
{
	_cleanup_close_ int dfd = dfd_owned;
	_cleanup_closedir_ DIR *d = fdopendir(dfd);
	if (!d)
		return;
	steal_fd(&dfd); /* d owns it now */
	struct dirent *de;
	while (w->left && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		w->left--;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_dev != w->dev)
			continue;
		if (!w->unshared_only || S_ISDIR(st.st_mode) || st.st_nlink == 1)
			w->bytes += (uint64_t)st.st_blocks * 512;
		if (S_ISDIR(st.st_mode) && depth < TREE_DEPTH_MAX) {
			int fd = openat(dirfd(d), de->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				walk_dir(fd, w, depth + 1);
		}
	}
}

static uint64_t tree_usage(const char *path, size_t max_entries, bool unshared_only)
{
	struct stat st;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return 0;
	struct walk w = {.bytes = (uint64_t)st.st_blocks * 512,
			 .left = max_entries,
			 .dev = st.st_dev,
			 .unshared_only = unshared_only};
	walk_dir(steal_fd(&fd), &w, 0);
	return w.bytes;
}

uint64_t rt_tree_usage(const char *path, size_t max_entries)
{
	return tree_usage(path, max_entries, false);
}

uint64_t rt_tree_unshared_usage(const char *path, size_t max_entries)
{
	return tree_usage(path, max_entries, true);
}

/* Walking a container's layer costs time proportional to its files, so the
 * result is cached per path and recomputed at most every 10 s: disk_usage
 * may be up to 10 s old. The walk itself runs in the caller that finds the
 * entry stale. */
struct disk_entry {
	char *path;
	uint64_t bytes;
	int64_t at_ns;
};

static pthread_mutex_t disk_lock = PTHREAD_MUTEX_INITIALIZER;
static struct disk_entry disk_cache[DISK_CACHE_MAX];

static bool disk_cached(const char *path, uint64_t *bytes)
{
	int64_t now = mono_ns();
	bool hit = false;
	pthread_mutex_lock(&disk_lock);
	for (size_t i = 0; i < DISK_CACHE_MAX && disk_cache[i].path && !hit; i++) {
		if (!strcmp(disk_cache[i].path, path) &&
		    now - disk_cache[i].at_ns < DISK_CACHE_TTL_NS) {
			*bytes = disk_cache[i].bytes;
			hit = true;
		}
	}
	pthread_mutex_unlock(&disk_lock);
	return hit;
}

void rt_disk_cache_forget(const char *path)
{
	pthread_mutex_lock(&disk_lock);
	for (size_t i = 0; i < DISK_CACHE_MAX && disk_cache[i].path; i++)
		if (!strcmp(disk_cache[i].path, path))
			disk_cache[i].at_ns = INT64_MIN / 2; /* stale: recomputed next time */
	pthread_mutex_unlock(&disk_lock);
}

static void disk_store(const char *path, uint64_t bytes)
{
	pthread_mutex_lock(&disk_lock);
	size_t slot = 0, i;
	for (i = 0; i < DISK_CACHE_MAX && disk_cache[i].path; i++) {
		if (!strcmp(disk_cache[i].path, path))
			break;
		if (disk_cache[i].at_ns < disk_cache[slot].at_ns)
			slot = i; /* the oldest, evicted when the cache is full */
	}
	if (i < DISK_CACHE_MAX)
		slot = i;
	if (!disk_cache[slot].path || strcmp(disk_cache[slot].path, path)) {
		free(disk_cache[slot].path);
		disk_cache[slot].path = xstrdup(path);
	}
	disk_cache[slot].bytes = bytes;
	disk_cache[slot].at_ns = mono_ns();
	pthread_mutex_unlock(&disk_lock);
}

static uint64_t layer_usage(const char *upper)
{
	uint64_t bytes;
	if (disk_cached(upper, &bytes))
		return bytes;
	bytes = rt_tree_usage(upper, DISK_WALK_ENTRIES_MAX);
	disk_store(upper, bytes);
	return bytes;
}

/* ---- cgroups and procfs ---- */

static uint64_t host_ram(void)
{
	static uint64_t ram;
	if (!ram) {
		struct sysinfo si;
		if (sysinfo(&si) == 0)
			ram = (uint64_t)si.totalram * si.mem_unit;
	}
	return ram;
}

static void read_cgroups(struct runtime *rt, const char *id, struct rt_stats *s)
{
	cgroup_read_stats(rt, id, s);
	/* "Unlimited" is a huge page-rounded number (v2: "max"): report the
	 * host's RAM. */
	if (!s->mem_limit || s->mem_limit > host_ram())
		s->mem_limit = host_ram();
}

/* Wall-clock start of pid in ms, from its start time in ticks since boot. */
static int64_t started_at_ms(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may hold spaces: fields are counted after its closing ')'. */
	char *p = strrchr(buf, ')');
	unsigned long long ticks = 0;
	if (!p || sscanf(p + 2,
			 "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
			 "%*d %*d %*d %llu",
			 &ticks) != 1)
		return 0;
	struct timespec boot;
	clock_gettime(CLOCK_BOOTTIME, &boot);
	int64_t since_boot_ms = (int64_t)boot.tv_sec * 1000 + boot.tv_nsec / 1000000;
	int64_t start_ms = (int64_t)(ticks * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
	return now_ms() - (since_boot_ms - start_ms);
}

/* A layer with its own filesystem is measured by that filesystem (exact,
 * one syscall); an unlimited one by walking it (cached). */
static void read_layer(const char *cdir, struct rt_stats *s)
{
	struct statvfs vfs;
	_cleanup_free_ char *mnt = layer_mountpoint(cdir);
	if (layer_has_fs(cdir) && rt_is_mountpoint(mnt) && statvfs(mnt, &vfs) == 0) {
		s->disk_limit = s->disk_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
		s->disk_usage = (uint64_t)(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
		s->inodes_limit = vfs.f_files;
		s->inodes_usage = vfs.f_files - vfs.f_ffree;
		return;
	}
	_cleanup_free_ char *upper = layer_dir(cdir, "upper");
	s->disk_usage = layer_usage(upper);
	if (statvfs(cdir, &vfs) == 0)
		s->disk_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
}

static void read_disk(struct runtime *rt, const char *id, struct rt_stats *s)
{
	_cleanup_free_ char *cdir = rt_container_dir(rt, id);
	read_layer(cdir, s);
	_cleanup_free_ char *ram = ramdisk_path(rt, id);
	struct statvfs vfs;
	if (rt_is_mountpoint(ram) && statvfs(ram, &vfs) == 0) {
		s->ramdisk_usage = (uint64_t)(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
		s->ramdisk_size = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	}
}

int rt_stats(struct runtime *rt, const char *id, struct rt_stats *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	if (rt_check_id(id, err) < 0)
		return -1;
	pid_t pid = 0;
	out->state = rt_probe(rt, id, &pid);
	if (out->state == RT_ABSENT)
		return 0;
	read_cgroups(rt, id, out);
	if (pid)
		out->started_at_ms = started_at_ms(pid);
	read_disk(rt, id, out);
	/* Counters are a bonus: a namespace that cannot be read leaves none. */
	struct error ignored;
	if (net_read_ifaces(rt, id, out->netif, ARRAY_SIZE(out->netif), &out->netif_count,
			    &ignored) < 0)
		out->netif_count = 0;
	return 0;
}
