/* Containers' IPv6: the mode (--ipv6), the prefix (--subnet6), the
 * addresses and the host's sysctls.
 *
 * No second allocator: a container's IPv6 address is the subnet6 prefix with
 * its IPv4 address as the low 32 bits, the gateway's likewise, so the IPv4
 * lease (ipam.c) decides both and a restart re-derives them. The link-local
 * address is the modified EUI-64 of the container's fixed MAC (which is
 * itself derived from the IPv4 address): the address the kernel would pick,
 * but added by hoodyd (netns.c, addr_gen_mode none), so the firewall knows
 * every source address a port may use. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

#define IP6_PREFIX_MAX 96 /* the low 32 bits hold the IPv4 address */
#define SYSCTL_MAX 64

/* True when the host routes IPv6 somewhere: a default route on a real
 * device (the kernel's own unreachable default sits on lo). */
static bool host_has_default6(void)
{
	_cleanup_free_ char *text = NULL;
	if (read_file("/proc/net/ipv6_route", 4 * 1024 * 1024, &text, NULL, NULL) < 0)
		return false;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char dst[40], len[4], dev[32];
		if (sscanf(line, "%39s %3s %*s %*s %*s %*s %*s %*s %*s %31s", dst, len, dev) == 3 &&
		    !strcmp(dst, "00000000000000000000000000000000") && !strcmp(len, "00") &&
		    strcmp(dev, "lo") != 0)
			return true;
	}
	return false;
}

static bool host_ipv6_disabled(void)
{
	_cleanup_free_ char *v = NULL;
	return read_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", SYSCTL_MAX, &v, NULL, NULL) <
		   0 ||
	       atoi(v) != 0;
}

/* fd00::/8 + 56 bits of a hash of the machine and the bridge: a ULA /64 of
 * this host's own (RFC 4193 wants the global id random; a hash of the
 * machine id is as unlikely to clash and stays the same across restarts),
 * different for every bridge (each test daemon has its own). */
static void derived_prefix(struct runtime *rt)
{
	_cleanup_free_ char *mid = NULL;
	if (read_file("/etc/machine-id", 256, &mid, NULL, NULL) < 0)
		mid = xstrdup("");
	mid[strcspn(mid, "\n")] = '\0';
	uint64_t h = rt_fnv1a(rt_fnv1a(rt_fnv1a(0xcbf29ce484222325ULL, mid), "/"), rt->bridge);
	memset(rt->subnet6_net, 0, sizeof(rt->subnet6_net));
	rt->subnet6_net[0] = 0xfd;
	for (int i = 1; i < 8; i++)
		rt->subnet6_net[i] = (unsigned char)(h >> (8 * (i - 1)));
	rt->subnet6_prefix = 64;
}

static int prefix_parse(struct runtime *rt, const char *cidr, struct error *err)
{
	char addr[64];
	const char *slash = strchr(cidr, '/');
	char *end = NULL;
	long len = slash ? strtol(slash + 1, &end, 10) : -1;
	bool ok = slash && (size_t)(slash - cidr) < sizeof(addr) && end != slash + 1 && !*end &&
		  len >= 8 && len <= IP6_PREFIX_MAX;
	if (ok) {
		memcpy(addr, cidr, (size_t)(slash - cidr));
		addr[slash - cidr] = '\0';
		ok = inet_pton(AF_INET6, addr, rt->subnet6_net) == 1;
	}
	/* unicast only: not ::/8 (unspecified, loopback, IPv4-mapped),
	 * link-local or multicast */
	const unsigned char *b = rt->subnet6_net;
	if (!ok || b[0] == 0 || b[0] == 0xff || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80))
		return err_set(err, E_VALIDATION,
			       "subnet6 \"%.64s\" is not a unicast IPv6 prefix of /8 to /96 "
			       "(e.g. fd12:3456:789a:1::/64)",
			       cidr);
	for (int bit = (int)len; bit < 128; bit++)
		rt->subnet6_net[bit / 8] &= (unsigned char)~(0x80 >> (bit % 8));
	rt->subnet6_prefix = (int)len;
	return 0;
}

int ip6_init(struct runtime *rt, const struct rt_config *cfg, struct error *err)
{
	const char *mode = cfg->ipv6 && *cfg->ipv6 ? cfg->ipv6 : "auto";
	if (strcmp(mode, "auto") && strcmp(mode, "on") && strcmp(mode, "off"))
		return err_set(err, E_VALIDATION, "ipv6 \"%.32s\" must be auto, on or off", mode);
	if (cfg->subnet6 && *cfg->subnet6) {
		if (prefix_parse(rt, cfg->subnet6, err) < 0)
			return -1;
	} else {
		derived_prefix(rt);
	}
	char text[INET6_ADDRSTRLEN];
	inet_ntop(AF_INET6, rt->subnet6_net, text, sizeof(text));
	snprintf(rt->subnet6, sizeof(rt->subnet6), "%s/%d", text, rt->subnet6_prefix);
	bool disabled = host_ipv6_disabled();
	if (!strcmp(mode, "on") && disabled)
		return err_set(err, E_VALIDATION,
			       "ipv6 is on but IPv6 is disabled on this host "
			       "(net.ipv6.conf.all.disable_ipv6)");
	rt->ipv6 =
	    !strcmp(mode, "on") || (!strcmp(mode, "auto") && !disabled && host_has_default6());
	if (!strcmp(mode, "auto"))
		log_info("IPv6 for containers: %s (auto: the host %s an IPv6 default route)",
			 rt->ipv6 ? "on" : "off", rt->ipv6 ? "has" : "has no");
	return 0;
}

void ip6_of(struct runtime *rt, const char *ipv4, char out[48])
{
	unsigned char a[16];
	struct in_addr in;
	out[0] = '\0';
	if (!rt->ipv6 || inet_pton(AF_INET, ipv4, &in) != 1)
		return;
	memcpy(a, rt->subnet6_net, 12);
	memcpy(a + 12, &in, 4);
	inet_ntop(AF_INET6, a, out, 48);
}

void ip6_link_local(const unsigned char mac[6], char out[48])
{
	unsigned char a[16] = {0xfe, 0x80};
	a[8] = mac[0] ^ 0x02; /* the universal/local bit, inverted */
	a[9] = mac[1];
	a[10] = mac[2];
	a[11] = 0xff;
	a[12] = 0xfe;
	a[13] = mac[3];
	a[14] = mac[4];
	a[15] = mac[5];
	inet_ntop(AF_INET6, a, out, 48);
}

/* The length of the common leading bits of a and b, at most max. */
static int common_bits(const unsigned char *a, const unsigned char *b, int max)
{
	int n = 0;
	while (n < max && !((a[n / 8] ^ b[n / 8]) & (0x80 >> (n % 8))))
		n++;
	return n;
}

static int mask_len(const unsigned char *m)
{
	int n = 0;
	while (n < 128 && (m[n / 8] & (0x80 >> (n % 8))))
		n++;
	return n;
}

/* As ipam_check_free for IPv4: another interface inside subnet6 (or whose
 * prefix holds it) would take the containers' packets. */
int ip6_check_free(struct runtime *rt, struct error *err)
{
	struct ifaddrs *all;
	if (!rt->ipv6)
		return 0;
	if (getifaddrs(&all) < 0)
		return err_sys(err, E_RUNTIME, "getifaddrs");
	int rc = 0;
	for (struct ifaddrs *a = all; a && rc == 0; a = a->ifa_next) {
		if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET6 || !a->ifa_netmask ||
		    !strcmp(a->ifa_name, rt->bridge))
			continue;
		const unsigned char *ip =
		    ((struct sockaddr_in6 *)(void *)a->ifa_addr)->sin6_addr.s6_addr;
		int len =
		    mask_len(((struct sockaddr_in6 *)(void *)a->ifa_netmask)->sin6_addr.s6_addr);
		if (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80)
			continue; /* link-local: every link has fe80::/64 */
		int both = len < rt->subnet6_prefix ? len : rt->subnet6_prefix;
		if (common_bits(ip, rt->subnet6_net, both) == both) {
			char have[INET6_ADDRSTRLEN];
			inet_ntop(AF_INET6, ip, have, sizeof(have));
			rc = err_set(err, E_CONFLICT,
				     "subnet6 %s overlaps %s/%d on interface %s: choose another "
				     "with --subnet6",
				     rt->subnet6, have, len, a->ifa_name);
		}
	}
	freeifaddrs(all);
	return rc;
}

/* accept_ra 1 -> 2 on one conf dir (an interface, or "default"). A bridge
 * port is skipped: the bridge takes its frames before its own IPv6 sees
 * them (containers' host veths, hundreds of them, would fill the log). */
static void accept_ra_keep(const char *name)
{
	char path[320];
	_cleanup_free_ char *v = NULL;
	snprintf(path, sizeof(path), "/sys/class/net/%s/brport", name);
	if (path_exists(path))
		return;
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/accept_ra", name);
	if (read_file(path, SYSCTL_MAX, &v, NULL, NULL) < 0 || atoi(v) != 1)
		return;
	if (write_file(path, "2", NULL) < 0)
		log_warn("cannot set %s to 2: %s", path, strerror(errno));
	else
		log_info("IPv6: %s 1 -> 2, so that forwarding keeps router advertisements", path);
}

/* Forwarding makes the kernel ignore router advertisements, and drop the
 * default routes they gave, on every interface whose accept_ra is 1; at 2
 * it keeps taking them. So a host configured by RA keeps its own IPv6
 * default route. Set on every interface and on "default" (interfaces made
 * later) before forwarding; the bridge keeps 0 (harden_bridge). Never
 * undone, like ip_forward: other software may rely on it by then. */
void ip6_host_prepare(struct runtime *rt)
{
	if (!rt->ipv6)
		return;
	DIR *d = opendir("/proc/sys/net/ipv6/conf");
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' && strcmp(de->d_name, "all") &&
		    strcmp(de->d_name, rt->bridge))
			accept_ra_keep(de->d_name);
	if (d)
		closedir(d);
	static const char fwd[] = "/proc/sys/net/ipv6/conf/all/forwarding";
	_cleanup_free_ char *v = NULL;
	if (read_file(fwd, SYSCTL_MAX, &v, NULL, NULL) == 0 && atoi(v) == 1)
		return;
	if (write_file(fwd, "1", NULL) < 0)
		log_warn("cannot enable IPv6 forwarding: %s", strerror(errno));
	else
		log_info("IPv6: %s 0 -> 1 (containers' IPv6 is routed)", fwd);
}
