/* Account administration: /api/v1/users[/{id}] (administrators only; an
 * admin's auth token also needs the admin.users permission). */
#include "api/http.h"
#include "platform/auth.h"

/* Creating a user hashes its password (argon2id): off the HTTP threads. */
static void create_job(struct req *r, struct resp *out, void *arg)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = users_create_json(r->pf, r->body, &data, &err);
	resp_result(out, rc, &err, 201, "User created successfully", data);
}

static void get(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	const char *id;
	int rc = principal_require(&r->who, "admin.users", &err);
	if (rc == 0)
		rc = req_id_param(r, 0, &id, &err);
	if (rc == 0)
		rc = users_get_json(r->pf, id, &data, &err);
	resp_result(out, rc, &err, 200, "User retrieved successfully", data);
}

/* May hash a new password, hence deferred like create. */
static void update_job(struct req *r, struct resp *out, void *arg)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = users_update_json(r->pf, r->who.user_id, r->params[0], r->body, &data, &err);
	resp_result(out, rc, &err, 200, "User updated successfully", data);
}

/* Checks what is cheap on the HTTP thread, then defers job (it may hash a
 * password). */
static void admin_deferred(struct req *r, struct resp *out, bool with_id, deferred_fn job)
{
	struct error err = {0};
	const char *id;
	if (principal_require(&r->who, "admin.users", &err) < 0 ||
	    (with_id && req_id_param(r, 0, &id, &err) < 0))
		resp_err(out, &err, NULL);
	else
		req_defer_password(r, job, NULL, NULL);
}

static void create(struct req *r, struct resp *out)
{
	admin_deferred(r, out, false, create_job);
}

static void update(struct req *r, struct resp *out)
{
	admin_deferred(r, out, true, update_job);
}

void api_register_users(struct api_server *srv)
{
	api_route(srv, "POST", "/api/v1/users", create, ROUTE_ADMIN, "admin.users");
	api_route(srv, "GET", "/api/v1/users/{id}", get, ROUTE_ADMIN, "admin.users");
	api_route(srv, "PUT", "/api/v1/users/{id}", update, ROUTE_ADMIN, "admin.users");
	api_route(srv, "PATCH", "/api/v1/users/{id}", update, ROUTE_ADMIN, "admin.users");
}
