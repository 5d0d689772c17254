/* The platform side of the hostname proxy (kit-api.md §1–3): which container
 * and service a Host names, whether a request may reach it, and the proxy
 * documents and aliases behind both. The network edge (src/proxy/) asks
 * these functions for every decision and keeps no policy of its own.
 * Contract with the edge: /work/coord/PROXY_CONTRACT.md, docs/PROXY.md. */
#ifndef HOODY_PLATFORM_PROXY_H
#define HOODY_PLATFORM_PROXY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/ids.h"
#include "platform/platform.h"

enum proxy_kind { PROXY_API, PROXY_KIT, PROXY_HTTP_PORT, PROXY_HTTPS_PORT, PROXY_SSH, PROXY_PROXY };

#define PROXY_SLUG_MAX 32
#define PROXY_HOST_MAX 253 /* DNS name limit; longer Hosts are not ours */
#define PROXY_TARGET_PATH_MAX 512
#define PROXY_DNS_MAX 160

struct proxy_route {
	enum proxy_kind kind;
	char container_id[ID_LEN + 1]; /* "" for PROXY_API */
	char project_id[ID_LEN + 1];   /* "" for PROXY_API */
	char realm_id[ID_LEN + 1];     /* {realm}.api.{domain}, PROXY_API only */
	char slug[PROXY_SLUG_MAX]; /* kit service slug, PROXY_KIT ("terminal", "files", "n", ...) */
	int index;		   /* kit instance n, PROXY_KIT (terminal allows 0); §1.4 */
	int port;		   /* backend port for HTTP/HTTPS_PORT */
	char netns_path[256];	   /* container's network namespace file (host path) */
	char backend_ip[64];	   /* container's address on its bridge (fallback) */
	/* PROXY_PROXY: the container's resolvers, "a,b" ("" when none); up
	 * to 3 (what resolv.conf honours) IPv6 addresses of 45 bytes fit */
	char dns[PROXY_DNS_MAX];
	bool ipv6;	      /* PROXY_PROXY: the container has IPv6 */
	char kit_socket[256]; /* host path of the Kit agent's Unix socket ("" until the Kit exists)
			       */
	char alias_id[ID_LEN + 1];		 /* non-empty when reached through an alias */
	char target_path[PROXY_TARGET_PATH_MAX]; /* alias target path prefix ("" = none) */
	bool allow_path_override;
	int64_t alias_expires_ms; /* an alias route: when the alias expires (0 = never) */
};

/* What the edge knows about the request; the callbacks return NULL when absent. */
struct proxy_request_view {
	const char *client_ip;
	const char *method;
	const char *path;				    /* raw path+query as received */
	bool websocket;					    /* an Upgrade: websocket request */
	const char *(*header)(void *ctx, const char *name); /* case-insensitive */
	const char *(*cookie)(void *ctx, const char *name);
	const char *(*query)(void *ctx, const char *name); /* decoded value, first occurrence */
	void *ctx;
	/* Optional (NULL: not asked): lowered to the unix time at which a fact
	 * a pass relied on expires (a claim's or a JWT's exp), so a tunnel is
	 * decided again then. */
	int64_t *valid_until;
};

/* Host header (a :port suffix and a trailing dot are ignored, case too) ->
 * route. E_NOT_FOUND when the name is not ours, names no live container or
 * alias (disabled, expired, its container gone), or the Kit is disabled for
 * that container. Reads the store: a new container or alias takes effect at
 * the next request. */
int proxy_route_resolve(struct platform *pf, const char *host, struct proxy_route *out,
			struct error *err);

/* 0 = pass. Else -1 with E_MISSING_TOKEN or E_INVALID_TOKEN (401: no or
 * invalid credentials), E_FORBIDDEN (403: authenticated but not allowed, or
 * enable_proxy false), E_NOT_FOUND (404). PROXY_API routes always pass (the
 * API authenticates itself). The edge maps the code with
 * proxy_error_status() to the JSON envelope of kit-api.md 2.4; for
 * WebSocket upgrades it answers 401/403 before the upgrade. */
int proxy_access_check(struct platform *pf, const struct proxy_route *r,
		       const struct proxy_request_view *rq, struct error *err);

/* 401, 403, 404 or 500 for a failure of the two calls above. */
int proxy_error_status(const struct error *err);

/* §1.4: the query parameter that carries the Kit instance for r's slug
 * ("terminal_id", "displayId", "browser_id", "id") or NULL. */
const char *proxy_index_param(const struct proxy_route *r);
/* The instance the request reaches: that query value when present and a
 * number (>= 0), else the hostname index. When the query lacks it the edge
 * appends <param>=<index> before forwarding. Access is decided on this
 * value, so terminal-2?terminal_id=1 needs the rights of terminal 1. */
int proxy_effective_index(const struct proxy_route *r, const struct proxy_request_view *rq);

/* The path to forward for an alias route: target_path + path, or exactly
 * target_path when allow_path_override is false; the query of path is kept.
 * Without an alias, path itself. -1 when out is too small. */
int proxy_forward_path(const struct proxy_route *r, const char *path, char *out, size_t outlen);

/* ---- management API (kit-api.md §3.2-3.4) ----
 * One document per container and per project, one version counter each
 * (settings, hooks and discovery views return the same file_version).
 * Reads need containers.read / projects.read, writes containers.update /
 * projects.update, and both resources.proxy_aliases (the documents hold
 * credentials). Another user's container or project is a 404. */
enum proxy_scope { PROXY_SCOPE_CONTAINER, PROXY_SCOPE_PROJECT };

enum proxy_doc_op {
	PDOC_REPLACE,	    /* PUT|PATCH /proxy/permissions: whole document */
	PDOC_DELETE,	    /* DELETE /proxy/permissions */
	PDOC_DEFAULT,	    /* PATCH .../default {default} */
	PDOC_STATE,	    /* PATCH .../state {enable_proxy} */
	PDOC_SETTINGS,	    /* PUT /proxy/settings {enable_proxy?, default?} */
	PDOC_GROUP_DELETE,  /* DELETE .../groups/{g} */
	PDOC_GROUP_SET,	    /* PUT|PATCH .../groups/{g}/{type} */
	PDOC_RULES_SET,	    /* PUT|PATCH .../permissions/{g} {program, access} */
	PDOC_RULES_DELETE,  /* DELETE .../permissions/{g} */
	PDOC_RULE_DELETE,   /* DELETE .../permissions/{g}/{program} */
	PDOC_HOOK_ADD,	    /* POST /proxy/hooks/{service} */
	PDOC_HOOKS_CLEAR,   /* DELETE /proxy/hooks/{service} */
	PDOC_HOOK_PUT,	    /* PUT /proxy/hooks/{service}/{hookId} */
	PDOC_HOOK_DELETE,   /* DELETE /proxy/hooks/{service}/{hookId} */
	PDOC_HOOK_POSITION, /* PATCH /proxy/hooks/{service}/{hookId}/position {position} */
};

struct proxy_doc_write {
	enum proxy_scope scope;
	const char *id; /* the container's or project's id (path) */
	enum proxy_doc_op op;
	const char *if_match; /* raw If-Match header; NULL = absent (E_PRECONDITION_REQUIRED) */
	const char *group, *group_type, *program, *service, *hook_id; /* path parts */
	const json_t *body;
};
/* Applies one change under If-Match "file:v<N>" (stale: E_PRECONDITION_FAILED)
 * and returns the response data, which always holds file_version and etag. */
int proxy_doc_write(struct platform *pf, const struct principal *who,
		    const struct proxy_doc_write *w, json_t **data_new, struct error *err);

enum proxy_doc_view {
	PVIEW_DOCUMENT,
	PVIEW_SETTINGS,
	PVIEW_HOOKS,
	PVIEW_SERVICE_HOOKS,
	PVIEW_HOOK,
	PVIEW_GROUPS,
	PVIEW_SERVICES,
	PVIEW_SERVICE,
};
struct proxy_doc_read {
	enum proxy_scope scope;
	const char *id;
	enum proxy_doc_view view;
	const char *service, *hook_id;
};
int proxy_doc_read(struct platform *pf, const struct principal *who, const struct proxy_doc_read *r,
		   json_t **data_new, struct error *err);

/* What the container object shows of the proxy (render.c). */
struct proxy_summary {
	const char *scope; /* "none" | "container" | "project" | "both" */
	int64_t aliases;   /* proxy_domains_count */
};
void proxy_summary_of(struct platform *pf, const char *container_id, const char *project_id,
		      struct proxy_summary *out);
/* proxy_domains: the container's aliases as {id, alias, program, index, ...}. */
json_t *proxy_domains_new(struct platform *pf, const char *container_id);
/* The stored documents for include_proxy_permissions (json null when none). */
json_t *proxy_doc_json_new(struct platform *pf, enum proxy_scope scope, const char *id,
			   const char *project_id);

/* ---- aliases (kit-api.md §3.1) ---- */
struct proxy_alias_filter {
	const char *project_id, *container_id, *realm_id;
	int enabled, expired; /* -1 = any */
};
int proxy_aliases_list(struct platform *pf, const struct principal *who,
		       const struct proxy_alias_filter *f, json_t **data_new, struct error *err);
int proxy_aliases_create(struct platform *pf, const struct principal *who, const json_t *body,
			 json_t **data_new, struct error *err);
int proxy_aliases_get(struct platform *pf, const struct principal *who, const char *id,
		      json_t **data_new, struct error *err);
int proxy_aliases_update(struct platform *pf, const struct principal *who, const char *id,
			 const json_t *body, json_t **data_new, struct error *err);
/* {enabled: bool} */
int proxy_aliases_state(struct platform *pf, const struct principal *who, const char *id,
			const json_t *body, json_t **data_new, struct error *err);
int proxy_aliases_delete(struct platform *pf, const struct principal *who, const char *id,
			 struct error *err);

/* ---- the decision of a request, memoized per client connection ----
 * proxy_request_decide = proxy_route_resolve + proxy_access_check, with a
 * memo the edge keeps per keep-alive connection (and passes with each of its
 * requests). It answers from the memo only while nothing the decision
 * depends on can have changed: the same Host, client address, method and
 * WebSocket flag; the same values of every header, cookie and query
 * parameter the decision read through the view's callbacks (compared by
 * keyed hash); no commit since (store_write_generation); and at most
 * PROXY_MEMO_TTL_MS old, for facts that change with time alone (claim,
 * token and alias expiry). Only passes are memoized; a refusal is decided
 * afresh next time. Decisions must therefore read requests only through
 * the callbacks (rq->path is not part of the key). */
#define PROXY_MEMO_READS 12
#define PROXY_MEMO_TTL_MS 1000

struct proxy_memo_read {
	uint8_t kind; /* header, cookie, query */
	bool present;
	char name[48];
	uint64_t value; /* keyed hash */
};

struct proxy_memo {
	bool valid;
	uint64_t generation;
	int64_t at_ms; /* monotonic */
	uint64_t key;  /* host, client address, method, websocket */
	unsigned nreads;
	struct proxy_memo_read reads[PROXY_MEMO_READS];
	struct proxy_route route;
};

int proxy_request_decide(struct platform *pf, const char *host, const struct proxy_request_view *rq,
			 struct proxy_memo *memo, struct proxy_route *out, struct error *err);

/* ---- tunnels: deciding again after access changes ----
 * A WebSocket or CONNECT tunnel makes no more requests once it is open, so
 * the edge keeps, per tunnel, the grant that admitted it and asks again
 * when access may have been withdrawn (docs/PROXY.md "What closes a
 * tunnel"). A grant holds the Host, the client address, the method, the
 * route reached and the values of exactly the headers, cookies and query
 * parameters the decision read: the same inputs, replayed. */
struct proxy_grant;

/* proxy_request_decide for a request that becomes a tunnel if it passes (a
 * WebSocket upgrade, CONNECT): not memoized, and on a pass *grant_new
 * holds what admitted it (free with proxy_grant_free). */
int proxy_tunnel_decide(struct platform *pf, const char *host, const struct proxy_request_view *rq,
			struct proxy_route *out, struct proxy_grant **grant_new, struct error *err);
void proxy_grant_free(struct proxy_grant *g);

/* The number of the last access change: an atomic read, cheap enough to
 * poll on every turn of an event loop. */
uint64_t proxy_access_seq(struct platform *pf);

/* The changes after a number the edge last saw, and what they mean for
 * each of its tunnels. */
struct proxy_changes;
struct proxy_changes *proxy_changes_new(struct platform *pf, uint64_t since, uint64_t *seq_out);
void proxy_changes_free(struct proxy_changes *chs);
enum proxy_touch {
	PROXY_UNTOUCHED,
	PROXY_RECHECK, /* decide again (proxy_grant_allows) */
	PROXY_CLOSE,   /* close now: its container stopped or went */
};
enum proxy_touch proxy_changes_touch(const struct proxy_changes *chs, const struct proxy_grant *g);
/* Whether a fact the grant relied on has expired since (a claim's exp, an
 * alias's expires_at), or a failed recheck is due again. */
bool proxy_grant_due(const struct proxy_grant *g);
/* Decides again with the grant's inputs: false when the request would now
 * be refused (401/403/404) or reach another place (a retargeted alias).
 * A decision that fails for another reason (the store busy) keeps the
 * tunnel and makes the grant due again a second later. */
bool proxy_grant_allows(struct platform *pf, struct proxy_grant *g);

/* ---- pure parts, exposed for tests ---- */

/* The kit slugs of §1.3 that may appear in a hostname, NULL-terminated. */
extern const char *const proxy_kit_slugs[];

struct proxy_host {
	enum proxy_kind kind;
	bool alias;	/* {alias}.{server}.containers.{domain} */
	char label[64]; /* the alias name when alias */
	char project_id[ID_LEN + 1], container_id[ID_LEN + 1];
	char realm_id[ID_LEN + 1];
	char server[64];
	char slug[PROXY_SLUG_MAX];
	int index, port;
};
/* Parses host against domain (the --domain value, e.g. "hoody.local"):
 * api.{domain}, {realm}.api.{domain}, {p}-{c}-{segment}.{server}.containers.{domain},
 * {alias}.{server}.containers.{domain}. E_NOT_FOUND for anything else. */
int proxy_host_parse(const char *host, const char *domain, struct proxy_host *out,
		     struct error *err);

/* The hostname of a container service (no scheme): segment is "terminal-1",
 * "ssh", "http-8080", ... Caller frees. */
char *proxy_service_host_new(const struct platform *pf, const char *project_id,
			     const char *container_id, const char *segment,
			     const char *server_name);

#endif
