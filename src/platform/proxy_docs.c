/* The proxy permission documents behind §3.2-3.4: one per container and per
 * project, one version counter each, written under If-Match "file:v<N>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/platform_int.h"
#include "common/util.h"
#include "platform/container.h"
#include "platform/events.h"
#include "platform/fields.h"
#include "platform/project.h"
#include "platform/proxy_internal.h"
#include "platform/revoke.h"

#define SCHEMA_VERSION 1

/* What a document belongs to. */
struct doc_target {
	enum proxy_scope scope;
	char id[ID_LEN + 1];
	char project_id[ID_LEN + 1];
	char container_id[ID_LEN + 1]; /* "" for a project */
	char user_id[ID_LEN + 1];
	char *realm_ids;
};

static void target_clear(struct doc_target *t)
{
	free(t->realm_ids);
	t->realm_ids = NULL;
}

static int container_target(struct platform *pf, const struct principal *who, const char *id,
			    bool write, struct doc_target *t, struct error *err)
{
	_cleanup_container_ struct container c = {0};
	int rc = write ? containers_find_writable(pf, who, id, "containers.update", &c, err)
		       : containers_find(pf, who, id, "containers.read", &c, err);
	if (rc == 0 && container_status_in(c.status, CS_GONE))
		rc = err_set(err, E_CONTAINER_NOT_FOUND, "Container not found");
	if (rc == 0) {
		memcpy(t->id, c.id, sizeof(t->id));
		memcpy(t->container_id, c.id, sizeof(t->container_id));
		memcpy(t->project_id, c.project_id, sizeof(t->project_id));
		memcpy(t->user_id, c.user_id, sizeof(t->user_id));
		t->realm_ids = c.realm_ids ? xstrdup(c.realm_ids) : NULL;
	}
	return rc;
}

static int project_target(struct platform *pf, const struct principal *who, const char *id,
			  bool write, struct doc_target *t, struct error *err)
{
	_cleanup_project_ struct project p = {0};
	if (principal_require(who, write ? "projects.update" : "projects.read", err) < 0)
		return -1;
	if (!id_valid(id))
		return err_set(err, E_INVALID_ID, "Invalid ID format");
	if (projects_get_visible(pf, who, id, &p, err) < 0)
		return -1;
	memcpy(t->id, p.id, sizeof(t->id));
	memcpy(t->project_id, p.id, sizeof(t->project_id));
	memcpy(t->user_id, p.user_id, sizeof(t->user_id));
	t->realm_ids = p.realm_ids ? xstrdup(p.realm_ids) : NULL;
	return 0;
}

static int target_find(struct platform *pf, const struct principal *who, enum proxy_scope scope,
		       const char *id, bool write, struct doc_target *t, struct error *err)
{
	memset(t, 0, sizeof(*t));
	t->scope = scope;
	/* the documents hold credentials (§3.5) */
	if (principal_require(who, "resources.proxy_aliases", err) < 0)
		return -1;
	return scope == PROXY_SCOPE_CONTAINER ? container_target(pf, who, id, write, t, err)
					      : project_target(pf, who, id, write, t, err);
}

/* The stored document (NULL = none) and its version (0 = never written). */
static int doc_fetch(struct platform *pf, const char *id, json_t **doc, int64_t *version,
		     struct error *err)
{
	struct proxy_doc d = {0};
	*doc = NULL;
	*version = 0;
	if (store_proxy_doc_get(pf->store, id, &d, err) < 0) {
		proxy_doc_clear(&d);
		return err->code == E_NOT_FOUND ? 0 : -1;
	}
	*version = d.file_version;
	if (d.document && !(*doc = json_loads(d.document, 0, NULL)))
		err_set(err, E_INTERNAL, "proxy document %s does not parse", id);
	int rc = d.document && !*doc ? -1 : 0;
	proxy_doc_clear(&d);
	return rc;
}

/* ------------------------------------------------------------ rendering */

static void add_version(json_t *o, int64_t version)
{
	json_object_set_new(o, "file_version", json_integer((json_int_t)version));
	json_object_set_new(o, "etag", json_sprintf("file:v%lld", (long long)version));
}

static const char *effective_default(const struct platform *pf, const json_t *doc)
{
	if (doc)
		return json_string_value(json_object_get(doc, "default"));
	return pf->cfg.proxy_open_default ? "allow" : "deny";
}

static json_t *doc_render(const struct platform *pf, const struct doc_target *t, const json_t *doc,
			  int64_t version)
{
	json_t *o = json_pack("{s:s}", "project", t->project_id);
	if (t->scope == PROXY_SCOPE_CONTAINER)
		json_object_set_new(o, "container", json_string(t->container_id));
	json_t *en = doc ? json_object_get(doc, "enable_proxy") : NULL;
	if (en)
		json_object_set(o, "enable_proxy", en);
	json_object_set_new(o, "default", json_string(effective_default(pf, doc)));
	json_object_set_new(o, "groups",
			    doc ? json_deep_copy(json_object_get(doc, "groups")) : json_object());
	json_object_set_new(o, "permissions",
			    doc ? json_deep_copy(json_object_get(doc, "permissions"))
				: json_object());
	if (t->scope == PROXY_SCOPE_CONTAINER)
		json_object_set_new(o, "hooks",
				    doc ? json_deep_copy(json_object_get(doc, "hooks"))
					: json_object());
	json_object_set_new(o, "schema_version", json_integer(SCHEMA_VERSION));
	json_object_set_new(o, "exists", json_boolean(doc != NULL));
	add_version(o, version);
	return o;
}

static json_t *with_version(json_t *o, int64_t version)
{
	add_version(o, version);
	return o;
}

static json_t *settings_new(const struct platform *pf, const json_t *doc, int64_t version)
{
	json_t *en = doc ? json_object_get(doc, "enable_proxy") : NULL;
	return with_version(json_pack("{s:b, s:s}", "enable_proxy", !en || json_is_true(en),
				      "default", effective_default(pf, doc)),
			    version);
}

/* ------------------------------------------------------------ If-Match */

/* "file:v<N>", optionally quoted or weak; -1 when malformed. */
static int64_t if_match_version(const char *v)
{
	if (strncmp(v, "W/", 2) == 0)
		v += 2;
	size_t len = strlen(v);
	bool quoted = len >= 2 && v[0] == '"' && v[len - 1] == '"';
	if (quoted)
		v++, len -= 2;
	if (len < 7 || len > 26 || strncmp(v, "file:v", 6) != 0)
		return -1;
	int64_t n = 0;
	for (size_t i = 6; i < len; i++) {
		if (v[i] < '0' || v[i] > '9' || (i == 6 && v[i] == '0' && len > 7))
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	return n;
}

static int precondition(const char *if_match, int64_t version, struct error *err)
{
	if (!if_match)
		return err_set(err, E_PRECONDITION_REQUIRED,
			       "If-Match: file:v%lld is required (read the document first)",
			       (long long)version);
	int64_t want = if_match_version(if_match);
	if (want < 0)
		return err_set(err, E_PRECONDITION_FAILED,
			       "If-Match must look like file:v<N>, e.g. file:v%lld",
			       (long long)version);
	if (want != version)
		return err_set(err, E_PRECONDITION_FAILED,
			       "The document is at file:v%lld, not file:v%lld", (long long)version,
			       (long long)want);
	return 0;
}

/* ------------------------------------------------------------ operations */

static int body_only(const json_t *body, const char *const *keys, struct error *err)
{
	if (fields_object(body, err) < 0)
		return -1;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)body, k, v)
	{
		size_t i = 0;
		while (keys[i] && strcmp(keys[i], k))
			i++;
		if (!keys[i])
			return err_set(err, E_VALIDATION, "Unknown field: %.64s", k);
	}
	return 0;
}

static int set_member(json_t *doc, const json_t *body, const char *key, bool required,
		      struct error *err)
{
	json_t *v = json_object_get(body, key);
	if (!v)
		return required ? err_set(err, E_VALIDATION, "%s is required", key) : 0;
	if (strcmp(key, "default") == 0 ? proxy_default_check(v, err) < 0 : !json_is_boolean(v))
		return err->code ? -1 : err_set(err, E_VALIDATION, "%s must be a boolean", key);
	json_object_set(doc, key, v);
	return 0;
}

static int op_settings(json_t *doc, const json_t *body, enum proxy_doc_op op, struct error *err)
{
	static const char *const both[] = {"enable_proxy", "default", NULL};
	static const char *const def[] = {"default", NULL};
	static const char *const state[] = {"enable_proxy", NULL};
	const char *const *keys = op == PDOC_DEFAULT ? def : op == PDOC_STATE ? state : both;
	if (body_only(body, keys, err) < 0)
		return -1;
	if (op == PDOC_SETTINGS && !json_object_size(body))
		return err_set(err, E_VALIDATION, "Give enable_proxy, default or both");
	for (size_t i = 0; keys[i]; i++)
		if (set_member(doc, body, keys[i], op != PDOC_SETTINGS, err) < 0)
			return -1;
	return 0;
}

static int need_group(const json_t *doc, const char *g, struct error *err)
{
	if (!proxy_group_name_valid(g))
		return err_set(err, E_VALIDATION, "Group names are 1 to 50 of [A-Za-z0-9_-]");
	if (!json_object_get(json_object_get(doc, "groups"), g))
		return err_set(err, E_NOT_FOUND, "Group not found");
	return 0;
}

static int op_group(json_t *doc, const struct proxy_doc_write *w, struct error *err)
{
	json_t *groups = json_object_get(doc, "groups"), *norm = NULL;
	if (w->op == PDOC_GROUP_DELETE) {
		if (need_group(doc, w->group, err) < 0)
			return -1;
		json_object_del(groups, w->group);
		json_object_del(json_object_get(doc, "permissions"), w->group);
		return 0;
	}
	if (!proxy_group_name_valid(w->group))
		return err_set(err, E_VALIDATION, "Group names are 1 to 50 of [A-Za-z0-9_-]");
	if (!json_object_get(groups, w->group) && json_object_size(groups) >= PROXY_GROUPS_MAX)
		return err_set(err, E_VALIDATION, "At most %d groups", PROXY_GROUPS_MAX);
	if (fields_object(w->body, err) < 0 ||
	    proxy_group_check(w->group_type, w->body ? w->body : json_object(), &norm, err) < 0)
		return -1;
	json_object_set_new(groups, w->group, norm);
	return 0;
}

static int op_rules(json_t *doc, const struct proxy_doc_write *w, struct error *err)
{
	static const char *const keys[] = {"program", "access", NULL};
	json_t *perms = json_object_get(doc, "permissions");
	if (need_group(doc, w->group, err) < 0)
		return -1;
	json_t *rules = json_object_get(perms, w->group);
	if (w->op == PDOC_RULES_DELETE) {
		json_object_del(perms, w->group);
		return 0;
	}
	if (w->op == PDOC_RULE_DELETE) {
		if (!json_object_get(rules, w->program))
			return err_set(err, E_NOT_FOUND, "No rule for %.50s in group %s",
				       w->program, w->group);
		json_object_del(rules, w->program);
		return 0;
	}
	const char *prog = json_string_value(json_object_get(w->body, "program"));
	json_t *access = json_object_get(w->body, "access");
	if (body_only(w->body, keys, err) < 0)
		return -1;
	if (!prog || !access)
		return err_set(err, E_VALIDATION, "program and access are required");
	if (proxy_rule_check(prog, access, err) < 0)
		return -1;
	if (!rules) {
		rules = json_object();
		json_object_set_new(perms, w->group, rules);
	}
	if (!json_object_get(rules, prog) && json_object_size(rules) >= 64)
		return err_set(err, E_VALIDATION, "At most 64 programs per group");
	json_object_set(rules, prog, access);
	return 0;
}

/* ---- hooks ---- */

static size_t hooks_total(const json_t *hooks)
{
	size_t n = 0;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)hooks, k, v) n += json_array_size(v);
	return n;
}

static void renumber(json_t *list)
{
	size_t i;
	json_t *h;
	json_array_foreach(list, i, h)
	    json_object_set_new(h, "position", json_integer((json_int_t)i));
}

static ssize_t hook_index(const json_t *list, const char *id)
{
	size_t i;
	json_t *h;
	json_array_foreach(list, i,
			   h) if (id && !strcmp(json_string_value(json_object_get(h, "id")) ?: "",
						id)) return (ssize_t)i;
	return -1;
}

static size_t position_of(const json_t *body, size_t n)
{
	json_t *p = json_object_get(body, "position");
	return p && (size_t)json_integer_value(p) < n ? (size_t)json_integer_value(p) : n;
}

static int hook_add(json_t *hooks, json_t *list, const struct proxy_doc_write *w, json_t **out,
		    struct error *err)
{
	if (json_array_size(list) >= PROXY_HOOKS_PER_SERVICE ||
	    hooks_total(hooks) >= PROXY_HOOKS_PER_DOC)
		return err_set(err, E_VALIDATION,
			       "At most %d hooks per service and %d per document",
			       PROXY_HOOKS_PER_SERVICE, PROXY_HOOKS_PER_DOC);
	json_t *h = proxy_hook_normalize(w->body, NULL);
	char id[27];
	proxy_ulid_new(id); /* a client never picks the id */
	json_object_set_new(h, "id", json_string(id));
	json_array_insert_new(list, position_of(w->body, json_array_size(list)), h);
	renumber(list);
	*out = json_pack("{s:O}", "hook", h);
	return 0;
}

static int op_hooks(json_t *doc, const struct proxy_doc_write *w, json_t **out, struct error *err)
{
	json_t *hooks = json_object_get(doc, "hooks");
	if (proxy_hook_service_check(w->service, err) < 0)
		return -1;
	json_t *list = json_object_get(hooks, w->service);
	if (!list) {
		list = json_array();
		json_object_set_new(hooks, w->service, list);
	}
	if (w->op == PDOC_HOOKS_CLEAR) {
		*out = json_pack("{s:I}", "removed", (json_int_t)json_array_size(list));
		json_object_del(hooks, w->service);
		return 0;
	}
	if (w->op == PDOC_HOOK_ADD)
		return proxy_hook_check(w->body, err) < 0 ? -1 : hook_add(hooks, list, w, out, err);
	ssize_t i = hook_index(list, w->hook_id);
	if (i < 0)
		return err_set(err, E_NOT_FOUND, "Hook not found");
	if (w->op == PDOC_HOOK_DELETE) {
		json_array_remove(list, (size_t)i);
	} else if (w->op == PDOC_HOOK_PUT) {
		if (proxy_hook_check(w->body, err) < 0)
			return -1;
		json_array_set_new(list, (size_t)i, proxy_hook_normalize(w->body, w->hook_id));
	} else {
		static const char *const keys[] = {"position", NULL};
		json_t *p = json_object_get(w->body, "position");
		if (body_only(w->body, keys, err) < 0 || !json_is_integer(p) ||
		    json_integer_value(p) < 0)
			return err->code ? -1 : err_set(err, E_VALIDATION, "position must be >= 0");
		json_t *h = json_incref(json_array_get(list, (size_t)i));
		json_array_remove(list, (size_t)i);
		json_array_insert_new(list, position_of(w->body, json_array_size(list)), h);
	}
	renumber(list);
	if (w->op != PDOC_HOOK_DELETE)
		*out = json_pack("{s:O}", "hook",
				 json_array_get(list, (size_t)hook_index(list, w->hook_id)));
	if (!json_array_size(list))
		json_object_del(hooks, w->service);
	return 0;
}

/* The new document for w applied to doc (a copy; NULL = deleted). *extra:
 * what the response carries besides the document (hooks). */
static int apply(const struct doc_target *t, const json_t *doc, const struct proxy_doc_write *w,
		 json_t **next, json_t **extra, struct error *err)
{
	bool container = t->scope == PROXY_SCOPE_CONTAINER;
	*next = *extra = NULL;
	if (w->op == PDOC_DELETE)
		return 0;
	if (w->op == PDOC_REPLACE) {
		const char *p = json_string_value(json_object_get(w->body, "project"));
		const char *c = json_string_value(json_object_get(w->body, "container"));
		if ((p && strcmp(p, t->project_id)) || (json_object_get(w->body, "project") && !p))
			return err_set(err, E_VALIDATION, "project must be %s", t->project_id);
		if (container ? (c && strcmp(c, t->container_id)) ||
				    (json_object_get(w->body, "container") && !c)
			      : json_object_get(w->body, "container") != NULL)
			return err_set(err, E_VALIDATION,
				       container ? "container must equal the path id"
						 : "a project document has no container");
		return proxy_doc_check(w->body, container, next, err);
	}
	if (!container && w->op >= PDOC_HOOK_ADD)
		return err_set(err, E_VALIDATION, "a project document has no hooks");
	json_t *d = doc ? json_deep_copy(doc) : proxy_doc_empty_new();
	int rc;
	switch (w->op) {
	case PDOC_DEFAULT:
	case PDOC_STATE:
	case PDOC_SETTINGS:
		rc = op_settings(d, w->body, w->op, err);
		break;
	case PDOC_GROUP_DELETE:
	case PDOC_GROUP_SET:
		rc = op_group(d, w, err);
		break;
	case PDOC_RULES_SET:
	case PDOC_RULES_DELETE:
	case PDOC_RULE_DELETE:
		rc = op_rules(d, w, err);
		break;
	default:
		rc = op_hooks(d, w, extra, err);
		break;
	}
	if (rc < 0) {
		json_decref(d);
		json_decref(*extra);
		*extra = NULL;
		return -1;
	}
	*next = d;
	return 0;
}

static void emit(struct platform *pf, const struct doc_target *t, const struct proxy_doc_write *w,
		 int64_t version)
{
	json_t *payload = json_pack("{s:s, s:s, s:I}", "scope",
				    t->scope == PROXY_SCOPE_CONTAINER ? "container" : "project",
				    "id", t->id, "file_version", (json_int_t)version);
	struct event_spec e = {
	    .type =
		w->op == PDOC_DELETE ? "proxy.permissions.deleted" : "proxy.permissions.updated",
	    .resource_type = "proxy_permissions",
	    .resource_id = t->id,
	    .user_id = t->user_id,
	    .project_id = t->project_id,
	    .container_id = t->container_id[0] ? t->container_id : NULL,
	    .realm_ids = t->realm_ids,
	    .payload = payload,
	};
	events_emit(pf, &e);
	json_decref(payload);
}

static int save(struct platform *pf, const struct doc_target *t, const json_t *next,
		int64_t version, struct error *err)
{
	struct proxy_doc d = {.scope = t->scope == PROXY_SCOPE_CONTAINER ? "container" : "project"};
	memcpy(d.id, t->id, sizeof(d.id));
	memcpy(d.user_id, t->user_id, sizeof(d.user_id));
	d.document = next ? json_dumps(next, JSON_COMPACT) : NULL;
	int rc = store_proxy_doc_put(pf->store, &d, version, err);
	free(d.document);
	if (rc < 0 && err->code == E_CONFLICT)
		err_set(err, E_PRECONDITION_FAILED,
			"The document changed meanwhile; read it again");
	return rc;
}

static json_t *write_result(const struct platform *pf, const struct doc_target *t,
			    const struct proxy_doc_write *w, const json_t *next, json_t *extra,
			    int64_t version)
{
	if (extra)
		return with_version(extra, version);
	if (w->op == PDOC_SETTINGS)
		return settings_new(pf, next, version);
	json_t *o = doc_render(pf, t, next, version);
	if (t->scope == PROXY_SCOPE_CONTAINER)
		json_object_del(o, "hooks");
	json_object_del(o, "schema_version");
	return o;
}

int proxy_doc_write(struct platform *pf, const struct principal *who,
		    const struct proxy_doc_write *w, json_t **data_new, struct error *err)
{
	struct doc_target t;
	json_t *doc = NULL, *next = NULL, *extra = NULL;
	int64_t version = 0;
	int rc = -1;
	if (target_find(pf, who, w->scope, w->id, true, &t, err) < 0 ||
	    doc_fetch(pf, t.id, &doc, &version, err) < 0 ||
	    precondition(w->if_match, version, err) < 0)
		goto out;
	if (w->op == PDOC_DELETE && !doc) {
		err_set(err, E_NOT_FOUND, "There is no proxy permissions document to delete");
		goto out;
	}
	if (apply(&t, doc, w, &next, &extra, err) < 0 || save(pf, &t, next, version, err) < 0)
		goto out;
	emit(pf, &t, w, version + 1);
	revoke_note(t.scope == PROXY_SCOPE_CONTAINER ? REVOKE_CONTAINER : REVOKE_PROJECT, t.id,
		    false);
	*data_new = write_result(pf, &t, w, next, extra, version + 1);
	extra = NULL;
	rc = 0;
out:
	json_decref(extra);
	json_decref(doc);
	json_decref(next);
	target_clear(&t);
	return rc;
}

/* ------------------------------------------------------------ reads */

static json_t *groups_view(const json_t *doc)
{
	json_t *arr = json_array(), *g;
	const char *name;
	json_object_foreach(json_object_get(doc, "groups"), name, g)
	{
		json_t *rules = json_object_get(json_object_get(doc, "permissions"), name);
		json_array_append_new(arr, json_pack("{s:s, s:I}", "name", name, "auth_rule_count",
						     (json_int_t)json_object_size(rules)));
	}
	return json_pack("{s:o}", "groups", arr);
}

/* Every service a rule or a hook names, sorted by first appearance. */
static json_t *services_view(const json_t *doc)
{
	json_t *seen = json_object(), *arr = json_array(), *rules, *v;
	const char *g, *prog;
	json_object_foreach(json_object_get(doc, "permissions"), g, rules)
	{
		json_object_foreach(rules, prog, v) json_object_set_new(seen, prog, json_true());
	}
	json_object_foreach(json_object_get(doc, "hooks"), prog, v)
	    json_object_set_new(seen, prog, json_true());
	json_object_foreach(seen, prog, v) json_array_append_new(arr, json_string(prog));
	json_decref(seen);
	return json_pack("{s:o}", "services", arr);
}

static json_t *service_view(const struct platform *pf, const json_t *doc, const char *svc)
{
	json_t *raw = json_object(), *rules;
	const char *g;
	json_object_foreach(json_object_get(doc, "permissions"), g, rules)
	{
		json_t *r = json_object_get(rules, svc);
		if (r)
			json_object_set(raw, g, r);
	}
	struct error e = {0};
	json_t *hooks = json_object_get(json_object_get(doc, "hooks"), svc);
	return json_pack("{s:s, s:b, s:o, s:o, s:s}", "service", svc, "is_reject_listed",
			 proxy_hook_service_check(svc, &e) < 0, "permissions_raw", raw, "hooks",
			 hooks ? json_deep_copy(hooks) : json_array(), "effective_default",
			 effective_default(pf, doc));
}

static int view(const struct platform *pf, const struct doc_target *t, const json_t *doc,
		const struct proxy_doc_read *r, json_t **out, struct error *err)
{
	json_t *hooks = json_object_get(doc, "hooks");
	json_t *list = r->service ? json_object_get(hooks, r->service) : NULL;
	switch (r->view) {
	case PVIEW_DOCUMENT:
		*out = doc_render(pf, t, doc, 0);
		return 0;
	case PVIEW_SETTINGS:
		*out = settings_new(pf, doc, 0);
		return 0;
	case PVIEW_HOOKS:
		*out = json_pack("{s:o}", "hooks", hooks ? json_deep_copy(hooks) : json_object());
		return 0;
	case PVIEW_SERVICE_HOOKS:
		if (proxy_service_name_valid(r->service) == false)
			return err_set(err, E_VALIDATION,
				       "Service names are [a-z0-9][a-z0-9_-]{0,49}");
		*out = json_pack("{s:s, s:o}", "service", r->service, "hooks",
				 list ? json_deep_copy(list) : json_array());
		return 0;
	case PVIEW_HOOK: {
		ssize_t i = hook_index(list, r->hook_id);
		if (i < 0)
			return err_set(err, E_NOT_FOUND, "Hook not found");
		*out = json_pack("{s:O}", "hook", json_array_get(list, (size_t)i));
		return 0;
	}
	case PVIEW_GROUPS:
		*out = groups_view(doc);
		return 0;
	case PVIEW_SERVICES:
		*out = services_view(doc);
		return 0;
	case PVIEW_SERVICE:
		if (!proxy_service_name_valid(r->service))
			return err_set(err, E_VALIDATION,
				       "Service names are [a-z0-9][a-z0-9_-]{0,49}");
		*out = service_view(pf, doc, r->service);
		return 0;
	}
	return err_set(err, E_INTERNAL, "unknown proxy view");
}

int proxy_doc_read(struct platform *pf, const struct principal *who, const struct proxy_doc_read *r,
		   json_t **data_new, struct error *err)
{
	struct doc_target t;
	json_t *doc = NULL, *out = NULL;
	int64_t version = 0;
	int rc = -1;
	if (target_find(pf, who, r->scope, r->id, false, &t, err) == 0 &&
	    doc_fetch(pf, t.id, &doc, &version, err) == 0 && view(pf, &t, doc, r, &out, err) == 0) {
		add_version(out, version);
		*data_new = out;
		rc = 0;
	}
	json_decref(doc);
	target_clear(&t);
	return rc;
}

/* ------------------------------------------------------------ container object */

void proxy_summary_of(struct platform *pf, const char *container_id, const char *project_id,
		      struct proxy_summary *out)
{
	struct error err = {0};
	json_t *c = NULL, *p = NULL;
	int64_t v;
	out->scope = "none";
	out->aliases = 0;
	(void)doc_fetch(pf, container_id, &c, &v, &err);
	if (project_id && *project_id)
		(void)doc_fetch(pf, project_id, &p, &v, &err);
	out->scope = c && p ? "both" : c ? "container" : p ? "project" : "none";
	(void)store_proxy_alias_count(pf->store, container_id, &out->aliases, &err);
	json_decref(c);
	json_decref(p);
}

json_t *proxy_doc_json_new(struct platform *pf, enum proxy_scope scope, const char *id,
			   const char *project_id)
{
	struct error err = {0};
	json_t *doc = NULL;
	int64_t version = 0;
	if (doc_fetch(pf, id, &doc, &version, &err) < 0 || !doc)
		return json_null();
	struct doc_target t = {.scope = scope};
	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.project_id, sizeof(t.project_id), "%s", project_id);
	if (scope == PROXY_SCOPE_CONTAINER)
		snprintf(t.container_id, sizeof(t.container_id), "%s", id);
	json_t *o = doc_render(pf, &t, doc, version);
	json_decref(doc);
	return o;
}
