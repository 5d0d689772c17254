/* Connection accounting per owner (client address, then user): see conns.c. */
#ifndef HOODY_API_CONNS_H
#define HOODY_API_CONNS_H

#include <stdbool.h>

struct MHD_Connection;

/* Idle connections one owner (an address, or a user once authenticated)
 * keeps; a newer one evicts its least recently active idle one. */
#define CONNS_PER_OWNER 1024
/* Idle anonymous connections kept in all (below MHD's connection limit, so
 * an authenticated client always finds room). */
#define CONNS_ANON_TOTAL 2048

/* From MHD's NOTIFY_CONNECTION callback. */
void conns_started(struct MHD_Connection *conn, const char *ip, void **socket_context);
void conns_closed(void **socket_context);
/* A request began (true) or was answered (false) on conn. */
void conns_busy(struct MHD_Connection *conn, bool busy);
/* A request on conn authenticated as user_id: the connection counts
 * against that user from now on. */
void conns_authenticated(struct MHD_Connection *conn, const char *user_id);
/* Connections evicted since start (for the logs and tests). */
long conns_evicted(void);

#endif
