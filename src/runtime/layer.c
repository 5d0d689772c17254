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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

#define MKFS_TIMEOUT_MS (60 * 1000)
#define LOOP_TRIES 16
#define LAYER_MIN_BYTES (16ULL << 20)
#define LAYER_MIN_INODES 1024ULL
#define LAYER_BYTES_PER_INODE_MIN 4096ULL
#define LAYER_SPARES 2
#define SPARE_NICE 10
#define SPARE_QUIET_WAIT_MS 2000

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
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, E_IO, "create %s", path);
	if (ftruncate(fd, (off_t)bytes) < 0)
		return err_sys(err, E_IO, "size %s", path);
	closep(&fd); /* mkfs opens it itself */
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
	int rc = proc_run(rt, argv, NULL, MKFS_TIMEOUT_MS, 4096, &res, err);
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
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return err_sys(err, E_IO, "open %s", src);
	_cleanup_close_ int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
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

/* img, made under a temporary name so a crash never leaves a half-written
 * image behind the real name. */
static int image_make(struct runtime *rt, const char *img, uint64_t bytes, uint64_t inodes,
		      uint32_t base, struct error *err)
{
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

/* Opens /dev/loop<nr>, making the node when the kernel made the device but no
 * udev made its node (containers and minimal hosts have no udev). */
static int loop_open(int nr, char dev[32])
{
	snprintf(dev, 32, "/dev/loop%d", nr);
	int lfd = open(dev, O_RDWR | O_CLOEXEC);
	if (lfd < 0 && errno == ENOENT &&
	    (mknod(dev, S_IFBLK | 0660, makedev(7, (unsigned)nr)) == 0 || errno == EEXIST))
		lfd = open(dev, O_RDWR | O_CLOEXEC);
	return lfd;
}

/* Binds img to a free loop device that detaches itself when the filesystem
 * is unmounted (autoclear): nothing to release on delete but the mount.
 * LOOP_CTL_GET_FREE hands the same device to every caller until one binds
 * it, so this process's starts take turns (under load, eight parallel creates
 * lost sixteen races in a row); other processes may still race, hence the
 * retries. (Direct I/O would keep the image's pages out of the page cache
 * twice, but makes LOOP_CONFIGURE slower; the doubled cache is reclaimable.) */
static int loop_attach(const char *img, char dev[32], int *loop_fd, struct error *err)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	_cleanup_close_ int ifd = open(img, O_RDWR | O_CLOEXEC);
	if (ifd < 0)
		return err_sys(err, E_IO, "open %s", img);
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return err_sys(err, E_RUNTIME, "open /dev/loop-control");
	int rc = 1;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < LOOP_TRIES && rc > 0; i++) {
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0) {
			rc = err_sys(err, E_RUNTIME, "LOOP_CTL_GET_FREE");
			break;
		}
		_cleanup_close_ int lfd = loop_open(nr, dev);
		if (lfd < 0)
			continue;
		struct loop_config cfg = {.fd = (uint32_t)ifd};
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		/* EBUSY: another process took it first; the cleanup drops it */
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) {
			*loop_fd = steal_fd(&lfd);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&lock);
	if (rc > 0)
		rc = err_set(err, E_RUNTIME, "no free loop device for %s", img);
	return rc;
}

static int image_mount(const char *img, const char *mnt, struct error *err)
{
	if (mkdir(mnt, 0700) < 0 && errno != EEXIST)
		return err_sys(err, E_IO, "mkdir %s", mnt);
	char dev[32];
	/* closed on return: the mount holds the device then; a failed mount frees it */
	_cleanup_close_ int lfd = -1;
	if (loop_attach(img, dev, &lfd, err) < 0)
		return -1;
	if (mount(dev, mnt, "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME, "noinit_itable") < 0)
		return err_sys(err, E_RUNTIME, "mount %s on %s", dev, mnt);
	return 0;
}

/* The layer filesystem of cdir, mounted at <cdir>/layer. */
static int layer_mount(const char *cdir, struct error *err)
{
	_cleanup_free_ char *img = image_path(cdir);
	_cleanup_free_ char *mnt = layer_mountpoint(cdir);
	return image_mount(img, mnt, err);
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

/* ---- spares: layers made ahead ----
 * Copying the template, binding a loop device and mounting ext4 cost tens
 * of ms on a busy host; a create takes a spare instead: its image is renamed
 * into the bundle and its mount moved there (MS_MOVE), both instant. A
 * thread makes the next spares after each take. A spare is the image
 * <state>/layers/<key>.<n>.img, mounted at <state>/layers/spare/<key>.<n>
 * with upper/ and work/ made, and <key>.<n>.ready once complete. The mounts
 * live under a private bind mount of layers/spare so that MS_MOVE works under
 * a shared root (systemd's); the images stay outside it, since rename()
 * cannot cross mounts. rt_purge removes them. */

static char *layers_dir(struct runtime *rt)
{
	return xasprintf("%s/layers", rt->state_dir);
}

static char *spare_root(struct runtime *rt)
{
	return xasprintf("%s/layers/spare", rt->state_dir);
}

/* <layers>/<key>.<n><suffix> or, with suffix NULL, the mountpoint. */
static char *spare_path(struct runtime *rt, const char *key, int n, const char *suffix)
{
	return suffix ? xasprintf("%s/layers/%s.%d%s", rt->state_dir, key, n, suffix)
		      : xasprintf("%s/layers/spare/%s.%d", rt->state_dir, key, n);
}

static void spare_key(char out[96], uint64_t bytes, uint64_t inodes, uint32_t base)
{
	snprintf(out, 96, "%llu-%llu-%u", (unsigned long long)bytes, (unsigned long long)inodes,
		 base);
}

static int spare_root_ensure(struct runtime *rt, struct error *err)
{
	_cleanup_free_ char *root = spare_root(rt);
	if (mkdir_p(root, 0700, err) < 0)
		return -1;
	if (rt_is_mountpoint(root))
		return 0;
	if (mount(root, root, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, root, NULL, MS_PRIVATE, NULL) < 0)
		return err_sys(err, E_RUNTIME, "make %s a private mount", root);
	return 0;
}

static int spare_make(struct runtime *rt, const char *key, int n, uint64_t bytes, uint64_t inodes,
		      uint32_t base, struct error *err)
{
	_cleanup_free_ char *ready = spare_path(rt, key, n, ".ready");
	_cleanup_free_ char *img = spare_path(rt, key, n, ".img");
	_cleanup_free_ char *mnt = spare_path(rt, key, n, NULL);
	/* Under the lock a take is either not begun or done: a slot without
	 * .ready is ours to remake, and no take touches it meanwhile. */
	pthread_mutex_lock(&rt->spare_lock);
	bool ready_now = path_exists(ready);
	pthread_mutex_unlock(&rt->spare_lock);
	if (ready_now)
		return 0;
	if (rt_umount_all(mnt, err) < 0)
		return -1;
	unlink(img);
	if (image_make(rt, img, bytes, inodes, base, err) < 0 || image_mount(img, mnt, err) < 0)
		return -1;
	_cleanup_free_ char *upper = xasprintf("%s/upper", mnt);
	_cleanup_free_ char *work = xasprintf("%s/work", mnt);
	if (mkdir_owned(upper, 0755, base, err) < 0 || mkdir_owned(work, 0755, 0, err) < 0)
		return -1;
	return write_file(ready, "", err);
}

/* The filler: makes every missing spare of the key last asked for, one at
 * a time, at a lower CPU priority and, while a spare is still ready, once no
 * start is under way (or after SPARE_QUIET_WAIT_MS of starts without a
 * pause): a spare is tens of ms of CPU (copy, loop device, ext4 mount) that
 * must not slow down the starts it exists to speed up. */
static void spare_wait_quiet(struct runtime *rt)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SPARE_QUIET_WAIT_MS / 1000;
	while (rt->starts > 0 && !rt->spare_closing &&
	       pthread_cond_timedwait(&rt->spare_cv, &rt->spare_lock, &until) == 0)
		;
}

static int spares_ready(struct runtime *rt, const char *key)
{
	int ready = 0;
	for (int n = 0; n < LAYER_SPARES; n++) {
		_cleanup_free_ char *p = spare_path(rt, key, n, ".ready");
		ready += path_exists(p);
	}
	return ready;
}

static void *spare_filler(void *arg)
{
	struct runtime *rt = arg;
	setpriority(PRIO_PROCESS, (id_t)gettid(), SPARE_NICE);
	struct error err = {0};
	pthread_mutex_lock(&rt->spare_lock);
	while (rt->spare_wanted && !rt->spare_closing) {
		rt->spare_wanted = false;
		uint64_t bytes = rt->spare_bytes, inodes = rt->spare_inodes;
		uint32_t base = rt->spare_base;
		char key[96];
		spare_key(key, bytes, inodes, base);
		for (int n = 0; n < LAYER_SPARES && !rt->spare_closing; n++) {
			/* With the pool empty the next start would make its
			 * layer itself: better made here, at once. */
			if (spares_ready(rt, key) > 0)
				spare_wait_quiet(rt);
			pthread_mutex_unlock(&rt->spare_lock);
			int rc = spare_make(rt, key, n, bytes, inodes, base, &err);
			pthread_mutex_lock(&rt->spare_lock);
			if (rc < 0) {
				log_warn("layer spares: %s", err.msg);
				break;
			}
		}
	}
	rt->spare_busy = false;
	pthread_mutex_unlock(&rt->spare_lock);
	return NULL;
}

/* Starts the filler unless one runs (it then sees spare_wanted itself);
 * the previous one is joined first. Caller holds spare_lock. */
static void spare_refill_locked(struct runtime *rt)
{
	if (rt->spare_busy || rt->spare_closing || !rt->spare_wanted)
		return;
	if (rt->spare_started)
		pthread_join(rt->spare_thread, NULL);
	rt->spare_busy = rt->spare_started =
	    pthread_create(&rt->spare_thread, NULL, spare_filler, rt) == 0;
}

/* A take of key: the filler makes its replacement after the start. */
static void spare_want(struct runtime *rt, uint64_t bytes, uint64_t inodes, uint32_t base)
{
	pthread_mutex_lock(&rt->spare_lock);
	rt->spare_wanted = true;
	rt->spare_bytes = bytes;
	rt->spare_inodes = inodes;
	rt->spare_base = base;
	pthread_mutex_unlock(&rt->spare_lock);
}

void layer_starts_enter(struct runtime *rt)
{
	pthread_mutex_lock(&rt->spare_lock);
	rt->starts++;
	pthread_mutex_unlock(&rt->spare_lock);
}

void layer_starts_leave(struct runtime *rt)
{
	pthread_mutex_lock(&rt->spare_lock);
	if (--rt->starts == 0) {
		pthread_cond_broadcast(&rt->spare_cv);
		spare_refill_locked(rt);
	}
	pthread_mutex_unlock(&rt->spare_lock);
}

bool layer_spares_busy(struct runtime *rt)
{
	pthread_mutex_lock(&rt->spare_lock);
	bool busy = rt->spare_busy || rt->spare_wanted;
	pthread_mutex_unlock(&rt->spare_lock);
	return busy;
}

void layer_spares_stop(struct runtime *rt)
{
	pthread_mutex_lock(&rt->spare_lock);
	rt->spare_closing = true;
	pthread_cond_broadcast(&rt->spare_cv);
	bool join = rt->spare_started;
	rt->spare_started = false;
	pthread_mutex_unlock(&rt->spare_lock);
	if (join)
		pthread_join(rt->spare_thread, NULL);
}

void layer_spares_resume(struct runtime *rt)
{
	pthread_mutex_lock(&rt->spare_lock);
	rt->spare_closing = false;
	pthread_mutex_unlock(&rt->spare_lock);
}

/* Moves a ready spare of key into cdir; 0 on success, -1 when there is
 * none (or it could not be moved: the caller makes a layer itself). */
static int spare_take(struct runtime *rt, const char *cdir, const char *key)
{
	_cleanup_free_ char *img = image_path(cdir);
	_cleanup_free_ char *mnt = layer_mountpoint(cdir);
	int rc = -1;
	pthread_mutex_lock(&rt->spare_lock);
	for (int n = 0; n < LAYER_SPARES && rc < 0; n++) {
		_cleanup_free_ char *ready = spare_path(rt, key, n, ".ready");
		_cleanup_free_ char *simg = spare_path(rt, key, n, ".img");
		_cleanup_free_ char *smnt = spare_path(rt, key, n, NULL);
		if (!path_exists(ready) || unlink(ready) < 0)
			continue;
		if ((mkdir(mnt, 0700) < 0 && errno != EEXIST) || rename(simg, img) < 0)
			continue;
		if (mount(smnt, mnt, NULL, MS_MOVE, NULL) < 0) {
			log_warn("layer spares: move %s: %s", smnt, strerror(errno));
			rename(img, simg); /* remade by the filler, or removed by rt_purge */
			continue;
		}
		rmdir(smnt);
		rc = 0;
	}
	pthread_mutex_unlock(&rt->spare_lock);
	return rc;
}

int layer_spares_purge(struct runtime *rt, struct error *err)
{
	_cleanup_free_ char *root = spare_root(rt);
	_cleanup_free_ char *layers = layers_dir(rt);
	DIR *d = opendir(root);
	struct dirent *de;
	int rc = 0;
	while (d && (de = readdir(d)) && rc == 0) {
		if (de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *mnt = xasprintf("%s/%s", root, de->d_name);
		rc = rt_umount_all(mnt, err);
	}
	if (d)
		closedir(d);
	if (rc == 0)
		rc = rt_umount_all(root, err);
	/* The templates stay: they are a cache, remade when missing. */
	d = rc == 0 ? opendir(layers) : NULL;
	while (d && (de = readdir(d)) && rc == 0) {
		if (strncmp(de->d_name, "ext4-", 5) == 0 || de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", layers, de->d_name);
		rc = rm_rf(p, err);
	}
	if (d)
		closedir(d);
	return rc;
}

static int layer_dirs(const char *cdir, uint32_t base, struct error *err)
{
	_cleanup_free_ char *mnt = layer_mountpoint(cdir);
	_cleanup_free_ char *upper = xasprintf("%s/upper", mnt);
	_cleanup_free_ char *work = xasprintf("%s/work", mnt);
	if (mkdir_owned(upper, 0755, base, err) < 0 || mkdir_owned(work, 0755, 0, err) < 0)
		return -1;
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
		char key[96];
		spare_key(key, bytes, inodes, base);
		struct error e = {0};
		bool spares = spare_root_ensure(rt, &e) == 0;
		bool took = spares && spare_take(rt, cdir, key) == 0;
		if (spares)
			spare_want(rt, bytes, inodes, base);
		else
			log_warn("layer spares: %s", e.msg);
		if (took)
			return layer_dirs(cdir, base, err);
		_cleanup_free_ char *img = image_path(cdir);
		if (image_make(rt, img, bytes, inodes, base, err) < 0)
			return -1;
	}
	_cleanup_free_ char *mnt = layer_mountpoint(cdir);
	if (!rt_is_mountpoint(mnt) && layer_mount(cdir, err) < 0)
		return -1;
	return layer_dirs(cdir, base, err);
}

int layer_umount(const char *cdir, struct error *err)
{
	_cleanup_free_ char *mnt = layer_mountpoint(cdir);
	return rt_umount_all(mnt, err);
}

int layer_upper_ready(struct runtime *rt, const char *cdir, char **upper_new, struct error *err)
{
	_cleanup_free_ char *mnt = layer_mountpoint(cdir);
	if (layer_has_fs(cdir) && !rt_is_mountpoint(mnt) && layer_mount(cdir, err) < 0)
		return -1;
	*upper_new = layer_dir(cdir, "upper");
	return 0;
}
