/* The libmicrohttpd server: a thread pool of epoll loops, request contexts,
 * bounded body reading, JSON parsing, the auth middleware, deferred requests
 * (suspend + work queue + resume) and one log line per request. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/conns.h"
#include "api/http.h"
#include "api/router.h"
#include "api/socketio.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/util.h"
#include "common/workq.h"
#include "platform/auth.h"
#include "platform/claims.h"

#define JSON_DEPTH_MAX 32
#define CONN_MEMORY_LIMIT (32 * 1024)
#define CONN_LIMIT 4096
#define STOP_GRACE_MS 60000

struct api_server {
	struct MHD_Daemon *mhd;
	struct platform *pf;
	struct router *router;
	/* Deferred requests, fair per owner (issue 16); the platform's container
	 * jobs run on a queue of their own, so neither waits behind the other. */
	struct workq *wq;
	size_t max_body;
	char realm_suffix[300]; /* ".api.<domain>" */
	int deferred;		/* deferred requests not yet completed (atomic) */
	bool stopping;
};

enum ctx_state { CTX_NEW, CTX_DEFERRED, CTX_READY };

struct req_ctx {
	struct req r;
	struct resp resp;
	enum ctx_state state;
	bool too_large;
	bool close_conn;
	bool defer_requested;
	bool defer_password;
	deferred_fn dfn;
	route_fn droute; /* a ROUTE_DEFER handler */
	void *darg;
	void (*dfree)(void *);
	char *body;
	size_t body_len, body_cap;
	char allow[64];
	char ip[INET6_ADDRSTRLEN];
	char method[8];
	char buf[]; /* path copy, then the router's split copy */
};

/* ------------------------------------------------------------ registration */

static bool leaf_known(const char *leaf)
{
	for (size_t i = 0; auth_permission_leaves[i]; i++)
		if (strcmp(auth_permission_leaves[i], leaf) == 0)
			return true;
	return false;
}

/* Whether a route's declared leaf fits its flags: a public route needs none,
 * every other route names one, and an admin route an admin one. */
static bool leaf_fits(int flags, const char *leaf)
{
	if (flags & ROUTE_PUBLIC)
		return leaf == NULL;
	if (!leaf)
		return false;
	if (flags & ROUTE_ADMIN)
		return strncmp(leaf, "admin.", 6) == 0 && leaf_known(leaf);
	return strcmp(leaf, PERM_ANY) == 0 || leaf_known(leaf);
}

void api_route(struct api_server *srv, const char *method, const char *pattern, route_fn fn,
	       int flags, const char *leaf)
{
	/* A bad route table is a programming error: refuse to start. */
	if (!leaf_fits(flags, leaf))
		HOODY_PANIC("route %s %s: bad permission leaf %s", method, pattern,
			    leaf ? leaf : "(none)");
	if ((flags & ROUTE_DEFER) && !strstr(pattern, "/{id}"))
		HOODY_PANIC("route %s %s: ROUTE_DEFER without an {id}", method, pattern);
	if (router_add(srv->router, method, pattern, fn, flags, leaf) < 0)
		HOODY_PANIC("route %s %s refused (router said why above)", method, pattern);
}

const char *req_query(struct req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *req_header(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void req_defer(struct req *r, deferred_fn fn, void *arg, void (*free_arg)(void *))
{
	struct req_ctx *c = (struct req_ctx *)r;
	c->defer_requested = true;
	c->dfn = fn;
	c->darg = arg;
	c->dfree = free_arg;
}

void req_defer_password(struct req *r, deferred_fn fn, void *arg, void (*free_arg)(void *))
{
	req_defer(r, fn, arg, free_arg);
	((struct req_ctx *)r)->defer_password = true;
}

/* ------------------------------------------------------------ responses */

static enum MHD_Result send_stream(struct req_ctx *c)
{
	struct resp *o = &c->resp;
	struct MHD_Response *mr = MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, 16 * 1024, o->stream_read, o->stream_cls, o->stream_free);
	o->stream_read = NULL; /* the response owns stream_cls now */
	if (!mr) {
		o->stream_free(o->stream_cls);
		return MHD_NO;
	}
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
				o->content_type ? o->content_type : "text/event-stream");
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	enum MHD_Result ret = MHD_queue_response(c->r.conn, (unsigned)o->status, mr);
	MHD_destroy_response(mr);
	return ret;
}

/* Answers that carry X-Hoody-Signature (docs/API.md): the container routes
 * (authorize included), the project's container list and create, and meta.
 * Not 401s: signing costs tens of microseconds, not to be spent on strangers. */
static bool signs(const struct req_ctx *c, int status)
{
	const char *p = c->r.path;
	static const char projects[] = "/api/v1/projects/";
	if (status == 401)
		return false;
	if (!strncmp(p, "/api/v1/containers", 18) && (!p[18] || p[18] == '/'))
		return true;
	if (!strncmp(p, "/api/v1/meta/", 13))
		return true;
	if (strncmp(p, projects, sizeof(projects) - 1))
		return false;
	const char *rest = strchr(p + sizeof(projects) - 1, '/');
	return rest && (!strcmp(rest, "/containers") || !strcmp(rest, "/containers/"));
}

/* Without a signing key the answer simply goes unsigned (authorize itself
 * answers 503 then). */
static void sign(struct req_ctx *c, int status, const char *body, size_t len,
		 struct MHD_Response *mr)
{
	struct error err = {0};
	char *header = NULL;
	if (!signs(c, status))
		return;
	struct signed_response sr = {.method = c->method,
				     .status = status,
				     .path = c->r.path,
				     .body = body,
				     .body_len = len};
	if (claims_sign_response(c->r.pf, &sr, &header, &err) < 0)
		return;
	MHD_add_response_header(mr, SIGNATURE_HEADER, header);
	free(header);
}

static enum MHD_Result send_upgrade(struct req_ctx *c)
{
	struct resp *o = &c->resp;
	struct MHD_Response *mr = MHD_create_response_for_upgrade(api_sio_upgraded, o->upgrade_cls);
	if (!mr)
		return MHD_NO;
	MHD_add_response_header(mr, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "Upgrade");
	MHD_add_response_header(mr, o->header_name, o->header_value);
	enum MHD_Result ret = MHD_queue_response(c->r.conn, MHD_HTTP_SWITCHING_PROTOCOLS, mr);
	MHD_destroy_response(mr);
	return ret;
}

static enum MHD_Result send_resp(struct req_ctx *c)
{
	struct resp *o = &c->resp;
	if (o->stream_read)
		return send_stream(c);
	if (o->upgrade_cls)
		return send_upgrade(c);
	char *body = NULL;
	size_t len = 0;
	if (o->json) {
		body = json_dumps(o->json, JSON_COMPACT);
		len = body ? strlen(body) : 0;
	} else if (o->raw) {
		body = o->raw;
		len = o->raw_len;
		o->raw = NULL;
	}
	if (!body || !o->status) {
		free(body);
		struct error err;
		err_set(&err, E_INTERNAL, "handler for %s %s produced no response", c->r.method,
			c->r.path);
		memset(o, 0, sizeof(*o));
		resp_err(o, &err, NULL);
		body = json_dumps(o->json, JSON_COMPACT);
		len = strlen(body);
	}
	struct MHD_Response *mr = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!mr) {
		free(body);
		return MHD_NO;
	}
	sign(c, o->status, body, len, mr);
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
				o->content_type ? o->content_type : "application/json");
	if (o->header_name && o->header_value)
		MHD_add_response_header(mr, o->header_name, o->header_value);
	if (c->allow[0])
		MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, c->allow);
	if (c->close_conn || __atomic_load_n(&c->r.srv->stopping, __ATOMIC_ACQUIRE))
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ret = MHD_queue_response(c->r.conn, (unsigned)o->status, mr);
	MHD_destroy_response(mr);
	return ret;
}

static enum MHD_Result send_error(struct req_ctx *c, enum err_code code, const char *msg)
{
	struct error err;
	err_set(&err, code, "%s", msg);
	resp_err(&c->resp, &err, NULL);
	return send_resp(c);
}

/* ------------------------------------------------------------ request parts */

/* Rejects what jansson would accept but we do not: NUL bytes (which would cut
 * strings short) and nesting deeper than JSON_DEPTH_MAX (a stack-depth bomb). */
static int body_prescan(const char *s, size_t len, struct error *err)
{
	int depth = 0;
	bool in_str = false;
	if (memchr(s, '\0', len))
		return err_set(err, E_VALIDATION, "Request body contains a NUL byte");
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == '{' || ch == '[') {
			if (++depth > JSON_DEPTH_MAX)
				return err_set(err, E_VALIDATION,
					       "Request body nests deeper than %d levels",
					       JSON_DEPTH_MAX);
		} else if (ch == '}' || ch == ']') {
			depth--;
		}
	}
	return 0;
}

static int parse_body(struct req_ctx *c, struct error *err)
{
	size_t len = c->body_len;
	const char *s = c->body;
	while (len && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t'))
		s++, len--;
	if (!len)
		return 0;
	if (body_prescan(s, len, err) < 0)
		return -1;
	json_error_t jerr;
	json_t *j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return err_set(err, E_VALIDATION, "Malformed JSON body: %s (line %d, column %d)",
			       jerr.text, jerr.line, jerr.column);
	if (!json_is_object(j)) {
		json_decref(j);
		return err_set(err, E_VALIDATION, "Request body must be a JSON object");
	}
	c->r.body = j;
	return 0;
}

/* Host "{24hex}.api.<domain>[:port]" scopes the request to that realm. */
static int realm_of_host(struct req_ctx *c, char out[ID_LEN + 1], struct error *err)
{
	const char *host = c->r.host;
	const char *colon = strrchr(host, ':');
	size_t len = colon && !strchr(host, ']') ? (size_t)(colon - host) : strlen(host);
	size_t slen = strlen(c->r.srv->realm_suffix);
	out[0] = '\0';
	if (len <= slen || strncasecmp(host + len - slen, c->r.srv->realm_suffix, slen) != 0)
		return 0;
	if (len - slen != ID_LEN)
		return err_set(err, E_VALIDATION, "Invalid realm id in host name");
	for (size_t i = 0; i < ID_LEN; i++)
		out[i] = (char)(host[i] >= 'A' && host[i] <= 'F' ? host[i] + 32 : host[i]);
	out[ID_LEN] = '\0';
	if (!id_valid(out))
		return err_set(err, E_VALIDATION, "Invalid realm id in host name");
	return 0;
}

int req_host_realm(struct req *r, char out[ID_LEN + 1], struct error *err)
{
	return realm_of_host((struct req_ctx *)r, out, err);
}

/* ?realm_id= scopes any route as the realm host does (lists filter by it,
 * single resources outside it are not found), unless the host names one. */
static int realm_of_query(struct req_ctx *c, struct error *err)
{
	const char *realm = req_query(&c->r, "realm_id");
	if (!realm || c->r.who.scoped_realm[0])
		return 0;
	if (!id_valid(realm))
		return err_set(err, E_VALIDATION,
			       "realm_id must be a 24-character lowercase hex id");
	memcpy(c->r.who.scoped_realm, realm, ID_LEN + 1);
	return 0;
}

/* Every check a route's registration asks for, before its handler runs. */
static int authorize(struct req_ctx *c, const struct route *rt, struct error *err)
{
	int flags = rt->flags;
	char realm[ID_LEN + 1];
	if (realm_of_host(c, realm, err) < 0)
		return -1;
	if (flags & ROUTE_PUBLIC) {
		memcpy(c->r.who.scoped_realm, realm, sizeof(realm));
		return 0;
	}
	if (auth_authenticate(c->r.pf, req_header(&c->r, MHD_HTTP_HEADER_AUTHORIZATION), c->ip,
			      realm, &c->r.who, err) < 0 ||
	    realm_of_query(c, err) < 0)
		return -1;
	conns_authenticated(c->r.conn, c->r.who.user_id);
	if ((flags & ROUTE_JWT_ONLY) && c->r.who.via_token)
		return err_set(err, E_FORBIDDEN, "Auth tokens are not accepted here; sign in");
	if ((flags & ROUTE_ADMIN) && !c->r.who.is_admin)
		return err_set(err, E_FORBIDDEN, "Administrator access required");
	if (strcmp(rt->leaf, PERM_ANY) != 0 && principal_require(&c->r.who, rt->leaf, err) < 0)
		return -1;
	if ((flags & ROUTE_WRITE) && !principal_can_write(&c->r.who))
		return err_set(err, E_FORBIDDEN,
			       "Insufficient permissions: this auth token is read-only");
	return 0;
}

/* ------------------------------------------------------------ dispatch */

static void run_deferred(void *arg)
{
	struct req_ctx *c = arg;
	c->dfn(&c->r, &c->resp, c->darg);
	if (c->dfree)
		c->dfree(c->darg);
	c->state = CTX_READY;
	/* Resume takes MHD's lock, which orders the writes above before the
	 * HTTP thread reads them. */
	MHD_resume_connection(c->r.conn);
}

static void run_route(struct req *r, struct resp *out, void *arg)
{
	((struct req_ctx *)r)->droute(r, out);
}

/* The route's handler now, or, for ROUTE_DEFER, on the HTTP queue once its
 * {id} is known to be well formed. */
static void call_route(struct req_ctx *c, const struct route *rt)
{
	struct error err = {0};
	const char *id;
	if (!(rt->flags & ROUTE_DEFER)) {
		rt->fn(&c->r, &c->resp);
	} else if (req_id_param(&c->r, 0, &id, &err) < 0) {
		resp_err(&c->resp, &err, NULL);
	} else {
		c->droute = rt->fn;
		req_defer(&c->r, run_route, NULL, NULL);
	}
}

static enum MHD_Result dispatch(struct req_ctx *c)
{
	struct route_match m;
	struct error err = {0};
	size_t pathlen = strlen(c->r.path);
	/* socket.io authenticates in its own CONNECT packet, not by header */
	if (api_sio_request(&c->r)) {
		if (c->too_large) {
			c->close_conn = true;
			return send_error(c, E_PAYLOAD_TOO_LARGE, "Request body too large");
		}
		api_sio_handle(&c->r, c->body, c->body_len, &c->resp);
		return send_resp(c);
	}
	switch (router_match(c->r.srv->router, c->method, c->r.path, c->buf + pathlen + 1,
			     pathlen + 1, &m)) {
	case MATCH_NOT_FOUND:
		err_set(&err, E_ROUTE_NOT_FOUND, "Route %s %.200s not found", c->method, c->r.path);
		resp_err(&c->resp, &err, NULL);
		return send_resp(c);
	case MATCH_BAD_METHOD:
		router_allow_header(m.allowed, c->allow, sizeof(c->allow));
		err_set(&err, E_METHOD_NOT_ALLOWED, "Method %s not allowed on %.200s (allowed: %s)",
			c->method, c->r.path, c->allow);
		resp_err(&c->resp, &err, NULL);
		return send_resp(c);
	case MATCH_FOUND:
		break;
	}
	memcpy(c->r.params, m.params, sizeof(m.params));
	c->r.nparams = m.nparams;
	c->r.pattern = m.route->pattern;
	if (c->too_large) {
		c->close_conn = true;
		err_set(&err, E_PAYLOAD_TOO_LARGE, "Request body exceeds %zu bytes",
			c->r.srv->max_body);
	}
	if (err.code || authorize(c, m.route, &err) < 0 || parse_body(c, &err) < 0) {
		resp_err(&c->resp, &err, NULL);
		return send_resp(c);
	}
	call_route(c, m.route);
	if (!c->defer_requested)
		return send_resp(c);
	c->state = CTX_DEFERRED;
	__atomic_add_fetch(&c->r.srv->deferred, 1, __ATOMIC_RELAXED);
	MHD_suspend_connection(c->r.conn);
	char owner[WQ_OWNER_MAX];
	if (c->r.who.user_id[0])
		snprintf(owner, sizeof(owner), "user:%s", c->r.who.user_id);
	else
		snprintf(owner, sizeof(owner), "ip:%s", c->ip);
	workq_submit_as(c->r.srv->wq, owner, c->defer_password ? WQ_PASSWORD : WQ_USER,
			run_deferred, c);
	return MHD_YES;
}

static void client_ip(struct MHD_Connection *conn, char ip[INET6_ADDRSTRLEN])
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	ip[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip,
			  INET6_ADDRSTRLEN);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip,
			  INET6_ADDRSTRLEN);
}

static struct req_ctx *ctx_new(struct api_server *srv, struct MHD_Connection *conn, const char *url,
			       const char *method)
{
	size_t len = strlen(url);
	struct req_ctx *c = xcalloc(1, sizeof(*c) + 2 * (len + 1));
	memcpy(c->buf, url, len + 1);
	snprintf(c->method, sizeof(c->method), "%s", method);
	c->r.srv = srv;
	c->r.pf = srv->pf;
	c->r.conn = conn;
	c->r.method = c->method;
	c->r.path = c->buf;
	c->r.start_ns = mono_ns();
	c->r.client_ip = c->ip;
	client_ip(conn, c->ip);
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	c->r.host = host ? host : "";
	return c;
}

static void body_append(struct req_ctx *c, const char *data, size_t n, size_t max)
{
	if (c->too_large || c->body_len + n > max) {
		c->too_large = true;
		return;
	}
	if (c->body_len + n > c->body_cap) {
		c->body_cap = c->body_cap ? c->body_cap * 2 : 1024;
		while (c->body_cap < c->body_len + n)
			c->body_cap *= 2;
		if (c->body_cap > max)
			c->body_cap = max;
		c->body = xrealloc(c->body, c->body_cap);
	}
	memcpy(c->body + c->body_len, data, n);
	c->body_len += n;
}

struct framing {
	int lengths;	   /* Content-Length headers */
	int encodings;	   /* Transfer-Encoding headers */
	bool odd_encoding; /* one that is not plain "chunked" */
	bool control;	   /* a control character (a bare CR) in a header */
	bool bad_name;	   /* a field name that is not a token ("Bad Name") */
};

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return true;
	return false;
}

/* RFC 9110 token: what a field name is made of (no spaces, no separators). */
static bool is_token(const char *s)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	return *s && strspn(s, tchar) == strlen(s);
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	(void)kind;
	struct framing *f = cls;
	if (!is_token(key))
		f->bad_name = true;
	if (value && has_control(value))
		f->control = true;
	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
		f->lengths++;
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		f->encodings++;
		f->odd_encoding |= !value || strcasecmp(value, "chunked") != 0;
	}
	return MHD_YES;
}

/* Requests are smuggled past a proxy that reads the framing differently:
 * two Content-Lengths, one with a Transfer-Encoding, a coding we do not
 * decode (MHD would wait for a body it cannot find the end of), a bare CR
 * that one parser takes for a line end, or a field name with a space that
 * another parser cuts differently. Such a request is refused and
 * its connection closed: its remaining bytes cannot be trusted. NULL when
 * the request is fine. */
static const char *framing_problem(struct MHD_Connection *conn)
{
	struct framing f = {0};
	MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, &f);
	if (f.control)
		return "A header holds a control character";
	if (f.bad_name)
		return "A header name is not a token";
	if (f.lengths > 1 || f.encodings > 1 || (f.lengths && f.encodings))
		return "Conflicting Content-Length or Transfer-Encoding headers";
	if (f.odd_encoding)
		return "Only Transfer-Encoding: chunked is supported";
	return NULL;
}

/* MHD decodes %00 into a NUL that silently ends the path or a query value
 * ("/users/me%00/x" would be "/users/me"), so it is caught in the raw URI,
 * before decoding; this marker stands in for the request context until
 * on_request makes it. */
static char nul_in_uri;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls, (void)conn;
	for (const char *p = uri; (p = strchr(p, '%')); p++)
		if (p[1] == '0' && p[2] == '0')
			return &nul_in_uri;
	return NULL;
}

/* Why a decoded path cannot be routed, or NULL: control bytes (a path is
 * quoted in messages and logs) and invalid UTF-8 (JSON cannot carry it). */
static const char *path_problem(const char *path)
{
	const unsigned char *p = (const unsigned char *)path;
	while (*p) {
		if (*p < 0x20 || *p == 0x7f)
			return "The URL path contains a control character";
		int n = *p < 0x80	      ? 0
			: (*p & 0xe0) == 0xc0 ? 1
			: (*p & 0xf0) == 0xe0 ? 2
			: (*p & 0xf8) == 0xf0 ? 3
					      : -1;
		if (n < 0 || (n == 1 && *p < 0xc2) || (n == 3 && *p > 0xf4))
			return "The URL path is not valid UTF-8";
		unsigned lead = *p++;
		for (int i = 0; i < n; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return "The URL path is not valid UTF-8";
		/* overlong 3-byte forms and UTF-16 surrogates */
		if (n == 2 && ((lead == 0xe0 && p[-2] < 0xa0) || (lead == 0xed && p[-2] >= 0xa0)))
			return "The URL path is not valid UTF-8";
		if (n == 3 && ((lead == 0xf0 && p[-3] < 0x90) || (lead == 0xf4 && p[-3] >= 0x90)))
			return "The URL path is not valid UTF-8";
	}
	return NULL;
}

static const char *request_problem(struct MHD_Connection *conn, const char *url, bool nul)
{
	if (nul)
		return "The URL contains a NUL byte (%00)";
	const char *bad = path_problem(url);
	return bad ? bad : framing_problem(conn);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct api_server *srv = cls;
	struct req_ctx *c = *con_cls;
	if (!c || c == (void *)&nul_in_uri) {
		bool nul = c != NULL;
		*con_cls = c = ctx_new(srv, conn, url, method);
		conns_busy(conn, true);
		const char *bad = request_problem(conn, url, nul);
		if (bad) {
			c->close_conn = true;
			return send_error(c, E_VALIDATION, bad);
		}
		/* A declared oversize body is refused before a byte of it is read. */
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > srv->max_body) {
			c->close_conn = true;
			c->too_large = true;
			return send_error(c, E_PAYLOAD_TOO_LARGE, "Request body too large");
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		body_append(c, upload_data, *upload_data_size, srv->max_body);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (c->state == CTX_READY)
		return send_resp(c);
	if (c->state == CTX_DEFERRED)
		return MHD_YES;
	return dispatch(c);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct api_server *srv = cls;
	struct req_ctx *c = *con_cls;
	*con_cls = NULL;
	if (!c || c == (void *)&nul_in_uri)
		return;
	conns_busy(conn, false);
	if (c->state != CTX_NEW)
		__atomic_sub_fetch(&srv->deferred, 1, __ATOMIC_RELAXED);
	double ms = (double)(mono_ns() - c->r.start_ns) / 1e6;
	/* The path only: query strings may carry secrets. */
	log_info("%s %.300s %d %.1fms%s", c->method, c->r.path, c->resp.status, ms,
		 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
	json_decref(c->resp.json);
	free(c->resp.raw);
	free(c->resp.header_name);
	free(c->resp.header_value);
	json_decref(c->r.body);
	principal_clear(&c->r.who);
	free(c->body);
	free(c);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	size_t n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_warn("http: %s", line);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		char ip[INET6_ADDRSTRLEN];
		client_ip(conn, ip);
		conns_started(conn, ip, socket_context);
	} else {
		conns_closed(socket_context);
	}
}

/* A stopping server takes no new connection (see api_server_stop). */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	(void)addr, (void)addrlen;
	struct api_server *srv = cls;
	return __atomic_load_n(&srv->stopping, __ATOMIC_ACQUIRE) ? MHD_NO : MHD_YES;
}

/* ------------------------------------------------------------ start/stop */

int api_server_start(const struct api_config *cfg, struct platform *pf, struct api_server **out_new,
		     struct error *err)
{
	struct sockaddr_storage ss;
	socklen_t ss_len;
	if (netaddr_parse(cfg->listen, &ss, &ss_len, err) < 0)
		return -1;
	struct api_server *srv = xcalloc(1, sizeof(*srv));
	srv->pf = pf;
	srv->max_body = cfg->max_body;
	snprintf(srv->realm_suffix, sizeof(srv->realm_suffix), ".api.%s", cfg->api_domain);
	srv->router = router_new();
	srv->wq = workq_new(cfg->workers);
	api_register_auth(srv);
	api_register_tokens(srv);
	api_register_users(srv);
	api_register_projects(srv);
	api_register_servers(srv);
	api_register_images(srv);
	api_register_realms(srv);
	api_register_containers(srv);
	api_register_meta(srv);
	api_register_operations(srv);
	api_register_stats(srv);
	api_register_env(srv);
	api_register_snapshots(srv);
	api_register_events(srv);
	api_register_prespawn(srv);
	api_register_copy(srv);
	api_register_proxy(srv);
	api_register_limits(srv);

	long nproc = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads =
	    cfg->threads > 0 ? (unsigned)cfg->threads : (unsigned)(nproc > 0 ? nproc : 2);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG |
			 (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
	srv->mhd = MHD_start_daemon(
	    flags, 0, accept_policy, srv, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
	    NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
	    threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
	    NULL, MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_LIMIT,
	    MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_END);
	if (!srv->mhd) {
		router_free(srv->router);
		workq_free(srv->wq);
		free(srv);
		return err_sys(err, E_IO, "cannot listen on %s", cfg->listen);
	}
	*out_new = srv;
	return 0;
}

void api_server_stop(struct api_server *srv)
{
	if (!srv)
		return;
	/* From here new connections are refused by accept_policy, and answers
	 * on open ones close them (send_resp). MHD_quiesce_daemon is
	 * not used: with a thread pool of epoll loops it races the workers,
	 * which drop the listen FD from their epoll sets themselves once
	 * was_quiesced is set; whoever loses gets ENOENT and MHD (0.9.75)
	 * aborts the process with "Failed to remove listen FD from epoll set".
	 * MHD_stop_daemon closes the listen socket itself after joining them. */
	__atomic_store_n(&srv->stopping, true, __ATOMIC_RELEASE);
	/* Suspended streams would hold MHD_stop_daemon forever. */
	api_streams_stop();
	api_sio_stop();
	/* Deferred requests finish and are answered first: stopping MHD with a
	 * suspended connection is undefined. Handlers running on the HTTP
	 * threads finish inside MHD_stop_daemon, which joins those threads. */
	int64_t deadline = mono_ns() + (int64_t)STOP_GRACE_MS * 1000000;
	while (__atomic_load_n(&srv->deferred, __ATOMIC_RELAXED) > 0 && mono_ns() < deadline)
		usleep(10000);
	if (__atomic_load_n(&srv->deferred, __ATOMIC_RELAXED) > 0) {
		log_warn("http: %d deferred requests still running after %d s; leaving them",
			 srv->deferred, STOP_GRACE_MS / 1000);
		return;
	}
	MHD_stop_daemon(srv->mhd);
	workq_free(srv->wq);
	router_free(srv->router);
	free(srv);
}
