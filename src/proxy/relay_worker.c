/* A relay worker: hoodyd re-executed (argv[1] PROXY_RELAY_ARG) to hold
 * upgraded connections, so that hoodyd's own descriptor table keeps only
 * listeners and connections still speaking HTTP. hoodyd hands over the
 * client and backend sockets of a connection after its 101 (relay.c); from
 * then on both are opaque byte streams and this loop copies bytes between
 * them, nothing else: no parsing, no policy, no privilege.
 *
 * Memory: a quiet connection is its struct rconn; a 16 KiB buffer is taken
 * from the pool only while bytes are in flight in that direction, and a full
 * buffer stops reading its source (back-pressure, as in conn.c). */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "proxy/relay_proto.h"

#define RELAY_EVENTS 256
#define RELAY_ROUNDS 64 /* then other connections get a turn */
#define RELAY_POOL_KEEP 256
#define NOBODY 65534
#define RELAY_ID_BUCKETS 16384

/* Side 0 is the client, side 1 the backend; b[s] holds bytes read from
 * fd[s] on their way to fd[1 - s]. */
struct rconn {
	struct rconn *prev, *next;
	struct rconn *hnext; /* its bucket, by hoodyd's id */
	uint64_t id;
	int fd[2];
	struct rbuf {
		char *data;
		uint32_t start, end;
	} b[2];
	bool rd[2], wr[2], eof[2], shut[2], dead;
	int64_t deadline_ns;
	char ip[INET6_ADDRSTRLEN];
};

struct relay_worker_state {
	int epfd;
	int64_t timeout_ns, now_ns;
	struct rconn head;  /* list sentinel, for the timeout sweep */
	struct rconn *dead; /* closed during this batch, freed after it */
	char *pool[RELAY_POOL_KEEP];
	int npool;
	bool quit;
	struct rconn *byid[RELAY_ID_BUCKETS]; /* hoodyd names a connection to close */
};

/* ------------------------------------------------------------ buffers */

static char *rpool_get(struct relay_worker_state *w)
{
	return w->npool ? w->pool[--w->npool] : xmalloc(BUF_SIZE);
}

static void rbuf_release(struct relay_worker_state *w, struct rbuf *b)
{
	if (!b->data || b->start != b->end)
		return;
	if (w->npool < RELAY_POOL_KEEP)
		w->pool[w->npool++] = b->data;
	else
		free(b->data);
	b->data = NULL;
	b->start = b->end = 0;
}

/* ------------------------------------------------------------ connections */

/* hoodyd counts connections per client address; this is how it learns
 * that one ended. hoodyd reads these without ever blocking on us, so a
 * blocking send only waits for its reader thread. */
static void report_closed(struct relay_worker_state *w, uint64_t id, const char *ip)
{
	struct relay_closed m = {.id = id};
	snprintf(m.ip, sizeof(m.ip), "%s", ip);
	while (send(RELAY_CTL_FD, &m, sizeof(m), MSG_NOSIGNAL) < 0) {
		if (errno != EINTR) {
			w->quit = true; /* hoodyd is gone */
			return;
		}
	}
}

static void rconn_close(struct relay_worker_state *w, struct rconn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	for (int s = 0; s < 2; s++) {
		(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd[s], NULL);
		close(c->fd[s]);
		c->b[s].start = c->b[s].end;
		rbuf_release(w, &c->b[s]);
	}
	c->prev->next = c->next;
	c->next->prev = c->prev;
	for (struct rconn **pp = &w->byid[c->id % RELAY_ID_BUCKETS]; *pp; pp = &(*pp)->hnext)
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	c->next = w->dead;
	w->dead = c;
	report_closed(w, c->id, c->ip);
}

/* Moves bytes from side s to the other; true when anything happened.
 * A broken peer closes the connection, as conn.c does for a tunnel. */
static bool rconn_move(struct relay_worker_state *w, struct rconn *c, int s)
{
	struct rbuf *b = &c->b[s];
	int d = 1 - s;
	bool progress = false;
	for (;;) {
		if (b->end > b->start && c->wr[d]) {
			ssize_t n = send(c->fd[d], b->data + b->start, b->end - b->start,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0) {
				b->start += (uint32_t)n;
				if (b->start == b->end)
					b->start = b->end = 0;
				progress = true;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno != EAGAIN) {
				rconn_close(w, c);
				return true;
			}
			c->wr[d] = false;
		}
		if (c->eof[s] || !c->rd[s] || b->end == BUF_SIZE)
			break;
		if (!b->data)
			b->data = rpool_get(w);
		ssize_t n = recv(c->fd[s], b->data + b->end, BUF_SIZE - b->end, MSG_DONTWAIT);
		if (n > 0) {
			b->end += (uint32_t)n;
			progress = true;
			continue;
		}
		if (n == 0) {
			c->eof[s] = true;
			progress = true;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			rconn_close(w, c);
			return true;
		}
		c->rd[s] = false;
		break;
	}
	/* This side is done sending: say so to the other and keep relaying the
	 * other way until it is done too (WebSocket close handshakes). */
	if (c->eof[s] && b->end == b->start && !c->shut[s]) {
		shutdown(c->fd[d], SHUT_WR);
		c->shut[s] = true;
		progress = true;
	}
	rbuf_release(w, b);
	return progress;
}

static void rconn_pump(struct relay_worker_state *w, struct rconn *c)
{
	bool any = false;
	for (int round = 0; round < RELAY_ROUNDS && !c->dead; round++) {
		bool p = rconn_move(w, c, 0);
		if (!c->dead)
			p |= rconn_move(w, c, 1);
		if (c->dead)
			return;
		if (c->shut[0] && c->shut[1]) {
			rconn_close(w, c);
			return;
		}
		if (!p)
			break;
		any = true;
	}
	if (any)
		c->deadline_ns = w->now_ns + w->timeout_ns;
	/* Rounds used up: level-triggered readiness is gone (edge-triggered
	 * epoll), so the sweep's next pass pumps it again. */
}

static void rconn_event(struct relay_worker_state *w, struct rconn *c, int s, uint32_t ev)
{
	bool hup = ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
	c->rd[s] |= (ev & EPOLLIN) || hup;
	c->wr[s] |= (ev & EPOLLOUT) || (ev & (EPOLLHUP | EPOLLERR));
	rconn_pump(w, c);
}

/* epoll data: the connection's address with the side in its low bit (the
 * control socket is 0). */
static uint64_t ep_tag(struct rconn *c, int s)
{
	return (uint64_t)(uintptr_t)c | (uint64_t)s;
}

static void rconn_add(struct relay_worker_state *w, int fds[2], const struct relay_add *m,
		      const char *bytes)
{
	struct rconn *c = xcalloc(1, sizeof(*c));
	c->fd[0] = fds[0];
	c->fd[1] = fds[1];
	c->id = m->id;
	c->hnext = w->byid[c->id % RELAY_ID_BUCKETS];
	w->byid[c->id % RELAY_ID_BUCKETS] = c;
	snprintf(c->ip, sizeof(c->ip), "%s", m->ip);
	/* bytes hoodyd read past the 101 go out first, each its own way */
	const uint32_t len[2] = {m->to_backend, m->to_client};
	const char *src[2] = {bytes + m->to_client, bytes};
	for (int s = 0; s < 2; s++) {
		if (len[s]) {
			c->b[s].data = rpool_get(w);
			memcpy(c->b[s].data, src[s], len[s]);
			c->b[s].end = len[s];
		}
		c->rd[s] = c->wr[s] = true;
	}
	c->prev = &w->head;
	c->next = w->head.next;
	w->head.next->prev = c;
	w->head.next = c;
	c->deadline_ns = w->now_ns + w->timeout_ns;
	for (int s = 0; s < 2; s++) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					 .data.u64 = ep_tag(c, s)};
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd[s], &ev) < 0) {
			log_warn("relay: epoll_ctl: %s", strerror(errno));
			rconn_close(w, c);
			return;
		}
	}
	rconn_pump(w, c);
}

/* ------------------------------------------------------------ control socket */

static void close_fds(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* hoodyd withdrew the access that admitted a connection: it closes here
 * and is reported closed like any other. An unknown id (it closed
 * meanwhile) is nothing to do. */
static void ctl_kill(struct relay_worker_state *w, const char *data)
{
	struct relay_kill k;
	memcpy(&k, data, sizeof(k));
	for (struct rconn *c = w->byid[k.id % RELAY_ID_BUCKETS]; c; c = c->hnext)
		if (c->id == k.id) {
			rconn_close(w, c);
			return;
		}
}

/* One message: a struct relay_kill without descriptors, or a struct
 * relay_add, its bytes and exactly two descriptors. Anything else is
 * hoodyd's bug; the connection (if any) is dropped and reported closed, so
 * hoodyd's counts stay true. */
static void ctl_message(struct relay_worker_state *w, struct msghdr *mh, ssize_t n,
			const char *data)
{
	int fds[2] = {-1, -1}, nfds = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int *p = (int *)CMSG_DATA(cm);
		for (int i = 0; i < k; i++) {
			if (nfds < 2)
				fds[nfds++] = p[i];
			else
				close(p[i]);
		}
	}
	struct relay_add m;
	uint32_t type = 0;
	if (n >= (ssize_t)sizeof(type))
		memcpy(&type, data, sizeof(type));
	if (type == RELAY_KILL && n == (ssize_t)sizeof(struct relay_kill) && nfds == 0) {
		ctl_kill(w, data);
		return;
	}
	bool ok = n >= (ssize_t)sizeof(m);
	if (ok) {
		memcpy(&m, data, sizeof(m));
		m.ip[sizeof(m.ip) - 1] = '\0';
		ok = type == RELAY_ADD && m.to_client <= BUF_SIZE && m.to_backend <= BUF_SIZE &&
		     (size_t)n == sizeof(m) + m.to_client + m.to_backend && nfds == 2 &&
		     !(mh->msg_flags & (MSG_CTRUNC | MSG_TRUNC));
	}
	if (ok) {
		rconn_add(w, fds, &m, data + sizeof(m));
		return;
	}
	log_warn("relay: malformed hand-over from hoodyd (%zd bytes, %d descriptors)", n, nfds);
	close_fds(fds, nfds);
	if (n >= (ssize_t)sizeof(m))
		report_closed(w, m.id, m.ip);
}

static void ctl_read(struct relay_worker_state *w)
{
	static char data[RELAY_ADD_MAX];
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	for (;;) {
		struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		ssize_t n = recvmsg(RELAY_CTL_FD, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			w->quit = true; /* hoodyd closed its end: stopping */
			return;
		}
		ctl_message(w, &mh, n, data);
	}
}

/* ------------------------------------------------------------ the loop */

static void sweep(struct relay_worker_state *w)
{
	for (struct rconn *c = w->head.next, *next; c != &w->head; c = next) {
		next = c->next;
		if (w->now_ns > c->deadline_ns)
			rconn_close(w, c);
		else
			rconn_pump(w, c);
	}
}

static void free_dead(struct relay_worker_state *w)
{
	while (w->dead) {
		struct rconn *c = w->dead;
		w->dead = c->next;
		free(c);
	}
}

static void relay_loop(struct relay_worker_state *w)
{
	struct epoll_event evs[RELAY_EVENTS];
	int64_t last_sweep = mono_ns();
	while (!w->quit) {
		int n = epoll_wait(w->epfd, evs, RELAY_EVENTS, 1000);
		w->now_ns = mono_ns();
		for (int i = 0; i < n && !w->quit; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag == 0) {
				ctl_read(w);
				continue;
			}
			struct rconn *c = (struct rconn *)(uintptr_t)(tag & ~(uint64_t)1);
			if (!c->dead)
				rconn_event(w, c, (int)(tag & 1), evs[i].events);
		}
		if (w->now_ns - last_sweep >= 1000000000LL) {
			sweep(w);
			last_sweep = w->now_ns;
		}
		free_dead(w);
	}
	while (w->head.next != &w->head)
		rconn_close(w, w->head.next);
	free_dead(w);
	while (w->npool)
		free(w->pool[--w->npool]);
}

/* ------------------------------------------------------------ setup */

/* The worker holds sockets and nothing else: every other descriptor is
 * closed, the descriptor limit is raised to the hard one (each connection
 * takes two), root is dropped for nobody with no way back, and it dies with
 * hoodyd. The parent-death signal is set last: changing credentials clears
 * it. */
static int relay_setup(pid_t parent)
{
	struct rlimit rl;
	signal(SIGPIPE, SIG_IGN);
	if (close_range(RELAY_CTL_FD + 1, ~0U, 0) < 0)
		return -1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getuid() == 0 && (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
			      setresuid(NOBODY, NOBODY, NOBODY) < 0))
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
#if defined(__SANITIZE_ADDRESS__)
	/* LeakSanitizer stops the world with ptrace, which a process that
	 * changed credentials refuses to itself; sanitizer builds only. */
	(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
		return -1;
	return 0;
}

int proxy_relay_main(int argc, char **argv)
{
	if (argc != 4) {
		log_error("relay: usage: hoodyd %s TIMEOUT_S PARENT_PID", PROXY_RELAY_ARG);
		return 2;
	}
	long timeout_s = strtol(argv[2], NULL, 10);
	pid_t parent = (pid_t)strtol(argv[3], NULL, 10);
	if (timeout_s <= 0 || parent <= 1 || relay_setup(parent) < 0) {
		log_error("relay: cannot start: %s", strerror(errno));
		return 1;
	}
	struct relay_worker_state *w = xcalloc(1, sizeof(*w));
	w->timeout_ns = (int64_t)timeout_s * 1000000000LL;
	w->now_ns = mono_ns();
	w->head.next = w->head.prev = &w->head;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
	int rc = 0;
	if (w->epfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, RELAY_CTL_FD, &ev) < 0) {
		log_error("relay: epoll: %s", strerror(errno));
		rc = 1;
	} else {
		relay_loop(w);
	}
	if (w->epfd >= 0)
		close(w->epfd);
	free(w);
	return rc;
}
