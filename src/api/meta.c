/* Meta routes and container claims: the public signing keys
 * (GET /meta/public-key) and POST /containers/{id}/authorize, whose response
 * is signed (X-Hoody-Signature). See docs/CLAIMS.md. */
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "common/util.h"
#include "platform/claims.h"

static void public_key(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	if (claims_public_doc(r->pf, &data, &err) < 0) {
		resp_err(out, &err, NULL);
		return;
	}
	resp_ok(out, 200, "Public key retrieved successfully", data);
}

/* Serialises the envelope here, so that the signed bytes are the bytes sent. */
static void sign_response(struct req *r, struct resp *out)
{
	struct error err = {0};
	char *header = NULL;
	char *body = json_dumps(out->json, JSON_COMPACT);
	if (!body || claims_sign_response(r->pf, r->path, body, strlen(body), &header, &err) < 0) {
		if (!body)
			err_set(&err, E_INTERNAL, "response is not serialisable");
		free(body);
		json_decref(out->json);
		out->json = NULL;
		resp_err(out, &err, NULL);
		return;
	}
	json_decref(out->json);
	out->json = NULL;
	out->content_type = "application/json";
	out->raw = body;
	out->raw_len = strlen(body);
	out->header_name = xstrdup(SIGNATURE_HEADER);
	out->header_value = header;
}

/* The request body, if any, is ignored: the claim depends only on the
 * caller and the container. */
static void authorize(struct req *r, struct resp *out)
{
	struct error err = {0};
	const char *id;
	json_t *data = NULL;
	if (req_id_param(r, 0, &id, &err) < 0 ||
	    claims_container_issue(r->pf, &r->who, id, &data, &err) < 0) {
		resp_err(out, &err, NULL);
		return;
	}
	resp_ok(out, 200, "Container authorization claim issued", data);
	sign_response(r, out);
}

void api_register_meta(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/meta/public-key", public_key, ROUTE_PUBLIC, NULL);
	api_route(srv, "POST", "/api/v1/containers/{id}/authorize", authorize, 0, "containers.read");
}
