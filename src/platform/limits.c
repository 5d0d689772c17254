/* Container resource limits (see limits.h). Overrides live in the kv table
 * ("limits.users.<id>", "limits.projects.<id>": JSON objects holding only the
 * keys an administrator set), so a change needs no schema step and applies
 * at each container's next start. */
#include "platform/platform_int.h"
#include "platform/limits.h"

#include <stddef.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "platform/container.h"

#define MiB (1LL << 20)
#define OOM_SCAN_S 1
#define OOM_BATCH_MAX 64
#define KV_SCOPE "ramdisk_scope."

struct limit_field {
	const char *key;
	size_t off;
	int64_t min, max; /* of an override or config value; 0 always means "none" */
};

#define F(k, lo, hi)                                                                               \
	{                                                                                          \
#k, offsetof(struct limits, k), lo, hi                                             \
	}
static const struct limit_field fields[] = {
    F(memory_bytes, 4 * MiB, 1LL << 50),
    F(swap_bytes, 0, 1LL << 50),
    F(cpu_millis, 10, 1024 * 1000),
    F(cpu_shares, 2, 262144),
    F(io_weight, 10, 1000),
    F(pids, 8, 4194304),
    F(nofile, 64, 1048576),
    F(disk_bytes, 16 * MiB, 1LL << 50),
    F(disk_inodes, 1024, 1LL << 32),
    F(ramdisk_bytes, MiB, 1LL << 50),
    F(shm_bytes, MiB, 1LL << 50),
};
#undef F

static int64_t *field_ptr(struct limits *l, const struct limit_field *f)
{
	return (int64_t *)((char *)l + f->off);
}

static int64_t field_val(const struct limits *l, const struct limit_field *f)
{
	return *(const int64_t *)((const char *)l + f->off);
}

static bool in_range(const struct limit_field *f, int64_t v)
{
	return v == 0 || (v >= f->min && v <= f->max);
}

int limits_check(const struct limits *l, struct error *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (!in_range(&fields[i], field_val(l, &fields[i])))
			return err_set(err, E_VALIDATION,
				       "%s must be 0 (none) or from %lld to %lld", fields[i].key,
				       (long long)fields[i].min, (long long)fields[i].max);
	return 0;
}

json_t *limits_json_new(const struct limits *l)
{
	json_t *o = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		int64_t v = field_val(l, &fields[i]);
		json_object_set_new(o, fields[i].key, v ? json_integer(v) : json_null());
	}
	return o;
}

/* ---- overrides ---- */

static char *kv_key(const char *scope, const char *id)
{
	return xasprintf("limits.%s.%s", scope, id);
}

static json_t *override_load(const struct platform *pf, const char *scope, const char *id)
{
	if (!id || !*id || !pf->store)
		return NULL;
	_cleanup_free_ char *key = kv_key(scope, id);
	_cleanup_free_ char *text = NULL;
	struct error err = {0};
	if (store_kv_get(pf->store, key, &text, &err) < 0 || !text)
		return NULL;
	json_t *o = json_loads(text, 0, NULL);
	if (json_is_object(o))
		return o;
	json_decref(o);
	return NULL;
}

/* Keys of o over l; o was checked when it was stored. */
static void override_apply(struct limits *l, const json_t *o)
{
	for (size_t i = 0; o && i < ARRAY_SIZE(fields); i++) {
		json_t *v = json_object_get(o, fields[i].key);
		if (json_is_integer(v))
			*field_ptr(l, &fields[i]) = json_integer_value(v);
	}
}

static void cap_half(int64_t *v, int64_t memory)
{
	if (memory && (*v == 0 || *v > memory / 2))
		*v = memory / 2;
}

int limits_resolve(const struct platform *pf, const char *user_id, const char *project_id,
		   struct limits *out, struct error *err)
{
	(void)err;
	*out = pf->cfg.limits;
	json_t *u = override_load(pf, "users", user_id);
	json_t *p = override_load(pf, "projects", project_id);
	override_apply(out, u);
	override_apply(out, p);
	json_decref(u);
	json_decref(p);
	/* tmpfs pages count against memory: a ramdisk larger than half of it
	 * would only ever end in the container's own OOM kill. */
	cap_half(&out->ramdisk_bytes, out->memory_bytes);
	cap_half(&out->shm_bytes, out->memory_bytes);
	return 0;
}

void limits_apply(const struct platform *pf, const struct limits *l, struct rt_spec *spec)
{
	if (pf->cfg.no_limits)
		return;
	spec->memory_limit = (uint64_t)l->memory_bytes;
	spec->swap_limit = (uint64_t)l->swap_bytes;
	spec->cpu_millis = (uint64_t)l->cpu_millis;
	spec->cpu_shares = (uint64_t)l->cpu_shares;
	spec->blkio_weight = (uint64_t)l->io_weight;
	spec->pids_limit = (uint64_t)l->pids;
	spec->nofile = (uint64_t)l->nofile;
	spec->disk_bytes = (uint64_t)l->disk_bytes;
	spec->disk_inodes = (uint64_t)l->disk_inodes;
	spec->ramdisk_bytes = (uint64_t)l->ramdisk_bytes;
	spec->shm_bytes = (uint64_t)l->shm_bytes;
}

json_t *limits_container_json_new(const struct platform *pf, const struct container *c)
{
	struct limits l = {0};
	struct error err = {0};
	if (!pf->cfg.no_limits)
		limits_resolve(pf, c->user_id, c->project_id, &l, &err);
	return limits_json_new(&l);
}

/* ---- admin routes ---- */

static int require_admin(const struct principal *who, struct error *err)
{
	if (!who->is_admin)
		return err_set(err, E_FORBIDDEN, "Administrator access required");
	return 0;
}

/* The user or project must exist; scope is one of the two route words. */
static int target_check(struct platform *pf, const char *scope, const char *id, struct error *err)
{
	if (!id_valid(id))
		return err_set(err, E_INVALID_ID, "Invalid ID format");
	if (!strcmp(scope, "users")) {
		struct user u = {0};
		int rc = store_user_get(pf->store, id, &u, err);
		user_clear(&u);
		return rc;
	}
	if (!strcmp(scope, "projects")) {
		_cleanup_project_ struct project p = {0};
		return store_project_get(pf->store, id, &p, err);
	}
	return err_set(err, E_ROUTE_NOT_FOUND, "Route not found");
}

static const struct limit_field *field_find(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (!strcmp(fields[i].key, key))
			return &fields[i];
	return NULL;
}

/* body merged into cur (owned, updated): integers in range, 0 (= none), or
 * null (= back to the server default). Nothing changes on a bad key. */
static int override_merge(json_t *cur, const json_t *body, struct error *err)
{
	if (!json_is_object(body))
		return err_set(err, E_VALIDATION, "body must be an object of limits");
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)body, k, v)
	{
		const struct limit_field *f = field_find(k);
		if (!f)
			return err_set(err, E_VALIDATION, "unknown limit \"%.64s\"", k);
		if (json_is_null(v))
			continue;
		if (!json_is_integer(v) || !in_range(f, json_integer_value(v)))
			return err_set(err, E_VALIDATION,
				       "%s must be 0 (none) or from %lld to %lld", k,
				       (long long)f->min, (long long)f->max);
	}
	json_object_foreach((json_t *)body, k, v)
	{
		if (json_is_null(v))
			json_object_del(cur, k);
		else
			json_object_set(cur, k, v);
	}
	return 0;
}

static json_t *override_view(const struct platform *pf, const char *scope, const char *id,
			     json_t *ov_steal)
{
	struct limits eff = pf->cfg.limits;
	override_apply(&eff, ov_steal);
	return json_pack("{s:s, s:s, s:o, s:o}", "scope", scope, "id", id, "override",
			 ov_steal ? ov_steal : json_object(), "effective", limits_json_new(&eff));
}

int limits_server_get(struct platform *pf, const struct principal *who, json_t **data_new,
		      struct error *err)
{
	if (require_admin(who, err) < 0)
		return -1;
	*data_new = json_pack("{s:b, s:o}", "enabled", !pf->cfg.no_limits, "defaults",
			      limits_json_new(&pf->cfg.limits));
	return 0;
}

int limits_override_get(struct platform *pf, const struct principal *who, const char *scope,
			const char *id, json_t **data_new, struct error *err)
{
	if (require_admin(who, err) < 0 || target_check(pf, scope, id, err) < 0)
		return -1;
	*data_new = override_view(pf, scope, id, override_load(pf, scope, id));
	return 0;
}

int limits_override_put(struct platform *pf, const struct principal *who, const char *scope,
			const char *id, const json_t *body, json_t **data_new, struct error *err)
{
	if (require_admin(who, err) < 0 || target_check(pf, scope, id, err) < 0)
		return -1;
	json_t *cur = override_load(pf, scope, id);
	if (!cur)
		cur = json_object();
	_cleanup_free_ char *key = kv_key(scope, id);
	_cleanup_free_ char *text = NULL;
	if (override_merge(cur, body, err) < 0) {
		json_decref(cur);
		return -1;
	}
	text = json_object_size(cur) ? json_dumps(cur, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (store_kv_set(pf->store, key, text, err) < 0) {
		json_decref(cur);
		return -1;
	}
	log_info("limits: %s %s override set to %s", scope, id, text ? text : "{}");
	*data_new = override_view(pf, scope, id, cur);
	return 0;
}

int limits_override_delete(struct platform *pf, const struct principal *who, const char *scope,
			   const char *id, struct error *err)
{
	if (require_admin(who, err) < 0 || target_check(pf, scope, id, err) < 0)
		return -1;
	_cleanup_free_ char *key = kv_key(scope, id);
	return store_kv_set(pf->store, key, NULL, err);
}

/* ---- /ramdisk scope ---- */

bool limits_ramdisk_shared(const struct platform *pf, const char *container_id)
{
	if (!pf->store)
		return false;
	_cleanup_free_ char *key = xasprintf(KV_SCOPE "%s", container_id);
	_cleanup_free_ char *v = NULL;
	struct error err = {0};
	return store_kv_get(pf->store, key, &v, &err) == 0 && v && !strcmp(v, "project");
}

int limits_ramdisk_scope_set(struct store *st, const char *container_id, bool shared,
			     struct error *err)
{
	_cleanup_free_ char *key = xasprintf(KV_SCOPE "%s", container_id);
	return store_kv_set(st, key, shared ? "project" : NULL, err);
}

void limits_ramdisk_group(const char *project_id, char out[ID_LEN + 2])
{
	snprintf(out, ID_LEN + 2, "p%s", project_id);
}

/* Another container of c's project on this server still uses the shared
 * ramdisk. */
static bool group_in_use(struct platform *pf, const struct container *c)
{
	struct container *rows = NULL;
	size_t n = 0;
	struct error err = {0};
	if (store_container_list_all(pf->store, &rows, &n, &err) < 0)
		return true; /* when unsure, keep the files */
	bool used = false;
	for (size_t i = 0; i < n && !used; i++)
		used = strcmp(rows[i].id, c->id) != 0 &&
		       !strcmp(rows[i].project_id, c->project_id) &&
		       !strcmp(rows[i].server_id, c->server_id) && rows[i].ramdisk &&
		       limits_ramdisk_shared(pf, rows[i].id);
	container_list_free(rows, n);
	return used;
}

void limits_container_gone(struct platform *pf, const struct container *c)
{
	struct error err = {0};
	if (!limits_ramdisk_shared(pf, c->id))
		return;
	limits_ramdisk_scope_set(pf->store, c->id, false, &err);
	if (!c->project_id[0] || group_in_use(pf, c))
		return;
	char group[ID_LEN + 2];
	limits_ramdisk_group(c->project_id, group);
	if (pf->rt && pf->rto->ramdisk_group_remove(pf->rt, group, &err) < 0)
		log_warn("project %s: shared ramdisk not removed: %s", c->project_id, err.msg);
}

/* ---- the out-of-memory watcher ---- */

struct oom_batch {
	size_t n;
	struct {
		char id[ID_LEN + 1];
		uint64_t kills, total;
	} v[OOM_BATCH_MAX];
};

static void oom_seen(const char *id, uint64_t new_kills, uint64_t total, void *arg)
{
	struct oom_batch *b = arg;
	if (b->n >= OOM_BATCH_MAX || !id_valid(id))
		return; /* not one of ours (ids are 24 hex), or reported next scan */
	snprintf(b->v[b->n].id, sizeof(b->v[b->n].id), "%s", id);
	b->v[b->n].kills = new_kills;
	b->v[b->n].total = total;
	b->n++;
}

static void oom_record(struct platform *pf, const char *id, uint64_t kills, uint64_t total)
{
	_cleanup_container_ struct container c = {0};
	struct error err = {0};
	/* Another daemon's container (test daemons share the cgroup tree). */
	if (store_container_get(pf->store, id, &c, &err) < 0)
		return;
	struct limits l = {0};
	limits_resolve(pf, c.user_id, c.project_id, &l, &err);
	_cleanup_free_ char *why =
	    xasprintf("out of memory: %llu process(es) killed at the memory limit of %lld bytes",
		      (unsigned long long)kills, (long long)l.memory_bytes);
	json_t *meta = json_pack("{s:s, s:s, s:I, s:I, s:I}", "event", "oom_kill", "reason", why,
				 "killed", (json_int_t)kills, "oom_kills_total", (json_int_t)total,
				 "memory_limit", (json_int_t)l.memory_bytes);
	if (containers_note(pf, id, "container.oom_killed", meta, &err) < 0)
		log_warn("container %s: OOM kill not recorded: %s", id, err.msg);
	else
		log_warn("container %s: %s", id, why);
	json_decref(meta);
}

static void oom_scan(struct platform *pf)
{
	struct oom_batch b = {0};
	struct error err = {0};
	if (pf->rto->oom_scan(pf->rt, oom_seen, &b, &err) < 0) {
		log_debug("limits: OOM scan: %s", err.msg);
		return;
	}
	for (size_t i = 0; i < b.n; i++)
		oom_record(pf, b.v[i].id, b.v[i].kills, b.v[i].total);
}

static void *oom_watcher(void *arg)
{
	struct platform *pf = arg;
	pthread_mutex_lock(&pf->mu);
	while (!pf->oom_quit) {
		pthread_mutex_unlock(&pf->mu);
		oom_scan(pf);
		pthread_mutex_lock(&pf->mu);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += OOM_SCAN_S;
		while (!pf->oom_quit && pthread_cond_timedwait(&pf->oom_cv, &pf->mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&pf->mu);
	return NULL;
}

int limits_watch_start(struct platform *pf, struct error *err)
{
	if (!pf->rt)
		return 0;
	pf->oom_quit = false;
	if (pthread_create(&pf->oom_watcher, NULL, oom_watcher, pf) != 0)
		return err_set(err, E_INTERNAL, "cannot start the out-of-memory watcher");
	pf->oom_running = true;
	return 0;
}

void limits_watch_stop(struct platform *pf)
{
	if (!pf->oom_running)
		return;
	pthread_mutex_lock(&pf->mu);
	pf->oom_quit = true;
	pthread_cond_broadcast(&pf->oom_cv);
	pthread_mutex_unlock(&pf->mu);
	pthread_join(pf->oom_watcher, NULL);
	pf->oom_running = false;
}
