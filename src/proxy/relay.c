/* Relay workers, hoodyd's side. Once a connection is upgraded (the
 * backend's 101 passed to the client, both sides opaque byte streams), its
 * two sockets go to a relay worker (SCM_RIGHTS over a SOCK_SEQPACKET pair),
 * with the bytes already read past the 101: hoodyd's own descriptor table
 * then keeps only listeners and connections still speaking HTTP, and the
 * number of WebSockets is bounded by the workers' limits, not by hoodyd's.
 *
 * One supervisor thread starts workers (hoodyd re-executed with
 * PROXY_RELAY_ARG, relay_worker.c), keeps a spare once the running ones
 * near their capacity, reads their "closed" reports (the per-address count
 * of a relayed connection is held until then) and replaces a worker that
 * dies (its connections are lost with it). Loop threads hand over with a
 * non-blocking send: hoodyd never waits for a worker, and a connection that
 * cannot be handed over (TLS) stays a tunnel in hoodyd as before; one that
 * found no room is handed over by the loop's sweep once there is. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "proxy/relay_proto.h"

extern char **environ;

#define RELAY_WORKERS_MAX 64
#define RELAY_FD_RESERVE 64		/* a worker's own descriptors besides connections */
#define RELAY_SPAWN_GAP_NS 1000000000LL /* after a failed start or a death */
#define TALLY_BUCKETS 256
#define RELAYED_BUCKETS 1024

/* How many of a worker's connections each client address holds: what
 * hoodyd must give back to the per-address count when the worker dies. */
struct tally_node {
	struct tally_node *next;
	int count;
	char ip[INET6_ADDRSTRLEN];
};

/* A relayed tunnel as hoodyd knows it: the grant that admitted it, decided
 * again on access changes (docs/PROXY.md "What closes a tunnel"). Only the
 * supervisor thread frees one, so it may decide outside the lock. */
struct relayed {
	struct relayed *prev, *next; /* the worker's list */
	struct relayed *hnext;	     /* its bucket, by id */
	struct relay_worker *w;
	uint64_t id;
	struct proxy_grant *grant;
	bool recheck; /* to be decided again */
	bool refused; /* decided closed; the kill is still to be sent */
};

struct relay_worker {
	pid_t pid;
	int pidfd, ctl;
	int conns; /* handed over and not yet reported closed */
	struct tally_node *tally[TALLY_BUCKETS];
	struct relayed rel;		       /* list sentinel */
	struct relayed *byid[RELAYED_BUCKETS]; /* the same, by id */
};

struct relay {
	struct proxy_server *srv;
	char *exe;
	int cap;	      /* connections per worker */
	pthread_mutex_t lock; /* workers[], their conns and tallies */
	struct relay_worker *workers[RELAY_WORKERS_MAX];
	int nworkers;
	int epfd, wakefd;
	pthread_t thread;
	bool has_thread, stopping;
	int64_t next_spawn_ns;
	uint64_t next_id;    /* under lock */
	uint64_t access_seq; /* supervisor only */
	int nrecheck;	     /* changed under lock (loops mark at hand-over), read atomically */
	int64_t last_due_ns; /* supervisor only */
};

/* ------------------------------------------------------------ tallies */

static unsigned tally_bucket(const char *ip)
{
	return addr_hash(ip) % TALLY_BUCKETS;
}

static void tally_add(struct relay_worker *w, const char *ip)
{
	struct tally_node **head = &w->tally[tally_bucket(ip)];
	for (struct tally_node *n = *head; n; n = n->next)
		if (strcmp(n->ip, ip) == 0) {
			n->count++;
			return;
		}
	struct tally_node *n = xcalloc(1, sizeof(*n));
	snprintf(n->ip, sizeof(n->ip), "%s", ip);
	n->count = 1;
	n->next = *head;
	*head = n;
}

/* false when the worker never held a connection of ip (a confused worker
 * cannot make hoodyd release someone else's count) */
static bool tally_del(struct relay_worker *w, const char *ip)
{
	for (struct tally_node **pp = &w->tally[tally_bucket(ip)]; *pp; pp = &(*pp)->next) {
		struct tally_node *n = *pp;
		if (strcmp(n->ip, ip) != 0)
			continue;
		if (--n->count == 0) {
			*pp = n->next;
			free(n);
		}
		return true;
	}
	return false;
}

/* Gives every connection still counted to the per-address table. */
static void tally_release_all(struct proxy_server *srv, struct relay_worker *w)
{
	for (int i = 0; i < TALLY_BUCKETS; i++)
		while (w->tally[i]) {
			struct tally_node *n = w->tally[i];
			w->tally[i] = n->next;
			while (n->count-- > 0)
				ip_release(srv, n->ip);
			free(n);
		}
}

/* ------------------------------------------------------------ relayed tunnels */

/* Under r->lock. Takes the grant. */
static void relayed_add(struct relay_worker *w, uint64_t id, struct proxy_grant *grant)
{
	struct relayed *x = xcalloc(1, sizeof(*x));
	x->w = w;
	x->id = id;
	x->grant = grant;
	x->next = w->rel.next;
	x->prev = &w->rel;
	w->rel.next->prev = x;
	w->rel.next = x;
	struct relayed **b = &w->byid[id % RELAYED_BUCKETS];
	x->hnext = *b;
	*b = x;
}

static void relayed_free(struct relay *r, struct relayed *x)
{
	if (x->recheck || x->refused)
		__atomic_sub_fetch(&r->nrecheck, 1, __ATOMIC_RELAXED);
	x->prev->next = x->next;
	x->next->prev = x->prev;
	proxy_grant_free(x->grant);
	free(x);
}

/* Under r->lock: the worker reported it closed. */
static void relayed_closed(struct relay *r, struct relay_worker *w, uint64_t id)
{
	for (struct relayed **pp = &w->byid[id % RELAYED_BUCKETS]; *pp; pp = &(*pp)->hnext)
		if ((*pp)->id == id) {
			struct relayed *x = *pp;
			*pp = x->hnext;
			relayed_free(r, x);
			return;
		}
}

static void relayed_free_all(struct relay *r, struct relay_worker *w)
{
	if (!w->rel.next)
		return;
	while (w->rel.next != &w->rel)
		relayed_free(r, w->rel.next);
	memset(w->byid, 0, sizeof(w->byid));
}

static void mark(struct relay *r, struct relayed *x)
{
	if (x->recheck || x->refused)
		return;
	x->recheck = true;
	__atomic_add_fetch(&r->nrecheck, 1, __ATOMIC_RELAXED);
}

/* Under r->lock. false: the worker's socket is full, try again later. */
static bool send_kill(struct relayed *x)
{
	struct relay_kill k = {.type = RELAY_KILL, .id = x->id};
	return send(x->w->ctl, &k, sizeof(k), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(k) ||
	       (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS);
}

/* Under r->lock: closing for good; the report that follows frees it. */
static void refuse(struct relay *r, struct relayed *x)
{
	if (!x->refused) {
		if (!x->recheck)
			__atomic_add_fetch(&r->nrecheck, 1, __ATOMIC_RELAXED);
		x->refused = true;
		x->recheck = false;
	}
	if (send_kill(x)) {
		x->refused = false;
		__atomic_sub_fetch(&r->nrecheck, 1, __ATOMIC_RELAXED);
		proxy_grant_free(x->grant); /* nothing to decide any more */
		x->grant = NULL;
	}
}

/* The platform's changes since the last turn: touched tunnels are closed
 * or marked. */
static void relay_changes(struct relay *r)
{
	struct platform *pf = r->srv->pf;
	if (proxy_access_seq(pf) == r->access_seq)
		return;
	struct proxy_changes *chs = proxy_changes_new(pf, r->access_seq, &r->access_seq);
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < r->nworkers; i++) {
		struct relay_worker *w = r->workers[i];
		for (struct relayed *x = w->rel.next; x != &w->rel; x = x->next) {
			if (!x->grant)
				continue;
			enum proxy_touch t = proxy_changes_touch(chs, x->grant);
			if (t == PROXY_CLOSE)
				refuse(r, x);
			else if (t == PROXY_RECHECK)
				mark(r, x);
		}
	}
	pthread_mutex_unlock(&r->lock);
	proxy_changes_free(chs);
}

/* Once a second: grants whose facts expired. */
static void relay_due(struct relay *r)
{
	int64_t now = mono_ns();
	if (now - r->last_due_ns < 1000000000LL)
		return;
	r->last_due_ns = now;
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < r->nworkers; i++)
		for (struct relayed *x = r->workers[i]->rel.next; x != &r->workers[i]->rel;
		     x = x->next)
			if (x->grant && proxy_grant_due(x->grant))
				mark(r, x);
	pthread_mutex_unlock(&r->lock);
}

/* A batch of decisions, made outside the lock (loops hand over meanwhile):
 * only this thread frees a relayed tunnel or a worker, so the pointers
 * taken stay good. */
static void relay_recheck_some(struct relay *r)
{
	struct relayed *batch[RECHECK_BATCH];
	int n = 0;
	if (!__atomic_load_n(&r->nrecheck, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < r->nworkers && n < RECHECK_BATCH; i++) {
		struct relay_worker *w = r->workers[i];
		for (struct relayed *x = w->rel.next; x != &w->rel && n < RECHECK_BATCH;
		     x = x->next) {
			if (x->refused)
				refuse(r, x);
			else if (x->recheck)
				batch[n++] = x;
		}
	}
	pthread_mutex_unlock(&r->lock);
	for (int i = 0; i < n; i++) {
		struct relayed *x = batch[i];
		bool ok = !x->grant || proxy_grant_allows(r->srv->pf, x->grant);
		pthread_mutex_lock(&r->lock);
		x->recheck = false;
		__atomic_sub_fetch(&r->nrecheck, 1, __ATOMIC_RELAXED);
		if (!ok)
			refuse(r, x);
		pthread_mutex_unlock(&r->lock);
	}
}

/* ------------------------------------------------------------ workers */

static void worker_free(struct relay *r, struct relay_worker *w)
{
	relayed_free_all(r, w);
	if (w->ctl >= 0) {
		(void)epoll_ctl(r->epfd, EPOLL_CTL_DEL, w->ctl, NULL);
		close(w->ctl);
	}
	if (w->pidfd >= 0)
		close(w->pidfd);
	tally_release_all(r->srv, w);
	free(w);
}

/* hoodyd re-executed as a worker; its control socket is RELAY_CTL_FD. The
 * parent-death signal it sets refers to the thread that started it: this
 * one, which lives until the proxy stops. */
static struct relay_worker *worker_spawn(struct relay *r)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_warn("proxy: relay worker: socketpair: %s", strerror(errno));
		return NULL;
	}
	/* dup2 onto itself would keep close-on-exec */
	if (sv[1] == RELAY_CTL_FD) {
		int moved = fcntl(sv[1], F_DUPFD_CLOEXEC, RELAY_CTL_FD + 1);
		close(sv[1]);
		sv[1] = moved;
	}
	char timeout[24], parent[24];
	snprintf(timeout, sizeof(timeout), "%d", r->srv->cfg.tunnel_timeout_s);
	snprintf(parent, sizeof(parent), "%d", (int)getpid());
	char *argv[] = {"hoodyd-relay", PROXY_RELAY_ARG, timeout, parent, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], RELAY_CTL_FD);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	pid_t pid = -1;
	int rc = sv[1] < 0 ? EMFILE : posix_spawn(&pid, r->exe, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (sv[1] >= 0)
		close(sv[1]);
	if (rc != 0) {
		log_warn("proxy: cannot start a relay worker: %s", strerror(rc));
		close(sv[0]);
		return NULL;
	}
	struct relay_worker *w = xcalloc(1, sizeof(*w));
	w->rel.next = w->rel.prev = &w->rel;
	w->pid = pid;
	w->ctl = sv[0];
	/* hoodyd's reaper may collect the worker; the pidfd names it safely */
	w->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = w};
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, w->ctl, &ev) < 0) {
		log_warn("proxy: relay worker: epoll_ctl: %s", strerror(errno));
		if (w->pidfd >= 0)
			(void)syscall(SYS_pidfd_send_signal, w->pidfd, SIGKILL, NULL, 0);
		worker_free(r, w);
		return NULL;
	}
	log_debug("proxy: relay worker %d started (%d connections)", (int)pid, r->cap);
	return w;
}

/* A spare is started once the room left is under half a worker: starting
 * one takes a moment, and connections that find no room meanwhile stay in
 * hoodyd (moved by the loops' sweep once there is room). */
static bool needs_worker(struct relay *r)
{
	long room = 0;
	for (int i = 0; i < r->nworkers; i++)
		room += r->cap - r->workers[i]->conns;
	return r->nworkers < RELAY_WORKERS_MAX && room < (long)r->cap / 2 + 1;
}

static void ensure_capacity(struct relay *r)
{
	int64_t now = mono_ns();
	pthread_mutex_lock(&r->lock);
	bool want = needs_worker(r) && now >= r->next_spawn_ns;
	pthread_mutex_unlock(&r->lock);
	if (!want)
		return;
	struct relay_worker *w = worker_spawn(r);
	if (!w) {
		r->next_spawn_ns = now + RELAY_SPAWN_GAP_NS;
		return;
	}
	pthread_mutex_lock(&r->lock);
	r->workers[r->nworkers++] = w;
	pthread_mutex_unlock(&r->lock);
}

static void worker_lost(struct relay *r, struct relay_worker *w)
{
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < r->nworkers; i++)
		if (r->workers[i] == w) {
			r->workers[i] = r->workers[--r->nworkers];
			break;
		}
	relayed_free_all(r, w);
	pthread_mutex_unlock(&r->lock);
	log_warn("proxy: relay worker %d exited; its %d connection(s) are closed, "
		 "another worker takes new ones",
		 (int)w->pid, w->conns);
	worker_free(r, w);
	r->next_spawn_ns = mono_ns() + RELAY_SPAWN_GAP_NS;
}

/* Reads the worker's reports; false once it is gone. */
static bool worker_read(struct relay *r, struct relay_worker *w)
{
	for (;;) {
		struct relay_closed m;
		ssize_t n = recv(w->ctl, &m, sizeof(m), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n != (ssize_t)sizeof(m))
			return false; /* end of the socket (or a broken worker) */
		m.ip[sizeof(m.ip) - 1] = '\0';
		pthread_mutex_lock(&r->lock);
		relayed_closed(r, w, m.id);
		bool known = tally_del(w, m.ip);
		if (known)
			w->conns--;
		pthread_mutex_unlock(&r->lock);
		if (known)
			ip_release(r->srv, m.ip);
	}
}

static void *supervisor_main(void *arg)
{
	struct relay *r = arg;
	struct epoll_event evs[RELAY_WORKERS_MAX + 1];
	while (!__atomic_load_n(&r->stopping, __ATOMIC_ACQUIRE)) {
		ensure_capacity(r);
		relay_changes(r);
		relay_due(r);
		relay_recheck_some(r);
		int n = epoll_wait(r->epfd, evs, RELAY_WORKERS_MAX + 1,
				   __atomic_load_n(&r->nrecheck, __ATOMIC_RELAXED) ? 0 : 1000);
		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr) {
				uint64_t v;
				(void)!read(r->wakefd, &v, sizeof(v));
				continue;
			}
			struct relay_worker *w = evs[i].data.ptr;
			if (!worker_read(r, w))
				worker_lost(r, w);
		}
	}
	return NULL;
}

/* ------------------------------------------------------------ hand-over */

/* Upgraded, plain on both sides, the 101 out, neither side ended: the two
 * sockets and the bytes in the buffers are all there is to hand over. */
static bool relayable(const struct conn *c)
{
	return c->rs == RS_TUNNEL && c->rq == RQ_TUNNEL && !c->closing && !c->ssl && !c->bssl &&
	       c->bfd >= 0 && !c->resp.out && !c->req.out && !c->req.src_eof && !c->resp.src_eof;
}

static uint32_t buffered(const struct buf *b)
{
	return b->data ? b->end - b->start : 0;
}

/* Sends under the lock, so a worker is not freed meanwhile; MSG_DONTWAIT:
 * a worker that does not keep up gets nothing, it never stalls a loop. */
static bool send_to_worker(struct relay *r, const struct conn *c, bool *wake)
{
	struct relay_add m = {.type = RELAY_ADD,
			      .to_client = buffered(&c->resp.b),
			      .to_backend = buffered(&c->req.b)};
	snprintf(m.ip, sizeof(m.ip), "%s", c->ip);
	struct iovec iov[3] = {
	    {&m, sizeof(m)},
	    {c->resp.b.data ? c->resp.b.data + c->resp.b.start : NULL, m.to_client},
	    {c->req.b.data ? c->req.b.data + c->req.b.start : NULL, m.to_backend}};
	int fds[2] = {c->cfd, c->bfd};
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {
	    .msg_iov = iov, .msg_iovlen = 3, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	bool sent = false;
	pthread_mutex_lock(&r->lock);
	m.id = ++r->next_id;
	for (int i = 0; i < r->nworkers && !sent; i++) {
		struct relay_worker *w = r->workers[i];
		if (w->conns >= r->cap)
			continue;
		if (sendmsg(w->ctl, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			log_debug("proxy: relay worker %d: %s", (int)w->pid, strerror(errno));
			continue;
		}
		w->conns++;
		tally_add(w, c->ip);
		if (c->grant) {
			relayed_add(w, m.id, c->grant);
			/* a change the loop has not applied to it yet (or marked it
			 * for): the supervisor may have passed it already */
			if (c->recheck || c->lp->access_seq != proxy_access_seq(r->srv->pf))
				mark(r, w->rel.next);
		}
		sent = true;
		*wake = needs_worker(r);
	}
	pthread_mutex_unlock(&r->lock);
	return sent;
}

bool relay_try(struct conn *c)
{
	struct relay *r = c->lp->srv->relay;
	bool wake = false;
	if (!r || !relayable(c) || !send_to_worker(r, c, &wake))
		return false;
	if (wake) { /* the supervisor starts a spare */
		uint64_t one = 1;
		(void)!write(r->wakefd, &one, sizeof(one));
	}
	/* The worker has its own copies of both sockets. The per-address slot
	 * stays taken until the worker reports the connection closed; hoodyd's
	 * own count (its descriptors) is free now. */
	__atomic_sub_fetch(&c->lp->srv->conns, 1, __ATOMIC_RELAXED);
	c->ip_released = true;
	c->grant = NULL; /* the supervisor's now */
	ep_close(c->lp, c->bfd);
	c->bfd = -1;
	c->b_keep = false;
	c->req.b.start = c->req.b.end;
	c->resp.b.start = c->resp.b.end;
	c->closing = true;
	conn_close(c);
	return true;
}

/* ------------------------------------------------------------ start/stop */

static int worker_capacity(int wanted)
{
	struct rlimit rl;
	long hard = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY
			? (long)rl.rlim_max
			: 1048576;
	long cap = (hard - RELAY_FD_RESERVE) / 2;
	if (wanted > 0 && wanted < cap)
		cap = wanted;
	return cap < 1 ? 1 : cap > 1000000 ? 1000000 : (int)cap;
}

int relay_start(struct proxy_server *srv, struct error *err)
{
	if (!srv->cfg.relay_exe || !*srv->cfg.relay_exe)
		return 0;
	struct relay *r = xcalloc(1, sizeof(*r));
	r->srv = srv;
	r->exe = xstrdup(srv->cfg.relay_exe);
	r->cap = worker_capacity(srv->cfg.relay_conns);
	pthread_mutex_init(&r->lock, NULL);
	srv->relay = r;
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (r->epfd < 0 || r->wakefd < 0 || epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->wakefd, &ev) < 0)
		return err_sys(err, E_IO, "relay supervisor");
	if (pthread_create(&r->thread, NULL, supervisor_main, r) != 0)
		return err_set(err, E_INTERNAL, "cannot start the relay supervisor thread");
	r->has_thread = true;
	return 0;
}

/* Waits a little for each worker to go (closing its control socket ends
 * it, and so does the exit of the thread that started it), then kills. */
static void worker_stop(struct relay *r, struct relay_worker *w)
{
	if (w->ctl >= 0) {
		(void)epoll_ctl(r->epfd, EPOLL_CTL_DEL, w->ctl, NULL);
		close(w->ctl);
		w->ctl = -1;
	}
	if (w->pidfd >= 0) {
		struct pollfd p = {.fd = w->pidfd, .events = POLLIN};
		if (poll(&p, 1, 2000) <= 0)
			(void)syscall(SYS_pidfd_send_signal, w->pidfd, SIGKILL, NULL, 0);
	}
	worker_free(r, w);
}

void relay_stop(struct proxy_server *srv)
{
	struct relay *r = srv->relay;
	if (!r)
		return;
	__atomic_store_n(&r->stopping, true, __ATOMIC_RELEASE);
	if (r->has_thread) {
		uint64_t one = 1;
		(void)!write(r->wakefd, &one, sizeof(one));
		pthread_join(r->thread, NULL);
	}
	for (int i = 0; i < r->nworkers; i++)
		worker_stop(r, r->workers[i]);
	if (r->epfd >= 0)
		close(r->epfd);
	if (r->wakefd >= 0)
		close(r->wakefd);
	pthread_mutex_destroy(&r->lock);
	free(r->exe);
	free(r);
	srv->relay = NULL;
}
