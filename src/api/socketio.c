/* The socket.io channel of /api/v1/events: Engine.IO protocol 4 (polling and
 * WebSocket, the probe-and-upgrade dance, ping/pong) carrying socket.io
 * protocol 5 (CONNECT with {token}, CONNECT_ERROR, EVENT, DISCONNECT). Only
 * the default namespace "/" exists; each event is emitted as
 * 42["<event_type>", <event object>].
 *
 * Never holding a thread per client: a long-poll GET with nothing to send
 * suspends its connection (like the SSE stream); WebSockets are taken over
 * from libmicrohttpd after the 101 and served, non-blocking, by one loop
 * thread (epoll), which also runs the timers (pings, timeouts). Events are
 * not queued per session: a session keeps a cursor (the last sequence it
 * sent) and reads at most SIO_BATCH events from the store when its transport
 * can take them, so a slow reader holds one batch, never a backlog.
 * Decisions: docs/EVENTS.md. */
#include "api/socketio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/websocket.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/util.h"
#include "platform/auth.h"
#include "platform/events.h"

#define SIO_PATH "/api/v1/events"
#define SIO_SESSIONS_MAX 1024
#define SIO_SESSIONS_PER_IP 64 /* so that one client cannot take the whole table */
#define SIO_PING_INTERVAL_MS 25000
#define SIO_PING_TIMEOUT_MS 20000
#define SIO_CONNECT_TIMEOUT_MS 45000
#define SIO_MAX_PAYLOAD 65536 /* what a client may send in one POST or frame */
#define SIO_CTL_MAX 16	      /* control packets waiting per session */
#define SIO_BATCH 100	      /* events read per send */
#define SIO_TOKEN_MAX 4096
#define SIO_LOOP_MS 500
#define SID_BYTES 15 /* 20 base64url characters */
#define MS_NS 1000000LL

enum transport { T_POLLING, T_WS };

struct ws_conn {
	int fd;
	struct MHD_UpgradeResponseHandle *urh;
	uint8_t *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off, out_cap;
	bool want_out; /* EPOLLOUT registered */
	bool probed;   /* "2probe" answered: waiting for "5" */
};

struct session {
	char sid[24];
	int refs;
	enum transport transport;
	bool connected, closed;
	struct principal who; /* once connected */
	char *token;	      /* re-checked at every ping */
	char realm[ID_LEN + 1];
	char ip[64];
	int64_t last_seq;
	uint64_t seen_gen; /* the event generation last read */
	char *ctl[SIO_CTL_MAX];
	size_t nctl;
	int64_t created_ns, last_ping_ns, pong_deadline_ns;
	struct MHD_Connection *waiting; /* a suspended polling GET */
	bool poll_active;
	struct ws_conn *ws;
	struct session *next;
};

static struct {
	pthread_mutex_t mu;
	struct session *list;
	size_t count;
	struct platform *pf;
	uint64_t gen; /* bumped by every committed event (atomic) */
	int epfd, evfd;
	bool loop_on, stopping;
	pthread_t loop;
} sio = {.mu = PTHREAD_MUTEX_INITIALIZER, .epfd = -1, .evfd = -1};

static const char WAKE_MARK = 0; /* epoll data of the eventfd */

/* ------------------------------------------------------------ helpers */

static int64_t ms_since(int64_t then_ns)
{
	return (mono_ns() - then_ns) / MS_NS;
}

static void session_unref_locked(struct session *s)
{
	if (--s->refs > 0)
		return;
	for (size_t i = 0; i < s->nctl; i++)
		free(s->ctl[i]);
	principal_clear(&s->who);
	if (s->token)
		sodium_memzero(s->token, strlen(s->token));
	free(s->token);
	free(s);
}

/* Queues a control packet; a session that lets SIO_CTL_MAX of them pile up
 * is not reading and is closed. Caller holds sio.mu. */
static void ctl_push(struct session *s, char *packet_steal)
{
	if (s->nctl == SIO_CTL_MAX) {
		free(packet_steal);
		s->closed = true;
		return;
	}
	s->ctl[s->nctl++] = packet_steal;
}

static void kick_poll_locked(struct session *s)
{
	if (s->waiting) {
		MHD_resume_connection(s->waiting);
		s->waiting = NULL;
	}
}

static void signal_loop(void)
{
	uint64_t one = 1;
	if (sio.evfd >= 0 && write(sio.evfd, &one, sizeof(one)) < 0) {
		/* the counter is full: the loop has a wake-up pending anyway */
	}
}

static struct session *find_locked(const char *sid)
{
	for (struct session *s = sio.list; s; s = s->next)
		if (!s->closed && !strcmp(s->sid, sid))
			return s;
	return NULL;
}

static char *open_packet_new(const char *sid)
{
	return xasprintf("0{\"sid\":\"%s\",\"upgrades\":[\"websocket\"],\"pingInterval\":%d,"
			 "\"pingTimeout\":%d,\"maxPayload\":%d}",
			 sid, SIO_PING_INTERVAL_MS, SIO_PING_TIMEOUT_MS, SIO_MAX_PAYLOAD);
}

static void *loop_main(void *arg);
static void eio_error(struct resp *out, int status, int code, const char *msg);

/* Caller holds sio.mu. */
static bool loop_start_locked(void)
{
	if (sio.loop_on)
		return true;
	sio.epfd = epoll_create1(EPOLL_CLOEXEC);
	sio.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = (void *)&WAKE_MARK};
	if (sio.epfd < 0 || sio.evfd < 0 || epoll_ctl(sio.epfd, EPOLL_CTL_ADD, sio.evfd, &ev) < 0 ||
	    pthread_create(&sio.loop, NULL, loop_main, NULL) != 0) {
		log_error("socket.io: cannot start its loop");
		if (sio.epfd >= 0)
			close(sio.epfd);
		if (sio.evfd >= 0)
			close(sio.evfd);
		sio.epfd = sio.evfd = -1;
		return false;
	}
	sio.loop_on = true;
	return true;
}

/* NULL with the Engine.IO error in out when no session can be made. */
static struct session *session_new_locked(struct req *r, enum transport t, struct resp *out)
{
	char realm[ID_LEN + 1];
	struct error err = {0};
	if (req_host_realm(r, realm, &err) < 0) {
		eio_error(out, 400, 3, err.msg);
		return NULL;
	}
	size_t same_ip = 0;
	for (struct session *o = sio.list; o; o = o->next)
		same_ip += !o->closed && r->client_ip && !strcmp(o->ip, r->client_ip);
	if (sio.count >= SIO_SESSIONS_MAX || same_ip >= SIO_SESSIONS_PER_IP || sio.stopping ||
	    !loop_start_locked()) {
		eio_error(out, 503, 3, "Too many sessions");
		return NULL;
	}
	struct session *s = xcalloc(1, sizeof(*s));
	/* a realm host scopes the session like any request */
	memcpy(s->realm, realm, sizeof(realm));
	unsigned char raw[SID_BYTES];
	random_bytes(raw, sizeof(raw));
	sodium_bin2base64(s->sid, sizeof(s->sid), raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	s->refs = 1;
	s->transport = t;
	s->created_ns = s->last_ping_ns = mono_ns();
	snprintf(s->ip, sizeof(s->ip), "%s", r->client_ip ? r->client_ip : "");
	s->next = sio.list;
	sio.list = s;
	sio.count++;
	sio.pf = r->pf;
	return s;
}

/* ------------------------------------------------------------ socket.io */

/* Receives one packet for the transport (a polling payload, a WebSocket frame). */
typedef void (*packet_fn)(void *ctx, const char *packet, size_t len);

/* The socket.io packets the session owes its client from the event log: up to
 * SIO_BATCH events after its cursor, each handed to put. Caller holds sio.mu
 * (the cursor is the session's). */
static void events_put(struct session *s, packet_fn put, void *ctx)
{
	uint64_t gen = __atomic_load_n(&sio.gen, __ATOMIC_ACQUIRE);
	if (!s->connected || s->seen_gen == gen)
		return;
	struct events_filter f = {0};
	struct error err = {0};
	json_t *arr = NULL, *ev;
	int64_t last = s->last_seq;
	if (events_after(sio.pf, &s->who, &f, s->last_seq, SIO_BATCH, &arr, &last, &err) < 0) {
		log_warn("socket.io: %s", err.msg);
		return;
	}
	/* the cursor moved: more may follow, so look again next time (a look
	 * that finds nothing settles the session on this generation) */
	s->seen_gen = last != s->last_seq ? gen - 1 : gen;
	s->last_seq = last;
	size_t i;
	json_array_foreach(arr, i, ev)
	{
		json_t *pk =
		    json_pack("[s,O]", json_string_value(json_object_get(ev, "event_type")), ev);
		char *js = json_dumps(pk, JSON_COMPACT);
		json_decref(pk);
		if (!js)
			continue;
		char *packet = xasprintf("42%s", js);
		put(ctx, packet, strlen(packet));
		free(packet);
		free(js);
	}
	json_decref(arr);
}

/* "40{...}" (namespace "/") or "40/admin,{...}": authenticates {token}. */
static void on_connect(struct session *s, const char *p)
{
	struct error err = {0};
	if (*p == '/' && strncmp(p, "/,", 2) != 0) {
		ctl_push(s, xstrdup("44{\"message\":\"Invalid namespace\"}"));
		return;
	}
	if (*p == '/')
		p += 2;
	if (s->connected) {
		ctl_push(s, xasprintf("40{\"sid\":\"%s\"}", s->sid));
		return;
	}
	json_t *auth = *p ? json_loads(p, JSON_REJECT_DUPLICATES, NULL) : NULL;
	const char *tok = json_string_value(json_object_get(auth, "token"));
	int rc = -1;
	if (!tok || !*tok || strlen(tok) > SIO_TOKEN_MAX) {
		err_set(&err, E_MISSING_TOKEN,
			"Authentication required: CONNECT with auth {token}");
	} else {
		_cleanup_free_ char *bearer = xasprintf("Bearer %s", tok);
		rc = auth_authenticate(sio.pf, bearer, s->ip, s->realm, &s->who, &err);
		/* the leaf and the check of every event route */
		if (rc == 0)
			rc = principal_require(&s->who, "resources.events", &err);
		if (rc == 0)
			rc = events_require_access(&s->who, &err);
	}
	if (rc < 0) {
		principal_clear(&s->who);
		memset(&s->who, 0, sizeof(s->who));
		json_t *m = json_pack("{s:s}", "message", err.msg);
		char *js = json_dumps(m, JSON_COMPACT);
		json_decref(m);
		ctl_push(s, xasprintf("44%s", js ? js : "{}"));
		free(js);
		json_decref(auth);
		return;
	}
	s->token = xstrdup(tok);
	json_decref(auth);
	/* only what happens from now on, like a fresh SSE stream */
	if (events_last_seq(sio.pf, &s->last_seq, &err) < 0)
		s->last_seq = 0;
	s->connected = true;
	s->seen_gen = __atomic_load_n(&sio.gen, __ATOMIC_ACQUIRE);
	ctl_push(s, xasprintf("40{\"sid\":\"%s\"}", s->sid));
}

/* One socket.io packet (the text after the Engine.IO "4"). Events the client
 * emits are ignored: the channel only pushes. */
static void on_sio_packet(struct session *s, const char *p)
{
	if (*p == '0')
		on_connect(s, p + 1);
	else if (*p == '1')
		s->closed = true;
}

/* One Engine.IO packet from the client. Caller holds sio.mu. */
static void on_eio_packet(struct session *s, const char *p, bool over_ws)
{
	switch (*p) {
	case '1':
		s->closed = true;
		break;
	case '2':
		if (over_ws && !strcmp(p, "2probe") && s->ws && s->transport == T_POLLING) {
			s->ws->probed = true;
			/* let the pending long-poll return so the client can pause it */
			ctl_push(s, xstrdup("6"));
			kick_poll_locked(s);
		} else {
			ctl_push(s, xasprintf("3%s", p + 1));
		}
		break;
	case '3':
		s->pong_deadline_ns = 0;
		break;
	case '4':
		on_sio_packet(s, p + 1);
		break;
	case '5':
		if (over_ws && s->ws && s->ws->probed)
			s->transport = T_WS;
		break;
	default: /* '6' noop and anything unknown */
		break;
	}
}

/* ------------------------------------------------------------ polling */

struct poll_req {
	struct session *s;
	struct MHD_Connection *conn;
	char *buf;
	size_t len, off;
	bool done;
};

/* Appends a packet to a polling payload (packets are joined by 0x1e). */
static void poll_put(void *ctx, const char *packet, size_t n)
{
	struct poll_req *p = ctx;
	p->buf = xrealloc(p->buf, p->len + n + 2);
	if (p->len)
		p->buf[p->len++] = '\x1e';
	memcpy(p->buf + p->len, packet, n);
	p->len += n;
}

static ssize_t poll_drain(struct poll_req *p, char *out, size_t max)
{
	size_t n = p->len - p->off < max ? p->len - p->off : max;
	memcpy(out, p->buf + p->off, n);
	p->off += n;
	return (ssize_t)n;
}

/* The payload of a long-poll: control packets then events, joined by the
 * record separator 0x1e; or, with nothing to say, a suspended connection. */
static ssize_t poll_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct poll_req *p = cls;
	if (p->off < p->len)
		return poll_drain(p, out, max);
	if (p->done)
		return MHD_CONTENT_READER_END_OF_STREAM;
	pthread_mutex_lock(&sio.mu);
	struct session *s = p->s;
	for (size_t i = 0; i < s->nctl; i++) {
		poll_put(p, s->ctl[i], strlen(s->ctl[i]));
		free(s->ctl[i]);
	}
	s->nctl = 0;
	if (s->transport == T_POLLING && !(s->ws && s->ws->probed))
		events_put(s, poll_put, p);
	if (!p->len && (s->closed || sio.stopping || s->transport != T_POLLING)) {
		/* closed: "1"; upgraded meanwhile: a noop the old transport drops */
		p->buf =
		    xstrdup(s->transport == T_POLLING || s->closed || sio.stopping ? "1" : "6");
		p->len = 1;
	}
	if (p->len) {
		p->done = true;
		pthread_mutex_unlock(&sio.mu);
		return poll_drain(p, out, max);
	}
	s->waiting = p->conn;
	MHD_suspend_connection(p->conn);
	pthread_mutex_unlock(&sio.mu);
	return 0;
}

static void poll_free(void *cls)
{
	struct poll_req *p = cls;
	pthread_mutex_lock(&sio.mu);
	if (p->s->waiting == p->conn)
		p->s->waiting = NULL;
	p->s->poll_active = false;
	session_unref_locked(p->s);
	pthread_mutex_unlock(&sio.mu);
	free(p->buf);
	free(p);
}

/* ------------------------------------------------------------ requests */

/* Engine.IO's error answer: 400 {"code":n,"message":...}. */
static void eio_error(struct resp *out, int status, int code, const char *msg)
{
	out->status = status;
	out->json = json_pack("{s:i, s:s}", "code", code, "message", msg);
}

static void text_steal(struct resp *out, char *body)
{
	out->status = 200;
	out->raw = body;
	out->raw_len = strlen(body);
	out->content_type = "text/plain; charset=UTF-8";
}

bool api_sio_request(struct req *r)
{
	size_t n = strlen(SIO_PATH);
	if (strncmp(r->path, SIO_PATH, n) != 0 || (r->path[n] && strcmp(r->path + n, "/") != 0))
		return false;
	return req_query(r, "EIO") != NULL;
}

static void handshake(struct req *r, struct resp *out)
{
	pthread_mutex_lock(&sio.mu);
	struct session *s = session_new_locked(r, T_POLLING, out);
	if (s)
		text_steal(out, open_packet_new(s->sid));
	pthread_mutex_unlock(&sio.mu);
}

static void poll_get(struct req *r, struct session *s, struct resp *out)
{
	if (s->poll_active) {
		/* two long-polls at once break the protocol: end the session */
		s->closed = true;
		eio_error(out, 400, 3, "Bad request");
		return;
	}
	if (s->transport != T_POLLING) {
		eio_error(out, 400, 3, "Bad request");
		return;
	}
	struct poll_req *p = xcalloc(1, sizeof(*p));
	p->s = s;
	p->conn = r->conn;
	s->refs++;
	s->poll_active = true;
	out->status = 200;
	out->content_type = "text/plain; charset=UTF-8";
	out->stream_read = poll_read;
	out->stream_cls = p;
	out->stream_free = poll_free;
}

static void poll_post(struct session *s, const char *body, size_t len, struct resp *out)
{
	if (len > SIO_MAX_PAYLOAD || memchr(body, '\0', len)) {
		s->closed = true;
		eio_error(out, 413, 3, "Payload too large");
		return;
	}
	_cleanup_free_ char *copy = xmalloc(len + 1);
	memcpy(copy, body, len);
	copy[len] = '\0';
	char *save = NULL;
	for (char *pk = strtok_r(copy, "\x1e", &save); pk; pk = strtok_r(NULL, "\x1e", &save))
		on_eio_packet(s, pk, false);
	text_steal(out, xstrdup("ok"));
	kick_poll_locked(s);
}

/* GET with transport=websocket: checks the handshake headers and answers 101;
 * api_sio_upgraded takes the socket over. */
static void ws_request(struct req *r, struct session *s, struct resp *out)
{
	const char *up = req_header(r, "Upgrade"), *ver = req_header(r, "Sec-WebSocket-Version");
	char accept[WS_ACCEPT_LEN + 1];
	if (!up || strcasecmp(up, "websocket") != 0 || !ver || strcmp(ver, "13") != 0 ||
	    !ws_accept_key(req_header(r, "Sec-WebSocket-Key"), accept)) {
		eio_error(out, 400, 3, "Bad request");
		return;
	}
	if (s && (s->ws || s->transport != T_POLLING)) {
		eio_error(out, 400, 3, "Bad request");
		return;
	}
	if (!s) {
		s = session_new_locked(r, T_WS, out);
		if (!s)
			return;
		ctl_push(s, open_packet_new(s->sid));
	}
	/* this reference lives until the upgrade callback, which gets it */
	s->refs++;
	out->status = 101;
	out->upgrade_cls = s;
	out->header_name = xstrdup("Sec-WebSocket-Accept");
	out->header_value = xstrdup(accept);
}

void api_sio_handle(struct req *r, const char *body, size_t body_len, struct resp *out)
{
	const char *eio = req_query(r, "EIO"), *transport = req_query(r, "transport");
	const char *sid = req_query(r, "sid");
	bool get = !strcmp(r->method, "GET"), post = !strcmp(r->method, "POST");
	if (strcmp(eio, "4") != 0) {
		eio_error(out, 400, 5, "Unsupported protocol version");
		return;
	}
	if (!transport || (strcmp(transport, "polling") && strcmp(transport, "websocket"))) {
		eio_error(out, 400, 0, "Transport unknown");
		return;
	}
	bool ws = !strcmp(transport, "websocket");
	if (!sid && !ws) {
		if (get)
			handshake(r, out);
		else
			eio_error(out, 400, 2, "Bad handshake method");
		return;
	}
	pthread_mutex_lock(&sio.mu);
	struct session *s = sid ? find_locked(sid) : NULL;
	if (sid && !s)
		eio_error(out, 400, 1, "Session ID unknown");
	else if (ws && get)
		ws_request(r, s, out);
	else if (ws)
		eio_error(out, 400, 3, "Bad request");
	else if (get)
		poll_get(r, s, out);
	else if (post)
		poll_post(s, body ? body : "", body_len, out);
	else
		eio_error(out, 400, 3, "Bad request");
	pthread_mutex_unlock(&sio.mu);
	if (s)
		signal_loop();
}

/* ------------------------------------------------------------ websocket */

static void ws_put(struct ws_conn *w, enum ws_opcode op, const char *data, size_t n)
{
	uint8_t hdr[WS_HEADER_MAX];
	size_t hl = ws_frame_header(hdr, op, n);
	if (w->out_len + hl + n > w->out_cap) {
		w->out_cap = (w->out_len + hl + n) * 2;
		w->out = xrealloc(w->out, w->out_cap);
	}
	memcpy(w->out + w->out_len, hdr, hl);
	memcpy(w->out + w->out_len + hl, data, n);
	w->out_len += hl + n;
}

static void ws_put_text(void *ctx, const char *packet, size_t n)
{
	ws_put(ctx, WS_TEXT, packet, n);
}

void api_sio_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra_in,
		      size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct session *s = cls;
	struct ws_conn *w = xcalloc(1, sizeof(*w));
	w->fd = sock;
	w->urh = urh;
	fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
	if (extra_in_size && extra_in_size <= SIO_MAX_PAYLOAD + WS_HEADER_MAX + 4) {
		w->in = xmalloc(extra_in_size);
		memcpy(w->in, extra_in, extra_in_size);
		w->in_len = w->in_cap = extra_in_size;
	}
	pthread_mutex_lock(&sio.mu);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = s};
	if (s->closed || s->ws || sio.stopping ||
	    epoll_ctl(sio.epfd, EPOLL_CTL_ADD, sock, &ev) < 0) {
		free(w->in);
		free(w);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	} else {
		s->ws = w;
	}
	session_unref_locked(s);
	pthread_mutex_unlock(&sio.mu);
	signal_loop();
}

/* Parses the frames that arrived; false when the connection must end. */
static bool ws_consume(struct session *s)
{
	struct ws_conn *w = s->ws;
	size_t off = 0;
	bool ok = true;
	while (ok && off < w->in_len) {
		struct ws_frame f;
		ssize_t n = ws_frame_parse(w->in + off, w->in_len - off, SIO_MAX_PAYLOAD, &f);
		if (n == 0)
			break;
		/* fragmented messages are not used by socket.io clients: refused */
		if (n < 0 || !f.fin || f.opcode == WS_CONT || f.opcode == WS_BINARY ||
		    f.opcode == WS_CLOSE) {
			ok = false;
			break;
		}
		off += (size_t)n;
		if (f.opcode == WS_PING) {
			ws_put(w, WS_PONG, (const char *)f.payload, f.len);
		} else if (f.opcode == WS_TEXT && f.len && !memchr(f.payload, '\0', f.len)) {
			char *p = xmalloc(f.len + 1);
			memcpy(p, f.payload, f.len);
			p[f.len] = '\0';
			on_eio_packet(s, p, true);
			if (!strcmp(p, "2probe") && w->probed)
				ws_put(w, WS_TEXT, "3probe", 6);
			free(p);
		}
	}
	memmove(w->in, w->in + off, w->in_len - off);
	w->in_len -= off;
	return ok;
}

static bool ws_read(struct session *s)
{
	struct ws_conn *w = s->ws;
	size_t room_max = SIO_MAX_PAYLOAD + WS_HEADER_MAX + 4;
	for (;;) {
		if (w->in_cap - w->in_len < 4096 && w->in_cap < room_max) {
			w->in_cap = w->in_cap ? w->in_cap * 2 : 4096;
			if (w->in_cap > room_max)
				w->in_cap = room_max;
			w->in = xrealloc(w->in, w->in_cap);
		}
		if (w->in_len == w->in_cap)
			return false; /* a frame larger than allowed that never completes */
		ssize_t n = recv(w->fd, w->in + w->in_len, w->in_cap - w->in_len, 0);
		if (n == 0)
			return false;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
		w->in_len += (size_t)n;
		if (!ws_consume(s))
			return false;
	}
}

/* Frames what the session owes (control packets, then a batch of events when
 * nothing is still unsent) and writes as much as the socket takes. */
static bool ws_pump(struct session *s)
{
	struct ws_conn *w = s->ws;
	if (s->transport == T_WS) {
		for (size_t i = 0; i < s->nctl; i++) {
			ws_put(w, WS_TEXT, s->ctl[i], strlen(s->ctl[i]));
			free(s->ctl[i]);
		}
		s->nctl = 0;
		if (w->out_off == w->out_len)
			events_put(s, ws_put_text, w);
	}
	while (w->out_off < w->out_len) {
		ssize_t n = send(w->fd, w->out + w->out_off, w->out_len - w->out_off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return false;
		w->out_off += (size_t)n;
	}
	if (w->out_off == w->out_len)
		w->out_off = w->out_len = 0;
	bool want = w->out_len > 0;
	if (want != w->want_out) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0),
					 .data.ptr = s};
		epoll_ctl(sio.epfd, EPOLL_CTL_MOD, w->fd, &ev);
		w->want_out = want;
	}
	return true;
}

static void ws_teardown(struct session *s)
{
	struct ws_conn *w = s->ws;
	if (!w)
		return;
	epoll_ctl(sio.epfd, EPOLL_CTL_DEL, w->fd, NULL);
	/* a close frame, best effort: the socket may be full or gone */
	uint8_t close_frame[4] = {0x88, 2, 0x03, 0xe8};
	if (send(w->fd, close_frame, sizeof(close_frame), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* nothing to do: the peer is gone or not reading */
	}
	MHD_upgrade_action(w->urh, MHD_UPGRADE_ACTION_CLOSE);
	free(w->in);
	free(w->out);
	free(w);
	s->ws = NULL;
	/* a failed probe leaves a polling session as it was */
	if (s->transport == T_WS)
		s->closed = true;
}

/* ------------------------------------------------------------ the loop */

/* Pings, and the credential check that rides on them: a session whose token
 * or session was revoked since CONNECT is told so (41) and closed. */
static void timers(struct session *s)
{
	if (!s->connected && ms_since(s->created_ns) > SIO_CONNECT_TIMEOUT_MS) {
		s->closed = true;
		return;
	}
	if (s->pong_deadline_ns && mono_ns() > s->pong_deadline_ns) {
		s->closed = true;
		return;
	}
	if (s->pong_deadline_ns || ms_since(s->last_ping_ns) < SIO_PING_INTERVAL_MS)
		return;
	if (s->connected) {
		struct principal p = {0};
		struct error err = {0};
		_cleanup_free_ char *bearer = xasprintf("Bearer %s", s->token);
		int rc = auth_authenticate(sio.pf, bearer, s->ip, s->realm, &p, &err);
		principal_clear(&p);
		if (rc < 0) {
			ctl_push(s, xstrdup("41"));
			s->connected = false;
			s->created_ns = mono_ns() - (int64_t)SIO_CONNECT_TIMEOUT_MS * MS_NS;
		}
	}
	ctl_push(s, xstrdup("2"));
	s->last_ping_ns = mono_ns();
	s->pong_deadline_ns = s->last_ping_ns + (int64_t)SIO_PING_TIMEOUT_MS * MS_NS;
}

/* One pass over every session; caller holds sio.mu. */
static void sweep_locked(void)
{
	uint64_t gen = __atomic_load_n(&sio.gen, __ATOMIC_ACQUIRE);
	for (struct session **pp = &sio.list, *s; (s = *pp);) {
		if (!s->closed)
			timers(s);
		if (sio.stopping)
			s->closed = true;
		if (s->ws && !s->closed && !ws_pump(s))
			ws_teardown(s);
		if (s->closed) {
			ws_teardown(s);
			kick_poll_locked(s);
			*pp = s->next;
			sio.count--;
			session_unref_locked(s);
			continue;
		}
		if (s->waiting && (s->nctl || (s->connected && s->seen_gen != gen)))
			kick_poll_locked(s);
		/* a WebSocket that sent a batch looks for the next one at once */
		if (s->ws && s->transport == T_WS && s->connected && s->seen_gen != gen &&
		    !s->ws->out_len)
			signal_loop();
		pp = &s->next;
	}
}

static void *loop_main(void *arg)
{
	struct epoll_event evs[64];
	for (;;) {
		int n = epoll_wait(sio.epfd, evs, 64, SIO_LOOP_MS);
		pthread_mutex_lock(&sio.mu);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == &WAKE_MARK) {
				uint64_t v;
				if (read(sio.evfd, &v, sizeof(v)) < 0) {
					/* nothing pending: another pass drained it */
				}
				continue;
			}
			struct session *s = evs[i].data.ptr;
			/* a session torn down earlier in this batch has no ws */
			if (!s->ws)
				continue;
			if ((evs[i].events & (EPOLLERR | EPOLLHUP)) || !ws_read(s)) {
				ws_teardown(s);
				s->closed = true;
			}
		}
		sweep_locked();
		bool done = sio.stopping && !sio.list;
		pthread_mutex_unlock(&sio.mu);
		if (done)
			return NULL;
	}
}

void api_sio_wake(void)
{
	__atomic_add_fetch(&sio.gen, 1, __ATOMIC_ACQ_REL);
	signal_loop();
}

void api_sio_stop(void)
{
	pthread_mutex_lock(&sio.mu);
	sio.stopping = true;
	for (struct session *s = sio.list; s; s = s->next)
		kick_poll_locked(s);
	bool on = sio.loop_on;
	pthread_mutex_unlock(&sio.mu);
	if (!on)
		return;
	signal_loop();
	pthread_join(sio.loop, NULL);
	pthread_mutex_lock(&sio.mu);
	sio.loop_on = false;
	close(sio.epfd);
	close(sio.evfd);
	sio.epfd = sio.evfd = -1;
	pthread_mutex_unlock(&sio.mu);
}
