/* /api/v1/containers/{id}/env[/{key}]. Changes are written into a running
 * container, so they run deferred. */
#include "api/http.h"
#include "platform/env.h"

static void get_env(struct req *r, struct resp *out)
{
	struct error err = {0};
	const char *id;
	json_t *data = NULL;
	int rc = req_id_param(r, 0, &id, &err);
	if (rc == 0)
		rc = containers_env_get(r->pf, &r->who, id, &data, &err);
	resp_result(out, rc, &err, 200, "Environment variables retrieved successfully", data);
}

static void put_all(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = containers_env_put_all(r->pf, &r->who, r->params[0], r->body, &data, &err);
	resp_result(out, rc, &err, 200, "Environment variables updated successfully", data);
}

static void put_key(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = containers_env_put_key(r->pf, &r->who, r->params[0], r->params[1], r->body, &data,
					&err);
	resp_result(out, rc, &err, 200, "Environment variable set successfully", data);
}

static void delete_key(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = containers_env_delete_key(r->pf, &r->who, r->params[0], r->params[1], &data, &err);
	resp_result(out, rc, &err, 200, "Environment variable deleted successfully", data);
}

void api_register_env(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/containers/{id}/env", get_env, 0, "containers.read");
	api_route(srv, "PUT", "/api/v1/containers/{id}/env", put_all, ROUTE_DEFER,
		  "containers.update");
	api_route(srv, "PATCH", "/api/v1/containers/{id}/env", put_all, ROUTE_DEFER,
		  "containers.update");
	api_route(srv, "PUT", "/api/v1/containers/{id}/env/{key}", put_key, ROUTE_DEFER,
		  "containers.update");
	api_route(srv, "PATCH", "/api/v1/containers/{id}/env/{key}", put_key, ROUTE_DEFER,
		  "containers.update");
	api_route(srv, "DELETE", "/api/v1/containers/{id}/env/{key}", delete_key, ROUTE_DEFER,
		  "containers.update");
}
