/* Who may reach a container service through the proxy (kit-api.md §2): the
 * owner's container claim, auth groups and program rules of the container's
 * and project's documents, default allow/deny and the enable_proxy kill
 * switch. The platform's own API credentials are never looked at here:
 * they reach a Kit only through the claim pair, or when a token group's
 * value happens to be one. */
#include <arpa/inet.h>
#include <jwt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "platform/platform_int.h"
#include "common/util.h"
#include "platform/auth.h"
#include "platform/claims.h"
#include "platform/proxy_internal.h"

#define CRED_MAX 8192 /* longest credential looked at (a JWT with an RSA signature fits) */
#define CLAIM_HEADER_MAX 4096
#define REALM_TRIES_MAX 16

/* ------------------------------------------------------------ request view */

static const char *hdr(const struct proxy_request_view *rq, const char *name)
{
	return rq && rq->header ? rq->header(rq->ctx, name) : NULL;
}

static const char *cookie(const struct proxy_request_view *rq, const char *name)
{
	return rq && rq->cookie ? rq->cookie(rq->ctx, name) : NULL;
}

static const char *query(const struct proxy_request_view *rq, const char *name)
{
	return rq && rq->query ? rq->query(rq->ctx, name) : NULL;
}

/* Browsers cannot set headers on a WebSocket: ?token= stands in (§2.1). */
static const char *ws_token(const struct proxy_request_view *rq)
{
	return rq && rq->websocket ? query(rq, "token") : NULL;
}

/* A pass that relies on a fact expiring at `when` (unix s) holds until then
 * only: a tunnel it admits is decided again at that time. */
static void relies_until(const struct proxy_request_view *rq, int64_t when)
{
	if (rq && rq->valid_until && when > 0 && (!*rq->valid_until || when < *rq->valid_until))
		*rq->valid_until = when;
}

static const char *skip_scheme(const char *v, const char *scheme)
{
	size_t n = strlen(scheme);
	if (v && strncasecmp(v, scheme, n) == 0 && (v[n] == ' ' || v[n] == '+')) {
		v += n;
		while (*v == ' ' || *v == '+')
			v++;
	}
	return v;
}

static bool same_secret(const char *a, const char *b)
{
	size_t n = strlen(a);
	return n == strlen(b) && n <= CRED_MAX && sodium_memcmp(a, b, n) == 0;
}

/* ------------------------------------------------------------ groups */

void proxy_password_hash(const char *salt, const char *password, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)salt, strlen(salt));
	crypto_hash_sha256_update(&st, (const unsigned char *)password, strlen(password));
	crypto_hash_sha256_final(&st, h);
	hex_encode(h, sizeof(h), out);
}

/* "Basic <b64 user:pass>" from Authorization or a WebSocket ?token=. */
static bool basic_credentials(const struct proxy_request_view *rq, char *user, size_t ulen,
			      const char **pass)
{
	static _Thread_local char buf[1024];
	const char *sources[] = {hdr(rq, "Authorization"), ws_token(rq)};
	for (size_t i = 0; i < ARRAY_SIZE(sources); i++) {
		const char *v = sources[i];
		const char *b64 = skip_scheme(v, "Basic");
		size_t n = 0;
		if (!v || b64 == v || strlen(b64) >= sizeof(buf) ||
		    sodium_base642bin((unsigned char *)buf, sizeof(buf) - 1, b64, strlen(b64), NULL,
				      &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
			continue;
		buf[n] = '\0';
		char *colon = memchr(buf, ':', n);
		if (!colon || strlen(buf) != n || (size_t)(colon - buf) >= ulen)
			continue;
		*colon = '\0';
		snprintf(user, ulen, "%s", buf);
		*pass = colon + 1;
		return true;
	}
	return false;
}

static bool password_matches(const json_t *g, const struct proxy_request_view *rq)
{
	char user[256], hash[65];
	const char *pass;
	const char *want_user = json_string_value(json_object_get(g, "username"));
	const char *salt = json_string_value(json_object_get(g, "salt"));
	const char *want = json_string_value(json_object_get(g, "password"));
	if (!want_user || !salt || !want || !basic_credentials(rq, user, sizeof(user), &pass))
		return false;
	proxy_password_hash(salt, pass, hash);
	/* both compared always: no early exit telling which one was wrong */
	bool ok_user = same_secret(user, want_user), ok_pass = same_secret(hash, want);
	sodium_memzero(hash, sizeof(hash));
	return ok_user && ok_pass;
}

/* A configured header's value without an optional "Bearer " (clients add it
 * even to custom headers, §2.1). */
static const char *header_cred(const struct proxy_request_view *rq, const char *name)
{
	return skip_scheme(hdr(rq, name), "Bearer");
}

static bool token_matches(const json_t *g, const struct proxy_request_view *rq)
{
	const char *want = json_string_value(json_object_get(g, "value"));
	const char *h = json_string_value(json_object_get(g, "header"));
	const char *c = json_string_value(json_object_get(g, "cookie"));
	const char *p = json_string_value(json_object_get(g, "param"));
	const char *got = h ? header_cred(rq, h) : c ? cookie(rq, c) : p ? query(rq, p) : NULL;
	const char *ws = skip_scheme(ws_token(rq), "Bearer");
	return want && ((got && same_secret(got, want)) || (ws && same_secret(ws, want)));
}

/* Every grant of the token equals the configured claims (strings, numbers,
 * booleans compared as JSON values). */
static bool jwt_claims_match(jwt_t *jwt, const json_t *claims)
{
	if (!json_object_size(claims))
		return true;
	char *grants = jwt_get_grants_json(jwt, NULL);
	json_t *all = grants ? json_loads(grants, 0, NULL) : NULL;
	free(grants);
	bool ok = json_is_object(all);
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)claims, k, v)
	{
		if (ok && !json_equal(json_object_get(all, k), v))
			ok = false;
	}
	json_decref(all);
	return ok;
}

static jwt_alg_t jwt_alg_of(const char *name)
{
	if (name && strcmp(name, "RS256") == 0)
		return JWT_ALG_RS256;
	if (name && strcmp(name, "ES256") == 0)
		return JWT_ALG_ES256;
	return JWT_ALG_HS256;
}

static bool jwt_valid(const json_t *g, const char *token, const struct proxy_request_view *rq)
{
	const char *secret = json_string_value(json_object_get(g, "secret"));
	jwt_alg_t alg = jwt_alg_of(json_string_value(json_object_get(g, "algorithm")));
	jwt_t *jwt = NULL;
	if (!secret || !token || strlen(token) > CRED_MAX ||
	    jwt_decode(&jwt, token, (const unsigned char *)secret, (int)strlen(secret)) != 0 ||
	    !jwt)
		return false;
	/* The header's alg must be the configured one: an HS256 token "signed"
	 * with an RS256 group's public key must not pass. */
	int64_t now = now_unix();
	long exp = jwt_get_grant_int(jwt, "exp"), nbf = jwt_get_grant_int(jwt, "nbf");
	bool ok = jwt_get_alg(jwt) == alg && (!exp || exp > now) && (!nbf || nbf <= now) &&
		  jwt_claims_match(jwt, json_object_get(g, "claims"));
	if (ok)
		relies_until(rq, exp);
	jwt_free(jwt);
	return ok;
}

static const char *jwt_source(const struct proxy_request_view *rq, const char *src)
{
	if (strncmp(src, "header:", 7) == 0)
		return header_cred(rq, src + 7);
	if (strncmp(src, "cookie:", 7) == 0)
		return cookie(rq, src + 7);
	return NULL;
}

static bool jwt_matches(const json_t *g, const struct proxy_request_view *rq)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(g, "sources"), i, s)
	{
		const char *src = json_string_value(s);
		if (src && jwt_valid(g, jwt_source(rq, src), rq))
			return true;
	}
	return jwt_valid(g, skip_scheme(ws_token(rq), "Bearer"), rq);
}

static bool ipv4_in(const char *ip, const char *range)
{
	char net[32];
	const char *slash = range ? strchr(range, '/') : NULL;
	struct in_addr a, n;
	if (!ip || !slash || (size_t)(slash - range) >= sizeof(net))
		return false;
	memcpy(net, range, (size_t)(slash - range));
	net[slash - range] = '\0';
	int bits = atoi(slash + 1);
	/* an IPv4 client seen on a dual-stack socket */
	if (strncmp(ip, "::ffff:", 7) == 0)
		ip += 7;
	if (bits < 0 || bits > 32 || inet_pton(AF_INET, ip, &a) != 1 ||
	    inet_pton(AF_INET, net, &n) != 1)
		return false;
	uint32_t mask = bits ? htonl(~0u << (32 - bits)) : 0;
	return (a.s_addr & mask) == (n.s_addr & mask);
}

enum group_type { G_PASSWORD, G_JWT, G_TOKEN, G_IP, G_UNKNOWN };

/* No "type" field: the shape tells (§2.2). */
static enum group_type group_type(const json_t *g)
{
	if (json_object_get(g, "username"))
		return G_PASSWORD;
	if (json_object_get(g, "secret"))
		return G_JWT;
	if (json_object_get(g, "value"))
		return G_TOKEN;
	if (json_object_get(g, "range"))
		return G_IP;
	return G_UNKNOWN;
}

static bool group_matches(const json_t *g, const struct proxy_request_view *rq)
{
	switch (group_type(g)) {
	case G_PASSWORD:
		return password_matches(g, rq);
	case G_JWT:
		return jwt_matches(g, rq);
	case G_TOKEN:
		return token_matches(g, rq);
	case G_IP:
		return ipv4_in(rq ? rq->client_ip : NULL,
			       json_string_value(json_object_get(g, "range")));
	case G_UNKNOWN:
		break;
	}
	return false;
}

/* ------------------------------------------------------------ rules */

static bool range_has(const char *s, int n)
{
	if (strcmp(s, "*") == 0)
		return true;
	char *end;
	long lo = strtol(s, &end, 10), hi = lo;
	if (end == s)
		return false;
	if (*end == '-') {
		const char *h = end + 1;
		hi = strtol(h, &end, 10);
		if (end == h)
			return false;
	}
	return *end == '\0' && n >= lo && n <= hi;
}

static bool rule_grants(const json_t *rule, int n)
{
	if (json_is_boolean(rule))
		return json_is_true(rule);
	if (json_is_integer(rule))
		return json_integer_value(rule) == n;
	if (json_is_string(rule))
		return range_has(json_string_value(rule), n);
	size_t i;
	json_t *e;
	json_array_foreach(rule, i, e)
	{
		if (!json_is_array(e) && rule_grants(e, n))
			return true;
	}
	return false;
}

static bool rules_grant(const json_t *rules, const struct proxy_target *t)
{
	const json_t *r = json_object_get(rules, t->program);
	if (!r && t->fallback)
		r = json_object_get(rules, t->fallback);
	return r && rule_grants(r, t->number);
}

void proxy_target_of(const struct proxy_route *r, const struct proxy_request_view *rq,
		     struct proxy_target *out)
{
	memset(out, 0, sizeof(*out));
	switch (r->kind) {
	case PROXY_KIT:
		out->program = strcmp(r->slug, "n") == 0 ? "notifications" : r->slug;
		out->number = proxy_effective_index(r, rq);
		break;
	case PROXY_HTTP_PORT:
		out->program = "http";
		out->number = r->port;
		break;
	case PROXY_HTTPS_PORT:
		out->program = "https";
		out->fallback = "http";
		out->number = r->port;
		break;
	case PROXY_SSH:
		out->program = "ssh";
		out->number = 22;
		break;
	case PROXY_PROXY:
	case PROXY_API:
		out->program = "proxy";
		out->number = 1;
		break;
	}
}

/* ------------------------------------------------------------ decision */

static const json_t *doc_get(const json_t *doc, const char *key)
{
	return doc ? json_object_get(doc, key) : NULL;
}

/* A container's own enable_proxy wins over its project's (§2.2 step 1). */
static bool proxy_enabled(const struct proxy_policy *pol)
{
	const json_t *c = doc_get(pol->container_doc, "enable_proxy");
	const json_t *p = doc_get(pol->project_doc, "enable_proxy");
	if (json_is_boolean(c))
		return json_is_true(c);
	return !json_is_boolean(p) || json_is_true(p);
}

static bool default_allows(const struct proxy_policy *pol)
{
	const json_t *d = pol->container_doc ? doc_get(pol->container_doc, "default")
			  : pol->project_doc ? doc_get(pol->project_doc, "default")
					     : NULL;
	if (!pol->container_doc && !pol->project_doc)
		return pol->open_default;
	const char *s = json_string_value(d);
	return s && strcmp(s, "allow") == 0;
}

struct verdict {
	bool allowed;
	bool authenticated; /* a credential group (not ip) matched */
	bool presented;	    /* a group's credential location carried something */
};

/* Whether the request carries a value where group g looks for one: a
 * credential that matches nothing is 401 INVALID_TOKEN, none at all
 * MISSING_TOKEN. */
static bool group_presented(const json_t *g, const struct proxy_request_view *rq)
{
	const char *h = json_string_value(json_object_get(g, "header"));
	const char *c = json_string_value(json_object_get(g, "cookie"));
	const char *p = json_string_value(json_object_get(g, "param"));
	size_t i;
	json_t *s;
	if ((h && hdr(rq, h)) || (c && cookie(rq, c)) || (p && query(rq, p)))
		return true;
	json_array_foreach(json_object_get(g, "sources"), i, s)
	{
		const char *src = json_string_value(s);
		if (src && jwt_source(rq, src))
			return true;
	}
	return false;
}

/* Groups of one document; `shadow` (the container's) hides same-named
 * groups of the project. */
static void judge_doc(const json_t *doc, const json_t *shadow, const struct proxy_target *t,
		      const struct proxy_request_view *rq, struct verdict *v)
{
	const char *name;
	json_t *g;
	json_object_foreach((json_t *)doc_get(doc, "groups"), name, g)
	{
		if (v->allowed)
			return;
		if (json_object_get(doc_get(shadow, "groups"), name))
			continue;
		v->presented = v->presented || group_presented(g, rq);
		if (!group_matches(g, rq))
			continue;
		if (group_type(g) != G_IP)
			v->authenticated = true;
		v->allowed = rules_grant(json_object_get(doc_get(doc, "permissions"), name), t);
	}
}

/* Whether the request carries anything that looks like a credential. */
static bool presented(const struct proxy_request_view *rq)
{
	return hdr(rq, "Authorization") || ws_token(rq);
}

int proxy_decide(const struct proxy_policy *pol, const struct proxy_target *t,
		 const struct proxy_request_view *rq, enum claim_result claim, struct error *err)
{
	if (!proxy_enabled(pol))
		return err_set(err, E_FORBIDDEN, "The proxy is disabled for this container");
	if (claim == CLAIM_OWNER)
		return 0;
	struct verdict v = {0};
	judge_doc(pol->container_doc, NULL, t, rq, &v);
	judge_doc(pol->project_doc, pol->container_doc, t, rq, &v);
	if (v.allowed || default_allows(pol))
		return 0;
	if (v.authenticated || claim == CLAIM_FOREIGN)
		return err_set(err, E_FORBIDDEN, "Access to %s %d is not permitted", t->program,
			       t->number);
	if (claim == CLAIM_INVALID || v.presented || presented(rq))
		return err_set(err, E_INVALID_TOKEN, "Invalid or expired credentials");
	return err_set(err, E_MISSING_TOKEN, "Authentication required");
}

/* ------------------------------------------------------------ owner claim */

/* X-Hoody-Token names a principal: the claim's subject, who must own c.
 * A token that authenticates nobody is CLAIM_INVALID (401: the client
 * refreshes), someone else CLAIM_FOREIGN (403). */
static enum claim_result token_owner(struct platform *pf, const struct container *c,
				     const char *token, const char *client_ip)
{
	char authz[CRED_MAX + 16];
	if (strlen(token) > CRED_MAX)
		return CLAIM_INVALID;
	snprintf(authz, sizeof(authz), "Bearer %s", skip_scheme(token, "Bearer"));
	json_t *realms = c->realm_ids ? json_loads(c->realm_ids, 0, NULL) : NULL;
	enum claim_result res = CLAIM_INVALID;
	/* A realm-bound token authenticates on one of the container's realms. */
	for (size_t i = 0;
	     res != CLAIM_OWNER && i <= json_array_size(realms) && i <= REALM_TRIES_MAX; i++) {
		const char *realm = i ? json_string_value(json_array_get(realms, i - 1)) : "";
		struct principal who = {0};
		struct error e = {0};
		if (realm && auth_authenticate(pf, authz, client_ip, realm, &who, &e) == 0)
			res = strcmp(who.user_id, c->user_id) == 0 &&
				      principal_sees_realms(&who, c->realm_ids) &&
				      principal_require(&who, "containers.read", &e) == 0
				  ? CLAIM_OWNER
				  : CLAIM_FOREIGN;
		principal_clear(&who);
	}
	json_decref(realms);
	return res;
}

static enum claim_result claim_payload_check(struct platform *pf, const struct container *c,
					     const json_t *payload, const char *token,
					     const struct proxy_request_view *rq)
{
	const char *sub = json_string_value(json_object_get(payload, "sub"));
	const char *cid = json_string_value(json_object_get(payload, "containerId"));
	json_int_t exp = json_integer_value(json_object_get(payload, "exp"));
	if (!sub || !cid || exp <= now_unix())
		return CLAIM_INVALID;
	if (strcmp(cid, c->id) != 0 || strcmp(sub, c->user_id) != 0)
		return CLAIM_FOREIGN;
	relies_until(rq, exp);
	return token_owner(pf, c, token, rq->client_ip);
}

static enum claim_result claim_check(struct platform *pf, const struct container *c,
				     const struct proxy_request_view *rq)
{
	const char *raw = hdr(rq, "X-Hoody-Container-Claim");
	const char *token = hdr(rq, "X-Hoody-Token");
	if (!raw && !token)
		return CLAIM_NONE;
	if (!raw || !token || strlen(raw) > CLAIM_HEADER_MAX)
		return CLAIM_INVALID;
	json_t *claim = json_loads(raw, JSON_REJECT_DUPLICATES, NULL), *payload = NULL;
	struct keyset *ks = NULL;
	struct error e = {0};
	unsigned char pk[SIGNING_PK_BYTES];
	enum claim_result res = CLAIM_INVALID;
	const char *kid = json_string_value(json_object_get(claim, "kid"));
	if (kid && claims_keyset(pf, &ks, &e) == 0 && keyset_public_key(ks, kid, pk) &&
	    claim_verify(claim, pk, &payload, &e) == 0)
		res = claim_payload_check(pf, c, payload, token, rq);
	json_decref(payload);
	json_decref(claim);
	keyset_unref(ks);
	return res;
}

/* ------------------------------------------------------------ entry points */

void proxy_policy_clear(struct proxy_policy *p)
{
	json_decref(p->container_doc);
	json_decref(p->project_doc);
	p->container_doc = p->project_doc = NULL;
}

static int doc_load(struct platform *pf, const char *id, json_t **out, struct error *err)
{
	struct proxy_doc d = {0};
	*out = NULL;
	if (store_proxy_doc_get(pf->store, id, &d, err) < 0) {
		proxy_doc_clear(&d);
		return err->code == E_NOT_FOUND ? 0 : -1;
	}
	if (d.document)
		*out = json_loads(d.document, 0, NULL);
	proxy_doc_clear(&d);
	return 0;
}

int proxy_policy_load(struct platform *pf, const char *container_id, const char *project_id,
		      struct proxy_policy *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	out->open_default = pf->cfg.proxy_open_default;
	if (doc_load(pf, container_id, &out->container_doc, err) < 0 ||
	    doc_load(pf, project_id, &out->project_doc, err) < 0) {
		proxy_policy_clear(out);
		return -1;
	}
	return 0;
}

int proxy_access_check(struct platform *pf, const struct proxy_route *r,
		       const struct proxy_request_view *rq, struct error *err)
{
	if (r->kind == PROXY_API)
		return 0;
	_cleanup_container_ struct container c = {0};
	struct proxy_policy pol = {0};
	struct proxy_target t;
	int rc = -1;
	if (store_container_get(pf->store, r->container_id, &c, err) < 0) {
		err_set(err, E_NOT_FOUND, "No container answers at this host name");
		goto out;
	}
	if (proxy_policy_load(pf, c.id, c.project_id, &pol, err) < 0)
		goto out;
	proxy_target_of(r, rq, &t);
	rc = proxy_decide(&pol, &t, rq, claim_check(pf, &c, rq), err);
out:
	proxy_policy_clear(&pol);
	return rc;
}

int proxy_error_status(const struct error *err)
{
	switch (err ? err->code : E_INTERNAL) {
	case E_MISSING_TOKEN:
	case E_INVALID_TOKEN:
	case E_TOKEN_EXPIRED:
		return 401;
	case E_FORBIDDEN:
		return 403;
	case E_NOT_FOUND:
	case E_CONTAINER_NOT_FOUND:
		return 404;
	default:
		return 500;
	}
}
