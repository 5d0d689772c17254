/* Heads: a request head becomes a route, an access decision (both asked of
 * the platform) and the head sent to the backend; a response head becomes
 * the head sent to the client; a refusal becomes the JSON error envelope of
 * kit-api.md §2.4. Hop-by-hop fields never cross (RFC 9110 §7.6.1), and the
 * X-Forwarded-* fields are the edge's own: whatever a client claims there is
 * dropped, since this is the first hop. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/envelope.h"
#include "common/http_status.h"
#include "common/log.h"
#include "common/util.h"
#include "proxy/internal.h"

/* ------------------------------------------------------------ head builder */

void sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->over || b->len + n > b->cap) {
		b->over = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = b->over ? -1 : vsnprintf(b->p + b->len, b->cap - b->len + 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > b->cap - b->len)
		b->over = true;
	else
		b->len += (size_t)n;
}

void sb_field(struct sb *b, const struct h1_field *f)
{
	sb_add(b, f->name, f->name_len);
	sb_add(b, ": ", 2);
	sb_add(b, f->value, f->value_len);
	sb_add(b, "\r\n", 2);
}

struct sb sb_new(void)
{
	/* one spare byte for vsnprintf's terminator */
	return (struct sb){.p = xmalloc(HEAD_OUT_MAX + 1), .cap = HEAD_OUT_MAX};
}

/* Hands the built head to h as the bytes to send first. */
void sb_to_half(struct sb *b, struct half *h)
{
	free(h->out);
	h->out = b->p;
	h->out_len = (uint32_t)b->len;
	h->out_off = 0;
}

/* ------------------------------------------------------------ field rules */

static const char *const hop_by_hop[] = {
    "connection", "keep-alive",		 "proxy-connection",   "te", "trailer", "transfer-encoding",
    "upgrade",	  "proxy-authorization", "proxy-authenticate", NULL,
};

/* Set by the edge only: a client's own values would be believed downstream.
 * The container claim pair is a credential for the edge, not for programs
 * in the container. */
static const char *const edge_owned[] = {
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "forwarded",
    "x-real-ip",
    "x-hoody-container-claim",
    "x-hoody-token",
    "x-hoody-kit-service",
    "x-hoody-kit-instance",
    NULL,
};

static bool in_list(const struct h1_field *f, const char *const *names)
{
	for (; *names; names++)
		if (h1_name_is(f, *names))
			return true;
	return false;
}

/* Fields named by a Connection field are hop-by-hop too. */
static bool named_by_connection(const struct h1_head *h, const struct h1_field *f)
{
	char name[64];
	if (f->name_len >= sizeof(name))
		return false;
	memcpy(name, f->name, f->name_len);
	name[f->name_len] = '\0';
	for (size_t i = 0; i < h->nfields; i++)
		if (h1_name_is(&h->fields[i], "connection") &&
		    h1_list_has(h->fields[i].value, h->fields[i].value_len, name))
			return true;
	return false;
}

bool exchange_field_crosses(const struct h1_head *h, const struct h1_field *f, bool request)
{
	return !in_list(f, hop_by_hop) && !(request && in_list(f, edge_owned)) &&
	       !named_by_connection(h, f);
}

static bool connection_has(const struct h1_head *h, const char *token)
{
	for (size_t i = 0; i < h->nfields; i++)
		if (h1_name_is(&h->fields[i], "connection") &&
		    h1_list_has(h->fields[i].value, h->fields[i].value_len, token))
			return true;
	return false;
}

/* The parser's fields point into our own buffer; terminating them in place
 * lets the platform read them as C strings. Each terminator lands on the
 * space, CR or LF that followed the item, which is no longer needed. */
static void terminate_in_place(struct h1_head *h)
{
	for (size_t i = 0; i < h->nfields; i++) {
		((char *)h->fields[i].name)[h->fields[i].name_len] = '\0';
		((char *)h->fields[i].value)[h->fields[i].value_len] = '\0';
	}
	if (h->method) {
		((char *)h->method)[h->method_len] = '\0';
		((char *)h->target)[h->target_len] = '\0';
	}
}

/* ------------------------------------------------------------ request view */

struct view {
	const struct h1_head *h;
	const char *query; /* after '?', NUL-terminated, or NULL */
	char scratch[4096];
	size_t used;
};

/* Form-decodes s[0..n) into the scratch space; NULL when it is full. */
static const char *scratch_decode(struct view *v, const char *s, size_t n, bool form)
{
	if (v->used + n + 1 > sizeof(v->scratch))
		return NULL;
	char *out = v->scratch + v->used;
	v->used += url_decode(s, n, out, form) + 1;
	return out;
}

static const char *view_header(void *ctx, const char *name)
{
	const struct view *v = ctx;
	const struct h1_field *f = h1_find(v->h, name);
	return f ? f->value : NULL;
}

static const char *view_query(void *ctx, const char *name)
{
	struct view *v = ctx;
	size_t nl = strlen(name);
	for (const char *p = v->query; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		size_t mark = v->used;
		const char *key = scratch_decode(v, p, klen, true);
		if (key && strlen(key) == nl && memcmp(key, name, nl) == 0) {
			v->used = mark;
			return eq ? scratch_decode(v, eq + 1, len - klen - 1, true)
				  : scratch_decode(v, "", 0, true);
		}
		v->used = mark;
		p = amp ? amp + 1 : NULL;
	}
	return NULL;
}

static const char *view_cookie(void *ctx, const char *name)
{
	struct view *v = ctx;
	size_t nl = strlen(name);
	for (size_t i = 0; i < v->h->nfields; i++) {
		const struct h1_field *f = &v->h->fields[i];
		if (!h1_name_is(f, "cookie"))
			continue;
		const char *p = f->value, *end = f->value + f->value_len;
		while (p < end) {
			while (p < end && (*p == ' ' || *p == ';'))
				p++;
			const char *semi = memchr(p, ';', (size_t)(end - p));
			const char *e = semi ? semi : end;
			const char *eq = memchr(p, '=', (size_t)(e - p));
			if (eq && (size_t)(eq - p) == nl && memcmp(p, name, nl) == 0) {
				const char *val = eq + 1;
				size_t vl = (size_t)(e - val);
				if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"')
					val++, vl -= 2;
				return scratch_decode(v, val, vl, false);
			}
			p = e;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------ requests */

static bool is_websocket(const struct h1_head *h)
{
	const struct h1_field *up = h1_find(h, "upgrade");
	return up && h->method_len == 3 && memcmp(h->method, "GET", 3) == 0 &&
	       h1_list_has(up->value, up->value_len, "websocket") && connection_has(h, "upgrade");
}

static int refuse(struct conn *c, enum err_code code, const char *msg)
{
	struct error err;
	err_set(&err, code, "%s", msg);
	exchange_error(c, &err);
	return -1;
}

/* The only Host field, or NULL when there is none or more than one. */
static const char *single_host(const struct h1_head *h)
{
	const struct h1_field *found = NULL;
	for (size_t i = 0; i < h->nfields; i++) {
		if (!h1_name_is(&h->fields[i], "host"))
			continue;
		if (found)
			return NULL;
		found = &h->fields[i];
	}
	return found && found->value_len ? found->value : NULL;
}

/* Path for the backend: the alias's target path, and for Kit routes the
 * instance query parameter when the client did not send one (§1.4). */
static int backend_path(struct conn *c, struct view *v, char *out, size_t outlen)
{
	if (proxy_forward_path(&c->route, v->h->target, out, outlen) < 0)
		return -1;
	const char *param = c->route.kind == PROXY_KIT ? proxy_index_param(&c->route) : NULL;
	if (!param || view_query(v, param))
		return 0;
	size_t len = strlen(out);
	int n = snprintf(out + len, outlen - len, "%c%s=%d", strchr(out, '?') ? '&' : '?', param,
			 c->route.index);
	return n < 0 || (size_t)n >= outlen - len ? -1 : 0;
}

static void build_request_head(struct conn *c, const struct h1_head *h, const char *path,
			       const char *host, bool chunked, struct sb *b)
{
	sb_printf(b, "%s %s HTTP/1.%d\r\n", h->method, path, h->minor);
	for (size_t i = 0; i < h->nfields; i++)
		if (exchange_field_crosses(h, &h->fields[i], true))
			sb_field(b, &h->fields[i]);
	if (chunked)
		sb_printf(b, "Transfer-Encoding: chunked\r\n");
	if (c->upgrade)
		sb_printf(b, "Connection: Upgrade\r\nUpgrade: %s\r\n",
			  h1_find(h, "upgrade")->value);
	sb_printf(b, "X-Forwarded-For: %s\r\nX-Forwarded-Proto: %s\r\nX-Forwarded-Host: %s\r\n",
		  c->ip, c->tls ? "https" : "http", host);
	if (c->route.kind == PROXY_KIT)
		sb_printf(b, "X-Hoody-Kit-Service: %s\r\nX-Hoody-Kit-Instance: %d\r\n",
			  c->route.slug, c->route.index);
	sb_add(b, "\r\n", 2);
}

int exchange_request(struct conn *c, struct h1_head *h)
{
	struct error err = {0};
	struct h1_framing fr;
	int status;
	terminate_in_place(h);
	c->minor = h->minor;
	/* HTTP/1.0 clients get one exchange per connection: simpler framing
	 * (no chunked coding to them) for a client nobody uses any more. */
	c->keep_alive = h->minor == 1 && !connection_has(h, "close");
	c->head_req = strcmp(h->method, "HEAD") == 0;
	c->upgrade = is_websocket(h);
	c->req_has_body = false;
	c->close_after = false;
	c->egress = c->tunnel_on_connect = false;
	free(c->egress_name);
	c->egress_name = NULL;
	if (h1_request_framing(h, &fr, &status) < 0) {
		c->keep_alive = false;
		return refuse(
		    c, E_VALIDATION,
		    status == 501
			? "Only Transfer-Encoding: chunked is supported"
			: "Conflicting or malformed Content-Length and Transfer-Encoding");
	}
	c->req_has_body = fr.kind != H1_BODY_NONE;
	/* absolute-form and CONNECT: the container's forward proxy (or a clear
	 * refusal), routed by the TLS server name, not by Host */
	if (h->target[0] != '/')
		return egress_request(c, h, &fr);
	const char *host = single_host(h);
	if (!host)
		return refuse(c, E_VALIDATION, "Exactly one Host header is required");
	struct view v = {.h = h};
	const char *q = strchr(h->target, '?');
	v.query = q ? q + 1 : NULL;
	struct proxy_request_view rq = {
	    .client_ip = c->ip,
	    .method = h->method,
	    .path = h->target,
	    .websocket = c->upgrade,
	    .header = view_header,
	    .cookie = view_cookie,
	    .query = view_query,
	    .ctx = &v,
	};
	if (!c->memo)
		c->memo = xcalloc(1, sizeof(*c->memo));
	proxy_grant_free(c->grant);
	c->grant = NULL;
	/* an upgrade may become a tunnel: keep what admits it */
	int rc = c->upgrade
		     ? proxy_tunnel_decide(c->lp->srv->pf, host, &rq, &c->route, &c->grant, &err)
		     : proxy_request_decide(c->lp->srv->pf, host, &rq, c->memo, &c->route, &err);
	if (rc < 0) {
		exchange_error(c, &err);
		return -1;
	}
	char path[H1_HEAD_MAX + PROXY_TARGET_PATH_MAX + 64];
	if (backend_path(c, &v, path, sizeof(path)) < 0)
		return refuse(c, E_HEADERS_TOO_LARGE, "Request target too long");
	struct sb b = sb_new();
	build_request_head(c, h, path, host, fr.kind == H1_BODY_CHUNKED, &b);
	if (b.over) {
		free(b.p);
		return refuse(c, E_HEADERS_TOO_LARGE, "Request head too large once forwarded");
	}
	sb_to_half(&b, &c->req);
	c->req.fr = fr;
	c->req.left = fr.length;
	free(c->retry_head);
	c->retry_head = NULL;
	c->rq = RQ_CONNECT;
	log_debug("proxy: %s %s %.200s -> %s", c->ip, h->method, host, c->route.container_id);
	backend_connect(c);
	return 0;
}

/* ------------------------------------------------------------ responses */

static void build_response_head(struct conn *c, const struct h1_head *h, bool chunked, struct sb *b)
{
	sb_printf(b, "HTTP/1.1 %03d %.*s\r\n", h->status, (int)h->reason_len, h->reason);
	for (size_t i = 0; i < h->nfields; i++)
		if (exchange_field_crosses(h, &h->fields[i], false))
			sb_field(b, &h->fields[i]);
	if (chunked)
		sb_printf(b, "Transfer-Encoding: chunked\r\n");
	if (h->status == 101)
		sb_printf(b, "Connection: Upgrade\r\nUpgrade: %s\r\n",
			  h1_find(h, "upgrade") ? h1_find(h, "upgrade")->value : "websocket");
	else if (h->status >= 200 && c->close_after)
		sb_printf(b, "Connection: close\r\n");
	sb_add(b, "\r\n", 2);
}

static int switch_to_tunnel(struct conn *c, const struct h1_head *h)
{
	if (!c->upgrade || c->rq != RQ_DONE) {
		backend_protocol_error(c, "The service switched protocols unasked");
		return -1;
	}
	struct sb b = sb_new();
	build_response_head(c, h, false, &b);
	sb_to_half(&b, &c->resp);
	c->rs = RS_TUNNEL;
	c->rq = RQ_TUNNEL;
	half_start(&c->req, H1_BODY_EOF, 0);
	half_start(&c->resp, H1_BODY_EOF, 0);
	c->resp_started = true;
	c->close_after = true;
	c->b_keep = false;
	/* no request follows on an upgraded connection */
	free(c->memo);
	c->memo = NULL;
	return 0;
}

int exchange_response(struct conn *c, struct h1_head *h)
{
	struct h1_framing fr;
	terminate_in_place(h);
	free(c->retry_head);
	c->retry_head = NULL;
	if (h->status == 101)
		return switch_to_tunnel(c, h);
	if (h->status < 200) {
		/* Interim responses (100 Continue) pass; HTTP/1.0 clients know none. */
		if (c->minor == 1) {
			struct sb b = sb_new();
			build_response_head(c, h, false, &b);
			sb_to_half(&b, &c->resp);
		}
		return 0;
	}
	if (h1_response_framing(h, c->head_req, &fr) < 0) {
		backend_protocol_error(c, "The service answered with ambiguous message framing");
		return -1;
	}
	c->b_keep = h->minor == 1 && !connection_has(h, "close") && fr.kind != H1_BODY_EOF;
	if (fr.kind == H1_BODY_EOF || !c->keep_alive)
		c->close_after = true;
	struct sb b = sb_new();
	build_response_head(c, h, fr.kind == H1_BODY_CHUNKED, &b);
	if (b.over) {
		free(b.p);
		backend_protocol_error(c, "The service's response head is too large");
		return -1;
	}
	sb_to_half(&b, &c->resp);
	half_start(&c->resp, fr.kind, fr.length);
	c->rs = RS_BODY;
	c->resp_started = true;
	c->upgrade = false;
	return 0;
}

/* ------------------------------------------------------------ errors */

void exchange_error(struct conn *c, const struct error *err)
{
	exchange_error_as(c, err, 0, NULL);
}

void exchange_error_as(struct conn *c, const struct error *err, int status, const char *extra)
{
	json_t *env = NULL;
	status = err_envelope(err, status, &env);
	char *body = json_dumps(env, JSON_COMPACT);
	json_decref(env);
	size_t blen = body ? strlen(body) : 0;
	if (c->req_has_body && c->rq != RQ_DONE)
		c->close_after = true; /* its body is not read: the stream cannot resync */
	if (!c->keep_alive)
		c->close_after = true;
	struct sb b = sb_new();
	sb_printf(&b,
		  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		  "Cache-Control: no-store\r\n%s%s\r\n",
		  status, http_reason(status), blen, extra ? extra : "",
		  c->close_after ? "Connection: close\r\n" : "");
	if (!c->head_req)
		sb_add(&b, body, blen);
	free(body);
	half_reset(&c->resp);
	c->resp.b.start = c->resp.b.end = 0; /* whatever the backend sent is void */
	sb_to_half(&b, &c->resp);
	c->resp.body_done = true;
	c->rs = RS_LOCAL;
	c->rq = c->close_after ? RQ_DRAIN : RQ_DONE;
	c->resp_started = true;
	log_debug("proxy: %s refused: %d %s", c->ip, status, err->msg);
}
