/* The container runtime: images, rootfs, OCI bundles run by crun, cgroups,
 * network namespaces and /ramdisk on this host. It knows nothing of HTTP,
 * users or the database: a container is named by an opaque id (24 hex in
 * practice) and described by struct rt_spec.
 *
 * Threading: every call is safe from any thread. Calls on different
 * containers run in parallel; calls on the same container are serialised by
 * the caller (the platform layer holds a per-container operation lock).
 *
 * Every operation is idempotent and safe to retry: create on an existing
 * container repairs and starts it, delete of a missing one succeeds, stop of
 * a stopped one succeeds. */
#ifndef HOODY_RUNTIME_H
#define HOODY_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct runtime;

/* The defaults of hoodyd's config rows (src/daemon/config.c), and what
 * runtime_open uses when a caller (a test) leaves the field unset. */
#define RT_STATE_DIR_DEFAULT "/var/lib/hoody"
#define RT_RUN_DIR_DEFAULT "/run/hoody"
#define RT_BRIDGE_DEFAULT "hoody0"
#define RT_SUBNET_DEFAULT "10.88.0.0/16"
#define RT_USERNS_BASE_DEFAULT 1073741824u /* 2^30: far above any real user */

struct rt_config {
	const char *state_dir; /* images/, containers/, ipam/ live below it; NULL: the default */
	const char *image_dir; /* default <state_dir>/images; shared by test daemons */
	const char *run_dir;   /* volatile: crun root, netns files, ramdisk mounts */
	const char *bridge;
	const char *subnet;	    /* IPv4 CIDR; the gateway is .1 on the bridge */
	const char *ipv6;	    /* "auto" (NULL), "on", "off" (ip6.c) */
	const char *subnet6;	    /* IPv6 prefix, /96 or shorter; NULL: a ULA /64 derived */
	const char *crun_path;	    /* default "crun" from PATH */
	const char *init_path;	    /* hoody-init binary; default: next to the running executable */
	const char *kit_path;	    /* hoody-kit binary; default: next to the running executable */
	uint64_t ramdisk_max_bytes; /* tmpfs size cap per container; 0 = half of host RAM */
	uint64_t disk_bytes; /* writable layer of a copy made without a spec; 0 = unlimited */
	uint64_t disk_inodes;
	uint64_t host_memory_reserve; /* kept out of every container's reach; 0 = no parent cap */
	bool no_limits; /* containers get no cgroup limits: the host's cgroup tree is left as is */
	bool no_containers;   /* a command that starts none (images, purge): cgroups left alone */
	bool userns;	      /* new containers: root is host id userns_base, id n is base + n */
	uint32_t userns_base; /* multiple of 65536; 0: RT_USERNS_BASE_DEFAULT */
	/* Network isolation (firewall.c, docs/SECURITY.md). */
	bool no_firewall;      /* benchmarks only: no nftables rules, no isolation */
	bool no_nat;	       /* containers' traffic leaves unmasqueraded (routed subnet) */
	const char *dns;       /* resolvers for containers, "a,b"; NULL: the host's */
	const char *net_allow; /* CIDRs (v4 or v6) containers may reach despite the deny lists */
	int protected_port;    /* host TCP port containers never reach (the API's); 0: none */
	/* Where the host's cgroups are mounted; NULL: /sys/fs/cgroup (what crun
	 * uses). cgroup v1 or v2 is read from what is there (cgroup.c). */
	const char *cgroup_root;
	uint64_t nofile_max; /* containers' RLIMIT_NOFILE ceiling (the host's hard limit before
			      * hoodyd raised its own); 0: hoodyd's current hard limit */
};

/* Called (from the runtime's reaper thread) when a container's init exits
 * without the runtime having been asked to stop it. Must not block long.
 * exit_status is init's exit code, or -1 when it was killed by a signal or
 * the code is unknown (a re-adopted init is not our child). It must not call
 * the runtime itself (the reaper would wait for itself): queue the work. */
typedef void (*rt_exit_cb)(const char *id, int exit_status, void *arg);

/* Becomes the child subreaper and starts the reaper thread. Call once per
 * process before any container call. */
int runtime_open(const struct rt_config *cfg, struct runtime **out_new, struct error *err);
void runtime_close(struct runtime *rt);
void runtime_set_exit_cb(struct runtime *rt, rt_exit_cb cb, void *arg);

/* ---- images ------------------------------------------------------------ */

struct rt_image {
	char name[128];	  /* canonical, e.g. "debian/13", "busybox", "ubuntu/24.04" */
	char os[32];	  /* "debian", "busybox", "ubuntu", ... */
	char release[32]; /* "13", "" */
	int64_t created_ms;
	uint64_t size_bytes;
};

/* Canonical image name: "debian", "debian-13", "debian:13", "debian 13" ->
 * "debian/13". Rejects path traversal and odd characters (E_VALIDATION). */
int rt_image_normalize(const char *in, char *out, size_t outlen, struct error *err);
bool rt_image_exists(struct runtime *rt, const char *canonical_name);
/* Returns a malloc'ed array. */
int rt_image_list(struct runtime *rt, struct rt_image **out_new, size_t *count, struct error *err);
/* Builds busybox (from busybox-static) or debian/12|13 (mmdebstrap);
 * progress lines go to stderr when verbose. */
int rt_image_build(struct runtime *rt, const char *name, bool verbose, struct error *err);
/* Imports a rootfs tarball (.tar, .tar.gz, .tar.zst) under name. */
int rt_image_import(struct runtime *rt, const char *name, const char *tarball, struct error *err);
int rt_image_remove(struct runtime *rt, const char *name, struct error *err);

/* ---- containers -------------------------------------------------------- */

struct rt_env {
	const char *key;
	const char *value;
};

struct rt_spec {
	const char *id;	      /* [0-9a-zA-Z_-]{1,64}; names the bundle, cgroup, netns */
	const char *hostname; /* container name */
	const char *image;    /* canonical image name */
	const struct rt_env *env;
	size_t env_count;
	bool ramdisk; /* mount the persistent /ramdisk tmpfs */
	/* Shared /ramdisk: containers giving the same group share one tmpfs
	 * ([0-9a-zA-Z_-]{1,64}); NULL = the container's own. */
	const char *ramdisk_group;
	/* Limits (0 = none for each). They go to crun as linux.resources, so
	 * cgroup v1 and v2 hosts both get them. */
	uint64_t memory_limit; /* bytes */
	uint64_t swap_limit;   /* bytes of swap on top of memory (memory+swap = sum) */
	uint64_t cpu_millis;   /* CFS quota: 1000 = one core */
	uint64_t cpu_shares;   /* weight: 2..262144, 1024 = the kernel's default */
	uint64_t blkio_weight; /* 10..1000; ignored when the host has no I/O weight */
	uint64_t pids_limit;
	uint64_t nofile;	/* RLIMIT_NOFILE hard limit (soft: min(1024, hard)) */
	uint64_t disk_bytes;	/* writable layer: its own filesystem of this size */
	uint64_t disk_inodes;	/* inodes of that filesystem (0 = mkfs default) */
	uint64_t ramdisk_bytes; /* /ramdisk tmpfs size (capped by ramdisk_max_bytes) */
	uint64_t shm_bytes;	/* /dev/shm tmpfs size */
	bool kit;		/* run the Hoody Kit agent (hoody-kit) beside init */
	/* Containers of one group reach each other on the bridge, no others;
	 * NULL: a group of its own. Opaque, [0-9a-zA-Z_-]{1,64}. */
	const char *net_group;
};

enum rt_state {
	RT_ABSENT = 0, /* no trace on the host */
	RT_CREATED,    /* rootfs exists, nothing running */
	RT_RUNNING,
	RT_PAUSED,
	RT_STOPPED, /* init exited; rootfs kept */
};

const char *rt_state_name(enum rt_state s);

/* Prepares rootfs, bundle, network and ramdisk, then starts init. On return
 * the container is running. */
int rt_create_start(struct runtime *rt, const struct rt_spec *spec, struct error *err);
/* Starts a stopped container with (possibly updated) spec. */
int rt_start(struct runtime *rt, const struct rt_spec *spec, struct error *err);
/* SIGTERM to init, wait up to timeout_s, then SIGKILL. timeout_s 0 = force. */
int rt_stop(struct runtime *rt, const char *id, int timeout_s, struct error *err);
int rt_restart(struct runtime *rt, const struct rt_spec *spec, int timeout_s, struct error *err);
int rt_pause(struct runtime *rt, const char *id, struct error *err);
int rt_resume(struct runtime *rt, const char *id, struct error *err);
/* Kills, unmounts, removes cgroups, veth, netns, ramdisk, IP and files. */
int rt_delete(struct runtime *rt, const char *id, struct error *err);
/* The real state, read from crun and the cgroups. */
int rt_state(struct runtime *rt, const char *id, enum rt_state *out, struct error *err);

/* Renames a running container in place: its kernel hostname, /etc/hostname
 * and /etc/hosts (a prespawn claim gives it the user's name). */
int rt_set_hostname(struct runtime *rt, const char *id, const char *name, struct error *err);

/* Moves a running container to another network group (a prespawn pool
 * member claimed into a project); NULL: no group. */
int rt_set_net_group(struct runtime *rt, const char *id, const char *group, struct error *err);

/* Writes /etc/environment inside the container's own layer so later logins
 * and execs see new values without a restart. */
int rt_set_env(struct runtime *rt, const char *id, const struct rt_env *env, size_t count,
	       struct error *err);

struct rt_exec_result {
	int exit_code; /* -1 when killed by a signal or timed out */
	bool timed_out;
	char *out; /* malloc'ed, NUL-terminated, truncated at max_output */
	char *err;
	size_t out_len, err_len;
};

/* Runs argv inside the running container (with the container's env plus
 * extra env), captures output. */
int rt_exec(struct runtime *rt, const char *id, const char *const *argv, const struct rt_env *env,
	    size_t env_count, int timeout_s, size_t max_output, struct rt_exec_result *res,
	    struct error *err);
void rt_exec_result_free(struct rt_exec_result *res);

/* A process inside a running container whose stdio the caller pumps (SSH
 * sessions). argv is run as is; tty asks crun for a terminal inside the
 * container (cols x rows). */
struct rt_proc;
struct rt_proc_opts {
	const char *const *argv;
	const struct rt_env *env;
	size_t env_count;
	bool tty;
	unsigned cols, rows;
};
int rt_proc_start(struct runtime *rt, const char *id, const struct rt_proc_opts *o,
		  struct rt_proc **out_new, struct error *err);
/* Non-blocking fds: 0 stdin (write), 1 stdout, 2 stderr (-1 with a tty: the
 * terminal carries both), 3 readable once the process has ended. */
int rt_proc_fd(const struct rt_proc *p, int which);
/* Closes stdin (EOF for the process; a no-op on a terminal) or an output. */
void rt_proc_close_fd(struct rt_proc *p, int which);
int rt_proc_resize(struct rt_proc *p, unsigned cols, unsigned rows);
/* Kills what is left, reaps, frees; the exit code (128 + signal if killed). */
int rt_proc_end(struct runtime *rt, struct rt_proc *p);

/* A TCP socket connecting (non-blocking) to 127.0.0.1:port inside the
 * container's network namespace. Returns the fd or -1. */
int rt_net_connect(struct runtime *rt, const char *id, uint16_t port, struct error *err);
/* An O_PATH fd of the container's root directory as its processes see it
 * (mounts included); resolve beneath it with openat2(RESOLVE_IN_ROOT). */
int rt_root_open(struct runtime *rt, const char *id, struct error *err);

#define RT_NETIF_IPV6_MAX 4

struct rt_netif {
	char name[32];
	char mac[24];
	char ipv4[20]; /* "10.88.0.5", may be empty */
	int prefix;
	struct rt_netif_ip6 {
		char addr[48];
		int prefix;
		const char *scope; /* "global", "link", "host" */
	} ipv6[RT_NETIF_IPV6_MAX];
	size_t ipv6_count;
	bool up;
	uint64_t rx_bytes, tx_bytes, rx_packets, tx_packets;
	uint64_t rx_errors, tx_errors, rx_dropped, tx_dropped;
};

struct rt_stats {
	enum rt_state state;
	int64_t started_at_ms; /* 0 when not running */
	uint64_t cpu_ns;
	uint64_t mem_usage, mem_peak, mem_limit; /* limit = host RAM when unlimited */
	uint64_t swap_usage, swap_peak;
	uint64_t pids;
	uint64_t disk_usage; /* bytes in the container's own layer (cached, <=10 s old) */
	uint64_t disk_total; /* size of the filesystem holding it */
	uint64_t disk_limit; /* size of the layer's own filesystem, 0 without one */
	uint64_t inodes_usage, inodes_limit; /* of that filesystem */
	uint64_t ramdisk_usage, ramdisk_size;
	uint64_t oom_kills; /* processes killed at the memory limit since start */
	size_t netif_count;
	struct rt_netif netif[8];
};

/* Cheap: reads cgroupfs and procfs only. */
int rt_stats(struct runtime *rt, const char *id, struct rt_stats *out, struct error *err);

struct rt_process {
	int pid; /* as seen inside the container */
	int host_pid;
	char comm[64];
	char cmdline[256];
};

struct rt_socket {
	char proto[8]; /* tcp, tcp6, udp, udp6 */
	char ip[48];
	int port;
	int pid; /* inside the container, 0 if unknown */
	char program[64];
};

struct rt_runtime_info {
	struct rt_process *procs;
	size_t proc_count;
	struct rt_socket *socks;
	size_t sock_count;
};

/* Where the hostname proxy reaches a container: its network namespace file
 * and its bridge address. Lock-free reads (symlinks are written
 * atomically), so a proxy request never waits on an allocation.
 * E_NOT_FOUND when the container holds no address. */
/* The resolvers containers' /etc/resolv.conf names, "a,b" ("" when none). */
void rt_dns_servers(struct runtime *rt, char *out, size_t len);
/* Whether containers have IPv6 (--ipv6, ip6.c). */
bool rt_ipv6_on(struct runtime *rt);
int rt_net_endpoint(struct runtime *rt, const char *id, char *netns, size_t netns_len, char *ip,
		    size_t ip_len, struct error *err);

/* Host path of the Kit agent's Unix socket: <run>/kit/<id>/kit.sock, in a
 * directory only this container has mounted (at /.hoody/kit.d). The path is
 * returned whether or not the agent listens yet. */
int rt_kit_socket(struct runtime *rt, const char *id, char *path, size_t len, struct error *err);

/* Processes and listening sockets, read from procfs of the container. */
int rt_runtime_info(struct runtime *rt, const char *id, struct rt_runtime_info *out,
		    struct error *err);
void rt_runtime_info_free(struct rt_runtime_info *info);

/* ---- snapshots (filesystem only) ----------------------------------------
 * A snapshot is a copy of the container's own layer under
 * <state>/snapshots/<id>/<name>, made with rsync: files unchanged since the
 * previous snapshot are hard links into it (snapshots are immutable, so
 * sharing is safe), everything else is copied. Snapshots outlive their
 * container (rt_delete leaves them). Names: [A-Za-z0-9_.-]{1,64}. */

/* Captures the layer; a running container is frozen meanwhile so the copy
 * is consistent, then thawed. prev (may be NULL) is the snapshot to share
 * unchanged files with. *size_out: bytes this snapshot does not share. */
int rt_snapshot_create(struct runtime *rt, const char *id, const char *name, const char *prev,
		       uint64_t *size_out, struct error *err);
/* Rolls the layer back to the snapshot. The container must not be running
 * (the caller stops it and starts it again). */
int rt_snapshot_restore(struct runtime *rt, const char *id, const char *name, struct error *err);
/* The layer of dst_id (not running; created if new) becomes a copy of
 * src_id's layer (frozen meanwhile if running) or, with snapshot, of that
 * snapshot of src_id. Copies and syncs of containers. */
int rt_layer_copy(struct runtime *rt, const char *src_id, const char *snapshot, const char *dst_id,
		  struct error *err);
/* Idempotent. */
int rt_snapshot_delete(struct runtime *rt, const char *id, const char *name, struct error *err);

/* ---- limits ------------------------------------------------------------ */

/* Calls cb for each container whose cgroup counted new out-of-memory kills
 * since the previous scan (the first scan of a container reports what it
 * counted so far). total: kills since the cgroup was made. Reads cgroupfs
 * only; called from one thread. */
typedef void (*rt_oom_cb)(const char *id, uint64_t new_kills, uint64_t total, void *arg);
int rt_oom_scan(struct runtime *rt, rt_oom_cb cb, void *arg, struct error *err);
/* Unmounts the shared /ramdisk of group (the last container using it is
 * gone). Idempotent. */
int rt_ramdisk_group_remove(struct runtime *rt, const char *group, struct error *err);
/* Whether the host applies block I/O weights (BFQ); false: blkio_weight is
 * not applied and stats report none. */
bool rt_io_weight_supported(struct runtime *rt);

/* Every container id with a directory under <state>/containers. */
int rt_list_ids(struct runtime *rt, char ***ids_new, size_t *count, struct error *err);
/* Deletes every container of this state dir and removes the bridge (tests,
 * uninstall). */
int rt_purge(struct runtime *rt, struct error *err);

/* After a daemon restart: re-attaches exit detection (pidfd) to every
 * container still running and reports their ids through cb. */
int rt_adopt(struct runtime *rt, void (*cb)(const char *id, enum rt_state st, void *arg), void *arg,
	     struct error *err);

#endif
