/* /api/v1/admin/prespawn: the warm pools' targets and fill (administrators). */
#include "api/http.h"
#include "platform/prespawn.h"

static void get(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = prespawn_get(r->pf, &r->who, &data, &err);
	resp_result(out, rc, &err, 200, "Prespawn pools retrieved successfully", data);
}

static void put(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = prespawn_put(r->pf, &r->who, r->body, &data, &err);
	resp_result(out, rc, &err, 200, "Prespawn pools updated successfully", data);
}

void api_register_prespawn(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/admin/prespawn", get, ROUTE_ADMIN, "admin.monitoring");
	api_route(srv, "PUT", "/api/v1/admin/prespawn", put, ROUTE_ADMIN, "admin.system");
}
