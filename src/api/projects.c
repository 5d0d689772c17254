/* Projects: /api/v1/projects[/{id}]. */
#include <stdint.h>

#include "api/http.h"
#include "platform/projects.h"

static const char *const project_sorts[] = {"id", "alias", "created_at", "updated_at", NULL};

/* Every handler ends here: an envelope from a result or an error. */
static void reply(struct resp *out, int rc, const struct error *err, int status,
		  const char *message, json_t *data)
{
	if (rc < 0)
		resp_err(out, err, NULL);
	else
		resp_ok(out, status, message, data);
}

static void list(struct req *r, struct resp *out)
{
	struct error err = {0};
	struct list_query q;
	json_t *data = NULL;
	int rc = req_list_query(r, 10, 100, project_sorts, "created_at", &q, &err);
	if (rc == 0)
		rc = projects_list(r->pf, &r->who, &q, &data, &err);
	reply(out, rc, &err, 200, "Projects retrieved successfully", data);
}

static void create(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *p = NULL;
	int rc = projects_create(r->pf, &r->who, r->body, &p, &err);
	reply(out, rc, &err, 201, "Project created successfully", p);
}

static void get(struct req *r, struct resp *out)
{
	struct error err = {0};
	const char *id;
	bool perms = false;
	json_t *p = NULL;
	int rc = req_id_param(r, 0, &id, &err);
	if (rc == 0)
		rc = req_bool_query(r, "include_permissions", false, &perms, &err);
	if (rc == 0)
		rc = projects_get(r->pf, &r->who, id, &p, &err);
	/* Projects are not shared with other users here: no member permissions. */
	if (rc == 0 && perms)
		json_object_set_new(p, "permissions", json_array());
	reply(out, rc, &err, 200, "Project retrieved successfully", p);
}

static void update_as(struct req *r, struct resp *out, bool partial)
{
	struct error err = {0};
	const char *id;
	json_t *p = NULL;
	int rc = req_id_param(r, 0, &id, &err);
	if (rc == 0)
		rc = projects_update(r->pf, &r->who, id, r->body, partial, &p, &err);
	reply(out, rc, &err, 200, "Project updated successfully", p);
}

static void put(struct req *r, struct resp *out)
{
	update_as(r, out, false);
}

static void patch(struct req *r, struct resp *out)
{
	update_as(r, out, true);
}

/* Deleting the containers takes a while: off the HTTP threads. */
static void delete_job(struct req *r, struct resp *out, void *arg)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = projects_delete(r->pf, &r->who, r->params[0], (intptr_t)arg != 0, &data, &err);
	reply(out, rc, &err, 200, "Project deleted successfully", data);
}

static void delete (struct req *r, struct resp *out)
{
	struct error err = {0};
	const char *id;
	bool items = false;
	if (req_id_param(r, 0, &id, &err) < 0 ||
	    req_bool_query(r, "include_deleted_items", false, &items, &err) < 0)
		resp_err(out, &err, NULL);
	else
		req_defer(r, delete_job, (void *)(intptr_t)items, NULL);
}

void api_register_projects(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/projects", list, 0, "projects.read");
	api_route(srv, "POST", "/api/v1/projects", create, 0, "projects.create");
	api_route(srv, "GET", "/api/v1/projects/{id}", get, 0, "projects.read");
	api_route(srv, "PUT", "/api/v1/projects/{id}", put, 0, "projects.update");
	api_route(srv, "PATCH", "/api/v1/projects/{id}", patch, 0, "projects.update");
	api_route(srv, "DELETE", "/api/v1/projects/{id}", delete, 0, "projects.delete");
}
