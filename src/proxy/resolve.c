/* Host names for the egress proxy (egress.c), resolved as the container
 * would resolve them: c-ares asking the resolvers its /etc/resolv.conf
 * names (the platform's route.dns), over sockets made inside its network
 * namespace, so its firewall and NAT rules apply to the DNS traffic too.
 *
 * One resolver thread per loop, beside the connector: the loop sends it
 * the connector's request with the name instead of an address; the thread
 * keeps up to RESOLVE_MAX lookups in flight (one c-ares channel each: the
 * servers and namespace differ per container), polls their sockets, and
 * on an answer forwards the request, now with the address, to the
 * connector. A failure is answered to the loop as the connector would
 * answer, with dns_status set, so the loop's bookkeeping (one answer per
 * request, b_pending) stays the connector's. Nothing here blocks a loop or
 * the connector; setns(2) only ever moves this thread. */
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "proxy/internal.h"

#define RESOLVE_MAX 64	    /* lookups in flight per loop */
#define RESOLVE_TRY_MS 1000 /* c-ares doubles it on the second round */
#define RESOLVE_TRIES 2
#define RESOLVE_DEADLINE_MS 4000 /* within the loop's CONNECT_TIMEOUT_S */
/* With lookups in flight the thread looks at the proxy's stop flag this
 * often: a stop cancels them instead of waiting out their deadline (the
 * loop waits for an answer to each before it ends). */
#define RESOLVE_STOP_POLL_MS 20

struct lookup {
	struct loop *lp;
	struct connect_req rq;
	ares_channel ch;
	int host_ns;
	int family; /* asked now: AF_INET, then AF_INET6 */
	int64_t deadline_ms;
	bool done;
};

static int64_t mono_ms(void)
{
	return mono_ns() / 1000000;
}

static bool stopping(const struct loop *lp)
{
	return __atomic_load_n(&lp->srv->stopping, __ATOMIC_ACQUIRE);
}

/* ------------------------------------------------------------ sockets */

static ares_socket_t ns_socket(int domain, int type, int protocol, void *arg)
{
	struct lookup *l = arg;
	int ns = open(l->rq.netns, O_RDONLY | O_CLOEXEC);
	if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
		if (ns >= 0)
			close(ns);
		errno = ENETUNREACH; /* never from the host's namespace */
		return ARES_SOCKET_BAD;
	}
	close(ns);
	int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
	int e = errno;
	if (setns(l->host_ns, CLONE_NEWNET) < 0) {
		log_error("proxy: resolver cannot return to the host network namespace: %s",
			  strerror(errno));
		abort();
	}
	errno = e;
	return fd;
}

static int ns_close(ares_socket_t fd, void *arg)
{
	(void)arg;
	return close(fd);
}

static int ns_connect(ares_socket_t fd, const struct sockaddr *sa, ares_socklen_t len, void *arg)
{
	(void)arg;
	return connect(fd, sa, len);
}

static ares_ssize_t ns_recvfrom(ares_socket_t fd, void *p, size_t n, int flags,
				struct sockaddr *from, ares_socklen_t *fromlen, void *arg)
{
	(void)arg;
	return recvfrom(fd, p, n, flags, from, fromlen);
}

static ares_ssize_t ns_sendv(ares_socket_t fd, const struct iovec *iov, int n, void *arg)
{
	(void)arg;
	return writev(fd, iov, n);
}

static const struct ares_socket_functions ns_functions = {
    .asocket = ns_socket,
    .aclose = ns_close,
    .aconnect = ns_connect,
    .arecvfrom = ns_recvfrom,
    .asendv = ns_sendv,
};

/* ------------------------------------------------------------ answers */

/* Answers the loop as the connector does: one answer per request. */
static void reply_failure(struct loop *lp, struct conn *c, int status)
{
	struct connect_res res = {.c = c, .fd = -1, .err = EHOSTUNREACH, .dns_status = status};
	if (send(lp->csock[1], &res, sizeof(res), MSG_NOSIGNAL) != sizeof(res))
		log_warn("proxy: resolver cannot answer its loop: %s", strerror(errno));
}

static void answered(void *arg, int status, int timeouts, struct hostent *he)
{
	struct lookup *l = arg;
	(void)timeouts;
	if (l->done)
		return;
	bool found =
	    status == ARES_SUCCESS && he && he->h_addrtype == l->family && he->h_addr_list[0];
	if (!found && l->family == AF_INET && l->rq.ipv6 &&
	    (status == ARES_ENODATA || (status == ARES_SUCCESS && !he))) {
		l->family = AF_INET6; /* the name exists, without an IPv4 address */
		ares_gethostbyname(l->ch, l->rq.name, AF_INET6, answered, l);
		return;
	}
	l->done = true;
	if (found) {
		inet_ntop(l->family, he->h_addr_list[0], l->rq.ip, sizeof(l->rq.ip));
		l->rq.name[0] = '\0';
		if (send(l->lp->csock[0], &l->rq, sizeof(l->rq), MSG_DONTWAIT | MSG_NOSIGNAL) ==
		    sizeof(l->rq))
			return;
		status = RESOLVE_BUSY;
	} else if (status == ARES_SUCCESS) {
		status = ARES_ENODATA;
	}
	reply_failure(l->lp, l->rq.c, status == ARES_ECANCELLED ? ARES_ETIMEOUT : status);
}

/* ------------------------------------------------------------ lookups */

static struct lookup *lookup_new(struct loop *lp, int host_ns, const struct connect_req *rq)
{
	static char lookups[] = "b"; /* DNS only: the host's /etc/hosts is not the container's */
	struct ares_options o = {
	    .flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES,
	    .timeout = RESOLVE_TRY_MS,
	    .tries = RESOLVE_TRIES,
	    .ndomains = 0,
	    .lookups = lookups,
	};
	int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_DOMAINS |
		   ARES_OPT_LOOKUPS;
	struct lookup *l = xcalloc(1, sizeof(*l));
	l->lp = lp;
	l->rq = *rq;
	l->host_ns = host_ns;
	l->family = AF_INET;
	l->deadline_ms = mono_ms() + RESOLVE_DEADLINE_MS;
	int st = ares_init_options(&l->ch, &o, mask);
	if (st == ARES_SUCCESS)
		st = ares_set_servers_csv(l->ch, rq->dns);
	if (st != ARES_SUCCESS) {
		if (l->ch)
			ares_destroy(l->ch);
		free(l);
		reply_failure(lp, rq->c, st);
		return NULL;
	}
	ares_set_socket_functions(l->ch, &ns_functions, l);
	ares_gethostbyname(l->ch, rq->name, AF_INET, answered, l);
	return l;
}

static void lookup_start(struct loop *lp, int host_ns, struct lookup **ls, int *n,
			 const struct connect_req *rq)
{
	if (!rq->dns[0]) {
		reply_failure(lp, rq->c, RESOLVE_NO_SERVER);
		return;
	}
	if (*n >= RESOLVE_MAX) {
		reply_failure(lp, rq->c, RESOLVE_BUSY);
		return;
	}
	if (stopping(lp)) {
		reply_failure(lp, rq->c, ARES_ECANCELLED);
		return;
	}
	struct lookup *l = lookup_new(lp, host_ns, rq);
	if (l)
		ls[(*n)++] = l;
}

/* The poll set: the loop's socket (while open) and every channel's sockets. */
static int poll_set(int rfd, struct lookup **ls, int n, struct pollfd *p, int *owner,
		    int *timeout_ms)
{
	int np = 0;
	int64_t now = mono_ms();
	*timeout_ms = 1000;
	if (rfd >= 0)
		p[np++] = (struct pollfd){.fd = rfd, .events = POLLIN};
	for (int i = 0; i < n; i++) {
		ares_socket_t s[ARES_GETSOCK_MAXNUM];
		/* c-ares's own ARES_GETSOCK_* macros shift a signed 1 into the
		 * sign bit: the same test, unsigned */
		unsigned bits = (unsigned)ares_getsock(ls[i]->ch, s, ARES_GETSOCK_MAXNUM);
		for (unsigned j = 0; j < ARES_GETSOCK_MAXNUM; j++) {
			short ev =
			    (short)((bits & (1u << j) ? POLLIN : 0) |
				    (bits & (1u << (j + ARES_GETSOCK_MAXNUM)) ? POLLOUT : 0));
			if (!ev)
				continue;
			owner[np] = i;
			p[np++] = (struct pollfd){.fd = s[j], .events = ev};
		}
		struct timeval tv, *t = ares_timeout(ls[i]->ch, NULL, &tv);
		int64_t left = ls[i]->deadline_ms - now;
		if (t && t->tv_sec * 1000 + t->tv_usec / 1000 < left)
			left = t->tv_sec * 1000 + t->tv_usec / 1000;
		if (left < *timeout_ms)
			*timeout_ms = left < 0 ? 0 : (int)left;
	}
	if (n && *timeout_ms > RESOLVE_STOP_POLL_MS)
		*timeout_ms = RESOLVE_STOP_POLL_MS;
	return np;
}

/* Sockets that are ready, then timeouts; the deadline cancels (a 504). */
static void process(struct lookup **ls, int n, const struct pollfd *p, const int *owner, int first,
		    int np)
{
	for (int k = first; k < np; k++) {
		if (!p[k].revents || ls[owner[k]]->done)
			continue;
		bool rd = p[k].revents & (POLLIN | POLLERR | POLLHUP);
		ares_process_fd(ls[owner[k]]->ch, rd ? p[k].fd : ARES_SOCKET_BAD,
				p[k].revents & POLLOUT ? p[k].fd : ARES_SOCKET_BAD);
	}
	int64_t now = mono_ms();
	for (int i = 0; i < n; i++) {
		if (!ls[i]->done)
			ares_process_fd(ls[i]->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
		if (!ls[i]->done && now >= ls[i]->deadline_ms)
			ares_cancel(ls[i]->ch);
	}
}

static void reap(struct lookup **ls, int *n)
{
	int kept = 0;
	for (int i = 0; i < *n; i++) {
		if (ls[i]->done) {
			ares_destroy(ls[i]->ch);
			free(ls[i]);
		} else {
			ls[kept++] = ls[i];
		}
	}
	*n = kept;
}

/* A stop answers every lookup in flight now (ARES_ECANCELLED: each is
 * answered to the loop, which is waiting for it to end). */
static void cancel_all(struct lookup **ls, int *n)
{
	log_info("proxy: stopping: %d name lookup(s) in flight cancelled", *n);
	for (int i = 0; i < *n; i++)
		ares_cancel(ls[i]->ch);
	reap(ls, n);
}

/* Reads the loop's requests; false once the loop's end is closed. */
static bool take_requests(struct loop *lp, int host_ns, struct lookup **ls, int *n)
{
	struct connect_req rq;
	for (;;) {
		ssize_t got = recv(lp->rsock[1], &rq, sizeof(rq), MSG_DONTWAIT);
		if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
			return false;
		if (got < 0)
			return true;
		if (got == sizeof(rq)) {
			rq.name[sizeof(rq.name) - 1] = rq.dns[sizeof(rq.dns) - 1] = '\0';
			lookup_start(lp, host_ns, ls, n, &rq);
		}
	}
}

void *resolver_main(void *arg)
{
	struct loop *lp = arg;
	enum { PMAX = 1 + RESOLVE_MAX * ARES_GETSOCK_MAXNUM };
	int host_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (host_ns < 0) {
		log_error("proxy: resolver: cannot open own network namespace: %s",
			  strerror(errno));
		return NULL;
	}
	struct lookup **ls = xcalloc(RESOLVE_MAX, sizeof(*ls));
	struct pollfd *p = xcalloc(PMAX, sizeof(*p));
	int *owner = xcalloc(PMAX, sizeof(*owner));
	int n = 0;
	bool open_ = true;
	while (open_ || n) {
		int timeout_ms;
		int np = poll_set(open_ ? lp->rsock[1] : -1, ls, n, p, owner, &timeout_ms);
		if (poll(p, (nfds_t)np, timeout_ms) < 0 && errno != EINTR)
			break;
		process(ls, n, p, owner, open_ ? 1 : 0, np);
		reap(ls, &n);
		if (n && stopping(lp))
			cancel_all(ls, &n);
		if (open_ && p[0].revents && !take_requests(lp, host_ns, ls, &n)) {
			open_ = false; /* the proxy stops: what is in flight ends now */
			if (n)
				cancel_all(ls, &n);
		}
	}
	for (int i = 0; i < n; i++) {
		ares_destroy(ls[i]->ch);
		free(ls[i]);
	}
	free(ls);
	free(p);
	free(owner);
	close(host_ns);
	return NULL;
}

void resolve_failed(struct conn *c, int status)
{
	struct error err;
	const char *name = c->egress_name ? c->egress_name : "the target";
	switch (status) {
	case ARES_ENOTFOUND:
	case ARES_ENODATA:
	case ARES_ENONAME:
		err_set(&err, E_BAD_GATEWAY,
			"The name %s does not resolve (no %s address) for the container", name,
			c->route.ipv6 ? "IPv4 or IPv6" : "IPv4");
		break;
	case ARES_ETIMEOUT:
		err_set(&err, E_GATEWAY_TIMEOUT,
			"The container's resolvers did not answer for %s within %d s", name,
			RESOLVE_DEADLINE_MS / 1000);
		break;
	case RESOLVE_BUSY:
		err_set(&err, E_BAD_GATEWAY, "The proxy is too busy resolving names; try again");
		break;
	case RESOLVE_NO_SERVER:
		err_set(&err, E_BAD_GATEWAY,
			"The container has no resolver to look %s up with (hoodyd --dns)", name);
		break;
	default:
		err_set(&err, E_BAD_GATEWAY, "Cannot resolve %s for the container (%s)", name,
			ares_strerror(status));
	}
	backend_refuse(c, &err);
}
