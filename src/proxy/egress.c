/* {p}-{c}-proxy.{server}.containers.{domain}: the container's egress forward
 * proxy (kit-api.md §1.3: `curl -x https://{p}-{c}-proxy...`). A forward
 * proxy's client puts the TARGET in Host and in the request line, so the
 * container is named by the only other thing it sends: the TLS server name
 * (SNI) of its connection to the proxy. Requests are absolute-form
 * (`GET http://target/path`) or `CONNECT host:port`; the connection to the
 * target is made inside the container's network namespace (the connector
 * thread, exactly the address asked for, never from the host), so
 * 127.0.0.1 is the container's own loopback and the container's firewall
 * and NAT rules apply as to any of its programs. Access is the platform's
 * decision for program "proxy", with the credentials a forward-proxy client
 * sends: Proxy-Authorization stands for Authorization, and header
 * credentials (the owner's claim pair, token and jwt headers) come from
 * --proxy-header; they never reach the target. A refusal for missing or
 * unmatched credentials is 407 with Proxy-Authenticate, the status
 * forward-proxy clients act on (a 401 would be read as the target's). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "proxy/internal.h"

#define EG_HOST_MAX 253
#define EG_CONSUMED_MAX 16

/* The request as the platform sees it, and the credential fields it read. */
struct eg_view {
	const struct h1_head *h;
	char consumed[EG_CONSUMED_MAX][64];
	int nconsumed;
};

static const char *eg_header(void *ctx, const char *name)
{
	struct eg_view *v = ctx;
	/* the proxy's credential travels in Proxy-Authorization; the client's
	 * Authorization is the target's business and passes untouched */
	if (strcasecmp(name, "authorization") == 0)
		name = "proxy-authorization";
	else if (v->nconsumed < EG_CONSUMED_MAX && strlen(name) < sizeof(v->consumed[0]))
		snprintf(v->consumed[v->nconsumed++], sizeof(v->consumed[0]), "%s", name);
	const struct h1_field *f = h1_find(v->h, name);
	return f ? f->value : NULL;
}

/* Cookies and query parameters belong to the target: never credentials here. */
static const char *eg_none(void *ctx, const char *name)
{
	(void)ctx;
	(void)name;
	return NULL;
}

static bool consumed(const struct eg_view *v, const struct h1_field *f)
{
	for (int i = 0; i < v->nconsumed; i++)
		if (h1_name_is(f, v->consumed[i]))
			return true;
	return false;
}

/* ------------------------------------------------------------ the target */

struct eg_target {
	char authority[EG_HOST_MAX + 8]; /* host[:port] as sent, the Host to forward */
	char ip[INET6_ADDRSTRLEN];
	char name[EG_HOST_MAX + 1]; /* a host name to resolve first ("" for an address) */
	int port;
	const char *path; /* absolute-form: from the first '/' ("/" when none) */
};

static int refuse(struct conn *c, enum err_code code, const char *msg)
{
	struct error err;
	err_set(&err, code, "%s", msg);
	exchange_error(c, &err);
	return -1;
}

/* A DNS name: labels of letters, digits, '-' and '_' (1-63 bytes, no '-'
 * at either end), at most 253 bytes, no trailing dot; the last label not all
 * digits (such a target is a mistyped address, never asked of a resolver). */
static bool valid_name(const char *s)
{
	size_t len = strlen(s), label = 0;
	bool digits = true;
	if (!len || len > EG_HOST_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char ch = s[i];
		if (ch == '.' || ch == '\0') {
			if (!label || label > 63 || s[i - 1] == '-')
				return false;
			if (ch == '\0')
				return !digits;
			label = 0;
			digits = true;
			continue;
		}
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9');
		if (!alnum && ch != '_' && !(ch == '-' && label > 0))
			return false;
		digits = digits && ch >= '0' && ch <= '9';
		label++;
	}
	return false;
}

/* "[v6]" at the start of s: its end (after ']') and the address, in
 * canonical form; NULL when s holds no IPv6 literal. Scoped (link-local
 * "%eth0") literals are not addresses here. */
static const char *parse_literal6(const char *s, size_t n, char *ip, size_t iplen)
{
	char text[INET6_ADDRSTRLEN];
	struct in6_addr a;
	const char *rb = memchr(s, ']', n);
	if (!rb || (size_t)(rb - s - 1) >= sizeof(text))
		return NULL;
	memcpy(text, s + 1, (size_t)(rb - s - 1));
	text[rb - s - 1] = '\0';
	if (inet_pton(AF_INET6, text, &a) != 1)
		return NULL;
	inet_ntop(AF_INET6, &a, ip, (socklen_t)iplen);
	return rb + 1;
}

/* host[:port] with an IPv4 address, an IPv6 literal ("[::1]", when the
 * container has IPv6), "localhost" or a host name; -1 with a message. */
static int parse_authority(const char *s, size_t n, int default_port, bool ipv6,
			   struct eg_target *t, const char **why)
{
	char host[EG_HOST_MAX + 1];
	const char *v6end = n && s[0] == '[' ? parse_literal6(s, n, t->ip, sizeof(t->ip)) : NULL;
	const char *colon =
	    v6end ? (v6end < s + n && *v6end == ':' ? v6end : NULL) : memchr(s, ':', n);
	size_t hl = colon ? (size_t)(colon - s) : n;
	*why = "The target must be host[:port]";
	if (!hl || hl > EG_HOST_MAX || memchr(s, '@', n) || (s[0] == '[' && !v6end) ||
	    (v6end && !colon && v6end != s + n))
		return -1;
	if (v6end && !ipv6) {
		*why = "The container has no IPv6 (hoodyd --ipv6): IPv6 targets cannot be reached "
		       "from it";
		return -1;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	t->port = default_port;
	if (colon) {
		char *end;
		long port = strtol(colon + 1, &end, 10);
		if (end != s + n || colon + 1 == end || port < 1 || port > 65535)
			return -1;
		t->port = (int)port;
	}
	if (t->port <= 0)
		return -1;
	struct in_addr a;
	if (v6end) {
		/* t->ip holds the address already */
	} else if (strcasecmp(host, "localhost") == 0) {
		snprintf(t->ip, sizeof(t->ip), "127.0.0.1");
	} else if (inet_pton(AF_INET, host, &a) == 1) {
		inet_ntop(AF_INET, &a, t->ip, sizeof(t->ip));
	} else if (valid_name(host)) {
		snprintf(t->name, sizeof(t->name), "%s", host);
	} else {
		*why =
		    "The target host must be an IPv4 address, an IPv6 literal in brackets, "
		    "localhost or a DNS name (labels of letters, digits, '-', at most 253 bytes)";
		return -1;
	}
	snprintf(t->authority, sizeof(t->authority), "%.*s", (int)n, s);
	return 0;
}

static int parse_target(const struct h1_head *h, bool connect, bool ipv6, struct eg_target *t,
			const char **why)
{
	const char *s = h->target;
	if (connect)
		return parse_authority(s, strlen(s), 0, ipv6, t, why);
	if (strncasecmp(s, "http://", 7) != 0) {
		*why = strncasecmp(s, "https://", 8) == 0
			   ? "https targets go through CONNECT (curl does so by itself)"
			   : "Only absolute http:// targets and CONNECT are forwarded";
		return -1;
	}
	s += 7;
	size_t alen = strcspn(s, "/?#");
	t->path = s[alen] == '/' ? s + alen : "/";
	if (s[alen] == '?' || s[alen] == '#') {
		*why = "The target's path must start with /";
		return -1;
	}
	return parse_authority(s, alen, 80, ipv6, t, why);
}

/* ------------------------------------------------------------ forwarding */

static int build_head(struct conn *c, const struct h1_head *h, const struct eg_view *v,
		      const struct eg_target *t, const struct h1_framing *fr)
{
	struct sb b = sb_new();
	sb_printf(&b, "%s %s HTTP/1.%d\r\n", h->method, t->path, h->minor);
	sb_printf(&b, "Host: %s\r\n", t->authority);
	for (size_t i = 0; i < h->nfields; i++) {
		const struct h1_field *f = &h->fields[i];
		if (!h1_name_is(f, "host") && !consumed(v, f) && exchange_field_crosses(h, f, true))
			sb_field(&b, f);
	}
	if (fr->kind == H1_BODY_CHUNKED)
		sb_printf(&b, "Transfer-Encoding: chunked\r\n");
	if (c->upgrade)
		sb_printf(&b, "Connection: Upgrade\r\nUpgrade: %s\r\n",
			  h1_find(h, "upgrade")->value);
	sb_add(&b, "\r\n", 2);
	if (b.over) {
		free(b.p);
		return refuse(c, E_HEADERS_TOO_LARGE, "Request head too large once forwarded");
	}
	sb_to_half(&b, &c->req);
	return 0;
}

/* The platform's decision for the container the server name names. */
static int decide(struct conn *c, const char *sni, const struct h1_head *h, struct eg_view *v,
		  bool connect)
{
	struct error err = {0};
	struct proxy_request_view rq = {
	    .client_ip = c->ip,
	    .method = h->method,
	    .path = h->target,
	    .websocket = false,
	    .header = eg_header,
	    .cookie = eg_none,
	    .query = eg_none,
	    .ctx = v,
	};
	if (!c->memo)
		c->memo = xcalloc(1, sizeof(*c->memo));
	proxy_grant_free(c->grant);
	c->grant = NULL;
	/* CONNECT becomes a tunnel: keep what admits it */
	int rc = connect ? proxy_tunnel_decide(c->lp->srv->pf, sni, &rq, &c->route, &c->grant, &err)
			 : proxy_request_decide(c->lp->srv->pf, sni, &rq, c->memo, &c->route, &err);
	if (rc == 0)
		return 0;
	if (err.code == E_MISSING_TOKEN || err.code == E_INVALID_TOKEN)
		exchange_error_as(c, &err, 407, "Proxy-Authenticate: Basic realm=\"hoody\"\r\n");
	else
		exchange_error(c, &err);
	return -1;
}

int egress_request(struct conn *c, struct h1_head *h, const struct h1_framing *fr)
{
	bool connect = strcmp(h->method, "CONNECT") == 0;
	const char *sni = c->ssl ? SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
	struct eg_view v = {.h = h};
	struct eg_target t = {0};
	const char *why;
	if (!connect && strncasecmp(h->target, "http", 4) != 0)
		return refuse(c, E_VALIDATION,
			      "Only origin-form request targets (/path) are served");
	if (!sni)
		return refuse(c, E_VALIDATION,
			      "Forward-proxy requests (CONNECT, http://...) are served on the TLS "
			      "listener only: its server name says whose network they leave "
			      "from. Use curl -x https://{project}-{container}-proxy.{server}."
			      "containers.{domain} (docs/PROXY.md)");
	if (connect && fr->kind != H1_BODY_NONE)
		return refuse(c, E_VALIDATION, "CONNECT takes no body");
	if (decide(c, sni, h, &v, connect) < 0)
		return -1;
	/* CONNECT on the ssh name: the SSH stream itself, whatever the target
	 * (a ProxyCommand with an HTTPS CONNECT client) */
	bool ssh = c->route.kind == PROXY_SSH && connect;
	if (c->route.kind != PROXY_PROXY && !ssh)
		return refuse(c, E_VALIDATION,
			      "Forward-proxy requests are served on {project}-{container}-proxy "
			      "names only");
	if (!ssh && parse_target(h, connect, c->route.ipv6, &t, &why) < 0)
		return refuse(c, E_VALIDATION, why);
	if (!ssh && !c->route.netns_path[0])
		return refuse(c, E_BAD_GATEWAY, "The container is not running");
	c->egress = true;
	c->tunnel_on_connect = connect;
	c->route.port = t.port;
	snprintf(c->route.backend_ip, sizeof(c->route.backend_ip), "%s", t.ip);
	free(c->egress_name);
	c->egress_name = t.name[0] ? xstrdup(t.name) : NULL;
	if (connect) {
		/* a tunnel is a connection of its own, never a kept one */
		free(c->req.out);
		c->req.out = NULL;
		keepalive_park(c);
		c->b_fresh = true;
	} else if (build_head(c, h, &v, &t, fr) < 0) {
		return -1;
	}
	c->req.fr = *fr;
	c->req.left = fr->length;
	free(c->retry_head);
	c->retry_head = NULL;
	c->rq = RQ_CONNECT;
	backend_connect(c);
	return 0;
}

void egress_tunnel_start(struct conn *c)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	half_start(&c->req, H1_BODY_EOF, 0);
	half_start(&c->resp, H1_BODY_EOF, 0);
	free(c->resp.out);
	c->resp.out = xstrdup(ok);
	c->resp.out_len = sizeof(ok) - 1;
	c->resp.out_off = 0;
	c->rq = RQ_TUNNEL;
	c->rs = RS_TUNNEL;
	c->resp_started = true;
	c->close_after = true;
	c->b_keep = false;
	c->tunnel_on_connect = false;
	/* nothing is decided again on a tunnel */
	free(c->memo);
	c->memo = NULL;
}
