/* Tunnels decided again (proxy.h "tunnels"). A WebSocket or CONNECT tunnel
 * is admitted by one decision and then makes no more requests; its grant
 * keeps the inputs of that decision so the same decision can be taken
 * again when access may have been withdrawn: the Host, client address,
 * method, the place reached, and the values of exactly the headers, cookies
 * and query parameters the decision read (only those present: an absent
 * value reads as absent again). A credential the request carried that no
 * rule looked at is not kept, so it cannot admit the tunnel later either:
 * a tunnel stays open for what admitted it, nothing else. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "platform/platform_int.h"
#include "common/util.h"
#include "platform/proxy_internal.h"
#include "platform/revoke.h"

#define GRANT_READS_MAX 64 /* values kept; a decision reading more is not replayable */
#define GRANT_RETRY_S 1	   /* a recheck that could not decide is due again */

enum { READ_HEADER, READ_COOKIE, READ_QUERY };

struct grant_read {
	uint8_t kind;
	char *name, *value;
};

struct proxy_grant {
	/* whose tunnel: what a change names */
	char container_id[ID_LEN + 1], project_id[ID_LEN + 1], user_id[ID_LEN + 1];
	/* the place reached: another one later (a retargeted alias) closes it */
	enum proxy_kind kind;
	char slug[PROXY_SLUG_MAX];
	int index, port;
	char alias_id[ID_LEN + 1];
	/* the request's inputs */
	char *host, *ip, *method;
	bool websocket, overflow;
	unsigned nreads;
	struct grant_read *reads;
	int64_t valid_until; /* unix s; 0 = nothing expires */
	int64_t retry_at;    /* unix s; 0 = none */
};

void proxy_grant_free(struct proxy_grant *g)
{
	if (!g)
		return;
	for (unsigned i = 0; i < g->nreads; i++) {
		free(g->reads[i].name);
		free(g->reads[i].value);
	}
	free(g->reads);
	free(g->host);
	free(g->ip);
	free(g->method);
	free(g);
}

/* ------------------------------------------------------------ capture */

static const struct grant_read *find_read(const struct proxy_grant *g, uint8_t kind,
					  const char *name)
{
	for (unsigned i = 0; i < g->nreads; i++) {
		const struct grant_read *r = &g->reads[i];
		if (r->kind == kind &&
		    (kind == READ_HEADER ? strcasecmp(r->name, name) : strcmp(r->name, name)) == 0)
			return r;
	}
	return NULL;
}

struct capture {
	const struct proxy_request_view *inner;
	struct proxy_grant *g;
};

static const char *keep(struct capture *cap, uint8_t kind, const char *name, const char *value)
{
	struct proxy_grant *g = cap->g;
	if (!value || find_read(g, kind, name))
		return value;
	if (g->nreads == GRANT_READS_MAX) {
		g->overflow = true;
		return value;
	}
	g->reads = xrealloc(g->reads, (g->nreads + 1) * sizeof(*g->reads));
	g->reads[g->nreads++] =
	    (struct grant_read){.kind = kind, .name = xstrdup(name), .value = xstrdup(value)};
	return value;
}

static const char *cap_header(void *ctx, const char *name)
{
	struct capture *c = ctx;
	return keep(c, READ_HEADER, name, c->inner->header(c->inner->ctx, name));
}

static const char *cap_cookie(void *ctx, const char *name)
{
	struct capture *c = ctx;
	return keep(c, READ_COOKIE, name, c->inner->cookie(c->inner->ctx, name));
}

static const char *cap_query(void *ctx, const char *name)
{
	struct capture *c = ctx;
	return keep(c, READ_QUERY, name, c->inner->query(c->inner->ctx, name));
}

/* ------------------------------------------------------------ replay */

static const char *replay(void *ctx, uint8_t kind, const char *name)
{
	const struct grant_read *r = find_read(ctx, kind, name);
	return r ? r->value : NULL;
}

static const char *re_header(void *ctx, const char *name)
{
	return replay(ctx, READ_HEADER, name);
}

static const char *re_cookie(void *ctx, const char *name)
{
	return replay(ctx, READ_COOKIE, name);
}

static const char *re_query(void *ctx, const char *name)
{
	return replay(ctx, READ_QUERY, name);
}

/* ------------------------------------------------------------ deciding */

static void note_place(struct proxy_grant *g, const struct proxy_route *r)
{
	g->kind = r->kind;
	memcpy(g->slug, r->slug, sizeof(g->slug));
	g->index = r->index;
	g->port = r->port;
	memcpy(g->alias_id, r->alias_id, sizeof(g->alias_id));
}

static bool same_place(const struct proxy_grant *g, const struct proxy_route *r)
{
	return g->kind == r->kind && strcmp(g->container_id, r->container_id) == 0 &&
	       strcmp(g->slug, r->slug) == 0 && g->index == r->index && g->port == r->port &&
	       strcmp(g->alias_id, r->alias_id) == 0;
}

/* The earlier of what the access check relied on and the alias's expiry. */
static int64_t valid_until(int64_t until, const struct proxy_route *r)
{
	int64_t alias = r->alias_expires_ms ? (r->alias_expires_ms + 999) / 1000 : 0;
	return alias && (!until || alias < until) ? alias : until;
}

int proxy_tunnel_decide(struct platform *pf, const char *host, const struct proxy_request_view *rq,
			struct proxy_route *out, struct proxy_grant **grant_new, struct error *err)
{
	struct proxy_grant *g = xcalloc(1, sizeof(*g));
	struct capture cap = {.inner = rq, .g = g};
	struct proxy_request_view view = *rq;
	int64_t until = 0;
	view.header = cap_header;
	view.cookie = cap_cookie;
	view.query = cap_query;
	view.ctx = &cap;
	view.valid_until = &until;
	_cleanup_container_ struct container c = {0};
	if (proxy_route_resolve(pf, host, out, err) < 0 ||
	    proxy_access_check(pf, out, &view, err) < 0) {
		proxy_grant_free(g);
		return -1;
	}
	g->host = xstrdup(host);
	g->ip = xstrdup(rq->client_ip ? rq->client_ip : "");
	g->method = xstrdup(rq->method ? rq->method : "");
	g->websocket = rq->websocket;
	g->valid_until = valid_until(until, out);
	memcpy(g->container_id, out->container_id, sizeof(g->container_id));
	memcpy(g->project_id, out->project_id, sizeof(g->project_id));
	note_place(g, out);
	/* the owner: their token and session changes touch this tunnel */
	struct error scratch = {0};
	if (out->kind != PROXY_API &&
	    store_container_get(pf->store, out->container_id, &c, &scratch) == 0)
		memcpy(g->user_id, c.user_id, sizeof(g->user_id));
	*grant_new = g;
	return 0;
}

bool proxy_grant_due(const struct proxy_grant *g)
{
	int64_t now = now_unix();
	return (g->valid_until && now >= g->valid_until) || (g->retry_at && now >= g->retry_at);
}

bool proxy_grant_allows(struct platform *pf, struct proxy_grant *g)
{
	struct proxy_route r;
	struct error err = {0};
	int64_t until = 0;
	struct proxy_request_view rq = {
	    .client_ip = g->ip,
	    .method = g->method,
	    .path = "/",
	    .websocket = g->websocket,
	    .header = re_header,
	    .cookie = re_cookie,
	    .query = re_query,
	    .ctx = g,
	    .valid_until = &until,
	};
	if (g->kind == PROXY_API)
		return true; /* the API decides its own requests; none follow an upgrade */
	if (g->overflow)
		return false; /* its inputs were not all kept: it cannot be decided again */
	if (proxy_route_resolve(pf, g->host, &r, &err) < 0 ||
	    proxy_access_check(pf, &r, &rq, &err) < 0) {
		if (proxy_error_status(&err) != 500)
			return false;
		g->retry_at = now_unix() + GRANT_RETRY_S;
		return true;
	}
	g->retry_at = 0;
	g->valid_until = valid_until(until, &r);
	return same_place(g, &r);
}

/* ------------------------------------------------------------ changes */

uint64_t proxy_access_seq(struct platform *pf)
{
	(void)pf;
	return revoke_seq();
}

/* The changes since a number, by the id they name (open addressing over a
 * power of two at least twice their count): touching a tunnel costs three
 * lookups however many changes came. */
struct proxy_changes {
	bool all_recheck, all_close;
	size_t cap;
	struct revoke_change slots[];
};

static uint64_t id_hash(enum revoke_scope scope, const char *id)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)scope;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return h;
}

static struct revoke_change *slot_of(const struct proxy_changes *chs, enum revoke_scope scope,
				     const char *id)
{
	size_t i = id_hash(scope, id) & (chs->cap - 1);
	for (;; i = (i + 1) & (chs->cap - 1)) {
		struct revoke_change *s = (struct revoke_change *)&chs->slots[i];
		if (!s->seq || (s->scope == scope && strcmp(s->id, id) == 0))
			return s;
	}
}

static void changes_add(struct proxy_changes *chs, const struct revoke_change *c)
{
	if (c->scope == REVOKE_ALL) {
		chs->all_recheck = true;
		chs->all_close = chs->all_close || c->close;
		return;
	}
	struct revoke_change *s = slot_of(chs, c->scope, c->id);
	bool close = c->close || (s->seq && s->close);
	*s = *c;
	s->close = close;
}

struct proxy_changes *proxy_changes_new(struct platform *pf, uint64_t since, uint64_t *seq_out)
{
	(void)pf;
	struct revoke_change *got = xmalloc(REVOKE_LOG_SIZE * sizeof(*got));
	bool lost = false;
	size_t n = revoke_since(since, got, REVOKE_LOG_SIZE, &lost);
	size_t cap = 16;
	while (cap < 2 * n + 2)
		cap *= 2;
	struct proxy_changes *chs = xcalloc(1, sizeof(*chs) + cap * sizeof(chs->slots[0]));
	chs->cap = cap;
	chs->all_recheck = lost;
	for (size_t i = 0; i < n; i++)
		changes_add(chs, &got[i]);
	*seq_out = n ? got[n - 1].seq : since;
	free(got);
	return chs;
}

void proxy_changes_free(struct proxy_changes *chs)
{
	free(chs);
}

static enum proxy_touch touch_of(const struct proxy_changes *chs, enum revoke_scope scope,
				 const char *id)
{
	if (!id[0])
		return PROXY_UNTOUCHED;
	const struct revoke_change *s = slot_of(chs, scope, id);
	return !s->seq ? PROXY_UNTOUCHED : s->close ? PROXY_CLOSE : PROXY_RECHECK;
}

enum proxy_touch proxy_changes_touch(const struct proxy_changes *chs, const struct proxy_grant *g)
{
	enum proxy_touch t = chs->all_close	? PROXY_CLOSE
			     : chs->all_recheck ? PROXY_RECHECK
						: PROXY_UNTOUCHED;
	enum proxy_touch each[] = {touch_of(chs, REVOKE_CONTAINER, g->container_id),
				   touch_of(chs, REVOKE_PROJECT, g->project_id),
				   touch_of(chs, REVOKE_USER, g->user_id)};
	for (size_t i = 0; i < ARRAY_SIZE(each); i++)
		if (each[i] > t)
			t = each[i];
	return t;
}
