/* Proxy management (kit-api.md §3): /api/v1/proxy/aliases, and the
 * permission documents under /api/v1/{containers|projects}/{id}/proxy. The
 * platform checks every permission leaf (proxy.h). PUT and PATCH are the
 * same on every document route (the client library and the CLI disagree). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "common/util.h"
#include "platform/proxy.h"

/* ------------------------------------------------------------ aliases */

static int tri_query(struct req *r, const char *key, int *out, struct error *err)
{
	bool b;
	*out = -1;
	if (!req_query(r, key))
		return 0;
	if (req_bool_query(r, key, false, &b, err) < 0)
		return -1;
	*out = b;
	return 0;
}

static int id_query(struct req *r, const char *key, const char **out, struct error *err)
{
	*out = req_query(r, key);
	if (*out && !id_valid(*out))
		return err_set(err, E_INVALID_ID, "%s must be a 24-character lowercase hex id",
			       key);
	return 0;
}

static void alias_list(struct req *r, struct resp *out)
{
	struct error err = {0};
	struct proxy_alias_filter f = {0};
	json_t *data = NULL;
	int rc = id_query(r, "project_id", &f.project_id, &err);
	if (rc == 0)
		rc = id_query(r, "container_id", &f.container_id, &err);
	if (rc == 0)
		rc = id_query(r, "realm_id", &f.realm_id, &err);
	if (rc == 0)
		rc = tri_query(r, "enabled", &f.enabled, &err);
	if (rc == 0)
		rc = tri_query(r, "expired", &f.expired, &err);
	if (rc == 0 && !f.realm_id && r->who.scoped_realm[0])
		f.realm_id = r->who.scoped_realm;
	if (rc == 0)
		rc = proxy_aliases_list(r->pf, &r->who, &f, &data, &err);
	resp_result(out, rc, &err, 200, "Proxy aliases retrieved successfully", data);
}

static void alias_create(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = proxy_aliases_create(r->pf, &r->who, r->body, &data, &err);
	resp_result(out, rc, &err, 201, "Proxy alias created successfully", data);
}

static void alias_get(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = proxy_aliases_get(r->pf, &r->who, r->params[0], &data, &err);
	resp_result(out, rc, &err, 200, "Proxy alias retrieved successfully", data);
}

static void alias_update(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = proxy_aliases_update(r->pf, &r->who, r->params[0], r->body, &data, &err);
	resp_result(out, rc, &err, 200, "Proxy alias updated successfully", data);
}

static void alias_state(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = proxy_aliases_state(r->pf, &r->who, r->params[0], r->body, &data, &err);
	resp_result(out, rc, &err, 200, "Proxy alias state updated successfully", data);
}

static void alias_delete(struct req *r, struct resp *out)
{
	struct error err = {0};
	int rc = proxy_aliases_delete(r->pf, &r->who, r->params[0], &err);
	resp_result(out, rc, &err, 200, "Proxy alias deleted successfully", NULL);
}

/* ------------------------------------------------------------ documents */

static void etag_header(struct resp *out)
{
	const char *etag =
	    json_string_value(json_object_get(json_object_get(out->json, "data"), "etag"));
	if (out->status < 300 && etag) {
		out->header_name = xstrdup("ETag");
		out->header_value = xasprintf("\"%s\"", etag);
	}
}

static void doc_read(struct req *r, struct resp *out, enum proxy_scope scope,
		     enum proxy_doc_view view)
{
	struct error err = {0};
	json_t *data = NULL;
	struct proxy_doc_read rd = {.scope = scope,
				    .id = r->params[0],
				    .view = view,
				    .service = r->nparams > 1 ? r->params[1] : NULL,
				    .hook_id = r->nparams > 2 ? r->params[2] : NULL};
	int rc = proxy_doc_read(r->pf, &r->who, &rd, &data, &err);
	resp_result(out, rc, &err, 200, "Proxy configuration retrieved successfully", data);
	etag_header(out);
}

/* Which path parameters (after {id}) a write route has. */
enum params { P_NONE, P_GROUP, P_GROUP_TYPE, P_GROUP_PROGRAM, P_SERVICE, P_SERVICE_HOOK };

static void doc_write(struct req *r, struct resp *out, enum proxy_scope scope, enum proxy_doc_op op,
		      enum params p)
{
	struct error err = {0};
	json_t *data = NULL;
	struct proxy_doc_write w = {.scope = scope,
				    .id = r->params[0],
				    .op = op,
				    .if_match = req_header(r, "If-Match"),
				    .body = r->body};
	const char *a = r->nparams > 1 ? r->params[1] : NULL;
	const char *b = r->nparams > 2 ? r->params[2] : NULL;
	if (p == P_GROUP || p == P_GROUP_TYPE || p == P_GROUP_PROGRAM)
		w.group = a;
	if (p == P_GROUP_TYPE)
		w.group_type = b;
	if (p == P_GROUP_PROGRAM)
		w.program = b;
	if (p == P_SERVICE || p == P_SERVICE_HOOK)
		w.service = a;
	if (p == P_SERVICE_HOOK)
		w.hook_id = b;
	int rc = 0;
	if (w.group_type && strcmp(w.group_type, "password") && strcmp(w.group_type, "jwt") &&
	    strcmp(w.group_type, "token") && strcmp(w.group_type, "ip"))
		rc =
		    err_set(&err, E_ROUTE_NOT_FOUND, "Group types are password, jwt, token and ip");
	if (rc == 0)
		rc = proxy_doc_write(r->pf, &r->who, &w, &data, &err);
	resp_result(out, rc, &err, op == PDOC_HOOK_ADD ? 201 : 200,
		    "Proxy configuration updated successfully", data);
	etag_header(out);
}

#define READ(name, scope, view)                                                                    \
	static void name(struct req *r, struct resp *out)                                          \
	{                                                                                          \
		doc_read(r, out, scope, view);                                                     \
	}
#define WRITE(name, scope, op, p)                                                                  \
	static void name(struct req *r, struct resp *out)                                          \
	{                                                                                          \
		doc_write(r, out, scope, op, p);                                                   \
	}

#define C PROXY_SCOPE_CONTAINER
#define PJ PROXY_SCOPE_PROJECT
READ(c_doc, C, PVIEW_DOCUMENT)
READ(c_settings, C, PVIEW_SETTINGS)
READ(c_hooks, C, PVIEW_HOOKS)
READ(c_service_hooks, C, PVIEW_SERVICE_HOOKS)
READ(c_hook, C, PVIEW_HOOK)
READ(c_groups, C, PVIEW_GROUPS)
READ(c_services, C, PVIEW_SERVICES)
READ(c_service, C, PVIEW_SERVICE)
READ(p_doc, PJ, PVIEW_DOCUMENT)
WRITE(c_replace, C, PDOC_REPLACE, P_NONE)
WRITE(c_delete, C, PDOC_DELETE, P_NONE)
WRITE(c_default, C, PDOC_DEFAULT, P_NONE)
WRITE(c_state, C, PDOC_STATE, P_NONE)
WRITE(c_settings_put, C, PDOC_SETTINGS, P_NONE)
WRITE(c_group_delete, C, PDOC_GROUP_DELETE, P_GROUP)
WRITE(c_group_set, C, PDOC_GROUP_SET, P_GROUP_TYPE)
WRITE(c_rules_set, C, PDOC_RULES_SET, P_GROUP)
WRITE(c_rules_delete, C, PDOC_RULES_DELETE, P_GROUP)
WRITE(c_rule_delete, C, PDOC_RULE_DELETE, P_GROUP_PROGRAM)
WRITE(c_hook_add, C, PDOC_HOOK_ADD, P_SERVICE)
WRITE(c_hooks_clear, C, PDOC_HOOKS_CLEAR, P_SERVICE)
WRITE(c_hook_put, C, PDOC_HOOK_PUT, P_SERVICE_HOOK)
WRITE(c_hook_delete, C, PDOC_HOOK_DELETE, P_SERVICE_HOOK)
WRITE(c_hook_position, C, PDOC_HOOK_POSITION, P_SERVICE_HOOK)
WRITE(p_replace, PJ, PDOC_REPLACE, P_NONE)
WRITE(p_delete, PJ, PDOC_DELETE, P_NONE)
WRITE(p_default, PJ, PDOC_DEFAULT, P_NONE)
WRITE(p_state, PJ, PDOC_STATE, P_NONE)
WRITE(p_group_delete, PJ, PDOC_GROUP_DELETE, P_GROUP)
WRITE(p_group_set, PJ, PDOC_GROUP_SET, P_GROUP_TYPE)
WRITE(p_rules_set, PJ, PDOC_RULES_SET, P_GROUP)
WRITE(p_rules_delete, PJ, PDOC_RULES_DELETE, P_GROUP)
WRITE(p_rule_delete, PJ, PDOC_RULE_DELETE, P_GROUP_PROGRAM)

/* Written out one by one: the tenancy test reads every registration and
 * its leaf from the source. Documents: the router checks containers.* /
 * projects.*, the platform adds resources.proxy_aliases. */
/* clang-format off */
void api_register_proxy(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/proxy/aliases", alias_list, 0, "resources.proxy_aliases");
	api_route(srv, "POST", "/api/v1/proxy/aliases", alias_create, ROUTE_WRITE, "resources.proxy_aliases");
	api_route(srv, "GET", "/api/v1/proxy/aliases/{id}", alias_get, 0, "resources.proxy_aliases");
	api_route(srv, "PATCH", "/api/v1/proxy/aliases/{id}", alias_update, ROUTE_WRITE, "resources.proxy_aliases");
	api_route(srv, "PUT", "/api/v1/proxy/aliases/{id}", alias_update, ROUTE_WRITE, "resources.proxy_aliases");
	api_route(srv, "DELETE", "/api/v1/proxy/aliases/{id}", alias_delete, ROUTE_WRITE, "resources.proxy_aliases");
	api_route(srv, "PATCH", "/api/v1/proxy/aliases/{id}/state", alias_state, ROUTE_WRITE, "resources.proxy_aliases");
	api_route(srv, "PUT", "/api/v1/proxy/aliases/{id}/state", alias_state, ROUTE_WRITE, "resources.proxy_aliases");
	api_route(srv, "GET", "/api/v1/containers/{id}/proxy/permissions", c_doc, 0, "containers.read");
	api_route(srv, "PUT", "/api/v1/containers/{id}/proxy/permissions", c_replace, 0, "containers.update");
	api_route(srv, "PATCH", "/api/v1/containers/{id}/proxy/permissions", c_replace, 0, "containers.update");
	api_route(srv, "DELETE", "/api/v1/containers/{id}/proxy/permissions", c_delete, 0, "containers.update");
	api_route(srv, "PUT", "/api/v1/containers/{id}/proxy/permissions/default", c_default, 0, "containers.update");
	api_route(srv, "PATCH", "/api/v1/containers/{id}/proxy/permissions/default", c_default, 0, "containers.update");
	api_route(srv, "PUT", "/api/v1/containers/{id}/proxy/permissions/state", c_state, 0, "containers.update");
	api_route(srv, "PATCH", "/api/v1/containers/{id}/proxy/permissions/state", c_state, 0, "containers.update");
	api_route(srv, "DELETE", "/api/v1/containers/{id}/proxy/permissions/groups/{group}", c_group_delete, 0, "containers.update");
	api_route(srv, "PUT", "/api/v1/containers/{id}/proxy/permissions/groups/{group}/{type}", c_group_set, 0, "containers.update");
	api_route(srv, "PATCH", "/api/v1/containers/{id}/proxy/permissions/groups/{group}/{type}", c_group_set, 0, "containers.update");
	api_route(srv, "PUT", "/api/v1/containers/{id}/proxy/permissions/permissions/{group}", c_rules_set, 0, "containers.update");
	api_route(srv, "PATCH", "/api/v1/containers/{id}/proxy/permissions/permissions/{group}", c_rules_set, 0, "containers.update");
	api_route(srv, "DELETE", "/api/v1/containers/{id}/proxy/permissions/permissions/{group}", c_rules_delete, 0, "containers.update");
	api_route(srv, "DELETE", "/api/v1/containers/{id}/proxy/permissions/permissions/{group}/{program}", c_rule_delete, 0, "containers.update");
	api_route(srv, "GET", "/api/v1/containers/{id}/proxy/settings", c_settings, 0, "containers.read");
	api_route(srv, "PUT", "/api/v1/containers/{id}/proxy/settings", c_settings_put, 0, "containers.update");
	api_route(srv, "PATCH", "/api/v1/containers/{id}/proxy/settings", c_settings_put, 0, "containers.update");
	api_route(srv, "GET", "/api/v1/containers/{id}/proxy/hooks", c_hooks, 0, "containers.read");
	api_route(srv, "GET", "/api/v1/containers/{id}/proxy/hooks/{service}", c_service_hooks, 0, "containers.read");
	api_route(srv, "POST", "/api/v1/containers/{id}/proxy/hooks/{service}", c_hook_add, 0, "containers.update");
	api_route(srv, "DELETE", "/api/v1/containers/{id}/proxy/hooks/{service}", c_hooks_clear, 0, "containers.update");
	api_route(srv, "GET", "/api/v1/containers/{id}/proxy/hooks/{service}/{hook}", c_hook, 0, "containers.read");
	api_route(srv, "PUT", "/api/v1/containers/{id}/proxy/hooks/{service}/{hook}", c_hook_put, 0, "containers.update");
	api_route(srv, "DELETE", "/api/v1/containers/{id}/proxy/hooks/{service}/{hook}", c_hook_delete, 0, "containers.update");
	api_route(srv, "PATCH", "/api/v1/containers/{id}/proxy/hooks/{service}/{hook}/position", c_hook_position, 0, "containers.update");
	api_route(srv, "GET", "/api/v1/containers/{id}/proxy/groups", c_groups, 0, "containers.read");
	api_route(srv, "GET", "/api/v1/containers/{id}/proxy/services", c_services, 0, "containers.read");
	api_route(srv, "GET", "/api/v1/containers/{id}/proxy/services/{service}", c_service, 0, "containers.read");
	api_route(srv, "GET", "/api/v1/projects/{id}/proxy/permissions", p_doc, 0, "projects.read");
	api_route(srv, "PUT", "/api/v1/projects/{id}/proxy/permissions", p_replace, 0, "projects.update");
	api_route(srv, "PATCH", "/api/v1/projects/{id}/proxy/permissions", p_replace, 0, "projects.update");
	api_route(srv, "DELETE", "/api/v1/projects/{id}/proxy/permissions", p_delete, 0, "projects.update");
	api_route(srv, "PUT", "/api/v1/projects/{id}/proxy/permissions/default", p_default, 0, "projects.update");
	api_route(srv, "PATCH", "/api/v1/projects/{id}/proxy/permissions/default", p_default, 0, "projects.update");
	api_route(srv, "PUT", "/api/v1/projects/{id}/proxy/permissions/state", p_state, 0, "projects.update");
	api_route(srv, "PATCH", "/api/v1/projects/{id}/proxy/permissions/state", p_state, 0, "projects.update");
	api_route(srv, "DELETE", "/api/v1/projects/{id}/proxy/permissions/groups/{group}", p_group_delete, 0, "projects.update");
	api_route(srv, "PUT", "/api/v1/projects/{id}/proxy/permissions/groups/{group}/{type}", p_group_set, 0, "projects.update");
	api_route(srv, "PATCH", "/api/v1/projects/{id}/proxy/permissions/groups/{group}/{type}", p_group_set, 0, "projects.update");
	api_route(srv, "PUT", "/api/v1/projects/{id}/proxy/permissions/permissions/{group}", p_rules_set, 0, "projects.update");
	api_route(srv, "PATCH", "/api/v1/projects/{id}/proxy/permissions/permissions/{group}", p_rules_set, 0, "projects.update");
	api_route(srv, "DELETE", "/api/v1/projects/{id}/proxy/permissions/permissions/{group}", p_rules_delete, 0, "projects.update");
	api_route(srv, "DELETE", "/api/v1/projects/{id}/proxy/permissions/permissions/{group}/{program}", p_rule_delete, 0, "projects.update");
}
/* clang-format on */
