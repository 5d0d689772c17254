/* Sessions: /api/v1/users/auth/{login,refresh,logout,me} and /users/me. */
#include <string.h>
#include <strings.h>

#include "api/http.h"
#include "platform/auth.h"

static void login_job(struct req *r, struct resp *out, void *arg)
{
	struct error err = {0};
	json_t *session = NULL;
	int rc = sessions_login(r->pf, r->body, r->client_ip, &session, &err);
	resp_result(out, rc, &err, 200, "Login successful", session);
}

/* argon2id costs ~0.1 s: never on an HTTP thread. */
static void login(struct req *r, struct resp *out)
{
	req_defer_password(r, login_job, NULL, NULL);
}

/* The refresh token travels in the body ({refreshToken}) and/or as the bearer. */
static const char *refresh_token_of(struct req *r)
{
	const char *t = json_string_value(json_object_get(r->body, "refreshToken"));
	if (!t)
		t = json_string_value(json_object_get(r->body, "refresh_token"));
	if (t)
		return t;
	const char *h = req_header(r, "Authorization");
	if (h && strncasecmp(h, "Bearer ", 7) == 0)
		h += 7;
	return h;
}

static void refresh(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *session = NULL;
	int rc = sessions_refresh(r->pf, refresh_token_of(r), r->client_ip, &session, &err);
	resp_result(out, rc, &err, 200, "Token refreshed successfully", session);
}

static void logout(struct req *r, struct resp *out)
{
	struct error err = {0};
	int rc = sessions_logout(r->pf, r->who.user_id, &err);
	resp_result(out, rc, &err, 200, "Logged out successfully", NULL);
}

static void me(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = users_get_json(r->pf, r->who.user_id, &data, &err);
	resp_result(out, rc, &err, 200, "User retrieved successfully", data);
}

void api_register_auth(struct api_server *srv)
{
	api_route(srv, "POST", "/api/v1/users/auth/login", login, ROUTE_PUBLIC, NULL);
	api_route(srv, "POST", "/api/v1/users/auth/refresh", refresh, ROUTE_PUBLIC, NULL);
	api_route(srv, "POST", "/api/v1/users/auth/logout", logout, ROUTE_WRITE, PERM_ANY);
	api_route(srv, "GET", "/api/v1/users/auth/me", me, 0, "resources.read_account");
	api_route(srv, "GET", "/api/v1/users/me", me, 0, "resources.read_account");
}
