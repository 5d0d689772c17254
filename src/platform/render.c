/* The container object (see render.h). */
#include "platform/platform_int.h"
#include "platform/render.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "platform/container_rules.h"
#include "platform/fields.h"
#include "platform/limits.h"
#include "platform/proxy.h"
#include "platform/servers.h"
#include "platform/validate.h"

/* The Hoody Kit services every kit container exposes ({key, hostname
 * segment}), then the dev_kit ones: 18 with dev_kit (the seeds). Segments
 * are the slug catalog of kit-api.md §1.3: instance 1, "n" for
 * notifications (its long name would not fit one DNS label), ssh and proxy
 * without an index. */
struct kit_url {
	const char *key, *segment;
};
static const struct kit_url kit_services[] = {{"terminal", "terminal-1"},
					      {"display", "display-1"},
					      {"files", "files-1"},
					      {"exec", "exec-1"},
					      {"sqlite", "sqlite-1"},
					      {"cron", "cron-1"},
					      {"pipe", "pipe-1"},
					      {"notifications", "n-1"},
					      {"curl", "curl-1"},
					      {"browser", "browser-1"},
					      {"code", "code-1"},
					      {"daemon", "daemon-1"},
					      {"tunnel", "tunnel-1"},
					      {"workspaces", "workspaces-1"},
					      {"ssh", "ssh"},
					      {"proxy", "proxy"},
					      {NULL, NULL}};
static const struct kit_url dev_kit_services[] = {
    {"agent", "agent-1"}, {"logs", "logs-1"}, {NULL, NULL}};

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static void add_urls(json_t *urls, const struct platform *pf, const struct container *c,
		     const struct kit_url *services, const char *server_name)
{
	for (size_t i = 0; services[i].key; i++) {
		_cleanup_free_ char *host = proxy_service_host_new(
		    pf, c->project_id, c->id, services[i].segment, server_name);
		json_object_set_new(urls, services[i].key, json_sprintf("https://%s", host));
	}
}

json_t *render_urls_new(const struct platform *pf, const struct container *c,
			const char *server_name)
{
	json_t *urls = json_object();
	if (!c->hoody_kit || !server_name)
		return urls;
	add_urls(urls, pf, c, kit_services, server_name);
	if (c->dev_kit)
		add_urls(urls, pf, c, dev_kit_services, server_name);
	return urls;
}

/* The name to give `ssh -p <ssh port> <container-id>@...` once the wildcard
 * DNS points at this server (docs/SSH.md): SSH carries no host name, the key
 * and the login name select the container, so the name only has to reach
 * the server; it is the reference's shape and the proxy's `ssh` name. */
static json_t *ssh_hostname(const struct platform *pf, const struct container *c,
			    const char *server_name)
{
	if (!server_name)
		return json_null();
	_cleanup_free_ char *host =
	    proxy_service_host_new(pf, c->project_id, c->id, "ssh", server_name);
	return json_string(host);
}

static json_t *fingerprint(const char *key)
{
	char fp[SSH_FINGERPRINT_LEN];
	return key && crules_ssh_fingerprint(key, fp) ? json_string(fp) : json_null();
}

static json_t *env_object(const char *text)
{
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;
	if (json_is_object(v))
		return v;
	json_decref(v);
	return json_object();
}

static bool env_pending(const struct container *c)
{
	return c->env_revision != c->env_applied_revision;
}

json_t *render_env_sync_new(const struct container *c)
{
	return json_pack("{s:b, s:I, s:I, s:n, s:n, s:n, s:b}", "pending", env_pending(c),
			 "revision", (json_int_t)c->env_revision, "applied_revision",
			 (json_int_t)c->env_applied_revision, "verified_at", "attempted_at",
			 "last_error", "exhausted", 0);
}

static json_t *warning(const char *type, const char *message)
{
	return json_pack("{s:s, s:s, s:n}", "type", type, "message", message, "expired_at");
}

static json_t *warnings(const struct container *c)
{
	json_t *w = json_array();
	if (c->status == CS_FAILED)
		json_array_append_new(w, warning("failed", c->failure_reason
							       ? c->failure_reason
							       : "The container failed"));
	if (env_pending(c))
		json_array_append_new(
		    w, warning("env_sync_pending",
			       "Environment changes are saved and apply at the next start"));
	return w;
}

/* Identity, placement and configuration. */
static json_t *base_fields(const struct render_ctx *ctx, const struct container *c)
{
	const char *srv = ctx->server_name;
	return json_pack(
	    "{s:s, s:s?, s:o, s:s?, s:o, s:o, s:O, s:o, s:s, s:s, s:s, s:b, s:b, s:b, s:b, "
	    "s:b, s:s, s:b, s:b, s:b, s:s}",
	    "id", c->id, "project_id", c->project_id[0] ? c->project_id : NULL, "project_alias",
	    str_or_null(ctx->project_alias), "server_id", c->server_id[0] ? c->server_id : NULL,
	    "server_name", str_or_null(srv), "subserver_name", json_string(srv ? srv : ""),
	    "server", ctx->server ? ctx->server : json_null(), "ssh_hostname",
	    ssh_hostname(ctx->pf, c, srv), "name", c->name, "color", c->color ? c->color : "",
	    "container_image", c->container_image ? c->container_image : "", "ai", c->ai,
	    "hoody_kit", c->hoody_kit, "dev_kit", c->dev_kit, "kvm", 0, "autostart", c->autostart,
	    "ramdisk_scope", limits_ramdisk_shared(ctx->pf, c->id) ? "project" : "container",
	    "ramdisk", c->ramdisk, "prespawn", c->prespawn, "is_default", 0, "status",
	    container_status_name(c->status));
}

/* State, content and the features this server does not offer yet. */
static void add_details(json_t *o, const struct render_ctx *ctx, const struct container *c)
{
	json_t *more = json_pack(
	    "{s:o, s:o, s:{}, s:o, s:o, s:o, s:o, s:b, s:o, s:n, s:o, s:o, s:o, s:i, s:n, s:o, "
	    "s:n, s:b, s:s, s:b, s:i, s:o, s:o}",
	    "environment_vars", env_object(c->environment_vars), "env_sync", render_env_sync_new(c),
	    "volumes", "ssh_public_key", str_or_null(c->ssh_public_key), "ssh_key_fingerprint",
	    fingerprint(c->ssh_public_key), "comment", str_or_null(c->comment),
	    "source_container_id", str_or_null(c->source_container_id), "server_expired",
	    c->server_expired, "server_expired_at", json_time_new(c->server_expired_at),
	    "server_expired_reason", "created_at", json_time_new(c->created_at), "updated_at",
	    json_time_new(c->updated_at), "realm_ids", realm_ids_parse(c->realm_ids),
	    "snapshot_count", 0, "last_used_snapshot", "warnings", warnings(c), "pool_id",
	    "has_proxy_permissions", 0, "proxy_permissions_scope", "none", "has_proxy_domains", 0,
	    "proxy_domains_count", 0, "failure_reason", str_or_null(c->failure_reason), "urls",
	    render_urls_new(ctx->pf, c, ctx->server_name));
	if (!more)
		log_error("container %s: a stored field is not valid UTF-8", c->id);
	json_object_update(o, more);
	json_decref(more);
	if (ctx->proxy_domains)
		json_object_set_new(o, "proxy_domains", json_array());
	json_object_set_new(o, "limits", limits_container_json_new(ctx->pf, c));
}

json_t *render_container_new(const struct render_ctx *ctx, const struct container *c)
{
	json_t *o = base_fields(ctx, c);
	/* Only a string that is not UTF-8 (a row edited outside hoodyd) gets
	 * here: show what is safe rather than fail the whole list. */
	if (!o) {
		log_error("container %s: a stored field is not valid UTF-8", c->id);
		o = json_pack("{s:s, s:s}", "id", c->id, "status", "unknown");
	}
	add_details(o, ctx, c);
	return o;
}

/* ------------------------------------------------------------ per-request cache */

/* Project aliases and server objects, fetched once per request. */
struct render_named {
	char id[ID_LEN + 1];
	char *name;
	json_t *json;
};

static struct render_named *cache_find(struct render_named *v, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].id, id) == 0)
			return &v[i];
	return NULL;
}

static struct render_named *cache_add(struct render_named **v, size_t *n, const char *id)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	struct render_named *e = &(*v)[(*n)++];
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	return e;
}

static const char *project_alias(struct render_cache *rc, const char *project_id)
{
	if (!project_id[0])
		return NULL;
	struct render_named *e = cache_find(rc->projects, rc->nprojects, project_id);
	if (!e) {
		_cleanup_project_ struct project p = {0};
		struct error err = {0};
		e = cache_add(&rc->projects, &rc->nprojects, project_id);
		if (store_project_get_owned(rc->pf->store, rc->user_id, project_id, &p, &err) ==
			0 &&
		    p.alias)
			e->name = xstrdup(p.alias);
	}
	return e->name;
}

static struct render_named *server_entry(struct render_cache *rc, const char *server_id)
{
	if (!server_id[0])
		return NULL;
	struct render_named *e = cache_find(rc->servers, rc->nservers, server_id);
	if (!e) {
		struct server s = {0};
		struct error err = {0};
		e = cache_add(&rc->servers, &rc->nservers, server_id);
		if (store_server_get(rc->pf->store, server_id, &s, &err) == 0) {
			e->name = s.name ? xstrdup(s.name) : NULL;
			e->json = server_summary_json_new(rc->pf, server_id);
		}
		server_clear(&s);
	}
	return e;
}

static void named_free(struct render_named *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		json_decref(v[i].json);
	}
	free(v);
}

void render_cache_clear(struct render_cache *rc)
{
	named_free(rc->projects, rc->nprojects);
	named_free(rc->servers, rc->nservers);
	memset(rc, 0, sizeof(*rc));
}

/* The proxy fields are true to the documents and aliases (platform/proxy_docs.c). */
static void add_proxy_fields(struct platform *pf, json_t *o, const struct container *c,
			     bool domains, bool permissions)
{
	struct proxy_summary ps;
	proxy_summary_of(pf, c->id, c->project_id, &ps);
	json_object_set_new(o, "has_proxy_permissions",
			    json_boolean(strcmp(ps.scope, "none") != 0));
	json_object_set_new(o, "proxy_permissions_scope", json_string(ps.scope));
	json_object_set_new(o, "has_proxy_domains", json_boolean(ps.aliases > 0));
	json_object_set_new(o, "proxy_domains_count", json_integer((json_int_t)ps.aliases));
	if (domains)
		json_object_set_new(o, "proxy_domains", proxy_domains_new(pf, c->id));
	if (permissions) {
		json_object_set_new(
		    o, "proxy_permissions",
		    proxy_doc_json_new(pf, PROXY_SCOPE_CONTAINER, c->id, c->project_id));
		json_object_set_new(
		    o, "project_proxy_permissions",
		    proxy_doc_json_new(pf, PROXY_SCOPE_PROJECT, c->project_id, c->project_id));
	}
}

json_t *render_cached(struct render_cache *rc, const struct container *c, bool proxy_domains,
		      bool proxy_permissions)
{
	struct render_named *srv = server_entry(rc, c->server_id);
	struct render_ctx ctx = {
	    .pf = rc->pf,
	    .project_alias = project_alias(rc, c->project_id),
	    .server_name = srv ? srv->name : NULL,
	    .server = srv ? srv->json : NULL,
	    .proxy_domains = proxy_domains,
	};
	json_t *o = render_container_new(&ctx, c);
	int64_t snaps = 0;
	char *last = NULL;
	struct error err = {0};
	if (store_snapshot_summary(rc->pf->store, c->id, &snaps, &last, &err) == 0) {
		json_object_set_new(o, "snapshot_count", json_integer(snaps));
		json_object_set_new(o, "last_used_snapshot",
				    last ? json_string(last) : json_null());
	}
	free(last);
	add_proxy_fields(rc->pf, o, c, proxy_domains, proxy_permissions);
	return o;
}

json_t *render_one_new(struct platform *pf, const char *user_id, const struct container *c)
{
	struct render_cache rc = {.pf = pf, .user_id = user_id};
	json_t *o = render_cached(&rc, c, false, false);
	render_cache_clear(&rc);
	return o;
}
