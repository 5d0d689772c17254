/* User-namespace mode: a container's id n (0 <= n < 65536) is host id
 * base + n, so its root is an unprivileged host user.
 *
 * Where a container's mapping is recorded: in its own layer. Overlayfs
 * writes the upper layer with the ids the container's processes really have
 * (host ids). The upper cannot be an idmapped mount instead, because overlay
 * creates its work files as host root, which such a mount cannot represent.
 * So the owner of the layer's root directory IS the mapping: base = that
 * uid rounded down to a 65536 boundary, 0 (no user namespace) below 65536.
 * A container keeps the mode it was created in whatever the daemon's
 * setting is later, and a snapshot or copy carries its ids with it.
 *
 * The image tree stays owned by host root. Containers see it through an
 * idmapped mount of it (mount_setattr MOUNT_ATTR_IDMAP; overlay accepts such
 * layers since Linux 5.19) at <run>/idmap/<base>-<hash of the tree path>,
 * made once per image and base and shared by all containers: creating a
 * container costs no copy and no chown of the image. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/mount.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define NOBODY_OFFSET 65534 /* where ids without a place in the new range go */

static uint32_t idmap_base_of_uid(uint32_t uid)
{
	return uid < IDMAP_RANGE ? 0 : uid & ~(uint32_t)(IDMAP_RANGE - 1);
}

uint32_t idmap_layer_base(const char *layer)
{
	struct stat st;
	return stat(layer, &st) == 0 ? idmap_base_of_uid((uint32_t)st.st_uid) : 0;
}

uint32_t idmap_new_base(struct runtime *rt)
{
	return rt->userns ? rt->userns_base : 0;
}

int idmap_check_base(uint32_t base, struct error *err)
{
	if (base < IDMAP_RANGE || base % IDMAP_RANGE || (uint64_t)base + IDMAP_RANGE > UINT32_MAX)
		return err_set(err, E_VALIDATION,
			       "userns_base %u must be a multiple of 65536, at least 65536, with "
			       "base + 65536 below 2^32",
			       base);
	return 0;
}

static int write_map(pid_t pid, const char *which, uint32_t base, struct error *err)
{
	char path[64], map[48];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, which);
	int n = snprintf(map, sizeof(map), "0 %u %u\n", base, IDMAP_RANGE);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, map, (size_t)n) != n)
		return err_sys(err, E_RUNTIME, "write %s", path);
	return 0;
}

/* A user namespace with the mapping, held by an fd. unshare(CLONE_NEWUSER)
 * is refused to a threaded process, so a child makes it and waits on a pipe
 * while we write its maps and open it; the reaper collects the child. */
static int userns_fd_new(uint32_t base, struct error *err)
{
	_cleanup_close_pair_ int ready[2] = {-1, -1};
	_cleanup_close_pair_ int hold[2] = {-1, -1}; /* the child lives until hold closes */
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0)
		return err_sys(err, E_RUNTIME, "pipe");
	pid_t pid = fork();
	if (pid < 0)
		return err_sys(err, E_RUNTIME, "fork");
	if (pid == 0) {
		close(ready[0]);
		close(hold[1]);
		char c = unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
		(void)!write(ready[1], &c, 1);
		(void)!read(hold[0], &c, 1); /* EOF when the parent is done */
		_exit(0);
	}
	closep(&ready[1]); /* a child that dies before answering reads as EOF */
	closep(&hold[0]);
	char c = 0;
	if (read(ready[0], &c, 1) != 1 || c != 'y')
		return err_set(err, E_RUNTIME, "cannot create a user namespace");
	if (write_map(pid, "uid_map", base, err) < 0 || write_map(pid, "gid_map", base, err) < 0)
		return -1;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, E_RUNTIME, "open %s", path);
	return fd;
}

/* Caller holds rt->idmap_lock. The fds live as long as the runtime. */
static int userns_fd(struct runtime *rt, uint32_t base, struct error *err)
{
	for (size_t i = 0; i < rt->userns_count; i++)
		if (rt->userns_fds[i].base == base)
			return rt->userns_fds[i].fd;
	if (rt->userns_count == ARRAY_SIZE(rt->userns_fds))
		return err_set(err, E_RUNTIME, "too many different id mappings in use");
	int fd = userns_fd_new(base, err);
	if (fd >= 0)
		rt->userns_fds[rt->userns_count++] = (struct idmap_ns){.base = base, .fd = fd};
	return fd;
}

static char *idmap_dir(struct runtime *rt)
{
	return xasprintf("%s/idmap", rt->run_dir);
}

static int attach_idmapped(const char *tree, int nsfd, const char *at, struct error *err)
{
	_cleanup_close_ int fd =
	    (int)syscall(SYS_open_tree, AT_FDCWD, tree, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (fd < 0)
		return err_sys(err, E_RUNTIME, "open_tree %s", tree);
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY,
				  .userns_fd = (uint64_t)nsfd};
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
		return err_sys(err, E_RUNTIME, "idmap %s (kernel without idmapped mounts?)", tree);
	if (syscall(SYS_move_mount, fd, "", AT_FDCWD, at, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return err_sys(err, E_RUNTIME, "attach idmapped %s at %s", tree, at);
	return 0;
}

/* "-<hash of tree>": how the names of tree's views end. */
static void idmap_tree_key(const char *tree, char key[24])
{
	snprintf(key, 24, "-%016llx", (unsigned long long)rt_fnv1a(FNV_OFFSET, tree));
}

bool idmap_is_view_of(struct runtime *rt, const char *path, size_t n, const char *tree)
{
	_cleanup_free_ char *dir = idmap_dir(rt);
	char key[24];
	idmap_tree_key(tree, key);
	size_t dl = strlen(dir), kl = strlen(key);
	return n > dl + 1 + kl && !strncmp(path, dir, dl) && path[dl] == '/' &&
	       !strncmp(path + n - kl, key, kl);
}

int idmap_lower(struct runtime *rt, uint32_t base, const char *tree, char **path_new,
		struct error *err)
{
	_cleanup_free_ char *dir = idmap_dir(rt);
	char key[24];
	idmap_tree_key(tree, key);
	char *path = xasprintf("%s/%u%s", dir, base, key);
	pthread_mutex_lock(&rt->idmap_lock);
	int rc = 0;
	if (!rt_is_mountpoint(path)) {
		int nsfd = -1;
		if (mkdir_p(dir, 0711, err) < 0)
			rc = -1;
		else if (mkdir(path, 0755) < 0 && errno != EEXIST)
			rc = err_sys(err, E_IO, "mkdir %s", path);
		else if ((nsfd = userns_fd(rt, base, err)) < 0)
			rc = -1;
		else
			rc = attach_idmapped(tree, nsfd, path, err);
	}
	pthread_mutex_unlock(&rt->idmap_lock);
	if (rc < 0) {
		free(path);
		return -1;
	}
	*path_new = path;
	return 0;
}

/* Unmounts <run>/idmap/<name> for each name that ends in suffix (all when
 * NULL). Detached: overlays made on them keep their own reference. */
static void forget_matching(struct runtime *rt, const char *suffix)
{
	_cleanup_free_ char *dir = idmap_dir(rt);
	DIR *d = opendir(dir);
	if (!d)
		return;
	pthread_mutex_lock(&rt->idmap_lock);
	struct dirent *de;
	size_t slen = suffix ? strlen(suffix) : 0;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' ||
		    (suffix && (len < slen || strcmp(de->d_name + len - slen, suffix))))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, de->d_name);
		struct error e = {0};
		if (rt_umount_all(p, &e) < 0)
			log_warn("idmap: %s", e.msg);
		rmdir(p);
	}
	pthread_mutex_unlock(&rt->idmap_lock);
	closedir(d);
}

void idmap_forget_tree(struct runtime *rt, const char *tree)
{
	char key[24];
	idmap_tree_key(tree, key);
	forget_matching(rt, key);
}

void idmap_forget_all(struct runtime *rt)
{
	forget_matching(rt, NULL);
}

/* ---- moving a layer from one mapping to another (copies) ---- */

static _Thread_local struct {
	uint32_t from, to;
	int failed_errno;
} shift;

static uint32_t shifted(uint32_t id)
{
	if (id >= shift.from && id - shift.from < IDMAP_RANGE)
		return shift.to + (id - shift.from);
	return shift.to + NOBODY_OFFSET;
}

static int shift_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)type;
	(void)ftw;
	if (lchown(path, shifted((uint32_t)st->st_uid), shifted((uint32_t)st->st_gid)) < 0) {
		shift.failed_errno = errno;
		return 1;
	}
	/* chown clears set-user/group-id bits: put them back. */
	if (!S_ISLNK(st->st_mode) && (st->st_mode & (S_ISUID | S_ISGID)) &&
	    chmod(path, st->st_mode & 07777) < 0) {
		shift.failed_errno = errno;
		return 1;
	}
	return 0;
}

int idmap_shift_tree(const char *dir, uint32_t from, uint32_t to, struct error *err)
{
	if (from == to)
		return 0;
	shift.from = from;
	shift.to = to;
	shift.failed_errno = 0;
	if (nftw(dir, shift_one, 32, FTW_PHYS | FTW_MOUNT) != 0) {
		errno = shift.failed_errno ? shift.failed_errno : errno;
		return err_sys(err, E_IO, "move the ids of %s from %u to %u", dir, from, to);
	}
	return 0;
}
