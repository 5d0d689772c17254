/* RFC 6455 framing (api/websocket.c): the accept key of the RFC's own
 * example, client frames parsed and unmasked, protocol breaks refused, and
 * server frame headers at each length boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/websocket.h"

static void test_accept_key(void **state)
{
	char out[WS_ACCEPT_LEN + 1];
	/* RFC 6455 section 1.3 */
	assert_true(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out));
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_false(ws_accept_key(NULL, out));
	assert_false(ws_accept_key("short", out));
	assert_false(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=!", out));
	assert_false(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==x", out));
}

/* A masked client frame of op with payload p (n < 126). */
static size_t client_frame(uint8_t *buf, unsigned op, const char *p, size_t n)
{
	static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
	buf[0] = (uint8_t)(0x80 | op);
	buf[1] = (uint8_t)(0x80 | n);
	memcpy(buf + 2, mask, 4);
	for (size_t i = 0; i < n; i++)
		buf[6 + i] = (uint8_t)p[i] ^ mask[i % 4];
	return 6 + n;
}

static void test_parse(void **state)
{
	uint8_t buf[256];
	struct ws_frame f;
	size_t n = client_frame(buf, WS_TEXT, "2probe", 6);
	/* every prefix asks for more */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ws_frame_parse(buf, i, 1024, &f), 0);
	assert_int_equal(ws_frame_parse(buf, n, 1024, &f), (ssize_t)n);
	assert_true(f.fin);
	assert_int_equal(f.opcode, WS_TEXT);
	assert_int_equal(f.len, 6);
	assert_memory_equal(f.payload, "2probe", 6);
	/* two frames back to back: the first one's length */
	size_t m = client_frame(buf, WS_PING, "hi", 2);
	m += client_frame(buf + m, WS_TEXT, "3", 1);
	assert_int_equal(ws_frame_parse(buf, m, 1024, &f), 8);
	assert_int_equal(f.opcode, WS_PING);
}

static void test_refused(void **state)
{
	uint8_t buf[256];
	struct ws_frame f;
	size_t n = client_frame(buf, WS_TEXT, "hello", 5);
	buf[1] &= 0x7f; /* unmasked */
	assert_int_equal(ws_frame_parse(buf, n, 1024, &f), -1);
	n = client_frame(buf, WS_TEXT, "hello", 5);
	buf[0] |= 0x40; /* a reserved bit */
	assert_int_equal(ws_frame_parse(buf, n, 1024, &f), -1);
	n = client_frame(buf, 0x3, "x", 1); /* an opcode that does not exist */
	assert_int_equal(ws_frame_parse(buf, n, 1024, &f), -1);
	n = client_frame(buf, WS_PING, "x", 1);
	buf[0] &= 0x7f; /* a fragmented control frame */
	assert_int_equal(ws_frame_parse(buf, n, 1024, &f), -1);
	n = client_frame(buf, WS_TEXT, "hello", 5);
	assert_int_equal(ws_frame_parse(buf, n, 4, &f), -1); /* over the limit */
	/* a declared 2^63 payload is refused at once, not waited for */
	uint8_t big[14] = {0x81, 0x80 | 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	assert_int_equal(ws_frame_parse(big, sizeof(big), 65536, &f), -1);
}

static void test_header(void **state)
{
	uint8_t h[WS_HEADER_MAX];
	assert_int_equal(ws_frame_header(h, WS_TEXT, 125), 2);
	assert_int_equal(h[0], 0x81);
	assert_int_equal(h[1], 125);
	assert_int_equal(ws_frame_header(h, WS_TEXT, 126), 4);
	assert_int_equal(h[1], 126);
	assert_int_equal(h[2] << 8 | h[3], 126);
	assert_int_equal(ws_frame_header(h, WS_TEXT, 65535), 4);
	assert_int_equal(ws_frame_header(h, WS_PONG, 65536), 10);
	assert_int_equal(h[0], 0x8a);
	assert_int_equal(h[1], 127);
	assert_int_equal(h[7], 1);
	assert_int_equal(h[8], 0);
	assert_int_equal(h[9], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accept_key),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
