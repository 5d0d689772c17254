/* The proxy's threads: one epoll loop per CPU, each with its own listening
 * socket (SO_REUSEPORT: the kernel spreads new connections, no shared accept
 * lock), its own connections and buffer pool, and a connector thread for
 * sockets in container namespaces. The only state shared between loops is
 * the per-address connection count and the TLS context, each behind a
 * mutex taken once per connection. */
#include <ares.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <sched.h>
#include <errno.h>
#include <poll.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "proxy/internal.h"

#define EVENTS_MAX 256
#define ACCEPT_BURST 64
#define IP_BUCKETS 4096

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* ------------------------------------------------------------ small parts */

int ep_add(struct loop *lp, int fd, struct ep_ref *ref, struct error *err)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				 .data.ptr = ref};
	if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return err_sys(err, E_IO, "epoll_ctl");
	return 0;
}

/* close() alone leaves the epoll set only when no other descriptor shares
 * the socket: a child that hoodyd forked (crun, a hook) holds a copy until
 * its exec, and the set would then report events for a connection already
 * freed. */
void ep_close(struct loop *lp, int fd)
{
	(void)epoll_ctl(lp->epfd, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
}

char *pool_get(struct loop *lp)
{
	return lp->npool ? lp->pool[--lp->npool] : xmalloc(BUF_SIZE);
}

void pool_put(struct loop *lp, char *p)
{
	if (lp->npool < POOL_KEEP)
		lp->pool[lp->npool++] = p;
	else
		free(p);
}

void conn_queue(struct conn *c)
{
	if (c->queued)
		return;
	c->queued = true;
	c->ready_next = c->lp->ready;
	c->lp->ready = c;
}

/* ------------------------------------------------------------ per-address limit */

static unsigned ip_hash(const char *ip)
{
	return addr_hash(ip) % IP_BUCKETS;
}

/* Open addressing over IP_BUCKETS slots is enough: a slot per distinct
 * client address with an open connection, and accept refuses when full. */
static bool ip_acquire(struct proxy_server *srv, const char *ip)
{
	bool ok = false;
	pthread_mutex_lock(&srv->ip_lock);
	for (unsigned i = 0, h = ip_hash(ip); i < IP_BUCKETS; i++) {
		struct ip_slot *s = &srv->ips[(h + i) % IP_BUCKETS];
		if (s->count == 0 || strcmp(s->ip, ip) == 0) {
			if (s->count >= srv->cfg.max_conns_per_ip)
				break;
			if (s->count == 0)
				snprintf(s->ip, sizeof(s->ip), "%s", ip);
			s->count++;
			ok = true;
			break;
		}
	}
	pthread_mutex_unlock(&srv->ip_lock);
	return ok;
}

/* Slots never move (no deletion): an emptied slot is reused by its own
 * address or, when the probe reaches it first, by a new one. */
void ip_release(struct proxy_server *srv, const char *ip)
{
	pthread_mutex_lock(&srv->ip_lock);
	for (unsigned i = 0, h = ip_hash(ip); i < IP_BUCKETS; i++) {
		struct ip_slot *s = &srv->ips[(h + i) % IP_BUCKETS];
		if (s->count > 0 && strcmp(s->ip, ip) == 0) {
			s->count--;
			break;
		}
	}
	pthread_mutex_unlock(&srv->ip_lock);
}

/* ------------------------------------------------------------ connections */

/* Called when a connection is closed and again when its connector answer
 * arrives: frees it once neither the connector nor the ready queue holds it. */
void conn_release(struct conn *c)
{
	if (!c->ip_released) {
		c->ip_released = true;
		ip_release(c->lp->srv, c->ip);
		__atomic_sub_fetch(&c->lp->srv->conns, 1, __ATOMIC_RELAXED);
	}
	if (c->b_pending || c->queued || c->on_dead)
		return;
	c->on_dead = true;
	c->ready_next = c->lp->dead;
	c->lp->dead = c;
}

static void free_dead(struct loop *lp)
{
	while (lp->dead) {
		struct conn *c = lp->dead;
		lp->dead = c->ready_next;
		free(c->retry_head);
		free(c->egress_name);
		free(c->memo);
		proxy_grant_free(c->grant);
		free(c);
	}
}

static const char busy_reply[] =
    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
    "Content-Length: 95\r\nConnection: close\r\n\r\n"
    "{\"statusCode\":429,\"error\":\"Too Many Requests\",\"message\":\"Too many "
    "connections\",\"code\":\"RATE_LIMITED\"}";

static void peer_ip(const struct sockaddr_storage *ss, char *out, size_t len)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, (socklen_t)len);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)len);
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out,
			  (socklen_t)len);
	}
}

/* Per-CPU steering (steer_by_cpu) keeps a connection on the CPU that
 * received it, but a client whose threads all connected from one CPU (wrk
 * started while the other CPU was busy) then lands whole on one loop while
 * the other idles: 10-24k instead of 34-37k requests/s, from run to run. A
 * loop holding clearly more connections than the least loaded one gives
 * the new one away; the slack keeps ordinary jitter on its own CPU. */
#define REBALANCE_SLACK 4

static int loop_load(struct loop *lp)
{
	return __atomic_load_n(&lp->nconns, __ATOMIC_RELAXED) +
	       __atomic_load_n(&lp->nhand, __ATOMIC_RELAXED);
}

static struct loop *rebalance_target(struct loop *lp)
{
	struct proxy_server *srv = lp->srv;
	struct loop *least = lp;
	int mine = loop_load(lp), min = mine;
	for (int i = 0; i < srv->nloops; i++) {
		int n = loop_load(&srv->loops[i]);
		if (n < min) {
			min = n;
			least = &srv->loops[i];
		}
	}
	return mine > min + REBALANCE_SLACK ? least : lp;
}

static void hand_to(struct loop *to, int fd, const char *ip, bool tls)
{
	pthread_mutex_lock(&to->hand_lock);
	if (to->nhand == to->hand_cap) {
		to->hand_cap = to->hand_cap ? to->hand_cap * 2 : 16;
		to->hand = xrealloc(to->hand, (size_t)to->hand_cap * sizeof(*to->hand));
	}
	struct handoff *h = &to->hand[to->nhand];
	h->fd = fd;
	h->tls = tls;
	snprintf(h->ip, sizeof(h->ip), "%s", ip);
	__atomic_add_fetch(&to->nhand, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&to->hand_lock);
	uint64_t one = 1;
	(void)!write(to->wakefd, &one, sizeof(one));
}

/* Starts what other loops handed over; with start false (the loop is gone,
 * hoodyd stops) closes it and gives back what accept_burst counted. */
static void take_handed(struct loop *lp, bool start)
{
	pthread_mutex_lock(&lp->hand_lock);
	struct handoff *hand = lp->hand;
	int n = lp->nhand;
	lp->hand = NULL;
	lp->hand_cap = 0;
	__atomic_store_n(&lp->nhand, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&lp->hand_lock);
	for (int i = 0; i < n; i++) {
		if (start) {
			conn_start(lp, hand[i].fd, hand[i].ip, hand[i].tls);
			continue;
		}
		close(hand[i].fd);
		ip_release(lp->srv, hand[i].ip);
		__atomic_sub_fetch(&lp->srv->conns, 1, __ATOMIC_RELAXED);
	}
	free(hand);
}

static void accept_burst(struct loop *lp, struct listener *l)
{
	struct proxy_server *srv = lp->srv;
	for (int i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		_cleanup_close_ int fd =
		    accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				log_warn("proxy: accept: %s", strerror(errno));
			return;
		}
		char ip[INET6_ADDRSTRLEN];
		peer_ip(&ss, ip, sizeof(ip));
		if (__atomic_add_fetch(&srv->conns, 1, __ATOMIC_RELAXED) > srv->max_conns) {
			__atomic_sub_fetch(&srv->conns, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (!ip_acquire(srv, ip)) {
			__atomic_sub_fetch(&srv->conns, 1, __ATOMIC_RELAXED);
			if (!l->tls)
				(void)!send(fd, busy_reply, sizeof(busy_reply) - 1,
					    MSG_DONTWAIT | MSG_NOSIGNAL);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct loop *to = rebalance_target(lp);
		if (to != lp)
			hand_to(to, steal_fd(&fd), ip, l->tls);
		else
			conn_start(lp, steal_fd(&fd), ip, l->tls);
	}
}

static void connector_replies(struct loop *lp)
{
	struct connect_res res;
	while (recv(lp->csock[0], &res, sizeof(res), MSG_DONTWAIT) == sizeof(res))
		conn_backend_ready(&res);
}

static void sweep(struct loop *lp)
{
	for (struct conn *c = lp->head.next, *next; c != &lp->head; c = next) {
		next = c->next;
		if (c->deadline_ns && lp->now_ns > c->deadline_ns)
			conn_timeout(c);
		else if (c->rs == RS_TUNNEL)
			relay_try(c); /* one that found no room then */
	}
	tunnels_due(lp);
	keepalive_sweep(lp);
}

static void run_ready(struct loop *lp)
{
	struct conn *list = lp->ready;
	lp->ready = NULL;
	while (list) {
		struct conn *c = list;
		list = c->ready_next;
		c->queued = false;
		if (c->zombie)
			conn_release(c);
		else
			conn_pump(c);
	}
}

static void dispatch(struct loop *lp, struct epoll_event *ev)
{
	struct ep_ref *ref = ev->data.ptr;
	switch (ref->kind) {
	case EP_LISTEN:
		accept_burst(lp, (struct listener *)ref);
		break;
	case EP_WAKE: {
		uint64_t v;
		(void)!read(lp->wakefd, &v, sizeof(v));
		take_handed(lp, true);
		break;
	}
	case EP_CONNECTOR:
		connector_replies(lp);
		break;
	case EP_CLIENT:
		conn_event(container_of(ref, struct conn, cref), false, ev->events);
		break;
	case EP_BACKEND:
		conn_event(container_of(ref, struct conn, bref), true, ev->events);
		break;
	case EP_IDLE:
		keepalive_event(ref);
		break;
	}
}

/* Loop i runs on CPU i when there is one loop per CPU of the process (the
 * default): the counterpart of steer_by_cpu. */
static void pin_loop(struct loop *lp)
{
	cpu_set_t allowed, one;
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0 ||
	    CPU_COUNT(&allowed) != lp->srv->nloops)
		return;
	/* CPUs 0..n-1 exactly, the numbers steer_by_cpu maps to loops */
	for (int i = 0; i < lp->srv->nloops; i++)
		if (!CPU_ISSET(i, &allowed))
			return;
	CPU_ZERO(&one);
	CPU_SET(lp->idx, &one);
	pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
}

/* A loop runs a few microseconds per wake-up and someone waits for each
 * one. The kernel's default slice (about 1.4 ms here) lets a task already
 * running keep the CPU that long when the loop wakes; asking for the
 * shortest slice (EEVDF, Linux 6.12+; no privilege, and no larger share of
 * the CPU) gets the loop scheduled within about 0.1 ms. Older kernels ignore
 * the value. */
#define LOOP_SLICE_NS 100000

/* The kernel's struct sched_attr (glibc 2.36 has none; <linux/sched/types.h>
 * clashes with <sched.h>). */
struct loop_sched_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
	uint32_t sched_util_min, sched_util_max;
};

static void short_slice(void)
{
	struct loop_sched_attr attr = {0};
	if (syscall(SYS_sched_getattr, 0, &attr, sizeof(attr), 0) < 0 ||
	    attr.sched_policy != SCHED_OTHER)
		return;
	attr.size = sizeof(attr);
	attr.sched_flags = 0;
	attr.sched_runtime = LOOP_SLICE_NS;
	if (syscall(SYS_sched_setattr, 0, &attr, 0) < 0)
		log_debug("proxy: default scheduler slice kept: %s", strerror(errno));
}

static void *loop_main(void *arg)
{
	struct loop *lp = arg;
	pin_loop(lp);
	short_slice();
	struct epoll_event evs[EVENTS_MAX];
	int64_t last_sweep = mono_ns();
	while (!__atomic_load_n(&lp->srv->stopping, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(lp->epfd, evs, EVENTS_MAX, lp->ready || lp->nrecheck ? 0 : 1000);
		lp->now_ns = mono_ns();
		for (int i = 0; i < n; i++)
			dispatch(lp, &evs[i]);
		if (lp->now_ns - last_sweep >= 1000000000LL) {
			sweep(lp);
			last_sweep = lp->now_ns;
		}
		run_ready(lp);
		tunnels_poll(lp);
		free_dead(lp);
		keepalive_free_dead(lp);
	}
	while (lp->head.next != &lp->head)
		conn_close(lp->head.next);
	keepalive_close_all(lp);
	/* Connections waiting for the connector are freed by its answers. */
	while (lp->npending > 0) {
		struct pollfd pfd = {.fd = lp->csock[0], .events = POLLIN};
		if (poll(&pfd, 1, 5000) <= 0)
			break;
		connector_replies(lp);
	}
	run_ready(lp);
	free_dead(lp);
	return NULL;
}

/* ------------------------------------------------------------ listeners */

static int bind_one(const struct sockaddr_storage *ss, socklen_t len, bool reuseport,
		    const char *what, struct error *err)
{
	_cleanup_close_ int fd =
	    socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0)
		return err_sys(err, E_IO, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, 4096) < 0)
		return err_sys(err, E_IO, "cannot listen on %s", what);
	return steal_fd(&fd);
}

/* A connection is served by the loop of the CPU whose network stack
 * received it, which is where its client last ran: with each loop pinned to
 * its CPU, a request wakes a thread on the CPU that is already running the
 * code that sent it, instead of an idle or busy other CPU (a cross-CPU wake-
 * up cost 1-3 ms on a loaded 2-vCPU guest, a local one microseconds). The
 * program returns the index of a socket in the group, which is the order
 * the loops' sockets joined it. Without it the kernel hashes: still correct. */
static void steer_by_cpu(int fd, int nloops)
{
	struct sock_filter code[] = {
	    {BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_AD_OFF + SKF_AD_CPU)},
	    {BPF_ALU | BPF_MOD | BPF_K, 0, 0, (uint32_t)nloops},
	    {BPF_RET | BPF_A, 0, 0, 0},
	};
	struct sock_fprog prog = {.len = ARRAY_SIZE(code), .filter = code};
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		log_debug("proxy: no per-CPU steering of connections: %s", strerror(errno));
}

/* One socket per loop in a SO_REUSEPORT group. A first bind without the
 * option fails if anyone holds the port, so a second hoodyd (also root) is
 * refused instead of silently sharing our traffic. */
static int open_listeners(struct proxy_server *srv, const char *addr, bool tls, struct error *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (netaddr_parse(addr, &ss, &len, err) < 0)
		return -1;
	_cleanup_close_ int probe = bind_one(&ss, len, false, addr, err);
	if (probe < 0)
		return -1;
	closep(&probe); /* the group's binds below need the port free */
	for (int i = 0; i < srv->nloops; i++) {
		struct listener *l = tls ? &srv->loops[i].ltls : &srv->loops[i].lhttp;
		l->ref.kind = EP_LISTEN;
		l->tls = tls;
		l->fd = bind_one(&ss, len, true, addr, err);
		if (l->fd < 0)
			return -1;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &l->ref};
		if (epoll_ctl(srv->loops[i].epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0)
			return err_sys(err, E_IO, "epoll_ctl");
	}
	steer_by_cpu(tls ? srv->loops[0].ltls.fd : srv->loops[0].lhttp.fd, srv->nloops);
	return 0;
}

/* ------------------------------------------------------------ start/stop */

static int loop_init(struct proxy_server *srv, struct loop *lp, int idx, struct error *err)
{
	lp->srv = srv;
	lp->idx = idx;
	lp->head.next = lp->head.prev = &lp->head;
	lp->idle.next = lp->idle.prev = &lp->idle;
	lp->epfd = epoll_create1(EPOLL_CLOEXEC);
	lp->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (lp->epfd < 0 || lp->wakefd < 0)
		return err_sys(err, E_IO, "epoll");
	lp->wake_ref.kind = EP_WAKE;
	lp->connector_ref.kind = EP_CONNECTOR;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &lp->wake_ref};
	if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, lp->wakefd, &ev) < 0)
		return err_sys(err, E_IO, "epoll_ctl");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, lp->csock) < 0)
		return err_sys(err, E_IO, "socketpair");
	ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &lp->connector_ref};
	if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, lp->csock[0], &ev) < 0)
		return err_sys(err, E_IO, "epoll_ctl");
	/* the resolver answers through csock: nothing of its own to watch */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, lp->rsock) < 0)
		return err_sys(err, E_IO, "socketpair");
	return 0;
}

static int max_connections(void)
{
	struct rlimit rl;
	long fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (long)rl.rlim_cur : 1024;
	/* two descriptors per connection; the rest of hoodyd (database,
	 * listeners, containers' pidfds, crun's pipes) keeps a reserve */
	long n = (fds - 256) / 2;
	return n < 64 ? 64 : n > 1000000 ? 1000000 : (int)n;
}

static void copy_config(struct proxy_server *srv, const struct proxy_config *cfg)
{
	srv->cfg = *cfg;
	srv->listen = cfg->listen && *cfg->listen ? xstrdup(cfg->listen) : NULL;
	srv->tls_listen = cfg->tls_listen && *cfg->tls_listen ? xstrdup(cfg->tls_listen) : NULL;
	srv->tls_cert = cfg->tls_cert && *cfg->tls_cert ? xstrdup(cfg->tls_cert) : NULL;
	srv->tls_key = cfg->tls_key && *cfg->tls_key ? xstrdup(cfg->tls_key) : NULL;
	srv->api_listen = xstrdup(cfg->api_listen);
}

/* The API's listener as a destination: a wildcard address means loopback. */
static int api_destination(struct proxy_server *srv, struct error *err)
{
	if (netaddr_parse(srv->api_listen, &srv->api_addr, &srv->api_addr_len, err) < 0)
		return -1;
	if (srv->api_addr.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&srv->api_addr;
		if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&srv->api_addr;
		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			s6->sin6_addr = in6addr_loopback;
	}
	return 0;
}

static int start_threads(struct proxy_server *srv, struct error *err)
{
	for (int i = 0; i < srv->nloops; i++) {
		struct loop *lp = &srv->loops[i];
		if (pthread_create(&lp->connector, NULL, connector_main, lp) != 0)
			return err_set(err, E_INTERNAL, "cannot start a proxy connector thread");
		lp->has_connector = true;
		if (pthread_create(&lp->resolver, NULL, resolver_main, lp) != 0)
			return err_set(err, E_INTERNAL, "cannot start a proxy resolver thread");
		lp->has_resolver = true;
		if (pthread_create(&lp->thread, NULL, loop_main, lp) != 0)
			return err_set(err, E_INTERNAL, "cannot start a proxy thread");
		lp->has_thread = true;
	}
	return 0;
}

int proxy_server_start(const struct proxy_config *cfg, struct platform *pf,
		       struct proxy_server **out_new, struct error *err)
{
	struct proxy_server *srv = xcalloc(1, sizeof(*srv));
	srv->pf = pf;
	ares_library_init(ARES_LIB_INIT_ALL); /* counted: one cleanup per call */
	copy_config(srv, cfg);
	pthread_mutex_init(&srv->tls_lock, NULL);
	pthread_mutex_init(&srv->ip_lock, NULL);
	srv->ips = xcalloc(IP_BUCKETS, sizeof(*srv->ips));
	srv->max_conns = max_connections();
	long nproc = sysconf(_SC_NPROCESSORS_ONLN);
	srv->nloops = cfg->threads > 0 ? cfg->threads : nproc > 0 ? (int)nproc : 1;
	srv->loops = xcalloc((size_t)srv->nloops, sizeof(*srv->loops));
	for (int i = 0; i < srv->nloops; i++) {
		struct loop *lp = &srv->loops[i];
		lp->epfd = lp->wakefd = lp->lhttp.fd = lp->ltls.fd = lp->csock[0] = lp->csock[1] =
		    lp->rsock[0] = lp->rsock[1] = -1;
		pthread_mutex_init(&lp->hand_lock, NULL);
	}
	if (srv->tls_listen && (!srv->tls_cert || !srv->tls_key)) {
		err_set(err, E_VALIDATION, "--proxy-tls-listen needs --tls-cert and --tls-key");
		goto fail;
	}
	if (api_destination(srv, err) < 0 || tls_load(srv, err) < 0)
		goto fail;
	for (int i = 0; i < srv->nloops; i++)
		if (loop_init(srv, &srv->loops[i], i, err) < 0)
			goto fail;
	if ((srv->listen && open_listeners(srv, srv->listen, false, err) < 0) ||
	    (srv->tls_listen && open_listeners(srv, srv->tls_listen, true, err) < 0) ||
	    relay_start(srv, err) < 0 || start_threads(srv, err) < 0)
		goto fail;
	*out_new = srv;
	return 0;
fail:
	proxy_server_stop(srv);
	return -1;
}

int proxy_server_reload_tls(struct proxy_server *srv, struct error *err)
{
	if (!srv || !srv->tls_listen)
		return 0;
	return tls_load(srv, err);
}

void proxy_server_stop(struct proxy_server *srv)
{
	if (!srv)
		return;
	__atomic_store_n(&srv->stopping, true, __ATOMIC_RELEASE);
	for (int i = 0; i < srv->nloops; i++) {
		struct loop *lp = &srv->loops[i];
		uint64_t one = 1;
		if (lp->wakefd >= 0)
			(void)!write(lp->wakefd, &one, sizeof(one));
		if (lp->has_thread)
			pthread_join(lp->thread, NULL);
		/* the resolver ends what is in flight (answering the connector
		 * or the loop's socket), then the connector, each seeing the end
		 * of its socket */
		if (lp->rsock[0] >= 0)
			shutdown(lp->rsock[0], SHUT_RDWR);
		if (lp->has_resolver)
			pthread_join(lp->resolver, NULL);
		if (lp->csock[0] >= 0)
			shutdown(lp->csock[0], SHUT_RDWR);
		if (lp->has_connector)
			pthread_join(lp->connector, NULL);
	}
	relay_stop(srv);
	for (int i = 0; i < srv->nloops; i++) {
		struct loop *lp = &srv->loops[i];
		/* the loop's own descriptors, owned by the server object */
		int fds[] = {lp->lhttp.fd, lp->ltls.fd,	 lp->csock[0], lp->csock[1],
			     lp->rsock[0], lp->rsock[1], lp->wakefd,   lp->epfd};
		for (size_t j = 0; j < ARRAY_SIZE(fds); j++)
			if (fds[j] >= 0)
				close(fds[j]);
		while (lp->npool)
			free(lp->pool[--lp->npool]);
		/* handed over after this loop had stopped */
		take_handed(lp, false);
		pthread_mutex_destroy(&lp->hand_lock);
	}
	tls_free_all(srv);
	ares_library_cleanup();
	free(srv->loops);
	free(srv->ips);
	free(srv->listen);
	free(srv->tls_listen);
	free(srv->tls_cert);
	free(srv->tls_key);
	free(srv->api_listen);
	pthread_mutex_destroy(&srv->tls_lock);
	pthread_mutex_destroy(&srv->ip_lock);
	free(srv);
}
