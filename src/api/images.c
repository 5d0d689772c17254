/* Public images: /api/v1/images/public[/{id}], the images built or imported
 * on this host (platform/images.c), the user list and the icon. */
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "common/util.h"
#include "platform/images.h"
#include "platform/validate.h"

/* The filter value as given (empty = absent); its bound is the platform's. */
static const char *filter_param(struct req *r, const char *key)
{
	const char *v = req_query(r, key);
	return v && *v ? v : NULL;
}

static void list(struct req *r, struct resp *out)
{
	struct error err = {0};
	struct list_query q;
	json_t *data = NULL;
	if (req_list_query(r, 20, 100, image_sorts, "added_date", &q, &err) < 0) {
		resp_err(out, &err, NULL);
		return;
	}
	struct image_filter f = {.os = filter_param(r, "os"),
				 .search = filter_param(r, "search"),
				 .arch = filter_param(r, "architecture")};
	if (images_list(r->pf, &f, &q, &data, &err) < 0) {
		resp_err(out, &err, NULL);
		return;
	}
	resp_ok(out, 200, "Images retrieved successfully", data);
}

static void get(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	const char *id;
	if (req_id_param(r, 0, &id, &err) < 0 || images_get(r->pf, id, &data, &err) < 0) {
		resp_err(out, &err, NULL);
		return;
	}
	resp_ok(out, 200, "Image retrieved successfully", data);
}

/* Images a user imported through the API. Images here are built or
 * imported by the operator (hoodyd images), never by a user, so the honest
 * list is empty; the query is still checked like the public list's. */
static void list_user(struct req *r, struct resp *out)
{
	struct error err = {0};
	struct list_query q;
	if (req_list_query(r, 20, 100, image_sorts, "added_date", &q, &err) < 0) {
		resp_err(out, &err, NULL);
		return;
	}
	resp_ok(out, 200, "Images retrieved successfully",
		json_pack("{s:[], s:o}", "images", "pagination",
			  pagination_json_new(0, q.page, q.limit)));
}

/* Every image shows the same placeholder: a 1x1 transparent PNG (the public
 * API also falls back to a placeholder). Public, so an <img> tag can load it. */
static void icon(struct req *r, struct resp *out)
{
	static const unsigned char png[] = {
	    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
	    0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
	    0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0b, 0x49, 0x44, 0x41, 0x54, 0x78,
	    0x9c, 0x63, 0x60, 0x00, 0x02, 0x00, 0x00, 0x05, 0x00, 0x01, 0x7a, 0x5e, 0xab, 0x3f,
	    0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
	struct error err = {0};
	const char *id;
	if (req_id_param(r, 0, &id, &err) < 0) {
		resp_err(out, &err, NULL);
		return;
	}
	out->status = 200;
	out->content_type = "image/png";
	out->raw = xmalloc(sizeof(png));
	memcpy(out->raw, png, sizeof(png));
	out->raw_len = sizeof(png);
}

void api_register_images(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/images/user", list_user, 0, PERM_ANY);
	api_route(srv, "GET", "/api/v1/images/{id}/icon", icon, ROUTE_PUBLIC, NULL);
	api_route(srv, "GET", "/api/v1/images/public", list, 0, PERM_ANY);
	api_route(srv, "GET", "/api/v1/images/public/{id}", get, 0, PERM_ANY);
}
