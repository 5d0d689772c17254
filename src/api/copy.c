/* POST /api/v1/containers/{id}/copy and /sync. Both answer at once; the
 * files move in the background while the container is "copying". */
#include "api/http.h"
#include "platform/containers.h"
#include "platform/copy.h"

static void copy(struct req *r, struct resp *out)
{
	struct error err = {0};
	const char *id;
	json_t *data = NULL;
	int rc = req_id_param(r, 0, &id, &err);
	if (rc == 0)
		rc = containers_copy(r->pf, &r->who, id, r->body, &data, &err);
	resp_result(out, rc, &err, 201, "Container copy initiated successfully", data);
}

static void sync(struct req *r, struct resp *out)
{
	struct error err = {0};
	const char *id;
	json_t *data = NULL;
	int rc = req_id_param(r, 0, &id, &err);
	if (rc == 0)
		rc = containers_sync(r->pf, &r->who, id, &data, &err);
	resp_result(out, rc, &err, 200, "Container sync initiated successfully", data);
}

void api_register_copy(struct api_server *srv)
{
	api_route(srv, "POST", "/api/v1/containers/{id}/copy", copy, 0, "containers.create");
	api_route(srv, "POST", "/api/v1/containers/{id}/sync", sync, 0, "containers.update");
}
