/* Hostnames of kit-api.md §1: parsing, resolution to a container route, the
 * index mapping of §1.4 and alias path rewriting. */
#include "platform/platform_int.h"
#include "platform/proxy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "platform/proxy_internal.h"

/* §1.3, in catalog order. "n" is notifications: the short form keeps
 * {24}-{24}-{segment} inside one 63-character DNS label. */
const char *const proxy_kit_slugs[] = {
    "terminal", "desktop", "display", "browser", "code", "files",      "exec",
    "daemon",	"cron",	   "curl",    "sqlite",	 "n",	 "pipe",       "tunnel",
    "watch",	"notes",   "logs",    "agent",	 "run",	 "workspaces", NULL};

#define INDEX_MAX 9999
#define DESKTOP_INDEX_MAX 63935

static bool is_slug(const char *s, size_t len)
{
	for (size_t i = 0; proxy_kit_slugs[i]; i++)
		if (strlen(proxy_kit_slugs[i]) == len && memcmp(proxy_kit_slugs[i], s, len) == 0)
			return true;
	return false;
}

/* A decimal in [lo, hi] without sign or leading zero; -1 otherwise. */
static int parse_num(const char *s, int lo, int hi)
{
	size_t len = strlen(s);
	if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
		return -1;
	int v = 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v >= lo && v <= hi ? v : -1;
}

static int not_ours(struct error *err)
{
	return err_set(err, E_NOT_FOUND, "No container or alias answers at this host name");
}

/* {slug}-{n}, http-{port}, https-{port}, ssh, proxy. */
static int parse_segment(const char *seg, struct proxy_host *out, struct error *err)
{
	if (strcmp(seg, "ssh") == 0 || strcmp(seg, "proxy") == 0) {
		out->kind = seg[0] == 's' ? PROXY_SSH : PROXY_PROXY;
		return 0;
	}
	const char *dash = strrchr(seg, '-');
	if (!dash || dash == seg)
		return not_ours(err);
	size_t slen = (size_t)(dash - seg);
	if ((slen == 4 && memcmp(seg, "http", 4) == 0) ||
	    (slen == 5 && memcmp(seg, "https", 5) == 0)) {
		out->port = parse_num(dash + 1, 1, 65535);
		out->kind = slen == 4 ? PROXY_HTTP_PORT : PROXY_HTTPS_PORT;
		return out->port < 0 ? not_ours(err) : 0;
	}
	if (!is_slug(seg, slen))
		return not_ours(err);
	memcpy(out->slug, seg, slen);
	out->slug[slen] = '\0';
	bool terminal = strcmp(out->slug, "terminal") == 0;
	bool desktop = strcmp(out->slug, "desktop") == 0;
	out->index = parse_num(dash + 1, terminal ? 0 : 1, desktop ? DESKTOP_INDEX_MAX : INDEX_MAX);
	out->kind = PROXY_KIT;
	return out->index < 0 ? not_ours(err) : 0;
}

static bool hex24(const char *s)
{
	for (size_t i = 0; i < ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* "{24 hex}-{24 hex}" at the start of a label: the container form, never an
 * alias (the segment-less "{p}-{c}" has no documented service). */
bool proxy_label_is_container_form(const char *label)
{
	size_t len = strlen(label);
	return len >= 2 * ID_LEN + 1 && hex24(label) && label[ID_LEN] == '-' &&
	       hex24(label + ID_LEN + 1) && (len == 2 * ID_LEN + 1 || label[2 * ID_LEN + 1] == '-');
}

/* The first label: {p}-{c}-{segment}, else an alias name. */
static int parse_label(const char *label, struct proxy_host *out, struct error *err)
{
	if (proxy_label_is_container_form(label)) {
		if (strlen(label) <= 2 * ID_LEN + 2)
			return not_ours(err);
		memcpy(out->project_id, label, ID_LEN);
		memcpy(out->container_id, label + ID_LEN + 1, ID_LEN);
		return parse_segment(label + 2 * ID_LEN + 2, out, err);
	}
	if (!proxy_alias_name_valid(label))
		return not_ours(err);
	out->alias = true;
	snprintf(out->label, sizeof(out->label), "%s", label);
	return 0;
}

/* Lowercased copy without :port and trailing dot; false when too long. */
static bool normalize_host(const char *host, char out[PROXY_HOST_MAX + 1])
{
	size_t len = 0;
	if (host[0] == '[')
		return false; /* an IPv6 literal is never one of our names */
	while (host[len] && host[len] != ':') {
		if (len == PROXY_HOST_MAX)
			return false;
		out[len] = (char)tolower((unsigned char)host[len]);
		len++;
	}
	if (len && out[len - 1] == '.')
		len--;
	out[len] = '\0';
	return len > 0;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static int parse_api(const char *h, size_t len, size_t dlen, struct proxy_host *out,
		     struct error *err)
{
	out->kind = PROXY_API;
	if (len == 4 + dlen) /* api.{domain} */
		return 0;
	/* {realm}.api.{domain} */
	if (len != ID_LEN + 1 + 4 + dlen || h[ID_LEN] != '.' || !hex24(h))
		return not_ours(err);
	memcpy(out->realm_id, h, ID_LEN);
	return 0;
}

int proxy_host_parse(const char *host, const char *domain, struct proxy_host *out,
		     struct error *err)
{
	char h[PROXY_HOST_MAX + 1], suffix[PROXY_HOST_MAX + 16];
	memset(out, 0, sizeof(*out));
	if (!host || !domain || !*domain || !normalize_host(host, h))
		return not_ours(err);
	size_t len = strlen(h), dlen = strlen(domain);
	snprintf(suffix, sizeof(suffix), "api.%s", domain);
	if (strcmp(h, suffix) == 0)
		return parse_api(h, len, dlen, out, err);
	snprintf(suffix, sizeof(suffix), ".api.%s", domain);
	if (ends_with(h, len, suffix))
		return parse_api(h, len, dlen, out, err);
	snprintf(suffix, sizeof(suffix), ".containers.%s", domain);
	if (!ends_with(h, len, suffix))
		return not_ours(err);
	/* {label}.{server} before the suffix: exactly two labels. */
	h[len - strlen(suffix)] = '\0';
	char *dot = strchr(h, '.');
	if (!dot || strchr(dot + 1, '.') || dot == h || !dot[1] ||
	    (size_t)(dot - h) >= sizeof(out->label) || strlen(dot + 1) >= sizeof(out->server))
		return not_ours(err);
	*dot = '\0';
	snprintf(out->server, sizeof(out->server), "%s", dot + 1);
	return parse_label(h, out, err);
}

char *proxy_service_host_new(const struct platform *pf, const char *project_id,
			     const char *container_id, const char *segment, const char *server_name)
{
	return xasprintf("%s-%s-%s.%s.containers.%s", project_id, container_id, segment,
			 server_name, pf->cfg.public_domain);
}

/* ------------------------------------------------------------ resolution */

static bool container_live(const struct container *c)
{
	return c->status != CS_NONE && !container_status_in(c->status, CS_GONE) && c->user_id[0];
}

/* Fills the backend fields of r from container c (live, on this server). */
static int route_fill(struct platform *pf, const struct container *c, struct proxy_route *r,
		      struct error *err)
{
	if (!container_live(c) || strcmp(c->server_id, pf->server_id) != 0)
		return not_ours(err);
	if (r->kind == PROXY_KIT && !c->hoody_kit)
		return err_set(err, E_NOT_FOUND, "The Hoody Kit is disabled for this container");
	memcpy(r->container_id, c->id, sizeof(r->container_id));
	memcpy(r->project_id, c->project_id, sizeof(r->project_id));
	struct error scratch = {0};
	/* A stopped container has no address: the edge answers 502 then. */
	if (!pf->rt || pf->rto->net_endpoint(pf->rt, c->id, r->netns_path, sizeof(r->netns_path),
					     r->backend_ip, sizeof(r->backend_ip), &scratch) < 0) {
		r->netns_path[0] = '\0';
		r->backend_ip[0] = '\0';
	}
	r->dns[0] = '\0';
	if (r->kind == PROXY_PROXY && pf->rt && pf->rto->dns_servers)
		pf->rto->dns_servers(pf->rt, r->dns, sizeof(r->dns));
	r->ipv6 = r->kind == PROXY_PROXY && pf->rt && pf->rto->ipv6_on && pf->rto->ipv6_on(pf->rt);
	r->kit_socket[0] = '\0';
	if (r->kind == PROXY_KIT && pf->rt &&
	    pf->rto->kit_socket(pf->rt, c->id, r->kit_socket, sizeof(r->kit_socket), &scratch) < 0)
		r->kit_socket[0] = '\0';
	return 0;
}

static int resolve_direct(struct platform *pf, const struct proxy_host *h, struct proxy_route *r,
			  struct error *err)
{
	_cleanup_container_ struct container c = {0};
	int rc = -1;
	if (store_container_get(pf->store, h->container_id, &c, err) < 0) {
		not_ours(err);
		goto out;
	}
	if (strcmp(c.project_id, h->project_id) != 0) {
		not_ours(err);
		goto out;
	}
	r->kind = h->kind;
	snprintf(r->slug, sizeof(r->slug), "%s", h->slug);
	r->index = h->index;
	r->port = h->port;
	rc = route_fill(pf, &c, r, err);
out:
	return rc;
}

static int resolve_alias(struct platform *pf, const struct proxy_host *h, struct proxy_route *r,
			 struct error *err)
{
	_cleanup_proxy_alias_ struct proxy_alias a = {0};
	_cleanup_container_ struct container c = {0};
	int rc = -1;
	if (store_proxy_alias_get_name(pf->store, pf->server_id, h->label, &a, err) < 0 ||
	    !a.enabled || (a.expires_at && a.expires_at <= now_ms()) ||
	    store_container_get(pf->store, a.container_id, &c, err) < 0) {
		not_ours(err);
		goto out;
	}
	if (proxy_alias_target(&a, r, err) < 0)
		goto out;
	memcpy(r->alias_id, a.id, sizeof(r->alias_id));
	snprintf(r->target_path, sizeof(r->target_path), "%s", a.target_path ? a.target_path : "");
	r->allow_path_override = a.allow_path_override;
	rc = route_fill(pf, &c, r, err);
	r->alias_expires_ms = a.expires_at;
out:
	return rc;
}

int proxy_route_resolve(struct platform *pf, const char *host, struct proxy_route *out,
			struct error *err)
{
	struct proxy_host h;
	memset(out, 0, sizeof(*out));
	if (proxy_host_parse(host, pf->cfg.public_domain, &h, err) < 0)
		return -1;
	if (h.kind == PROXY_API && !h.alias) {
		out->kind = PROXY_API;
		memcpy(out->realm_id, h.realm_id, sizeof(out->realm_id));
		return 0;
	}
	/* One server answers for its own name only. */
	if (strcmp(h.server, pf->cfg.server_name) != 0)
		return not_ours(err);
	return h.alias ? resolve_alias(pf, &h, out, err) : resolve_direct(pf, &h, out, err);
}

/* ------------------------------------------------------------ index, path */

const char *proxy_index_param(const struct proxy_route *r)
{
	static const struct {
		const char *slug, *param;
	} map[] = {{"terminal", "terminal_id"},
		   {"display", "displayId"},
		   {"browser", "browser_id"},
		   {"code", "id"}};
	if (r->kind != PROXY_KIT)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (strcmp(r->slug, map[i].slug) == 0)
			return map[i].param;
	return NULL;
}

int proxy_effective_index(const struct proxy_route *r, const struct proxy_request_view *rq)
{
	const char *param = proxy_index_param(r);
	const char *v = param && rq && rq->query ? rq->query(rq->ctx, param) : NULL;
	if (v) {
		int n = parse_num(v, 0, 65535);
		if (n >= 0)
			return n;
	}
	return r->index;
}

int proxy_forward_path(const struct proxy_route *r, const char *path, char *out, size_t outlen)
{
	if (!path || !*path)
		path = "/";
	const char *q = strchr(path, '?');
	const char *tp = r->target_path;
	size_t tlen = strlen(tp), plen = q ? (size_t)(q - path) : strlen(path);
	int n;
	if (!r->alias_id[0] || !tlen)
		n = snprintf(out, outlen, "%s", path);
	else if (!r->allow_path_override || (plen == 1 && path[0] == '/'))
		n = snprintf(out, outlen, "%s%s", tp, q ? q : "");
	else /* "/base/" + "/x" must not become "/base//x" */
		n = snprintf(out, outlen, "%.*s%s", (int)(tp[tlen - 1] == '/' ? tlen - 1 : tlen),
			     tp, path);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
