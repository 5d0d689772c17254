/* The runtime seam: every call the platform makes to a container runtime,
 * as one table of functions. crun is the only real backend (rt_crun_ops,
 * whose entries are the functions of runtime.h); unit tests hand the
 * platform a fake that keeps its containers in memory and fails the calls
 * a test chooses (tests/unit/fake_runtime.c), so the state machine can be
 * tested with host failures and without root.
 *
 * A backend's state is its own `struct runtime`: the platform only passes
 * the pointer back. Helpers that reach no container stay plain functions
 * of runtime.h (rt_image_normalize, rt_state_name, rt_runtime_info_free,
 * rt_proc_fd and its kin on a process already started), and so does
 * rt_host_specs (hostinfo.h: what the machine is made of). Every entry
 * keeps the contract written in runtime.h. */
#ifndef HOODY_RUNTIME_OPS_H
#define HOODY_RUNTIME_OPS_H

#include "runtime/runtime.h"

struct rt_ops {
	/* exit reports and recovery */
	void (*set_exit_cb)(struct runtime *rt, rt_exit_cb cb, void *arg);
	int (*adopt)(struct runtime *rt, void (*cb)(const char *id, enum rt_state st, void *arg),
		     void *arg, struct error *err);
	int (*list_ids)(struct runtime *rt, char ***ids_new, size_t *count, struct error *err);
	int (*state)(struct runtime *rt, const char *id, enum rt_state *out, struct error *err);

	/* lifecycle */
	int (*create_start)(struct runtime *rt, const struct rt_spec *spec, struct error *err);
	int (*start)(struct runtime *rt, const struct rt_spec *spec, struct error *err);
	int (*stop)(struct runtime *rt, const char *id, int timeout_s, struct error *err);
	int (*restart)(struct runtime *rt, const struct rt_spec *spec, int timeout_s,
		       struct error *err);
	int (*pause)(struct runtime *rt, const char *id, struct error *err);
	int (*resume)(struct runtime *rt, const char *id, struct error *err);
	int (*remove)(struct runtime *rt, const char *id,
		      struct error *err); /* rt_delete: `delete` reads as C++ to the tools */

	/* a running container changed in place */
	int (*set_hostname)(struct runtime *rt, const char *id, const char *name,
			    struct error *err);
	int (*set_net_group)(struct runtime *rt, const char *id, const char *group,
			     struct error *err);
	int (*set_env)(struct runtime *rt, const char *id, const struct rt_env *env, size_t count,
		       struct error *err);

	/* layers and snapshots */
	int (*layer_copy)(struct runtime *rt, const char *src_id, const char *snapshot,
			  const char *dst_id, struct error *err);
	int (*snapshot_create)(struct runtime *rt, const char *id, const char *name,
			       const char *prev, uint64_t *size_out, struct error *err);
	int (*snapshot_restore)(struct runtime *rt, const char *id, const char *name,
				struct error *err);
	int (*snapshot_delete)(struct runtime *rt, const char *id, const char *name,
			       struct error *err);

	/* images */
	bool (*image_exists)(struct runtime *rt, const char *canonical_name);
	int (*image_list)(struct runtime *rt, struct rt_image **out_new, size_t *count,
			  struct error *err);

	/* readings */
	int (*stats)(struct runtime *rt, const char *id, struct rt_stats *out, struct error *err);
	int (*runtime_info)(struct runtime *rt, const char *id, struct rt_runtime_info *out,
			    struct error *err);
	int (*oom_scan)(struct runtime *rt, rt_oom_cb cb, void *arg, struct error *err);
	bool (*io_weight_supported)(struct runtime *rt);

	/* limits */
	int (*ramdisk_group_remove)(struct runtime *rt, const char *group, struct error *err);

	/* ways in: the proxy, the Kit, SSH sessions */
	int (*net_endpoint)(struct runtime *rt, const char *id, char *netns, size_t netns_len,
			    char *ip, size_t ip_len, struct error *err);
	int (*kit_socket)(struct runtime *rt, const char *id, char *path, size_t len,
			  struct error *err);
	/* the resolvers containers' /etc/resolv.conf names, "a,b" ("" when none) */
	void (*dns_servers)(struct runtime *rt, char *out, size_t len);
	bool (*ipv6_on)(struct runtime *rt); /* containers have IPv6 */
	int (*proc_start)(struct runtime *rt, const char *id, const struct rt_proc_opts *o,
			  struct rt_proc **out_new, struct error *err);
	int (*proc_end)(struct runtime *rt, struct rt_proc *p);
	int (*net_connect)(struct runtime *rt, const char *id, uint16_t port, struct error *err);
	int (*root_open)(struct runtime *rt, const char *id, struct error *err);
};

/* The crun backend: the functions of runtime.h. */
extern const struct rt_ops rt_crun_ops;

#endif
