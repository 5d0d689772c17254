/* Access changes the hostname proxy must apply to tunnels already open
 * (docs/PROXY.md "What closes a tunnel"). A request is decided when it
 * arrives; a WebSocket or CONNECT tunnel makes no more requests, so every
 * platform write that can withdraw access notes here, after it committed,
 * which containers it touched. The proxy reads the notes (proxy.h,
 * proxy_access_seq / proxy_changes_new) and decides those tunnels again.
 *
 * The log is process-wide like the authentication cache (auth.h), so a
 * module that holds only the store (users.c) can note a change too. */
#ifndef HOODY_PLATFORM_REVOKE_H
#define HOODY_PLATFORM_REVOKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"

enum revoke_scope {
	REVOKE_ALL,	  /* every tunnel (a claim key set change) */
	REVOKE_CONTAINER, /* the tunnels to one container */
	REVOKE_PROJECT,	  /* to the containers of one project */
	REVOKE_USER,	  /* to the containers one user owns: their tokens and sessions */
};

struct revoke_change {
	uint64_t seq;
	enum revoke_scope scope;
	bool close; /* close without deciding again (the container stops or goes) */
	char id[ID_LEN + 1];
};

/* Changes kept for readers that fall behind; a reader that missed some
 * decides every tunnel again. */
#define REVOKE_LOG_SIZE 1024

/* Notes a committed change; id is ignored for REVOKE_ALL. Never blocks for
 * long (a mutex around a ring). */
void revoke_note(enum revoke_scope scope, const char *id, bool close);
/* The sequence number of the last change (0 = none yet). */
uint64_t revoke_seq(void);
/* Up to max changes after `since`, oldest first; *lost when some after
 * since are no longer held. */
size_t revoke_since(uint64_t since, struct revoke_change *out, size_t max, bool *lost);

#endif
