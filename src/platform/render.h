/* The container object of the API (reference §3): exact field names and
 * types, the Hoody Kit service URLs and the server summary. The render_*
 * functions are pure functions of the records handed in; the render cache
 * fetches what a container object names beyond its row (project alias,
 * server, snapshot summary, proxy fields) once per request. */
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

/* Project aliases and server objects of one request, fetched once and shared
 * by every container of a list. Zero-initialise with pf and user_id set. */
struct render_named;
struct render_cache {
	struct platform *pf;
	const char *user_id;
	struct render_named *projects, *servers;
	size_t nprojects, nservers;
};
/* The full object of c with its snapshot summary and proxy fields (and, on
 * request, proxy_domains and the permission documents). */
json_t *render_cached(struct render_cache *rc, const struct container *c, bool proxy_domains,
		      bool proxy_permissions);
void render_cache_clear(struct render_cache *rc);
/* One container object for user_id, without the optional proxy lists. */
json_t *render_one_new(struct platform *pf, const char *user_id, const struct container *c);

#endif
