/* hoody-upstream: a small static epoll HTTP/1.1 server that tests and the
 * proxy bench run inside containers (busybox has no fast server, and its
 * httpd forks per request). Single-threaded, non-blocking, keep-alive.
 *
 *   GET  /hello        "hello\n"
 *   GET  /headers      the request head as received (text/plain)
 *   GET  /conn         this connection's number (1 = the first accepted), so a test sees reuse
 *   GET  /chunked      three chunks: "one\n", "two\n", "three\n"
 *   GET  /sse          text/event-stream: "data: N" every 200 ms, N = 1..3, then close
 *   GET  /bytes/N      N bytes of 'x', streamed
 *   POST|PUT /upload   reads the body (Content-Length or chunked), answers {"bytes":N}
 *   GET  /ws           WebSocket echo; the first offered subprotocol is selected
 *
 * usage: hoody-upstream PORT [ADDR] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define IN_CAP 65536

enum state { S_HEAD, S_BODY, S_WS, S_CLOSE };

struct conn {
	int fd;
	enum state st;
	char *in;
	size_t in_len;
	char *out;
	size_t out_len, out_off, out_cap;
	uint64_t stream_left; /* /bytes/N still to generate */
	uint64_t body_left;   /* Content-Length left, or the current chunk's */
	uint64_t body_total;
	int chunk_state; /* 0 size line, 1 data, 2 data CRLF, 3 trailers */
	bool chunked, close_after, want_out;
	unsigned long id;
};

static unsigned long accepted;

static int ep;

/* ------------------------------------------------------------ sha1 + base64 */

static uint32_t rol(uint32_t v, int n)
{
	return (v << n) | (v >> (32 - n));
}

static void sha1(const unsigned char *data, size_t len, unsigned char out[20])
{
	uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
	size_t total = ((len + 8) / 64 + 1) * 64;
	unsigned char *m = calloc(1, total);
	memcpy(m, data, len);
	m[len] = 0x80;
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		m[total - 1 - i] = (unsigned char)(bits >> (8 * i));
	for (size_t off = 0; off < total; off += 64) {
		uint32_t w[80];
		for (int i = 0; i < 16; i++)
			w[i] = (uint32_t)m[off + 4 * i] << 24 | (uint32_t)m[off + 4 * i + 1] << 16 |
			       (uint32_t)m[off + 4 * i + 2] << 8 | m[off + 4 * i + 3];
		for (int i = 16; i < 80; i++)
			w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
		uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
		for (int i = 0; i < 80; i++) {
			uint32_t f, k;
			if (i < 20)
				f = (b & c) | (~b & d), k = 0x5A827999;
			else if (i < 40)
				f = b ^ c ^ d, k = 0x6ED9EBA1;
			else if (i < 60)
				f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
			else
				f = b ^ c ^ d, k = 0xCA62C1D6;
			uint32_t t = rol(a, 5) + f + e + k + w[i];
			e = d, d = c, c = rol(b, 30), b = a, a = t;
		}
		h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
	}
	free(m);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}

static void base64(const unsigned char *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

/* ------------------------------------------------------------ output */

static void out_add(struct conn *c, const void *p, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		while (c->out_len + n > c->out_cap)
			c->out_cap = c->out_cap ? c->out_cap * 2 : 4096;
		c->out = realloc(c->out, c->out_cap);
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

static void respond(struct conn *c, int status, const char *type, const char *body, size_t n)
{
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
			  status, type, n, c->close_after ? "Connection: close\r\n" : "");
	out_add(c, head, (size_t)hl);
	out_add(c, body, n);
}

static void watch(struct conn *c)
{
	bool want = c->out_len > c->out_off || c->stream_left;
	if (want == c->want_out)
		return;
	c->want_out = want;
	struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_free(struct conn *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* false when the connection is gone */
static bool flush(struct conn *c)
{
	for (;;) {
		if (c->out_off == c->out_len && c->stream_left) {
			char chunk[16384];
			size_t n =
			    c->stream_left < sizeof(chunk) ? (size_t)c->stream_left : sizeof(chunk);
			memset(chunk, 'x', n);
			c->out_off = c->out_len = 0;
			out_add(c, chunk, n);
			c->stream_left -= n;
		}
		if (c->out_off == c->out_len)
			break;
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			return false;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->close_after && !c->stream_left)
			return false;
	}
	watch(c);
	return true;
}

/* ------------------------------------------------------------ requests */

static const char *header(const char *head, const char *name, size_t *len)
{
	size_t nl = strlen(name);
	for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (*v == ' ')
				v++;
			*len = (size_t)(strstr(v, "\r\n") - v);
			return v;
		}
	}
	return NULL;
}

static void sse(int fd)
{
	if (fork() != 0)
		return;
	const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
			    "Cache-Control: no-cache\r\nConnection: close\r\n\r\n";
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL) < 0)
		_exit(0);
	for (int i = 1; i <= 3; i++) {
		char ev[64];
		int n = snprintf(ev, sizeof(ev), "id: %d\ndata: %d\n\n", i, i);
		usleep(200000);
		if (send(fd, ev, (size_t)n, MSG_NOSIGNAL) < 0)
			break;
	}
	_exit(0);
}

static void websocket(struct conn *c, const char *head)
{
	size_t kl = 0, pl = 0;
	const char *key = header(head, "Sec-WebSocket-Key", &kl);
	const char *proto = header(head, "Sec-WebSocket-Protocol", &pl);
	if (!key || kl > 64) {
		c->close_after = true;
		respond(c, 400, "text/plain", "no key\n", 7);
		return;
	}
	char buf[128];
	unsigned char dig[20];
	char acc[32];
	snprintf(buf, sizeof(buf), "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", (int)kl, key);
	sha1((unsigned char *)buf, strlen(buf), dig);
	base64(dig, 20, acc);
	char resp[512];
	int n = snprintf(resp, sizeof(resp),
			 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
			 acc);
	if (proto) {
		size_t first = strcspn(proto, ",\r");
		n +=
		    snprintf(resp + n, sizeof(resp) - (size_t)n, "Sec-WebSocket-Protocol: %.*s\r\n",
			     (int)(first < 64 ? first : 64), proto);
	}
	n += snprintf(resp + n, sizeof(resp) - (size_t)n, "\r\n");
	out_add(c, resp, (size_t)n);
	c->st = S_WS;
}

static void request(struct conn *c, char *head, size_t head_len)
{
	char method[16] = "", path[1024] = "";
	head[head_len - 2] = '\0'; /* keeps the last CRLF for header() */
	sscanf(head, "%15s %1023s", method, path);
	path[strcspn(path, "?")] = '\0'; /* routes ignore the query */
	size_t len;
	const char *conn = header(head, "Connection", &len);
	c->close_after = (conn && len == 5 && !strncasecmp(conn, "close", 5)) ||
			 strstr(head, "HTTP/1.0\r\n") != NULL;
	const char *te = header(head, "Transfer-Encoding", &len);
	const char *cl = header(head, "Content-Length", &len);
	c->chunked = te != NULL;
	c->body_left = cl ? strtoull(cl, NULL, 10) : 0;
	c->body_total = 0;
	c->chunk_state = 0;
	if (!strcmp(path, "/upload")) {
		c->st = S_BODY;
		return;
	}
	if (!strcmp(path, "/hello")) {
		respond(c, 200, "text/plain", "hello\n", 6);
	} else if (!strcmp(path, "/headers")) {
		respond(c, 200, "text/plain", head, strlen(head));
	} else if (!strcmp(path, "/conn")) {
		char n[32];
		respond(c, 200, "text/plain", n, (size_t)snprintf(n, sizeof(n), "%lu\n", c->id));
	} else if (!strcmp(path, "/chunked")) {
		const char r[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				 "Transfer-Encoding: chunked\r\n\r\n"
				 "4\r\none\n\r\n4\r\ntwo\n\r\n6\r\nthree\n\r\n0\r\n\r\n";
		out_add(c, r, sizeof(r) - 1);
	} else if (!strcmp(path, "/sse")) {
		sse(c->fd);
		c->close_after = true;
		c->st = S_CLOSE;
	} else if (!strncmp(path, "/bytes/", 7)) {
		c->stream_left = strtoull(path + 7, NULL, 10);
		char h[128];
		int n = snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n\r\n",
				 (unsigned long long)c->stream_left);
		out_add(c, h, (size_t)n);
	} else if (!strcmp(path, "/ws")) {
		websocket(c, head);
	} else {
		respond(c, 404, "text/plain", "not found\n", 10);
	}
}

/* Consumes body bytes of /upload; returns bytes used, sets done. */
static size_t body(struct conn *c, const char *p, size_t n, bool *done)
{
	size_t i = 0;
	*done = false;
	if (!c->chunked) {
		size_t take = c->body_left < n ? (size_t)c->body_left : n;
		c->body_left -= take;
		c->body_total += take;
		*done = c->body_left == 0;
		return take;
	}
	while (i < n && !*done) {
		if (c->chunk_state == 1) {
			size_t take = c->body_left < n - i ? (size_t)c->body_left : n - i;
			c->body_left -= take;
			c->body_total += take;
			i += take;
			if (!c->body_left)
				c->chunk_state = 2;
			continue;
		}
		const char *lf = memchr(p + i, '\n', n - i);
		if (!lf)
			break; /* the line is completed by the next read */
		size_t line = (size_t)(lf - (p + i)) + 1;
		if (c->chunk_state == 0) {
			c->body_left = strtoull(p + i, NULL, 16);
			c->chunk_state = c->body_left ? 1 : 3;
		} else if (c->chunk_state == 2) {
			c->chunk_state = 0;
		} else if (line <= 2) {
			*done = true;
		}
		i += line;
	}
	return i;
}

static void ws_frames(struct conn *c, size_t *used)
{
	size_t i = 0;
	for (;;) {
		const unsigned char *p = (unsigned char *)c->in + i;
		size_t avail = c->in_len - i, hl = 2;
		if (avail < 2)
			break;
		uint64_t len = p[1] & 0x7f;
		if (len == 126)
			hl = 4;
		else if (len == 127)
			hl = 10;
		bool masked = p[1] & 0x80;
		if (avail < hl + (masked ? 4 : 0))
			break;
		if (len == 126)
			len = (uint64_t)p[2] << 8 | p[3];
		else if (len == 127)
			for (int k = 0; k < 8; k++)
				len = (k ? len << 8 : 0) | p[2 + k];
		size_t total = hl + (masked ? 4 : 0) + (size_t)len;
		if (len > IN_CAP - 16 || avail < total) {
			if (len > IN_CAP - 16)
				c->st = S_CLOSE;
			break;
		}
		const unsigned char *mask = p + hl;
		unsigned char *data = (unsigned char *)p + hl + (masked ? 4 : 0);
		for (size_t k = 0; masked && k < len; k++)
			data[k] ^= mask[k % 4];
		unsigned char fh[10];
		size_t fl = 2;
		fh[0] = p[0];
		if (len < 126) {
			fh[1] = (unsigned char)len;
		} else if (len < 65536) {
			fh[1] = 126, fh[2] = (unsigned char)(len >> 8), fh[3] = (unsigned char)len;
			fl = 4;
		} else {
			fh[1] = 127;
			for (int k = 0; k < 8; k++)
				fh[2 + k] = (unsigned char)(len >> (56 - 8 * k));
			fl = 10;
		}
		out_add(c, fh, fl);
		out_add(c, data, (size_t)len);
		if ((p[0] & 0x0f) == 8)
			c->close_after = true;
		i += total;
	}
	*used = i;
}

/* Works through c->in; false when the connection is done. */
static bool process(struct conn *c)
{
	size_t off = 0;
	while (off < c->in_len && c->st != S_CLOSE) {
		if (c->st == S_WS) {
			size_t used;
			memmove(c->in, c->in + off, c->in_len - off);
			c->in_len -= off;
			off = 0;
			ws_frames(c, &used);
			off = used;
			break;
		}
		if (c->st == S_BODY) {
			bool done;
			off += body(c, c->in + off, c->in_len - off, &done);
			if (!done)
				break;
			char b[64];
			int n = snprintf(b, sizeof(b), "{\"bytes\":%llu}",
					 (unsigned long long)c->body_total);
			respond(c, 200, "application/json", b, (size_t)n);
			c->st = S_HEAD;
			continue;
		}
		if (c->out_len > c->out_off || c->stream_left)
			break; /* one response at a time */
		char *end = memmem(c->in + off, c->in_len - off, "\r\n\r\n", 4);
		if (!end) {
			if (c->in_len - off >= IN_CAP / 2)
				return false;
			break;
		}
		size_t hl = (size_t)(end + 4 - (c->in + off));
		char *head = strndup(c->in + off, hl);
		off += hl;
		request(c, head, hl);
		free(head);
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (c->st == S_CLOSE && c->out_len == c->out_off)
		return false;
	if (!flush(c))
		return false;
	/* a pipelined request waits for the response before it */
	if (off && c->in_len && c->st == S_HEAD && c->out_len == 0 && !c->stream_left)
		return process(c);
	return true;
}

static void on_readable(struct conn *c)
{
	for (;;) {
		if (!c->in)
			c->in = malloc(IN_CAP);
		if (c->in_len == IN_CAP) {
			if (!process(c) || c->in_len == IN_CAP)
				goto gone;
			continue;
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
		if (n == 0)
			goto gone;
		if (n < 0) {
			if (errno == EAGAIN)
				break;
			goto gone;
		}
		c->in_len += (size_t)n;
		if (!process(c))
			goto gone;
	}
	if (c->in_len == 0) {
		free(c->in);
		c->in = NULL;
	}
	return;
gone:
	conn_free(c);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: hoody-upstream PORT [ADDR]\n");
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { /* the idle WebSocket bench holds 10,000 */
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
	struct sockaddr_in sin = {.sin_family = AF_INET,
				  .sin_port = htons((uint16_t)atoi(argv[1]))};
	inet_pton(AF_INET, argc > 2 ? argv[2] : "0.0.0.0", &sin.sin_addr);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 4096) < 0) {
		perror("hoody-upstream: listen");
		return 1;
	}
	ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					c = calloc(1, sizeof(*c));
					c->fd = fd;
					c->id = ++accepted;
					struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
				}
				continue;
			}
			if (evs[i].events & EPOLLOUT) {
				if (!flush(c)) {
					conn_free(c);
					continue;
				}
				if (c->in_len && !process(c)) {
					conn_free(c);
					continue;
				}
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(c);
		}
	}
}
