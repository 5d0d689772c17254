/* Backend sockets. http-{port}/https-{port} connect from inside the
 * container's network namespace to 127.0.0.1:port, so a program bound to
 * loopback in the container answers too and the host needs no route into
 * the bridge; the container's own address is the fallback (a program bound
 * only to it), and a container without a namespace file is reached at its
 * address from the host. setns(2) changes the namespace of the calling
 * thread, so those sockets are made by a connector thread per loop, never by
 * a loop thread. The API and Kit sockets are connected by the loop itself.
 * A backend connection is kept for the next request of the same client
 * connection when it goes to the same place, and otherwise parked for the
 * loop's other connections (keepalive.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <netinet/tcp.h>

#include "common/log.h"
#include "common/util.h"
#include "proxy/internal.h"

/* ------------------------------------------------------------ failures */

static void fail(struct conn *c, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct conn *c, enum err_code code, const char *fmt, ...)
{
	struct error err;
	va_list ap;
	va_start(ap, fmt);
	err.code = code;
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	backend_close(c);
	free(c->retry_head);
	c->retry_head = NULL;
	if (c->resp_started) {
		c->closing = true;
		return;
	}
	exchange_error(c, &err);
}

static const char *what(const struct conn *c)
{
	switch (c->route.kind) {
	case PROXY_API:
		return "the API";
	case PROXY_KIT:
		return "the Kit service";
	case PROXY_PROXY:
		return "the target from inside the container";
	case PROXY_SSH:
		return "the SSH front door";
	default:
		return "the service in the container";
	}
}

void backend_failed(struct conn *c, int errnum)
{
	if (c->route.kind == PROXY_HTTP_PORT || c->route.kind == PROXY_HTTPS_PORT)
		fail(c, E_BAD_GATEWAY, "Nothing answers on port %d in the container (%s)",
		     c->route.port, strerror(errnum));
	else
		fail(c, E_BAD_GATEWAY, "Cannot reach %s (%s)", what(c), strerror(errnum));
}

void backend_refuse(struct conn *c, const struct error *err)
{
	fail(c, err->code, "%s", err->msg);
}

void backend_protocol_error(struct conn *c, const char *msg)
{
	fail(c, E_BAD_GATEWAY, "%s", msg);
}

/* The backend closed before a response head. A kept-alive backend may have
 * timed out just as the request left: a request without a body is sent
 * once more on a new connection. */
void backend_gone_early(struct conn *c)
{
	if (c->retry_head && c->resp.b.end == c->resp.b.start) {
		backend_close(c);
		c->b_fresh = true; /* not another parked one: it may be as stale */
		half_reset(&c->resp);
		free(c->req.out);
		c->req.out = c->retry_head;
		c->req.out_len = (uint32_t)strlen(c->retry_head);
		c->req.out_off = 0;
		c->retry_head = NULL;
		c->rq = RQ_CONNECT;
		c->rs = RS_IDLE;
		backend_connect(c);
		return;
	}
	fail(c, E_BAD_GATEWAY, "%s closed the connection without answering", what(c));
}

void backend_close(struct conn *c)
{
	if (c->bssl) {
		SSL_free(c->bssl);
		c->bssl = NULL;
	}
	if (c->bfd >= 0)
		ep_close(c->lp, c->bfd);
	c->bfd = -1;
	c->b_rd = c->b_wr = c->b_hup = false;
	c->b_connecting = c->b_keep = c->b_reused = false;
	c->bkey[0] = '\0';
}

/* ------------------------------------------------------------ connecting */

static void route_key(const struct conn *c, char *out, size_t len)
{
	const struct proxy_route *r = &c->route;
	snprintf(out, len, "%d/%s/%d/%s/%s", (int)r->kind, r->container_id, r->port,
		 r->kind == PROXY_KIT ? r->kit_socket
		 : c->egress_name     ? c->egress_name
				      : "",
		 r->backend_ip);
}

/* A kept backend is reused when it goes to the same place and has not hung
 * up (stray bytes or a close while idle already closed it: step_response
 * watches idle backends). One that closed unseen costs one retry. */
static bool backend_reusable(struct conn *c, const char *key)
{
	return c->bfd >= 0 && c->b_keep && !c->b_hup && strcmp(c->bkey, key) == 0;
}

static void nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Registers fd as the backend socket; in_progress: connect() pending. */
void backend_adopt(struct conn *c, int fd, bool in_progress)
{
	struct error err = {0};
	c->bfd = fd;
	c->b_rd = c->b_wr = c->b_hup = false;
	if (ep_add(c->lp, fd, &c->bref, &err) < 0) {
		log_warn("proxy: %s", err.msg);
		fail(c, E_BAD_GATEWAY, "Cannot reach %s", what(c));
		return;
	}
	c->b_connecting = in_progress;
	c->deadline_ns = c->lp->now_ns + (int64_t)CONNECT_TIMEOUT_S * 1000000000LL;
	if (!in_progress)
		backend_connected(c);
}

static void connect_direct(struct conn *c, const struct sockaddr *sa, socklen_t len)
{
	_cleanup_close_ int fd =
	    socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		backend_failed(c, errno);
		return;
	}
	if (sa->sa_family != AF_UNIX)
		nodelay(fd);
	int rc = connect(fd, sa, len);
	if (rc < 0 && errno != EINPROGRESS) {
		backend_failed(c, errno);
		return;
	}
	backend_adopt(c, steal_fd(&fd), rc < 0);
}

/* An IPv4 or IPv6 address (egress targets may be either); -1 for neither. */
static int ip_sockaddr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	return -1;
}

static void connect_ip(struct conn *c, const char *ip, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (ip_sockaddr(ip, port, &ss, &len) < 0) {
		fail(c, E_BAD_GATEWAY, "The container has no network address");
		return;
	}
	connect_direct(c, (struct sockaddr *)&ss, len);
}

static void connect_kit(struct conn *c)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (!c->route.kit_socket[0]) {
		fail(c, E_BAD_GATEWAY, "The Kit service %s-%d is not running in this container",
		     c->route.slug, c->route.index);
		return;
	}
	if (strlen(c->route.kit_socket) >= sizeof(sun.sun_path)) {
		fail(c, E_BAD_GATEWAY, "The Kit socket path is too long");
		return;
	}
	strcpy(sun.sun_path, c->route.kit_socket);
	connect_direct(c, (struct sockaddr *)&sun, sizeof(sun));
}

static void connect_in_netns(struct conn *c)
{
	struct connect_req rq = {.c = c, .port = c->route.port, .exact = c->egress};
	snprintf(rq.netns, sizeof(rq.netns), "%s", c->route.netns_path);
	snprintf(rq.ip, sizeof(rq.ip), "%s", c->route.backend_ip);
	/* a host name goes to the resolver first, which hands it on */
	int sock = c->lp->csock[0];
	if (c->egress && c->egress_name) {
		snprintf(rq.name, sizeof(rq.name), "%s", c->egress_name);
		snprintf(rq.dns, sizeof(rq.dns), "%s", c->route.dns);
		rq.ipv6 = c->route.ipv6;
		sock = c->lp->rsock[0];
	}
	if (send(sock, &rq, sizeof(rq), MSG_DONTWAIT | MSG_NOSIGNAL) != sizeof(rq)) {
		fail(c, E_BAD_GATEWAY, "The proxy is too busy connecting; try again");
		return;
	}
	c->b_pending = true;
	c->lp->npending++;
	c->deadline_ns = c->lp->now_ns + (int64_t)CONNECT_TIMEOUT_S * 1000000000LL;
}

/* A connection that served requests before may have been closed by the
 * program just now: a request without a body can be sent once more. */
static void use_kept(struct conn *c)
{
	c->b_reused = true;
	if (!c->req_has_body && c->req.out)
		c->retry_head = xstrdup(c->req.out);
	backend_connected(c);
}

void backend_connect(struct conn *c)
{
	char key[sizeof(c->bkey)];
	route_key(c, key, sizeof(key));
	if (backend_reusable(c, key)) {
		use_kept(c);
		return;
	}
	keepalive_park(c); /* the one it had goes to the loop's pool, if clean */
	if (!c->b_fresh && keepalive_take(c, key)) {
		use_kept(c);
		return;
	}
	c->b_fresh = false;
	snprintf(c->bkey, sizeof(c->bkey), "%s", key);
	struct proxy_server *srv = c->lp->srv;
	switch (c->route.kind) {
	case PROXY_API:
		connect_direct(c, (struct sockaddr *)&srv->api_addr, srv->api_addr_len);
		return;
	case PROXY_KIT:
		connect_kit(c);
		return;
	case PROXY_HTTP_PORT:
	case PROXY_HTTPS_PORT:
		if (c->route.netns_path[0])
			connect_in_netns(c);
		else
			connect_ip(c, c->route.backend_ip, c->route.port);
		return;
	case PROXY_SSH:
		sshbridge_connect(c);
		return;
	case PROXY_PROXY:
		if (c->egress) {
			connect_in_netns(c);
			return;
		}
		break;
	}
	fail(c, E_VALIDATION,
	     "This name is the container's egress proxy: use it as a forward proxy over "
	     "TLS (curl -x https://<this name> http://127.0.0.1:8000/), docs/PROXY.md");
}

void backend_connected(struct conn *c)
{
	if (c->tunnel_on_connect) {
		egress_tunnel_start(c);
		return;
	}
	if (c->route.kind == PROXY_HTTPS_PORT && !c->bssl) {
		c->bssl = tls_backend_new(c->lp->srv, c->bfd, NULL);
		if (!c->bssl) {
			fail(c, E_BAD_GATEWAY, "Cannot start TLS to the service in the container");
			return;
		}
	}
	if (c->rq == RQ_CONNECT)
		c->rq = RQ_BODY;
	c->rs = RS_HEAD;
	half_start(&c->resp, H1_BODY_NONE, 0);
}

void conn_backend_ready(const struct connect_res *res)
{
	struct conn *c = res->c;
	_cleanup_close_ int fd = res->fd;
	c->b_pending = false;
	c->lp->npending--;
	if (c->zombie) {
		conn_release(c);
		return;
	}
	if (c->rq != RQ_CONNECT) {
		/* the exchange ended meanwhile (a connect timeout answered 504) */
	} else if (res->dns_status) {
		resolve_failed(c, res->dns_status);
	} else if (fd < 0) {
		backend_failed(c, res->err);
	} else {
		nodelay(fd);
		backend_adopt(c, steal_fd(&fd), res->in_progress);
	}
	conn_pump(c);
}

/* ------------------------------------------------------------ connector */

static int connect_to(const char *ip, int port, bool *in_progress)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (ip_sockaddr(ip, port, &ss, &len) < 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	_cleanup_close_ int fd =
	    socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
		*in_progress = false;
		return steal_fd(&fd);
	}
	if (errno == EINPROGRESS) {
		*in_progress = true;
		return steal_fd(&fd);
	}
	return -1; /* the cleanup keeps connect's errno */
}

/* In the namespace: loopback first, then the container's address (a
 * program bound to that address only). Back in our own namespace after. */
static void connect_one(int host_ns, const struct connect_req *rq, struct connect_res *res)
{
	res->c = rq->c;
	res->fd = -1;
	res->in_progress = false;
	_cleanup_close_ int ns = open(rq->netns, O_RDONLY | O_CLOEXEC);
	if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
		/* no namespace file (an adopted container mid-restart): from the
		 * host, except for egress, which must never leave from the host */
		if (rq->exact) {
			res->err = ENETUNREACH;
			return;
		}
		res->fd = rq->ip[0] ? connect_to(rq->ip, rq->port, &res->in_progress) : -1;
		res->err = res->fd < 0 ? (rq->ip[0] ? errno : ENOENT) : 0;
		return;
	}
	res->fd = connect_to(rq->exact ? rq->ip : "127.0.0.1", rq->port, &res->in_progress);
	if (res->fd < 0 && errno == ECONNREFUSED && rq->ip[0] && !rq->exact)
		res->fd = connect_to(rq->ip, rq->port, &res->in_progress);
	res->err = res->fd < 0 ? errno : 0;
	if (setns(host_ns, CLONE_NEWNET) < 0) {
		/* Cannot happen with a valid descriptor of our own namespace; if
		 * it did, every later socket of this thread would be wrong. */
		log_error("proxy: connector cannot return to the host network namespace: %s",
			  strerror(errno));
		abort();
	}
}

void *connector_main(void *arg)
{
	struct loop *lp = arg;
	_cleanup_close_ int host_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (host_ns < 0) {
		log_error("proxy: connector: cannot open own network namespace: %s",
			  strerror(errno));
		return NULL;
	}
	for (;;) {
		struct connect_req rq;
		struct connect_res res;
		ssize_t n = recv(lp->csock[1], &rq, sizeof(rq), 0);
		if (n == 0 || (n < 0 && errno != EINTR))
			break;
		if (n != sizeof(rq))
			continue;
		connect_one(host_ns, &rq, &res);
		/* a sent descriptor is the loop's; an unsent one nobody's */
		if (send(lp->csock[1], &res, sizeof(res), MSG_NOSIGNAL) != sizeof(res) &&
		    res.fd >= 0)
			close(res.fd);
	}
	return NULL;
}
