/* Idle backend connections shared by a loop's client connections (nginx's
 * upstream keepalive). A client connection keeps its backend between its
 * own requests (backend.c); when it closes, or moves on to another place,
 * a backend connection that finished its last exchange cleanly is parked
 * here under its route key, and the next request of any client connection
 * of this loop to the same place takes it instead of connecting: no
 * connector round trip, no setns, no TCP handshake inside the container.
 *
 * Bounded: KEEP_PER_KEY per place, KEEP_MAX per loop (the oldest goes);
 * closed after KEEP_IDLE_S unused, and at once when the backend sends
 * anything or hangs up while parked (a stopped container's program is
 * killed, so its sockets close and leave the pool with it). The key names
 * the container, its address, the port or socket and the kind, so a
 * connection never serves another container or another port. Each loop has
 * its own pool: no lock. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "proxy/internal.h"

#define KEEP_PER_KEY 32
#define KEEP_MAX 512
#define KEEP_IDLE_S 30

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

static uint64_t key_hash(const char *key)
{
	uint64_t h = 1469598103934665603ull;
	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ull;
	return h;
}

static void unlink_idle(struct loop *lp, struct idle_backend *ib)
{
	ib->prev->next = ib->next;
	ib->next->prev = ib->prev;
	lp->nidle--;
}

/* An event already fetched in this batch may still point at ib: it is
 * freed after the batch (keepalive_free_dead), and ignored until then. */
static void retire(struct loop *lp, struct idle_backend *ib)
{
	unlink_idle(lp, ib);
	ib->gone = true;
	ib->next = lp->idle_dead;
	lp->idle_dead = ib;
}

static void drop(struct loop *lp, struct idle_backend *ib)
{
	if (ib->ssl)
		SSL_free(ib->ssl);
	ep_close(lp, ib->fd);
	retire(lp, ib);
}

static bool clean_for_reuse(const struct conn *c)
{
	return c->bfd >= 0 && c->b_keep && !c->b_hup && !c->b_connecting && !c->b_pending &&
	       c->rs == RS_IDLE && c->bkey[0] &&
	       (!c->resp.b.data || c->resp.b.end == c->resp.b.start);
}

void keepalive_park(struct conn *c)
{
	struct loop *lp = c->lp;
	if (!clean_for_reuse(c) || __atomic_load_n(&lp->srv->stopping, __ATOMIC_ACQUIRE)) {
		backend_close(c);
		return;
	}
	uint64_t h = key_hash(c->bkey);
	int same = 0;
	struct idle_backend *oldest_same = NULL;
	for (struct idle_backend *ib = lp->idle.next; ib != &lp->idle; ib = ib->next)
		if (ib->hash == h && strcmp(ib->key, c->bkey) == 0) {
			same++;
			oldest_same = ib;
		}
	if (same >= KEEP_PER_KEY)
		drop(lp, oldest_same);
	else if (lp->nidle >= KEEP_MAX)
		drop(lp, lp->idle.prev);
	struct idle_backend *ib = xcalloc(1, sizeof(*ib));
	ib->ref.kind = EP_IDLE;
	ib->lp = lp;
	ib->fd = c->bfd;
	ib->ssl = c->bssl;
	ib->hash = h;
	ib->since_ns = lp->now_ns;
	snprintf(ib->key, sizeof(ib->key), "%s", c->bkey);
	/* parked: any byte or hang-up makes it useless, nothing else matters */
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = &ib->ref};
	if (epoll_ctl(lp->epfd, EPOLL_CTL_MOD, ib->fd, &ev) < 0) {
		free(ib); /* never registered under ib: no event can name it */
		backend_close(c);
		return;
	}
	c->bfd = -1;
	c->bssl = NULL;
	backend_close(c); /* resets the connection's backend state; the socket stays parked */
	ib->next = lp->idle.next;
	ib->prev = &lp->idle;
	lp->idle.next->prev = ib;
	lp->idle.next = ib;
	lp->nidle++;
}

bool keepalive_take(struct conn *c, const char *key)
{
	struct loop *lp = c->lp;
	uint64_t h = key_hash(key);
	for (struct idle_backend *ib = lp->idle.next; ib != &lp->idle; ib = ib->next) {
		if (ib->hash != h || strcmp(ib->key, key) != 0)
			continue;
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
					 .data.ptr = &c->bref};
		if (epoll_ctl(lp->epfd, EPOLL_CTL_MOD, ib->fd, &ev) < 0) {
			drop(lp, ib);
			return false;
		}
		c->bfd = ib->fd;
		c->bssl = ib->ssl;
		/* an idle socket's send buffer is empty; reads wait for the edge */
		c->b_rd = c->b_hup = false;
		c->b_wr = true;
		c->b_keep = true;
		snprintf(c->bkey, sizeof(c->bkey), "%s", key);
		retire(lp, ib);
		return true;
	}
	return false;
}

void keepalive_event(struct ep_ref *ref)
{
	struct idle_backend *ib = container_of(ref, struct idle_backend, ref);
	if (!ib->gone)
		drop(ib->lp, ib);
}

void keepalive_free_dead(struct loop *lp)
{
	while (lp->idle_dead) {
		struct idle_backend *ib = lp->idle_dead;
		lp->idle_dead = ib->next;
		free(ib);
	}
}

void keepalive_sweep(struct loop *lp)
{
	int64_t limit = lp->now_ns - (int64_t)KEEP_IDLE_S * 1000000000LL;
	while (lp->idle.prev != &lp->idle && lp->idle.prev->since_ns < limit)
		drop(lp, lp->idle.prev);
}

void keepalive_close_all(struct loop *lp)
{
	while (lp->idle.next && lp->idle.next != &lp->idle)
		drop(lp, lp->idle.next);
	keepalive_free_dead(lp);
}
