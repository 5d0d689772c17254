/* The container's root: an overlay of the read-only image tree (lower) and
 * the container's own layer (layer.c). It stays mounted while the
 * container exists so that restarts cost nothing here; a missing mount (host
 * reboot) is simply made again. */
#include <string.h>
#include <sys/mount.h>

#include "common/util.h"
#include "runtime/internal.h"

int rootfs_mount(struct runtime *rt, const char *cdir, const char *image, uint32_t base,
		 struct error *err)
{
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", cdir);
	if (rt_is_mountpoint(rootfs))
		return 0;
	_cleanup_free_ char *tree = NULL, *idmapped = NULL;
	if (image_rootfs_path(rt, image, &tree, err) < 0)
		return -1;
	_cleanup_free_ char *upper = layer_dir(cdir, "upper");
	/* In a user namespace the image must look owned by the container's
	 * root, like the layer above it. */
	if (base && idmap_lower(rt, base, tree, &idmapped, err) < 0)
		return -1;
	const char *lower = idmapped ? idmapped : tree;
	_cleanup_free_ char *work = layer_dir(cdir, "work");
	/* Commas or colons in a path would split the option string. */
	if (strpbrk(lower, ",:") || strpbrk(cdir, ",:"))
		return err_set(err, E_INTERNAL, "overlay paths may not contain ',' or ':'");
	_cleanup_free_ char *opts =
	    xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
	if (mount("overlay", rootfs, "overlay", MS_NOATIME, opts) < 0)
		return err_sys(err, E_RUNTIME, "mount overlay on %s", rootfs);
	return 0;
}

int rootfs_umount(const char *cdir, struct error *err)
{
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", cdir);
	return rt_umount_all(rootfs, err);
}
