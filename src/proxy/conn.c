/* One client connection: two halves (request: client -> backend, response:
 * backend -> client), each a fixed buffer plus the framing that says where
 * the current message ends. Sockets are edge-triggered; conn_pump moves
 * bytes until nothing can move, so a full buffer stops reading its source
 * (back-pressure: memory stays flat whatever the body size) and bytes are
 * forwarded as soon as they arrive (Server-Sent Events, WebSocket frames). */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "proxy/internal.h"

#define PUMP_ROUNDS 64 /* then other connections get a turn */

static int64_t secs(int s)
{
	return (int64_t)s * 1000000000LL;
}

/* ------------------------------------------------------------ buffers */

/* Free space at the end of b, allocating or compacting it first. */
static size_t buf_space(struct loop *lp, struct buf *b)
{
	if (!b->data) {
		b->data = pool_get(lp);
		b->start = b->end = 0;
	}
	if (b->start == b->end)
		b->start = b->end = 0;
	if (b->end == BUF_SIZE && b->start > 0) {
		memmove(b->data, b->data + b->start, b->end - b->start);
		b->end -= b->start;
		b->start = 0;
	}
	return BUF_SIZE - b->end;
}

/* An idle connection holds no buffer: 10,000 quiet WebSockets cost their
 * struct conn and the kernel's socket buffers, not 32 KiB each. */
static void buf_release(struct loop *lp, struct buf *b)
{
	if (b->data && b->start == b->end) {
		pool_put(lp, b->data);
		b->data = NULL;
		b->start = b->end = 0;
	}
}

void half_start(struct half *h, enum h1_body_kind kind, uint64_t length)
{
	memset(&h->fr, 0, sizeof(h->fr));
	memset(&h->ck, 0, sizeof(h->ck));
	h->fr.kind = kind;
	h->fr.length = length;
	h->left = length;
	h->ready = 0;
	h->body_done = false;
	h->src_eof = false;
}

void half_reset(struct half *h)
{
	free(h->out);
	h->out = NULL;
	h->out_len = h->out_off = 0;
	memset(&h->fr, 0, sizeof(h->fr));
	memset(&h->ck, 0, sizeof(h->ck));
	h->left = 0;
	h->ready = 0;
	h->body_done = false;
	h->src_eof = false;
}

/* ------------------------------------------------------------ I/O */

static ssize_t src_read(struct conn *c, bool backend, char *p, size_t n)
{
	return backend ? bio_read(c, p, n) : cio_read(c, p, n);
}

static ssize_t dst_write(struct conn *c, bool backend, const char *p, size_t n)
{
	return backend ? bio_write(c, p, n) : cio_write(c, p, n);
}

static bool can_read(const struct conn *c, bool backend)
{
	return backend ? c->bfd >= 0 && c->b_rd : c->c_rd;
}

static bool can_write(const struct conn *c, bool backend)
{
	return backend ? c->bfd >= 0 && c->b_wr : c->c_wr;
}

/* Sends h->out, and with it the body bytes already known to follow (one
 * system call for a small response, not two); true when h->out is all
 * sent (or there was none). */
static bool flush_out(struct conn *c, struct half *h, bool to_backend, bool *progress)
{
	while (h->out && can_write(c, to_backend)) {
		size_t head = h->out_len - h->out_off;
		ssize_t n = io_write2(c, to_backend, h->out + h->out_off, head,
				      h->ready ? h->b.data + h->b.start : NULL, h->ready);
		if (n == -1)
			break;
		if (n < 0) {
			c->closing = true;
			return false;
		}
		*progress = true;
		size_t in_head = (size_t)n < head ? (size_t)n : head;
		h->out_off += (uint32_t)in_head;
		h->b.start += (uint32_t)((size_t)n - in_head);
		h->ready -= (uint32_t)((size_t)n - in_head);
		if (h->out_off == h->out_len) {
			free(h->out);
			h->out = NULL;
			h->out_len = h->out_off = 0;
		}
	}
	return h->out == NULL;
}

/* Marks newly read bytes that belong to the current message as ready. */
static int half_scan(struct half *h)
{
	size_t fresh = h->b.end - h->b.start - h->ready;
	if (h->body_done || fresh == 0)
		return 0;
	const char *p = h->b.data + h->b.start + h->ready;
	switch (h->fr.kind) {
	case H1_BODY_NONE:
		h->body_done = true;
		return 0;
	case H1_BODY_LENGTH: {
		size_t take = h->left < fresh ? (size_t)h->left : fresh;
		h->left -= take;
		h->ready += (uint32_t)take;
		h->body_done = h->left == 0;
		return 0;
	}
	case H1_BODY_CHUNKED: {
		ssize_t n = h1_chunked_scan(&h->ck, p, fresh);
		if (n < 0)
			return -1;
		h->ready += (uint32_t)n;
		h->body_done = h->ck.done;
		return 0;
	}
	case H1_BODY_EOF:
		h->ready += (uint32_t)fresh;
		return 0;
	}
	return 0;
}

/* Moves the body of h from its source to its destination. Returns whether
 * anything moved; sets c->closing on a broken peer or a malformed body. */
static bool half_forward(struct conn *c, struct half *h, bool from_backend)
{
	bool progress = false, to_backend = !from_backend;
	if (h->fr.kind == H1_BODY_NONE)
		h->body_done = true;
	if (h->out && half_scan(h) < 0) {
		c->closing = true;
		return false;
	}
	if (!flush_out(c, h, to_backend, &progress))
		return progress;
	for (;;) {
		if (half_scan(h) < 0) {
			log_debug("proxy: %s: malformed chunked body from %s", c->ip,
				  from_backend ? "backend" : "client");
			c->closing = true;
			return progress;
		}
		if (h->ready && can_write(c, to_backend)) {
			ssize_t n = dst_write(c, to_backend, h->b.data + h->b.start, h->ready);
			if (n == -2) {
				c->closing = true;
				return progress;
			}
			if (n > 0) {
				h->b.start += (uint32_t)n;
				h->ready -= (uint32_t)n;
				progress = true;
				buf_release(c->lp, &h->b);
				continue;
			}
		}
		if (h->body_done || h->src_eof || !can_read(c, from_backend) ||
		    h->b.end - h->b.start > h->ready || buf_space(c->lp, &h->b) == 0)
			break;
		ssize_t n = src_read(c, from_backend, h->b.data + h->b.end, BUF_SIZE - h->b.end);
		if (n == -1) {
			buf_release(c->lp, &h->b);
			break;
		}
		if (n == -2) {
			c->closing = true;
			return progress;
		}
		progress = true;
		if (n == 0)
			h->src_eof = true;
		else
			h->b.end += (uint32_t)n;
	}
	if (h->src_eof && !h->body_done && h->ready == 0 && h->b.end == h->b.start) {
		if (h->fr.kind != H1_BODY_EOF) {
			/* a truncated message: nothing more to forward, end both */
			c->closing = true;
			return progress;
		}
		h->body_done = true;
	}
	return progress;
}

static bool half_complete(const struct half *h)
{
	return h->body_done && h->ready == 0 && !h->out;
}

/* ------------------------------------------------------------ exchange end */

static void set_deadline(struct conn *c)
{
	struct proxy_server *srv = c->lp->srv;
	int64_t now = c->lp->now_ns;
	if (c->lingering)
		return;
	if (c->rq == RQ_HEAD && c->rs == RS_IDLE) {
		if (c->req.b.data && c->req.b.end > c->req.b.start)
			c->deadline_ns = c->head_start_ns + secs(HEADER_TIMEOUT_S);
		else
			c->deadline_ns =
			    now + secs(c->requests ? srv->cfg.idle_timeout_s : HEADER_TIMEOUT_S);
	} else if (c->b_connecting || c->b_pending) {
		/* set when the connect started */
	} else if (c->rs == RS_TUNNEL) {
		c->deadline_ns = now + secs(srv->cfg.tunnel_timeout_s);
	} else {
		c->deadline_ns = now + secs(srv->cfg.idle_timeout_s);
	}
}

/* The response went out whole: next request on the same connection, or the
 * end of it. */
/* After refusing a request whose bytes were not all read, closing at once
 * would answer the client's next bytes with a reset, which can destroy the
 * refusal before the client reads it. So the write side is shut and input
 * discarded for a while (nginx's lingering close). */
#define LINGER_S 2
#define LINGER_MAX (1 << 20)

static void linger_start(struct conn *c)
{
	shutdown(c->cfd, SHUT_WR);
	c->lingering = true;
	c->rq = RQ_DRAIN;
	c->rs = RS_IDLE;
	c->deadline_ns = c->lp->now_ns + secs(LINGER_S);
	backend_close(c);
}

static bool linger_read(struct conn *c)
{
	char sink[4096];
	bool progress = false;
	while (c->c_rd) {
		ssize_t n = cio_read(c, sink, sizeof(sink));
		if (n == -1)
			break;
		if (n <= 0 || (c->lingered += (size_t)n) > LINGER_MAX) {
			c->closing = true;
			return true;
		}
		progress = true;
	}
	return progress;
}

static void exchange_done(struct conn *c)
{
	if (c->close_after || !c->keep_alive || c->rq != RQ_DONE) {
		if (c->rs == RS_LOCAL && !c->ssl)
			linger_start(c);
		else
			c->closing = true;
		return;
	}
	if (!c->b_keep)
		backend_close(c);
	half_reset(&c->req);
	half_reset(&c->resp);
	buf_release(c->lp, &c->resp.b);
	buf_release(c->lp, &c->req.b);
	c->rq = RQ_HEAD;
	c->rs = RS_IDLE;
	c->resp_started = false;
	c->upgrade = false;
	c->head_start_ns = c->lp->now_ns;
	c->requests++;
}

/* ------------------------------------------------------------ request side */

static bool read_head(struct conn *c)
{
	struct half *h = &c->req;
	bool progress = false;
	int status = 400;
	for (;;) {
		size_t before = h->b.data ? h->b.end - h->b.start : 0;
		if (before) {
			struct h1_head head;
			int n = h1_parse_request(h->b.data + h->b.start, before, &head, &status);
			if (n > 0) {
				exchange_request(c, &head);
				h->b.start += (uint32_t)n;
				return true;
			}
			if (n < 0)
				break;
		}
		/* A full buffer holds H1_HEAD_MAX bytes: the parser has refused it. */
		if (!c->c_rd || buf_space(c->lp, &h->b) == 0)
			return progress;
		ssize_t n = cio_read(c, h->b.data + h->b.end, BUF_SIZE - h->b.end);
		if (n == -1) {
			buf_release(c->lp, &h->b);
			return progress;
		}
		if (n <= 0) {
			c->closing = true; /* gone between requests, or mid-head */
			return progress;
		}
		if (before == 0)
			c->head_start_ns = c->lp->now_ns;
		h->b.end += (uint32_t)n;
		progress = true;
	}
	struct error err;
	if (status == 431)
		err_set(&err, E_HEADERS_TOO_LARGE,
			"Request head larger than %d bytes or more than %d "
			"header fields",
			H1_HEAD_MAX, H1_FIELDS_MAX);
	else
		err_set(&err, E_VALIDATION,
			status == 505 ? "HTTP version not supported" : "Malformed request head");
	c->keep_alive = false;
	exchange_error(c, &err);
	return true;
}

static bool finish_connect(struct conn *c)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (!c->b_wr)
		return false;
	if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr) {
		errno = soerr;
		backend_failed(c, soerr);
		return true;
	}
	c->b_connecting = false;
	backend_connected(c);
	return true;
}

static bool step_request(struct conn *c)
{
	switch (c->rq) {
	case RQ_HEAD:
		/* Pipelined requests wait until the response before them is out. */
		return c->rs == RS_IDLE ? read_head(c) : false;
	case RQ_CONNECT:
		return c->b_connecting ? finish_connect(c) : false;
	case RQ_BODY: {
		bool p = half_forward(c, &c->req, false);
		if (!c->closing && half_complete(&c->req)) {
			c->rq = RQ_DONE;
			p = true;
		}
		return p;
	}
	case RQ_TUNNEL: {
		/* The client is done sending: say so to the backend, keep
		 * receiving until it closes too. */
		bool p = half_forward(c, &c->req, false);
		if (!c->closing && half_complete(&c->req)) {
			shutdown(c->bfd, SHUT_WR);
			c->rq = RQ_DONE;
			p = true;
		}
		return p;
	}
	case RQ_DRAIN:
		if (c->lingering)
			return linger_read(c);
		/* fall through */
	case RQ_DONE:
		/* A client that leaves mid-response ends the exchange. */
		if (c->c_hup && c->rs != RS_TUNNEL && !c->ssl) {
			char x;
			ssize_t n = recv(c->cfd, &x, 1, MSG_PEEK | MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				c->closing = true;
				return true;
			}
		}
		return false;
	}
	return false;
}

/* ------------------------------------------------------------ response side */

static bool read_response_head(struct conn *c)
{
	struct half *h = &c->resp;
	bool progress = false;
	if (!flush_out(c, h, false, &progress))
		return progress; /* an interim (1xx) head still going out */
	for (;;) {
		size_t have = h->b.data ? h->b.end - h->b.start : 0;
		if (have) {
			struct h1_head head;
			int n = h1_parse_response(h->b.data + h->b.start, have, &head);
			if (n > 0) {
				if (exchange_response(c, &head) == 0)
					h->b.start += (uint32_t)n;
				return true;
			}
			if (n < 0 || have >= H1_HEAD_MAX) {
				backend_protocol_error(c, "The service answered with a malformed "
							  "HTTP response head");
				return true;
			}
		}
		if (h->src_eof || !can_read(c, true) || buf_space(c->lp, &h->b) == 0)
			return progress;
		ssize_t n = bio_read(c, h->b.data + h->b.end, BUF_SIZE - h->b.end);
		if (n == -1) {
			buf_release(c->lp, &h->b);
			return progress;
		}
		if (n <= 0) {
			backend_gone_early(c);
			return true;
		}
		h->b.end += (uint32_t)n;
		progress = true;
	}
}

/* A kept-alive backend with nothing asked of it must stay silent; data or a
 * close makes it unusable for the next request. */
static bool watch_idle_backend(struct conn *c)
{
	if (c->bfd < 0 || !c->b_rd)
		return false;
	char x[64];
	ssize_t n = bio_read(c, x, sizeof(x));
	if (n == -1)
		return false;
	backend_close(c);
	return true;
}

static bool step_response(struct conn *c)
{
	switch (c->rs) {
	case RS_IDLE:
		return watch_idle_backend(c);
	case RS_HEAD:
		return read_response_head(c);
	case RS_BODY: {
		bool p = half_forward(c, &c->resp, true);
		if (!c->closing && half_complete(&c->resp)) {
			exchange_done(c);
			p = true;
		}
		return p;
	}
	case RS_TUNNEL: {
		bool p = half_forward(c, &c->resp, true);
		if (!c->closing && half_complete(&c->resp)) {
			/* TLS has no half-close a client reliably honours: the
			 * backend's end ends a TLS tunnel, with a close_notify */
			if (c->rq == RQ_DONE || c->ssl)
				c->closing = c->tls_bye = true;
			else
				shutdown(c->cfd, SHUT_WR);
			c->resp.fr.kind = H1_BODY_NONE;
		}
		return p;
	}
	case RS_LOCAL: {
		bool p = false;
		if (flush_out(c, &c->resp, false, &p)) {
			exchange_done(c);
			p = true;
		}
		return p;
	}
	}
	return false;
}

/* ------------------------------------------------------------ driving */

void conn_pump(struct conn *c)
{
	bool any = false;
	if (c->zombie)
		return;
	for (int i = 0; i < PUMP_ROUNDS && !c->closing; i++) {
		bool p = step_request(c);
		if (!c->closing)
			p |= step_response(c);
		if (!p) {
			if (any)
				set_deadline(c);
			goto settled;
		}
		any = true;
	}
	if (!c->closing) {
		set_deadline(c);
		conn_queue(c);
	}
settled:
	if (c->closing) {
		conn_close(c);
		return;
	}
	if (c->rs == RS_TUNNEL && relay_try(c))
		return;
	/* nothing in flight: the buffers go back to the pool until data comes */
	buf_release(c->lp, &c->req.b);
	buf_release(c->lp, &c->resp.b);
}

void conn_event(struct conn *c, bool backend, uint32_t ev)
{
	if (c->zombie)
		return;
	bool hup = ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
	if (backend) {
		c->b_rd |= (ev & EPOLLIN) || hup;
		c->b_wr |= (ev & EPOLLOUT) || (ev & (EPOLLHUP | EPOLLERR));
		c->b_hup |= hup;
	} else {
		c->c_rd |= (ev & EPOLLIN) || hup;
		c->c_wr |= (ev & EPOLLOUT) || (ev & (EPOLLHUP | EPOLLERR));
		c->c_hup |= hup;
	}
	conn_pump(c);
}

void conn_timeout(struct conn *c)
{
	if (c->zombie)
		return;
	if ((c->rq == RQ_CONNECT || c->rs == RS_HEAD) && !c->resp_started) {
		struct error err;
		err_set(&err, E_GATEWAY_TIMEOUT,
			"The service in the container did not answer "
			"within %d s",
			c->b_connecting || c->b_pending ? CONNECT_TIMEOUT_S
							: c->lp->srv->cfg.idle_timeout_s);
		backend_close(c);
		c->close_after = true;
		exchange_error(c, &err);
		c->deadline_ns = c->lp->now_ns + secs(HEADER_TIMEOUT_S);
		conn_pump(c);
		return;
	}
	c->closing = true;
	conn_close(c);
}

void conn_start(struct loop *lp, int fd, const char *ip, bool tls)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	c->cref.kind = EP_CLIENT;
	c->bref.kind = EP_BACKEND;
	c->lp = lp;
	c->cfd = fd;
	c->bfd = -1;
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	c->prev = &lp->head;
	c->next = lp->head.next;
	lp->head.next->prev = c;
	lp->head.next = c;
	__atomic_add_fetch(&lp->nconns, 1, __ATOMIC_RELAXED);
	c->rq = RQ_HEAD;
	c->rs = RS_IDLE;
	c->tls = tls;
	c->deadline_ns = lp->now_ns + secs(HEADER_TIMEOUT_S);
	struct error err = {0};
	if ((tls && !(c->ssl = tls_new(lp->srv, fd))) || ep_add(lp, fd, &c->cref, &err) < 0) {
		if (err.code)
			log_warn("proxy: %s", err.msg);
		c->closing = true;
		conn_close(c);
	}
}

void conn_close(struct conn *c)
{
	if (c->zombie)
		return;
	c->zombie = true;
	if (c->recheck) {
		c->recheck = false;
		c->lp->nrecheck--;
	}
	keepalive_park(c);
	if (c->ssl) {
		if (c->tls_bye)
			(void)SSL_shutdown(c->ssl); /* one try: the socket is non-blocking */
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	ep_close(c->lp, c->cfd);
	c->cfd = -1;
	half_reset(&c->req);
	half_reset(&c->resp);
	c->req.b.start = c->req.b.end = c->resp.b.start = c->resp.b.end = 0;
	buf_release(c->lp, &c->req.b);
	buf_release(c->lp, &c->resp.b);
	c->prev->next = c->next;
	c->next->prev = c->prev;
	c->prev = c->next = c;
	__atomic_sub_fetch(&c->lp->nconns, 1, __ATOMIC_RELAXED);
	conn_release(c);
}
