/* Servers and rentals: /api/v1/servers[/{id}] and /api/v1/rentals[/{id}] show
 * the same thing, the server(s) this host provides, as rental objects;
 * /servers/available the same servers as a marketplace would list them. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "platform/servers.h"

#define FILTER_TEXT_MAX 200

static void list_as(struct req *r, struct resp *out, const char *message)
{
	struct error err = {0};
	json_t *arr = NULL;
	int rc = servers_list_json(r->pf, &r->who, &arr, &err);
	resp_result(out, rc, &err, 200, message, arr);
}

static void get_as(struct req *r, struct resp *out, const char *message)
{
	struct error err = {0};
	const char *id;
	json_t *s = NULL;
	int rc = req_id_param(r, 0, &id, &err);
	if (rc == 0)
		rc = servers_get_json(r->pf, &r->who, id, &s, &err);
	resp_result(out, rc, &err, 200, message, s);
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

/* A non-negative decimal query value (prices, terabytes); -1 when absent. */
static int number_query(struct req *r, const char *key, double *out, struct error *err)
{
	const char *v = req_query(r, key);
	char *end;
	*out = -1;
	if (!v)
		return 0;
	errno = 0;
	double d = strtod(v, &end);
	if (!*v || *end || errno || !isfinite(d) || d < 0 || d > 1e12)
		return err_set(err, E_VALIDATION, "%s must be a non-negative number", key);
	*out = d;
	return 0;
}

static int text_query(struct req *r, const char *key, const char **out, struct error *err)
{
	const char *v = req_query(r, key);
	if (v && strlen(v) > FILTER_TEXT_MAX)
		return err_set(err, E_VALIDATION, "%s must be at most %d characters", key,
			       FILTER_TEXT_MAX);
	*out = v && *v ? v : NULL;
	return 0;
}

/* The reference's filters. available_durations, cpu_score_type and category
 * are read for their syntax only: a self-hosted server has no rental terms,
 * benchmark or category. */
static int parse_filter(struct req *r, struct server_filter *f, struct error *err)
{
	const int64_t big = 1000000000;
	const char *ignored;
	bool unlimited_only = false;
	if (text_query(r, "country", &f->country, err) < 0 ||
	    text_query(r, "region", &f->region, err) < 0 ||
	    text_query(r, "ram_types", &f->ram_types, err) < 0 ||
	    text_query(r, "disk_types", &f->disk_types, err) < 0 ||
	    text_query(r, "available_durations", &ignored, err) < 0 ||
	    text_query(r, "cpu_score_type", &ignored, err) < 0 ||
	    text_query(r, "category", &ignored, err) < 0 ||
	    req_int_query(r, "min_cpu_cores", -1, 0, big, &f->min_cpu_cores, err) < 0 ||
	    req_int_query(r, "min_cpu_score", -1, 0, big, &f->min_cpu_score, err) < 0 ||
	    req_int_query(r, "min_ram_gb", -1, 0, big, &f->min_ram_gb, err) < 0 ||
	    req_int_query(r, "min_total_storage_gb", -1, 0, big, &f->min_total_storage_gb, err) <
		0 ||
	    req_int_query(r, "min_bandwidth_mbps", -1, 0, big, &f->min_bandwidth_mbps, err) < 0 ||
	    number_query(r, "min_traffic_tb", &f->min_traffic_tb, err) < 0 ||
	    number_query(r, "max_price_per_day", &f->max_price_per_day, err) < 0 ||
	    req_bool_query(r, "unlimited_traffic_only", false, &unlimited_only, err) < 0 ||
	    req_bool_query(r, "featured_only", false, &f->featured_only, err) < 0)
		return -1;
	return 0;
}

static void available(struct req *r, struct resp *out)
{
	struct error err = {0};
	struct server_filter f = {0};
	json_t *arr = NULL;
	int rc = parse_filter(r, &f, &err);
	if (rc == 0)
		rc = servers_available_json(r->pf, &r->who, &f, &arr, &err);
	resp_result(out, rc, &err, 200, "Available servers retrieved successfully", arr);
}

/* Maintenance commands run by the platform operator on rented machines; a
 * self-hosted server has none to offer. */
static void available_commands(struct req *r, struct resp *out)
{
	struct error err = {0};
	int rc = servers_require(r->pf, r->params[0], &err);
	resp_result(out, rc, &err, 200, "Available commands retrieved successfully",
		    rc < 0 ? NULL : json_array());
}

void api_register_servers(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/servers", servers_list, 0, PERM_ANY);
	api_route(srv, "GET", "/api/v1/servers/available", available, 0, PERM_ANY);
	api_route(srv, "GET", "/api/v1/servers/{id}", servers_get, 0, PERM_ANY);
	api_route(srv, "GET", "/api/v1/servers/{id}/available-commands", available_commands, 0,
		  PERM_ANY);
	api_route(srv, "GET", "/api/v1/rentals", rentals_list, 0, PERM_ANY);
	api_route(srv, "GET", "/api/v1/rentals/{id}", rentals_get, 0, PERM_ANY);
}
