/* The HTTP edge without a socket: route matching (params, trailing slash,
 * literal precedence, 404 vs 405, bad tables) and the error envelope map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/http.h"
#include "api/router.h"
#include "common/envelope.h"
#include "common/http_status.h"

static void h_list(struct req *r, struct resp *o)
{
}
static void h_get(struct req *r, struct resp *o)
{
}
static void h_put(struct req *r, struct resp *o)
{
}
static void h_me(struct req *r, struct resp *o)
{
}
static void h_snap(struct req *r, struct resp *o)
{
}
static void h_op(struct req *r, struct resp *o)
{
}
static void h_root(struct req *r, struct resp *o)
{
}

static struct router *table(void)
{
	struct router *rt = router_new();
	assert_int_equal(router_add(rt, "GET", "/api/v1/tokens", h_list, 0, NULL), 0);
	assert_int_equal(router_add(rt, "GET", "/api/v1/tokens/{id}", h_get, 0, NULL), 0);
	assert_int_equal(router_add(rt, "PUT", "/api/v1/tokens/{id}", h_put, 0, NULL), 0);
	assert_int_equal(router_add(rt, "GET", "/api/v1/tokens/me", h_me, ROUTE_JWT_ONLY, NULL), 0);
	assert_int_equal(
	    router_add(rt, "DELETE", "/api/v1/c/{id}/snapshots/{name}", h_snap, 0, NULL), 0);
	assert_int_equal(router_add(rt, "POST", "/api/v1/c/{id}/{op}", h_op, 0, NULL), 0);
	assert_int_equal(router_add(rt, "GET", "/", h_root, ROUTE_PUBLIC, NULL), 0);
	return rt;
}

static enum match_result match(struct router *rt, const char *method, const char *path,
			       struct route_match *m)
{
	static char buf[4096];
	return router_match(rt, method, path, buf, sizeof(buf), m);
}

static void test_params_and_literals(void **state)
{
	struct router *rt = table();
	struct route_match m;
	assert_int_equal(match(rt, "GET", "/api/v1/tokens", &m), MATCH_FOUND);
	assert_ptr_equal(m.route->fn, h_list);
	assert_int_equal(m.nparams, 0);

	assert_int_equal(match(rt, "GET", "/api/v1/tokens/abc123", &m), MATCH_FOUND);
	assert_ptr_equal(m.route->fn, h_get);
	assert_int_equal(m.nparams, 1);
	assert_string_equal(m.params[0], "abc123");

	/* the literal wins for GET; PUT falls through to {id} */
	assert_int_equal(match(rt, "GET", "/api/v1/tokens/me", &m), MATCH_FOUND);
	assert_ptr_equal(m.route->fn, h_me);
	assert_int_equal(m.route->flags, ROUTE_JWT_ONLY);
	assert_int_equal(match(rt, "PUT", "/api/v1/tokens/me", &m), MATCH_FOUND);
	assert_ptr_equal(m.route->fn, h_put);
	assert_string_equal(m.params[0], "me");

	assert_int_equal(match(rt, "DELETE", "/api/v1/c/x1/snapshots/snap-1", &m), MATCH_FOUND);
	assert_ptr_equal(m.route->fn, h_snap);
	assert_int_equal(m.nparams, 2);
	assert_string_equal(m.params[0], "x1");
	assert_string_equal(m.params[1], "snap-1");
	assert_int_equal(match(rt, "POST", "/api/v1/c/x1/start", &m), MATCH_FOUND);
	assert_ptr_equal(m.route->fn, h_op);
	assert_string_equal(m.params[1], "start");

	assert_int_equal(match(rt, "GET", "/", &m), MATCH_FOUND);
	assert_ptr_equal(m.route->fn, h_root);
	router_free(rt);
}

static void test_trailing_slash_and_shapes(void **state)
{
	struct router *rt = table();
	struct route_match m;
	assert_int_equal(match(rt, "GET", "/api/v1/tokens/", &m), MATCH_FOUND);
	assert_ptr_equal(m.route->fn, h_list);
	assert_int_equal(match(rt, "GET", "/api/v1/tokens/abc/", &m), MATCH_FOUND);
	assert_string_equal(m.params[0], "abc");
	/* only one trailing slash, no empty segments, no relative paths */
	assert_int_equal(match(rt, "GET", "/api/v1/tokens//", &m), MATCH_NOT_FOUND);
	assert_int_equal(match(rt, "GET", "/api//v1/tokens", &m), MATCH_NOT_FOUND);
	assert_int_equal(match(rt, "GET", "api/v1/tokens", &m), MATCH_NOT_FOUND);
	assert_int_equal(match(rt, "GET", "", &m), MATCH_NOT_FOUND);
	assert_int_equal(match(rt, "GET", "/api/v1/tokens/a/b", &m), MATCH_NOT_FOUND);
	assert_int_equal(match(rt, "GET", "/api/v1", &m), MATCH_NOT_FOUND);
	/* far too deep */
	char deep[512] = "";
	for (int i = 0; i < 40; i++)
		strcat(deep, "/a");
	assert_int_equal(match(rt, "GET", deep, &m), MATCH_NOT_FOUND);
	/* a path longer than the buffer is not found, not overflowed */
	char small[8];
	assert_int_equal(router_match(rt, "GET", "/api/v1/tokens", small, sizeof(small), &m),
			 MATCH_NOT_FOUND);
	router_free(rt);
}

static void test_404_vs_405(void **state)
{
	struct router *rt = table();
	struct route_match m;
	char allow[64];
	assert_int_equal(match(rt, "DELETE", "/api/v1/tokens", &m), MATCH_BAD_METHOD);
	router_allow_header(m.allowed, allow, sizeof(allow));
	assert_string_equal(allow, "GET");
	assert_int_equal(match(rt, "POST", "/api/v1/tokens/x", &m), MATCH_BAD_METHOD);
	router_allow_header(m.allowed, allow, sizeof(allow));
	assert_string_equal(allow, "GET, PUT");
	/* unknown methods are 405 on a known path, never a match */
	assert_int_equal(match(rt, "OPTIONS", "/api/v1/tokens", &m), MATCH_BAD_METHOD);
	assert_int_equal(match(rt, "BREW", "/nope", &m), MATCH_NOT_FOUND);
	/* HEAD is GET */
	assert_int_equal(match(rt, "HEAD", "/api/v1/tokens", &m), MATCH_FOUND);
	assert_int_equal(match(rt, "GET", "/api/v1/nope", &m), MATCH_NOT_FOUND);
	router_free(rt);
}

static void test_bad_tables(void **state)
{
	struct router *rt = table();
	assert_int_equal(router_add(rt, "GET", "/api/v1/tokens", h_get, 0, NULL),
			 -1); /* duplicate */
	assert_int_equal(router_add(rt, "GET", "/api/v1/tokens/", h_get, 0, NULL), -1); /* same */
	assert_int_equal(router_add(rt, "FETCH", "/x", h_get, 0, NULL), -1);
	assert_int_equal(router_add(rt, "HEAD", "/x", h_get, 0, NULL), -1);
	assert_int_equal(router_add(rt, "GET", "x", h_get, 0, NULL), -1);
	assert_int_equal(router_add(rt, "GET", "/a//b", h_get, 0, NULL), -1);
	assert_int_equal(router_add(rt, "GET", "/a/{b", h_get, 0, NULL), -1);
	assert_int_equal(router_add(rt, "GET", "/{a}/{b}/{c}/{d}/{e}", h_get, 0, NULL), -1);
	assert_int_equal(router_add(rt, "GET", "/x", NULL, 0, NULL), -1);
	router_free(rt);
}

static void test_status_map(void **state)
{
	/* every code has a deliberate status; only internal failures are 500 */
	for (int c = E_OK + 1; c < E__COUNT; c++) {
		int s = err_http_status((enum err_code)c);
		bool internal =
		    c == E_INTERNAL || c == E_NOMEM || c == E_IO || c == E_DISPATCH_FAILED;
		assert_true(internal ? s == 500 : (s >= 400 && s < 600 && s != 500));
	}
	assert_int_equal(err_http_status(E_VALIDATION), 400);
	assert_int_equal(err_http_status(E_SERVER_LIMIT), 400);
	assert_int_equal(err_http_status(E_NOOP_STATE), 400);
	assert_int_equal(err_http_status(E_INVALID_CREDENTIALS), 401);
	assert_int_equal(err_http_status(E_TOKEN_EXPIRED), 401);
	assert_int_equal(err_http_status(E_EXPIRED_READONLY), 403);
	assert_int_equal(err_http_status(E_ROUTE_NOT_FOUND), 404);
	assert_int_equal(err_http_status(E_METHOD_NOT_ALLOWED), 405);
	assert_int_equal(err_http_status(E_OP_IN_PROGRESS), 409);
	assert_int_equal(err_http_status(E_PAYLOAD_TOO_LARGE), 413);
	assert_int_equal(err_http_status(E_QUOTA), 422);
	assert_int_equal(err_http_status(E_RATE_LIMITED), 429);
	assert_int_equal(err_http_status(E_RUNTIME), 502);
	assert_int_equal(err_http_status(E_SIGNING_NOT_CONFIGURED), 503);
	assert_int_equal(err_http_status(E_TIMEOUT), 504);
}

static void check_envelope(enum err_code code, const char *msg, int status, const char *error)
{
	struct resp out = {0};
	struct error err;
	err_set(&err, code, "%s", msg);
	resp_err(&out, &err, NULL);
	assert_int_equal(out.status, status);
	assert_int_equal(json_object_size(out.json), 4);
	assert_int_equal(json_integer_value(json_object_get(out.json, "statusCode")), status);
	assert_string_equal(json_string_value(json_object_get(out.json, "error")), error);
	assert_string_equal(json_string_value(json_object_get(out.json, "code")),
			    err_code_name(code));
	json_decref(out.json);
}

static void test_envelopes(void **state)
{
	check_envelope(E_VALIDATION, "alias must be a string", 400, "Bad Request");
	check_envelope(E_NAME_IN_USE, "taken", 409, "Conflict");
	check_envelope(E_OP_IN_PROGRESS, "busy", 409, "CONTAINER_OPERATION_IN_PROGRESS");
	check_envelope(E_EXPIRED_READONLY, "expired", 403, "OPERATION_NOT_PERMITTED_ON_EXPIRED");
	check_envelope(E_RUNTIME, "crun failed", 502, "CONTAINER_HOST_COMMAND_FAILED");
	check_envelope(E_QUOTA, "", 422, "Unprocessable Entity");

	/* an internal error never shows its detail to the client */
	struct resp out = {0};
	struct error err;
	err_set(&err, E_IO, "open /var/lib/hoody/secret: EACCES");
	resp_err(&out, &err, json_pack("{s:s}", "k", "v"));
	assert_int_equal(out.status, 500);
	assert_string_equal(json_string_value(json_object_get(out.json, "message")),
			    "Internal server error");
	assert_non_null(json_object_get(out.json, "data"));

	/* a later envelope replaces the earlier one */
	resp_ok(&out, 201, "Created", NULL);
	assert_int_equal(json_object_size(out.json), 3);
	assert_true(json_is_null(json_object_get(out.json, "data")));
	json_decref(out.json);
}

/* One reason table for every edge; a status it does not list gets its
 * class's name, never another status's phrase. */
static void test_reason_phrases(void **state)
{
	assert_string_equal(http_reason(200), "OK");
	assert_string_equal(http_reason(404), "Not Found");
	assert_string_equal(http_reason(407), "Proxy Authentication Required");
	assert_string_equal(http_reason(414), "URI Too Long");
	assert_string_equal(http_reason(504), "Gateway Timeout");
	assert_string_equal(http_reason(100), "Informational");
	assert_string_equal(http_reason(299), "Successful");
	assert_string_equal(http_reason(308), "Redirection");
	assert_string_equal(http_reason(418), "Client Error");
	assert_string_equal(http_reason(599), "Server Error");
	assert_string_equal(http_reason(0), "Server Error");
	assert_string_equal(http_reason(-1), "Server Error");
	assert_string_equal(http_reason(1000), "Server Error");
	/* every status the map answers has its own phrase */
	for (int c = E_OK + 1; c < E__COUNT; c++) {
		const char *r = http_reason(err_http_status((enum err_code)c));
		assert_true(strcmp(r, "Client Error") != 0 && strcmp(r, "Server Error") != 0);
	}
	/* an overriding status (the proxy's 407) takes its phrase as "error" */
	struct error err;
	err_set(&err, E_MISSING_TOKEN, "no credential");
	json_t *env = NULL;
	assert_int_equal(err_envelope(&err, 407, &env), 407);
	assert_int_equal(json_integer_value(json_object_get(env, "statusCode")), 407);
	assert_string_equal(json_string_value(json_object_get(env, "error")),
			    "Proxy Authentication Required");
	assert_string_equal(json_string_value(json_object_get(env, "code")), "MISSING_TOKEN");
	json_decref(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_params_and_literals),
	    cmocka_unit_test(test_trailing_slash_and_shapes),
	    cmocka_unit_test(test_404_vs_405),
	    cmocka_unit_test(test_bad_tables),
	    cmocka_unit_test(test_status_map),
	    cmocka_unit_test(test_reason_phrases),
	    cmocka_unit_test(test_envelopes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
