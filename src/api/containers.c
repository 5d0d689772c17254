/* The Containers API: /api/v1/containers[/{id}] and
 * /api/v1/projects/{id}/containers. Requests that touch the host (update
 * pushes the environment; runtime info reads procfs) run deferred. */
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "common/util.h"
#include "platform/containers.h"

static const char *const sort_fields[] = {"id", "name", "status", "created_at", "updated_at", NULL};

/* Runs fn now, or on a worker thread with a heap copy of arg (size bytes)
 * when it reads the host. */
static void run_or_defer(struct req *r, struct resp *out, deferred_fn fn, void *arg, size_t size,
			 bool defer)
{
	if (!defer) {
		fn(r, out, arg);
		return;
	}
	void *copy = xmalloc(size);
	memcpy(copy, arg, size);
	req_defer(r, fn, copy, free);
}

/* ------------------------------------------------------------ lists */

struct list_args {
	const char *project_id; /* NULL: every project */
	struct container_list_opts o;
};

static int parse_list(struct req *r, struct container_list_opts *o, struct error *err)
{
	memset(o, 0, sizeof(*o));
	if (req_list_query(r, 50, 100, sort_fields, "created_at", &o->q, err) < 0 ||
	    req_bool_query(r, "include_prespawn", false, &o->include_prespawn, err) < 0 ||
	    req_bool_query(r, "include_expired", false, &o->include_expired, err) < 0 ||
	    req_bool_query(r, "include_deleting", false, &o->include_deleting, err) < 0 ||
	    req_bool_query(r, "include_proxy_domains", false, &o->include_proxy_domains, err) < 0 ||
	    req_bool_query(r, "include_proxy_permissions", false, &o->include_proxy_permissions,
			   err) < 0)
		return -1;
	o->runtime = req_query(r, "runtime");
	return 0;
}

static void list_run(struct req *r, struct resp *out, void *arg)
{
	struct list_args *a = arg;
	struct error err = {0};
	json_t *data = NULL;
	if (containers_list(r->pf, &r->who, a->project_id, &a->o, &data, &err) < 0)
		resp_err(out, &err, NULL);
	else
		resp_ok(out, 200, "Containers retrieved successfully", data);
}

static void list_common(struct req *r, struct resp *out, const char *project_id)
{
	struct error err = {0};
	struct list_args a = {.project_id = project_id};
	unsigned mask = 0;
	if (parse_list(r, &a.o, &err) < 0 ||
	    containers_runtime_param(a.o.runtime, &mask, &err) < 0) {
		resp_err(out, &err, NULL);
		return;
	}
	run_or_defer(r, out, list_run, &a, sizeof(a), mask != 0);
}

static void list_all(struct req *r, struct resp *out)
{
	list_common(r, out, NULL);
}

static void list_project(struct req *r, struct resp *out)
{
	struct error err = {0};
	const char *pid;
	if (req_id_param(r, 0, &pid, &err) < 0)
		resp_err(out, &err, NULL);
	else
		list_common(r, out, pid);
}

/* ------------------------------------------------------------ one container */

static void create(struct req *r, struct resp *out)
{
	struct error err = {0};
	const char *pid;
	json_t *data = NULL;
	if (req_id_param(r, 0, &pid, &err) < 0 ||
	    containers_create(r->pf, &r->who, pid, r->body, &data, &err) < 0)
		resp_err(out, &err, NULL);
	else
		resp_ok(out, 201, "Container created successfully", data);
}

static void get_run(struct req *r, struct resp *out, void *arg)
{
	struct container_get_opts *o = arg;
	struct error err = {0};
	json_t *data = NULL;
	if (containers_get(r->pf, &r->who, r->params[0], o, &data, &err) < 0)
		resp_err(out, &err, NULL);
	else
		resp_ok(out, 200, "Container retrieved successfully", data);
}

static void get(struct req *r, struct resp *out)
{
	struct error err = {0};
	struct container_get_opts o = {0};
	const char *id;
	unsigned mask = 0;
	o.runtime = req_query(r, "runtime");
	if (req_id_param(r, 0, &id, &err) < 0 ||
	    req_bool_query(r, "include_proxy_domains", false, &o.include_proxy_domains, &err) < 0 ||
	    req_bool_query(r, "include_proxy_permissions", false, &o.include_proxy_permissions,
			   &err) < 0 ||
	    containers_runtime_param(o.runtime, &mask, &err) < 0) {
		resp_err(out, &err, NULL);
		return;
	}
	run_or_defer(r, out, get_run, &o, sizeof(o), mask != 0);
}

/* Environment changes are written into the running container: ROUTE_DEFER. */
static void update(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	if (containers_update(r->pf, &r->who, r->params[0], r->body, &data, &err) < 0)
		resp_err(out, &err, NULL);
	else
		resp_ok(out, 200, "Container updated successfully", data);
}

static void delete (struct req *r, struct resp *out)
{
	struct error err = {0};
	const char *id;
	if (req_id_param(r, 0, &id, &err) < 0 || containers_delete(r->pf, &r->who, id, &err) < 0)
		resp_err(out, &err, NULL);
	else
		resp_ok(out, 200, "Container deleted successfully", NULL);
}

static void set_kvm(struct req *r, struct resp *out)
{
	struct error err = {0};
	const char *id;
	json_t *data = NULL;
	int rc = req_id_param(r, 0, &id, &err);
	if (rc == 0)
		rc = containers_set_kvm(r->pf, &r->who, id, r->body, &data, &err);
	resp_result(out, rc, &err, 200, "Container KVM setting updated successfully", data);
}

void api_register_containers(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/containers", list_all, 0, "containers.read");
	api_route(srv, "GET", "/api/v1/projects/{id}/containers", list_project, 0,
		  "containers.read");
	api_route(srv, "POST", "/api/v1/projects/{id}/containers", create, 0, "containers.create");
	api_route(srv, "GET", "/api/v1/containers/{id}", get, 0, "containers.read");
	api_route(srv, "PUT", "/api/v1/containers/{id}", update, ROUTE_DEFER, "containers.update");
	api_route(srv, "PATCH", "/api/v1/containers/{id}", update, ROUTE_DEFER,
		  "containers.update");
	api_route(srv, "DELETE", "/api/v1/containers/{id}", delete, 0, "containers.delete");
	api_route(srv, "PUT", "/api/v1/containers/{id}/kvm", set_kvm, 0, "containers.features.kvm");
	api_route(srv, "PATCH", "/api/v1/containers/{id}/kvm", set_kvm, 0,
		  "containers.features.kvm");
}
