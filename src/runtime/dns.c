/* DNS for containers: the resolvers a container's /etc/resolv.conf names,
 * and the only addresses in the denied ranges it may reach (port 53 only,
 * firewall.c).
 *
 * The list is the configured one (--dns), else the host's own IPv4
 * resolvers from /etc/resolv.conf. Loopback resolvers (a local stub such as
 * systemd-resolved's 127.0.0.53) mean nothing inside a container: their
 * upstreams in /run/systemd/resolve/resolv.conf are used instead, as Docker
 * does. A host with neither gives containers no resolver (logged). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

#define RESOLV_MAX (64 * 1024)

static const char *const host_files[] = {"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"};

/* Adds s to rt->dns unless full, a duplicate, or loopback; false when s is
 * not an IPv4 address. */
static bool dns_add(struct runtime *rt, const char *s)
{
	struct in_addr in;
	if (inet_pton(AF_INET, s, &in) != 1)
		return false;
	if ((ntohl(in.s_addr) >> 24) == 127 || rt->dns_count >= RT_DNS_MAX)
		return true;
	for (size_t i = 0; i < rt->dns_count; i++)
		if (!strcmp(rt->dns[i], s))
			return true;
	inet_ntop(AF_INET, &in, rt->dns[rt->dns_count++], sizeof(rt->dns[0]));
	return true;
}

static void dns_from_file(struct runtime *rt, const char *path)
{
	_cleanup_free_ char *text = NULL;
	if (read_file(path, RESOLV_MAX, &text, NULL, NULL) < 0)
		return;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char addr[64];
		/* IPv6 resolvers are skipped: containers have IPv4 only. */
		if (sscanf(line, "nameserver %63s", addr) == 1)
			dns_add(rt, addr);
	}
}

int dns_init(struct runtime *rt, const char *configured, struct error *err)
{
	rt->dns_count = 0;
	if (configured && *configured) {
		_cleanup_free_ char *copy = xstrdup(configured);
		char *save = NULL;
		for (char *s = strtok_r(copy, ", ", &save); s; s = strtok_r(NULL, ", ", &save))
			if (!dns_add(rt, s))
				return err_set(err, E_VALIDATION,
					       "dns: \"%.64s\" is not an IPv4 address", s);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(host_files) && rt->dns_count == 0; i++)
		dns_from_file(rt, host_files[i]);
	if (rt->dns_count == 0)
		log_warn("no IPv4 resolver found in /etc/resolv.conf: containers get none "
			 "(set --dns)");
	return 0;
}

char *dns_resolv_conf_new(struct runtime *rt)
{
	_cleanup_free_ char *host = NULL;
	size_t cap = 64 + rt->dns_count * 32, len = 0;
	if (read_file("/etc/resolv.conf", RESOLV_MAX, &host, NULL, NULL) == 0)
		cap += strlen(host);
	char *out = xmalloc(cap);
	for (size_t i = 0; i < rt->dns_count; i++)
		len += (size_t)snprintf(out + len, cap - len, "nameserver %s\n", rt->dns[i]);
	/* The host's search domains and options still apply. */
	char *save = NULL;
	for (char *line = host ? strtok_r(host, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, "search", 6) || !strncmp(line, "domain", 6) ||
		    !strncmp(line, "options", 7))
			len += (size_t)snprintf(out + len, cap - len, "%s\n", line);
	out[len] = '\0';
	return out;
}

void rt_dns_servers(struct runtime *rt, char *out, size_t len)
{
	size_t used = 0;
	if (len)
		out[0] = '\0';
	for (size_t i = 0; i < rt->dns_count && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? "," : "", rt->dns[i]);
}
