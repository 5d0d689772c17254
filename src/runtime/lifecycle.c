/* Container lifecycle on top of crun.
 *
 * The create path is the hot one (target: within 2x of a bare `crun run`):
 * plain syscalls to prepare rootfs, ramdisk and files, netlink for the network
 * (netns.c), config.json written once, and exactly one exec: crun run.
 *
 * Stop signals init through a pidfd rather than `crun kill`: no fork, and no
 * chance of signalling a recycled pid. hoody-init forwards SIGTERM to every
 * process and exits; when init dies the kernel kills what is left in the pid
 * namespace, so SIGKILL to init is a SIGKILL to the whole container. `crun
 * delete --force` then drops crun's state and the cgroups.
 *
 * Every operation is idempotent: each step checks the host before acting, so
 * retrying after any failure converges. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

#define KILL_WAIT_MS (10 * 1000)
#define STOP_TIMEOUT_MAX_S 3600
#define INIT_READY_POLL_US 100
#define INIT_READY_POLLS 10000 /* 1 s */
#define PHASES 7

/* ---- host probes ---- */

enum rt_state rt_probe(struct runtime *rt, const char *id, pid_t *pid_out)
{
	pid_t pid = rt_live_init_pid(rt, id);
	if (pid_out)
		*pid_out = pid;
	if (pid)
		return cgroup_frozen(rt, id) ? RT_PAUSED : RT_RUNNING;
	_cleanup_free_ char *cdir = rt_container_dir(rt, id);
	if (!path_exists(cdir))
		return RT_ABSENT;
	_cleanup_free_ char *pidf = xasprintf("%s/init.pid", cdir);
	return path_exists(pidf) ? RT_STOPPED : RT_CREATED;
}

int rt_state(struct runtime *rt, const char *id, enum rt_state *out, struct error *err)
{
	if (rt_check_id(id, err) < 0)
		return -1;
	*out = rt_probe(rt, id, NULL);
	return 0;
}

/* ---- files of the bundle ---- */

/* A new layer gets the mapping of a new container (idmap.c): its root's
 * owner is the container root's host id. *base_out: the layer's mapping. */
static int make_bundle_dirs(struct runtime *rt, const struct rt_spec *spec, const char *cdir,
			    uint32_t *base_out, struct error *err)
{
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", cdir);
	if (mkdir_p(cdir, 0700, err) < 0 || mkdir_p(rootfs, 0755, err) < 0)
		return -1;
	_cleanup_free_ char *upper = layer_dir(cdir, "upper");
	uint32_t base = path_exists(upper) ? idmap_layer_base(upper) : idmap_new_base(rt);
	if (layer_ensure(rt, cdir, spec->disk_bytes, spec->disk_inodes, base, err) < 0)
		return -1;
	/* crun sets up the root and binds the files here from inside the user
	 * namespace: its root must be able to pass through this directory,
	 * others still not. */
	if (base && (chown(cdir, 0, base) < 0 || chmod(cdir, 0710) < 0))
		return err_sys(err, E_IO, "give %s to the container's root group", cdir);
	*base_out = base;
	return 0;
}

/* Private to the host's root: config.json and our copy of the env hold the
 * container's variables. */
static int write_in(const char *cdir, const char *name, const char *text, struct error *err)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", cdir, name);
	return write_file_atomic(p, text, strlen(text), 0600, err);
}

/* A file bound into the container, which its root may edit. */
static int write_bound(const char *cdir, const char *name, const char *text, uint32_t base,
		       struct error *err)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", cdir, name);
	if (write_file_atomic(p, text, strlen(text), 0644, err) < 0)
		return -1;
	if (base && chown(p, base, base) < 0)
		return err_sys(err, E_IO, "chown %s", p);
	return 0;
}

static int write_net_files(struct runtime *rt, const char *cdir, const struct rt_spec *spec,
			   const struct net_lease *lease, uint32_t base, struct error *err)
{
	const char *ip = lease->ipv4[0] ? lease->ipv4 : "127.0.1.1";
	_cleanup_free_ char *hosts = xasprintf("127.0.0.1\tlocalhost\n"
					       "::1\tlocalhost ip6-localhost ip6-loopback\n"
					       "%s\t%s\n",
					       ip, spec->hostname);
	_cleanup_free_ char *hostname = xasprintf("%s\n", spec->hostname);
	_cleanup_free_ char *resolv = dns_resolv_conf_new(rt);
	if (write_bound(cdir, "hosts", hosts, base, err) < 0 ||
	    write_bound(cdir, "hostname", hostname, base, err) < 0 ||
	    write_bound(cdir, "resolv.conf", resolv, base, err) < 0)
		return -1;
	return 0;
}

/* The agent (container root) creates its socket there; nobody else may. */
static int kit_dir_prepare(struct runtime *rt, const char *dir, uint32_t base, struct error *err)
{
	if (!path_exists(rt->kit_path))
		return err_set(err, E_INTERNAL, "Kit agent %s not found", rt->kit_path);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_sys(err, E_IO, "mkdir %s", dir);
	if (chown(dir, base, base) < 0 || chmod(dir, 0700) < 0)
		return err_sys(err, E_IO, "chown %s", dir);
	return 0;
}

static int write_config(struct runtime *rt, const struct rt_spec *spec, const char *cdir,
			const struct net_lease *lease, uint32_t base, struct error *err)
{
	_cleanup_free_ char *ramdisk = spec->ramdisk ? ramdisk_path(rt, spec->id) : NULL;
	_cleanup_free_ char *kit_dir = spec->kit ? rt_kit_dir(rt, spec->id) : NULL;
	if (kit_dir && kit_dir_prepare(rt, kit_dir, base, err) < 0)
		return -1;
	struct spec_paths p = {
	    .cdir = cdir,
	    .idmap_base = base,
	    .netns_path = lease->netns_path[0] ? lease->netns_path : NULL,
	    .ramdisk = ramdisk,
	    .kit_dir = kit_dir,
	};
	_cleanup_free_ char *json = spec_json_new(rt, spec, &p, err);
	if (!json)
		return -1;
	return write_in(cdir, "config.json", json, err);
}

/* ---- pieces of start / stop / delete ---- */

/* True once the process behind pidfd has exited (or timeout_ms passed: false). */
static bool wait_exit(int pidfd, int timeout_ms)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	int64_t deadline = mono_ns() + (int64_t)timeout_ms * 1000000LL;
	for (;;) {
		int left = (int)((deadline - mono_ns()) / 1000000);
		int rc = poll(&p, 1, left > 0 ? left : 0);
		if (rc > 0)
			return true;
		if (rc == 0 || errno != EINTR)
			return false;
	}
}

/* Ends init: SIGTERM and up to timeout_s for a graceful exit, then SIGKILL.
 * A frozen container cannot act on any signal, so it is thawed first. */
static int kill_init(struct runtime *rt, const char *id, int timeout_s, struct error *err)
{
	pid_t pid = rt_live_init_pid(rt, id);
	if (!pid)
		return 0;
	_cleanup_close_ int fd = rt_pidfd_open(pid);
	if (fd < 0)
		return errno == ESRCH ? 0 : err_sys(err, E_RUNTIME, "pidfd_open %d", (int)pid);
	/* The pid might have been recycled between the probe and the open. */
	if (rt_live_init_pid(rt, id) != pid)
		return 0;
	cgroup_thaw(rt, id);
	bool gone = false;
	if (timeout_s > 0 && syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0) == 0)
		gone = wait_exit(fd, timeout_s * 1000);
	if (!gone) {
		syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
		gone = wait_exit(fd, KILL_WAIT_MS);
	}
	if (!gone)
		return err_set(err, E_TIMEOUT, "container %s: init did not die", id);
	return 0;
}

/* Drops crun's record of a container whose init is gone or being killed. */
static int crun_forget(struct runtime *rt, const char *id, struct error *err)
{
	if (!crun_has_state(rt, id))
		return 0;
	return crun_cmd(rt, CRUN_TIMEOUT_MS, err, "delete", "--force", id, (char *)NULL);
}

static int stop_container(struct runtime *rt, const char *id, int timeout_s, struct error *err)
{
	reaper_unwatch_container(rt, id);
	if (kill_init(rt, id, timeout_s, err) < 0)
		return -1;
	if (crun_forget(rt, id, err) < 0)
		return -1;
	return cgroup_remove(rt, id, err);
}

/* Start from a running init: make sure it is watched (after a failed
 * operation it may not be), nothing else to do. */
static int start_existing(struct runtime *rt, const char *id, pid_t pid, enum rt_state st,
			  struct error *err)
{
	if (!reaper_is_watched(rt, id))
		reaper_watch_container(rt, id, pid);
	if (st == RT_PAUSED)
		return crun_cmd(rt, CRUN_TIMEOUT_MS, err, "resume", id, (char *)NULL);
	return 0;
}

/* True once hoody-init sleeps in sigwaitinfo(), having blocked every signal:
 * its only sleep. (SigBlk cannot tell: sigwaitinfo unblocks what it waits
 * for while it sleeps.) */
static bool init_ready(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	_cleanup_free_ char *st = NULL;
	if (read_file(path, 16384, &st, NULL, NULL) < 0)
		return true; /* gone: nothing to wait for */
	if (strncmp(st, "Name:\tinit\n", 11))
		return false; /* still crun's child, before execve */
	const char *state = strstr(st, "\nState:\t");
	return !state || (state[8] != 'R' && state[8] != 'D');
}

/* crun run --detach can return before init has blocked its signals, and a
 * pid namespace's init drops a SIGTERM it has no handler for: a stop right
 * after the start would then not be graceful. Waiting costs well under a ms. */
static void wait_init_ready(pid_t pid)
{
	for (int i = 0; i < INIT_READY_POLLS && !init_ready(pid); i++)
		usleep(INIT_READY_POLL_US);
}

/* Until `crun run --detach`'s helper process has exited, init is its child,
 * not ours: a watch set up then would go through a pidfd and lose the exit
 * status (reported as unknown, -1), and an init that dies then is reaped by
 * us only once the helper is gone. So: wait until init is our child (then
 * watch it) or reaped by us (then report how it ended: an init that died
 * during its start, e.g. of a TERM, is an exit after the start with its true
 * status, not a failed start). False: gone and not ours to report. */
static bool await_init(struct runtime *rt, const char *id, pid_t pid)
{
	for (int i = 0; i < INIT_READY_POLLS; i++) {
		if (reaper_report_if_reaped(rt, id, pid))
			return true;
		if (proc_is_our_child(pid)) {
			wait_init_ready(pid);
			return reaper_watch_container(rt, id, pid);
		}
		usleep(INIT_READY_POLL_US);
	}
	return false;
}

static int launch(struct runtime *rt, const char *id, const char *cdir, struct error *err)
{
	/* Leftover crun state (init died on its own) would make run fail. */
	if (crun_forget(rt, id, err) < 0 || cgroup_remove(rt, id, err) < 0)
		return -1;
	if (crun_run(rt, id, cdir, err) < 0)
		return -1;
	_cleanup_free_ char *pid_path = xasprintf("%s/init.pid", cdir);
	pid_t pid = rt_read_pid_file(pid_path);
	if (pid && await_init(rt, id, pid))
		return 0;
	reaper_unwatch_container(rt, id);
	struct error ignored;
	crun_forget(rt, id, &ignored);
	return err_set(err, E_RUNTIME, "container %s: init exited at once (see %s/init.log)", id,
		       cdir);
}

/* Where a start spends its time, in the debug log (docs/PERFORMANCE.md). */
struct phases {
	int64_t t[PHASES];
	int n;
};

static void phase(struct phases *p)
{
	if (p->n < PHASES)
		p->t[p->n++] = mono_ns();
}

static void phases_log(const char *id, const struct phases *p)
{
	static const char *const names[PHASES - 1] = {"layer",	 "rootfs", "network",
						      "ramdisk", "files",  "crun"};
	char buf[256];
	size_t len = 0;
	for (int i = 1; i < p->n && len < sizeof(buf); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, " %s %.2f", names[i - 1],
					(double)(p->t[i] - p->t[i - 1]) / 1e6);
	log_debug("container %s: started in %.2f ms:%s", id,
		  (double)(p->t[p->n - 1] - p->t[0]) / 1e6, buf);
}

static int start_container(struct runtime *rt, const struct rt_spec *spec_in, struct error *err)
{
	char hostname[RT_HOSTNAME_MAX + 1];
	if (spec_validate(spec_in, hostname, err) < 0)
		return -1;
	struct rt_spec cut = *spec_in;
	cut.hostname = hostname;
	const struct rt_spec *spec = &cut;
	pid_t pid;
	enum rt_state st = rt_probe(rt, spec->id, &pid);
	if (st == RT_RUNNING || st == RT_PAUSED)
		return start_existing(rt, spec->id, pid, st, err);

	_cleanup_free_ char *cdir = rt_container_dir(rt, spec->id);
	struct net_lease lease = {0};
	uint32_t base = 0;
	struct phases ph = {0};
	phase(&ph);
	if (make_bundle_dirs(rt, spec, cdir, &base, err) < 0)
		return -1;
	phase(&ph);
	if (rootfs_mount(rt, cdir, spec->image, base, err) < 0)
		return -1;
	phase(&ph);
	if (net_setup(rt, spec->id, spec->net_group, &lease, err) < 0)
		return -1;
	phase(&ph);
	if (spec->ramdisk ? ramdisk_ensure(rt, spec, base, err) : ramdisk_remove(rt, spec->id, err))
		return -1;
	phase(&ph);
	if (write_net_files(rt, cdir, spec, &lease, base, err) < 0 ||
	    write_config(rt, spec, cdir, &lease, base, err) < 0)
		return -1;
	phase(&ph);
	if (launch(rt, spec->id, cdir, err) < 0)
		return -1;
	phase(&ph);
	phases_log(spec->id, &ph);
	return 0;
}

/* ---- public operations ---- */

/* Layers taken from the spare pool are made again once no start is under
 * way (layer.c). */
static int start_counted(struct runtime *rt, const struct rt_spec *spec, struct error *err)
{
	layer_starts_enter(rt);
	int rc = start_container(rt, spec, err);
	layer_starts_leave(rt);
	return rc;
}

int rt_create_start(struct runtime *rt, const struct rt_spec *spec, struct error *err)
{
	if (start_counted(rt, spec, err) < 0)
		return err_wrap(err, "create %s", spec->id ? spec->id : "?");
	return 0;
}

int rt_start(struct runtime *rt, const struct rt_spec *spec, struct error *err)
{
	if (start_counted(rt, spec, err) < 0)
		return err_wrap(err, "start %s", spec->id ? spec->id : "?");
	return 0;
}

int rt_stop(struct runtime *rt, const char *id, int timeout_s, struct error *err)
{
	if (rt_check_id(id, err) < 0)
		return -1;
	if (timeout_s < 0)
		timeout_s = 0;
	if (timeout_s > STOP_TIMEOUT_MAX_S)
		timeout_s = STOP_TIMEOUT_MAX_S;
	if (stop_container(rt, id, timeout_s, err) < 0)
		return err_wrap(err, "stop %s", id);
	return 0;
}

int rt_restart(struct runtime *rt, const struct rt_spec *spec, int timeout_s, struct error *err)
{
	if (rt_stop(rt, spec->id, timeout_s, err) < 0)
		return -1;
	return rt_start(rt, spec, err);
}

static int freeze(struct runtime *rt, const char *id, bool pause, struct error *err)
{
	if (rt_check_id(id, err) < 0)
		return -1;
	enum rt_state st = rt_probe(rt, id, NULL);
	enum rt_state want = pause ? RT_PAUSED : RT_RUNNING;
	if (st == want)
		return 0;
	if (st != RT_RUNNING && st != RT_PAUSED)
		return err_set(err, E_STATE_CONFLICT, "container %s is %s", id, rt_state_name(st));
	return crun_cmd(rt, CRUN_TIMEOUT_MS, err, pause ? "pause" : "resume", id, (char *)NULL);
}

int rt_pause(struct runtime *rt, const char *id, struct error *err)
{
	return freeze(rt, id, true, err);
}

int rt_resume(struct runtime *rt, const char *id, struct error *err)
{
	return freeze(rt, id, false, err);
}

/* Keeps the first error but goes on: delete must remove all it can. */
static void step(int rc, struct error *tmp, struct error *err, int *first)
{
	if (rc < 0 && *first == 0) {
		*first = -1;
		if (err)
			*err = *tmp;
	}
}

int rt_delete(struct runtime *rt, const char *id, struct error *err)
{
	if (rt_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *cdir = rt_container_dir(rt, id);
	struct error e = {0};
	int rc = 0;
	step(stop_container(rt, id, 0, &e), &e, err, &rc);
	step(rootfs_umount(cdir, &e), &e, err, &rc);
	step(layer_umount(cdir, &e), &e, err, &rc);
	step(ramdisk_remove(rt, id, &e), &e, err, &rc);
	step(net_teardown(rt, id, &e), &e, err, &rc);
	step(ipam_release(rt, id, &e), &e, err, &rc);
	_cleanup_free_ char *kit_dir = rt_kit_dir(rt, id);
	step(rm_rf(kit_dir, &e), &e, err, &rc);
	if (rc == 0)
		step(rm_rf(cdir, &e), &e, err, &rc);
	if (rc < 0)
		return err_wrap(err, "delete %s", id);
	return 0;
}

/* ---- environment ---- */

static int env_text(const struct rt_env *env, size_t count, char **out_new, struct error *err)
{
	size_t cap = 256, len = 0;
	char *buf = xmalloc(cap);
	buf[0] = '\0';
	for (size_t i = 0; i < count; i++) {
		const char *k = env[i].key, *v = env[i].value ? env[i].value : "";
		if (!k || !*k || strpbrk(k, "=\n \t\"") || strchr(v, '\n')) {
			free(buf);
			return err_set(err, E_INVALID_ENV_KEY,
				       "environment variable %s cannot be "
				       "written to /etc/environment",
				       k ? k : "(null)");
		}
		size_t need = strlen(k) + strlen(v) + 4;
		if (len + need + 1 > RT_ENV_FILE_MAX) {
			free(buf);
			return err_set(err, E_VALIDATION, "environment too large");
		}
		if (len + need + 1 > cap) {
			cap = (len + need + 1) * 2;
			buf = xrealloc(buf, cap);
		}
		/* pam_env strips the quotes, so values may hold spaces. */
		len += (size_t)snprintf(buf + len, cap - len, "%s=\"%s\"\n", k, v);
	}
	*out_new = buf;
	return 0;
}

/* Writes dir/name inside a container's rootfs without following the
 * container's symlinks out of it: resolution is confined with RESOLVE_IN_ROOT,
 * as if / were the rootfs. */
static int write_in_root(const char *rootfs, const char *dir, const char *name, const char *text,
			 uint32_t owner, struct error *err)
{
	_cleanup_close_ int rfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return err_sys(err, E_IO, "open %s", rootfs);
	struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	if (mkdirat(rfd, dir, 0755) < 0 && errno != EEXIST)
		return err_sys(err, E_IO, "mkdir %s/%s", rootfs, dir);
	_cleanup_close_ int dfd = (int)syscall(SYS_openat2, rfd, dir, &how, sizeof(how));
	if (dfd < 0)
		return err_sys(err, E_IO, "open %s/%s", rootfs, dir);
	char tmp[64];
	snprintf(tmp, sizeof(tmp), ".%s.hoody-%d", name, (int)gettid());
	_cleanup_close_ int fd =
	    openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_sys(err, E_IO, "create %s/%s/%s", rootfs, dir, tmp);
	int rc = 0;
	size_t len = strlen(text);
	ssize_t n = write(fd, text, len);
	if (n != (ssize_t)len || fchmod(fd, 0644) < 0 || (owner && fchown(fd, owner, owner) < 0))
		rc = err_sys(err, E_IO, "write %s/%s/%s", rootfs, dir, tmp);
	closep(&fd); /* written and closed before it takes the name */
	if (rc == 0 && renameat(dfd, tmp, dfd, name) < 0)
		rc = err_sys(err, E_IO, "rename %s/%s/%s", rootfs, dir, name);
	if (rc < 0)
		unlinkat(dfd, tmp, 0);
	return rc;
}

int rt_set_env(struct runtime *rt, const char *id, const struct rt_env *env, size_t count,
	       struct error *err)
{
	if (rt_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *cdir = rt_container_dir(rt, id);
	if (!path_exists(cdir))
		return err_set(err, E_CONTAINER_NOT_FOUND, "container %s does not exist", id);
	_cleanup_free_ char *text = NULL;
	if (env_text(env, count, &text, err) < 0)
		return -1;
	/* Through the overlay when mounted (writing under a live overlay's
	 * upper dir is undefined), else straight into the layer. */
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", cdir);
	_cleanup_free_ char *upper = layer_dir(cdir, "upper");
	if (write_in_root(rt_is_mountpoint(rootfs) ? rootfs : upper, "etc", "environment", text,
			  idmap_layer_base(upper), err) < 0)
		return -1;
	/* Our own copy, which the container cannot edit, feeds rt_exec. */
	return write_in(cdir, "environment", text, err);
}
