/* Realms: GET /api/v1/realms, the realm ids found on the caller's resources. */
#include "api/http.h"
#include "platform/projects.h"

static void list(struct req *r, struct resp *out)
{
	struct error err = {0};
	bool usage = false;
	json_t *data = NULL;
	if (req_bool_query(r, "include_usage", false, &usage, &err) < 0 ||
	    realms_list(r->pf, &r->who, usage, &data, &err) < 0)
		resp_err(out, &err, NULL);
	else
		resp_ok(out, 200, "Realms retrieved successfully", data);
}

void api_register_realms(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/realms", list, 0, "resources.realms");
}
