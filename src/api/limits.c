/* /api/v1/admin/limits: the server's default container limits and the
 * per-user and per-project overrides (administrators; docs/SECURITY.md). */
#include "api/http.h"
#include "platform/limits.h"

static void defaults_get(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = limits_server_get(r->pf, &r->who, &data, &err);
	resp_result(out, rc, &err, 200, "Limits retrieved successfully", data);
}

/* {scope} is "users" or "projects" (anything else: 404). */
static int target(struct req *r, const char **scope, const char **id, struct error *err)
{
	*scope = r->params[0];
	return req_id_param(r, 1, id, err);
}

static void override_get(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	const char *scope, *id;
	int rc = target(r, &scope, &id, &err);
	if (rc == 0)
		rc = limits_override_get(r->pf, &r->who, scope, id, &data, &err);
	resp_result(out, rc, &err, 200, "Limits retrieved successfully", data);
}

static void override_put(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	const char *scope, *id;
	int rc = target(r, &scope, &id, &err);
	if (rc == 0)
		rc = limits_override_put(r->pf, &r->who, scope, id, r->body, &data, &err);
	resp_result(out, rc, &err, 200, "Limits updated successfully", data);
}

static void override_delete(struct req *r, struct resp *out)
{
	struct error err = {0};
	const char *scope, *id;
	int rc = target(r, &scope, &id, &err);
	if (rc == 0)
		rc = limits_override_delete(r->pf, &r->who, scope, id, &err);
	resp_result(out, rc, &err, 200, "Limits override removed successfully", NULL);
}

void api_register_limits(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/admin/limits", defaults_get, ROUTE_ADMIN,
		  "admin.monitoring");
	api_route(srv, "GET", "/api/v1/admin/limits/{scope}/{id}", override_get, ROUTE_ADMIN,
		  "admin.monitoring");
	api_route(srv, "PUT", "/api/v1/admin/limits/{scope}/{id}", override_put, ROUTE_ADMIN,
		  "admin.system");
	api_route(srv, "PATCH", "/api/v1/admin/limits/{scope}/{id}", override_put, ROUTE_ADMIN,
		  "admin.system");
	api_route(srv, "DELETE", "/api/v1/admin/limits/{scope}/{id}", override_delete, ROUTE_ADMIN,
		  "admin.system");
}
