/* The container's own layer (overlay upper and work dirs) on a filesystem
 * of its own: a sparse ext4 image <cdir>/disk.img, loop-mounted at
 * <cdir>/layer. Its size and inode count are the container's disk quota: a
 * write past them fails inside the container with ENOSPC, and the host's
 * filesystem only ever holds the blocks really written.
 *
 * Why not project quotas: they need the host filesystem made with the
 * ext4 "project" feature (or xfs) and mounted with prjquota, which an
 * existing root filesystem rarely is, and hoodyd must work on whatever
 * holds its state dir. Why not tmpfs: it is RAM. docs/SECURITY.md.
 *
 * A layer made before limits existed (<cdir>/upper, no image) stays where it
 * is and unlimited: moving it is a copy the operator may not want. */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

#define MKFS_TIMEOUT_MS (60 * 1000)
#define LOOP_TRIES 16
#define LAYER_MIN_BYTES (16ULL << 20)
#define LAYER_MIN_INODES 1024ULL
#define LAYER_BYTES_PER_INODE_MIN 4096ULL

static char *image_path(const char *cdir)
{
	return xasprintf("%s/disk.img", cdir);
}

bool layer_has_fs(const char *cdir)
{
	_cleanup_free_ char *img = image_path(cdir);
	return path_exists(img);
}

char *layer_dir(const char *cdir, const char *sub)
{
	return layer_has_fs(cdir) ? xasprintf("%s/layer/%s", cdir, sub)
				  : xasprintf("%s/%s", cdir, sub);
}

char *layer_mountpoint(const char *cdir)
{
	return xasprintf("%s/layer", cdir);
}

/* A sparse file, formatted. Inode tables are left for the kernel to treat
 * as unused (lazy_itable_init + noinit_itable at mount): zeroing them would
 * write megabytes per container to the host. */
static int mkfs_image(struct runtime *rt, const char *path, uint64_t bytes, uint64_t inodes,
		      uint32_t base, struct error *err)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, E_IO, "create %s", path);
	int rc = ftruncate(fd, (off_t)bytes);
	close(fd);
	if (rc < 0)
		return err_sys(err, E_IO, "size %s", path);
	char nopt[32] = "", owner[96];
	snprintf(owner, sizeof(owner),
		 "lazy_itable_init=1,lazy_journal_init=1,nodiscard,root_owner=%u:%u", base, base);
	const char *argv[12] = {"mkfs.ext4", "-q", "-F", "-m", "0", "-E", owner};
	size_t n = 7;
	if (inodes) {
		snprintf(nopt, sizeof(nopt), "%llu", (unsigned long long)inodes);
		argv[n++] = "-N";
		argv[n++] = nopt;
	}
	argv[n++] = path;
	argv[n] = NULL;
	struct rt_exec_result res = {0};
	rc = proc_run(rt, argv, NULL, MKFS_TIMEOUT_MS, 4096, &res, err);
	if (rc == 0 && res.exit_code != 0)
		rc = err_set(err, E_RUNTIME, "mkfs.ext4 %s failed: %.300s", path,
			     res.err ? res.err : "");
	rt_exec_result_free(&res);
	return rc;
}

/* Copies the data extents of src into a new dst of the same size, leaving
 * the holes holes: a fresh filesystem of gigabytes holds a few MiB. */
static int sparse_copy(const char *src, const char *dst, struct error *err)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return err_sys(err, E_IO, "open %s", src);
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct stat st;
	int rc = out < 0 || fstat(in, &st) < 0 ? err_sys(err, E_IO, "copy to %s", dst) : 0;
	off_t pos = 0;
	while (rc == 0 && pos < st.st_size) {
		off_t data = lseek(in, pos, SEEK_DATA);
		if (data < 0)
			break; /* ENXIO: only a hole is left */
		off_t hole = lseek(in, data, SEEK_HOLE);
		off_t r = data, w = data; /* the kernel advances both */
		while (rc == 0 && r < hole)
			if (copy_file_range(in, &r, out, &w, (size_t)(hole - r), 0) <= 0)
				rc = err_sys(err, E_IO, "copy %s", src);
		pos = hole;
	}
	if (rc == 0 && ftruncate(out, st.st_size) < 0)
		rc = err_sys(err, E_IO, "size %s", dst);
	if (out >= 0)
		close(out);
	close(in);
	return rc;
}

static pthread_mutex_t template_lock = PTHREAD_MUTEX_INITIALIZER;

/* One formatted image per (size, inodes, owner) under <state>/layers,
 * made once: mkfs costs tens of ms, a sparse copy of its result a few. */
static int template_ensure(struct runtime *rt, uint64_t bytes, uint64_t inodes, uint32_t base,
			   char **path_new, struct error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/layers", rt->state_dir);
	char *path = xasprintf("%s/ext4-%llu-%llu-%u.img", dir, (unsigned long long)bytes,
			       (unsigned long long)inodes, base);
	int rc = 0;
	pthread_mutex_lock(&template_lock);
	if (!path_exists(path)) {
		_cleanup_free_ char *tmp = xasprintf("%s.new", path);
		rc = mkdir_p(dir, 0700, err);
		if (rc == 0)
			rc = mkfs_image(rt, tmp, bytes, inodes, base, err);
		if (rc == 0 && rename(tmp, path) < 0)
			rc = err_sys(err, E_IO, "rename %s", tmp);
		if (rc < 0)
			unlink(tmp);
	}
	pthread_mutex_unlock(&template_lock);
	if (rc < 0) {
		free(path);
		return -1;
	}
	*path_new = path;
	return 0;
}

/* Made under a temporary name so a crash never leaves a half-written image
 * behind the real name. */
static int image_make(struct runtime *rt, const char *cdir, uint64_t bytes, uint64_t inodes,
		      uint32_t base, struct error *err)
{
	_cleanup_free_ char *img = image_path(cdir);
	_cleanup_free_ char *tmp = xasprintf("%s.new", img);
	_cleanup_free_ char *tmpl = NULL;
	if (template_ensure(rt, bytes, inodes, base, &tmpl, err) < 0)
		return -1;
	int rc = sparse_copy(tmpl, tmp, err);
	if (rc == 0 && rename(tmp, img) < 0)
		rc = err_sys(err, E_IO, "rename %s", tmp);
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* Binds img to a free loop device that detaches itself when the filesystem
 * is unmounted (autoclear): nothing to release on delete but the mount.
 * (Direct I/O would keep the image's pages out of the page cache twice, but
 * makes LOOP_CONFIGURE slower; the doubled cache is reclaimable.) */
static int loop_attach(const char *img, char dev[32], int *loop_fd, struct error *err)
{
	int ifd = open(img, O_RDWR | O_CLOEXEC);
	if (ifd < 0)
		return err_sys(err, E_IO, "open %s", img);
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		close(ifd);
		return err_sys(err, E_RUNTIME, "open /dev/loop-control");
	}
	int rc = 1;
	for (int i = 0; i < LOOP_TRIES && rc > 0; i++) {
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0) {
			rc = err_sys(err, E_RUNTIME, "LOOP_CTL_GET_FREE");
			break;
		}
		snprintf(dev, 32, "/dev/loop%d", nr);
		int lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0)
			continue;
		struct loop_config cfg = {.fd = (uint32_t)ifd};
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) {
			*loop_fd = lfd;
			rc = 0;
		} else {
			close(lfd); /* EBUSY: another start took it first */
		}
	}
	if (rc > 0)
		rc = err_set(err, E_RUNTIME, "no free loop device for %s", img);
	close(ctl);
	close(ifd);
	return rc;
}

static int image_mount(const char *cdir, struct error *err)
{
	_cleanup_free_ char *img = image_path(cdir);
	_cleanup_free_ char *mnt = layer_mountpoint(cdir);
	if (mkdir(mnt, 0700) < 0 && errno != EEXIST)
		return err_sys(err, E_IO, "mkdir %s", mnt);
	char dev[32];
	int lfd = -1;
	if (loop_attach(img, dev, &lfd, err) < 0)
		return -1;
	int rc = 0;
	if (mount(dev, mnt, "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME, "noinit_itable") < 0)
		rc = err_sys(err, E_RUNTIME, "mount %s on %s", dev, mnt);
	close(lfd); /* the mount holds the device now; a failed mount frees it */
	return rc;
}

static int mkdir_owned(const char *path, mode_t mode, uint32_t owner, struct error *err)
{
	if (mkdir(path, mode) < 0) {
		if (errno == EEXIST)
			return 0;
		return err_sys(err, E_IO, "mkdir %s", path);
	}
	if (owner && chown(path, owner, owner) < 0)
		return err_sys(err, E_IO, "chown %s", path);
	return 0;
}

int layer_ensure(struct runtime *rt, const char *cdir, uint64_t bytes, uint64_t inodes,
		 uint32_t base, struct error *err)
{
	_cleanup_free_ char *legacy = xasprintf("%s/upper", cdir);
	bool has_fs = layer_has_fs(cdir);
	if (!has_fs && (bytes == 0 || path_exists(legacy))) {
		if (mkdir_owned(legacy, 0755, base, err) < 0)
			return -1;
		_cleanup_free_ char *work = xasprintf("%s/work", cdir);
		return mkdir_owned(work, 0755, 0, err);
	}
	if (!has_fs) {
		if (bytes < LAYER_MIN_BYTES)
			bytes = LAYER_MIN_BYTES;
		if (inodes && inodes < LAYER_MIN_INODES)
			inodes = LAYER_MIN_INODES;
		/* A small layer cannot hold a large inode table (mkfs refuses). */
		if (inodes > bytes / LAYER_BYTES_PER_INODE_MIN)
			inodes = bytes / LAYER_BYTES_PER_INODE_MIN;
		if (image_make(rt, cdir, bytes, inodes, base, err) < 0)
			return -1;
	}
	_cleanup_free_ char *mnt = layer_mountpoint(cdir);
	if (!rt_is_mountpoint(mnt) && image_mount(cdir, err) < 0)
		return -1;
	_cleanup_free_ char *upper = xasprintf("%s/upper", mnt);
	_cleanup_free_ char *work = xasprintf("%s/work", mnt);
	if (mkdir_owned(upper, 0755, base, err) < 0 || mkdir_owned(work, 0755, 0, err) < 0)
		return -1;
	return 0;
}

int layer_umount(const char *cdir, struct error *err)
{
	_cleanup_free_ char *mnt = layer_mountpoint(cdir);
	return rt_umount_all(mnt, err);
}

int layer_upper_ready(struct runtime *rt, const char *cdir, char **upper_new, struct error *err)
{
	_cleanup_free_ char *mnt = layer_mountpoint(cdir);
	if (layer_has_fs(cdir) && !rt_is_mountpoint(mnt) && image_mount(cdir, err) < 0)
		return -1;
	*upper_new = layer_dir(cdir, "upper");
	return 0;
}
