/* Proxy aliases (kit-api.md §3.1): {alias}.{server}.containers.{domain}
 * names for one program of one container. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/platform_int.h"
#include "common/util.h"
#include "platform/container.h"
#include "platform/events.h"
#include "platform/proxy_internal.h"
#include "platform/validate.h"
#include "platform/revoke.h"

/* The 48-hex random form is a case of the same syntax. */
bool proxy_alias_name_valid(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	if (len < PROXY_ALIAS_MIN || len > PROXY_ALIAS_MAX || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

bool proxy_alias_name_reserved(const char *s)
{
	return strcmp(s, "containers") == 0 || strcmp(s, "proxy") == 0 ||
	       strcmp(s, "workspaces") == 0 || strncmp(s, "proxy-", 6) == 0 ||
	       strncmp(s, "workspaces-", 11) == 0 || proxy_label_is_container_form(s);
}

int proxy_alias_target(const struct proxy_alias *a, struct proxy_route *r, struct error *err)
{
	const char *p = a->program ? a->program : "";
	if (strcmp(p, "http") == 0 || strcmp(p, "https") == 0) {
		r->kind = p[4] ? PROXY_HTTPS_PORT : PROXY_HTTP_PORT;
		r->port = (int)a->port;
		return 0;
	}
	if (strcmp(p, "ssh") == 0) {
		r->kind = PROXY_SSH;
		return 0;
	}
	for (size_t i = 0; proxy_kit_slugs[i]; i++) {
		if (strcmp(proxy_kit_slugs[i], p) == 0) {
			r->kind = PROXY_KIT;
			snprintf(r->slug, sizeof(r->slug), "%s", p);
			r->index = (int)(a->idx ? a->idx : 1);
			return 0;
		}
	}
	return err_set(err, E_NOT_FOUND, "Alias program %.32s is not served", p);
}

/* ------------------------------------------------------------ API */

#define TARGET_PATH_MAX 511
#define LEAF "resources.proxy_aliases"

static const char *const network_programs[] = {"http", "https", "ssh", NULL};

/* "notifications" is the catalog's long name for the n slug. */
static const char *slug_of(const char *program)
{
	if (strcmp(program, "notifications") == 0)
		return "n";
	for (size_t i = 0; proxy_kit_slugs[i]; i++)
		if (strcmp(proxy_kit_slugs[i], program) == 0)
			return proxy_kit_slugs[i];
	for (size_t i = 0; network_programs[i]; i++)
		if (strcmp(network_programs[i], program) == 0)
			return network_programs[i];
	return NULL;
}

static bool is_port_program(const char *p)
{
	return strcmp(p, "http") == 0 || strcmp(p, "https") == 0;
}

static json_t *url_of(const struct platform *pf, const struct proxy_alias *a)
{
	return json_sprintf("https://%s.%s.containers.%s", a->alias, pf->cfg.server_name,
			    pf->cfg.public_domain);
}

static json_t *alias_json(const struct platform *pf, const struct proxy_alias *a)
{
	int64_t index = is_port_program(a->program) ? a->port : a->idx;
	const char *program = strcmp(a->program, "n") == 0 ? "notifications" : a->program;
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:b, s:o, s:b, s:o, s:o, s:s, "
			 "s:s, s:s, s:o}",
			 "id", a->id, "user_id", a->user_id, "project_id", a->project_id,
			 "container_id", a->container_id, "alias", a->alias, "program", program,
			 "index", index ? json_integer((json_int_t)index) : json_null(),
			 "target_path", a->target_path ? json_string(a->target_path) : json_null(),
			 "allow_path_override", a->allow_path_override, "expires_at",
			 json_time_new(a->expires_at), "enabled", a->enabled, "created_at",
			 json_time_new(a->created_at), "updated_at", json_time_new(a->updated_at),
			 "server_id", a->server_id, "server_name", pf->cfg.server_name,
			 "subserver_name", pf->cfg.server_name, "url", url_of(pf, a));
}

/* ---- body fields ---- */

/* "http-3000" names the program and its port at once. */
static int program_field(const json_t *body, struct proxy_alias *a, int64_t *port_in_name,
			 struct error *err)
{
	const char *p;
	char buf[PROXY_SLUG_MAX];
	int rc = field_string(body, "program", 1, 16, false, &p, NULL, err);
	if (rc <= 0)
		return rc;
	const char *dash = strrchr(p, '-');
	snprintf(buf, sizeof(buf), "%s", p);
	if (dash && (!strncmp(p, "http-", 5) || !strncmp(p, "https-", 6))) {
		char *end;
		long n = strtol(dash + 1, &end, 10);
		if (*end || n < 1 || n > 65535)
			return err_set(err, E_VALIDATION, "program %s: the port is 1 to 65535", p);
		*port_in_name = n;
		buf[dash - p] = '\0';
	}
	const char *slug = slug_of(buf);
	if (!slug)
		return err_set(
		    err, E_VALIDATION,
		    "program must be a Hoody Kit program (terminal, files, code, browser, "
		    "agent, display, ...) or http, https, ssh; not %.32s",
		    p);
	free(a->program);
	a->program = xstrdup(slug);
	return 1;
}

static int alias_field(struct platform *pf, const json_t *body, bool creating,
		       struct proxy_alias *a, struct error *err)
{
	json_t *v = json_object_get(body, "alias");
	char rnd[PROXY_ALIAS_RANDOM_LEN + 1];
	if (!v || json_is_null(v) || json_is_false(v)) {
		if (!creating && v)
			return err_set(err, E_VALIDATION,
				       "alias cannot be removed; delete the alias");
		if (!creating)
			return 0;
		random_hex(rnd, PROXY_ALIAS_RANDOM_LEN / 2);
		free(a->alias);
		a->alias = xstrdup(rnd);
		return 0;
	}
	const char *s = json_string_value(v);
	if (!s || !proxy_alias_name_valid(s))
		return err_set(
		    err, E_VALIDATION,
		    "alias must be 3 to 61 of [a-z0-9-], not starting or ending with '-'");
	if (proxy_alias_name_reserved(s))
		return err_set(err, E_VALIDATION, "alias %s is reserved", s);
	free(a->alias);
	a->alias = xstrdup(s);
	return 0;
}

static int target_path_field(const json_t *body, struct proxy_alias *a, struct error *err)
{
	const char *p;
	bool null = false;
	int rc = field_string(body, "target_path", 0, TARGET_PATH_MAX - 1, true, &p, &null, err);
	if (rc <= 0)
		return rc;
	free(a->target_path);
	a->target_path = NULL;
	if (null || !*p)
		return 0;
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == '?' || *c == '#' || *c == '\\' || *c == 0x7f)
			return err_set(
			    err, E_VALIDATION,
			    "target_path must be a path without spaces, '?', '#' or '\\'");
	a->target_path = xasprintf("%s%s", p[0] == '/' ? "" : "/", p);
	return 0;
}

/* ISO-8601 on create; update also takes unix seconds or ms, and null. */
static int expires_field(const json_t *body, bool creating, struct proxy_alias *a,
			 struct error *err)
{
	json_t *v = json_object_get(body, "expires_at");
	int64_t ms = -1;
	if (!v)
		return 0;
	if (json_is_null(v)) {
		a->expires_at = 0;
		return 0;
	}
	if (json_is_string(v))
		ms = iso8601_parse_ms(json_string_value(v));
	else if (!creating && json_is_integer(v) && json_integer_value(v) > 0)
		ms = json_integer_value(v) < 100000000000LL ? json_integer_value(v) * 1000
							    : json_integer_value(v);
	if (ms <= 0)
		return err_set(
		    err, E_VALIDATION,
		    creating ? "expires_at must be an ISO-8601 date or null"
			     : "expires_at must be an ISO-8601 date, unix seconds or ms, or null");
	if (ms <= now_ms())
		return err_set(err, E_VALIDATION, "expires_at must be in the future");
	a->expires_at = ms;
	return 0;
}

static int numbers(const json_t *body, struct proxy_alias *a, int64_t port_in_name,
		   struct error *err)
{
	int64_t port = 0, index = 0;
	int hp = field_int(body, "port", 1, 65535, false, &port, NULL, err);
	int hi = hp < 0 ? -1 : field_int(body, "index", 1, 65535, false, &index, NULL, err);
	if (hi < 0)
		return -1;
	if (is_port_program(a->program)) {
		/* port > the port in http-<port> > index (§3.1) */
		int64_t p = hp ? port : port_in_name ? port_in_name : hi ? index : a->port;
		a->port = p ? p : strcmp(a->program, "https") == 0 ? 443 : 80;
		a->idx = 0;
	} else {
		if (hp)
			return err_set(err, E_VALIDATION, "port applies to http and https only");
		if (hi && strcmp(a->program, "ssh") == 0)
			return err_set(err, E_VALIDATION, "ssh has no index");
		a->idx = hi ? index : a->idx ? a->idx : strcmp(a->program, "ssh") ? 1 : 0;
		a->port = 0;
		if (strcmp(a->program, "terminal") && a->idx > 9999)
			return err_set(err, E_VALIDATION, "index must be 1 to 9999");
	}
	return 0;
}

static int apply_body(struct platform *pf, const json_t *body, bool creating, struct proxy_alias *a,
		      struct error *err)
{
	static const char *const create_keys[] = {
	    "container_id",	   "alias",	 "program", "port", "index", "target_path",
	    "allow_path_override", "expires_at", "enabled", NULL};
	int64_t port_in_name = 0;
	bool b;
	int rc;
	if (fields_allowed(body, create_keys + (creating ? 0 : 1), err) < 0)
		return -1;
	if ((rc = program_field(body, a, &port_in_name, err)) < 0)
		return -1;
	if (creating && rc == 0)
		return err_set(err, E_VALIDATION, "program is required");
	if (alias_field(pf, body, creating, a, err) < 0 ||
	    numbers(body, a, port_in_name, err) < 0 || target_path_field(body, a, err) < 0 ||
	    expires_field(body, creating, a, err) < 0)
		return -1;
	if ((rc = field_bool(body, "allow_path_override", &b, err)) < 0)
		return -1;
	if (rc)
		a->allow_path_override = b;
	if ((rc = field_bool(body, "enabled", &b, err)) < 0)
		return -1;
	if (rc)
		a->enabled = b;
	return 0;
}

/* ---- the container behind an alias ---- */

static int writable_container(struct platform *pf, const struct principal *who, const char *id,
			      struct container *c, struct error *err)
{
	if (containers_find(pf, who, id, "containers.read", c, err) < 0)
		return -1;
	if (container_status_in(c->status, CS_GONE))
		return err_set(err, E_CONTAINER_NOT_FOUND, "Container not found");
	if (c->status == CS_CLAIMING)
		return err_set(err, E_STATE_CONFLICT,
			       "The container is finalising a claim; try again in a moment");
	return 0;
}

/* An alias is visible when its container is (or, with the container gone,
 * to a principal without realm restrictions). */
static bool alias_visible(struct platform *pf, const struct principal *who,
			  const struct proxy_alias *a, const char *realm)
{
	_cleanup_container_ struct container c = {0};
	struct error err = {0};
	bool restricted = who->scoped_realm[0] || realm ||
			  (who->via_token && json_array_size(who->token_realm_ids));
	bool ok = !restricted;
	if (store_container_get(pf->store, a->container_id, &c, &err) == 0) {
		_cleanup_free_ char *needle = realm ? xasprintf("\"%s\"", realm) : NULL;
		ok = principal_sees_realms(who, c.realm_ids) &&
		     (!needle || (c.realm_ids && strstr(c.realm_ids, needle)));
	}
	return ok;
}

static int find_owned(struct platform *pf, const struct principal *who, const char *id,
		      struct proxy_alias *a, struct error *err)
{
	if (principal_require(who, LEAF, err) < 0)
		return -1;
	if (!id_valid(id))
		return err_set(err, E_INVALID_ID, "Invalid ID format");
	if (store_proxy_alias_get_owned(pf->store, who->user_id, id, a, err) < 0 ||
	    !alias_visible(pf, who, a, NULL))
		return err_set(err, E_NOT_FOUND, "Proxy alias not found");
	return 0;
}

static void emit(struct platform *pf, const struct proxy_alias *a, const char *what)
{
	char type[48];
	_cleanup_container_ struct container c = {0};
	struct error err = {0};
	snprintf(type, sizeof(type), "proxy.alias.%s", what);
	(void)store_container_get(pf->store, a->container_id, &c, &err);
	json_t *payload = json_pack("{s:s, s:s, s:b}", "alias", a->alias, "program", a->program,
				    "enabled", a->enabled);
	struct event_spec e = {.type = type,
			       .resource_type = "proxy_alias",
			       .resource_id = a->id,
			       .user_id = a->user_id,
			       .project_id = a->project_id,
			       .container_id = a->container_id,
			       .realm_ids = c.realm_ids,
			       .payload = payload};
	events_emit(pf, &e);
	json_decref(payload);
}

int proxy_aliases_create(struct platform *pf, const struct principal *who, const json_t *body,
			 json_t **data_new, struct error *err)
{
	_cleanup_proxy_alias_ struct proxy_alias a = {.allow_path_override = true, .enabled = true};
	_cleanup_container_ struct container c = {0};
	const char *cid = NULL;
	int rc = -1;
	if (principal_require(who, LEAF, err) < 0 || fields_object(body, err) < 0)
		goto out;
	if (field_string(body, "container_id", 1, 64, false, &cid, NULL, err) < 0)
		goto out;
	if (!cid) {
		err_set(err, E_VALIDATION, "container_id is required");
		goto out;
	}
	if (writable_container(pf, who, cid, &c, err) < 0 ||
	    apply_body(pf, body, true, &a, err) < 0)
		goto out;
	id_new(a.id);
	memcpy(a.user_id, c.user_id, sizeof(a.user_id));
	memcpy(a.project_id, c.project_id, sizeof(a.project_id));
	memcpy(a.container_id, c.id, sizeof(a.container_id));
	memcpy(a.server_id, pf->server_id, sizeof(a.server_id));
	a.created_at = a.updated_at = now_ms();
	if (store_proxy_alias_insert(pf->store, &a, err) < 0)
		goto out;
	emit(pf, &a, "created");
	*data_new = alias_json(pf, &a);
	rc = 0;
out:
	return rc;
}

int proxy_aliases_get(struct platform *pf, const struct principal *who, const char *id,
		      json_t **data_new, struct error *err)
{
	_cleanup_proxy_alias_ struct proxy_alias a = {0};
	_cleanup_container_ struct container c = {0};
	_cleanup_project_ struct project p = {0};
	struct error scratch = {0};
	if (find_owned(pf, who, id, &a, err) < 0)
		return -1;
	json_t *o = alias_json(pf, &a);
	bool has_c = store_container_get(pf->store, a.container_id, &c, &scratch) == 0;
	bool has_p = store_project_get_owned(pf->store, a.user_id, a.project_id, &p, &scratch) == 0;
	json_object_set_new(o, "project",
			    json_pack("{s:s, s:o}", "id", a.project_id, "alias",
				      has_p && p.alias ? json_string(p.alias) : json_null()));
	json_object_set_new(o, "container",
			    json_pack("{s:s, s:o}", "id", a.container_id, "name",
				      has_c && c.name ? json_string(c.name) : json_null()));
	*data_new = o;
	return 0;
}

static int change(struct platform *pf, const struct principal *who, const char *id,
		  const json_t *body, bool state_only, json_t **data_new, struct error *err)
{
	static const char *const state_keys[] = {"enabled", NULL};
	_cleanup_proxy_alias_ struct proxy_alias a = {0};
	_cleanup_container_ struct container c = {0};
	bool was = false, en;
	int rc = -1;
	if (find_owned(pf, who, id, &a, err) < 0 || fields_object(body, err) < 0)
		goto out;
	was = a.enabled;
	char was_container[ID_LEN + 1];
	memcpy(was_container, a.container_id, sizeof(was_container));
	if (writable_container(pf, who, a.container_id, &c, err) < 0 &&
	    err->code != E_CONTAINER_NOT_FOUND)
		goto out;
	if (state_only) {
		if (fields_allowed(body, state_keys, err) < 0 ||
		    field_bool(body, "enabled", &en, err) < 0)
			goto out;
		if (!json_object_get(body, "enabled")) {
			err_set(err, E_VALIDATION, "enabled is required");
			goto out;
		}
		a.enabled = en;
	} else if (apply_body(pf, body, false, &a, err) < 0) {
		goto out;
	}
	if (store_proxy_alias_update(pf->store, &a, err) < 0)
		goto out;
	emit(pf, &a, a.enabled == was ? "updated" : a.enabled ? "enabled" : "disabled");
	/* disabled, renamed, retargeted: tunnels through it are decided again */
	revoke_note(REVOKE_CONTAINER, was_container, false);
	if (strcmp(was_container, a.container_id) != 0)
		revoke_note(REVOKE_CONTAINER, a.container_id, false);
	struct error scratch = {0};
	proxy_alias_clear(&a);
	if (store_proxy_alias_get_owned(pf->store, who->user_id, id, &a, &scratch) == 0)
		*data_new = alias_json(pf, &a);
	else
		*data_new = json_null();
	rc = 0;
out:
	return rc;
}

int proxy_aliases_update(struct platform *pf, const struct principal *who, const char *id,
			 const json_t *body, json_t **data_new, struct error *err)
{
	return change(pf, who, id, body, false, data_new, err);
}

int proxy_aliases_state(struct platform *pf, const struct principal *who, const char *id,
			const json_t *body, json_t **data_new, struct error *err)
{
	return change(pf, who, id, body, true, data_new, err);
}

int proxy_aliases_delete(struct platform *pf, const struct principal *who, const char *id,
			 struct error *err)
{
	_cleanup_proxy_alias_ struct proxy_alias a = {0};
	_cleanup_container_ struct container c = {0};
	struct error scratch = {0};
	int rc = -1;
	if (find_owned(pf, who, id, &a, err) < 0)
		goto out;
	/* a container mid-claim keeps its aliases; a deleted one releases them */
	if (store_container_get(pf->store, a.container_id, &c, &scratch) == 0 &&
	    c.status == CS_CLAIMING) {
		err_set(err, E_STATE_CONFLICT, "The container is finalising a claim; try again");
		goto out;
	}
	if (store_proxy_alias_delete(pf->store, a.id, err) < 0)
		goto out;
	emit(pf, &a, "deleted");
	revoke_note(REVOKE_CONTAINER, a.container_id, false);
	rc = 0;
out:
	return rc;
}

static int list_rows(struct platform *pf, const char *user_id, const struct proxy_alias_filter *f,
		     struct proxy_alias **rows, size_t *n, struct error *err)
{
	struct proxy_alias_query q = {.user_id = user_id,
				      .project_id = f ? f->project_id : NULL,
				      .container_id = f ? f->container_id : NULL,
				      .enabled = f ? f->enabled : -1,
				      .expired = f ? f->expired : -1,
				      .now_ms = now_ms()};
	return store_proxy_alias_list(pf->store, &q, rows, n, err);
}

int proxy_aliases_list(struct platform *pf, const struct principal *who,
		       const struct proxy_alias_filter *f, json_t **data_new, struct error *err)
{
	struct proxy_alias *rows = NULL;
	size_t n = 0;
	if (principal_require(who, LEAF, err) < 0 ||
	    list_rows(pf, who->user_id, f, &rows, &n, err) < 0)
		return -1;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		if (alias_visible(pf, who, &rows[i], f ? f->realm_id : NULL))
			json_array_append_new(arr, alias_json(pf, &rows[i]));
	proxy_alias_list_free(rows, n);
	*data_new =
	    json_pack("{s:o, s:I}", "aliases", arr, "count", (json_int_t)json_array_size(arr));
	return 0;
}

json_t *proxy_domains_new(struct platform *pf, const char *container_id)
{
	static const char *const keys[] = {"id",	 "alias",	"program",
					   "index",	 "target_path", "allow_path_override",
					   "expires_at", "enabled",	"created_at",
					   "updated_at", "url",		NULL};
	struct proxy_alias *rows = NULL;
	size_t n = 0;
	struct error err = {0};
	json_t *arr = json_array();
	_cleanup_container_ struct container c = {0};
	if (store_container_get(pf->store, container_id, &c, &err) < 0)
		return arr;
	struct proxy_alias_filter f = {.container_id = container_id, .enabled = -1, .expired = -1};
	if (list_rows(pf, c.user_id, &f, &rows, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++) {
			json_t *full = alias_json(pf, &rows[i]), *o = json_object();
			for (size_t k = 0; keys[k]; k++)
				json_object_set(o, keys[k], json_object_get(full, keys[k]));
			json_decref(full);
			json_array_append_new(arr, o);
		}
	}
	proxy_alias_list_free(rows, n);
	return arr;
}
