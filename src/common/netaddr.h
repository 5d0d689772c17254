#ifndef HOODY_COMMON_NETADDR_H
#define HOODY_COMMON_NETADDR_H

#include <sys/socket.h>

#include "common/error.h"

/* "127.0.0.1:8080", "[::1]:8080", ":8080" or "8080" into a socket address
 * (an empty host is the wildcard address). E_VALIDATION on anything else. */
int netaddr_parse(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
		  struct error *err);

#endif
