/* Listen addresses of the daemon's listeners (API, proxy, SSH), parsed once
 * here so every edge accepts the same forms. */
#include "common/netaddr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

int netaddr_parse(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
		  struct error *err)
{
	char host[128] = "";
	const char *colon = strrchr(listen, ':');
	const char *port = colon ? colon + 1 : listen;
	memset(ss, 0, sizeof(*ss));
	if (colon) {
		size_t hl = (size_t)(colon - listen);
		if (hl >= sizeof(host))
			return err_set(err, E_VALIDATION, "bad listen address %s", listen);
		memcpy(host, listen, hl);
	}
	char *end;
	long p = strtol(port, &end, 10);
	if (!*port || *end || p < 1 || p > 65535)
		return err_set(err, E_VALIDATION, "bad port in listen address %s", listen);
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		host[hl - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*s6);
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			return err_set(err, E_VALIDATION, "bad IPv6 address in %s", listen);
		return 0;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)p);
	*len = sizeof(*s4);
	if (hl && inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return err_set(err, E_VALIDATION, "bad IPv4 address in %s", listen);
	return 0;
}
