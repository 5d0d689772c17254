/* The container object of the API (reference §3): exact field names and
 * types, the Hoody Kit service URLs and the server summary. Pure functions of
 * the records handed in. */
#ifndef HOODY_PLATFORM_RENDER_H
#define HOODY_PLATFORM_RENDER_H

#include <jansson.h>
#include <stdbool.h>

#include "platform/platform.h"

/* What a container object needs beyond its own row; built once per request
 * and shared by every container of a list. */
struct render_ctx {
	const struct platform *pf;
	const char *project_alias; /* NULL renders as null */
	const char *server_name;   /* NULL: server fields are null */
	json_t *server;		   /* borrowed: server_summary_json_new() or NULL */
	bool proxy_domains;	   /* include_proxy_domains=true */
};

/* The full container object. */
/* The container's env_sync object {pending, revision, applied_revision,
 * verified_at, attempted_at, last_error, exhausted}. */
json_t *render_env_sync_new(const struct container *c);
json_t *render_container_new(const struct render_ctx *ctx, const struct container *c);

/* {service: url} for the Hoody Kit services of c ({} without hoody_kit):
 * https://{project}-{container}-{segment}.{server}.containers.{domain}, the
 * segment from the slug catalog (terminal-1, n-1, ssh, proxy, ...). */
json_t *render_urls_new(const struct platform *pf, const struct container *c,
			const char *server_name);

#endif
