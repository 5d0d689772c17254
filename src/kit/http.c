/* HTTP/1.1 over the agent's Unix socket: the proxy is the only client, so the
 * parser is strict and small. Bodies are read incrementally (uploads stream
 * to disk); responses carry a Content-Length or close the connection. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/http_status.h"
#include "kit/kit.h"

const char *req_header(struct req *r, const char *name)
{
	for (int i = 0; i < r->nh; i++)
		if (strcasecmp(r->h[i].name, name) == 0)
			return r->h[i].value;
	return NULL;
}

/* Walks the raw query; fn returns true to stop. */
static void q_walk(struct req *r, const char *name,
		   bool (*fn)(const char *raw, size_t n, void *arg), void *arg)
{
	size_t nl = strlen(name);
	for (const char *p = r->query; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t kl = eq ? (size_t)(eq - p) : len;
		if (kl == nl && memcmp(p, name, nl) == 0) {
			const char *v = eq ? eq + 1 : p + len;
			if (fn(v, (size_t)(p + len - v), arg))
				return;
		}
		p = amp ? amp + 1 : NULL;
	}
}

struct qget {
	char *out;
	size_t len;
	bool found;
};

static bool qget_fn(const char *raw, size_t n, void *arg)
{
	struct qget *g = arg;
	if (n >= g->len)
		n = g->len - 1;
	char *tmp = xmalloc(n + 1);
	url_decode(raw, n, tmp, true);
	snprintf(g->out, g->len, "%s", tmp);
	free(tmp);
	g->found = true;
	return true;
}

const char *q_get(struct req *r, const char *name, char *out, size_t len)
{
	struct qget g = {out, len, false};
	q_walk(r, name, qget_fn, &g);
	return g.found ? out : NULL;
}

bool q_flag(struct req *r, const char *name)
{
	char v[16];
	if (!q_get(r, name, v, sizeof(v)))
		return false;
	return strcmp(v, "false") != 0 && strcmp(v, "0") != 0;
}

struct qeach {
	void (*fn)(const char *v, void *arg);
	void *arg;
};

static bool qeach_fn(const char *raw, size_t n, void *arg)
{
	struct qeach *e = arg;
	char *tmp = xmalloc(n + 1);
	url_decode(raw, n, tmp, true);
	e->fn(tmp, e->arg);
	free(tmp);
	return false;
}

void q_each(struct req *r, const char *name, void (*fn)(const char *v, void *arg), void *arg)
{
	struct qeach e = {fn, arg};
	q_walk(r, name, qeach_fn, &e);
}

/* Raw bytes from the connection: buffered leftovers first. */
ssize_t conn_read(struct req *r, void *p, size_t n)
{
	if (r->rpos < r->rend) {
		size_t k = r->rend - r->rpos < n ? r->rend - r->rpos : n;
		memcpy(p, r->rbuf + r->rpos, k);
		r->rpos += k;
		return (ssize_t)k;
	}
	for (;;) {
		ssize_t k = read(r->fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		return k;
	}
}

static int conn_getc(struct req *r)
{
	unsigned char c;
	return conn_read(r, &c, 1) == 1 ? c : -1;
}

/* Reads a chunk-size line; -1 on malformed input. */
static long long chunk_size(struct req *r)
{
	char line[64];
	size_t n = 0;
	int c;
	while ((c = conn_getc(r)) >= 0 && c != '\n')
		if (n < sizeof(line) - 1)
			line[n++] = (char)c;
	if (c < 0)
		return -1;
	line[n] = '\0';
	char *e;
	long long v = strtoll(line, &e, 16);
	if (e == line || v < 0)
		return -1;
	return v;
}

ssize_t req_read(struct req *r, void *p, size_t n)
{
	if (r->body_done || n == 0)
		return 0;
	if (!r->chunked) {
		if (r->clen <= 0) {
			r->body_done = true;
			return 0;
		}
		if ((long long)n > r->clen)
			n = (size_t)r->clen;
		ssize_t k = conn_read(r, p, n);
		if (k <= 0)
			return -1;
		r->clen -= k;
		if (r->clen == 0)
			r->body_done = true;
		return k;
	}
	if (r->chunk_left == 0) {
		long long sz = chunk_size(r);
		if (sz < 0)
			return -1;
		if (sz == 0) {
			/* trailer lines until the empty one */
			size_t len = 0;
			int c;
			while ((c = conn_getc(r)) >= 0) {
				if (c == '\n') {
					if (len == 0)
						break;
					len = 0;
				} else if (c != '\r') {
					len++;
				}
			}
			r->body_done = true;
			return 0;
		}
		r->chunk_left = sz;
	}
	if ((long long)n > r->chunk_left)
		n = (size_t)r->chunk_left;
	ssize_t k = conn_read(r, p, n);
	if (k <= 0)
		return -1;
	r->chunk_left -= k;
	if (r->chunk_left == 0 && (conn_getc(r) != '\r' || conn_getc(r) != '\n'))
		return -1;
	return k;
}

int req_body(struct req *r, size_t max, struct buf *out)
{
	char tmp[8192];
	for (;;) {
		ssize_t k = req_read(r, tmp, sizeof(tmp));
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		if (out->len + (size_t)k > max)
			return -1;
		buf_put(out, tmp, (size_t)k);
	}
	if (!out->p)
		buf_puts(out, "");
	return 0;
}

void req_drain(struct req *r)
{
	char tmp[8192];
	long long total = 0;
	/* An unread large body is not worth reading: close instead. */
	while (!r->body_done) {
		ssize_t k = req_read(r, tmp, sizeof(tmp));
		if (k <= 0 || (total += k) > (1 << 20)) {
			r->keepalive = r->body_done && k == 0;
			return;
		}
	}
}

void send_head(struct req *r, int status, const char *ctype, long long len, const char *extra)
{
	struct buf b = {0};
	if (!r->body_done)
		req_drain(r);
	if (len < 0)
		r->keepalive = false;
	buf_printf(&b, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
	if (ctype)
		buf_printf(&b, "Content-Type: %s\r\n", ctype);
	if (len >= 0)
		buf_printf(&b, "Content-Length: %lld\r\n", len);
	buf_printf(&b, "Connection: %s\r\n", r->keepalive ? "keep-alive" : "close");
	if (extra)
		buf_puts(&b, extra);
	buf_puts(&b, "\r\n");
	if (!write_all(r->fd, b.p, b.len))
		r->keepalive = false;
	r->responded = true;
	buf_free(&b);
}

void send_body(struct req *r, int status, const char *ctype, const char *body, size_t len,
	       const char *extra)
{
	send_head(r, status, ctype, (long long)len, extra);
	if (!r->head_only && len && !write_all(r->fd, body, len))
		r->keepalive = false;
}

void send_ok(struct req *r, int status, const char *data_json)
{
	struct buf b = {0};
	buf_printf(&b, "{\"statusCode\":%d,\"message\":\"%s\",\"success\":true,\"data\":%s}",
		   status, http_reason(status), data_json ? data_json : "null");
	send_body(r, status, "application/json", b.p, b.len, NULL);
	buf_free(&b);
}

void send_err(struct req *r, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct buf b = {0};
	buf_printf(&b, "{\"statusCode\":%d,\"error\":\"%s\",\"success\":false,\"message\":", status,
		   http_reason(status));
	buf_json_str(&b, msg);
	buf_puts(&b, ",\"data\":null}");
	send_body(r, status, "application/json", b.p, b.len, NULL);
	buf_free(&b);
}

/* Fills r from the head; -1 = malformed (400), -2 = connection gone. */
static int parse_head(struct req *r)
{
	size_t n = 0;
	for (;;) {
		if (r->rpos < r->rend) {
			/* scan buffered bytes for the end of the head */
			while (r->rpos < r->rend) {
				if (n >= KIT_HEAD_MAX - 1)
					return -1;
				r->head[n++] = r->rbuf[r->rpos++];
				if (n >= 4 && memcmp(r->head + n - 4, "\r\n\r\n", 4) == 0)
					goto done;
				if (n == 2 && memcmp(r->head, "\r\n", 2) == 0)
					n = 0; /* tolerate stray CRLF between requests */
			}
		}
		ssize_t k = read(r->fd, r->rbuf, KIT_RBUF);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -2;
		r->rpos = 0;
		r->rend = (size_t)k;
	}
done:
	r->head[n - 2] = '\0';
	char *save = NULL;
	char *line = strtok_r(r->head, "\r\n", &save);
	if (!line)
		return -1;
	char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || (size_t)(sp1 - line) >= sizeof(r->method))
		return -1;
	memcpy(r->method, line, (size_t)(sp1 - line));
	r->method[sp1 - line] = '\0';
	*sp2 = '\0';
	r->target = sp1 + 1;
	bool http10 = strcmp(sp2 + 1, "HTTP/1.0") == 0;
	r->nh = 0;
	while ((line = strtok_r(NULL, "\r\n", &save))) {
		char *colon = strchr(line, ':');
		if (!colon || r->nh >= KIT_HEADERS_MAX)
			return -1;
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		size_t vl = strlen(v);
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			v[--vl] = '\0';
		r->h[r->nh].name = line;
		r->h[r->nh].value = v;
		r->nh++;
	}
	if (*r->target != '/')
		return -1;
	/* path and query split in a copy kept in the head buffer tail */
	char *q = strchr(r->target, '?');
	static char empty[] = "";
	r->path = r->target;
	r->query = empty;
	if (q) {
		*q = '\0';
		r->query = q + 1;
	}
	const char *cl = req_header(r, "Content-Length"), *te = req_header(r, "Transfer-Encoding");
	r->clen = -1;
	r->chunked = te && strcasecmp(te, "chunked") == 0;
	if (te && !r->chunked)
		return -1;
	if (cl) {
		char *e;
		r->clen = strtoll(cl, &e, 10);
		if (*e || r->clen < 0 || r->chunked)
			return -1;
	}
	r->chunk_left = 0;
	r->body_done = !r->chunked && r->clen <= 0;
	const char *conn = req_header(r, "Connection");
	r->keepalive = !http10 && !(conn && strcasecmp(conn, "close") == 0);
	r->head_only = strcmp(r->method, "HEAD") == 0;
	r->responded = false;
	return 0;
}

bool path_is(const char *path, const char *prefix, const char **rest)
{
	size_t n = strlen(prefix);
	if (strncmp(path, prefix, n) != 0)
		return false;
	if (path[n] != '\0' && path[n] != '/' && prefix[n - 1] != '/')
		return false;
	if (rest)
		*rest = path + n;
	return true;
}

void send_health(struct req *r, const char *service)
{
	long rss_kb = 0;
	int fds = 0;
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			rss_kb = atol(line + 6);
	if (f)
		fclose(f);
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		fds += e->d_name[0] != '.';
	if (d)
		closedir(d);
	struct buf b = {0};
	buf_printf(&b,
		   "{\"status\":\"ok\",\"service\":\"%s\",\"built\":\"%s %s\",\"started\":%lld,"
		   "\"memory\":{\"rss\":%ld},\"fds\":%d,\"pid\":%d,\"ip\":",
		   service, __DATE__, __TIME__, (long long)kit_started_ms, rss_kb * 1024, fds,
		   (int)getpid());
	buf_json_str(&b, req_header(r, "X-Forwarded-For") ? req_header(r, "X-Forwarded-For") : "");
	buf_puts(&b, ",\"userAgent\":");
	buf_json_str(&b, req_header(r, "User-Agent") ? req_header(r, "User-Agent") : "");
	buf_puts(&b, "}");
	send_ok(r, 200, b.p);
	buf_free(&b);
}

void conn_serve(int fd, void (*dispatch)(struct req *r))
{
	struct req *r = xcalloc(1, sizeof(*r));
	r->fd = fd;
	r->rbuf = xmalloc(KIT_RBUF);
	for (;;) {
		int rc = parse_head(r);
		if (rc == -2)
			break;
		if (rc == -1) {
			r->keepalive = false;
			r->body_done = true;
			send_err(r, 400, "malformed request");
			break;
		}
		dispatch(r);
		if (r->fd < 0 || !r->keepalive)
			break;
		if (!r->body_done) {
			req_drain(r);
			if (!r->keepalive)
				break;
		}
	}
	if (r->fd >= 0)
		close(r->fd);
	free(r->rbuf);
	free(r);
}
