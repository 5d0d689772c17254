/* Contracts between the files of src/runtime. Not included outside it. */
#ifndef HOODY_RUNTIME_INTERNAL_H
#define HOODY_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <sys/types.h>

#include "runtime/runtime.h"

struct runtime {
	char *state_dir;      /* <state>/images, <state>/containers, <state>/ipam */
	char *image_dir;      /* <state>/images unless configured */
	char *run_dir;        /* /run/hoody: crun root, netns, ramdisks */
	char *bridge;
	char *subnet;
	char *crun_path;
	char *init_path;
	uint64_t ramdisk_max_bytes;
	bool userns;
	rt_exit_cb exit_cb;
	void *exit_arg;
	struct reaper *reaper;   /* proc.c */
	pthread_mutex_t ipam_lock;
};

/* ---- paths (runtime.c) ---- */
/* <state>/containers/<id> : upper/, work/, rootfs/ (overlay mount point), config.json, init.log */
char *rt_container_dir(struct runtime *rt, const char *id);
/* <image_dir>/<canonical name with '/' kept as a subdirectory>/rootfs */
char *rt_image_rootfs(struct runtime *rt, const char *canonical);

/* /sys/fs/cgroup/<controller>/hoody/<id> (crun's cgroupsPath is "/hoody/<id>"). */
char *rt_cgroup_path(struct runtime *rt, const char *controller, const char *id);
/* Host pid of the container's init (from <container dir>/init.pid), checked alive. */
int rt_init_pid(struct runtime *rt, const char *id, pid_t *out, struct error *err);

/* ---- processes (proc.c): the reaper owns waitpid(-1) for the whole process ---- */
struct reaper;
int reaper_start(struct runtime *rt, struct error *err);
void reaper_stop(struct runtime *rt);
/* Runs argv (no shell) with stdin /dev/null, captures stdout/stderr up to
 * max_output each, waits up to timeout_ms (then SIGKILL). exit_code is -1
 * when killed by a signal. */
int proc_run(struct runtime *rt, const char *const *argv, const char *const *envp,
	     int timeout_ms, size_t max_output, struct rt_exec_result *res, struct error *err);
/* Registers a container init pid (our child after crun run -d) so its exit
 * calls rt->exit_cb; or a re-adopted pid watched through a pidfd. */
void reaper_watch_container(struct runtime *rt, const char *id, pid_t pid);
void reaper_unwatch_container(struct runtime *rt, const char *id);

/* ---- images (images.c) ---- */
/* Fills path of the read-only tree; E_VALIDATION if the image is not in the store. */
int image_rootfs_path(struct runtime *rt, const char *canonical, char **path_new, struct error *err);

/* ---- network (netns.c, ipam.c) ---- */
struct net_lease {
	char ipv4[20];        /* "10.88.0.5" */
	int prefix;           /* 16 */
	char gateway[20];     /* "10.88.0.1" */
	char netns_path[256]; /* <run>/netns/<id>, bind-mounted namespace file */
	char host_veth[16];   /* "vh<hash>" on the host side, on the bridge */
};
/* Allocates (or returns the existing) address for id, persisted under <state>/ipam. */
int ipam_acquire(struct runtime *rt, const char *id, char ipv4_out[20], struct error *err);
int ipam_release(struct runtime *rt, const char *id, struct error *err);
/* Ensures the bridge exists and is up with the gateway address. */
int net_bridge_ensure(struct runtime *rt, struct error *err);
/* Creates (or repairs) the named netns with lo up, a veth pair whose peer is
 * eth0 inside with the lease address and a default route via the gateway.
 * Idempotent. */
int net_setup(struct runtime *rt, const char *id, struct net_lease *lease, struct error *err);
/* Removes veth, netns file and address. Missing pieces are fine. */
int net_teardown(struct runtime *rt, const char *id, struct error *err);
/* Interface counters and addresses read inside the container's netns. */
int net_read_ifaces(struct runtime *rt, const char *id, struct rt_netif *out, size_t max,
		    size_t *count, struct error *err);

#endif
