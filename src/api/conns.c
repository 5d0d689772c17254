/* Connection accounting that one local process cannot use to lock the others
 * out. A per-address cap refuses the CLI as soon as another process on the
 * same machine holds that many idle sockets (every local client is
 * 127.0.0.1). So nothing is refused at accept: a new connection evicts the
 * least recently active idle one of the same owner when that owner is at its
 * cap, or of anybody anonymous when all anonymous connections together are.
 * The owner is the client address until a request on the connection
 * authenticates, then the user: idle sockets count against whoever holds
 * them, and authenticated connections are never evicted by anonymous ones.
 * A connection with a request in progress is never evicted. */
#include "api/conns.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/util.h"

struct conn_slot {
	struct conn_slot *prev, *next; /* least recently active first */
	int fd;
	bool busy; /* a request is being read or answered */
	bool authed;
	bool anon;	/* counted in tab.anon */
	char owner[64]; /* "ip:<addr>" or "user:<id>" */
};

static struct {
	pthread_mutex_t mu;
	struct conn_slot *head, *tail;
	int anon; /* connections not (yet) authenticated */
	long evicted;
} tab = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void unlink_slot(struct conn_slot *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		tab.head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		tab.tail = s->prev;
	s->prev = s->next = NULL;
}

static void append_slot(struct conn_slot *s)
{
	s->prev = tab.tail;
	s->next = NULL;
	if (tab.tail)
		tab.tail->next = s;
	else
		tab.head = s;
	tab.tail = s;
}

/* Shutting the socket down (not closing it: the fd stays MHD's until its
 * NOTIFY_CLOSED, which takes tab.mu first) makes MHD read EOF and close the
 * connection in its own thread. */
static void evict_oldest(const char *owner, bool anon_only, struct conn_slot *except)
{
	for (struct conn_slot *s = tab.head; s; s = s->next) {
		if (s == except || s->busy || s->fd < 0)
			continue;
		if (anon_only && s->authed)
			continue;
		if (owner && strcmp(s->owner, owner) != 0)
			continue;
		shutdown(s->fd, SHUT_RDWR);
		s->fd = -1; /* evicted once */
		if (s->anon)
			tab.anon--;
		s->anon = false;
		tab.evicted++;
		return;
	}
}

static int count_owner(const char *owner)
{
	int n = 0;
	for (struct conn_slot *s = tab.head; s; s = s->next)
		n += s->fd >= 0 && !strcmp(s->owner, owner);
	return n;
}

void conns_started(struct MHD_Connection *conn, const char *ip, void **socket_context)
{
	struct conn_slot *s = xcalloc(1, sizeof(*s));
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	s->fd = ci ? ci->connect_fd : -1;
	snprintf(s->owner, sizeof(s->owner), "ip:%s", ip);
	pthread_mutex_lock(&tab.mu);
	append_slot(s);
	s->anon = true;
	tab.anon++;
	if (count_owner(s->owner) > CONNS_PER_OWNER)
		evict_oldest(s->owner, true, s);
	if (tab.anon > CONNS_ANON_TOTAL)
		evict_oldest(NULL, true, s);
	pthread_mutex_unlock(&tab.mu);
	*socket_context = s;
}

void conns_closed(void **socket_context)
{
	struct conn_slot *s = *socket_context;
	if (!s)
		return;
	pthread_mutex_lock(&tab.mu);
	unlink_slot(s);
	if (s->anon)
		tab.anon--;
	pthread_mutex_unlock(&tab.mu);
	free(s);
	*socket_context = NULL;
}

static struct conn_slot *slot_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

void conns_busy(struct MHD_Connection *conn, bool busy)
{
	struct conn_slot *s = slot_of(conn);
	if (!s)
		return;
	pthread_mutex_lock(&tab.mu);
	s->busy = busy;
	if (!busy) { /* most recently active now */
		unlink_slot(s);
		append_slot(s);
	}
	pthread_mutex_unlock(&tab.mu);
}

void conns_authenticated(struct MHD_Connection *conn, const char *user_id)
{
	struct conn_slot *s = slot_of(conn);
	if (!s)
		return;
	char owner[sizeof(s->owner)];
	snprintf(owner, sizeof(owner), "user:%s", user_id);
	pthread_mutex_lock(&tab.mu);
	s->authed = true;
	if (s->anon)
		tab.anon--;
	s->anon = false;
	if (strcmp(s->owner, owner) != 0) {
		memcpy(s->owner, owner, sizeof(owner));
		if (count_owner(s->owner) > CONNS_PER_OWNER)
			evict_oldest(s->owner, false, s);
	}
	pthread_mutex_unlock(&tab.mu);
}

long conns_evicted(void)
{
	pthread_mutex_lock(&tab.mu);
	long n = tab.evicted;
	pthread_mutex_unlock(&tab.mu);
	return n;
}
