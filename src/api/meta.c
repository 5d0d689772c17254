/* Meta routes and container claims: the public signing keys
 * (GET /meta/public-key) and POST /containers/{id}/authorize, whose response
 * is signed (X-Hoody-Signature, added by server.c). See docs/CLAIMS.md. */
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
	/* signed by the server like every container route */
	resp_ok(out, 200, "Container authorization claim issued", data);
}

void api_register_meta(struct api_server *srv)
{
	api_route(srv, "GET", "/api/v1/meta/public-key", public_key, ROUTE_PUBLIC, NULL);
	api_route(srv, "POST", "/api/v1/containers/{id}/authorize", authorize, 0,
		  "containers.read");
}
