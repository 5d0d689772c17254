/* The per-connection memo of proxy decisions (see proxy.h). A keep-alive
 * client sends the same Host and credentials request after request; the
 * decision costs several database reads and, for a claim, a signature
 * check, while proving it unchanged costs a few keyed hashes and one atomic
 * load. Values are compared by SipHash-2-4 (crypto_shorthash) under a key
 * drawn at start, so nobody can craft another credential with the same
 * hash. */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "platform/platform_int.h"
#include "common/util.h"
#include "platform/proxy.h"
#include "store/store.h"

enum { READ_HEADER, READ_COOKIE, READ_QUERY };

static unsigned char hash_key[crypto_shorthash_KEYBYTES];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void key_init(void)
{
	randombytes_buf(hash_key, sizeof(hash_key));
}

static uint64_t hash_bytes(const void *p, size_t n)
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, p, n, hash_key);
	return h;
}

static uint64_t hash_str(const char *s)
{
	return hash_bytes(s, strlen(s));
}

/* Host, client address, method and WebSocket flag, NUL-separated. */
static uint64_t request_key(const char *host, const struct proxy_request_view *rq)
{
	char buf[PROXY_HOST_MAX + 128];
	int n = snprintf(buf, sizeof(buf), "%s%c%s%c%s%c%d", host, 0,
			 rq->client_ip ? rq->client_ip : "", 0, rq->method ? rq->method : "", 0,
			 rq->websocket);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf);
	return hash_bytes(buf, len);
}

/* ------------------------------------------------------------ recording */

struct recorder {
	const struct proxy_request_view *inner;
	struct proxy_memo *memo;
	bool overflow; /* too many reads or a long name: not memoized */
};

static const char *record(struct recorder *r, uint8_t kind, const char *name, const char *value)
{
	struct proxy_memo *m = r->memo;
	if (m->nreads == PROXY_MEMO_READS || strlen(name) >= sizeof(m->reads[0].name)) {
		r->overflow = true;
		return value;
	}
	struct proxy_memo_read *x = &m->reads[m->nreads++];
	x->kind = kind;
	x->present = value != NULL;
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->value = value ? hash_str(value) : 0;
	return value;
}

static const char *rec_header(void *ctx, const char *name)
{
	struct recorder *r = ctx;
	return record(r, READ_HEADER, name, r->inner->header(r->inner->ctx, name));
}

static const char *rec_cookie(void *ctx, const char *name)
{
	struct recorder *r = ctx;
	return record(r, READ_COOKIE, name, r->inner->cookie(r->inner->ctx, name));
}

static const char *rec_query(void *ctx, const char *name)
{
	struct recorder *r = ctx;
	return record(r, READ_QUERY, name, r->inner->query(r->inner->ctx, name));
}

/* ------------------------------------------------------------ replaying */

static const char *read_again(const struct proxy_request_view *rq, const struct proxy_memo_read *x)
{
	switch (x->kind) {
	case READ_HEADER:
		return rq->header(rq->ctx, x->name);
	case READ_COOKIE:
		return rq->cookie(rq->ctx, x->name);
	default:
		return rq->query(rq->ctx, x->name);
	}
}

static bool memo_holds(const struct proxy_memo *m, uint64_t key, uint64_t gen,
		       const struct proxy_request_view *rq)
{
	if (!m->valid || m->key != key || m->generation != gen ||
	    mono_ns() / 1000000 - m->at_ms > PROXY_MEMO_TTL_MS)
		return false;
	for (unsigned i = 0; i < m->nreads; i++) {
		const char *v = read_again(rq, &m->reads[i]);
		if ((v != NULL) != m->reads[i].present || (v && hash_str(v) != m->reads[i].value))
			return false;
	}
	return true;
}

int proxy_request_decide(struct platform *pf, const char *host, const struct proxy_request_view *rq,
			 struct proxy_memo *memo, struct proxy_route *out, struct error *err)
{
	pthread_once(&key_once, key_init);
	/* read before deciding: a commit during the decision makes it stale */
	uint64_t gen = store_write_generation(pf->store);
	uint64_t key = request_key(host, rq);
	if (memo && memo_holds(memo, key, gen, rq)) {
		*out = memo->route;
		return 0;
	}
	if (!memo)
		return proxy_route_resolve(pf, host, out, err) < 0 ||
			       proxy_access_check(pf, out, rq, err) < 0
			   ? -1
			   : 0;
	memo->valid = false;
	memo->nreads = 0;
	struct recorder r = {.inner = rq, .memo = memo};
	struct proxy_request_view rec = *rq;
	rec.header = rec_header;
	rec.cookie = rec_cookie;
	rec.query = rec_query;
	rec.ctx = &r;
	if (proxy_route_resolve(pf, host, out, err) < 0 ||
	    proxy_access_check(pf, out, &rec, err) < 0)
		return -1;
	if (!r.overflow) {
		memo->valid = true;
		memo->generation = gen;
		memo->at_ms = mono_ns() / 1000000;
		memo->key = key;
		memo->route = *out;
	}
	return 0;
}
