/* Servers and rentals: /api/v1/servers[/{id}] and /api/v1/rentals[/{id}] show
 * the same thing, the server(s) this host provides. */
#include "api/http.h"
#include "platform/servers.h"

static void list_as(struct req *r, struct resp *out, const char *message)
{
	struct error err = {0};
	json_t *arr = NULL;
	if (servers_list_json(r->pf, &arr, &err) < 0)
		resp_err(out, &err, NULL);
	else
		resp_ok(out, 200, message, arr);
}

static void get_as(struct req *r, struct resp *out, const char *message)
{
	struct error err = {0};
	const char *id;
	json_t *s = NULL;
	if (req_id_param(r, 0, &id, &err) < 0 || servers_get_json(r->pf, id, &s, &err) < 0)
		resp_err(out, &err, NULL);
	else
		resp_ok(out, 200, message, s);
}

static void servers_list(struct req *r, struct resp *out)
{
	list_as(r, out, "Servers retrieved successfully");
}

static void servers_get(struct req *r, struct resp *out)
{
	get_as(r, out, "Server retrieved successfully");
}

static void rentals_list(struct req *r, struct resp *out)
{
	list_as(r, out, "Rentals retrieved successfully");
}

static void rentals_get(struct req *r, struct resp *out)
{
	get_as(r, out, "Rental retrieved successfully");
}

void api_register_servers(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/servers", servers_list, 0, PERM_ANY);
	api_route(srv, "GET", "/api/v1/servers/{id}", servers_get, 0, PERM_ANY);
	api_route(srv, "GET", "/api/v1/rentals", rentals_list, 0, PERM_ANY);
	api_route(srv, "GET", "/api/v1/rentals/{id}", rentals_get, 0, PERM_ANY);
}
