/* The hostname proxy's platform side: hostname parsing (kit-api.md §1), the
 * index mapping (§1.4), alias paths, and the access decision (§2) — pure
 * on synthetic documents, then through proxy_access_check against a real
 * store with real claims and real hdy_ tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jwt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "platform/platform_int.h"
#include "platform/auth.h"
#include "platform/claims.h"
#include "platform/proxy_internal.h"
#include "platform/revoke.h"
#include "store/store.h"

#define P "0123456789abcdef01234567"
#define C "89abcdef0123456789abcdef"
#define DOM "example.test"

/* ------------------------------------------------------------ parsing */

static int parse(const char *host, struct proxy_host *h)
{
	struct error err = {0};
	int rc = proxy_host_parse(host, DOM, h, &err);
	if (rc < 0)
		assert_int_equal(err.code, E_NOT_FOUND);
	return rc;
}

static void test_parse_services(void **state)
{
	struct proxy_host h;
	assert_int_equal(parse(P "-" C "-terminal-1.node-us.containers." DOM, &h), 0);
	assert_int_equal(h.kind, PROXY_KIT);
	assert_string_equal(h.slug, "terminal");
	assert_int_equal(h.index, 1);
	assert_string_equal(h.project_id, P);
	assert_string_equal(h.container_id, C);
	assert_string_equal(h.server, "node-us");
	assert_false(h.alias);

	/* case, port and trailing dot do not matter */
	assert_int_equal(parse(P "-" C "-FILES-2.Node-US.containers.EXAMPLE.test.:8443", &h), 0);
	assert_string_equal(h.slug, "files");
	assert_int_equal(h.index, 2);
	assert_string_equal(h.server, "node-us");

	assert_int_equal(parse(P "-" C "-n-1.s.containers." DOM, &h), 0);
	assert_string_equal(h.slug, "n");
	assert_int_equal(parse(P "-" C "-terminal-0.s.containers." DOM, &h), 0);
	assert_int_equal(h.index, 0);
	assert_int_equal(parse(P "-" C "-terminal-9999.s.containers." DOM, &h), 0);
	assert_int_equal(parse(P "-" C "-desktop-63935.s.containers." DOM, &h), 0);
	assert_int_equal(h.index, 63935);

	assert_int_equal(parse(P "-" C "-http-8080.s.containers." DOM, &h), 0);
	assert_int_equal(h.kind, PROXY_HTTP_PORT);
	assert_int_equal(h.port, 8080);
	assert_int_equal(parse(P "-" C "-https-443.s.containers." DOM, &h), 0);
	assert_int_equal(h.kind, PROXY_HTTPS_PORT);
	assert_int_equal(h.port, 443);
	assert_int_equal(parse(P "-" C "-http-65535.s.containers." DOM, &h), 0);
	assert_int_equal(parse(P "-" C "-ssh.s.containers." DOM, &h), 0);
	assert_int_equal(h.kind, PROXY_SSH);
	assert_int_equal(parse(P "-" C "-proxy.s.containers." DOM, &h), 0);
	assert_int_equal(h.kind, PROXY_PROXY);
}

static void test_parse_api_and_alias(void **state)
{
	struct proxy_host h;
	assert_int_equal(parse("api." DOM, &h), 0);
	assert_int_equal(h.kind, PROXY_API);
	assert_string_equal(h.realm_id, "");
	assert_int_equal(parse(P ".api." DOM ":8080", &h), 0);
	assert_int_equal(h.kind, PROXY_API);
	assert_string_equal(h.realm_id, P);

	assert_int_equal(parse("my-app.node-us.containers." DOM, &h), 0);
	assert_true(h.alias);
	assert_string_equal(h.label, "my-app");
	assert_string_equal(h.server, "node-us");
	char rnd[80];
	snprintf(rnd, sizeof(rnd), "%s%s.s.containers." DOM, P, P);
	assert_int_equal(parse(rnd, &h), 0);
	assert_true(h.alias);
}

static void test_parse_refusals(void **state)
{
	static const char *const bad[] = {
	    "",
	    "example.test",
	    "containers." DOM,
	    "x.api." DOM,
	    "api.other.test",
	    P "-" C "-terminal-1.containers." DOM,	 /* no server */
	    P "-" C "-terminal-1.a.b.containers." DOM,	 /* two server labels */
	    P "-" C "-terminal-10000.s.containers." DOM, /* above 9999 */
	    P "-" C "-files-0.s.containers." DOM,	 /* only terminal has 0 */
	    P "-" C "-terminal-01.s.containers." DOM,	 /* leading zero */
	    P "-" C "-terminal-.s.containers." DOM,
	    P "-" C "-terminal.s.containers." DOM,
	    P "-" C "-http-0.s.containers." DOM,
	    P "-" C "-http-65536.s.containers." DOM,
	    P "-" C "-http-80x.s.containers." DOM,
	    P "-" C "-notifications-1.s.containers." DOM,
	    P "-" C "-editor-1.s.containers." DOM,
	    P "-" C "-sshx.s.containers." DOM,
	    P "-" C "-desktop-63936.s.containers." DOM,
	    "0123456789ABCDEF01234567-" C "-terminal-1.s.containers.other.test",
	    "ab.s.containers." DOM, /* alias too short */
	    "-ab-.s.containers." DOM,
	    "a_b_c.s.containers." DOM,
	    "[::1]:80",
	    ".s.containers." DOM,
	    "x..containers." DOM,
	};
	struct proxy_host h;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (parse(bad[i], &h) == 0)
			fail_msg("parsed %s", bad[i]);
	}
	char long_host[400];
	memset(long_host, 'a', sizeof(long_host) - 1);
	long_host[sizeof(long_host) - 1] = '\0';
	assert_int_equal(parse(long_host, &h), -1);
	/* a 24-hex pair without a segment is not an alias either: "{p}-{c}" has
	 * no documented service */
	assert_int_equal(parse(P "-" C ".s.containers." DOM, &h), -1);
}

static void test_alias_names(void **state)
{
	assert_true(proxy_alias_name_valid("abc"));
	assert_true(proxy_alias_name_valid("my-app-2"));
	assert_false(proxy_alias_name_valid("ab"));
	assert_false(proxy_alias_name_valid("-abc"));
	assert_false(proxy_alias_name_valid("abc-"));
	assert_false(proxy_alias_name_valid("aBc"));
	char s[80];
	memset(s, 'a', 61);
	s[61] = '\0';
	assert_true(proxy_alias_name_valid(s));
	s[61] = 'a';
	s[62] = '\0';
	assert_false(proxy_alias_name_valid(s));
	assert_true(proxy_alias_name_reserved("proxy"));
	assert_true(proxy_alias_name_reserved("containers"));
	assert_true(proxy_alias_name_reserved("workspaces"));
	assert_true(proxy_alias_name_reserved("proxy-x"));
	assert_true(proxy_alias_name_reserved("workspaces-1"));
	assert_false(proxy_alias_name_reserved("proxyx"));
}

/* ------------------------------------------------------------ request views */

struct kv {
	const char *k, *v;
};
struct fake {
	struct kv headers[8], cookies[4], query[4];
};

static const char *find(const struct kv *arr, size_t n, const char *k, bool nocase)
{
	for (size_t i = 0; i < n && arr[i].k; i++)
		if (nocase ? strcasecmp(arr[i].k, k) == 0 : strcmp(arr[i].k, k) == 0)
			return arr[i].v;
	return NULL;
}

static const char *f_header(void *ctx, const char *name)
{
	struct fake *f = ctx;
	return find(f->headers, ARRAY_SIZE(f->headers), name, true);
}

static const char *f_cookie(void *ctx, const char *name)
{
	struct fake *f = ctx;
	return find(f->cookies, ARRAY_SIZE(f->cookies), name, false);
}

static const char *f_query(void *ctx, const char *name)
{
	struct fake *f = ctx;
	return find(f->query, ARRAY_SIZE(f->query), name, false);
}

static struct proxy_request_view view(struct fake *f, const char *ip, bool ws)
{
	return (struct proxy_request_view){.client_ip = ip,
					   .method = "GET",
					   .path = "/",
					   .websocket = ws,
					   .header = f_header,
					   .cookie = f_cookie,
					   .query = f_query,
					   .ctx = f};
}

static void test_index_and_path(void **state)
{
	struct proxy_route r = {.kind = PROXY_KIT, .slug = "terminal", .index = 2};
	struct fake f = {0};
	struct proxy_request_view rq = view(&f, "1.2.3.4", false);
	assert_string_equal(proxy_index_param(&r), "terminal_id");
	assert_int_equal(proxy_effective_index(&r, &rq), 2);
	f.query[0] = (struct kv){"terminal_id", "39999"};
	assert_int_equal(proxy_effective_index(&r, &rq), 39999);
	f.query[0] = (struct kv){"terminal_id", "abc"};
	assert_int_equal(proxy_effective_index(&r, &rq), 2);
	snprintf(r.slug, sizeof(r.slug), "display");
	assert_string_equal(proxy_index_param(&r), "displayId");
	snprintf(r.slug, sizeof(r.slug), "files");
	assert_null(proxy_index_param(&r));

	char out[128];
	struct proxy_route a = {
	    .kind = PROXY_KIT, .alias_id = P, .target_path = "/app", .allow_path_override = true};
	assert_int_equal(proxy_forward_path(&a, "/x/y?q=1", out, sizeof(out)), 0);
	assert_string_equal(out, "/app/x/y?q=1");
	assert_int_equal(proxy_forward_path(&a, "/", out, sizeof(out)), 0);
	assert_string_equal(out, "/app");
	a.allow_path_override = false;
	assert_int_equal(proxy_forward_path(&a, "/x/y?q=1", out, sizeof(out)), 0);
	assert_string_equal(out, "/app?q=1");
	snprintf(a.target_path, sizeof(a.target_path), "/base/");
	a.allow_path_override = true;
	assert_int_equal(proxy_forward_path(&a, "/x", out, sizeof(out)), 0);
	assert_string_equal(out, "/base/x");
	a.alias_id[0] = '\0';
	assert_int_equal(proxy_forward_path(&a, "/x", out, sizeof(out)), 0);
	assert_string_equal(out, "/x");
	assert_int_equal(proxy_forward_path(&a, "/xxxxxxxxxxxx", out, 4), -1);
}

/* ------------------------------------------------------------ decisions */

static int decide(const char *cdoc, const char *pdoc, const struct proxy_route *r,
		  struct proxy_request_view *rq, enum claim_result claim, bool open)
{
	struct proxy_policy pol = {.open_default = open};
	if (cdoc)
		assert_non_null(pol.container_doc = json_loads(cdoc, 0, NULL));
	if (pdoc)
		assert_non_null(pol.project_doc = json_loads(pdoc, 0, NULL));
	struct proxy_target t;
	struct error err = {0};
	proxy_target_of(r, rq, &t);
	int rc = proxy_decide(&pol, &t, rq, claim, &err);
	proxy_policy_clear(&pol);
	return rc == 0 ? 200 : proxy_error_status(&err);
}

static const struct proxy_route term1 = {.kind = PROXY_KIT, .slug = "terminal", .index = 1};
static const struct proxy_route term2 = {.kind = PROXY_KIT, .slug = "terminal", .index = 2};
static const struct proxy_route files1 = {.kind = PROXY_KIT, .slug = "files", .index = 1};
static const struct proxy_route http8000 = {.kind = PROXY_HTTP_PORT, .port = 8000};
static const struct proxy_route http9000 = {.kind = PROXY_HTTP_PORT, .port = 9000};

static void test_no_document(void **state)
{
	struct fake f = {0};
	struct proxy_request_view rq = view(&f, "10.0.0.1", false);
	assert_int_equal(decide(NULL, NULL, &term1, &rq, CLAIM_NONE, false), 401);
	assert_int_equal(decide(NULL, NULL, &term1, &rq, CLAIM_OWNER, false), 200);
	assert_int_equal(decide(NULL, NULL, &term1, &rq, CLAIM_FOREIGN, false), 403);
	assert_int_equal(decide(NULL, NULL, &term1, &rq, CLAIM_INVALID, false), 401);
	/* the operator's open default */
	assert_int_equal(decide(NULL, NULL, &term1, &rq, CLAIM_NONE, true), 200);
	/* an API token in Authorization is nothing to the proxy */
	f.headers[0] = (struct kv){"Authorization", "Bearer hdy_secret"};
	assert_int_equal(decide(NULL, NULL, &term1, &rq, CLAIM_NONE, false), 401);
}

static void test_token_group(void **state)
{
	const char *doc = "{\"default\":\"deny\",\"groups\":{\"ops\":{\"header\":\"X-Key\","
			  "\"value\":\"s3cret\"}},\"permissions\":{\"ops\":{\"terminal\":2,"
			  "\"http\":\"8000-8100\"}}}";
	struct fake f = {0};
	struct proxy_request_view rq = view(&f, "10.0.0.1", false);
	assert_int_equal(decide(doc, NULL, &term2, &rq, CLAIM_NONE, false), 401);
	f.headers[0] = (struct kv){"x-key", "s3cret"};
	assert_int_equal(decide(doc, NULL, &term2, &rq, CLAIM_NONE, false), 200);
	assert_int_equal(decide(doc, NULL, &term1, &rq, CLAIM_NONE, false), 403);
	assert_int_equal(decide(doc, NULL, &http8000, &rq, CLAIM_NONE, false), 200);
	assert_int_equal(decide(doc, NULL, &http9000, &rq, CLAIM_NONE, false), 403);
	assert_int_equal(decide(doc, NULL, &files1, &rq, CLAIM_NONE, false), 403);
	/* terminal-2 with ?terminal_id=1 reaches session 1: judged as terminal 1 */
	f.query[0] = (struct kv){"terminal_id", "1"};
	assert_int_equal(decide(doc, NULL, &term2, &rq, CLAIM_NONE, false), 403);
	f.query[0] = (struct kv){NULL, NULL};
	/* Bearer prefix stripped; a wrong value is 401 */
	f.headers[0] = (struct kv){"X-Key", "Bearer s3cret"};
	assert_int_equal(decide(doc, NULL, &term2, &rq, CLAIM_NONE, false), 200);
	f.headers[0] = (struct kv){"X-Key", "s3cre"};
	assert_int_equal(decide(doc, NULL, &term2, &rq, CLAIM_NONE, false), 401);
	f.headers[0] = (struct kv){"X-Key", "s3crett"};
	assert_int_equal(decide(doc, NULL, &term2, &rq, CLAIM_NONE, false), 401);
	/* ?token= counts on a WebSocket upgrade only */
	f.headers[0] = (struct kv){NULL, NULL};
	f.query[0] = (struct kv){"token", "s3cret"};
	assert_int_equal(decide(doc, NULL, &term2, &rq, CLAIM_NONE, false), 401);
	rq.websocket = true;
	assert_int_equal(decide(doc, NULL, &term2, &rq, CLAIM_NONE, false), 200);

	/* cookie and param locations */
	const char *cdoc = "{\"default\":\"deny\",\"groups\":{\"c\":{\"cookie\":\"k\",\"value\":"
			   "\"v1\"},\"q\":{\"param\":\"key\",\"value\":\"v2\"}},\"permissions\":"
			   "{\"c\":{\"files\":true},\"q\":{\"terminal\":\"*\"}}}";
	struct fake g = {0};
	struct proxy_request_view rq2 = view(&g, "10.0.0.1", false);
	g.cookies[0] = (struct kv){"k", "v1"};
	assert_int_equal(decide(cdoc, NULL, &files1, &rq2, CLAIM_NONE, false), 200);
	assert_int_equal(decide(cdoc, NULL, &term1, &rq2, CLAIM_NONE, false), 403);
	g.cookies[0] = (struct kv){NULL, NULL};
	g.query[0] = (struct kv){"key", "v2"};
	assert_int_equal(decide(cdoc, NULL, &term1, &rq2, CLAIM_NONE, false), 200);
	g.query[0] = (struct kv){"Key", "v2"}; /* param names are case-sensitive */
	assert_int_equal(decide(cdoc, NULL, &term1, &rq2, CLAIM_NONE, false), 401);
}

static void test_password_group(void **state)
{
	char hash[65], doc[512], basic[128];
	proxy_password_hash("salt1", "pa:ss word", hash);
	snprintf(doc, sizeof(doc),
		 "{\"default\":\"deny\",\"groups\":{\"team\":{\"username\":\"ann\",\"password\":"
		 "\"%s\",\"salt\":\"salt1\",\"algorithm\":\"sha256\"}},\"permissions\":{\"team\":"
		 "{\"terminal\":[1,3],\"files\":true}}}",
		 hash);
	const char *cred = "ann:pa:ss word";
	char b64[64];
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)cred, strlen(cred),
			  sodium_base64_VARIANT_ORIGINAL);
	struct fake f = {0};
	struct proxy_request_view rq = view(&f, "10.0.0.1", false);
	snprintf(basic, sizeof(basic), "Basic %s", b64);
	f.headers[0] = (struct kv){"Authorization", basic};
	assert_int_equal(decide(doc, NULL, &term1, &rq, CLAIM_NONE, false), 200);
	assert_int_equal(decide(doc, NULL, &term2, &rq, CLAIM_NONE, false), 403);
	assert_int_equal(decide(doc, NULL, &files1, &rq, CLAIM_NONE, false), 200);
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)"ann:wrong", 9,
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(basic, sizeof(basic), "Basic %s", b64);
	assert_int_equal(decide(doc, NULL, &term1, &rq, CLAIM_NONE, false), 401);
	/* ?token=Basic+<b64> on a WebSocket */
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)cred, strlen(cred),
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(basic, sizeof(basic), "Basic+%s", b64);
	f.headers[0] = (struct kv){NULL, NULL};
	f.query[0] = (struct kv){"token", basic};
	rq.websocket = true;
	assert_int_equal(decide(doc, NULL, &term1, &rq, CLAIM_NONE, false), 200);
}

static char *hs256(const char *secret, const char *claim_k, const char *claim_v, long exp)
{
	jwt_t *j = NULL;
	assert_int_equal(jwt_new(&j), 0);
	assert_int_equal(
	    jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)), 0);
	if (claim_k)
		jwt_add_grant(j, claim_k, claim_v);
	if (exp)
		jwt_add_grant_int(j, "exp", exp);
	char *s = jwt_encode_str(j);
	jwt_free(j);
	return s;
}

static void test_jwt_group(void **state)
{
	const char *doc = "{\"default\":\"deny\",\"groups\":{\"sso\":{\"secret\":\"k3y\","
			  "\"algorithm\":\"HS256\",\"sources\":[\"header:Authorization\","
			  "\"cookie:jwt\"],\"claims\":{\"role\":\"dev\"}}},\"permissions\":{"
			  "\"sso\":{\"http\":8000}}}";
	struct fake f = {0};
	struct proxy_request_view rq = view(&f, "10.0.0.1", false);
	char *good = hs256("k3y", "role", "dev", now_unix() + 60);
	char *role = hs256("k3y", "role", "ops", now_unix() + 60);
	char *expired = hs256("k3y", "role", "dev", now_unix() - 60);
	char *forged = hs256("other", "role", "dev", now_unix() + 60);
	char bearer[1024];
	snprintf(bearer, sizeof(bearer), "Bearer %s", good);
	f.headers[0] = (struct kv){"Authorization", bearer};
	assert_int_equal(decide(doc, NULL, &http8000, &rq, CLAIM_NONE, false), 200);
	assert_int_equal(decide(doc, NULL, &http9000, &rq, CLAIM_NONE, false), 403);
	const char *bad[] = {role, expired, forged};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(bearer, sizeof(bearer), "Bearer %s", bad[i]);
		assert_int_equal(decide(doc, NULL, &http8000, &rq, CLAIM_NONE, false), 401);
	}
	f.headers[0] = (struct kv){NULL, NULL};
	f.cookies[0] = (struct kv){"jwt", good};
	assert_int_equal(decide(doc, NULL, &http8000, &rq, CLAIM_NONE, false), 200);
	f.cookies[0] = (struct kv){NULL, NULL};
	f.query[0] = (struct kv){"token", good};
	rq.websocket = true;
	assert_int_equal(decide(doc, NULL, &http8000, &rq, CLAIM_NONE, false), 200);
	/* an RS256 group refuses an HS256 token whatever its key */
	const char *rs = "{\"default\":\"deny\",\"groups\":{\"sso\":{\"secret\":\"k3y\","
			 "\"algorithm\":\"RS256\",\"sources\":[\"header:Authorization\"]}},"
			 "\"permissions\":{\"sso\":{\"http\":true}}}";
	assert_int_equal(decide(rs, NULL, &http8000, &rq, CLAIM_NONE, false), 401);
	free(good);
	free(role);
	free(expired);
	free(forged);
}

static void test_ip_group_and_defaults(void **state)
{
	const char *doc = "{\"default\":\"deny\",\"groups\":{\"lan\":{\"range\":\"10.1.0.0/16\"}},"
			  "\"permissions\":{\"lan\":{\"http\":true}}}";
	struct fake f = {0};
	struct proxy_request_view in = view(&f, "10.1.2.3", false);
	struct proxy_request_view out = view(&f, "10.2.0.1", false);
	struct proxy_request_view mapped = view(&f, "::ffff:10.1.9.9", false);
	assert_int_equal(decide(doc, NULL, &http8000, &in, CLAIM_NONE, false), 200);
	assert_int_equal(decide(doc, NULL, &http8000, &mapped, CLAIM_NONE, false), 200);
	assert_int_equal(decide(doc, NULL, &http8000, &out, CLAIM_NONE, false), 401);
	assert_int_equal(decide(doc, NULL, &term1, &in, CLAIM_NONE, false), 401);

	/* default allow makes everything public; the kill switch beats all */
	const char *open = "{\"default\":\"allow\",\"groups\":{},\"permissions\":{}}";
	assert_int_equal(decide(open, NULL, &http8000, &out, CLAIM_NONE, false), 200);
	const char *off = "{\"default\":\"allow\",\"enable_proxy\":false}";
	assert_int_equal(decide(off, NULL, &http8000, &out, CLAIM_NONE, false), 403);
	assert_int_equal(decide(off, NULL, &http8000, &out, CLAIM_OWNER, false), 403);
	/* a project's false applies unless the container says otherwise */
	const char *poff = "{\"default\":\"allow\",\"enable_proxy\":false}";
	assert_int_equal(decide(NULL, poff, &http8000, &out, CLAIM_OWNER, false), 403);
	assert_int_equal(
	    decide("{\"default\":\"allow\"}", poff, &http8000, &out, CLAIM_NONE, false), 403);
	assert_int_equal(decide("{\"default\":\"allow\",\"enable_proxy\":true}", poff, &http8000,
				&out, CLAIM_NONE, false),
			 200);
}

static void test_project_under_container(void **state)
{
	/* the project's groups apply to its containers ... */
	const char *proj = "{\"default\":\"deny\",\"groups\":{\"ops\":{\"header\":\"X-Key\","
			   "\"value\":\"p\"},\"all\":{\"header\":\"X-All\",\"value\":\"a\"}},"
			   "\"permissions\":{\"ops\":{\"http\":true},\"all\":{\"terminal\":true}}}";
	struct fake f = {0};
	struct proxy_request_view rq = view(&f, "10.0.0.1", false);
	f.headers[0] = (struct kv){"X-Key", "p"};
	assert_int_equal(decide(NULL, proj, &http8000, &rq, CLAIM_NONE, false), 200);
	/* ... and the project's default when the container has no document */
	f.headers[0] = (struct kv){NULL, NULL};
	assert_int_equal(decide(NULL, "{\"default\":\"allow\"}", &http8000, &rq, CLAIM_NONE, false),
			 200);
	/* a container group of the same name replaces the project's */
	const char *cont = "{\"default\":\"deny\",\"groups\":{\"ops\":{\"header\":\"X-Key\","
			   "\"value\":\"c\"}},\"permissions\":{\"ops\":{\"http\":8000}}}";
	f.headers[0] = (struct kv){"X-Key", "p"};
	assert_int_equal(decide(cont, proj, &http8000, &rq, CLAIM_NONE, false), 401);
	f.headers[0] = (struct kv){"X-Key", "c"};
	assert_int_equal(decide(cont, proj, &http8000, &rq, CLAIM_NONE, false), 200);
	assert_int_equal(decide(cont, proj, &http9000, &rq, CLAIM_NONE, false), 403);
	/* other project groups still apply under a container document */
	f.headers[0] = (struct kv){"X-All", "a"};
	assert_int_equal(decide(cont, proj, &term1, &rq, CLAIM_NONE, false), 200);
	/* the container's default wins over the project's */
	f.headers[0] = (struct kv){NULL, NULL};
	assert_int_equal(decide(cont, "{\"default\":\"allow\"}", &term1, &rq, CLAIM_NONE, false),
			 401);
}

/* ------------------------------------------------------------ with a store */

struct world {
	char state[64];
	struct store *st;
	struct platform pf;
	char alice[ID_LEN + 1], bob[ID_LEN + 1], pid[ID_LEN + 1], cid[ID_LEN + 1];
	char alice_tok[AUTH_TOKEN_SECRET_LEN + 1], bob_tok[AUTH_TOKEN_SECRET_LEN + 1];
};

static void add_user(struct world *w, const char *name, char id[ID_LEN + 1],
		     char tok[AUTH_TOKEN_SECRET_LEN + 1])
{
	struct error err = {0};
	id_new(id);
	struct user u = {.username = (char *)name, .password_hash = "x", .max_containers = -1};
	snprintf(u.id, sizeof(u.id), "%s", id);
	assert_int_equal(store_user_insert(w->st, &u, &err), 0);
	assert_int_equal(tokens_insert_new(w->st, id, name,
					   auth_permission_template_new("full_access"), tok, &err),
			 0);
}

static int world_setup(void **state)
{
	struct world *w = xcalloc(1, sizeof(*w));
	struct error err = {0};
	snprintf(w->state, sizeof(w->state), "/tmp/hoody-test-proxy-XXXXXX");
	assert_non_null(mkdtemp(w->state));
	assert_true(sodium_init() >= 0);
	char *db = xasprintf("%s/hoody.db", w->state);
	assert_int_equal(store_open(db, &w->st, &err), 0);
	free(db);
	add_user(w, "alice", w->alice, w->alice_tok);
	add_user(w, "bob", w->bob, w->bob_tok);
	struct server sv = {.name = "node-local", .max_containers = -1};
	id_new(sv.id);
	assert_int_equal(store_server_upsert(w->st, &sv, &err), 0);
	struct project p = {.alias = "p1", .realm_ids = "[]", .max_containers = -1};
	id_new(p.id);
	snprintf(p.user_id, sizeof(p.user_id), "%s", w->alice);
	assert_int_equal(store_project_insert(w->st, &p, &err), 0);
	struct container c = {.name = "c1",
			      .status = CS_RUNNING,
			      .realm_ids = "[]",
			      .environment_vars = "{}",
			      .container_image = "busybox",
			      .hoody_kit = true};
	id_new(c.id);
	snprintf(c.project_id, sizeof(c.project_id), "%s", p.id);
	snprintf(c.user_id, sizeof(c.user_id), "%s", w->alice);
	snprintf(c.server_id, sizeof(c.server_id), "%s", sv.id);
	assert_int_equal(store_container_insert(w->st, &c, &err), 0);
	snprintf(w->pid, sizeof(w->pid), "%s", p.id);
	snprintf(w->cid, sizeof(w->cid), "%s", c.id);
	snprintf(w->pf.server_id, sizeof(w->pf.server_id), "%s", sv.id);
	w->pf.cfg.state_dir = w->state;
	w->pf.cfg.public_domain = DOM;
	w->pf.cfg.server_name = "node-local";
	w->pf.store = w->st;
	*state = w;
	return 0;
}

static int world_teardown(void **state)
{
	struct world *w = *state;
	struct error err = {0};
	store_close(w->st);
	assert_int_equal(rm_rf(w->state, &err), 0);
	free(w);
	return 0;
}

static char *claim_for(struct world *w, const char *user)
{
	struct principal who = {0};
	struct error err = {0};
	json_t *data = NULL;
	snprintf(who.user_id, sizeof(who.user_id), "%s", user);
	assert_int_equal(claims_container_issue(&w->pf, &who, w->cid, &data, &err), 0);
	char *s = json_dumps(json_object_get(data, "container_claim"), JSON_COMPACT);
	json_decref(data);
	return s;
}

static int check(struct world *w, const struct proxy_route *r, struct fake *f)
{
	struct proxy_request_view rq = view(f, "127.0.0.1", false);
	struct error err = {0};
	return proxy_access_check(&w->pf, r, &rq, &err) == 0 ? 200 : proxy_error_status(&err);
}

static void test_access_with_claims(void **state)
{
	struct world *w = *state;
	struct error err = {0};
	char host[256];
	struct proxy_route r;
	snprintf(host, sizeof(host), "%s-%s-terminal-1.node-local.containers." DOM, w->pid, w->cid);
	assert_int_equal(proxy_route_resolve(&w->pf, host, &r, &err), 0);
	assert_int_equal(r.kind, PROXY_KIT);
	assert_string_equal(r.container_id, w->cid);
	/* wrong server, wrong project, unknown container: 404 */
	snprintf(host, sizeof(host), "%s-%s-terminal-1.node-x.containers." DOM, w->pid, w->cid);
	assert_int_equal(proxy_route_resolve(&w->pf, host, &r, &err), -1);
	assert_int_equal(err.code, E_NOT_FOUND);
	snprintf(host, sizeof(host), "%s-%s-terminal-1.node-local.containers." DOM, w->cid, w->cid);
	assert_int_equal(proxy_route_resolve(&w->pf, host, &r, &err), -1);
	snprintf(host, sizeof(host), "%s-%s-http-80.node-local.containers." DOM, w->pid, w->cid);
	assert_int_equal(proxy_route_resolve(&w->pf, host, &r, &err), 0);

	char *mine = claim_for(w, w->alice);
	struct fake f = {0};
	assert_int_equal(check(w, &r, &f), 401);
	f.headers[0] = (struct kv){"X-Hoody-Container-Claim", mine};
	f.headers[1] = (struct kv){"X-Hoody-Token", w->alice_tok};
	assert_int_equal(check(w, &r, &f), 200);
	/* the owner's claim with another user's token: 403 */
	f.headers[1] = (struct kv){"X-Hoody-Token", w->bob_tok};
	assert_int_equal(check(w, &r, &f), 403);
	/* half a pair, a tampered claim, a garbage token: 401 */
	f.headers[1] = (struct kv){NULL, NULL};
	assert_int_equal(check(w, &r, &f), 401);
	f.headers[1] = (struct kv){"X-Hoody-Token", "hdy_nope"};
	assert_int_equal(check(w, &r, &f), 401);
	char *tampered = xstrdup(mine);
	char *sig = strstr(tampered, "signature_hex\":\"");
	assert_non_null(sig);
	sig += 16;
	*sig = *sig == '0' ? '1' : '0';
	f.headers[0] = (struct kv){"X-Hoody-Container-Claim", tampered};
	f.headers[1] = (struct kv){"X-Hoody-Token", w->alice_tok};
	assert_int_equal(check(w, &r, &f), 401);
	f.headers[0] = (struct kv){"X-Hoody-Container-Claim", "{not json"};
	assert_int_equal(check(w, &r, &f), 401);
	/* the API token alone is no Kit credential ... */
	f.headers[0] = (struct kv){"Authorization", NULL};
	char bearer[128];
	snprintf(bearer, sizeof(bearer), "Bearer %s", w->alice_tok);
	f.headers[0] = (struct kv){"Authorization", bearer};
	f.headers[1] = (struct kv){NULL, NULL};
	assert_int_equal(check(w, &r, &f), 401);
	/* ... unless a group says so */
	char doc[512];
	snprintf(doc, sizeof(doc),
		 "{\"default\":\"deny\",\"groups\":{\"api\":{\"header\":\"Authorization\","
		 "\"value\":\"%s\"}},\"permissions\":{\"api\":{\"http\":true}}}",
		 w->alice_tok);
	struct proxy_doc d = {.scope = "container", .document = doc};
	snprintf(d.id, sizeof(d.id), "%s", w->cid);
	snprintf(d.user_id, sizeof(d.user_id), "%s", w->alice);
	assert_int_equal(store_proxy_doc_put(w->st, &d, 0, &err), 0);
	assert_int_equal(check(w, &r, &f), 200);
	/* enable_proxy false in that document: even the owner's claim is refused */
	d.document = "{\"default\":\"allow\",\"enable_proxy\":false}";
	assert_int_equal(store_proxy_doc_put(w->st, &d, 1, &err), 0);
	f.headers[0] = (struct kv){"X-Hoody-Container-Claim", mine};
	f.headers[1] = (struct kv){"X-Hoody-Token", w->alice_tok};
	assert_int_equal(check(w, &r, &f), 403);
	/* a stale version is refused by the store */
	assert_int_equal(store_proxy_doc_put(w->st, &d, 1, &err), -1);
	assert_int_equal(err.code, E_CONFLICT);
	free(tampered);
	free(mine);
}

static void test_foreign_claim(void **state)
{
	struct world *w = *state;
	struct error err = {0};
	/* bob owns a second container; his valid claim for it means nothing here */
	struct container c = {.name = "bobs",
			      .status = CS_RUNNING,
			      .realm_ids = "[]",
			      .environment_vars = "{}",
			      .container_image = "busybox"};
	struct project p = {.alias = "pb", .realm_ids = "[]", .max_containers = -1};
	id_new(p.id);
	snprintf(p.user_id, sizeof(p.user_id), "%s", w->bob);
	assert_int_equal(store_project_insert(w->st, &p, &err), 0);
	id_new(c.id);
	snprintf(c.project_id, sizeof(c.project_id), "%s", p.id);
	snprintf(c.user_id, sizeof(c.user_id), "%s", w->bob);
	snprintf(c.server_id, sizeof(c.server_id), "%s", w->pf.server_id);
	assert_int_equal(store_container_insert(w->st, &c, &err), 0);
	char alice_cid[ID_LEN + 1];
	snprintf(alice_cid, sizeof(alice_cid), "%s", w->cid);
	snprintf(w->cid, sizeof(w->cid), "%s", c.id);
	char *bobs = claim_for(w, w->bob);
	snprintf(w->cid, sizeof(w->cid), "%s", alice_cid);

	struct proxy_route r = {.kind = PROXY_HTTP_PORT, .port = 80};
	snprintf(r.container_id, sizeof(r.container_id), "%s", w->cid);
	struct fake f = {0};
	f.headers[0] = (struct kv){"X-Hoody-Container-Claim", bobs};
	f.headers[1] = (struct kv){"X-Hoody-Token", w->bob_tok};
	assert_int_equal(check(w, &r, &f), 403);
	/* bob cannot get a claim for alice's container at all */
	struct principal who = {0};
	json_t *data = NULL;
	snprintf(who.user_id, sizeof(who.user_id), "%s", w->bob);
	assert_int_equal(claims_container_issue(&w->pf, &who, w->cid, &data, &err), -1);
	free(bobs);
}

/* ------------------------------------------------------------ tunnels */

static void put_doc(struct world *w, const char *doc, int64_t *version)
{
	struct error err = {0};
	struct proxy_doc d = {.scope = "container", .document = (char *)doc};
	snprintf(d.id, sizeof(d.id), "%s", w->cid);
	snprintf(d.user_id, sizeof(d.user_id), "%s", w->alice);
	assert_int_equal(store_proxy_doc_put(w->st, &d, (*version)++, &err), 0);
}

static enum proxy_touch touched_by(uint64_t since, const struct proxy_grant *g)
{
	uint64_t seq;
	struct proxy_changes *chs = proxy_changes_new(NULL, since, &seq);
	assert_int_equal(seq, revoke_seq());
	enum proxy_touch t = proxy_changes_touch(chs, g);
	proxy_changes_free(chs);
	return t;
}

/* Which changes touch a tunnel: its container, project or owner; a close
 * wins over a recheck; a reader too far behind rechecks everything. */
static void test_tunnel_changes(void **state)
{
	struct world *w = *state;
	struct error err = {0};
	int64_t version = 0;
	char host[256];
	put_doc(w, "{\"default\":\"allow\"}", &version);
	snprintf(host, sizeof(host), "%s-%s-http-80.node-local.containers." DOM, w->pid, w->cid);
	struct fake f = {0};
	struct proxy_request_view rq = view(&f, "127.0.0.1", true);
	struct proxy_route r;
	struct proxy_grant *g = NULL;
	assert_int_equal(proxy_tunnel_decide(&w->pf, host, &rq, &r, &g, &err), 0);
	assert_non_null(g);
	uint64_t at = revoke_seq();
	assert_int_equal(touched_by(at, g), PROXY_UNTOUCHED);
	revoke_note(REVOKE_USER, w->bob, false);
	revoke_note(REVOKE_CONTAINER, "aaaaaaaaaaaaaaaaaaaaaaaa", true);
	assert_int_equal(touched_by(at, g), PROXY_UNTOUCHED);
	revoke_note(REVOKE_PROJECT, w->pid, false);
	assert_int_equal(touched_by(at, g), PROXY_RECHECK);
	at = revoke_seq();
	revoke_note(REVOKE_USER, w->alice, false);
	assert_int_equal(touched_by(at, g), PROXY_RECHECK);
	revoke_note(REVOKE_CONTAINER, w->cid, true);
	revoke_note(REVOKE_CONTAINER, w->cid, false);
	assert_int_equal(touched_by(at, g), PROXY_CLOSE);
	at = revoke_seq();
	revoke_note(REVOKE_ALL, NULL, false);
	assert_int_equal(touched_by(at, g), PROXY_RECHECK);
	at = revoke_seq();
	for (int i = 0; i < REVOKE_LOG_SIZE + 1; i++)
		revoke_note(REVOKE_USER, w->bob, false);
	assert_int_equal(touched_by(at, g), PROXY_RECHECK);
	proxy_grant_free(g);
}

/* A tunnel decided again with the values that admitted it: public, then
 * private (refused); an owner's claim whose token is deleted (refused); a
 * credential the first decision did not read does not count later. */
static void test_tunnel_recheck(void **state)
{
	struct world *w = *state;
	struct error err = {0};
	int64_t version = 0;
	char host[256];
	snprintf(host, sizeof(host), "%s-%s-http-80.node-local.containers." DOM, w->pid, w->cid);
	put_doc(w, "{\"default\":\"allow\"}", &version);
	struct fake f = {0};
	f.headers[0] = (struct kv){"X-Key", "s3cret"}; /* read by no rule yet */
	struct proxy_request_view rq = view(&f, "127.0.0.1", true);
	struct proxy_route r;
	struct proxy_grant *anon = NULL, *owner = NULL;
	assert_int_equal(proxy_tunnel_decide(&w->pf, host, &rq, &r, &anon, &err), 0);
	char *mine = claim_for(w, w->alice);
	f.headers[1] = (struct kv){"X-Hoody-Container-Claim", mine};
	f.headers[2] = (struct kv){"X-Hoody-Token", w->alice_tok};
	assert_int_equal(proxy_tunnel_decide(&w->pf, host, &rq, &r, &owner, &err), 0);
	assert_true(proxy_grant_allows(&w->pf, anon));
	assert_true(proxy_grant_allows(&w->pf, owner));
	assert_false(proxy_grant_due(owner)); /* the claim's exp is an hour away */
	/* private, with a group the first request would have matched */
	put_doc(w,
		"{\"default\":\"deny\",\"groups\":{\"k\":{\"header\":\"X-Key\",\"value\":"
		"\"s3cret\"}},\"permissions\":{\"k\":{\"http\":true}}}",
		&version);
	assert_false(proxy_grant_allows(&w->pf, anon));
	assert_true(proxy_grant_allows(&w->pf, owner));
	/* a refused tunnel request gives no grant */
	struct proxy_grant *none = NULL;
	f.headers[1] = f.headers[2] = (struct kv){NULL, NULL};
	f.headers[0] = (struct kv){"X-Key", "wrong"};
	assert_int_equal(proxy_tunnel_decide(&w->pf, host, &rq, &r, &none, &err), -1);
	assert_null(none);
	/* the token inside the owner's claim pair is deleted */
	struct auth_token *toks = NULL;
	size_t n = 0;
	assert_int_equal(store_token_list(w->st, w->alice, &toks, &n, &err), 0);
	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(store_token_delete_owned(w->st, w->alice, toks[i].id, &err), 0);
	for (size_t i = 0; i < n; i++)
		auth_token_clear(&toks[i]);
	free(toks);
	auth_cache_invalidate();
	assert_false(proxy_grant_allows(&w->pf, owner));
	proxy_grant_free(anon);
	proxy_grant_free(owner);
	free(mine);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_services),
	    cmocka_unit_test(test_parse_api_and_alias),
	    cmocka_unit_test(test_parse_refusals),
	    cmocka_unit_test(test_alias_names),
	    cmocka_unit_test(test_index_and_path),
	    cmocka_unit_test(test_no_document),
	    cmocka_unit_test(test_token_group),
	    cmocka_unit_test(test_password_group),
	    cmocka_unit_test(test_jwt_group),
	    cmocka_unit_test(test_ip_group_and_defaults),
	    cmocka_unit_test(test_project_under_container),
	    cmocka_unit_test_setup_teardown(test_access_with_claims, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_claim, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_tunnel_changes, world_setup, world_teardown),
	    cmocka_unit_test_setup_teardown(test_tunnel_recheck, world_setup, world_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
