/* Long-lived auth tokens: /api/v1/auth/tokens[/{id}|/me|/templates]. */
#include "api/http.h"
#include "platform/auth.h"

static void list(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *arr = NULL;
	int rc = tokens_list(r->pf, &r->who, &arr, &err);
	resp_result(out, rc, &err, 200, "Auth tokens retrieved successfully", arr);
}

static void create(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *tok = NULL;
	int rc = tokens_create(r->pf, &r->who, r->body, &tok, &err);
	resp_result(out, rc, &err, 201, "Auth token created successfully", tok);
}

static void get(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *tok = NULL;
	int rc = tokens_get(r->pf, &r->who, r->params[0], &tok, &err);
	resp_result(out, rc, &err, 200, "Auth token retrieved successfully", tok);
}

static void update(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *tok = NULL;
	int rc = tokens_update(r->pf, &r->who, r->params[0], r->body, &tok, &err);
	resp_result(out, rc, &err, 200, "Auth token updated successfully", tok);
}

static void delete (struct req *r, struct resp *out)
{
	struct error err = {0};
	int rc = tokens_delete(r->pf, &r->who, r->params[0], &err);
	resp_result(out, rc, &err, 200, "Auth token deleted successfully", NULL);
}

/* The token making this call, with what restricts it. */
static void me(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = tokens_me(r->pf, &r->who, &data, &err);
	resp_result(out, rc, &err, 200, "Auth token retrieved successfully", data);
}

static void copy(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *tok = NULL;
	int rc = tokens_copy(r->pf, &r->who, r->params[0], r->body, &tok, &err);
	resp_result(out, rc, &err, 201, "Auth token copied successfully", tok);
}

static void edit_realm(struct req *r, struct resp *out, bool add)
{
	struct error err = {0};
	json_t *tok = NULL;
	int rc = tokens_edit_realm(r->pf, &r->who, r->params[0], r->body, add, &tok, &err);
	resp_result(out, rc, &err, 200,
		    add ? "Realm added to auth token successfully"
			: "Realm removed from auth token successfully",
		    tok);
}

static void add_realm(struct req *r, struct resp *out)
{
	edit_realm(r, out, true);
}

static void remove_realm(struct req *r, struct resp *out)
{
	edit_realm(r, out, false);
}

static void templates(struct req *r, struct resp *out)
{
	json_t *data = json_array();
	for (size_t i = 0; auth_permission_templates[i]; i++) {
		const char *name = auth_permission_templates[i];
		json_array_append_new(data, json_pack("{s:s, s:o}", "name", name, "permissions",
						      auth_permission_template_new(name)));
	}
	resp_ok(out, 200, "Permission templates retrieved successfully", data);
}

void api_register_tokens(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/auth/tokens", list, 0, "resources.read_account");
	api_route(srv, "POST", "/api/v1/auth/tokens", create, 0, "resources.create_tokens");
	api_route(srv, "GET", "/api/v1/auth/tokens/me", me, 0, PERM_ANY);
	api_route(srv, "GET", "/api/v1/auth/tokens/templates", templates, 0, PERM_ANY);
	api_route(srv, "GET", "/api/v1/auth/tokens/{id}", get, 0, "resources.read_account");
	api_route(srv, "PUT", "/api/v1/auth/tokens/{id}", update, 0, "resources.create_tokens");
	api_route(srv, "PATCH", "/api/v1/auth/tokens/{id}", update, 0, "resources.create_tokens");
	api_route(srv, "DELETE", "/api/v1/auth/tokens/{id}", delete, 0, "resources.create_tokens");
	api_route(srv, "POST", "/api/v1/auth/tokens/{id}/copy", copy, 0, "resources.create_tokens");
	api_route(srv, "POST", "/api/v1/auth/tokens/{id}/add-realm", add_realm, 0,
		  "resources.create_tokens");
	api_route(srv, "POST", "/api/v1/auth/tokens/{id}/remove-realm", remove_realm, 0,
		  "resources.create_tokens");
}
