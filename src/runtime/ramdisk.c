/* /ramdisk: a tmpfs mounted on the HOST at <run>/ramdisk/<id> and bound into
 * the container. Living outside the container's mount namespace is what lets
 * its files survive stop, start and restart; only a host reboot (or delete)
 * loses them. An empty tmpfs costs no memory; pages written are charged to
 * the writer's memory cgroup, i.e. the container. */
#include <errno.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/internal.h"

char *ramdisk_path(struct runtime *rt, const char *id)
{
	return xasprintf("%s/ramdisk/%s", rt->run_dir, id);
}

int ramdisk_ensure(struct runtime *rt, const char *id, uint32_t owner, struct error *err)
{
	_cleanup_free_ char *path = ramdisk_path(rt, id);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return err_sys(err, E_IO, "mkdir %s", path);
	if (rt_is_mountpoint(path))
		return 0;
	char opts[128];
	snprintf(opts, sizeof(opts), "size=%llu,mode=1777,uid=%u,gid=%u",
		 (unsigned long long)rt->ramdisk_max_bytes, owner, owner);
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return err_sys(err, E_RUNTIME, "mount tmpfs on %s", path);
	return 0;
}

int ramdisk_remove(struct runtime *rt, const char *id, struct error *err)
{
	_cleanup_free_ char *path = ramdisk_path(rt, id);
	if (rt_umount_all(path, err) < 0)
		return -1;
	if (rmdir(path) < 0 && errno != ENOENT)
		return err_sys(err, E_IO, "rmdir %s", path);
	return 0;
}
