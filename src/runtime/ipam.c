/* IPv4 address management for the container bridge.
 *
 * Leases live as symlinks under <state>/ipam so that they survive daemon
 * restarts and cost one syscall each to read or write:
 *   <ip>       -> <id>   the address is taken (symlink creation is atomic
 *                        and fails with EEXIST: the allocation primitive)
 *   id-<id>    -> <ip>   the reverse index, so acquire is idempotent
 * A flock on <state>/ipam/.lock serialises processes (test daemons may
 * share nothing but this is cheap insurance); rt->ipam_lock serialises the
 * threads of one process.
 *
 * The search for a free address starts at a hash of the id: a container
 * re-created under the same id tends to get the same address, and a crash
 * between the two symlinks is healed because the retry probes the same
 * sequence and finds its own <ip> link first. Anything still dangling is
 * collected when the subnet looks full. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/internal.h"

struct subnet {
	uint32_t net; /* host byte order */
	int prefix;
	uint32_t first, last; /* assignable addresses: net+2 .. broadcast-1 */
};

uint64_t rt_fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int subnet_parse(const char *cidr, struct subnet *out, struct error *err)
{
	char addr[32];
	const char *slash = cidr ? strchr(cidr, '/') : NULL;
	if (!slash || (size_t)(slash - cidr) >= sizeof(addr))
		return err_set(err, E_VALIDATION, "subnet %s is not an IPv4 CIDR (a.b.c.d/n)",
			       cidr ? cidr : "(null)");
	memcpy(addr, cidr, (size_t)(slash - cidr));
	addr[slash - cidr] = '\0';
	char *end;
	long prefix = strtol(slash + 1, &end, 10);
	struct in_addr in;
	/* /30 leaves one address besides the gateway; /8 is already absurd. */
	if (*end || end == slash + 1 || prefix < 8 || prefix > 30 ||
	    inet_pton(AF_INET, addr, &in) != 1)
		return err_set(err, E_VALIDATION,
			       "subnet %s is not an IPv4 CIDR with a prefix of 8 to 30", cidr);
	uint32_t mask = ~0U << (32 - prefix);
	out->net = ntohl(in.s_addr) & mask;
	out->prefix = (int)prefix;
	out->first = out->net + 2;
	out->last = (out->net | ~mask) - 1;
	return 0;
}

static void ip_str(uint32_t ip, char out[20])
{
	struct in_addr in = {.s_addr = htonl(ip)};
	inet_ntop(AF_INET, &in, out, 20);
}

static bool ip_parse_in(const char *s, const struct subnet *sn, uint32_t *out)
{
	struct in_addr in;
	if (inet_pton(AF_INET, s, &in) != 1)
		return false;
	*out = ntohl(in.s_addr);
	return *out >= sn->first && *out <= sn->last;
}

int ipam_gateway(struct runtime *rt, char gw_out[20], int *prefix_out, struct error *err)
{
	struct subnet sn;
	if (subnet_parse(rt->subnet, &sn, err) < 0)
		return -1;
	ip_str(sn.net + 1, gw_out);
	*prefix_out = sn.prefix;
	return 0;
}

/* Two interfaces holding overlapping subnets make the host route our
 * containers' packets to whichever the kernel picks: containers then look
 * unreachable with no error anywhere. Checked when the bridge is created,
 * so a clash (another hoodyd, podman's default 10.88.0.0/16, a VPN) is named
 * instead. */
int ipam_check_free(struct runtime *rt, struct error *err)
{
	struct subnet sn;
	struct ifaddrs *all;
	if (subnet_parse(rt->subnet, &sn, err) < 0)
		return -1;
	if (getifaddrs(&all) < 0)
		return err_sys(err, E_RUNTIME, "getifaddrs");
	int rc = 0;
	for (struct ifaddrs *a = all; a && rc == 0; a = a->ifa_next) {
		if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || !a->ifa_netmask ||
		    strcmp(a->ifa_name, rt->bridge) == 0)
			continue;
		uint32_t ip = ntohl(((struct sockaddr_in *)(void *)a->ifa_addr)->sin_addr.s_addr);
		uint32_t mask =
		    ntohl(((struct sockaddr_in *)(void *)a->ifa_netmask)->sin_addr.s_addr);
		uint32_t ours = sn.prefix ? ~0u << (32 - sn.prefix) : 0;
		uint32_t both = mask & ours; /* the shorter prefix decides */
		if ((ip & both) == (sn.net & both)) {
			char have[20];
			ip_str(ip, have);
			rc = err_set(err, E_CONFLICT,
				     "subnet %s overlaps %s/%d on interface %s: choose another "
				     "with --subnet",
				     rt->subnet, have, __builtin_popcount(mask), a->ifa_name);
		}
	}
	freeifaddrs(all);
	return rc;
}

/* ---- the lease directory ---- */

struct ipam_dir {
	struct runtime *rt;
	int dfd;
	int lockfd;
	struct subnet sn;
};

/* Takes both locks and opens <state>/ipam; undone by ipam_close. */
static int ipam_open(struct runtime *rt, struct ipam_dir *d, struct error *err)
{
	d->rt = rt;
	d->dfd = d->lockfd = -1;
	if (subnet_parse(rt->subnet, &d->sn, err) < 0)
		return -1;
	_cleanup_free_ char *dir = xasprintf("%s/ipam", rt->state_dir);
	if (mkdir_p(dir, 0700, err) < 0)
		return -1;
	d->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dfd < 0)
		return err_sys(err, E_IO, "open %s", dir);
	pthread_mutex_lock(&rt->ipam_lock);
	d->lockfd = openat(d->dfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lockfd < 0 || flock(d->lockfd, LOCK_EX) < 0) {
		err_sys(err, E_IO, "lock %s/.lock", dir);
		pthread_mutex_unlock(&rt->ipam_lock);
		if (d->lockfd >= 0)
			close(d->lockfd);
		close(d->dfd);
		return -1;
	}
	return 0;
}

static void ipam_close(struct ipam_dir *d)
{
	close(d->lockfd); /* drops the flock */
	pthread_mutex_unlock(&d->rt->ipam_lock);
	close(d->dfd);
}

/* The target of symlink name in the lease dir; false if none. */
static bool link_read(struct ipam_dir *d, const char *name, char *buf, size_t len)
{
	ssize_t n = readlinkat(d->dfd, name, buf, len - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

static bool ip_owned_by(struct ipam_dir *d, const char *ip, const char *id)
{
	char owner[RT_ID_MAX + 2];
	return link_read(d, ip, owner, sizeof(owner)) && !strcmp(owner, id);
}

/* Points id-<id> at ip, replacing any older value atomically. */
static int index_write(struct ipam_dir *d, const char *id, const char *ip, struct error *err)
{
	char name[RT_ID_MAX + 8], tmp[RT_ID_MAX + 16];
	snprintf(name, sizeof(name), "id-%s", id);
	snprintf(tmp, sizeof(tmp), ".tmp-%s", id);
	unlinkat(d->dfd, tmp, 0);
	if (symlinkat(ip, d->dfd, tmp) < 0 || renameat(d->dfd, tmp, d->dfd, name) < 0) {
		unlinkat(d->dfd, tmp, 0);
		return err_sys(err, E_IO, "write lease index of %s", id);
	}
	return 0;
}

/* The address id already holds (both links agree, inside the subnet). */
static bool lease_lookup(struct ipam_dir *d, const char *id, char ip_out[20])
{
	char name[RT_ID_MAX + 8];
	snprintf(name, sizeof(name), "id-%s", id);
	uint32_t ip;
	if (!link_read(d, name, ip_out, 20) || !ip_parse_in(ip_out, &d->sn, &ip))
		return false;
	if (ip_owned_by(d, ip_out, id))
		return true;
	/* Crash between the two links of an allocation: re-take it if free. */
	return symlinkat(id, d->dfd, ip_out) == 0;
}

/* First free (or already ours) address in the probe sequence of id;
 * 1 when found, 0 when the subnet is full. */
static int probe(struct ipam_dir *d, const char *id, char ip_out[20], struct error *err)
{
	uint32_t n = d->sn.last - d->sn.first + 1;
	uint32_t start = (uint32_t)(rt_fnv1a(0xcbf29ce484222325ULL, id) % n);
	for (uint32_t i = 0; i < n; i++) {
		ip_str(d->sn.first + (start + i) % n, ip_out);
		if (symlinkat(id, d->dfd, ip_out) == 0)
			return 1;
		if (errno != EEXIST)
			return err_sys(err, E_IO, "create lease %s", ip_out);
		if (ip_owned_by(d, ip_out, id))
			return 1;
	}
	return 0;
}

/* Removes <ip> links whose id no longer points back (half-done releases). */
static void collect_garbage(struct ipam_dir *d)
{
	_cleanup_close_ int fd = dup(d->dfd);
	_cleanup_closedir_ DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir)
		return;
	steal_fd(&fd); /* dir owns it now */
	struct dirent *de;
	while ((de = readdir(dir))) {
		char owner[RT_ID_MAX + 2], back[20], name[RT_ID_MAX + 8];
		uint32_t ip;
		if (!ip_parse_in(de->d_name, &d->sn, &ip) ||
		    !link_read(d, de->d_name, owner, sizeof(owner)))
			continue;
		snprintf(name, sizeof(name), "id-%s", owner);
		if (!link_read(d, name, back, sizeof(back)) || strcmp(back, de->d_name))
			unlinkat(d->dfd, de->d_name, 0);
	}
}

int ipam_acquire(struct runtime *rt, const char *id, char ipv4_out[20], struct error *err)
{
	if (rt_check_id(id, err) < 0)
		return -1;
	struct ipam_dir d;
	if (ipam_open(rt, &d, err) < 0)
		return -1;
	char ip[20];
	int rc = 0;
	if (!lease_lookup(&d, id, ip)) {
		rc = probe(&d, id, ip, err);
		if (rc == 0) {
			collect_garbage(&d);
			rc = probe(&d, id, ip, err);
		}
		if (rc == 0)
			rc = err_set(err, E_SERVER_LIMIT,
				     "no free IPv4 address left in subnet %s: delete containers or "
				     "configure a larger subnet",
				     rt->subnet);
		else if (rc > 0)
			rc = index_write(&d, id, ip, err);
	}
	ipam_close(&d);
	if (rc == 0)
		snprintf(ipv4_out, 20, "%s", ip);
	return rc;
}

int ipam_release(struct runtime *rt, const char *id, struct error *err)
{
	if (rt_check_id(id, err) < 0)
		return -1;
	struct ipam_dir d;
	if (ipam_open(rt, &d, err) < 0)
		return -1;
	char name[RT_ID_MAX + 8], ip[20];
	snprintf(name, sizeof(name), "id-%s", id);
	int rc = 0;
	/* The address first: a crash in between leaves an index that a later
	 * acquire of the same id simply re-takes. */
	if (link_read(&d, name, ip, sizeof(ip)) && ip_owned_by(&d, ip, id) &&
	    unlinkat(d.dfd, ip, 0) < 0 && errno != ENOENT)
		rc = err_sys(err, E_IO, "release %s", ip);
	if (rc == 0 && unlinkat(d.dfd, name, 0) < 0 && errno != ENOENT)
		rc = err_sys(err, E_IO, "release lease index of %s", id);
	ipam_close(&d);
	return rc;
}

int rt_net_endpoint(struct runtime *rt, const char *id, char *netns, size_t netns_len, char *ip,
		    size_t ip_len, struct error *err)
{
	if (rt_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *link = xasprintf("%s/ipam/id-%s", rt->state_dir, id);
	_cleanup_free_ char *ns = net_netns_path(rt, id);
	char buf[20];
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);
	if (n <= 0)
		return err_set(err, E_NOT_FOUND, "container %s holds no address", id);
	buf[n] = '\0';
	snprintf(ip, ip_len, "%s", buf);
	snprintf(netns, netns_len, "%s", ns);
	return 0;
}
