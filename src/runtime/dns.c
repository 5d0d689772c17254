/* DNS for containers: the resolvers a container's /etc/resolv.conf names,
 * and the only addresses in the denied ranges it may reach (port 53 only,
 * firewall.c).
 *
 * The list is the configured one (--dns), else the host's own resolvers
 * from /etc/resolv.conf (IPv6 ones only when containers have IPv6). Loopback resolvers (a local
 * stub such as systemd-resolved's 127.0.0.53) mean nothing inside a container: their upstreams in
 * /run/systemd/resolve/resolv.conf are used instead, as Docker does. A host with neither gives
 * containers no resolver (logged). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

#define RESOLV_MAX (64 * 1024)

static const char *const host_files[] = {"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"};

static void dns_put(struct runtime *rt, int family, const void *a)
{
	char text[48];
	inet_ntop(family, a, text, sizeof(text));
	if (rt->dns_count >= RT_DNS_MAX)
		return;
	for (size_t i = 0; i < rt->dns_count; i++)
		if (!strcmp(rt->dns[i], text))
			return;
	snprintf(rt->dns[rt->dns_count++], sizeof(rt->dns[0]), "%s", text);
}

/* A resolver a container can reach over IPv6: unicast beyond the link
 * (not ::, loopback, IPv4-mapped, link-local or multicast). */
static bool usable6(const unsigned char *a)
{
	static const unsigned char zero[10] = {0};
	bool mapped_or_compat = !memcmp(a, zero, 10) &&
				((a[10] == 0xff && a[11] == 0xff) || (a[10] == 0 && a[11] == 0));
	return !mapped_or_compat && a[0] != 0xff && !(a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
}

/* Adds s to rt->dns unless full, a duplicate, or loopback; 0 when added or
 * skipped, -1 when s is no address, -2 when it is an IPv6 address that
 * cannot serve containers (IPv6 off, or loopback, link-local, ...). */
static int dns_add(struct runtime *rt, const char *s)
{
	struct in_addr in;
	unsigned char a6[16];
	if (inet_pton(AF_INET, s, &in) == 1) {
		if ((ntohl(in.s_addr) >> 24) != 127)
			dns_put(rt, AF_INET, &in);
		return 0;
	}
	if (inet_pton(AF_INET6, s, a6) != 1)
		return -1;
	if (!rt->ipv6 || !usable6(a6))
		return -2;
	dns_put(rt, AF_INET6, a6);
	return 0;
}

static void dns_from_file(struct runtime *rt, const char *path)
{
	_cleanup_free_ char *text = NULL;
	if (read_file(path, RESOLV_MAX, &text, NULL, NULL) < 0)
		return;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char addr[64];
		/* IPv6 resolvers count when containers have IPv6; loopback
		 * and link-local ones (a stub, "fe80::1%eth0") are skipped */
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
		for (char *s = strtok_r(copy, ", ", &save); s; s = strtok_r(NULL, ", ", &save)) {
			int rc = dns_add(rt, s);
			if (rc == -1)
				return err_set(err, E_VALIDATION,
					       "dns: \"%.64s\" is not an IP address", s);
			if (rc == -2)
				return err_set(err, E_VALIDATION,
					       "dns: \"%.64s\" cannot serve containers (%s)", s,
					       rt->ipv6 ? "loopback, link-local or multicast"
							: "IPv6 is off");
		}
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(host_files) && rt->dns_count == 0; i++)
		dns_from_file(rt, host_files[i]);
	if (rt->dns_count == 0)
		log_warn("no usable resolver found in /etc/resolv.conf: containers get none "
			 "(set --dns)");
	return 0;
}

char *dns_resolv_conf_new(struct runtime *rt)
{
	_cleanup_free_ char *host = NULL;
	size_t cap = 64 + rt->dns_count * 64, len = 0;
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

/* Every resolver, IPv6 ones included (rt->dns holds those only when
 * containers have IPv6): the egress proxy's resolver asks them from inside
 * the container's namespace. A resolver that would not fit whole is left
 * out rather than cut (a cut address would be another address). */
void rt_dns_servers(struct runtime *rt, char *out, size_t len)
{
	size_t used = 0;
	if (len)
		out[0] = '\0';
	for (size_t i = 0; i < rt->dns_count; i++) {
		size_t need = strlen(rt->dns[i]) + (used ? 1 : 0);
		if (used + need >= len)
			continue;
		used +=
		    (size_t)snprintf(out + used, len - used, "%s%s", used ? "," : "", rt->dns[i]);
	}
}

bool rt_ipv6_on(struct runtime *rt)
{
	return rt->ipv6;
}
