/* The messages between hoodyd and its relay workers (relay.c, relay_worker.c)
 * on a SOCK_SEQPACKET socketpair: one message per upgraded connection each
 * way. docs/ARCHITECTURE.md ("Relay workers"). */
#ifndef HOODY_PROXY_RELAY_PROTO_H
#define HOODY_PROXY_RELAY_PROTO_H

#include <netinet/in.h>
#include <stdint.h>

#include "proxy/internal.h"

/* hoodyd -> worker, with SCM_RIGHTS [client socket, backend socket]: the
 * bytes hoodyd already read past the 101 follow the struct, to_client first. */
struct relay_add {
	uint32_t to_client, to_backend; /* lengths, each at most BUF_SIZE */
	char ip[INET6_ADDRSTRLEN];	/* the client's address: hoodyd's per-address count */
};

/* worker -> hoodyd: one relayed connection ended. */
struct relay_closed {
	char ip[INET6_ADDRSTRLEN];
};

#define RELAY_ADD_MAX (sizeof(struct relay_add) + 2 * BUF_SIZE)

/* The worker's argv: hoodyd PROXY_RELAY_ARG <tunnel timeout s> <parent pid>;
 * its control socket is descriptor RELAY_CTL_FD. */
#define RELAY_CTL_FD 3

#endif
