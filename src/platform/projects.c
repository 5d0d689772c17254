/* Projects and the realms list. Ownership and realm visibility are checked
 * here, once, so the API layer only maps results to HTTP. */
#include "platform/platform_int.h"
#include "platform/projects.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "platform/containers.h"
#include "platform/events.h"
#include "platform/validate.h"
#include "platform/revoke.h"

#define DEFAULT_PROJECT_ALIAS "default"
#define SCAN_PAGE 100
/* Bounds every full scan of a user's rows (realm-filtered lists, realms). */
#define SCAN_MAX_PAGES 1000
/* Containers created while a project is being deleted get this many more sweeps. */
#define DELETE_SWEEPS 3

static const char *const project_body_fields[] = {"alias", "color", "max_containers", "realm_ids",
						  NULL};

json_t *project_json_new(const struct project *p, int64_t container_count)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:b, s:I, s:o, s:o}", "id", p->id,
			 "user_id", p->user_id, "alias", p->alias ? p->alias : "", "color",
			 p->color ? p->color : "#000000", "max_containers",
			 p->max_containers < 0 ? json_null() : json_integer(p->max_containers),
			 "realm_ids", realm_ids_parse(p->realm_ids), "is_default", p->is_default,
			 "container_count", (json_int_t)container_count, "created_at",
			 json_time_new(p->created_at), "updated_at", json_time_new(p->updated_at));
}

static int project_json_counted(struct platform *pf, const struct project *p, json_t **out_new,
				struct error *err)
{
	int64_t n = 0;
	if (store_container_count_project(pf->store, p->id, &n, err) < 0)
		return -1;
	*out_new = project_json_new(p, n);
	return 0;
}

int projects_get_visible(struct platform *pf, const struct principal *who, const char *id,
			 struct project *out, struct error *err)
{
	if (store_project_get_owned(pf->store, who->user_id, id, out, err) < 0)
		return err->code == E_NOT_FOUND ? err_set(err, E_NOT_FOUND, "Project not found")
						: -1;
	if (!principal_sees_realms(who, out->realm_ids)) {
		project_clear(out);
		return err_set(err, E_NOT_FOUND, "Project not found");
	}
	return 0;
}

static void set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = xstrdup(src);
}

static int apply_realm_ids(const struct principal *who, const json_t *body, bool creating,
			   struct project *p, struct error *err)
{
	json_t *realms = NULL;
	int rc = field_realm_ids(body, "realm_ids", &realms, err);
	if (rc < 0)
		return -1;
	if (rc > 0 && principal_realm_restricted(who)) {
		json_decref(realms);
		return err_set(err, E_FORBIDDEN,
			       "Realm-restricted auth tokens cannot set realm_ids");
	}
	if (!realms && !creating)
		return 0;
	if (!realms)
		realms = json_array();
	/* A new project must be visible to whoever created it: it joins the
	 * realm of the host, or else the realms of a realm-bound token. */
	if (creating && who->scoped_realm[0]) {
		realm_ids_add(realms, who->scoped_realm);
	} else if (creating && principal_realm_restricted(who)) {
		size_t i;
		json_t *it;
		json_array_foreach(who->token_realm_ids, i, it)
		    realm_ids_add(realms, json_string_value(it));
	}
	free(p->realm_ids);
	p->realm_ids = realm_ids_dump_new(realms);
	json_decref(realms);
	return 0;
}

/* Applies a create/update body to p. alias_required: create and PUT. */
static int apply_body(const struct principal *who, const json_t *body, bool creating,
		      bool alias_required, struct project *p, struct error *err)
{
	const char *alias = NULL;
	char color[COLOR_LEN];
	int64_t max = 0;
	bool max_null = false;
	int rc;
	if (fields_allowed(body, project_body_fields, err) < 0 ||
	    field_alias(body, "alias", 1, PROJECT_ALIAS_MAX, alias_required, &alias, err) < 0 ||
	    (rc = field_color(body, "color", color, err)) < 0)
		return -1;
	if (alias)
		set_str(&p->alias, alias);
	if (rc == 0 && creating)
		color_random(color);
	if (rc > 0 || creating)
		set_str(&p->color, color);
	rc = field_int(body, "max_containers", 1, INT32_MAX, true, &max, &max_null, err);
	if (rc < 0)
		return -1;
	if (rc > 0)
		p->max_containers = max_null ? -1 : max;
	return apply_realm_ids(who, body, creating, p, err);
}

static void project_event(struct platform *pf, const struct project *p, const char *type)
{
	json_t *payload = json_pack("{s:s?, s:s?}", "alias", p->alias, "color", p->color);
	struct event_spec e = {.type = type,
			       .resource_type = "project",
			       .resource_id = p->id,
			       .user_id = p->user_id,
			       .project_id = p->id,
			       .realm_ids = p->realm_ids,
			       .payload = payload};
	events_emit(pf, &e);
	json_decref(payload);
}

int projects_create(struct platform *pf, const struct principal *who, const json_t *body,
		    json_t **project_new, struct error *err)
{
	_cleanup_project_ struct project p = {.max_containers = -1};
	int rc = -1;
	if (principal_require(who, "projects.create", err) < 0)
		return -1;
	id_new(p.id);
	snprintf(p.user_id, sizeof(p.user_id), "%s", who->user_id);
	if (apply_body(who, body, true, true, &p, err) < 0)
		goto out;
	p.created_at = p.updated_at = now_ms();
	if (store_project_insert(pf->store, &p, err) < 0)
		goto out;
	*project_new = project_json_new(&p, 0);
	project_event(pf, &p, "project.created");
	rc = 0;
out:
	return rc;
}

int projects_get(struct platform *pf, const struct principal *who, const char *id,
		 json_t **project_new, struct error *err)
{
	_cleanup_project_ struct project p = {0};
	if (principal_require(who, "projects.read", err) < 0 ||
	    projects_get_visible(pf, who, id, &p, err) < 0)
		return -1;
	return project_json_counted(pf, &p, project_new, err);
}

int projects_update(struct platform *pf, const struct principal *who, const char *id,
		    const json_t *body, bool partial, json_t **project_new, struct error *err)
{
	_cleanup_project_ struct project p = {0};
	int rc = -1;
	if (principal_require(who, "projects.update", err) < 0 ||
	    projects_get_visible(pf, who, id, &p, err) < 0)
		return -1;
	if (apply_body(who, body, false, !partial, &p, err) < 0)
		goto out;
	p.updated_at = now_ms();
	if (store_project_update(pf->store, &p, err) < 0)
		goto out;
	project_event(pf, &p, "project.updated");
	revoke_note(REVOKE_PROJECT, p.id, false);
	rc = project_json_counted(pf, &p, project_new, err);
out:
	return rc;
}

int projects_delete(struct platform *pf, const struct principal *who, const char *id,
		    bool include_items, json_t **data_new, struct error *err)
{
	_cleanup_project_ struct project p = {0};
	json_t *gone = json_array();
	int64_t left = 0;
	int rc = -1;
	if (principal_require(who, "projects.delete", err) < 0 ||
	    projects_get_visible(pf, who, id, &p, err) < 0)
		goto out;
	for (int sweep = 0; sweep < DELETE_SWEEPS; sweep++) {
		json_t *batch = NULL;
		if (containers_delete_for_project(pf, who, id, &batch, err) < 0)
			goto out;
		if (batch)
			json_array_extend(gone, batch);
		json_decref(batch);
		if (store_container_count_project(pf->store, id, &left, err) < 0)
			goto out;
		if (left == 0)
			break;
	}
	if (left > 0) {
		err_set(err, E_RESOURCE_IN_USE,
			"Containers keep being created in this project; try again");
		goto out;
	}
	if (store_project_delete(pf->store, id, err) < 0)
		goto out;
	project_event(pf, &p, "project.deleted");
	revoke_note(REVOKE_PROJECT, id, true);
	json_t *data = json_pack("{s:{s:I, s:i, s:i}}", "deleted", "containers",
				 (json_int_t)json_array_size(gone), "permissions", 0, "aliases", 0);
	if (include_items)
		json_object_set_new(data, "deleted_items", json_pack("{s:O}", "containers", gone));
	*data_new = data;
	rc = 0;
out:
	json_decref(gone);
	return rc;
}

/* ---- lists ---- */

typedef int (*project_visit_fn)(const struct project *p, void *arg, struct error *err);

/* Every project of q->user_id (in q's order and realm filter), page by page. */
static int project_scan(struct platform *pf, const struct list_query *base, project_visit_fn fn,
			void *arg, struct error *err)
{
	struct list_query q = *base;
	q.limit = SCAN_PAGE;
	for (q.page = 1; q.page <= SCAN_MAX_PAGES; q.page++) {
		struct project *arr = NULL;
		size_t n = 0;
		int64_t total = 0;
		int rc = store_project_list(pf->store, &q, &arr, &n, &total, err);
		for (size_t i = 0; rc == 0 && i < n; i++)
			rc = fn(&arr[i], arg, err);
		for (size_t i = 0; i < n; i++)
			project_clear(&arr[i]);
		free(arr);
		if (rc < 0)
			return -1;
		if (n < SCAN_PAGE)
			break;
	}
	return 0;
}

struct visible_page {
	struct platform *pf;
	const struct principal *who;
	int64_t skip, limit, total;
	json_t *items;
};

static int collect_visible(const struct project *p, void *arg, struct error *err)
{
	struct visible_page *v = arg;
	if (!principal_sees_realms(v->who, p->realm_ids))
		return 0;
	int64_t pos = v->total++;
	if (pos < v->skip || pos >= v->skip + v->limit)
		return 0;
	json_t *o;
	if (project_json_counted(v->pf, p, &o, err) < 0)
		return -1;
	json_array_append_new(v->items, o);
	return 0;
}

/* Whether the store's one-realm filter already yields exactly what who sees. */
static bool store_filter_exact(const struct principal *who, const struct list_query *q)
{
	if (who->scoped_realm[0] && (!q->realm_id || strcmp(q->realm_id, who->scoped_realm) != 0))
		return false;
	if (!principal_realm_restricted(who))
		return true;
	return q->realm_id && realm_ids_has(who->token_realm_ids, q->realm_id);
}

static int page_from_store(struct platform *pf, const struct list_query *q, json_t *items,
			   int64_t *total, struct error *err)
{
	struct project *arr = NULL;
	size_t n = 0;
	int rc = store_project_list(pf->store, q, &arr, &n, total, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		json_t *o;
		rc = project_json_counted(pf, &arr[i], &o, err);
		if (rc == 0)
			json_array_append_new(items, o);
	}
	for (size_t i = 0; i < n; i++)
		project_clear(&arr[i]);
	free(arr);
	return rc;
}

int projects_list(struct platform *pf, const struct principal *who, const struct list_query *q,
		  json_t **data_new, struct error *err)
{
	if (principal_require(who, "projects.read", err) < 0)
		return -1;
	struct list_query lq = *q;
	lq.user_id = who->user_id;
	lq.realm_id = principal_list_realm(who, lq.realm_id);
	json_t *items = json_array();
	int64_t total = 0;
	int rc;
	if (store_filter_exact(who, &lq)) {
		rc = page_from_store(pf, &lq, items, &total, err);
	} else {
		struct visible_page v = {pf, who, (lq.page - 1) * lq.limit, lq.limit, 0, items};
		rc = project_scan(pf, &lq, collect_visible, &v, err);
		total = v.total;
	}
	if (rc < 0) {
		json_decref(items);
		return -1;
	}
	*data_new = json_pack("{s:o, s:o}", "projects", items, "pagination",
			      pagination_json_new(total, lq.page, lq.limit));
	return 0;
}

/* ---- default project ---- */

static int find_default(const struct project *p, void *arg, struct error *err)
{
	struct project *out = arg;
	if (!p->is_default || out->id[0])
		return 0;
	memcpy(out->id, p->id, sizeof(out->id));
	return 0;
}

int projects_ensure_default(struct platform *pf, const char *user_id, struct project *out,
			    struct error *err)
{
	struct list_query q = {.user_id = user_id, .sort_by = "created_at"};
	struct project found = {0};
	if (project_scan(pf, &q, find_default, &found, err) < 0)
		return -1;
	if (found.id[0])
		return store_project_get_owned(pf->store, user_id, found.id, out, err);
	struct project p = {.max_containers = -1, .is_default = true};
	char color[COLOR_LEN];
	id_new(p.id);
	snprintf(p.user_id, sizeof(p.user_id), "%s", user_id);
	color_random(color);
	p.alias = xstrdup(DEFAULT_PROJECT_ALIAS);
	p.color = xstrdup(color);
	p.realm_ids = xstrdup("[]");
	p.created_at = p.updated_at = now_ms();
	int rc = store_project_insert(pf->store, &p, err);
	if (rc == 0)
		*out = p;
	else
		project_clear(&p);
	return rc;
}

/* ---- realms ---- */

enum realm_kind { RK_PROJECTS, RK_CONTAINERS, RK_SERVERS, RK_TOKENS, RK__COUNT };
static const char *const realm_kind_names[RK__COUNT] = {"projects", "containers", "servers",
							"auth_tokens"};

/* usage: {realm: {projects, containers, servers, auth_tokens}} */
static void tally(json_t *usage, const char *realm_ids_text, enum realm_kind kind)
{
	json_t *realms = realm_ids_parse(realm_ids_text);
	size_t i;
	json_t *it;
	json_array_foreach(realms, i, it)
	{
		const char *r = json_string_value(it);
		if (!r || !id_valid(r))
			continue;
		json_t *u = json_object_get(usage, r);
		if (!u) {
			u = json_object();
			for (int k = 0; k < RK__COUNT; k++)
				json_object_set_new(u, realm_kind_names[k], json_integer(0));
			json_object_set_new(usage, r, u);
		}
		json_t *n = json_object_get(u, realm_kind_names[kind]);
		json_integer_set(n, json_integer_value(n) + 1);
	}
	json_decref(realms);
}

static int tally_project(const struct project *p, void *arg, struct error *err)
{
	tally(arg, p->realm_ids, RK_PROJECTS);
	return 0;
}

static int tally_containers(struct platform *pf, const char *user_id, json_t *usage,
			    struct error *err)
{
	struct container_query q = {
	    .base = {.user_id = user_id, .sort_by = "created_at", .limit = SCAN_PAGE},
	    .include_expired = true,
	};
	for (q.base.page = 1; q.base.page <= SCAN_MAX_PAGES; q.base.page++) {
		struct container *arr = NULL;
		size_t n = 0;
		int64_t total = 0;
		if (store_container_list(pf->store, &q, &arr, &n, &total, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			tally(usage, arr[i].realm_ids, RK_CONTAINERS);
		container_list_free(arr, n);
		if (n < SCAN_PAGE)
			break;
	}
	return 0;
}

static int tally_tokens(struct platform *pf, const char *user_id, json_t *usage, struct error *err)
{
	struct auth_token *arr = NULL;
	size_t n = 0;
	if (store_token_list(pf->store, user_id, &arr, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		tally(usage, arr[i].realm_ids, RK_TOKENS);
		auth_token_clear(&arr[i]);
	}
	free(arr);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Drops the realms who may not see and returns the rest, sorted. */
static json_t *visible_realms_new(const struct principal *who, json_t *usage)
{
	size_t n = json_object_size(usage), k = 0;
	const char **keys = xcalloc(n ? n : 1, sizeof(*keys));
	const char *key;
	json_t *v;
	json_object_foreach(usage, key, v)
	{
		char one[ID_LEN + 5];
		snprintf(one, sizeof(one), "[\"%s\"]", key);
		if (principal_sees_realms(who, one))
			keys[k++] = key;
	}
	qsort(keys, k, sizeof(*keys), cmp_str);
	json_t *arr = json_array();
	for (size_t i = 0; i < k; i++)
		json_array_append_new(arr, json_string(keys[i]));
	free(keys);
	return arr;
}

int realms_list(struct platform *pf, const struct principal *who, bool include_usage,
		json_t **data_new, struct error *err)
{
	if (principal_require(who, "resources.realms", err) < 0)
		return -1;
	json_t *usage = json_object();
	struct list_query q = {.user_id = who->user_id, .sort_by = "created_at"};
	if (project_scan(pf, &q, tally_project, usage, err) < 0 ||
	    tally_containers(pf, who->user_id, usage, err) < 0 ||
	    tally_tokens(pf, who->user_id, usage, err) < 0) {
		json_decref(usage);
		return -1;
	}
	json_t *ids = visible_realms_new(who, usage);
	json_t *data =
	    json_pack("{s:O, s:I}", "realm_ids", ids, "total", (json_int_t)json_array_size(ids));
	if (include_usage) {
		json_t *shown = json_object();
		size_t i;
		json_t *it;
		json_array_foreach(ids, i, it)
		{
			const char *r = json_string_value(it);
			json_object_set(shown, r, json_object_get(usage, r));
		}
		json_object_set_new(data, "usage", shown);
	}
	json_decref(ids);
	json_decref(usage);
	*data_new = data;
	return 0;
}
