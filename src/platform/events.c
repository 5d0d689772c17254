/* Events: recording, queries for the API, and the wake-up of live streams. */
#include "platform/platform_int.h"
#include "platform/events.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "platform/validate.h"

#define DAY_MS (24LL * 3600 * 1000)

static bool pending; /* an event was stored inside a transaction not yet committed */
static void (*event_hook)(void *arg);
static void *event_hook_arg;

void events_set_hook(void (*hook)(void *arg), void *arg)
{
	event_hook_arg = arg;
	__atomic_store_n(&event_hook, hook, __ATOMIC_RELEASE);
}

void events_emit(struct platform *pf, const struct event_spec *e)
{
	events_record(pf->store, e);
}

void events_record(struct store *st, const struct event_spec *e)
{
	struct error err = {0};
	_cleanup_free_ char *payload = e->payload ? json_dumps(e->payload, JSON_COMPACT) : NULL;
	struct event ev = {
	    .event_type = (char *)e->type,
	    .resource_type = (char *)e->resource_type,
	    .resource_id = (char *)e->resource_id,
	    .project_id = (char *)e->project_id,
	    .container_id = (char *)e->container_id,
	    .payload = payload ? payload : (char *)"{}",
	    .realm_ids = (char *)e->realm_ids,
	};
	snprintf(ev.user_id, sizeof(ev.user_id), "%s", e->user_id ? e->user_id : "");
	if (store_event_insert(st, &ev, &err) < 0) {
		log_warn("event %s of %s not recorded: %s", e->type, e->resource_id, err.msg);
		return;
	}
	/* Inside a transaction the row is not visible yet: the commit hook
	 * notifies (streams also poll, so nothing is lost either way). */
	if (store_in_tx(st))
		__atomic_store_n(&pending, true, __ATOMIC_RELEASE);
	else
		events_notify();
}

static void after_commit(void)
{
	if (__atomic_exchange_n(&pending, false, __ATOMIC_ACQ_REL))
		events_notify();
}

void events_init(void)
{
	store_set_commit_hook(after_commit);
}

void events_notify(void)
{
	void (*hook)(void *) = __atomic_load_n(&event_hook, __ATOMIC_ACQUIRE);
	if (hook)
		hook(event_hook_arg);
}

void events_container(struct platform *pf, const struct container *c, const char *type,
		      json_t *payload)
{
	json_t *p = payload ? json_incref(payload) : json_object();
	if (!json_object_get(p, "name") && c->name)
		json_object_set_new(p, "name", json_string(c->name));
	if (!json_object_get(p, "status") && c->status != CS_NONE)
		json_object_set_new(p, "status", json_string(container_status_name(c->status)));
	struct event_spec e = {
	    .type = type,
	    .resource_type = "container",
	    .resource_id = c->id,
	    .user_id = c->user_id,
	    .project_id = c->project_id[0] ? c->project_id : NULL,
	    .container_id = c->id,
	    .realm_ids = c->realm_ids,
	    .payload = p,
	};
	events_emit(pf, &e);
	json_decref(p);
}

/* ------------------------------------------------------------ queries */

int events_require_access(const struct principal *who, struct error *err)
{
	if (!who->user_id[0])
		return err_set(err, E_FORBIDDEN, "Events need a user");
	if (who->no_events)
		return err_set(err, E_FORBIDDEN,
			       "This auth token has no event access (event_access)");
	return 0;
}

int events_parse_time(const char *key, const char *v, int64_t *out, struct error *err)
{
	char *end = NULL;
	*out = 0;
	if (!v)
		return 0;
	long long n = strtoll(v, &end, 10);
	if (*v && !*end && n > 0) {
		*out = n;
		return 0;
	}
	int64_t ms = iso8601_parse_ms(v);
	if (ms <= 0)
		return err_set(err, E_VALIDATION, "%s must be an ISO-8601 date or ms since epoch",
			       key);
	*out = ms;
	return 0;
}

static json_t *event_json_new(const struct event *e)
{
	json_t *payload = e->payload ? json_loads(e->payload, 0, NULL) : NULL;
	json_t *realms = realm_ids_parse(e->realm_ids);
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I}", "id", e->id,
		      "event_type", e->event_type, "resource_type", e->resource_type, "resource_id",
		      e->resource_id ? json_string(e->resource_id) : json_null(), "user_id",
		      e->user_id[0] ? json_string(e->user_id) : json_null(), "project_id",
		      e->project_id ? json_string(e->project_id) : json_null(), "container_id",
		      e->container_id ? json_string(e->container_id) : json_null(), "payload",
		      payload ? payload : json_object(), "realm_ids", realms, "created_at",
		      json_time_new(e->created_at), "sequence", (json_int_t)e->seq);
	return o;
}

/* The store query of a principal and filter: its own events, inside the
 * realm a single-realm token is bound to. */
static void make_query(const struct principal *who, const struct events_filter *f,
		       struct event_query *q)
{
	memset(q, 0, sizeof(*q));
	q->user_id = who->user_id;
	q->event_type = f->event_type;
	q->resource_type = f->resource_type;
	q->resource_id = f->resource_id;
	q->project_id = f->project_id;
	q->container_id = f->container_id;
	q->realm_id = principal_list_realm(who, f->realm_id);
	q->start_ms = f->start_ms;
	q->end_ms = f->end_ms;
}

static json_t *events_array_new(const struct principal *who, struct event *v, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		if (principal_sees_realms(who, v[i].realm_ids))
			json_array_append_new(arr, event_json_new(&v[i]));
	return arr;
}

int events_list(struct platform *pf, const struct principal *who, const struct events_filter *f,
		const char *sort_by, bool desc, int64_t offset, int64_t limit, json_t **data_new,
		struct error *err)
{
	struct event_query q;
	struct event *v = NULL;
	size_t n = 0;
	int64_t total = 0;
	if (events_require_access(who, err) < 0)
		return -1;
	make_query(who, f, &q);
	q.sort_by = sort_by;
	q.desc = desc;
	q.offset = offset;
	q.limit = limit;
	if (store_event_list(pf->store, &q, &v, &n, &total, err) < 0)
		return -1;
	*data_new =
	    json_pack("{s:o, s:{s:I, s:I, s:I, s:b}}", "events", events_array_new(who, v, n),
		      "pagination", "total", (json_int_t)total, "limit", (json_int_t)limit,
		      "offset", (json_int_t)offset, "has_more", offset + (int64_t)n < total);
	event_list_free(v, n);
	return 0;
}

int events_after(struct platform *pf, const struct principal *who, const struct events_filter *f,
		 int64_t after_seq, int64_t limit, json_t **arr_new, int64_t *last_seq,
		 struct error *err)
{
	struct event_query q;
	struct event *v = NULL;
	size_t n = 0;
	make_query(who, f, &q);
	q.after_seq = after_seq;
	q.limit = limit;
	q.sort_by = "seq";
	/* Oldest first by seq; no total: a stream wakes often and needs none. */
	if (store_event_list(pf->store, &q, &v, &n, NULL, err) < 0)
		return -1;
	*last_seq = n ? v[n - 1].seq : after_seq;
	*arr_new = events_array_new(who, v, n);
	event_list_free(v, n);
	return 0;
}

int events_get(struct platform *pf, const struct principal *who, const char *id, json_t **data_new,
	       struct error *err)
{
	struct event e = {0};
	if (events_require_access(who, err) < 0)
		return -1;
	if (!id_valid(id))
		return err_set(err, E_INVALID_ID, "Invalid ID format");
	if (store_event_get(pf->store, who->user_id, id, &e, err) < 0 ||
	    !principal_sees_realms(who, e.realm_ids)) {
		event_clear(&e);
		return err_set(err, E_NOT_FOUND, "Event not found");
	}
	*data_new = event_json_new(&e);
	event_clear(&e);
	return 0;
}

int events_delete_one(struct platform *pf, const struct principal *who, const char *id,
		      json_t **data_new, struct error *err)
{
	json_t *ev = NULL;
	/* the same 404 as a get for what the caller may not see */
	if (events_get(pf, who, id, &ev, err) < 0)
		return -1;
	json_decref(ev);
	if (store_event_delete_one(pf->store, who->user_id, id, err) < 0)
		return -1;
	*data_new = json_pack("{s:s, s:I}", "id", id, "deleted_count", (json_int_t)1);
	return 0;
}

static int counts(struct platform *pf, const struct event_query *q, const char *col,
		  json_t **obj_new, struct error *err)
{
	char **keys = NULL;
	int64_t *cnt = NULL;
	size_t n = 0;
	if (store_event_counts(pf->store, q, col, &keys, &cnt, &n, err) < 0)
		return -1;
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++) {
		json_object_set_new(o, keys[i] ? keys[i] : "", json_integer(cnt[i]));
		free(keys[i]);
	}
	free(keys);
	free(cnt);
	*obj_new = o;
	return 0;
}

/* created_at of the first event of q in the given order, or JSON null. */
static json_t *edge_time(struct platform *pf, struct event_query q, bool newest)
{
	struct event *v = NULL;
	size_t n = 0;
	struct error err = {0};
	q.desc = newest;
	q.limit = 1;
	json_t *t = json_null();
	if (store_event_list(pf->store, &q, &v, &n, NULL, &err) == 0 && n)
		t = json_time_new(v[0].created_at);
	event_list_free(v, n);
	return t;
}

int events_stats(struct platform *pf, const struct principal *who, const struct events_filter *f,
		 json_t **data_new, struct error *err)
{
	struct event_query q;
	json_t *by_type = NULL, *by_res = NULL;
	if (events_require_access(who, err) < 0)
		return -1;
	make_query(who, f, &q);
	if (counts(pf, &q, "event_type", &by_type, err) < 0 ||
	    counts(pf, &q, "resource_type", &by_res, err) < 0) {
		json_decref(by_type);
		return -1;
	}
	json_int_t total = 0;
	const char *k;
	json_t *v;
	json_object_foreach(by_type, k, v) total += json_integer_value(v);
	*data_new = json_pack("{s:I, s:o, s:o, s:o, s:o}", "total_events", total, "by_type",
			      by_type, "by_resource", by_res, "oldest_event",
			      edge_time(pf, q, false), "newest_event", edge_time(pf, q, true));
	return 0;
}

int events_delete(struct platform *pf, const struct principal *who, const json_t *body,
		  json_t **data_new, struct error *err)
{
	static const char *const allowed[] = {"event_type",  "resource_type", "resource_id",
					      "before_date", "realm_id",      NULL};
	struct events_filter f = {0};
	struct event_query q;
	const char *before = NULL;
	int64_t deleted = 0;
	if (events_require_access(who, err) < 0 || fields_object(body, err) < 0 ||
	    fields_allowed(body, allowed, err) < 0 ||
	    field_string(body, "event_type", 1, 100, false, &f.event_type, NULL, err) < 0 ||
	    field_string(body, "resource_type", 1, 100, false, &f.resource_type, NULL, err) < 0 ||
	    field_string(body, "resource_id", 1, 100, false, &f.resource_id, NULL, err) < 0 ||
	    field_string(body, "realm_id", 24, 24, false, &f.realm_id, NULL, err) < 0 ||
	    field_string(body, "before_date", 1, 40, false, &before, NULL, err) < 0 ||
	    events_parse_time("before_date", before, &f.end_ms, err) < 0)
		return -1;
	make_query(who, &f, &q);
	if (store_event_delete(pf->store, &q, &deleted, err) < 0)
		return -1;
	*data_new = json_pack("{s:I}", "deleted_count", (json_int_t)deleted);
	return 0;
}

int events_cleanup(struct platform *pf, const struct principal *who, const json_t *body,
		   json_t **data_new, struct error *err)
{
	static const char *const allowed[] = {"retention_days", NULL};
	struct events_filter f = {0};
	struct event_query q;
	int64_t days = 0, deleted = 0;
	int rc;
	if (events_require_access(who, err) < 0 || fields_object(body, err) < 0 ||
	    fields_allowed(body, allowed, err) < 0 ||
	    (rc = field_int(body, "retention_days", 1, 3650, false, &days, NULL, err)) < 0)
		return -1;
	if (rc == 0)
		return err_set(err, E_VALIDATION, "retention_days is required");
	f.end_ms = now_ms() - days * DAY_MS;
	make_query(who, &f, &q);
	if (store_event_delete(pf->store, &q, &deleted, err) < 0)
		return -1;
	*data_new =
	    json_pack("{s:I, s:I, s:o}", "deleted_count", (json_int_t)deleted, "retention_days",
		      (json_int_t)days, "cutoff_date", json_time_new(f.end_ms));
	return 0;
}

int events_last_seq(struct platform *pf, int64_t *out, struct error *err)
{
	return store_event_last_seq(pf->store, out, err);
}
