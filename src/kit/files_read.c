/* Files service reads other than the plain bytes (kit-api.md §5.1): ?lines=
 * ranges of text lines (REST family), ?hash / ?sha256 digests and ?base64
 * (both families). All read the file in fixed blocks, so memory does not
 * grow with the file, and all refuse anything but a regular file (a device
 * or a FIFO would never end). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kit/files.h"

#define LINES_MAX 100000
#define LINES_BYTES_MAX (64LL << 20)
#define READ_BLOCK (64 * 1024)
#define B64_BLOCK (48 * 1024) /* a multiple of 3: no padding inside the stream */
#define LINE_DIGITS_MAX 15

/* Lines first..last (1-based, inclusive; last LLONG_MAX: to the end). */
struct line_scan {
	long long first, last;
	long long start, end; /* byte span found; -1: none yet */
	long long got;	      /* the last line inside the span */
	long long lines;      /* lines seen so far; the total once eof */
	bool eof, too_long;
};

static bool line_number(const char **p, long long *out)
{
	long long v = 0;
	int n = 0;
	for (const char *s = *p; *s >= '0' && *s <= '9'; s++, n++) {
		if (n == LINE_DIGITS_MAX)
			return false;
		v = v * 10 + (*s - '0');
	}
	*p += n;
	*out = v;
	return n > 0 && v >= 1;
}

/* "10-50", "100" (that line), "-20" (the last 20), "50-" (to the end).
 * Returns NULL, or why the value is refused. *tail > 0 for the tail form. */
static const char *lines_parse(const char *v, struct line_scan *s, long long *tail)
{
	static const char bad[] = "lines must be N, A-B, -N (the last N) or A- (A to the end), "
				  "with line numbers from 1";
	const char *p = v;
	long long a, b;
	*tail = 0;
	if (*p == '-') {
		p++;
		if (!line_number(&p, tail) || *p)
			return bad;
		return *tail > LINES_MAX ? "at most 100000 lines per request" : NULL;
	}
	if (!line_number(&p, &a))
		return bad;
	s->first = a;
	if (!*p) {
		s->last = a;
		return NULL;
	}
	if (*p++ != '-')
		return bad;
	if (!*p) {
		s->last = LLONG_MAX;
		return NULL;
	}
	if (!line_number(&p, &b) || *p)
		return bad;
	if (b < a)
		return "the last line of lines=A-B comes before the first";
	if (b - a >= LINES_MAX)
		return "at most 100000 lines per request";
	s->last = b;
	return NULL;
}

/* One line ended at byte `end`; true when the scan can stop. */
static bool line_ended(struct line_scan *s, long long line_start, long long end)
{
	long long n = ++s->lines;
	if (n < s->first)
		return false;
	if (n == s->first)
		s->start = line_start;
	if (end - s->start > LINES_BYTES_MAX) { /* this line stays out */
		s->too_long = true;
		return true;
	}
	s->end = end;
	s->got = n;
	return n == s->last || n - s->first + 1 == LINES_MAX;
}

/* Reads fd from its start until the selection is complete or the file
 * ends; a last line without '\n' counts. -1: a read failed (errno). */
static int lines_scan(int fd, struct line_scan *s)
{
	char *b = xmalloc(READ_BLOCK);
	long long pos = 0, line_start = 0;
	s->start = s->end = -1;
	s->got = s->lines = 0;
	s->eof = s->too_long = false;
	int rc = 0;
	if (lseek(fd, 0, SEEK_SET) < 0)
		rc = -1;
	while (rc == 0) {
		ssize_t n = read(fd, b, READ_BLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -1;
			break;
		}
		if (n == 0) {
			if (pos > line_start)
				line_ended(s, line_start, pos);
			s->eof = true;
			break;
		}
		bool stop = false;
		for (char *p = b, *e = b + n; !stop && (p = memchr(p, '\n', (size_t)(e - p)));
		     p++) {
			long long end = pos + (p - b) + 1;
			stop = line_ended(s, line_start, end);
			line_start = end;
		}
		pos += n;
		if (stop) {
			struct stat st; /* "naturally known": the span ends the file */
			s->eof = !s->too_long && fstat(fd, &st) == 0 && s->end == st.st_size;
			break;
		}
	}
	free(b);
	return rc;
}

static void send_lines(struct req *r, int fd, const char *path, const char *spec)
{
	struct line_scan s = {0};
	long long tail;
	const char *why = lines_parse(spec, &s, &tail);
	if (why) {
		send_err(r, 400, "%s", why);
		return;
	}
	if (tail) { /* count first, then it is a range */
		s.first = LLONG_MAX;
		if (lines_scan(fd, &s) < 0)
			goto failed;
		s.first = s.lines > tail ? s.lines - tail + 1 : 1;
		s.last = s.lines;
		if (s.lines == 0) {
			send_body(r, 200, "text/plain; charset=utf-8", "", 0,
				  "X-Line-Range: 0-0\r\nX-Total-Lines: 0\r\n");
			return;
		}
	}
	if (lines_scan(fd, &s) < 0)
		goto failed;
	if (s.start < 0) {
		send_err(r, 416, "line %lld is past the end: %s has %lld lines", s.first, path,
			 s.lines);
		return;
	}
	if (s.end < 0 || (tail && s.too_long)) {
		send_err(r, 413,
			 "the lines asked for are more than 64 MiB; ask for fewer or use Range");
		return;
	}
	struct buf extra = {0};
	buf_printf(&extra, "X-Line-Range: %lld-%lld\r\n", s.first, s.got);
	if (s.eof)
		buf_printf(&extra, "X-Total-Lines: %lld\r\n", s.lines);
	send_head(r, 200, "text/plain; charset=utf-8", s.end - s.start, extra.p);
	buf_free(&extra);
	send_span(r, fd, s.start, s.end - s.start);
	return;
failed:
	send_errno(r, "read", path);
}

static void send_hash(struct req *r, int fd, const char *path)
{
	struct sha256 h;
	sha256_init(&h);
	char *b = xmalloc(READ_BLOCK);
	ssize_t n;
	while ((n = read(fd, b, READ_BLOCK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		sha256_update(&h, b, (size_t)n);
	}
	free(b);
	if (n < 0) {
		send_errno(r, "read", path);
		return;
	}
	char hex[65];
	sha256_hex(&h, hex);
	send_body(r, 200, "text/plain; charset=utf-8", hex, 64, NULL);
}

/* Reads up to n bytes (fewer only at the end of the file); -1 on error. */
static ssize_t read_full(int fd, unsigned char *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = read(fd, p + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* The length is announced from the size; a file that shrinks meanwhile
 * ends the connection instead of sending a wrong body. */
static void send_base64(struct req *r, int fd, long long size)
{
	send_head(r, 200, "text/plain; charset=utf-8", (size + 2) / 3 * 4, NULL);
	unsigned char *in = xmalloc(B64_BLOCK);
	char *out = xmalloc(B64_BLOCK / 3 * 4 + 1);
	for (long long left = size; !r->head_only && left > 0;) {
		size_t want = left < B64_BLOCK ? (size_t)left : B64_BLOCK;
		ssize_t n = read_full(fd, in, want);
		if (n != (ssize_t)want) {
			r->keepalive = false;
			break;
		}
		base64_encode(in, want, out);
		if (!write_all(r->fd, out, (want + 2) / 3 * 4)) {
			r->keepalive = false;
			break;
		}
		left -= (long long)want;
	}
	free(in);
	free(out);
}

bool send_file_view(struct req *r, const char *path, bool rest)
{
	char spec[48];
	bool lines = rest && q_get(r, "lines", spec, sizeof(spec));
	bool hash = q_flag(r, "hash") || q_flag(r, "sha256");
	bool b64 = q_flag(r, "base64");
	if (!lines && !hash && !b64)
		return false;
	if (lines + hash + b64 > 1) {
		send_err(r, 400, "lines, hash and base64 cannot be combined");
		return true;
	}
	if (lines && strlen(spec) >= sizeof(spec) - 1) {
		send_err(r, 400, "lines is too long");
		return true;
	}
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		send_errno(r, "read", path);
	else if (!S_ISREG(st.st_mode))
		send_err(r, 400, "%s is not a regular file: %s applies to files", path,
			 lines	? "lines"
			 : hash ? "hash"
				: "base64");
	else if (lines)
		send_lines(r, fd, path, spec);
	else if (hash)
		send_hash(r, fd, path);
	else
		send_base64(r, fd, st.st_size);
	return true;
}
