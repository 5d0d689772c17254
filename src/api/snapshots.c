/* /api/v1/containers/{id}/snapshots[/{name}[/alias]], and
 * /api/v1/snapshots/orphaned[/{container id}/{name}] for the snapshots of
 * deleted containers. Create and restore copy files and stop and start
 * containers, a delete removes files: they run deferred. */
#include "api/http.h"
#include "platform/snapshots.h"

static void list(struct req *r, struct resp *out)
{
	struct error err = {0};
	const char *id;
	json_t *data = NULL;
	int rc = req_id_param(r, 0, &id, &err);
	if (rc == 0)
		rc = snapshots_list(r->pf, &r->who, id, &data, &err);
	resp_result(out, rc, &err, 200, "Snapshots retrieved successfully", data);
}

static void create(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = snapshots_create(r->pf, &r->who, r->params[0], r->body, &data, &err);
	resp_result(out, rc, &err, 201, "Snapshot created successfully", data);
}

static void restore(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = snapshots_restore(r->pf, &r->who, r->params[0], r->params[1], &data, &err);
	resp_result(out, rc, &err, 200, "Snapshot restored successfully", data);
}

static void delete (struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = snapshots_delete(r->pf, &r->who, r->params[0], r->params[1], &data, &err);
	resp_result(out, rc, &err, 200, "Snapshot deleted successfully", data);
}

static void alias(struct req *r, struct resp *out)
{
	struct error err = {0};
	const char *id;
	json_t *data = NULL;
	int rc = req_id_param(r, 0, &id, &err);
	if (rc == 0)
		rc = snapshots_set_alias(r->pf, &r->who, id, r->params[1], r->body, &data, &err);
	resp_result(out, rc, &err, 200, "Snapshot alias updated successfully", data);
}

static void orphaned(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = snapshots_list_orphaned(r->pf, &r->who, &data, &err);
	resp_result(out, rc, &err, 200, "Snapshots retrieved successfully", data);
}

static void orphan_delete(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = snapshots_delete_orphaned(r->pf, &r->who, r->params[0], r->params[1], &data, &err);
	resp_result(out, rc, &err, 200, "Snapshot deleted successfully", data);
}

void api_register_snapshots(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/snapshots/orphaned", orphaned, 0, "containers.read");
	api_route(srv, "DELETE", "/api/v1/snapshots/orphaned/{id}/{name}", orphan_delete,
		  ROUTE_DEFER, "containers.features.snapshots");
	api_route(srv, "GET", "/api/v1/containers/{id}/snapshots", list, 0, "containers.read");
	api_route(srv, "POST", "/api/v1/containers/{id}/snapshots", create, ROUTE_DEFER,
		  "containers.features.snapshots");
	api_route(srv, "PUT", "/api/v1/containers/{id}/snapshots/{name}", restore, ROUTE_DEFER,
		  "containers.features.snapshots");
	api_route(srv, "PATCH", "/api/v1/containers/{id}/snapshots/{name}", restore, ROUTE_DEFER,
		  "containers.features.snapshots");
	api_route(srv, "DELETE", "/api/v1/containers/{id}/snapshots/{name}", delete, ROUTE_DEFER,
		  "containers.features.snapshots");
	api_route(srv, "PUT", "/api/v1/containers/{id}/snapshots/{name}/alias", alias, 0,
		  "containers.features.snapshots");
	api_route(srv, "PATCH", "/api/v1/containers/{id}/snapshots/{name}/alias", alias, 0,
		  "containers.features.snapshots");
}
