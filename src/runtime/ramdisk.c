/* /ramdisk: a tmpfs mounted on the HOST and bound into the container.
 * Living outside the container's mount namespace is what lets its files
 * survive stop, start and restart; only a host reboot (or delete) loses
 * them. An empty tmpfs costs no memory; pages written are charged to the
 * writer's memory cgroup, i.e. the container, so the ramdisk counts against
 * its memory limit, and its size caps it besides.
 *
 * Layout: <run>/ramdisk/<id>/fs is the container's own tmpfs;
 * <run>/ramdisk/g-<group>/fs a shared one (project scope), which members
 * reach through the symlink <run>/ramdisk/<id>/fs -> ../g-<group>/fs.
 * The tmpfs root is 1777 for the container's users, so the directory above
 * it is the fence on the host: 0700 root (0710 root:<container root> in
 * user-namespace mode, where crun must pass through), never traversable by
 * other host users. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/internal.h"

#define GROUP_PREFIX "g-"

static char *own_dir(struct runtime *rt, const char *name)
{
	return xasprintf("%s/ramdisk/%s", rt->run_dir, name);
}

char *ramdisk_path(struct runtime *rt, const char *id)
{
	_cleanup_free_ char *dir = own_dir(rt, id);
	char *fs = xasprintf("%s/fs", dir);
	char target[PATH_MAX];
	ssize_t n = readlink(fs, target, sizeof(target) - 1);
	if (n <= 0)
		return fs;
	target[n] = '\0';
	free(fs);
	/* "../g-<group>/fs": resolved by hand so callers see the mount itself. */
	return xasprintf("%s/ramdisk/%s", rt->run_dir, target + 3);
}

/* The fence: only root (and the container's root, which needs to pass)
 * may enter. Applied every time: it repairs a directory made by an older
 * hoodyd. */
static int fence_dir(const char *dir, uint32_t owner, struct error *err)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_sys(err, E_IO, "mkdir %s", dir);
	if (chown(dir, 0, owner) < 0 || chmod(dir, owner ? 0710 : 0700) < 0)
		return err_sys(err, E_IO, "fence %s", dir);
	return 0;
}

static uint64_t size_of(struct runtime *rt, const struct rt_spec *spec)
{
	uint64_t want = spec->ramdisk_bytes ? spec->ramdisk_bytes : rt->ramdisk_max_bytes;
	return want < rt->ramdisk_max_bytes ? want : rt->ramdisk_max_bytes;
}

/* Mounts the tmpfs at fs, or resizes it when the policy changed. */
static int tmpfs_ensure(const char *fs, uint64_t size, uint32_t owner, struct error *err)
{
	char opts[128];
	snprintf(opts, sizeof(opts), "size=%llu,mode=1777,uid=%u,gid=%u", (unsigned long long)size,
		 owner, owner);
	if (mkdir(fs, 0700) < 0 && errno != EEXIST)
		return err_sys(err, E_IO, "mkdir %s", fs);
	if (!rt_is_mountpoint(fs)) {
		if (mount("tmpfs", fs, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
			return err_sys(err, E_RUNTIME, "mount tmpfs on %s", fs);
		return 0;
	}
	struct statvfs vfs;
	if (statvfs(fs, &vfs) == 0 && (uint64_t)vfs.f_blocks * vfs.f_frsize == size)
		return 0;
	snprintf(opts, sizeof(opts), "size=%llu", (unsigned long long)size);
	/* Shrinking below what is stored fails: keep the old size then. */
	if (mount(NULL, fs, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, opts) < 0 && errno != EINVAL)
		return err_sys(err, E_RUNTIME, "resize tmpfs on %s", fs);
	return 0;
}

static int group_check(const char *group, struct error *err)
{
	if (!rt_id_valid(group))
		return err_set(err, E_VALIDATION, "invalid ramdisk group");
	return 0;
}

/* <run>/ramdisk/<id>/fs -> ../g-<group>/fs, replacing whatever was there. */
static int link_group(const char *dir, const char *group, struct error *err)
{
	_cleanup_free_ char *fs = xasprintf("%s/fs", dir);
	_cleanup_free_ char *target = xasprintf("../" GROUP_PREFIX "%s/fs", group);
	char cur[PATH_MAX];
	ssize_t n = readlink(fs, cur, sizeof(cur) - 1);
	if (n > 0 && (size_t)n == strlen(target) && !memcmp(cur, target, (size_t)n))
		return 0;
	struct stat st;
	if (lstat(fs, &st) == 0) {
		if (S_ISLNK(st.st_mode) ? unlink(fs) < 0
					: rt_umount_all(fs, err) < 0 || rmdir(fs) < 0)
			return err_sys(err, E_IO, "replace %s", fs);
	}
	if (symlink(target, fs) < 0)
		return err_sys(err, E_IO, "symlink %s", fs);
	return 0;
}

/* A tmpfs mounted straight on <run>/ramdisk/<id> by an older hoodyd was
 * reachable by every host user: it goes (its files are lost, as at a
 * reboot). */
static int drop_unfenced(const char *dir, struct error *err)
{
	if (!rt_is_mountpoint(dir))
		return 0;
	return rt_umount_all(dir, err);
}

int ramdisk_ensure(struct runtime *rt, const struct rt_spec *spec, uint32_t owner,
		   struct error *err)
{
	_cleanup_free_ char *dir = own_dir(rt, spec->id);
	if (drop_unfenced(dir, err) < 0 || fence_dir(dir, owner, err) < 0)
		return -1;
	if (!spec->ramdisk_group) {
		_cleanup_free_ char *fs = xasprintf("%s/fs", dir);
		struct stat st;
		if (lstat(fs, &st) == 0 && S_ISLNK(st.st_mode) && unlink(fs) < 0)
			return err_sys(err, E_IO, "unlink %s", fs);
		return tmpfs_ensure(fs, size_of(rt, spec), owner, err);
	}
	if (group_check(spec->ramdisk_group, err) < 0)
		return -1;
	_cleanup_free_ char *gdir =
	    xasprintf("%s/ramdisk/" GROUP_PREFIX "%s", rt->run_dir, spec->ramdisk_group);
	_cleanup_free_ char *gfs = xasprintf("%s/fs", gdir);
	if (fence_dir(gdir, owner, err) < 0 || tmpfs_ensure(gfs, size_of(rt, spec), owner, err) < 0)
		return -1;
	return link_group(dir, spec->ramdisk_group, err);
}

static int remove_dir(const char *dir, struct error *err)
{
	_cleanup_free_ char *fs = xasprintf("%s/fs", dir);
	struct stat st;
	if (lstat(fs, &st) == 0 && S_ISLNK(st.st_mode)) {
		if (unlink(fs) < 0)
			return err_sys(err, E_IO, "unlink %s", fs);
	} else if (rt_umount_all(fs, err) < 0) {
		return -1;
	} else if (rmdir(fs) < 0 && errno != ENOENT) {
		return err_sys(err, E_IO, "rmdir %s", fs);
	}
	if (drop_unfenced(dir, err) < 0)
		return -1;
	if (rmdir(dir) < 0 && errno != ENOENT)
		return err_sys(err, E_IO, "rmdir %s", dir);
	return 0;
}

int ramdisk_remove(struct runtime *rt, const char *id, struct error *err)
{
	_cleanup_free_ char *dir = own_dir(rt, id);
	return remove_dir(dir, err);
}

int rt_ramdisk_group_remove(struct runtime *rt, const char *group, struct error *err)
{
	if (group_check(group, err) < 0)
		return -1;
	_cleanup_free_ char *gdir = xasprintf("%s/ramdisk/" GROUP_PREFIX "%s", rt->run_dir, group);
	return remove_dir(gdir, err);
}
