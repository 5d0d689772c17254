/* The messages between hoodyd and its relay workers (relay.c, relay_worker.c)
 * on a SOCK_SEQPACKET socketpair: one message per upgraded connection each
 * way. docs/ARCHITECTURE.md ("Relay workers"). */
#ifndef HOODY_PROXY_RELAY_PROTO_H
#define HOODY_PROXY_RELAY_PROTO_H

#include <netinet/in.h>
#include <stdint.h>

#include "proxy/internal.h"

enum relay_msg { RELAY_ADD = 1, RELAY_KILL = 2 };

/* hoodyd -> worker, with SCM_RIGHTS [client socket, backend socket]: the
 * bytes hoodyd already read past the 101 follow the struct, to_client first. */
struct relay_add {
	uint32_t type;			/* RELAY_ADD */
	uint32_t to_client, to_backend; /* lengths, each at most BUF_SIZE */
	uint64_t id;			/* hoodyd's name for the connection */
	char ip[INET6_ADDRSTRLEN];	/* the client's address: hoodyd's per-address count */
};

/* hoodyd -> worker: close this connection (the access that admitted it is
 * gone); reported closed like any other. */
struct relay_kill {
	uint32_t type; /* RELAY_KILL */
	uint64_t id;
};

/* worker -> hoodyd: one relayed connection ended. */
struct relay_closed {
	uint64_t id;
	char ip[INET6_ADDRSTRLEN];
};

#define RELAY_ADD_MAX (sizeof(struct relay_add) + 2 * BUF_SIZE)

/* The worker's argv: hoodyd PROXY_RELAY_ARG <tunnel timeout s> <parent pid>;
 * its control socket is descriptor RELAY_CTL_FD. */
#define RELAY_CTL_FD 3

#endif
