/* POST /api/v1/containers/{id}/{operation} and GET .../status-logs. An
 * operation waits for the host (a stop may take its whole grace period), so
 * it runs deferred on a worker and no HTTP thread waits for it. */
#include <string.h>

#include "api/http.h"
#include "common/util.h"
#include "platform/operations.h"

/* Each known operation is its own route, so that the router checks its
 * leaf; the {operation} routes only see other names. */
static const char *operation_of(const struct req *r)
{
	return r->nparams > 1 ? r->params[1] : strrchr(r->pattern, '/') + 1;
}

static void operate(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	if (containers_operate(r->pf, &r->who, r->params[0], operation_of(r), r->body, &data,
			       &err) < 0)
		resp_err(out, &err, data);
	else
		resp_ok(out, 200, "Container operation completed successfully", data);
}

/* Any method on /containers/{id}/<name> that no literal route takes. The
 * trie would otherwise answer 405 "allowed: POST" for every sub-resource of
 * the public API this server does not have (network, firewall, ...), as if
 * it were an operation. An unknown name is a route that does not exist: 404
 * (a wrong method on a sub-resource that exists, DELETE .../stats, lands
 * here too). A known operation asked with another method keeps its 405. */
static void not_an_operation(struct req *r, struct resp *out)
{
	struct error err = {0};
	if (!containers_operation_known(operation_of(r))) {
		err_set(&err, E_ROUTE_NOT_FOUND,
			"No route for containers/{id}/%.64s (operations are start, stop, "
			"force-stop, restart, pause and resume)",
			operation_of(r));
		resp_err(out, &err, NULL);
		return;
	}
	err_set(&err, E_METHOD_NOT_ALLOWED, "Method %s not allowed on %.200s (allowed: POST)",
		r->method, r->path);
	resp_err(out, &err, NULL);
	out->header_name = xstrdup("Allow");
	out->header_value = xstrdup("POST");
}

static const char *const log_sorts[] = {"transition_time", "created_at", "to_status", "from_status",
					NULL};

static void status_logs(struct req *r, struct resp *out)
{
	struct error err = {0};
	struct list_query lq = {0};
	const char *id;
	json_t *data = NULL;
	if (req_id_param(r, 0, &id, &err) < 0 ||
	    req_list_query(r, 10, 100, log_sorts, "transition_time", &lq, &err) < 0) {
		resp_err(out, &err, NULL);
		return;
	}
	/* Newest first unless the caller asks otherwise. */
	const char *order = req_query(r, "sort_order");
	struct status_log_query q = {.sort_by = lq.sort_by,
				     .desc = order ? lq.desc : true,
				     .page = lq.page,
				     .limit = lq.limit};
	int rc = containers_status_logs(r->pf, &r->who, id, &q, &data, &err);
	resp_result(out, rc, &err, 200, "Status logs retrieved successfully", data);
}

void api_register_operations(struct api_server *srv)
{
	/* pause and resume need the stop and start leaves: the reference names
	 * only start, stop and restart, and a pause is a kind of stop */
	api_route(srv, "POST", "/api/v1/containers/{id}/start", operate, ROUTE_DEFER,
		  "containers.actions.start");
	api_route(srv, "POST", "/api/v1/containers/{id}/stop", operate, ROUTE_DEFER,
		  "containers.actions.stop");
	api_route(srv, "POST", "/api/v1/containers/{id}/force-stop", operate, ROUTE_DEFER,
		  "containers.actions.stop");
	api_route(srv, "POST", "/api/v1/containers/{id}/restart", operate, ROUTE_DEFER,
		  "containers.actions.restart");
	api_route(srv, "POST", "/api/v1/containers/{id}/pause", operate, ROUTE_DEFER,
		  "containers.actions.stop");
	api_route(srv, "POST", "/api/v1/containers/{id}/resume", operate, ROUTE_DEFER,
		  "containers.actions.start");
	api_route(srv, "POST", "/api/v1/containers/{id}/{operation}", not_an_operation, 0,
		  PERM_ANY);
	api_route(srv, "GET", "/api/v1/containers/{id}/{operation}", not_an_operation, 0, PERM_ANY);
	api_route(srv, "PUT", "/api/v1/containers/{id}/{operation}", not_an_operation, 0, PERM_ANY);
	api_route(srv, "PATCH", "/api/v1/containers/{id}/{operation}", not_an_operation, 0,
		  PERM_ANY);
	api_route(srv, "DELETE", "/api/v1/containers/{id}/{operation}", not_an_operation, 0,
		  PERM_ANY);
	api_route(srv, "GET", "/api/v1/containers/{id}/status-logs", status_logs, 0,
		  "containers.read");
}
