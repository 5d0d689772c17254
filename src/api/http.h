/* The HTTP edge: libmicrohttpd server, router, request context and the
 * Hoody JSON envelopes. Resource files (containers.c, projects.c, ...)
 * register routes and turn platform results into responses; the edges (this
 * one, the proxy, SSH) alone know HTTP statuses (common/envelope.h). */
#ifndef HOODY_API_HTTP_H
#define HOODY_API_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "platform/platform.h"

struct api_server;

/* Every field is set: the defaults live in hoodyd's config rows
 * (src/daemon/config.c), not here. */
struct api_config {
	const char *listen;	 /* ADDR:PORT */
	size_t max_body;	 /* bytes */
	int threads;		 /* MHD thread pool size; 0 = one per CPU */
	unsigned conn_timeout_s; /* a silent connection is closed after this */
	const char *api_domain;	 /* realm hosts look like {realm}.api.<domain> */
	int workers;		 /* threads running deferred requests */
};

struct req {
	struct api_server *srv;
	struct platform *pf;
	const char *method;  /* "GET", ... */
	const char *path;    /* without query */
	const char *pattern; /* the matched route's pattern (static) */
	const char *host;    /* Host header or "" */
	const char *client_ip;
	/* path parameters captured by the route pattern, in order ("{id}", "{name}") */
	const char *params[4];
	size_t nparams;
	json_t *body;	      /* parsed JSON body or NULL when empty */
	struct principal who; /* filled when the route requires auth */
	void *conn;	      /* struct MHD_Connection * */
	int64_t start_ns;
};

/* What a handler returns: a status and a JSON document (owned). */
struct resp {
	int status;
	json_t *json;
	const char *content_type; /* NULL = application/json */
	char *raw;		  /* non-JSON body (malloc'ed), when json is NULL */
	size_t raw_len;
	/* extra header (e.g. X-Hoody-Signature), may be NULL */
	char *header_name, *header_value;
	/* A streamed body of unknown length (server-sent events), read with
	 * libmicrohttpd's content-reader contract; stream_free releases
	 * stream_cls when the response is done. Set by api/events.c. */
	ssize_t (*stream_read)(void *cls, uint64_t pos, char *buf, size_t max);
	void *stream_cls;
	void (*stream_free)(void *cls);
	/* A 101 answer whose socket api/socketio.c takes over (a WebSocket). */
	void *upgrade_cls;
};

typedef void (*route_fn)(struct req *r, struct resp *out);

enum route_flags {
	ROUTE_PUBLIC = 1,   /* no authentication */
	ROUTE_JWT_ONLY = 2, /* hdy_ tokens refused (admin endpoints) */
	ROUTE_ADMIN = 4,    /* principal must be admin (and hold an admin.* leaf) */
	ROUTE_WRITE = 8,    /* a read-only credential is refused (principal_can_write) */
	/* Slow work (it waits for the host): the {id} parameter, which such a
	 * route must have first, is checked at once (400), then the handler runs
	 * on a worker of the HTTP queue with the connection suspended, in the
	 * lane of its owner (req_defer). */
	ROUTE_DEFER = 16,
};

/* The leaf of a route that any authenticated credential may call (a token
 * describing itself, the shared image and server catalogues). Spelled out
 * at each such route, so that no route gets it by omission. */
#define PERM_ANY "*"

/* Pattern like "/api/v1/containers/{id}/snapshots/{name}"; a trailing slash
 * in the request is tolerated. leaf is the permission leaf
 * ("containers.read", ...) the router checks before fn runs: NULL only for
 * ROUTE_PUBLIC, PERM_ANY, or a leaf of the permission tree; ROUTE_ADMIN
 * routes name an "admin." leaf. Anything else stops hoodyd at start. */
void api_route(struct api_server *srv, const char *method, const char *pattern, route_fn fn,
	       int flags, const char *leaf);

/* Query string access (decoded). */
const char *req_query(struct req *r, const char *key);
const char *req_header(struct req *r, const char *name);

/* The realm of a "{realm}.api.<domain>" Host, or "" (E_VALIDATION when the
 * host has the suffix but no valid realm id). */
int req_host_realm(struct req *r, char out[ID_LEN + 1], struct error *err);

/* Envelopes. ok: {statusCode, message, data}; data is stolen (may be NULL). */
void resp_ok(struct resp *out, int status, const char *message, json_t *data_steal);
/* Error: {statusCode, error, message, code[, data]} with the HTTP status
 * mapped from err->code (common/envelope.h); data_steal may be NULL. */
void resp_err(struct resp *out, const struct error *err, json_t *data_steal);
/* The tail of most handlers: resp_err(err) when rc < 0 (data_steal is then
 * released), else resp_ok(status, message, data_steal). */
void resp_result(struct resp *out, int rc, const struct error *err, int status, const char *message,
		 json_t *data_steal);

/* Validates a path id param (24 hex) -> E_INVALID_ID. */
int req_id_param(struct req *r, size_t idx, const char **out, struct error *err);

/* Pagination/sort parsing shared by lists: page>=1, 1<=limit<=max,
 * sort_by in allowed (NULL-terminated), sort_order asc|desc. */
int req_list_query(struct req *r, int64_t default_limit, int64_t max_limit,
		   const char *const *sort_allowed, const char *default_sort, struct list_query *q,
		   struct error *err);
/* A plain decimal query value in [min, max] (dflt when absent); else
 * E_VALIDATION naming key. */
int req_int_query(struct req *r, const char *key, int64_t dflt, int64_t min, int64_t max,
		  int64_t *out, struct error *err);
/* "true"/"false" query flags; anything else is E_VALIDATION. */
int req_bool_query(struct req *r, const char *key, bool dflt, bool *out, struct error *err);

/* Slow work that needs more than a ROUTE_DEFER route gives (an argument, or
 * a choice made from the query): the handler calls req_defer() and returns
 * without filling out; fn then runs on a worker of the HTTP work queue (not
 * the platform's container jobs) with the connection suspended, so HTTP
 * threads never wait on a slow operation. fn fills out; free_arg (may be
 * NULL) releases arg afterwards. */
typedef void (*deferred_fn)(struct req *r, struct resp *out, void *arg);
void req_defer(struct req *r, deferred_fn fn, void *arg, void (*free_arg)(void *));
/* The same for password hashing (argon2id, 64 MiB each): such jobs also obey
 * a global cap (WQ_PASSWORD_MAX at once), which bounds their memory. Deferred
 * jobs run on the work queue in the lane of their owner: the signed-in user,
 * else the client address (common/workq.h). */
void req_defer_password(struct req *r, deferred_fn fn, void *arg, void (*free_arg)(void *));

/* Every resource file provides one registration function, called at start. */
void api_register_auth(struct api_server *srv);
void api_register_tokens(struct api_server *srv);
void api_register_users(struct api_server *srv);
void api_register_projects(struct api_server *srv);
void api_register_servers(struct api_server *srv);
void api_register_images(struct api_server *srv);
void api_register_realms(struct api_server *srv);
void api_register_containers(struct api_server *srv);
void api_register_meta(struct api_server *srv);
void api_register_operations(struct api_server *srv);
void api_register_stats(struct api_server *srv);
void api_register_env(struct api_server *srv);
void api_register_snapshots(struct api_server *srv);
void api_register_events(struct api_server *srv);
void api_register_prespawn(struct api_server *srv);
void api_register_copy(struct api_server *srv);
void api_register_proxy(struct api_server *srv);
void api_register_limits(struct api_server *srv);

/* api/events.c: ends every live event stream (before the server stops). */
void api_streams_stop(void);

int api_server_start(const struct api_config *cfg, struct platform *pf, struct api_server **out_new,
		     struct error *err);
void api_server_stop(struct api_server *srv);

#endif
