/* GET /api/v1/containers/{id}/stats and /api/v1/projects/{id}/stats: they
 * read the host (cgroups, procfs, namespaces), so they run deferred. */
#include "api/http.h"
#include "platform/stats.h"

static void container_stats(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = containers_stats(r->pf, &r->who, r->params[0], &data, &err);
	resp_result(out, rc, &err, 200, "Container stats retrieved successfully", data);
}

static void project_stats(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = projects_stats(r->pf, &r->who, r->params[0], &data, &err);
	resp_result(out, rc, &err, 200, "Project stats retrieved successfully", data);
}

void api_register_stats(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/containers/{id}/stats", container_stats, ROUTE_DEFER,
		  "containers.read");
	api_route(srv, "GET", "/api/v1/projects/{id}/stats", project_stats, ROUTE_DEFER,
		  "containers.read");
}
