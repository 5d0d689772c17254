/* The proxy edge's HTTP/1 parser without a socket: request and response
 * heads, what is refused (smuggling shapes, oversize, bad versions), body
 * framing, list fields, and the chunked scanner fed one byte at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/http1.h"

static int req(const char *s, struct h1_head *h, int *status)
{
	return h1_parse_request(s, strlen(s), h, status);
}

static void test_request_heads(void **state)
{
	struct h1_head h;
	int st;
	const char *ok = "GET /a?b=1 HTTP/1.1\r\nHost: x.y\r\nX-Pad:  v  \r\nEmpty:\r\n\r\nBODY";
	assert_int_equal(req(ok, &h, &st), (int)(strstr(ok, "BODY") - ok));
	assert_int_equal(h.minor, 1);
	assert_int_equal(h.method_len, 3);
	assert_memory_equal(h.target, "/a?b=1", 6);
	assert_int_equal(h.nfields, 3);
	const struct h1_field *f = h1_find(&h, "x-pad");
	assert_non_null(f);
	assert_int_equal(f->value_len, 1); /* surrounding whitespace trimmed */
	assert_int_equal(h1_find(&h, "empty")->value_len, 0);
	assert_null(h1_find(&h, "missing"));
	/* incomplete: read more */
	assert_int_equal(req("GET / HTTP/1.1\r\nHost: x\r\n", &h, &st), 0);
	assert_int_equal(req("GET / HTTP/1.1\r", &h, &st), 0);
	/* HTTP/1.0 */
	assert_true(req("GET / HTTP/1.0\r\n\r\n", &h, &st) > 0);
	assert_int_equal(h.minor, 0);
}

static void test_request_refusals(void **state)
{
	struct h1_head h;
	int st;
	const char *bad400[] = {
	    "GET / HTTP/1.1\nHost: x\n\n",	     /* bare LF */
	    "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",     /* bare CR */
	    "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", /* space in name */
	    "GET / HTTP/1.1\r\nX : y\r\n\r\n",	     /* space before colon */
	    "GET / HTTP/1.1\r\nX: y\r\n folded\r\n\r\n",
	    "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
	    "GET  / HTTP/1.1\r\n\r\n",
	    "G(T / HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.1 \r\n\r\n",
	    "GET / FOO\r\n\r\n",
	    "GET /\x01 HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad400) / sizeof(bad400[0]); i++) {
		assert_int_equal(req(bad400[i], &h, &st), -1);
		assert_int_equal(st, 400);
	}
	assert_int_equal(req("GET / HTTP/2.0\r\n\r\n", &h, &st), -1);
	assert_int_equal(st, 505);
	/* a head that does not end within H1_HEAD_MAX */
	size_t n = H1_HEAD_MAX + 10;
	char *big = malloc(n + 1);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	memset(big + 19, 'a', n - 19);
	big[n] = '\0';
	assert_int_equal(h1_parse_request(big, n, &h, &st), -1);
	assert_int_equal(st, 431);
	free(big);
	/* too many fields */
	char many[H1_HEAD_MAX];
	size_t off = (size_t)sprintf(many, "GET / HTTP/1.1\r\n");
	for (int i = 0; i <= H1_FIELDS_MAX; i++)
		off += (size_t)sprintf(many + off, "F%d: v\r\n", i);
	off += (size_t)sprintf(many + off, "\r\n");
	assert_int_equal(h1_parse_request(many, off, &h, &st), -1);
	assert_int_equal(st, 431);
}

static int framing_of(const char *s, struct h1_framing *f, int *st)
{
	struct h1_head h;
	assert_true(req(s, &h, st) > 0);
	return h1_request_framing(&h, f, st);
}

static void test_request_framing(void **state)
{
	struct h1_framing f;
	int st;
	assert_int_equal(framing_of("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n", &f, &st), 0);
	assert_int_equal(f.kind, H1_BODY_LENGTH);
	assert_int_equal(f.length, 12);
	assert_int_equal(framing_of("GET / HTTP/1.1\r\n\r\n", &f, &st), 0);
	assert_int_equal(f.kind, H1_BODY_NONE);
	assert_int_equal(
	    framing_of("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", &f, &st), 0);
	assert_int_equal(f.kind, H1_BODY_CHUNKED);
	/* smuggling shapes */
	assert_int_equal(
	    framing_of("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		       &f, &st),
	    -1);
	assert_int_equal(st, 400);
	assert_int_equal(
	    framing_of("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", &f,
		       &st),
	    -1);
	assert_int_equal(framing_of("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", &f, &st), -1);
	assert_int_equal(
	    framing_of("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", &f, &st),
	    -1);
	assert_int_equal(
	    framing_of("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &f, &st), -1);
	assert_int_equal(st, 501);
	assert_int_equal(
	    framing_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", &f, &st), -1);
}

static int resp_framing(const char *s, bool head_req, struct h1_framing *f)
{
	struct h1_head h;
	int n = h1_parse_response(s, strlen(s), &h);
	assert_true(n > 0);
	return h1_response_framing(&h, head_req, f);
}

static void test_response_heads(void **state)
{
	struct h1_head h;
	struct h1_framing f;
	const char *s = "HTTP/1.1 404 Not Found\nContent-Length: 3\n\nabc";
	assert_int_equal(h1_parse_response(s, strlen(s), &h), (int)(strstr(s, "abc") - s));
	assert_int_equal(h.status, 404);
	assert_int_equal(h.reason_len, 9);
	assert_int_equal(resp_framing(s, false, &f), 0);
	assert_int_equal(f.kind, H1_BODY_LENGTH);
	assert_int_equal(resp_framing(s, true, &f), 0); /* HEAD: no body */
	assert_int_equal(f.kind, H1_BODY_NONE);
	assert_int_equal(resp_framing("HTTP/1.1 200\r\n\r\n", false, &f), 0);
	assert_int_equal(f.kind, H1_BODY_EOF);
	assert_int_equal(resp_framing("HTTP/1.1 204 No\r\n\r\n", false, &f), 0);
	assert_int_equal(f.kind, H1_BODY_NONE);
	assert_int_equal(
	    resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, &f),
	    0);
	assert_int_equal(f.kind, H1_BODY_CHUNKED);
	assert_int_equal(
	    resp_framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, &f), 0);
	assert_int_equal(f.kind, H1_BODY_EOF);
	assert_int_equal(
	    resp_framing("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false,
			 &f),
	    -1);
	assert_int_equal(h1_parse_response("HTTP/1.1 20 OK\r\n\r\n", 18, &h), -1);
	assert_int_equal(h1_parse_response("HTTP/1.1 099 X\r\n\r\n", 18, &h), -1);
}

static void test_lists(void **state)
{
	assert_true(h1_list_has("keep-alive, Upgrade", 19, "upgrade"));
	assert_true(h1_list_has(" close ", 7, "close"));
	assert_false(h1_list_has("closed", 6, "close"));
	assert_false(h1_list_has("", 0, "close"));
}

/* Feeds s in pieces of step bytes; returns the body length found. */
static ssize_t scan(const char *s, size_t step, bool *done)
{
	struct h1_chunked c = {0};
	size_t len = strlen(s), total = 0;
	for (size_t i = 0; i < len && !c.done; i += step) {
		size_t n = i + step <= len ? step : len - i;
		ssize_t k = h1_chunked_scan(&c, s + i, n);
		if (k < 0)
			return -1;
		total += (size_t)k;
	}
	*done = c.done;
	return (ssize_t)total;
}

static void test_chunked(void **state)
{
	bool done;
	const char *body = "4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nTrailer: x\r\n\r\n";
	for (size_t step = 1; step <= strlen(body); step++) {
		assert_int_equal(scan(body, step, &done), (ssize_t)strlen(body));
		assert_true(done);
	}
	/* bytes after the end are not the body's */
	char more[128];
	snprintf(more, sizeof(more), "%sGET / HTTP/1.1", body);
	struct h1_chunked c = {0};
	assert_int_equal(h1_chunked_scan(&c, more, strlen(more)), (ssize_t)strlen(body));
	assert_true(c.done);
	/* incomplete */
	assert_int_equal(scan("4\r\nWi", 2, &done), 5);
	assert_false(done);
	/* malformed */
	assert_int_equal(scan("x\r\n", 1, &done), -1);
	assert_int_equal(scan("4\nWiki\r\n0\r\n\r\n", 1, &done), -1);	 /* bare LF */
	assert_int_equal(scan("4\r\nWikiX\r\n0\r\n\r\n", 1, &done), -1); /* data longer */
	assert_int_equal(scan("ffffffffffffffffff\r\n", 1, &done), -1);	 /* size overflow */
	assert_int_equal(scan("0\r\n folded\r\n\r\n", 1, &done), -1);	 /* trailer folding */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_heads),   cmocka_unit_test(test_request_refusals),
	    cmocka_unit_test(test_request_framing), cmocka_unit_test(test_response_heads),
	    cmocka_unit_test(test_lists),	    cmocka_unit_test(test_chunked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
