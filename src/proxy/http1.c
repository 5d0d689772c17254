/* Strict HTTP/1.x heads and chunked framing (see http1.h for why our own). */
#include "proxy/http1.h"

#include <string.h>
#include <strings.h>

#include "common/util.h"

#define CHUNK_LINE_MAX 1024 /* a size line with its extensions */
#define TRAILERS_MAX 8192

static bool is_tchar(unsigned char c)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr(extra, c));
}

/* Field values: visible characters, obs-text, space and tab; no controls. */
static bool is_vchar_ws(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* The end of the line starting at p: the offset of its terminator, with
 * *eol_len 1 (LF) or 2 (CRLF). -1 incomplete; -2 a bare CR, or a bare LF
 * when !lf_ok. */
static ssize_t line_end(const char *p, size_t n, bool lf_ok, size_t *eol_len)
{
	const char *lf = memchr(p, '\n', n);
	const char *cr = memchr(p, '\r', lf ? (size_t)(lf - p) : n);
	if (cr && (!lf || cr + 1 != lf)) {
		if (!lf && cr + 1 == p + n)
			return -1; /* the LF may still come */
		return -2;
	}
	if (!lf)
		return -1;
	if (cr) {
		*eol_len = 2;
		return cr - p;
	}
	if (!lf_ok)
		return -2;
	*eol_len = 1;
	return lf - p;
}

static int parse_version(const char *p, size_t n, int *minor)
{
	if (n != 8 || memcmp(p, "HTTP/1.", 7) != 0)
		return -1;
	if (p[7] != '0' && p[7] != '1')
		return -1;
	*minor = p[7] - '0';
	return 0;
}

static int parse_request_line(const char *p, size_t n, struct h1_head *h, int *status)
{
	const char *sp1 = memchr(p, ' ', n);
	if (!sp1 || sp1 == p)
		return -1;
	for (const char *q = p; q < sp1; q++)
		if (!is_tchar((unsigned char)*q))
			return -1;
	const char *t = sp1 + 1;
	const char *sp2 = memchr(t, ' ', (size_t)(p + n - t));
	if (!sp2 || sp2 == t)
		return -1;
	for (const char *q = t; q < sp2; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q == 0x7f)
			return -1;
	h->method = p;
	h->method_len = (size_t)(sp1 - p);
	h->target = t;
	h->target_len = (size_t)(sp2 - t);
	if (parse_version(sp2 + 1, (size_t)(p + n - sp2 - 1), &h->minor) < 0) {
		const char *v = sp2 + 1;
		bool shaped = p + n - v == 8 && !memcmp(v, "HTTP/", 5) && v[5] >= '0' &&
			      v[5] <= '9' && v[6] == '.' && v[7] >= '0' && v[7] <= '9';
		*status = shaped ? 505 : 400;
		return -1;
	}
	return 0;
}

static int parse_status_line(const char *p, size_t n, struct h1_head *h)
{
	if (n < 12 || parse_version(p, 8, &h->minor) < 0 || p[8] != ' ')
		return -1;
	int s = 0;
	for (int i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		s = s * 10 + (p[i] - '0');
	}
	if (s < 100 || (n > 12 && p[12] != ' '))
		return -1;
	h->status = s;
	h->reason = n > 13 ? p + 13 : p + n;
	h->reason_len = n > 13 ? n - 13 : 0;
	for (size_t i = 0; i < h->reason_len; i++)
		if (!is_vchar_ws((unsigned char)h->reason[i]))
			return -1;
	return 0;
}

/* "Name: value" with no space before the colon, no folding. */
static int parse_field(const char *p, size_t n, struct h1_field *f)
{
	const char *colon = memchr(p, ':', n);
	if (!colon || colon == p)
		return -1;
	for (const char *q = p; q < colon; q++)
		if (!is_tchar((unsigned char)*q))
			return -1;
	const char *v = colon + 1, *end = p + n;
	for (const char *q = v; q < end; q++)
		if (!is_vchar_ws((unsigned char)*q))
			return -1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	f->name = p;
	f->name_len = (size_t)(colon - p);
	f->value = v;
	f->value_len = (size_t)(end - v);
	return 0;
}

static int parse_head(const char *buf, size_t len, struct h1_head *h, bool request, int *status)
{
	size_t off = 0, eol = 0;
	bool first = true;
	memset(h, 0, sizeof(*h));
	*status = 400;
	for (;;) {
		size_t avail = len - off;
		ssize_t e = line_end(buf + off, avail, !request, &eol);
		if (e == -2)
			return -1;
		if (e == -1) {
			if (len >= H1_HEAD_MAX) {
				*status = 431;
				return -1;
			}
			return 0;
		}
		if (off + (size_t)e + eol > H1_HEAD_MAX) {
			*status = 431;
			return -1;
		}
		const char *line = buf + off;
		size_t n = (size_t)e;
		off += n + eol;
		if (first) {
			/* Leading empty lines before a request are tolerated (RFC 9112 §2.2). */
			if (n == 0 && request && off <= 8)
				continue;
			first = false;
			if ((request ? parse_request_line(line, n, h, status)
				     : parse_status_line(line, n, h)) < 0)
				return -1;
			continue;
		}
		if (n == 0) {
			h->head_len = off;
			return (int)off;
		}
		if (line[0] == ' ' || line[0] == '\t')
			return -1; /* obsolete line folding */
		if (h->nfields == H1_FIELDS_MAX) {
			*status = 431;
			return -1;
		}
		if (parse_field(line, n, &h->fields[h->nfields]) < 0)
			return -1;
		h->nfields++;
	}
}

int h1_parse_request(const char *buf, size_t len, struct h1_head *h, int *status)
{
	return parse_head(buf, len, h, true, status);
}

int h1_parse_response(const char *buf, size_t len, struct h1_head *h)
{
	int status;
	return parse_head(buf, len, h, false, &status);
}

bool h1_name_is(const struct h1_field *f, const char *name)
{
	return strlen(name) == f->name_len && strncasecmp(f->name, name, f->name_len) == 0;
}

const struct h1_field *h1_find(const struct h1_head *h, const char *name)
{
	for (size_t i = 0; i < h->nfields; i++)
		if (h1_name_is(&h->fields[i], name))
			return &h->fields[i];
	return NULL;
}

bool h1_list_has(const char *value, size_t len, const char *token)
{
	size_t tl = strlen(token), i = 0;
	while (i < len) {
		while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
			i++;
		size_t s = i;
		while (i < len && value[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (value[e - 1] == ' ' || value[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(value + s, token, tl) == 0)
			return true;
	}
	return false;
}

/* Digits only, no sign, no overflow. */
static int parse_length(const struct h1_field *f, uint64_t *out)
{
	uint64_t v = 0;
	if (f->value_len == 0 || f->value_len > 19)
		return -1;
	for (size_t i = 0; i < f->value_len; i++) {
		if (f->value[i] < '0' || f->value[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(f->value[i] - '0');
	}
	*out = v;
	return 0;
}

/* The last coding of a Transfer-Encoding list, lower-cased into out. */
static void last_coding(const struct h1_field *f, char *out, size_t outlen)
{
	size_t e = f->value_len, s;
	while (e > 0 &&
	       (f->value[e - 1] == ' ' || f->value[e - 1] == '\t' || f->value[e - 1] == ','))
		e--;
	s = e;
	while (s > 0 && f->value[s - 1] != ',')
		s--;
	while (s < e && (f->value[s] == ' ' || f->value[s] == '\t'))
		s++;
	size_t n = e - s < outlen - 1 ? e - s : outlen - 1;
	for (size_t i = 0; i < n; i++) {
		char c = f->value[s + i];
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	out[n] = '\0';
}

int h1_request_framing(const struct h1_head *h, struct h1_framing *f, int *status)
{
	const struct h1_field *cl = NULL, *te = NULL;
	*status = 400;
	f->kind = H1_BODY_NONE;
	f->length = 0;
	for (size_t i = 0; i < h->nfields; i++) {
		const struct h1_field *x = &h->fields[i];
		if (h1_name_is(x, "content-length")) {
			if (cl)
				return -1;
			cl = x;
		} else if (h1_name_is(x, "transfer-encoding")) {
			if (te)
				return -1;
			te = x;
		}
	}
	if (cl && te)
		return -1;
	if (te) {
		if (h->minor == 0)
			return -1; /* HTTP/1.0 has no chunked coding */
		if (te->value_len != 7 || strncasecmp(te->value, "chunked", 7) != 0) {
			*status = 501;
			return -1;
		}
		f->kind = H1_BODY_CHUNKED;
		return 0;
	}
	if (cl) {
		if (parse_length(cl, &f->length) < 0)
			return -1;
		f->kind = f->length ? H1_BODY_LENGTH : H1_BODY_NONE;
	}
	return 0;
}

int h1_response_framing(const struct h1_head *h, bool head_request, struct h1_framing *f)
{
	const struct h1_field *cl = NULL, *te = NULL;
	f->kind = H1_BODY_NONE;
	f->length = 0;
	if (head_request || h->status < 200 || h->status == 204 || h->status == 304)
		return 0;
	for (size_t i = 0; i < h->nfields; i++) {
		const struct h1_field *x = &h->fields[i];
		if (h1_name_is(x, "transfer-encoding")) {
			if (te)
				return -1;
			te = x;
		} else if (h1_name_is(x, "content-length")) {
			uint64_t v;
			if (parse_length(x, &v) < 0 || (cl && v != f->length))
				return -1;
			cl = x;
			f->length = v;
		}
	}
	if (te) {
		char last[16];
		last_coding(te, last, sizeof(last));
		f->kind =
		    strcmp(last, "chunked") == 0 && h->minor == 1 ? H1_BODY_CHUNKED : H1_BODY_EOF;
		f->length = 0;
		return 0;
	}
	if (cl)
		f->kind = f->length ? H1_BODY_LENGTH : H1_BODY_NONE;
	else
		f->kind = H1_BODY_EOF;
	return 0;
}

enum {
	CK_SIZE,
	CK_EXT,
	CK_SIZE_LF,
	CK_DATA,
	CK_DATA_CR,
	CK_DATA_LF,
	CK_TRAILER_START,
	CK_TRAILER,
	CK_TRAILER_LF,
	CK_FINAL_LF,
};

/* One byte of everything but chunk data; -1 malformed. */
static int chunk_step(struct h1_chunked *c, char ch)
{
	int v;
	switch (c->state) {
	case CK_SIZE:
		if ((v = hex_digit(ch)) >= 0) {
			if (++c->digits > 15)
				return -1;
			c->left = c->left * 16 + (uint64_t)v;
			return 0;
		}
		if (c->digits == 0)
			return -1;
		if (ch == '\r') {
			c->state = CK_SIZE_LF;
			return 0;
		}
		if (ch != ';' && ch != ' ' && ch != '\t')
			return -1;
		c->state = CK_EXT;
		c->line = c->digits;
		return 0;
	case CK_EXT:
		if (ch == '\r') {
			c->state = CK_SIZE_LF;
			return 0;
		}
		if (!is_vchar_ws((unsigned char)ch) || ++c->line > CHUNK_LINE_MAX)
			return -1;
		return 0;
	case CK_SIZE_LF:
		if (ch != '\n')
			return -1;
		c->digits = 0;
		c->state = c->left ? CK_DATA : CK_TRAILER_START;
		return 0;
	case CK_DATA_CR:
		if (ch != '\r')
			return -1;
		c->state = CK_DATA_LF;
		return 0;
	case CK_DATA_LF:
		if (ch != '\n')
			return -1;
		c->state = CK_SIZE;
		return 0;
	case CK_TRAILER_START:
		if (ch == '\r') {
			c->state = CK_FINAL_LF;
			return 0;
		}
		if (!is_tchar((unsigned char)ch))
			return -1;
		c->state = CK_TRAILER;
		return ++c->trailers > TRAILERS_MAX ? -1 : 0;
	case CK_TRAILER:
		if (ch == '\r') {
			c->state = CK_TRAILER_LF;
			return 0;
		}
		if (!is_vchar_ws((unsigned char)ch))
			return -1;
		return ++c->trailers > TRAILERS_MAX ? -1 : 0;
	case CK_TRAILER_LF:
		if (ch != '\n')
			return -1;
		c->state = CK_TRAILER_START;
		return 0;
	case CK_FINAL_LF:
		if (ch != '\n')
			return -1;
		c->done = true;
		return 0;
	}
	return -1;
}

ssize_t h1_chunked_scan(struct h1_chunked *c, const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && !c->done) {
		if (c->state == CK_DATA) {
			size_t take = c->left < (uint64_t)(n - i) ? (size_t)c->left : n - i;
			i += take;
			c->left -= take;
			if (c->left == 0)
				c->state = CK_DATA_CR;
			continue;
		}
		if (chunk_step(c, p[i]) < 0)
			return -1;
		i++;
	}
	return (ssize_t)i;
}
