/* Snapshots: the domain side. Files live in the runtime's snapshot store,
 * rows in the snapshots table; a change to either happens under the
 * container's operation lock. */
#include "platform/platform_int.h"
#include "platform/snapshots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "platform/containers_int.h"
#include "platform/events.h"
#include "platform/oplocks.h"
#include "platform/validate.h"

#define SNAP_LEAF "containers.features.snapshots"
#define DAY_MS (24LL * 3600 * 1000)
#define NAME_TRIES 20
#define RESTORE_STOP_GRACE_S 10

static json_t *ms_or_null(int64_t ms)
{
	return ms ? json_time_new(ms) : json_null();
}

static json_t *item_new(const struct snapshot *s)
{
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:b, s:I}", "name", s->name, "alias",
			 s->alias ? json_string(s->alias) : json_null(), "created_at",
			 json_time_new(s->created_at), "last_used_at", ms_or_null(s->last_used_at),
			 "expires_at", ms_or_null(s->expires_at), "stateful", false, "size",
			 (json_int_t)s->size);
}

static json_t *one_new(const struct container *c, const struct snapshot *s)
{
	return json_pack("{s:s, s:s, s:o}", "container_id", c->id, "project_id", c->project_id,
			 "snapshot", item_new(s));
}

/* The container, if who may use its snapshots with leaf and it is not expired. */
static int find_writable(struct platform *pf, const struct principal *who, const char *id,
			 struct container *c, struct error *err)
{
	return containers_find_writable(pf, who, id, SNAP_LEAF, c, err);
}

static void snapshot_event(struct platform *pf, const struct container *c, const char *type,
			   const struct snapshot *s)
{
	json_t *p = json_pack("{s:s, s:o}", "snapshot", s->name, "alias",
			      s->alias ? json_string(s->alias) : json_null());
	events_container(pf, c, type, p);
	json_decref(p);
}

/* Locks the container and re-reads it under the lock. */
static int lock_settled(struct platform *pf, const char *id, const char *what, struct container *c,
			struct error *err)
{
	if (oplock_try(pf->locks, id, what, err) < 0)
		return -1;
	container_clear(c);
	if (store_container_get(pf->store, id, c, err) == 0) {
		if (container_status_in(c->status, CS_SETTLED))
			return 0;
		err_set(err, E_STATE_CONFLICT, "Cannot %s a snapshot while the container is %s",
			what, container_status_name(c->status));
	}
	oplock_release(pf->locks, id);
	return -1;
}

int snapshots_list(struct platform *pf, const struct principal *who, const char *container_id,
		   json_t **data_new, struct error *err)
{
	_cleanup_container_ struct container c = {0};
	struct snapshot *v = NULL;
	size_t n = 0;
	if (containers_find(pf, who, container_id, "containers.read", &c, err) < 0)
		return -1;
	snapshots_sweep(pf);
	int rc = store_snapshot_list(pf->store, container_id, &v, &n, err);
	if (rc == 0) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, item_new(&v[i]));
		*data_new = json_pack("{s:s, s:s, s:I, s:i, s:o}", "container_id", c.id,
				      "project_id", c.project_id, "snapshot_count", (json_int_t)n,
				      "max_snapshots", SNAPSHOTS_MAX, "snapshots", arr);
	}
	snapshot_list_free(v, n);
	return rc;
}

struct create_input {
	const char *alias;
	int64_t expiry_days; /* 0 = never */
};

static int parse_create(const json_t *body, struct create_input *in, struct error *err)
{
	static const char *const allowed[] = {"alias", "expiry", NULL};
	bool is_null = false;
	if (json_is_null(body))
		body = NULL;
	if (fields_object(body, err) < 0 || fields_allowed(body, allowed, err) < 0)
		return -1;
	if (json_is_null(json_object_get(body, "alias")))
		in->alias = NULL;
	else if (field_alias(body, "alias", 1, SNAPSHOT_ALIAS_MAX, false, &in->alias, err) < 0)
		return -1;
	if (field_int(body, "expiry", 1, SNAPSHOT_EXPIRY_MAX_DAYS, true, &in->expiry_days, &is_null,
		      err) < 0)
		return -1;
	if (is_null)
		in->expiry_days = 0;
	return 0;
}

/* snap-YYYYMMDD-HHMMSS-<8 random hex>: readable and sortable, but not
 * guessable from the clock (a name is what a copy or restore names). */
static int pick_name(struct platform *pf, const char *id, int64_t now, char *out, size_t len,
		     struct error *err)
{
	time_t t = (time_t)(now / 1000);
	struct tm tm;
	char base[32], rnd[9];
	gmtime_r(&t, &tm);
	strftime(base, sizeof(base), "snap-%Y%m%d-%H%M%S", &tm);
	for (int i = 1; i <= NAME_TRIES; i++) {
		_cleanup_snapshot_ struct snapshot s = {0};
		struct error e = {0};
		random_hex(rnd, 4);
		snprintf(out, len, "%s-%s", base, rnd);
		int rc = store_snapshot_get(pf->store, id, out, &s, &e);
		if (rc < 0 && e.code == E_NOT_FOUND)
			return 0;
		if (rc < 0)
			return err_set(err, e.code, "%s", e.msg);
	}
	return err_set(err, E_CONFLICT, "no free snapshot name");
}

/* Captures c (locked by the caller) into a new row s. */
static int capture(struct platform *pf, const struct container *c, const struct create_input *in,
		   struct snapshot *s, struct error *err)
{
	struct snapshot *v = NULL;
	size_t n = 0;
	char name[48];
	uint64_t size = 0;
	int64_t now = now_ms();
	if (store_snapshot_list(pf->store, c->id, &v, &n, err) < 0)
		return -1;
	int rc = -1;
	if (n >= SNAPSHOTS_MAX) {
		err_set(err, E_QUOTA, "A container can have at most %d snapshots", SNAPSHOTS_MAX);
		goto out;
	}
	if (pick_name(pf, c->id, now, name, sizeof(name), err) < 0 ||
	    pf->rto->snapshot_create(pf->rt, c->id, name, n ? v[n - 1].name : NULL, &size, err) < 0)
		goto out;
	id_new(s->id);
	memcpy(s->container_id, c->id, sizeof(s->container_id));
	memcpy(s->project_id, c->project_id, sizeof(s->project_id));
	memcpy(s->user_id, c->user_id, sizeof(s->user_id));
	s->name = xstrdup(name);
	s->alias = in->alias ? xstrdup(in->alias) : NULL;
	s->container_image = xstrdup(c->container_image);
	s->size = (int64_t)size;
	s->created_at = now;
	s->expires_at = in->expiry_days ? now + in->expiry_days * DAY_MS : 0;
	s->realm_ids = xstrdup(c->realm_ids ? c->realm_ids : "[]");
	rc = store_snapshot_insert(pf->store, s, err);
	/* No row, no files: a snapshot nobody can see would only take space. */
	struct error e = {0};
	if (rc < 0 && pf->rto->snapshot_delete(pf->rt, c->id, name, &e) < 0)
		log_warn("container %s: snapshot %s left on disk: %s", c->id, name, e.msg);
out:
	snapshot_list_free(v, n);
	return rc;
}

int snapshots_create(struct platform *pf, const struct principal *who, const char *container_id,
		     const json_t *body, json_t **data_new, struct error *err)
{
	struct create_input in = {0};
	_cleanup_container_ struct container c = {0};
	_cleanup_snapshot_ struct snapshot s = {0};
	int rc = -1;
	if (parse_create(body, &in, err) < 0 || find_writable(pf, who, container_id, &c, err) < 0 ||
	    lock_settled(pf, container_id, "create", &c, err) < 0)
		goto out;
	rc = capture(pf, &c, &in, &s, err);
	oplock_release(pf->locks, container_id);
	if (rc == 0) {
		log_info("container %s: snapshot %s (%lld bytes)", c.id, s.name, (long long)s.size);
		snapshot_event(pf, &c, "container.snapshot.created", &s);
		*data_new = one_new(&c, &s);
	}
out:
	return rc;
}

static int find_snapshot(struct platform *pf, const char *container_id, const char *name,
			 struct snapshot *s, struct error *err)
{
	if (store_snapshot_get(pf->store, container_id, name, s, err) < 0) {
		if (err->code == E_NOT_FOUND)
			err_set(err, E_NOT_FOUND, "Snapshot %.64s not found", name);
		return -1;
	}
	return 0;
}

/* Rolls c (locked, settled) back to s; a container that ran runs again. */
static int restore_locked(struct platform *pf, const struct container *c, struct snapshot *s,
			  struct error *err)
{
	bool was_up = container_status_in(c->status, CS_UP);
	json_t *meta = json_pack("{s:s, s:s}", "operation", "restore", "snapshot", s->name);
	struct container_transition down = {
	    .move = MOVE_RESTORE_STOP, .from = CS_SET(c->status), .metadata = meta};
	struct container_transition up = {.move = MOVE_RESTORE_START, .metadata = meta};
	struct container_spec spec;
	int rc = 0;
	if (was_up && (pf->rto->stop(pf->rt, c->id, RESTORE_STOP_GRACE_S, err) < 0 ||
		       containers_transition(pf, c->id, &down, NULL, err) < 0))
		rc = -1;
	if (rc == 0)
		rc = pf->rto->snapshot_restore(pf->rt, c->id, s->name, err);
	if (rc == 0 && was_up && container_spec_init(pf, c, &spec, err) == 0) {
		rc = pf->rto->start(pf->rt, &spec.spec, err);
		container_spec_clear(&spec);
		if (rc == 0)
			rc = containers_started(pf, c, &up, err);
	}
	/* A stop or start that failed may still have acted on the host. */
	if (rc < 0)
		containers_record_truth(pf, c, "restore", err, meta);
	json_decref(meta);
	if (rc < 0)
		return -1;
	s->last_used_at = now_ms();
	return store_snapshot_update(pf->store, s, err);
}

int snapshots_restore(struct platform *pf, const struct principal *who, const char *container_id,
		      const char *name, json_t **data_new, struct error *err)
{
	_cleanup_container_ struct container c = {0};
	_cleanup_snapshot_ struct snapshot s = {0};
	int rc = -1;
	if (find_writable(pf, who, container_id, &c, err) < 0 ||
	    find_snapshot(pf, container_id, name, &s, err) < 0 ||
	    lock_settled(pf, container_id, "restore", &c, err) < 0)
		goto out;
	rc = restore_locked(pf, &c, &s, err);
	oplock_release(pf->locks, container_id);
	if (rc == 0) {
		*data_new = json_pack("{s:b, s:s, s:o}", "success", true, "message",
				      "Restored from snapshot", "snapshot", item_new(&s));
		snapshot_event(pf, &c, "container.snapshot.restored", &s);
	}
out:
	return rc;
}

/* Files first: a crash in between leaves a row whose files are gone, which
 * the next delete removes; never files nobody can see. */
static int remove_snapshot(struct platform *pf, const struct snapshot *s, struct error *err)
{
	if (pf->rto->snapshot_delete(pf->rt, s->container_id, s->name, err) < 0)
		return -1;
	if (store_snapshot_delete(pf->store, s->id, err) < 0 && err->code != E_NOT_FOUND)
		return -1;
	return 0;
}

int snapshots_delete(struct platform *pf, const struct principal *who, const char *container_id,
		     const char *name, json_t **data_new, struct error *err)
{
	_cleanup_container_ struct container c = {0};
	_cleanup_snapshot_ struct snapshot s = {0};
	int rc = -1;
	if (find_writable(pf, who, container_id, &c, err) < 0 ||
	    find_snapshot(pf, container_id, name, &s, err) < 0 ||
	    oplock_try(pf->locks, container_id, "snapshot delete", err) < 0)
		goto out;
	rc = remove_snapshot(pf, &s, err);
	oplock_release(pf->locks, container_id);
	if (rc == 0) {
		*data_new = json_pack("{s:s, s:s, s:s}", "container_id", c.id, "project_id",
				      c.project_id, "snapshot_name", s.name);
		snapshot_event(pf, &c, "container.snapshot.deleted", &s);
	}
out:
	return rc;
}

int snapshots_set_alias(struct platform *pf, const struct principal *who, const char *container_id,
			const char *name, const json_t *body, json_t **data_new, struct error *err)
{
	static const char *const allowed[] = {"alias", NULL};
	_cleanup_container_ struct container c = {0};
	_cleanup_snapshot_ struct snapshot s = {0};
	const char *alias = NULL;
	int rc = -1;
	if (!json_is_object(body) || !json_object_get(body, "alias")) {
		err_set(err, E_VALIDATION, "body must be {\"alias\": string|null}");
		goto out;
	}
	if (fields_allowed(body, allowed, err) < 0 ||
	    (!json_is_null(json_object_get(body, "alias")) &&
	     field_alias(body, "alias", 1, SNAPSHOT_ALIAS_MAX, true, &alias, err) < 0) ||
	    find_writable(pf, who, container_id, &c, err) < 0 ||
	    find_snapshot(pf, container_id, name, &s, err) < 0)
		goto out;
	free(s.alias);
	s.alias = alias ? xstrdup(alias) : NULL;
	rc = store_snapshot_update(pf->store, &s, err);
	if (rc == 0) {
		*data_new = one_new(&c, &s);
		snapshot_event(pf, &c, "container.snapshot.renamed", &s);
	}
out:
	return rc;
}

/* ------------------------------------------------------------ orphans */

/* The realms a snapshot is judged by: its container's, while a row of it
 * (even a tombstone) says what they became; else those it was taken with. */
static bool snapshot_visible(struct platform *pf, const struct principal *who,
			     const struct snapshot *s)
{
	_cleanup_container_ struct container c = {0};
	struct error e = {0};
	bool seen;
	if (strcmp(s->user_id, who->user_id) != 0)
		return false;
	if (store_container_get(pf->store, s->container_id, &c, &e) == 0)
		seen = principal_sees_realms(who, c.realm_ids);
	else
		seen = principal_sees_realms(who, s->realm_ids ? s->realm_ids : "[]");
	return seen;
}

int snapshots_find_visible(struct platform *pf, const struct principal *who,
			   const char *container_id, const char *name, struct snapshot *out,
			   struct error *err)
{
	if (find_snapshot(pf, container_id, name, out, err) < 0)
		return -1;
	if (!snapshot_visible(pf, who, out)) {
		snapshot_clear(out);
		return err_set(err, E_NOT_FOUND, "Snapshot %.64s not found", name);
	}
	return 0;
}

static json_t *orphan_item_new(const struct snapshot *s)
{
	json_t *o = item_new(s);
	json_object_set_new(o, "container_id", json_string(s->container_id));
	json_object_set_new(o, "project_id", json_string(s->project_id));
	return o;
}

int snapshots_list_orphaned(struct platform *pf, const struct principal *who, json_t **data_new,
			    struct error *err)
{
	struct snapshot *v = NULL;
	size_t n = 0;
	if (store_snapshot_list_orphaned(pf->store, who->user_id, &v, &n, err) < 0)
		return -1;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		if (snapshot_visible(pf, who, &v[i]))
			json_array_append_new(arr, orphan_item_new(&v[i]));
	*data_new = json_pack("{s:I, s:o}", "snapshot_count", (json_int_t)json_array_size(arr),
			      "snapshots", arr);
	snapshot_list_free(v, n);
	return 0;
}

static bool container_gone(struct platform *pf, const char *id)
{
	_cleanup_container_ struct container c = {0};
	struct error e = {0};
	bool gone = store_container_get(pf->store, id, &c, &e) < 0 ? e.code == E_CONTAINER_NOT_FOUND
								   : c.status == CS_DELETED;
	return gone;
}

int snapshots_delete_orphaned(struct platform *pf, const struct principal *who,
			      const char *container_id, const char *name, json_t **data_new,
			      struct error *err)
{
	_cleanup_snapshot_ struct snapshot s = {0};
	int rc = -1;
	if (!id_valid(container_id))
		return err_set(err, E_INVALID_ID, "Invalid ID format");
	if (snapshots_find_visible(pf, who, container_id, name, &s, err) < 0)
		return -1;
	if (!container_gone(pf, container_id)) {
		err_set(err, E_STATE_CONFLICT,
			"The container of snapshot %s still exists: delete it "
			"with DELETE /api/v1/containers/%s/snapshots/%s",
			s.name, container_id, s.name);
		goto out;
	}
	if (oplock_try(pf->locks, container_id, "snapshot delete", err) < 0)
		goto out;
	rc = remove_snapshot(pf, &s, err);
	oplock_release(pf->locks, container_id);
	if (rc == 0)
		*data_new = json_pack("{s:s, s:s, s:s}", "container_id", s.container_id,
				      "project_id", s.project_id, "snapshot_name", s.name);
out:
	return rc;
}

int snapshots_purge_orphans(struct store *st, struct runtime *rt, const struct rt_ops *ops,
			    int64_t *removed, struct error *err)
{
	struct snapshot *v = NULL;
	size_t n = 0;
	int rc = 0;
	*removed = 0;
	if (store_snapshot_list_orphaned(st, NULL, &v, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = ops->snapshot_delete(rt, v[i].container_id, v[i].name, err);
		if (rc == 0 && store_snapshot_delete(st, v[i].id, err) < 0 &&
		    err->code != E_NOT_FOUND)
			rc = -1;
		if (rc == 0)
			++*removed;
	}
	snapshot_list_free(v, n);
	return rc;
}

/* ------------------------------------------------------------ expiry */

int snapshots_sweep(struct platform *pf)
{
	struct snapshot *v = NULL;
	size_t n = 0;
	struct error err = {0};
	int removed = 0;
	if (!pf->rt || store_snapshot_list_expired(pf->store, now_ms(), &v, &n, &err) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		/* A busy container keeps its expired snapshot until the next sweep. */
		if (oplock_try(pf->locks, v[i].container_id, "snapshot expiry", &err) < 0)
			continue;
		if (remove_snapshot(pf, &v[i], &err) < 0)
			log_warn("snapshot %s of %s: expiry failed: %s", v[i].name,
				 v[i].container_id, err.msg);
		else
			removed++;
		oplock_release(pf->locks, v[i].container_id);
	}
	if (removed)
		log_info("snapshots: %d expired removed", removed);
	snapshot_list_free(v, n);
	return removed;
}

/* Events older than the retention go (the same sweeper: one thread). */
static void events_sweep(struct platform *pf)
{
	int64_t days = pf->cfg.event_retention_days, deleted = 0;
	struct error err = {0};
	if (days <= 0)
		return;
	if (store_event_purge_before(pf->store, now_ms() - days * DAY_MS, &deleted, &err) < 0)
		log_warn("events: retention sweep failed: %s", err.msg);
	else if (deleted)
		log_info("events: %lld older than %lld days removed", (long long)deleted,
			 (long long)days);
}

static void *janitor(void *arg)
{
	struct platform *pf = arg;
	pthread_mutex_lock(&pf->mu);
	while (!pf->janitor_quit) {
		pthread_mutex_unlock(&pf->mu);
		snapshots_sweep(pf);
		events_sweep(pf);
		pthread_mutex_lock(&pf->mu);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += SNAPSHOT_SWEEP_S;
		while (!pf->janitor_quit &&
		       pthread_cond_timedwait(&pf->janitor_cv, &pf->mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&pf->mu);
	return NULL;
}

void snapshots_janitor_start(struct platform *pf)
{
	pf->janitor_quit = false;
	if (pthread_create(&pf->janitor, NULL, janitor, pf) == 0)
		pf->janitor_running = true;
	else
		log_warn("snapshots: no expiry thread; expired snapshots go at the next list");
}

void snapshots_janitor_stop(struct platform *pf)
{
	if (!pf->janitor_running)
		return;
	pthread_mutex_lock(&pf->mu);
	pf->janitor_quit = true;
	pthread_cond_broadcast(&pf->janitor_cv);
	pthread_mutex_unlock(&pf->mu);
	pthread_join(pf->janitor, NULL);
	pf->janitor_running = false;
}
