/* A small strict HTTP/1.x head parser and chunked-body scanner for the proxy
 * edge. Debian 12 ships no maintained HTTP/1.1 parser library (llhttp is not
 * packaged; http-parser is archived upstream), so this one is written for
 * the proxy's needs: bounded sizes, no allocation, no copies (fields point
 * into the caller's buffer), and refusal of everything two parsers could
 * read differently (request smuggling). Pure functions, unit-tested. */
#ifndef HOODY_PROXY_HTTP1_H
#define HOODY_PROXY_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define H1_HEAD_MAX 16384 /* request line or status line plus all fields */
#define H1_FIELDS_MAX 100

struct h1_field {
	const char *name, *value;
	size_t name_len, value_len; /* value without surrounding whitespace */
};

struct h1_head {
	const char *method, *target; /* requests */
	size_t method_len, target_len;
	int status;	    /* responses */
	const char *reason; /* responses: the reason phrase (may be empty) */
	size_t reason_len;
	int minor; /* HTTP/1.<minor>: 0 or 1 */
	struct h1_field fields[H1_FIELDS_MAX];
	size_t nfields;
	size_t head_len; /* bytes up to and including the empty line */
};

/* Request heads: > 0 the head length, 0 incomplete (read more), -1 refused
 * with *status set: 400 malformed, 431 head larger than H1_HEAD_MAX or too
 * many fields, 505 a version other than HTTP/1.0 and 1.1. Lines must end in
 * CRLF. */
int h1_parse_request(const char *buf, size_t len, struct h1_head *h, int *status);
/* Response heads from backends: same, but bare LF line ends are accepted
 * (the head is rebuilt before it reaches the client) and any failure is -1. */
int h1_parse_response(const char *buf, size_t len, struct h1_head *h);

enum h1_body_kind {
	H1_BODY_NONE,	 /* no body */
	H1_BODY_LENGTH,	 /* Content-Length bytes */
	H1_BODY_CHUNKED, /* chunked coding, ends with the last chunk and trailers */
	H1_BODY_EOF,	 /* until the sender closes (responses only) */
};

struct h1_framing {
	enum h1_body_kind kind;
	uint64_t length;
};

/* Body framing of a request: Transfer-Encoding must be exactly "chunked"
 * (else 501), at most one Content-Length of digits only, never both (400). */
int h1_request_framing(const struct h1_head *h, struct h1_framing *f, int *status);
/* Body framing of a response to a request with method head_request (HEAD)
 * (RFC 9112 §6.3). -1 when the framing is ambiguous or malformed. */
int h1_response_framing(const struct h1_head *h, bool head_request, struct h1_framing *f);

/* The first field named name (case-insensitive), or NULL. */
const struct h1_field *h1_find(const struct h1_head *h, const char *name);
bool h1_name_is(const struct h1_field *f, const char *name);
/* True when the comma-separated list value holds token (case-insensitive). */
bool h1_list_has(const char *value, size_t len, const char *token);

/* Incremental scanner of a chunked body: tells how many bytes of the input
 * belong to the message, so they can be forwarded verbatim as they arrive
 * without holding the body. */
struct h1_chunked {
	int state;
	uint64_t left;	   /* data bytes left in the current chunk */
	unsigned digits;   /* size digits seen */
	unsigned line;	   /* bytes of the current extension or trailer line */
	unsigned trailers; /* bytes of trailer section */
	bool done;
};

/* Consumes up to n bytes: returns how many belong to the body (< n only when
 * the body ended inside the input: done is then set), -1 when malformed. */
ssize_t h1_chunked_scan(struct h1_chunked *c, const char *p, size_t n);

#endif
