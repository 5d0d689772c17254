/* The fake runtime backend (fake_runtime.h). One mutex guards everything:
 * the platform calls from its workers, its timers and the test at once. */
#include "fake_runtime.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define FAKE_MAX 64
#define FAKE_SNAPS_MAX 64
#define TAG_MAX 96

struct fake_ctr {
	char id[72];
	enum rt_state st;
	char hostname[64];
	char group[72];
	char layer[TAG_MAX];
	bool env;
	unsigned oom_kills;
};

struct fake_snap {
	char id[72];
	char name[72];
	char layer[TAG_MAX];
};

struct runtime {
	pthread_mutex_t mu;
	struct fake_ctr c[FAKE_MAX];
	size_t n;
	struct fake_snap s[FAKE_SNAPS_MAX];
	size_t nsnaps;
	rt_exit_cb exit_cb;
	void *exit_arg;
	unsigned calls[FAKE_OP_COUNT];
	/* the armed failure */
	enum fake_op fail_op;
	unsigned fail_left; /* 0: none armed */
	enum fake_mode fail_mode;
	bool fired;
	enum fake_op fired_op;
};

static const char *const op_names[FAKE_OP_COUNT] = {
    "any",
    "state",
    "list_ids",
    "adopt",
    "create_start",
    "start",
    "stop",
    "restart",
    "pause",
    "resume",
    "delete",
    "set_hostname",
    "set_net_group",
    "set_env",
    "layer_copy",
    "snapshot_create",
    "snapshot_restore",
    "snapshot_delete",
    "stats",
};

const char *fake_op_name(enum fake_op op)
{
	return op < FAKE_OP_COUNT ? op_names[op] : "?";
}

struct runtime *fake_runtime_new(void)
{
	struct runtime *rt = xcalloc(1, sizeof(*rt));
	pthread_mutex_init(&rt->mu, NULL);
	return rt;
}

void fake_runtime_free(struct runtime *rt)
{
	if (!rt)
		return;
	pthread_mutex_destroy(&rt->mu);
	free(rt);
}

void fake_fail(struct runtime *rt, enum fake_op op, unsigned nth, enum fake_mode mode)
{
	pthread_mutex_lock(&rt->mu);
	rt->fail_op = op;
	rt->fail_left = nth;
	rt->fail_mode = mode;
	rt->fired = false;
	pthread_mutex_unlock(&rt->mu);
}

void fake_disarm(struct runtime *rt)
{
	pthread_mutex_lock(&rt->mu);
	rt->fail_left = 0;
	pthread_mutex_unlock(&rt->mu);
}

bool fake_fired(struct runtime *rt)
{
	pthread_mutex_lock(&rt->mu);
	bool f = rt->fired;
	pthread_mutex_unlock(&rt->mu);
	return f;
}

enum fake_op fake_fired_op(struct runtime *rt)
{
	pthread_mutex_lock(&rt->mu);
	enum fake_op op = rt->fired ? rt->fired_op : FAKE_ANY;
	pthread_mutex_unlock(&rt->mu);
	return op;
}

unsigned fake_calls(struct runtime *rt, enum fake_op op)
{
	pthread_mutex_lock(&rt->mu);
	unsigned n = rt->calls[op];
	pthread_mutex_unlock(&rt->mu);
	return n;
}

/* Counts a call of op (mu held); the failure mode when this is the armed
 * failure, else -1. */
static int count_call(struct runtime *rt, enum fake_op op)
{
	rt->calls[op]++;
	rt->calls[FAKE_ANY]++;
	if (!rt->fail_left || rt->fired || (rt->fail_op != FAKE_ANY && rt->fail_op != op))
		return -1;
	if (--rt->fail_left)
		return -1;
	rt->fired = true;
	rt->fired_op = op;
	return (int)rt->fail_mode;
}

static int injected(enum fake_op op, struct error *err)
{
	return err_set(err, E_RUNTIME, "fake runtime: injected failure of %s", op_names[op]);
}

static struct fake_ctr *find(struct runtime *rt, const char *id)
{
	for (size_t i = 0; i < rt->n; i++)
		if (strcmp(rt->c[i].id, id) == 0)
			return &rt->c[i];
	return NULL;
}

static struct fake_ctr *find_or_add(struct runtime *rt, const char *id)
{
	struct fake_ctr *c = find(rt, id);
	if (c)
		return c;
	if (rt->n == FAKE_MAX)
		abort(); /* a test with more containers than the fake holds is wrong */
	c = &rt->c[rt->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->st = RT_CREATED;
	return c;
}

static void forget(struct runtime *rt, const char *id)
{
	struct fake_ctr *c = find(rt, id);
	if (c)
		*c = rt->c[--rt->n];
}

static struct fake_snap *find_snap(struct runtime *rt, const char *id, const char *name)
{
	for (size_t i = 0; i < rt->nsnaps; i++)
		if (strcmp(rt->s[i].id, id) == 0 && strcmp(rt->s[i].name, name) == 0)
			return &rt->s[i];
	return NULL;
}

/* ------------------------------------------------------------ the ops */

static void f_set_exit_cb(struct runtime *rt, rt_exit_cb cb, void *arg)
{
	pthread_mutex_lock(&rt->mu);
	rt->exit_cb = cb;
	rt->exit_arg = arg;
	pthread_mutex_unlock(&rt->mu);
}

static int f_adopt(struct runtime *rt, void (*cb)(const char *id, enum rt_state st, void *arg),
		   void *arg, struct error *err)
{
	pthread_mutex_lock(&rt->mu);
	int mode = count_call(rt, FAKE_ADOPT);
	size_t n = rt->n;
	struct fake_ctr v[FAKE_MAX];
	memcpy(v, rt->c, n * sizeof(*v));
	pthread_mutex_unlock(&rt->mu);
	if (mode == FAKE_CLEAN)
		return injected(FAKE_ADOPT, err);
	for (size_t i = 0; i < n; i++)
		if (v[i].st == RT_RUNNING || v[i].st == RT_PAUSED)
			cb(v[i].id, v[i].st, arg);
	return mode >= 0 ? injected(FAKE_ADOPT, err) : 0;
}

static int f_list_ids(struct runtime *rt, char ***ids_new, size_t *count, struct error *err)
{
	pthread_mutex_lock(&rt->mu);
	int rc = 0;
	if (count_call(rt, FAKE_LIST_IDS) >= 0) {
		rc = injected(FAKE_LIST_IDS, err);
	} else {
		*ids_new = xcalloc(rt->n + 1, sizeof(**ids_new));
		for (size_t i = 0; i < rt->n; i++)
			(*ids_new)[i] = xstrdup(rt->c[i].id);
		*count = rt->n;
	}
	pthread_mutex_unlock(&rt->mu);
	return rc;
}

static int f_state(struct runtime *rt, const char *id, enum rt_state *out, struct error *err)
{
	pthread_mutex_lock(&rt->mu);
	int rc = 0;
	struct fake_ctr *c = find(rt, id);
	if (count_call(rt, FAKE_STATE) >= 0)
		rc = injected(FAKE_STATE, err);
	else
		*out = c ? c->st : RT_ABSENT;
	pthread_mutex_unlock(&rt->mu);
	return rc;
}

static void take_spec(struct fake_ctr *c, const struct rt_spec *spec)
{
	snprintf(c->hostname, sizeof(c->hostname), "%s", spec->hostname ? spec->hostname : "");
	snprintf(c->group, sizeof(c->group), "%s", spec->net_group ? spec->net_group : "");
	c->env = false;
	c->oom_kills = 0;
}

/* The real runtime's create repairs and starts what exists. */
static int f_create_start(struct runtime *rt, const struct rt_spec *spec, struct error *err)
{
	pthread_mutex_lock(&rt->mu);
	int mode = count_call(rt, FAKE_CREATE_START);
	if (mode != FAKE_CLEAN) {
		struct fake_ctr *c = find_or_add(rt, spec->id);
		if (!c->layer[0])
			snprintf(c->layer, sizeof(c->layer), "image:%s", spec->image);
		take_spec(c, spec);
		c->st = mode == FAKE_PARTIAL ? RT_CREATED : RT_RUNNING;
	}
	pthread_mutex_unlock(&rt->mu);
	return mode >= 0 ? injected(FAKE_CREATE_START, err) : 0;
}

/* start and restart: a container whose files exist runs its init again. */
static int start_as(struct runtime *rt, enum fake_op op, const struct rt_spec *spec,
		    struct error *err)
{
	pthread_mutex_lock(&rt->mu);
	int rc = 0;
	struct fake_ctr *c = find(rt, spec->id);
	int mode = count_call(rt, op);
	if (!c) {
		rc = err_set(err, E_NOT_FOUND, "fake runtime: %s: no such container", spec->id);
	} else if (mode == FAKE_PARTIAL) {
		c->st = RT_STOPPED;
	} else if (mode != FAKE_CLEAN) {
		take_spec(c, spec);
		c->st = RT_RUNNING;
	}
	pthread_mutex_unlock(&rt->mu);
	return rc == 0 && mode >= 0 ? injected(op, err) : rc;
}

static int f_start(struct runtime *rt, const struct rt_spec *spec, struct error *err)
{
	return start_as(rt, FAKE_START, spec, err);
}

static int f_restart(struct runtime *rt, const struct rt_spec *spec, int timeout_s,
		     struct error *err)
{
	return start_as(rt, FAKE_RESTART, spec, err);
}

/* stop, pause and resume: from is what the call acts on, to what it makes;
 * a container already in `to` (or, for stop, gone) is left alone. */
static int move(struct runtime *rt, enum fake_op op, const char *id, enum rt_state to,
		struct error *err)
{
	pthread_mutex_lock(&rt->mu);
	int rc = 0;
	struct fake_ctr *c = find(rt, id);
	int mode = count_call(rt, op);
	bool acts = c && c->st != to &&
		    (op == FAKE_STOP ? c->st == RT_RUNNING || c->st == RT_PAUSED
				     : c->st == (op == FAKE_PAUSE ? RT_RUNNING : RT_PAUSED));
	if (op != FAKE_STOP && (!c || (c->st != to && !acts)))
		rc = err_set(err, E_RUNTIME, "fake runtime: cannot %s a container that is %s",
			     op_names[op], rt_state_name(c ? c->st : RT_ABSENT));
	else if (acts && (mode == FAKE_DONE || mode < 0))
		c->st = to;
	pthread_mutex_unlock(&rt->mu);
	return rc == 0 && mode >= 0 ? injected(op, err) : rc;
}

static int f_stop(struct runtime *rt, const char *id, int timeout_s, struct error *err)
{
	return move(rt, FAKE_STOP, id, RT_STOPPED, err);
}

static int f_pause(struct runtime *rt, const char *id, struct error *err)
{
	return move(rt, FAKE_PAUSE, id, RT_PAUSED, err);
}

static int f_resume(struct runtime *rt, const char *id, struct error *err)
{
	return move(rt, FAKE_RESUME, id, RT_RUNNING, err);
}

/* Partial: init killed, files left behind. */
static int f_delete(struct runtime *rt, const char *id, struct error *err)
{
	pthread_mutex_lock(&rt->mu);
	int mode = count_call(rt, FAKE_DELETE);
	struct fake_ctr *c = find(rt, id);
	if (mode == FAKE_PARTIAL && c)
		c->st = RT_STOPPED;
	else if (mode != FAKE_CLEAN)
		forget(rt, id);
	pthread_mutex_unlock(&rt->mu);
	return mode >= 0 ? injected(FAKE_DELETE, err) : 0;
}

/* hostname, network group and /etc/environment: a change in place of a
 * container that is up (the environment: whose files exist). */
static int in_place(struct runtime *rt, enum fake_op op, const char *id, const char *value,
		    struct error *err)
{
	pthread_mutex_lock(&rt->mu);
	int rc = 0;
	struct fake_ctr *c = find(rt, id);
	int mode = count_call(rt, op);
	bool up = c && (c->st == RT_RUNNING || c->st == RT_PAUSED);
	if (!c || (op != FAKE_SET_ENV && !up))
		rc = err_set(err, E_RUNTIME, "fake runtime: %s: container %s is not up",
			     op_names[op], id);
	else if (mode == FAKE_CLEAN || mode == FAKE_PARTIAL)
		; /* nothing written */
	else if (op == FAKE_SET_HOSTNAME)
		snprintf(c->hostname, sizeof(c->hostname), "%s", value);
	else if (op == FAKE_SET_NET_GROUP)
		snprintf(c->group, sizeof(c->group), "%s", value ? value : "");
	else
		c->env = true;
	pthread_mutex_unlock(&rt->mu);
	return rc == 0 && mode >= 0 ? injected(op, err) : rc;
}

static int f_set_hostname(struct runtime *rt, const char *id, const char *name, struct error *err)
{
	return in_place(rt, FAKE_SET_HOSTNAME, id, name, err);
}

static int f_set_net_group(struct runtime *rt, const char *id, const char *group, struct error *err)
{
	return in_place(rt, FAKE_SET_NET_GROUP, id, group, err);
}

static int f_set_env(struct runtime *rt, const char *id, const struct rt_env *env, size_t count,
		     struct error *err)
{
	return in_place(rt, FAKE_SET_ENV, id, NULL, err);
}

/* The destination must not run (runtime.h); partial: a half-copied layer. */
static int f_layer_copy(struct runtime *rt, const char *src_id, const char *snapshot,
			const char *dst_id, struct error *err)
{
	pthread_mutex_lock(&rt->mu);
	int rc = 0;
	struct fake_ctr *src = find(rt, src_id), *dst = find(rt, dst_id);
	struct fake_snap *snap = snapshot ? find_snap(rt, src_id, snapshot) : NULL;
	int mode = count_call(rt, FAKE_LAYER_COPY);
	char tag[TAG_MAX];
	if (!src || (snapshot && !snap))
		rc = err_set(err, E_NOT_FOUND, "fake runtime: layer_copy: no source %s", src_id);
	else if (dst && (dst->st == RT_RUNNING || dst->st == RT_PAUSED))
		rc = err_set(err, E_RUNTIME, "fake runtime: layer_copy into a running container");
	if (rc == 0 && mode != FAKE_CLEAN) {
		snprintf(tag, sizeof(tag), "%s", snap ? snap->layer : src->layer);
		dst = find_or_add(rt, dst_id);
		snprintf(dst->layer, sizeof(dst->layer), "%s",
			 mode == FAKE_PARTIAL ? "partial" : tag);
	}
	pthread_mutex_unlock(&rt->mu);
	return rc == 0 && mode >= 0 ? injected(FAKE_LAYER_COPY, err) : rc;
}

static int f_snapshot_create(struct runtime *rt, const char *id, const char *name, const char *prev,
			     uint64_t *size_out, struct error *err)
{
	pthread_mutex_lock(&rt->mu);
	int rc = 0;
	struct fake_ctr *c = find(rt, id);
	int mode = count_call(rt, FAKE_SNAPSHOT_CREATE);
	if (!c)
		rc = err_set(err, E_NOT_FOUND, "fake runtime: snapshot of a missing container");
	else if (find_snap(rt, id, name))
		rc = err_set(err, E_CONFLICT, "fake runtime: snapshot %s exists", name);
	else if (rt->nsnaps == FAKE_SNAPS_MAX)
		abort();
	if (rc == 0 && mode != FAKE_CLEAN) {
		struct fake_snap *s = &rt->s[rt->nsnaps++];
		snprintf(s->id, sizeof(s->id), "%s", id);
		snprintf(s->name, sizeof(s->name), "%s", name);
		snprintf(s->layer, sizeof(s->layer), "%s",
			 mode == FAKE_PARTIAL ? "partial" : c->layer);
	}
	*size_out = 4096;
	pthread_mutex_unlock(&rt->mu);
	return rc == 0 && mode >= 0 ? injected(FAKE_SNAPSHOT_CREATE, err) : rc;
}

/* The container must not be running (runtime.h): the fake refuses, so a
 * platform that forgot to stop it fails the test. */
static int f_snapshot_restore(struct runtime *rt, const char *id, const char *name,
			      struct error *err)
{
	pthread_mutex_lock(&rt->mu);
	int rc = 0;
	struct fake_ctr *c = find(rt, id);
	struct fake_snap *s = find_snap(rt, id, name);
	int mode = count_call(rt, FAKE_SNAPSHOT_RESTORE);
	if (!c || !s)
		rc = err_set(err, E_NOT_FOUND, "fake runtime: no snapshot %s of %s", name, id);
	else if (c->st == RT_RUNNING || c->st == RT_PAUSED)
		rc = err_set(err, E_RUNTIME, "fake runtime: restore of a running container");
	else if (mode != FAKE_CLEAN)
		snprintf(c->layer, sizeof(c->layer), "%s",
			 mode == FAKE_PARTIAL ? "partial" : s->layer);
	pthread_mutex_unlock(&rt->mu);
	return rc == 0 && mode >= 0 ? injected(FAKE_SNAPSHOT_RESTORE, err) : rc;
}

static int f_snapshot_delete(struct runtime *rt, const char *id, const char *name,
			     struct error *err)
{
	pthread_mutex_lock(&rt->mu);
	int mode = count_call(rt, FAKE_SNAPSHOT_DELETE);
	struct fake_snap *s = find_snap(rt, id, name);
	if (s && mode != FAKE_CLEAN)
		*s = rt->s[--rt->nsnaps];
	pthread_mutex_unlock(&rt->mu);
	return mode >= 0 ? injected(FAKE_SNAPSHOT_DELETE, err) : 0;
}

static int f_stats(struct runtime *rt, const char *id, struct rt_stats *out, struct error *err)
{
	pthread_mutex_lock(&rt->mu);
	int rc = 0;
	struct fake_ctr *c = find(rt, id);
	memset(out, 0, sizeof(*out));
	if (count_call(rt, FAKE_STATS) >= 0) {
		rc = injected(FAKE_STATS, err);
	} else if (c) {
		out->state = c->st;
		out->oom_kills = c->oom_kills;
	}
	pthread_mutex_unlock(&rt->mu);
	return rc;
}

/* ---- readings that never count ---- */

static bool f_image_exists(struct runtime *rt, const char *name)
{
	return strcmp(name, "busybox") == 0;
}

static int f_image_list(struct runtime *rt, struct rt_image **out_new, size_t *count,
			struct error *err)
{
	*out_new = xcalloc(1, sizeof(**out_new));
	snprintf((*out_new)->name, sizeof((*out_new)->name), "busybox");
	snprintf((*out_new)->os, sizeof((*out_new)->os), "busybox");
	*count = 1;
	return 0;
}

static int f_oom_scan(struct runtime *rt, rt_oom_cb cb, void *arg, struct error *err)
{
	return 0;
}

static bool f_io_weight_supported(struct runtime *rt)
{
	return false;
}

static int f_ramdisk_group_remove(struct runtime *rt, const char *group, struct error *err)
{
	return 0;
}

static int unsupported(const char *what, struct error *err)
{
	return err_set(err, E_NOT_FOUND, "fake runtime: no %s", what);
}

static int f_runtime_info(struct runtime *rt, const char *id, struct rt_runtime_info *out,
			  struct error *err)
{
	return unsupported("runtime info", err);
}

static int f_net_endpoint(struct runtime *rt, const char *id, char *netns, size_t netns_len,
			  char *ip, size_t ip_len, struct error *err)
{
	return unsupported("network endpoint", err);
}

static int f_kit_socket(struct runtime *rt, const char *id, char *path, size_t len,
			struct error *err)
{
	return unsupported("Kit socket", err);
}

static int f_proc_start(struct runtime *rt, const char *id, const struct rt_proc_opts *o,
			struct rt_proc **out_new, struct error *err)
{
	return unsupported("processes", err);
}

static int f_proc_end(struct runtime *rt, struct rt_proc *p)
{
	return -1;
}

static int f_net_connect(struct runtime *rt, const char *id, uint16_t port, struct error *err)
{
	return unsupported("network", err);
}

static int f_root_open(struct runtime *rt, const char *id, struct error *err)
{
	return unsupported("root directory", err);
}

const struct rt_ops fake_rt_ops = {
    .set_exit_cb = f_set_exit_cb,
    .adopt = f_adopt,
    .list_ids = f_list_ids,
    .state = f_state,
    .create_start = f_create_start,
    .start = f_start,
    .stop = f_stop,
    .restart = f_restart,
    .pause = f_pause,
    .resume = f_resume,
    .remove = f_delete,
    .set_hostname = f_set_hostname,
    .set_net_group = f_set_net_group,
    .set_env = f_set_env,
    .layer_copy = f_layer_copy,
    .snapshot_create = f_snapshot_create,
    .snapshot_restore = f_snapshot_restore,
    .snapshot_delete = f_snapshot_delete,
    .image_exists = f_image_exists,
    .image_list = f_image_list,
    .stats = f_stats,
    .runtime_info = f_runtime_info,
    .oom_scan = f_oom_scan,
    .io_weight_supported = f_io_weight_supported,
    .ramdisk_group_remove = f_ramdisk_group_remove,
    .net_endpoint = f_net_endpoint,
    .kit_socket = f_kit_socket,
    .proc_start = f_proc_start,
    .proc_end = f_proc_end,
    .net_connect = f_net_connect,
    .root_open = f_root_open,
};

/* ------------------------------------------------------------ the test's view */

enum rt_state fake_state(struct runtime *rt, const char *id)
{
	pthread_mutex_lock(&rt->mu);
	struct fake_ctr *c = find(rt, id);
	enum rt_state st = c ? c->st : RT_ABSENT;
	pthread_mutex_unlock(&rt->mu);
	return st;
}

void fake_set_state(struct runtime *rt, const char *id, enum rt_state st)
{
	pthread_mutex_lock(&rt->mu);
	if (st == RT_ABSENT) {
		forget(rt, id);
	} else {
		struct fake_ctr *c = find_or_add(rt, id);
		if (!c->layer[0])
			snprintf(c->layer, sizeof(c->layer), "image:busybox");
		c->st = st;
	}
	pthread_mutex_unlock(&rt->mu);
}

size_t fake_count(struct runtime *rt)
{
	pthread_mutex_lock(&rt->mu);
	size_t n = rt->n;
	pthread_mutex_unlock(&rt->mu);
	return n;
}

enum field { F_HOSTNAME, F_GROUP, F_LAYER };

static void field_of(struct runtime *rt, const char *id, enum field f, char *out, size_t len)
{
	pthread_mutex_lock(&rt->mu);
	struct fake_ctr *c = find(rt, id);
	const char *v = !c		  ? ""
			: f == F_HOSTNAME ? c->hostname
			: f == F_GROUP	  ? c->group
					  : c->layer;
	snprintf(out, len, "%s", v);
	pthread_mutex_unlock(&rt->mu);
}

void fake_hostname(struct runtime *rt, const char *id, char *out, size_t len)
{
	field_of(rt, id, F_HOSTNAME, out, len);
}

void fake_net_group(struct runtime *rt, const char *id, char *out, size_t len)
{
	field_of(rt, id, F_GROUP, out, len);
}

void fake_layer(struct runtime *rt, const char *id, char *out, size_t len)
{
	field_of(rt, id, F_LAYER, out, len);
}

void fake_set_layer(struct runtime *rt, const char *id, const char *tag)
{
	pthread_mutex_lock(&rt->mu);
	struct fake_ctr *c = find(rt, id);
	if (c)
		snprintf(c->layer, sizeof(c->layer), "%s", tag);
	pthread_mutex_unlock(&rt->mu);
}

bool fake_env_written(struct runtime *rt, const char *id)
{
	pthread_mutex_lock(&rt->mu);
	struct fake_ctr *c = find(rt, id);
	bool w = c && c->env;
	pthread_mutex_unlock(&rt->mu);
	return w;
}

bool fake_has_snapshot(struct runtime *rt, const char *id, const char *name)
{
	pthread_mutex_lock(&rt->mu);
	bool has = find_snap(rt, id, name) != NULL;
	pthread_mutex_unlock(&rt->mu);
	return has;
}

void fake_exit(struct runtime *rt, const char *id, int status, unsigned oom_kills)
{
	pthread_mutex_lock(&rt->mu);
	struct fake_ctr *c = find(rt, id);
	if (c) {
		c->st = RT_STOPPED;
		c->oom_kills = oom_kills;
	}
	rt_exit_cb cb = rt->exit_cb;
	void *arg = rt->exit_arg;
	pthread_mutex_unlock(&rt->mu);
	if (cb)
		cb(id, status, arg);
}
