/* Filesystem snapshots of a container's own layer (see runtime.h). rsync
 * does the copying because it keeps what an overlay upper layer is made of
 * (whiteout devices, opaque-directory xattrs, hard links, owners) and its
 * --link-dest gives sharing with the previous snapshot for free on any
 * filesystem; docs/SNAPSHOTS.md says why not reflinks or btrfs. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

#define RSYNC_TIMEOUT_MS (10 * 60 * 1000)
#define RSYNC_OUTPUT_MAX (64 * 1024)
#define SNAP_NAME_MAX 64
#define SNAP_WALK_ENTRIES_MAX (2u * 1000 * 1000)

static int name_check(const char *name, struct error *err)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > SNAP_NAME_MAX || name[0] == '.')
		return err_set(err, E_VALIDATION, "invalid snapshot name");
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
			    name[i]))
			return err_set(err, E_VALIDATION, "invalid snapshot name");
	return 0;
}

static char *snap_dir(struct runtime *rt, const char *id, const char *name)
{
	return name ? xasprintf("%s/snapshots/%s/%s", rt->state_dir, id, name)
		    : xasprintf("%s/snapshots/%s", rt->state_dir, id);
}

/* rsync -aHAX --numeric-ids [extra] src/ dst/ */
static int rsync_tree(struct runtime *rt, const char *src, const char *dst, const char *extra,
		      struct error *err)
{
	_cleanup_free_ char *from = xasprintf("%s/", src);
	_cleanup_free_ char *to = xasprintf("%s/", dst);
	const char *argv[8] = {"rsync", "-aHAX", "--numeric-ids"};
	size_t n = 3;
	if (extra)
		argv[n++] = extra;
	argv[n++] = from;
	argv[n++] = to;
	argv[n] = NULL;
	struct rt_exec_result res = {0};
	int rc = proc_run(rt, argv, NULL, RSYNC_TIMEOUT_MS, RSYNC_OUTPUT_MAX, &res, err);
	if (rc == 0 && res.exit_code != 0)
		rc = err_set(err, E_RUNTIME, "rsync %s -> %s failed (%d): %.300s", src, dst,
			     res.exit_code, res.err ? res.err : "");
	rt_exec_result_free(&res);
	return rc;
}

static int capture(struct runtime *rt, const char *id, const char *name, const char *prev,
		   const char *tmp, struct error *err)
{
	_cleanup_free_ char *cdir = rt_container_dir(rt, id);
	_cleanup_free_ char *upper = NULL;
	if (layer_upper_ready(rt, cdir, &upper, err) < 0)
		return -1;
	_cleanup_free_ char *prev_dir = prev ? snap_dir(rt, id, prev) : NULL;
	_cleanup_free_ char *link = NULL;
	struct stat st;
	if (prev_dir && stat(prev_dir, &st) == 0)
		link = xasprintf("--link-dest=%s", prev_dir);
	if (stat(upper, &st) < 0)
		return err_set(err, E_NOT_FOUND, "container %s has no layer on this host", id);
	return rsync_tree(rt, upper, tmp, link, err);
}

/* Runs copy while a running container is frozen (one point in time). */
static int frozen(struct runtime *rt, const char *id, int (*copy)(void *arg, struct error *err),
		  void *arg, struct error *err)
{
	bool thaw = rt_probe(rt, id, NULL) == RT_RUNNING;
	if (thaw && crun_cmd(rt, CRUN_TIMEOUT_MS, err, "pause", id, (char *)NULL) < 0)
		return err_wrap(err, "freeze %s", id);
	int rc = copy(arg, err);
	struct error e = {0};
	if (thaw && crun_cmd(rt, CRUN_TIMEOUT_MS, &e, "resume", id, (char *)NULL) < 0) {
		log_error("container %s: thaw after copy failed: %s", id, e.msg);
		if (rc == 0)
			rc = err_set(err, E_RUNTIME, "thaw failed: %s", e.msg);
	}
	return rc;
}

struct capture_args {
	struct runtime *rt;
	const char *id, *name, *prev, *tmp;
};

static int capture_cb(void *arg, struct error *err)
{
	struct capture_args *a = arg;
	return capture(a->rt, a->id, a->name, a->prev, a->tmp, err);
}

/* The layer of dst (not running) becomes a copy of src: plain copies, never
 * links, so neither side can write into the other. */
static int replace_layer(struct runtime *rt, const char *src, const char *dst_id, struct error *err)
{
	_cleanup_free_ char *cdir = rt_container_dir(rt, dst_id);
	enum rt_state st = rt_probe(rt, dst_id, NULL);
	if (st == RT_RUNNING || st == RT_PAUSED)
		return err_set(err, E_STATE_CONFLICT, "container %s must be stopped", dst_id);
	/* dst keeps its own id mapping (a new one gets the daemon's): the copy
	 * is moved to it when src was made under another (idmap.c). A new dst
	 * gets a layer of the server's default size. */
	_cleanup_free_ char *old = NULL;
	if (mkdir_p(cdir, 0700, err) < 0 || layer_upper_ready(rt, cdir, &old, err) < 0)
		return -1;
	uint32_t to = access(old, F_OK) == 0 ? idmap_layer_base(old) : idmap_new_base(rt);
	uint32_t from = idmap_layer_base(src);
	/* Overlayfs forbids changing a mounted upper layer; the next start
	 * mounts it again. The work dir holds overlay's scratch state. */
	if (rootfs_umount(cdir, err) < 0 ||
	    layer_ensure(rt, cdir, rt->disk_bytes, rt->disk_inodes, to, err) < 0)
		return -1;
	_cleanup_free_ char *upper = layer_dir(cdir, "upper");
	_cleanup_free_ char *work = layer_dir(cdir, "work");
	if (rm_rf(work, err) < 0 || mkdir_p(work, 0700, err) < 0)
		return -1;
	int rc = rsync_tree(rt, src, upper, "--delete", err);
	if (rc == 0)
		rc = idmap_shift_tree(upper, from, to, err);
	rt_disk_cache_forget(upper);
	return rc;
}

struct layer_args {
	struct runtime *rt;
	const char *src, *dst_id;
};

static int layer_cb(void *arg, struct error *err)
{
	struct layer_args *a = arg;
	return replace_layer(a->rt, a->src, a->dst_id, err);
}

int rt_layer_copy(struct runtime *rt, const char *src_id, const char *snapshot, const char *dst_id,
		  struct error *err)
{
	if (rt_check_id(src_id, err) < 0 || rt_check_id(dst_id, err) < 0 ||
	    (snapshot && name_check(snapshot, err) < 0))
		return -1;
	if (strcmp(src_id, dst_id) == 0)
		return err_set(err, E_VALIDATION, "a container cannot be copied onto itself");
	if (snapshot) {
		_cleanup_free_ char *dir = snap_dir(rt, src_id, snapshot);
		if (access(dir, F_OK) < 0)
			return err_set(err, E_NOT_FOUND, "snapshot %s not found", snapshot);
		return replace_layer(rt, dir, dst_id, err);
	}
	_cleanup_free_ char *scdir = rt_container_dir(rt, src_id);
	_cleanup_free_ char *supper = NULL;
	if (layer_upper_ready(rt, scdir, &supper, err) < 0)
		return -1;
	if (access(supper, F_OK) < 0)
		return err_set(err, E_NOT_FOUND, "container %s has no layer on this host", src_id);
	struct layer_args a = {.rt = rt, .src = supper, .dst_id = dst_id};
	return frozen(rt, src_id, layer_cb, &a, err);
}

int rt_snapshot_create(struct runtime *rt, const char *id, const char *name, const char *prev,
		       uint64_t *size_out, struct error *err)
{
	if (rt_check_id(id, err) < 0 || name_check(name, err) < 0 ||
	    (prev && name_check(prev, err) < 0))
		return -1;
	_cleanup_free_ char *dir = snap_dir(rt, id, name);
	_cleanup_free_ char *tmp = xasprintf("%s.partial", dir);
	_cleanup_free_ char *parent = snap_dir(rt, id, NULL);
	if (access(dir, F_OK) == 0)
		return err_set(err, E_CONFLICT, "snapshot %s already exists", name);
	if (mkdir_p(parent, 0700, err) < 0 || rm_rf(tmp, err) < 0)
		return -1;
	/* Frozen processes write nothing: the copy is one point in time. */
	struct capture_args a = {.rt = rt, .id = id, .name = name, .prev = prev, .tmp = tmp};
	int rc = frozen(rt, id, capture_cb, &a, err);
	struct error e = {0};
	/* Only a complete copy gets the snapshot's name. */
	if (rc == 0 && rename(tmp, dir) < 0)
		rc = err_sys(err, E_IO, "rename %s", tmp);
	if (rc < 0) {
		rm_rf(tmp, &e);
		return rc;
	}
	*size_out = rt_tree_unshared_usage(dir, SNAP_WALK_ENTRIES_MAX);
	return 0;
}

int rt_snapshot_restore(struct runtime *rt, const char *id, const char *name, struct error *err)
{
	if (rt_check_id(id, err) < 0 || name_check(name, err) < 0)
		return -1;
	_cleanup_free_ char *dir = snap_dir(rt, id, name);
	if (access(dir, F_OK) < 0)
		return err_set(err, E_NOT_FOUND, "snapshot %s not found", name);
	return replace_layer(rt, dir, id, err);
}

int rt_snapshot_delete(struct runtime *rt, const char *id, const char *name, struct error *err)
{
	if (rt_check_id(id, err) < 0 || name_check(name, err) < 0)
		return -1;
	_cleanup_free_ char *dir = snap_dir(rt, id, name);
	_cleanup_free_ char *parent = snap_dir(rt, id, NULL);
	if (rm_rf(dir, err) < 0)
		return -1;
	rmdir(parent); /* the last one takes the container's folder with it */
	return 0;
}
