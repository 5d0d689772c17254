/* The SSH bridge behind {p}-{c}-ssh.{server}.containers.{domain}: the
 * hostname proxy checked who may reach the name (kit-api.md §2, program
 * "ssh") and hands the request to this file over a socket pair, like a Kit
 * request over the Kit's socket. A GET is answered with how to reach the
 * container by SSH; a WebSocket upgrade becomes an SSH connection of the
 * front door pinned to that container, its bytes carried in binary frames,
 * so `ssh -o ProxyCommand=...` works where only HTTPS gets through. SSH's own
 * authentication still applies: the key must be the container's. One
 * thread per bridge, under the front door's connection bound. docs/SSH.md. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/http_status.h"
#include "common/log.h"
#include "common/util.h"
#include "ssh/internal.h"

#define HEAD_MAX 16384
#define HEAD_TIMEOUT_MS 15000
#define POLL_MS 200
#define IO_BUF 16384
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

struct bridge {
	struct ssh_server *s;
	int fd; /* the proxy's side: HTTP, then WebSocket frames */
	char container_id[ID_LEN + 1];
	char peer[64];
	char head[HEAD_MAX + 1];
	size_t head_len, have; /* the head, and all bytes read (frames may follow it) */
};

/* ------------------------------------------------------------ HTTP side */

static bool read_head(struct bridge *b)
{
	int64_t deadline = mono_ns() + (int64_t)HEAD_TIMEOUT_MS * 1000000;
	while (b->have < HEAD_MAX && mono_ns() < deadline && !ssh_server_stopping(b->s)) {
		struct pollfd p = {.fd = b->fd, .events = POLLIN};
		if (poll(&p, 1, POLL_MS) <= 0)
			continue;
		ssize_t n = recv(b->fd, b->head + b->have, HEAD_MAX - b->have, 0);
		if (n <= 0)
			return false;
		b->have += (size_t)n;
		b->head[b->have] = '\0';
		char *end = strstr(b->head, "\r\n\r\n");
		if (end) {
			b->head_len = (size_t)(end + 4 - b->head);
			return true;
		}
	}
	return false;
}

/* The value of a field of the head (the proxy parsed and rebuilt it
 * strictly), trimmed, or "" when absent. */
static void field(const struct bridge *b, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);
	out[0] = '\0';
	for (const char *l = strstr(b->head, "\r\n"); l && l < b->head + b->head_len;
	     l = strstr(l + 2, "\r\n")) {
		const char *f = l + 2;
		if (strncasecmp(f, name, nl) || f[nl] != ':')
			continue;
		f += nl + 1;
		f += strspn(f, " \t");
		size_t vl = strcspn(f, "\r");
		snprintf(out, len, "%.*s", (int)(vl < len ? vl : len - 1), f);
		return;
	}
}

static void reply_json(struct bridge *b, int status, json_t *body_steal)
{
	char *body = json_dumps(body_steal, JSON_COMPACT);
	json_decref(body_steal);
	char *msg =
	    xasprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
		      "Content-Length: %zu\r\nCache-Control: no-store\r\n"
		      "Connection: close\r\n\r\n%s",
		      status, http_reason(status), body ? strlen(body) : 0, body ? body : "");
	write_all(b->fd, msg, strlen(msg));
	free(msg);
	free(body);
}

static void reply_error(struct bridge *b, int status, const char *code, const char *message)
{
	reply_json(b, status,
		   json_pack("{s:i, s:s, s:s, s:s}", "statusCode", status, "error",
			     http_reason(status), "message", message, "code", code));
}

static int listen_port(const struct ssh_server *s)
{
	const char *colon = strrchr(s->cfg.listen, ':');
	return colon ? atoi(colon + 1) : 22;
}

/* GET: what an SSH client needs, direct or through this bridge. */
static void describe(struct bridge *b)
{
	char host[256], proto[16];
	field(b, "X-Forwarded-Host", host, sizeof(host));
	field(b, "X-Forwarded-Proto", proto, sizeof(proto));
	host[strcspn(host, ":")] = '\0';
	int port = listen_port(b->s);
	char *ws = xasprintf("%s://%s/", strcmp(proto, "https") ? "ws" : "wss", host);
	char *cmd = xasprintf("ssh -p %d %s@%s", port, b->container_id, host);
	json_t *data =
	    json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "container_id",
		      b->container_id, "ssh_hostname", host, "host", host, "port", port, "user",
		      b->container_id, "host_key", b->s->host_key_pub, "host_key_fingerprint",
		      b->s->host_key_fp, "websocket", ws, "command", cmd);
	free(ws);
	free(cmd);
	reply_json(b, 200,
		   json_pack("{s:i, s:s, s:o}", "statusCode", 200, "message",
			     "SSH bridge: a WebSocket upgrade here carries an SSH connection "
			     "to this container (binary frames)",
			     "data", data));
}

/* Sec-WebSocket-Accept of RFC 6455 §4.2.2. */
static void ws_accept(const char *key, char out[64])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	char *cat = xasprintf("%s%s", key, WS_GUID);
	SHA1((const unsigned char *)cat, strlen(cat), md);
	free(cat);
	EVP_EncodeBlock((unsigned char *)out, md, sizeof(md));
}

/* "ssh" or "binary" when the client offers it; a client that offers only
 * other subprotocols gets none and may give up. */
static const char *subprotocol(const struct bridge *b)
{
	char offer[256];
	field(b, "Sec-WebSocket-Protocol", offer, sizeof(offer));
	for (char *save = NULL, *t = strtok_r(offer, ", ", &save); t;
	     t = strtok_r(NULL, ", ", &save)) {
		if (!strcmp(t, "ssh"))
			return "ssh";
		if (!strcmp(t, "binary"))
			return "binary";
	}
	return NULL;
}

/* ------------------------------------------------------------ frames */

/* Bytes both ways: client frames are unmasked into `to_ssh`, SSH's bytes
 * are framed into `to_ws`, control replies (pong, close) go in `ctl`
 * between frames. Each buffer is fixed: a full one stops reading its
 * source, so a slow side slows the other instead of filling memory. */
struct pipe {
	char in[IO_BUF]; /* from the client, not yet parsed */
	size_t in_len;
	char to_ssh[IO_BUF];
	size_t ts_len, ts_off;
	char to_ws[IO_BUF + 4];
	size_t tw_len, tw_off;
	char ctl[2 + 125];
	size_t ctl_len, ctl_off;
	/* the client frame being read */
	bool in_frame;
	uint8_t op;
	uint64_t left;
	unsigned char mask[4];
	unsigned moff;
	char ctl_in[125];
	size_t ctl_in_len;
	bool ws_eof, ssh_eof, closing;
	uint64_t moves; /* bytes read, parsed or written: progress */
};

static void ctl_frame(struct pipe *p, uint8_t op, const char *data, size_t n)
{
	p->ctl[0] = (char)(0x80 | op);
	p->ctl[1] = (char)n;
	memcpy(p->ctl + 2, data, n);
	p->ctl_len = 2 + n;
	p->ctl_off = 0;
}

/* A whole control frame arrived. */
static void on_control(struct pipe *p)
{
	if (p->op == 9) {
		ctl_frame(p, 10, p->ctl_in, p->ctl_in_len);
	} else if (p->op == 8) {
		/* echo the status code, then end */
		ctl_frame(p, 8, p->ctl_in, p->ctl_in_len >= 2 ? 2 : 0);
		p->closing = true;
	}
}

/* Parses a frame head at in[0..]; 0 when incomplete, -1 when malformed,
 * else its length. */
static int frame_head(struct pipe *p)
{
	if (p->in_len < 2)
		return 0;
	uint8_t b0 = (uint8_t)p->in[0], b1 = (uint8_t)p->in[1];
	size_t hl = 2 + 4;
	uint64_t len = b1 & 0x7f;
	if (len == 126)
		hl += 2;
	else if (len == 127)
		hl += 8;
	uint8_t op = b0 & 0x0f;
	/* clients must mask (RFC 6455 §5.1); no extensions were agreed */
	if (!(b1 & 0x80) || (b0 & 0x70) || (op > 2 && op < 8) || op > 10)
		return -1;
	if (p->in_len < hl)
		return 0;
	if (len >= 126) {
		size_t nb = len == 126 ? 2 : 8;
		len = 0;
		for (size_t i = 0; i < nb; i++)
			len = len << 8 | (uint8_t)p->in[2 + i];
	}
	if (op >= 8 && (len > 125 || !(b0 & 0x80)))
		return -1;
	p->op = op;
	p->left = len;
	p->moff = 0;
	p->ctl_in_len = 0;
	memcpy(p->mask, p->in + hl - 4, 4);
	p->in_frame = true;
	return (int)hl;
}

/* Moves what was read from the client into to_ssh and ctl; -1 on a
 * protocol error. */
static int ws_parse(struct pipe *p)
{
	size_t used = 0;
	while (!p->closing) {
		if (!p->in_frame) {
			/* a control frame waits until the last reply is out */
			if (p->ctl_len || p->in_len - used < 2)
				break;
			memmove(p->in, p->in + used, p->in_len - used);
			p->in_len -= used;
			used = 0;
			int hl = frame_head(p);
			if (hl <= 0) {
				if (hl < 0)
					return -1;
				break;
			}
			used = (size_t)hl;
		}
		size_t avail = p->in_len - used;
		size_t take = p->left < avail ? (size_t)p->left : avail;
		char *dst = p->op < 8 ? p->to_ssh + p->ts_len : p->ctl_in + p->ctl_in_len;
		if (p->op < 8 && take > IO_BUF - p->ts_len)
			take = IO_BUF - p->ts_len;
		for (size_t i = 0; i < take; i++)
			dst[i] = (char)(p->in[used + i] ^ p->mask[p->moff++ & 3]);
		if (p->op < 8)
			p->ts_len += take;
		else
			p->ctl_in_len += take;
		used += take;
		p->left -= take;
		if (p->left) {
			if (!take)
				break;
			continue;
		}
		p->in_frame = false;
		if (p->op >= 8)
			on_control(p);
	}
	memmove(p->in, p->in + used, p->in_len - used);
	p->in_len -= used;
	p->moves += used;
	return 0;
}

/* SSH's bytes as one binary frame (server frames are not masked). */
static void ws_frame_from_ssh(struct pipe *p, int ssh)
{
	ssize_t n = recv(ssh, p->to_ws + 4, IO_BUF, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		p->ssh_eof = true;
		ctl_frame(p, 8, "\x03\xe8", 2); /* 1000: normal closure */
		p->closing = true;
		return;
	}
	if (n < 0)
		return;
	p->moves += (size_t)n;
	size_t off = n < 126 ? 2 : 0;
	p->to_ws[off] = (char)0x82;
	if (n < 126) {
		p->to_ws[off + 1] = (char)n;
	} else {
		p->to_ws[1] = 126;
		p->to_ws[2] = (char)(n >> 8);
		p->to_ws[3] = (char)(n & 0xff);
	}
	p->tw_off = off;
	p->tw_len = 4 + (size_t)n;
}

/* Writes buf[*off..len) as far as the socket takes; false on a dead peer. */
static bool flush(struct pipe *p, int fd, const char *buf, size_t *off, size_t *len)
{
	while (*off < *len) {
		ssize_t w = send(fd, buf + *off, *len - *off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		if (w <= 0)
			return false;
		*off += (size_t)w;
		p->moves += (size_t)w;
	}
	*off = *len = 0;
	return true;
}

/* One round of every move that can be made without blocking; false when the
 * bridge is over. */
static bool pipe_round(struct pipe *p, int ws, int ssh)
{
	if (p->in_len < IO_BUF) {
		ssize_t n = recv(ws, p->in + p->in_len, IO_BUF - p->in_len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return false; /* the client (or the proxy) is gone */
		if (n > 0)
			p->in_len += (size_t)n, p->moves += (size_t)n;
	}
	if (ws_parse(p) < 0) {
		ctl_frame(p, 8, "\x03\xea", 2); /* 1002: protocol error */
		p->closing = true;
		p->ts_len = p->ts_off = 0;
	}
	if (!flush(p, ssh, p->to_ssh, &p->ts_off, &p->ts_len))
		return false;
	if (!p->tw_len && !p->ctl_len && !p->closing)
		ws_frame_from_ssh(p, ssh);
	/* a data frame in progress finishes before a control frame starts */
	if (!flush(p, ws, p->to_ws, &p->tw_off, &p->tw_len))
		return false;
	if (!p->tw_len && !flush(p, ws, p->ctl, &p->ctl_off, &p->ctl_len))
		return false;
	return !(p->closing && !p->ctl_len && !p->tw_len);
}

#define ROUNDS_MAX 64

/* Rounds until nothing moves, so that the poll that follows waits only for
 * what really blocks; true when it hit the bound with work left. */
static bool pipe_step(struct pipe *p, int ws, int ssh, bool *over)
{
	for (int i = 0; i < ROUNDS_MAX; i++) {
		uint64_t before = p->moves;
		if (!pipe_round(p, ws, ssh)) {
			*over = true;
			return false;
		}
		if (p->moves == before)
			return false;
	}
	return true;
}

static void pipe_run(struct bridge *b, int ssh)
{
	struct pipe *p = xcalloc(1, sizeof(*p));
	/* frames the client sent right behind its request */
	p->in_len = b->have - b->head_len;
	memcpy(p->in, b->head + b->head_len, p->in_len);
	struct pollfd pf[2] = {{.fd = b->fd}, {.fd = ssh}};
	bool over = false;
	while (!ssh_server_stopping(b->s)) {
		bool busy = pipe_step(p, b->fd, ssh, &over);
		if (over)
			break;
		pf[0].events = (short)((p->in_len < IO_BUF ? POLLIN : 0) |
				       (p->tw_len || p->ctl_len ? POLLOUT : 0));
		pf[1].events =
		    (short)((!p->tw_len && !p->ctl_len ? POLLIN : 0) | (p->ts_len ? POLLOUT : 0));
		/* a side we wait for nothing from would wake us with its hang-up */
		pf[0].fd = pf[0].events ? b->fd : -1;
		pf[1].fd = pf[1].events ? ssh : -1;
		if (poll(pf, 2, busy ? 0 : POLL_MS) < 0 && errno != EINTR)
			break;
	}
	free(p);
}

static void upgrade(struct bridge *b)
{
	char key[128], accept[64];
	field(b, "Sec-WebSocket-Key", key, sizeof(key));
	if (!key[0]) {
		reply_error(b, 400, "VALIDATION_ERROR",
			    "A WebSocket upgrade needs Sec-WebSocket-Key");
		return;
	}
	int sp[2];
	struct error err = {0};
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		reply_error(b, 502, "BAD_GATEWAY", "Cannot open an SSH connection");
		return;
	}
	if (ssh_conn_adopt(b->s, sp[1], b->peer, b->container_id, &err) < 0) {
		close(sp[0]);
		reply_error(b, 503, "RATE_LIMITED", err.msg);
		return;
	}
	ws_accept(key, accept);
	const char *proto = subprotocol(b);
	char *msg = xasprintf("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
			      accept, proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "",
			      proto ? "\r\n" : "");
	if (write_all(b->fd, msg, strlen(msg)))
		pipe_run(b, sp[0]);
	free(msg);
	close(sp[0]);
}

/* After an answer sent before the request was read whole, closing at once
 * would reset the socket and could destroy the answer before the proxy read
 * it: the write side is shut and input discarded until the proxy closes
 * (at most 2 s). */
static void linger(struct bridge *b)
{
	char sink[4096];
	shutdown(b->fd, SHUT_WR);
	for (int i = 0; i < 2000 / POLL_MS; i++) {
		struct pollfd p = {.fd = b->fd, .events = POLLIN};
		if (poll(&p, 1, POLL_MS) > 0 && recv(b->fd, sink, sizeof(sink), 0) <= 0)
			return;
	}
}

static void *bridge_main(void *arg)
{
	struct bridge *b = arg;
	struct ssh_server *s = b->s;
	if (read_head(b)) {
		char up[64];
		field(b, "Upgrade", up, sizeof(up));
		bool get = !strncmp(b->head, "GET ", 4), head = !strncmp(b->head, "HEAD ", 5);
		if (get && !strcasecmp(up, "websocket")) {
			upgrade(b);
		} else {
			if (get || head)
				describe(b);
			else
				reply_error(b, 405, "VALIDATION_ERROR",
					    "The SSH bridge answers GET (a description) and "
					    "WebSocket upgrades");
			linger(b);
		}
	}
	close(b->fd);
	free(b);
	ssh_slot_drop(s);
	return NULL;
}

int ssh_server_bridge(struct ssh_server *s, const char *container_id, const char *client_ip,
		      bool raw, struct error *err)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return err_sys(err, E_IO, "socketpair");
	if (fcntl(sp[0], F_SETFL, O_NONBLOCK) < 0) {
		close(sp[0]);
		close(sp[1]);
		return err_sys(err, E_IO, "fcntl");
	}
	if (raw) {
		if (ssh_conn_adopt(s, sp[1], client_ip, container_id, err) < 0) {
			close(sp[0]);
			return -1;
		}
		return sp[0];
	}
	if (!ssh_slot_take(s)) {
		close(sp[0]);
		close(sp[1]);
		return err_set(err, E_RATE_LIMITED, "too many SSH connections");
	}
	struct bridge *b = xcalloc(1, sizeof(*b));
	b->s = s;
	b->fd = sp[1];
	snprintf(b->container_id, sizeof(b->container_id), "%s", container_id);
	snprintf(b->peer, sizeof(b->peer), "%s", client_ip);
	if (!ssh_thread_start(bridge_main, b)) {
		close(sp[0]);
		close(sp[1]);
		free(b);
		ssh_slot_drop(s);
		return err_set(err, E_RATE_LIMITED, "no thread for the SSH bridge");
	}
	return sp[0];
}
