/* Contracts between the files of src/runtime. Not included outside it. */
#ifndef HOODY_RUNTIME_INTERNAL_H
#define HOODY_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <sys/types.h>

#include "runtime/runtime.h"

#define RT_DNS_MAX 3 /* what resolv.conf honours */

struct runtime {
	char *state_dir; /* <state>/images, <state>/containers, <state>/ipam */
	char *image_dir; /* <state>/images unless configured */
	char *run_dir;	 /* /run/hoody: crun root, netns, ramdisks */
	char *bridge;
	char *subnet;
	char *crun_path;
	char *init_path;
	char *kit_path;
	uint64_t ramdisk_max_bytes;
	uint64_t disk_bytes, disk_inodes; /* layers made by rt_layer_copy */
	uint64_t host_memory_reserve;
	uint64_t nofile_max; /* our hard RLIMIT_NOFILE: crun cannot give more */
	bool io_weight;	     /* the host has blkio/io weights */
	bool swap_limits;    /* the host accounts swap per cgroup (memsw, memory.swap.max) */
	bool limits_off;     /* --no-limits: no parent cgroup, no controllers enabled */
	char *cgroup_root;   /* /sys/fs/cgroup unless configured (cgroup.c) */
	bool cgroup_v2;	     /* <cgroup_root> is a cgroup2 mount: one unified hierarchy */
	/* layer.c: the thread making spare layers, and what it should make
	 * once no start is under way (starts: how many are) */
	pthread_mutex_t spare_lock;
	pthread_cond_t spare_cv;
	pthread_t spare_thread;
	bool spare_busy, spare_started, spare_closing, spare_wanted;
	uint64_t spare_bytes, spare_inodes;
	uint32_t spare_base;
	int starts;
	bool userns;	      /* new containers get a user namespace (idmap.c) */
	uint32_t userns_base; /* their root's host uid and gid */
	pthread_mutex_t idmap_lock;
	struct idmap_ns {
		uint32_t base;
		int fd;
	} userns_fds[8];
	size_t userns_count;
	rt_exit_cb exit_cb;
	void *exit_arg;
	struct reaper *reaper; /* proc.c */
	pthread_mutex_t ipam_lock;
	/* firewall.c, dns.c */
	bool firewall, nat;
	int protected_port;
	char *net_allow;  /* canonical IPv4 "a/n, b/m" or NULL */
	char *net_allow6; /* the IPv6 ones, likewise */
	/* ip6.c: containers' IPv6, on or off for the life of the process */
	bool ipv6;
	unsigned char subnet6_net[16]; /* the prefix, host bits zero */
	int subnet6_prefix;	       /* <= 96: the low 32 bits hold an IPv4 */
	char subnet6[64];	       /* canonical "fd..::/64" */
	char dns[RT_DNS_MAX][48];
	size_t dns_count;
	pthread_mutex_t fw_lock; /* callers of the nft thread, fw_ready */
	bool fw_ready;
	/* the nft thread and its one-job channel (firewall.c) */
	pthread_mutex_t fw_job_lock;
	pthread_cond_t fw_job_cv;
	pthread_t fw_thread;
	bool fw_thread_started, fw_stop;
	const char *fw_job_text; /* non-NULL: a job waits */
	int fw_job_rc;
	char fw_job_why[400];
	struct nft_ctx *nft; /* the nft thread's own */
};

/* ---- paths (runtime.c) ---- */
/* <state>/containers/<id> : upper/, work/, rootfs/ (overlay mount point), config.json, init.log */
char *rt_container_dir(struct runtime *rt, const char *id);
/* <image_dir>/<canonical name with '/' kept as a subdirectory>/rootfs */
char *rt_image_rootfs(struct runtime *rt, const char *canonical);

/* ---- cgroups (cgroup.c): every cgroupfs path and file format, v1 or v2 ---- */
/* Sets rt->cgroup_root (NULL: /sys/fs/cgroup) and detects its layout. */
void cgroup_init(struct runtime *rt, const char *root);
/* <root>/<file>: files of the host's root cgroup (v2) or hierarchies (v1). */
char *cgroup_root_file(struct runtime *rt, const char *file);
/* The parent of every container: <root>/<controller>/hoody (v1) or
 * <root>/hoody (v2, controller unused). */
char *cgroup_parent_path(struct runtime *rt, const char *controller);
/* <parent>/<id> (crun's cgroupsPath is "/hoody/<id>"). */
char *rt_cgroup_path(struct runtime *rt, const char *controller, const char *id);
/* Whether the text of a /proc/<pid>/cgroup puts the process in the
 * container's cgroup (not a sub-cgroup of it). */
bool cgroup_lists(const char *proc_cgroup, const char *id);
/* Whether crun can load a container's v2 device filter for a process with
 * this /proc/<pid>/status text and RLIMIT_MEMLOCK hard limit. */
bool cgroup_device_filter_loadable(const char *proc_status, uint64_t memlock_max);
/* v2: fails, saying why, when crun could start no container for us. */
int cgroup_check_device_filter(struct runtime *rt, struct error *err);
/* Writes text to an existing cgroup file (never creates one). */
int cgroup_write(const char *path, const char *text, struct error *err);
/* The value of the "key N" line of a flat-keyed file (cpu.stat,
 * memory.events, memory.oom_control); false when file or key is missing. */
bool cgroup_keyed(const char *path, const char *key, uint64_t *out);
/* CPU, memory, swap, pids and OOM counters of the container's cgroups
 * (absent files: 0; mem_limit as the file says: unlimited is huge). */
void cgroup_read_stats(struct runtime *rt, const char *id, struct rt_stats *s);
/* Out-of-memory kills counted by the container's memory cgroup; false when
 * it has none. */
bool cgroup_oom_kills(struct runtime *rt, const char *id, uint64_t *out);
/* Paused: a freeze was asked (v1 FROZEN or FREEZING; v2 cgroup.freeze 1). */
bool cgroup_frozen(struct runtime *rt, const char *id);
void cgroup_thaw(struct runtime *rt, const char *id);
/* Up to max pids in the container's cgroup and its sub-cgroups. */
size_t cgroup_procs(struct runtime *rt, const char *id, pid_t *out, size_t max);
/* Removes the container's (empty) cgroups crun left behind. */
int cgroup_remove(struct runtime *rt, const char *id, struct error *err);
/* Host pid of the container's init (from <container dir>/init.pid), checked alive. */
int rt_init_pid(struct runtime *rt, const char *id, pid_t *out, struct error *err);

/* ---- processes (proc.c): the reaper owns waitpid(-1) for the whole process ---- */
struct reaper;
int reaper_start(struct runtime *rt, struct error *err);
void reaper_stop(struct runtime *rt);
/* Runs argv (no shell) with stdin /dev/null, captures stdout/stderr up to
 * max_output each, waits up to timeout_ms (then SIGKILL). exit_code is -1
 * when killed by a signal. */
int proc_run(struct runtime *rt, const char *const *argv, const char *const *envp, int timeout_ms,
	     size_t max_output, struct rt_exec_result *res, struct error *err);
/* Registers a container init pid (our child after crun run -d) so its exit
 * calls rt->exit_cb; or a re-adopted pid watched through a pidfd. An init
 * already reaped (it died during its start) has its exit reported at once,
 * with the status the reaper kept. False: gone, and how is unknown. */
bool reaper_watch_container(struct runtime *rt, const char *id, pid_t pid);
/* Whether pid (alive or a zombie) is a child of this process. */
bool proc_is_our_child(pid_t pid);
/* Reports the exit of a pid the reaper already reaped unwatched; false when
 * it kept no status for it. */
bool reaper_report_if_reaped(struct runtime *rt, const char *id, pid_t pid);
void reaper_unwatch_container(struct runtime *rt, const char *id);

/* ---- images (images.c) ---- */
/* Fills path of the read-only tree; E_VALIDATION if the image is not in the store. */
int image_rootfs_path(struct runtime *rt, const char *canonical, char **path_new,
		      struct error *err);

/* ---- network (netns.c, ipam.c) ---- */
struct net_lease {
	char ipv4[20];	  /* "10.88.0.5" */
	int prefix;	  /* 16 */
	char gateway[20]; /* "10.88.0.1" */
	/* IPv6 (empty when off): the subnet6 prefix + ipv4 / + gateway */
	char ipv6[48], gateway6[48];
	char link6[48]; /* fe80:: + EUI-64 of the MAC */
	int prefix6;
	char netns_path[256]; /* <run>/netns/<id>, bind-mounted namespace file */
	char host_veth[16];   /* "vh<hash>" on the host side, on the bridge */
};
/* Allocates (or returns the existing) address for id, persisted under <state>/ipam. */
int ipam_acquire(struct runtime *rt, const char *id, char ipv4_out[20], struct error *err);
int ipam_release(struct runtime *rt, const char *id, struct error *err);
/* Ensures the bridge exists and is up with the gateway address. */
int net_bridge_ensure(struct runtime *rt, struct error *err);
/* Creates (or repairs) the named netns with lo up, a veth pair whose peer is
 * eth0 inside with the lease address and a default route via the gateway,
 * and the port's firewall rules for network group group. Idempotent. */
int net_setup(struct runtime *rt, const char *id, const char *group, struct net_lease *lease,
	      struct error *err);
/* Removes the bridge (rt_purge: tests, uninstall). Missing is fine. */
int net_bridge_remove(struct runtime *rt, struct error *err);
/* Removes veth, netns file and address. Missing pieces are fine. */
int net_teardown(struct runtime *rt, const char *id, struct error *err);
/* Interface counters and addresses read inside the container's netns. */
int net_read_ifaces(struct runtime *rt, const char *id, struct rt_netif *out, size_t max,
		    size_t *count, struct error *err);
/* Gateway address (first host of rt->subnet) and the subnet's prefix length. */
int ipam_gateway(struct runtime *rt, char gw_out[20], int *prefix_out, struct error *err);
/* Fails if another interface holds an address overlapping rt->subnet. */
int ipam_check_free(struct runtime *rt, struct error *err);
/* FNV-1a of s continued from h (start with 0xcbf29ce484222325): stable
 * short names (veths) and probe starts (ipam). */
uint64_t rt_fnv1a(uint64_t h, const char *s);
/* <run>/netns/<id>: the bind-mounted network namespace crun joins. */
char *net_netns_path(struct runtime *rt, const char *id);
struct net_sock {
	char proto[8]; /* tcp, tcp6, udp, udp6 */
	char ip[48];
	int port;
	unsigned long inode;
};
/* Listening TCP and bound UDP sockets inside the container's netns; none
 * when it has no netns file. */
int net_list_sockets(struct runtime *rt, const char *id, struct net_sock *out, size_t max,
		     size_t *count, struct error *err);

/* The MAC of a container's eth0, derived from its address. */
void net_mac_of(const char *ipv4, unsigned char mac[6]);

/* ---- ip6.c: containers' IPv6 ---- */
/* Reads --ipv6 and --subnet6 (bad ones: E_VALIDATION naming the key). */
int ip6_init(struct runtime *rt, const struct rt_config *cfg, struct error *err);
/* The subnet6 address whose low 32 bits are ipv4 ("" when IPv6 is off). */
void ip6_of(struct runtime *rt, const char *ipv4, char out[48]);
/* Fails if another interface holds an address overlapping subnet6. */
int ip6_check_free(struct runtime *rt, struct error *err);
/* fe80:: + the modified EUI-64 of mac: the link-local the kernel would give. */
void ip6_link_local(const unsigned char mac[6], char out[48]);
/* Host sysctls for routing IPv6: accept_ra 2 where it was 1, then
 * forwarding (when IPv6 is on; logged). */
void ip6_host_prepare(struct runtime *rt);

/* ---- firewall.c, dns.c: nftables isolation and containers' resolvers ---- */
/* Reads the firewall and DNS settings (bad ones: E_VALIDATION). */
int fw_init(struct runtime *rt, const struct rt_config *cfg, struct error *err);
void fw_free(struct runtime *rt);
/* Rebuilds this runtime's tables with every recorded container (once per
 * process; later calls are free). */
int fw_sync(struct runtime *rt, struct error *err);
/* The rules of a container's port (idempotent; replaces older ones). */
int fw_attach(struct runtime *rt, const char *id, const struct net_lease *lease, const char *group,
	      struct error *err);
int fw_detach(struct runtime *rt, const char *id, struct error *err);
/* Both tables and every record (purge). */
int fw_remove_all(struct runtime *rt, struct error *err);
/* The bridge takes no configuration from containers (accept_ra 0, ...). */
void fw_harden_bridge(struct runtime *rt);
int dns_init(struct runtime *rt, const char *configured, struct error *err);
/* resolv.conf of a container: rt's resolvers plus the host's search/options. */
char *dns_resolv_conf_new(struct runtime *rt);

/* ---- stats.c ---- */
/* Bytes allocated by a tree (like du -s; hard links counted per link), not
 * crossing mount points; stops early after max_entries entries. */
uint64_t rt_tree_usage(const char *path, size_t max_entries);
/* The same, counting only files with a single link: what a snapshot holds
 * that no other snapshot shares. */
uint64_t rt_tree_unshared_usage(const char *path, size_t max_entries);
/* Forgets the cached usage of path (after a restore rewrote it). */
void rt_disk_cache_forget(const char *path);

/* ---- container core (r1): helpers shared by runtime.c, proc.c, crun.c,
 * spec.c, seccomp.c, rootfs.c, ramdisk.c, lifecycle.c, exec.c, adopt.c ---- */
#define RT_ID_MAX 64
/* [0-9a-zA-Z_-]{1,RT_ID_MAX}: the id names files, cgroups and crun state. */
bool rt_id_valid(const char *id);
/* E_INVALID_ID unless rt_id_valid(id). */
int rt_check_id(const char *id, struct error *err);
/* <run>/crun: crun's --root. */
char *rt_crun_root(struct runtime *rt);
/* A live (not zombie) process in the container's cgroups. */
bool rt_pid_in_container(pid_t pid, const char *id);
/* The pid in a pid file, 0 if none or implausible. */
pid_t rt_read_pid_file(const char *path);
/* Host pid of a live init from init.pid, or 0; no error for "not running". */
pid_t rt_live_init_pid(struct runtime *rt, const char *id);
/* rt_state without the id check (lifecycle.c); pid_out gets init's pid or 0. */
enum rt_state rt_probe(struct runtime *rt, const char *id, pid_t *pid_out);

/* Like proc_run, but stdout and stderr are appended to log_path: for commands
 * whose descendants keep their stdio open (crun run --detach). exit_code is
 * -1 when killed by a signal. */
int proc_run_logged(struct runtime *rt, const char *const *argv, const char *log_path,
		    int timeout_ms, int *exit_code, struct error *err);
bool reaper_is_watched(struct runtime *rt, const char *id);
/* The `crun exec` command line of rt_exec (exec.c): the container's env, the
 * saved env, then env; flags go before the id (e.g. --tty). Free with
 * exec_cmd_free even on failure. */
struct exec_cmd {
	const char *const *argv;
	char *pidf, *root, *cdir;
	void *args, *env;
};
int exec_cmd_build(struct runtime *rt, const char *id, const char *const *argv,
		   const struct rt_env *env, size_t env_count, const char *const *flags,
		   struct exec_cmd *x, struct error *err);
void exec_cmd_free(struct exec_cmd *x);
/* A child that outlives the call (interactive sessions): spawned with the
 * given stdio in a process group of its own; proc_child_wait reaps it (the
 * group gets SIGKILL after timeout_ms, 0 = wait forever), frees it and
 * returns its exit code (128 + signal when killed). */
struct proc_child;
int proc_spawn(struct runtime *rt, const char *const *argv, int in, int out, int errfd,
	       struct proc_child **out_new, struct error *err);
pid_t proc_child_pid(const struct proc_child *c);
int proc_child_wait(struct runtime *rt, struct proc_child *c, int timeout_ms);
/* pidfd_open(2); -1 with errno on failure. */
int rt_pidfd_open(pid_t pid);
/* <cdir>/environment (KEY="value" lines from rt_set_env, read by rt_exec). */
#define RT_ENV_FILE_MAX (2 * 1024 * 1024)

#define CRUN_TIMEOUT_MS (30 * 1000) /* any single crun call but run */

/* crun.c: every crun call. crun_cmd takes crun's arguments after
 * "--root <dir>", NULL-terminated; a non-zero exit is E_RUNTIME with crun's
 * stderr in the message. */
int crun_cmd(struct runtime *rt, int timeout_ms, struct error *err, ...) __attribute__((sentinel));
/* crun run --detach of the bundle in cdir; output to <cdir>/init.log. */
int crun_run(struct runtime *rt, const char *id, const char *cdir, struct error *err);
/* crun still has a state directory for id (running or not). */
bool crun_has_state(struct runtime *rt, const char *id);

/* spec.c: the OCI config.json of a container. */
struct spec_paths {
	const char *cdir;	/* bundle: rootfs/, hosts, hostname, resolv.conf */
	const char *netns_path; /* NULL: a fresh, unconnected network namespace */
	const char *ramdisk;	/* host tmpfs bound at /ramdisk; NULL when spec->ramdisk is false */
	uint32_t idmap_base;	/* host id of container root; 0: no user namespace */
	const char *kit_dir;	/* host dir bound at /.hoody/kit.d; NULL without the Kit */
};
/* <run>/kit/<id>: the Kit agent's socket directory, owned by container root. */
char *rt_kit_dir(struct runtime *rt, const char *id);
#define RT_HOSTNAME_MAX 63
/* Checks what a start needs before anything on the host changes; fills the
 * hostname (the name, cut to the kernel's limit). */
int spec_validate(const struct rt_spec *spec, char hostname[RT_HOSTNAME_MAX + 1],
		  struct error *err);
/* malloc'ed JSON text; E_INVALID_ENV_KEY for a bad env key. */
char *spec_json_new(struct runtime *rt, const struct rt_spec *spec, const struct spec_paths *p,
		    struct error *err);
/* seccomp.c: linux.seccomp of config.json (a new jansson reference). */
struct json_t *seccomp_profile_new(void);

/* idmap.c: user-namespace mode. A layer's mapping is its root's owner. */
#define IDMAP_RANGE 65536u
/* Host id of container root for the layer dir (0: no user namespace). */
uint32_t idmap_layer_base(const char *layer);
/* What a new container gets: rt->userns_base in user-namespace mode, else 0. */
uint32_t idmap_new_base(struct runtime *rt);
int idmap_check_base(uint32_t base, struct error *err);
/* Path of an idmapped, read-only view of tree for base (made on first use). */
int idmap_lower(struct runtime *rt, uint32_t base, const char *tree, char **path_new,
		struct error *err);
/* True when the n bytes at path name a view of tree made by idmap_lower. */
bool idmap_is_view_of(struct runtime *rt, const char *path, size_t n, const char *tree);
/* Unmounts the views of tree (an image being replaced or removed), or all. */
void idmap_forget_tree(struct runtime *rt, const char *tree);
void idmap_forget_all(struct runtime *rt);
/* Moves every owner in dir from mapping from to mapping to. */
int idmap_shift_tree(const char *dir, uint32_t from, uint32_t to, struct error *err);

/* layer.c: the container's own layer, on a sized filesystem of its own
 * (<cdir>/disk.img mounted at <cdir>/layer) or, for layers made without a
 * disk limit, straight under <cdir>. */
bool layer_has_fs(const char *cdir);
/* <cdir>/layer/<sub> or <cdir>/<sub>: sub is "upper" or "work". */
char *layer_dir(const char *cdir, const char *sub);
char *layer_mountpoint(const char *cdir);
/* Makes (bytes > 0, new layer) and mounts the layer's filesystem, and its
 * upper (owned by base) and work dirs. Idempotent; a missing mount (host
 * reboot) is made again. */
int layer_ensure(struct runtime *rt, const char *cdir, uint64_t bytes, uint64_t inodes,
		 uint32_t base, struct error *err);
int layer_umount(const char *cdir, struct error *err);
/* Joins the spare filler and starts no other (runtime_close, rt_purge)
 * until layer_spares_resume. */
void layer_spares_stop(struct runtime *rt);
/* Around every start: spares are made only while none is under way, so
 * that making them never competes with a start for the CPU. */
void layer_starts_enter(struct runtime *rt);
void layer_starts_leave(struct runtime *rt);
/* True while spares are wanted or being made (benchmarks wait for it). */
bool layer_spares_busy(struct runtime *rt);
void layer_spares_resume(struct runtime *rt);
/* nfnl.c: one element of a set (or map: has_data) of a bridge-family table,
 * added or (del) removed; key as the kernel holds it. */
struct nfnl_elem {
	const char *set;
	unsigned char key[32]; /* ifname . IPv6 address */
	size_t key_len;
	uint32_t data;
	bool has_data, del;
};
/* Applies elems in one nfnetlink batch: all or none. */
int nfnl_set_elems(const char *table, const struct nfnl_elem *elems, size_t count,
		   struct error *err);

/* Unmounts and removes every spare layer (rt_purge). */
int layer_spares_purge(struct runtime *rt, struct error *err);
/* The upper dir of an existing layer, its filesystem mounted if it has one
 * (snapshots and copies of a container not started since a reboot). */
int layer_upper_ready(struct runtime *rt, const char *cdir, char **upper_new, struct error *err);

/* rootfs.c: the overlay at <cdir>/rootfs (lower = image tree). */
/* base: the layer's id mapping (idmap_layer_base), 0 for none. */
int rootfs_mount(struct runtime *rt, const char *cdir, const char *image, uint32_t base,
		 struct error *err);
int rootfs_umount(const char *cdir, struct error *err);
/* ramdisk.c: tmpfs at <run>/ramdisk/<id>/fs (or <run>/ramdisk/g-<group>/fs
 * when shared) on the host side. */
/* The tmpfs the container of id uses (its group's when it has one). */
char *ramdisk_path(struct runtime *rt, const char *id);
/* Mounts (or resizes) the tmpfs of spec, owned by the container's root. */
int ramdisk_ensure(struct runtime *rt, const struct rt_spec *spec, uint32_t owner,
		   struct error *err);
/* Removes the container's own tmpfs and forgets its group (whose tmpfs
 * stays: rt_ramdisk_group_remove). */
int ramdisk_remove(struct runtime *rt, const char *id, struct error *err);
/* limits.c: what the host supports (nofile_max, io_weight, swap_limits);
 * on v2 it first enables the controllers in the root and makes the parent,
 * whose files tell what the containers below it will have. */
void limits_probe(struct runtime *rt);
/* cgroup limits that protect the host from all containers together. */
void limits_parent_ensure(struct runtime *rt);
/* Writes those limits to the parent cgroup (made if missing). */
void limits_parent_write(struct runtime *rt, uint64_t memory, uint64_t pids);
/* true when path is the root of a mount (its device differs from its parent's). */
bool rt_is_mountpoint(const char *path);
/* Detaches every mount stacked on path (stacks happen after odd crashes). */
int rt_umount_all(const char *path, struct error *err);

#endif
