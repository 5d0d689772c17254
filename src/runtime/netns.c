/* Container networking over rtnetlink, without spawning `ip`: the whole setup
 * is a dozen netlink round trips plus one network namespace.
 *
 * Layout: the bridge rt->bridge holds the gateway (first host of the subnet);
 * each container has a persistent namespace file <run>/netns/<id> (crun joins
 * it by path) holding lo and eth0, the peer of host veth "vh<hash>" on the
 * bridge. What a container may reach (and NAT beyond the host) is decided by
 * nftables rules added per port (firewall.c).
 *
 * Entering a namespace: a netlink socket works in the namespace it was
 * created in, so the calling thread steps in (setns, or unshare for a new
 * one), opens the socket and steps back at once (ns_open); it then drives
 * both sides through the two sockets from its own namespace. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/inet_diag.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/veth.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/internal.h"

#define NL_BUF (32 * 1024)
#define NL_TIMEOUT_S 5
#define DEL_THREAD_STACK (64 * 1024)
#define PEER_NAME "eth0"

/* ---- a minimal rtnetlink client ---- */

struct nl {
	int fd;
	uint32_t seq;
	char *buf; /* NL_BUF bytes for replies */
};

struct req {
	struct nlmsghdr *h;
	char data[4096] __attribute__((aligned(NLMSG_ALIGNTO)));
};

static int nl_init(struct nl *nl, int fd)
{
	int one = 1;
	struct timeval tv = {.tv_sec = NL_TIMEOUT_S};
	nl->fd = fd;
	nl->seq = (uint32_t)mono_ns();
	nl->buf = xmalloc(NL_BUF);
	/* Kernel error strings in acks, and acks without the request echoed. */
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return 0;
}

static int nl_open(struct nl *nl, struct error *err)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return err_sys(err, E_RUNTIME, "netlink socket");
	return nl_init(nl, fd);
}

static void nl_close(struct nl *nl)
{
	if (nl->fd >= 0)
		close(nl->fd);
	nl->fd = -1;
	free(nl->buf);
	nl->buf = NULL;
}

static void *req_init(struct req *r, uint16_t type, uint16_t flags, size_t hdrlen)
{
	memset(r->data, 0, NLMSG_SPACE(hdrlen));
	r->h = (struct nlmsghdr *)r->data;
	r->h->nlmsg_type = type;
	r->h->nlmsg_flags = NLM_F_REQUEST | flags;
	r->h->nlmsg_len = NLMSG_LENGTH(hdrlen);
	return NLMSG_DATA(r->h);
}

static struct rtattr *attr_put(struct req *r, unsigned short type, const void *val, size_t len)
{
	size_t off = NLMSG_ALIGN(r->h->nlmsg_len);
	/* Requests are built from bounded names: overflow is a bug here. */
	HOODY_ASSERT(off + RTA_SPACE(len) <= sizeof(r->data));
	struct rtattr *a = (struct rtattr *)(r->data + off);
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), val, len);
	r->h->nlmsg_len = (uint32_t)(off + RTA_SPACE(len));
	return a;
}

static void attr_str(struct req *r, unsigned short type, const char *s)
{
	attr_put(r, type, s, strlen(s) + 1);
}

static void attr_u32(struct req *r, unsigned short type, uint32_t v)
{
	attr_put(r, type, &v, sizeof(v));
}

static struct rtattr *nest_begin(struct req *r, unsigned short type)
{
	return attr_put(r, type, NULL, 0);
}

static void nest_end(struct req *r, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)((char *)r->h + r->h->nlmsg_len - (char *)nest);
}

/* Raw bytes appended inside a nest (the peer's ifinfomsg of a veth). */
static void *raw_put(struct req *r, size_t len)
{
	size_t off = NLMSG_ALIGN(r->h->nlmsg_len);
	HOODY_ASSERT(off + NLMSG_ALIGN(len) <= sizeof(r->data));
	memset(r->data + off, 0, NLMSG_ALIGN(len));
	r->h->nlmsg_len = (uint32_t)(off + NLMSG_ALIGN(len));
	return r->data + off;
}

typedef void (*nl_cb)(const struct nlmsghdr *h, void *arg);

/* The kernel's extended-ack message of an error reply, if any. */
static const char *ack_msg(const struct nlmsghdr *h)
{
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	const struct nlmsgerr *e = NLMSG_DATA(h);
	size_t off = NLMSG_LENGTH(sizeof(*e));
	for (const struct nlattr *a = (const void *)((const char *)h + off);
	     off + sizeof(*a) <= h->nlmsg_len && a->nla_len >= sizeof(*a) &&
	     off + a->nla_len <= h->nlmsg_len;
	     off += NLA_ALIGN(a->nla_len), a = (const void *)((const char *)h + off)) {
		if (a->nla_type == NLMSGERR_ATTR_MSG)
			return (const char *)(a + 1);
	}
	return NULL;
}

/* Sends r and reads replies until its ack or the end of the dump; cb sees
 * every other message. Returns 0 or -errno (with the kernel's reason in
 * why, when it gave one). */
static int nl_talk(struct nl *nl, struct req *r, nl_cb cb, void *arg, char *why, size_t whylen)
{
	r->h->nlmsg_seq = ++nl->seq;
	r->h->nlmsg_flags |= NLM_F_ACK;
	if (why)
		why[0] = '\0';
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	if (sendto(nl->fd, r->h, r->h->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) <
	    0)
		return -errno;
	for (;;) {
		ssize_t got = recv(nl->fd, nl->buf, NL_BUF, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		/* int, as the macros expect: NLMSG_NEXT may take it below zero,
		 * which NLMSG_OK must then see as "no more" (unsigned would wrap). */
		int n = (int)got;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
		for (struct nlmsghdr *h = (struct nlmsghdr *)nl->buf; NLMSG_OK(h, n);
		     h = NLMSG_NEXT(h, n)) {
#pragma GCC diagnostic pop
			if (h->nlmsg_seq != nl->seq)
				continue; /* a late reply to an earlier, timed-out request */
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				const char *m = e->error ? ack_msg(h) : NULL;
				if (m && why)
					snprintf(why, whylen, " (%s)", m);
				return e->error;
			}
			if (cb)
				cb(h, arg);
		}
	}
}

/* nl_talk for requests whose failure is an error; ok_errno (e.g. EEXIST)
 * counts as success. */
static int nl_do(struct nl *nl, struct req *r, int ok_errno, struct error *err, const char *what,
		 const char *name)
{
	char why[256];
	int rc = nl_talk(nl, r, NULL, NULL, why, sizeof(why));
	if (rc == 0 || rc == -ok_errno)
		return 0;
	return err_set(err, E_RUNTIME, "netlink: %s %s: %s%s", what, name, strerror(-rc), why);
}

/* ---- links ---- */

struct link_info {
	int index;
	unsigned flags;
	int master;
};

static void link_info_cb(const struct nlmsghdr *h, void *arg)
{
	struct link_info *li = arg;
	if (h->nlmsg_type != RTM_NEWLINK)
		return;
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	li->index = ifi->ifi_index;
	li->flags = ifi->ifi_flags;
	int len = (int)IFLA_PAYLOAD(h);
	for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == IFLA_MASTER && RTA_PAYLOAD(a) >= sizeof(uint32_t))
			li->master = (int)*(const uint32_t *)RTA_DATA(a);
}

/* 1 when the link exists (li filled), 0 when not, -1 on error. */
static int link_get(struct nl *nl, const char *name, struct link_info *li, struct error *err)
{
	struct req r;
	req_init(&r, RTM_GETLINK, 0, sizeof(struct ifinfomsg));
	attr_str(&r, IFLA_IFNAME, name);
	memset(li, 0, sizeof(*li));
	int rc = nl_talk(nl, &r, link_info_cb, li, NULL, 0);
	if (rc == -ENODEV)
		return 0;
	if (rc < 0)
		return err_set(err, E_RUNTIME, "netlink: get link %s: %s", name, strerror(-rc));
	return li->index > 0;
}

/* Sets IFF_UP (and the master, when > 0) of the link named name. */
static int link_up(struct nl *nl, const char *name, int master, struct error *err)
{
	struct req r;
	struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, 0, sizeof(*ifi));
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	attr_str(&r, IFLA_IFNAME, name);
	if (master > 0)
		attr_u32(&r, IFLA_MASTER, (uint32_t)master);
	return nl_do(nl, &r, 0, err, "set up", name);
}

static int link_del(struct nl *nl, const char *name, struct error *err)
{
	struct req r;
	req_init(&r, RTM_DELLINK, 0, sizeof(struct ifinfomsg));
	attr_str(&r, IFLA_IFNAME, name);
	return nl_do(nl, &r, ENODEV, err, "delete link", name);
}

static void mac_of(uint32_t ip, unsigned char mac[6])
{
	/* Locally administered, derived from the address: a reused address
	 * keeps its MAC, so neighbours' ARP caches stay right. */
	mac[0] = 0x02;
	mac[1] = 0x68;
	for (int i = 0; i < 4; i++)
		mac[2 + i] = (unsigned char)(ip >> (24 - 8 * i));
}

static uint32_t ip_host(const char *s)
{
	struct in_addr in = {0};
	inet_pton(AF_INET, s, &in);
	return ntohl(in.s_addr);
}

void net_mac_of(const char *ipv4, unsigned char mac[6])
{
	mac_of(ip_host(ipv4), mac);
}

/* Adds ip (IPv4 or IPv6 text) to the link; IPv6 addresses skip duplicate
 * address detection (hoodyd derives them from the IPv4 lease: unique), so
 * they are usable at once. */
static int addr_set(struct nl *nl, int index, const char *ip, int prefix, const char *name,
		    struct error *err)
{
	struct req r;
	struct ifaddrmsg *ifa =
	    req_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*ifa));
	unsigned char a[16];
	bool v6 = strchr(ip, ':') != NULL;
	ifa->ifa_family = v6 ? AF_INET6 : AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_index = (unsigned)index;
	if (v6)
		ifa->ifa_flags = IFA_F_NODAD;
	if (inet_pton(ifa->ifa_family, ip, a) != 1)
		return err_set(err, E_INTERNAL, "bad address %s for %s", ip, name);
	attr_put(&r, IFA_LOCAL, a, v6 ? 16 : 4);
	attr_put(&r, IFA_ADDRESS, a, v6 ? 16 : 4);
	return nl_do(nl, &r, 0, err, "add address to", name);
}

/* ---- the bridge ---- */

static int bridge_create(struct nl *nl, const char *name, const char *gw, struct error *err)
{
	struct req r;
	/* Born down: up (bridge_ensure) once its sysctls are hardened. */
	req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct ifinfomsg));
	attr_str(&r, IFLA_IFNAME, name);
	/* A fixed MAC: a bridge otherwise takes its lowest port's, which
	 * changes as containers come and go. */
	unsigned char mac[6];
	mac_of(ip_host(gw), mac);
	mac[1] = 0x6a;
	attr_put(&r, IFLA_ADDRESS, mac, sizeof(mac));
	struct rtattr *li = nest_begin(&r, IFLA_LINKINFO);
	attr_str(&r, IFLA_INFO_KIND, "bridge");
	nest_end(&r, li);
	return nl_do(nl, &r, EEXIST, err, "create bridge", name);
}

/* Bridge up with the gateway address; returns its index. */
static int bridge_ensure(struct runtime *rt, struct nl *nl, struct error *err)
{
	char gw[20];
	int prefix;
	struct link_info li;
	if (ipam_gateway(rt, gw, &prefix, err) < 0)
		return -1;
	int found = link_get(nl, rt->bridge, &li, err);
	if (found < 0)
		return -1;
	if (!found) {
		if (ipam_check_free(rt, err) < 0 || ip6_check_free(rt, err) < 0 ||
		    bridge_create(nl, rt->bridge, gw, err) < 0)
			return -1;
		fw_harden_bridge(rt);
		found = link_get(nl, rt->bridge, &li, err);
		if (found <= 0)
			return found < 0
				   ? -1
				   : err_set(err, E_RUNTIME, "bridge %s vanished", rt->bridge);
	}
	if (addr_set(nl, li.index, gw, prefix, rt->bridge, err) < 0)
		return -1;
	char gw6[48];
	ip6_of(rt, gw, gw6);
	if (gw6[0] && addr_set(nl, li.index, gw6, rt->subnet6_prefix, rt->bridge, err) < 0)
		return -1;
	if (!(li.flags & IFF_UP) && link_up(nl, rt->bridge, 0, err) < 0)
		return -1;
	return li.index;
}

int net_bridge_ensure(struct runtime *rt, struct error *err)
{
	struct nl nl;
	if (nl_open(&nl, err) < 0)
		return -1;
	int rc = bridge_ensure(rt, &nl, err);
	nl_close(&nl);
	return rc < 0 ? -1 : 0;
}

int net_bridge_remove(struct runtime *rt, struct error *err)
{
	struct nl nl;
	if (nl_open(&nl, err) < 0)
		return -1;
	int rc = link_del(&nl, rt->bridge, err);
	nl_close(&nl);
	return rc;
}

/* ---- namespaces ---- */

char *net_netns_path(struct runtime *rt, const char *id)
{
	return xasprintf("%s/netns/%s", rt->run_dir, id);
}

static void host_veth_name(struct runtime *rt, const char *id, char out[16])
{
	/* The bridge is part of the hash: two runtimes (test daemons) may use
	 * the same container id, never the same bridge. */
	uint64_t h = rt_fnv1a(rt_fnv1a(0xcbf29ce484222325ULL, rt->bridge), id);
	snprintf(out, 16, "vh%012llx", (unsigned long long)(h & 0xffffffffffffULL));
}

/* True when path is a bind-mounted namespace (a live netns file). */
static bool is_ns_file(const char *path)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && sf.f_type == NSFS_MAGIC;
}

struct ns_job {
	const char *path;
	bool create;  /* make a new namespace and bind it at path when it is not one */
	bool ipv6;    /* set eth0's (and new interfaces') IPv6 sysctls inside */
	int protocol; /* of the netlink socket to open inside */
	int sock;     /* out: the netlink socket inside */
	int nsfd;     /* out: the namespace itself (for IFLA_NET_NS_FD) */
	const char *what;
};

/* Every group may open ICMP datagram sockets (unprivileged ping, as Docker
 * sets it: containers have no CAP_NET_RAW). Written here by the namespace's
 * owner: crun, inside a container's user namespace, may not write a sysctl of
 * a network namespace that the host's user namespace owns. net sysctls follow
 * the calling thread's namespace, which is the new one. */
static int allow_icmp_sockets(void)
{
	static const char range[] = "0 2147483647";
	_cleanup_close_ int fd = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, range, sizeof(range) - 1);
	return n == (ssize_t)sizeof(range) - 1 ? 0 : -1;
}

/* IPv6 inside a container's namespace takes no configuration from the
 * network (no router advertisements, no autoconfiguration) and makes no
 * address of its own (addr_gen_mode 1, none): hoodyd adds the global and
 * link-local ones (pair_ensure), so the firewall knows them all. No DAD
 * either: the addresses are unique by construction. "default" covers eth0
 * when it is born after this; eth0 itself when it exists (a repair). The
 * namespace's owner writes them, as with ping_group_range. */
static void harden_ipv6(void)
{
	static const char *const knobs[][2] = {
	    {"accept_ra", "0"},	       {"autoconf", "0"},      {"accept_dad", "0"},
	    {"accept_redirects", "0"}, {"addr_gen_mode", "1"},
	};
	for (size_t d = 0; d < 2; d++)
		for (size_t i = 0; i < ARRAY_SIZE(knobs); i++) {
			char path[96];
			snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/%s",
				 d ? PEER_NAME : "default", knobs[i][0]);
			write_file(path, knobs[i][1], NULL);
		}
}

/* Moves the calling thread into (or into a new) namespace and opens what
 * the job wants there; errno on failure. The caller moves it back. */
static int ns_work(struct ns_job *j)
{
	if (is_ns_file(j->path)) {
		j->what = "enter";
		_cleanup_close_ int fd = open(j->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			return -1;
	} else {
		j->what = "create";
		if (!j->create) {
			errno = ENOENT;
			return -1;
		}
		umount2(j->path, MNT_DETACH); /* a dead mount of an odd crash */
		_cleanup_close_ int fd = open(j->path, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
		if (fd < 0)
			return -1;
		closep(&fd); /* only the mount point was wanted */
		if (unshare(CLONE_NEWNET) < 0 ||
		    mount("/proc/thread-self/ns/net", j->path, "none", MS_BIND, NULL) < 0 ||
		    allow_icmp_sockets() < 0)
			return -1;
	}
	if (j->ipv6)
		harden_ipv6();
	j->what = "open";
	j->nsfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	j->sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, j->protocol);
	return j->nsfd < 0 || j->sock < 0 ? -1 : 0;
}

enum { NS_CREATE = 1, NS_IPV6 = 2 };

/* Opens a netlink socket of protocol inside the namespace at path (creating
 * the namespace with NS_CREATE, setting its IPv6 sysctls with NS_IPV6);
 * *nsfd gets the namespace when non-NULL. The calling thread visits the
 * namespace for a few syscalls (no thread is spawned: under load its
 * scheduling cost milliseconds) and always comes back: returning is setns to
 * an fd we hold, which cannot fail short of a kernel bug, and a thread left
 * inside a container's namespace would serve later requests from there, so
 * failing to return aborts. */
static int ns_open(const char *path, unsigned flags, int protocol, struct nl *nl, int *nsfd,
		   struct error *err)
{
	struct ns_job j = {.path = path,
			   .create = flags & NS_CREATE,
			   .ipv6 = flags & NS_IPV6,
			   .protocol = protocol,
			   .sock = -1,
			   .nsfd = -1};
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return err_sys(err, E_RUNTIME, "open own network namespace");
	int rc = ns_work(&j);
	int saved = errno;
	if (setns(self, CLONE_NEWNET) < 0)
		HOODY_PANIC(
		    "setns back to the host network: %m"); /* thread stuck in a container's */
	if (rc < 0) {
		closep(&j.sock);
		closep(&j.nsfd);
		errno = saved;
		return err_sys(err, saved == ENOENT ? E_NOT_FOUND : E_RUNTIME,
			       "network namespace %s (%s)", path, j.what);
	}
	nl_init(nl, j.sock);
	if (nsfd)
		*nsfd = steal_fd(&j.nsfd);
	closep(&j.nsfd);
	return 0;
}

/* ---- the container's pair ---- */

static int veth_create(struct nl *host, const struct net_lease *l, int bridge, int nsfd,
		       struct error *err)
{
	struct req r;
	struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	attr_str(&r, IFLA_IFNAME, l->host_veth);
	attr_u32(&r, IFLA_MASTER, (uint32_t)bridge);
	struct rtattr *info = nest_begin(&r, IFLA_LINKINFO);
	attr_str(&r, IFLA_INFO_KIND, "veth");
	struct rtattr *data = nest_begin(&r, IFLA_INFO_DATA);
	struct rtattr *peer = nest_begin(&r, VETH_INFO_PEER);
	/* The peer is born inside the namespace, already named. It cannot be
	 * born up: the kernel opens it before the pair is joined (ENOTCONN). */
	raw_put(&r, sizeof(struct ifinfomsg));
	attr_str(&r, IFLA_IFNAME, PEER_NAME);
	attr_u32(&r, IFLA_NET_NS_FD, (uint32_t)nsfd);
	unsigned char mac[6];
	mac_of(ip_host(l->ipv4), mac);
	attr_put(&r, IFLA_ADDRESS, mac, sizeof(mac));
	nest_end(&r, peer);
	nest_end(&r, data);
	nest_end(&r, info);
	return nl_do(host, &r, 0, err, "create veth", l->host_veth);
}

static int route_default(struct nl *ns, int index, const char *gw, struct error *err)
{
	struct req r;
	struct rtmsg *rtm = req_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*rtm));
	bool v6 = strchr(gw, ':') != NULL;
	unsigned char a[16];
	rtm->rtm_family = v6 ? AF_INET6 : AF_INET;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	if (inet_pton(rtm->rtm_family, gw, a) != 1)
		return err_set(err, E_INTERNAL, "bad gateway %s", gw);
	attr_put(&r, RTA_GATEWAY, a, v6 ? 16 : 4);
	attr_u32(&r, RTA_OIF, (uint32_t)index);
	return nl_do(ns, &r, 0, err, "add default route via", gw);
}

/* Makes the pair exist (recreating a half of one) and configures eth0. */
static int pair_ensure(struct nl *host, struct nl *ns, int nsfd, int bridge,
		       const struct net_lease *l, struct error *err)
{
	struct link_info hv, eth;
	int have_host = link_get(host, l->host_veth, &hv, err);
	int have_peer = have_host < 0 ? -1 : link_get(ns, PEER_NAME, &eth, err);
	if (have_peer < 0)
		return -1;
	if (have_host && have_peer) {
		if ((hv.master != bridge || !(hv.flags & IFF_UP)) &&
		    link_up(host, l->host_veth, bridge, err) < 0)
			return -1;
		if (!(eth.flags & IFF_UP) && link_up(ns, PEER_NAME, 0, err) < 0)
			return -1;
	} else {
		if ((have_host && link_del(host, l->host_veth, err) < 0) ||
		    (have_peer && link_del(ns, PEER_NAME, err) < 0))
			return -1;
		if (veth_create(host, l, bridge, nsfd, err) < 0 ||
		    link_up(ns, PEER_NAME, 0, err) < 0 || link_get(ns, PEER_NAME, &eth, err) < 0)
			return -1;
	}
	if (link_up(ns, "lo", 0, err) < 0 ||
	    addr_set(ns, eth.index, l->ipv4, l->prefix, PEER_NAME, err) < 0 ||
	    route_default(ns, eth.index, l->gateway, err) < 0)
		return -1;
	if (!l->ipv6[0])
		return 0;
	/* the link-local first: MLD reports then leave from it, not from :: */
	if (addr_set(ns, eth.index, l->link6, 64, PEER_NAME, err) < 0 ||
	    addr_set(ns, eth.index, l->ipv6, l->prefix6, PEER_NAME, err) < 0)
		return -1;
	return route_default(ns, eth.index, l->gateway6, err);
}

static int lease_fill(struct runtime *rt, const char *id, struct net_lease *l, struct error *err)
{
	memset(l, 0, sizeof(*l));
	if (ipam_acquire(rt, id, l->ipv4, err) < 0 ||
	    ipam_gateway(rt, l->gateway, &l->prefix, err) < 0)
		return -1;
	_cleanup_free_ char *path = net_netns_path(rt, id);
	if (strlen(path) >= sizeof(l->netns_path))
		return err_set(err, E_INTERNAL, "run dir path too long for %s", path);
	snprintf(l->netns_path, sizeof(l->netns_path), "%s", path);
	host_veth_name(rt, id, l->host_veth);
	ip6_of(rt, l->ipv4, l->ipv6);
	if (l->ipv6[0]) {
		unsigned char mac[6];
		mac_of(ip_host(l->ipv4), mac);
		ip6_of(rt, l->gateway, l->gateway6);
		ip6_link_local(mac, l->link6);
		l->prefix6 = rt->subnet6_prefix;
	}
	return 0;
}

int net_setup(struct runtime *rt, const char *id, const char *group, struct net_lease *lease,
	      struct error *err)
{
	if (rt_check_id(id, err) < 0 || lease_fill(rt, id, lease, err) < 0)
		return -1;
	_cleanup_free_ char *dir = xasprintf("%s/netns", rt->run_dir);
	if (mkdir_p(dir, 0711, err) < 0)
		return -1;
	struct nl host = {.fd = -1}, ns = {.fd = -1};
	_cleanup_close_ int nsfd = -1;
	int rc = -1;
	if (nl_open(&host, err) < 0)
		goto out;
	int bridge = bridge_ensure(rt, &host, err);
	if (bridge < 0 || ns_open(lease->netns_path, NS_CREATE | (rt->ipv6 ? NS_IPV6 : 0),
				  NETLINK_ROUTE, &ns, &nsfd, err) < 0)
		goto out;
	rc = pair_ensure(&host, &ns, nsfd, bridge, lease, err);
	if (rc == 0)
		rc = fw_attach(rt, id, lease, group, err);
out:
	nl_close(&ns);
	nl_close(&host);
	if (rc < 0)
		err_wrap(err, "network of %s", id);
	return rc;
}

/* Deleting a link waits for RCU grace periods (~25 ms), so it is done off
 * the caller's path, by index: a new pair under the same name (the id
 * re-created at once) is never the one deleted. */
static void *del_thread(void *arg)
{
	struct nl nl;
	struct error ignored;
	if (nl_open(&nl, &ignored) < 0)
		return NULL;
	struct req r;
	struct ifinfomsg *ifi = req_init(&r, RTM_DELLINK, 0, sizeof(*ifi));
	ifi->ifi_index = (int)(intptr_t)arg;
	nl_talk(&nl, &r, NULL, NULL, NULL, 0);
	nl_close(&nl);
	return NULL;
}

static void link_del_later(int index)
{
	pthread_attr_t at;
	pthread_t t;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, DEL_THREAD_STACK);
	if (pthread_create(&t, &at, del_thread, (void *)(intptr_t)index) != 0)
		del_thread((void *)(intptr_t)index);
	pthread_attr_destroy(&at);
}

int net_teardown(struct runtime *rt, const char *id, struct error *err)
{
	if (rt_check_id(id, err) < 0 || fw_detach(rt, id, err) < 0)
		return -1;
	char veth[16];
	struct link_info li;
	struct nl host;
	host_veth_name(rt, id, veth);
	if (nl_open(&host, err) < 0)
		return -1;
	int found = link_get(&host, veth, &li, err);
	nl_close(&host);
	if (found < 0)
		return -1;
	_cleanup_free_ char *path = net_netns_path(rt, id);
	for (int i = 0; i < 8 && is_ns_file(path); i++)
		if (umount2(path, MNT_DETACH) < 0)
			return err_sys(err, E_RUNTIME, "unmount %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return err_sys(err, E_IO, "remove %s", path);
	/* The namespace usually dies with its mount and the kernel removes the
	 * pair with it; the explicit delete covers one kept alive elsewhere.
	 * Deleting one end deletes the pair. */
	if (found)
		link_del_later(li.index);
	return ipam_release(rt, id, err);
}

/* ---- reading interfaces ---- */

struct iface_list {
	struct rt_netif *v;
	int *index;
	size_t n, max;
};

static void stats_of(struct rt_netif *nif, const struct rtnl_link_stats64 *s)
{
	nif->rx_bytes = s->rx_bytes;
	nif->tx_bytes = s->tx_bytes;
	nif->rx_packets = s->rx_packets;
	nif->tx_packets = s->tx_packets;
	nif->rx_errors = s->rx_errors;
	nif->tx_errors = s->tx_errors;
	nif->rx_dropped = s->rx_dropped;
	nif->tx_dropped = s->tx_dropped;
}

static void iface_cb(const struct nlmsghdr *h, void *arg)
{
	struct iface_list *l = arg;
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	if (h->nlmsg_type != RTM_NEWLINK || (ifi->ifi_flags & IFF_LOOPBACK) || l->n >= l->max)
		return;
	struct rt_netif *nif = &l->v[l->n];
	memset(nif, 0, sizeof(*nif));
	nif->up = ifi->ifi_flags & IFF_UP;
	int len = (int)IFLA_PAYLOAD(h);
	for (const struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		const unsigned char *d = RTA_DATA(a);
		size_t plen = RTA_PAYLOAD(a);
		if (a->rta_type == IFLA_IFNAME)
			snprintf(nif->name, sizeof(nif->name), "%.*s", (int)plen, (const char *)d);
		else if (a->rta_type == IFLA_ADDRESS && plen == 6)
			snprintf(nif->mac, sizeof(nif->mac), "%02x:%02x:%02x:%02x:%02x:%02x", d[0],
				 d[1], d[2], d[3], d[4], d[5]);
		else if (a->rta_type == IFLA_STATS64 && plen >= sizeof(struct rtnl_link_stats64)) {
			struct rtnl_link_stats64 s;
			memcpy(&s, d, sizeof(s));
			stats_of(nif, &s);
		}
	}
	l->index[l->n++] = ifi->ifi_index;
}

static void addr6_add(struct rt_netif *nif, const struct ifaddrmsg *ifa, const void *a)
{
	if (nif->ipv6_count >= RT_NETIF_IPV6_MAX)
		return;
	struct rt_netif_ip6 *x = &nif->ipv6[nif->ipv6_count++];
	inet_ntop(AF_INET6, a, x->addr, sizeof(x->addr));
	x->prefix = ifa->ifa_prefixlen;
	x->scope = ifa->ifa_scope == RT_SCOPE_LINK   ? "link"
		   : ifa->ifa_scope == RT_SCOPE_HOST ? "host"
						     : "global";
}

static void addr_cb(const struct nlmsghdr *h, void *arg)
{
	struct iface_list *l = arg;
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	if (h->nlmsg_type != RTM_NEWADDR ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return;
	struct rt_netif *nif = NULL;
	for (size_t i = 0; i < l->n && !nif; i++)
		if (l->index[i] == (int)ifa->ifa_index)
			nif = &l->v[i];
	if (!nif || (ifa->ifa_family == AF_INET && nif->ipv4[0]))
		return; /* first IPv4 address per interface */
	int len = (int)IFA_PAYLOAD(h);
	for (const struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFA_LOCAL && RTA_PAYLOAD(a) == 4) {
			inet_ntop(AF_INET, RTA_DATA(a), nif->ipv4, sizeof(nif->ipv4));
			nif->prefix = ifa->ifa_prefixlen;
		} else if (a->rta_type == IFA_ADDRESS && RTA_PAYLOAD(a) == 16) {
			addr6_add(nif, ifa, RTA_DATA(a)); /* IPv6 has no IFA_LOCAL */
		}
	}
}

static int dump(struct nl *nl, uint16_t type, size_t hdrlen, nl_cb cb, void *arg, struct error *err)
{
	struct req r;
	struct rtgenmsg *g = req_init(&r, type, NLM_F_DUMP, hdrlen);
	g->rtgen_family = AF_UNSPEC;
	int rc = nl_talk(nl, &r, cb, arg, NULL, 0);
	if (rc < 0)
		return err_set(err, E_RUNTIME, "netlink dump: %s", strerror(-rc));
	return 0;
}

int net_read_ifaces(struct runtime *rt, const char *id, struct rt_netif *out, size_t max,
		    size_t *count, struct error *err)
{
	*count = 0;
	if (rt_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *path = net_netns_path(rt, id);
	if (!is_ns_file(path))
		return 0; /* no network (yet, or any more): nothing to report */
	struct nl ns = {.fd = -1};
	if (ns_open(path, 0, NETLINK_ROUTE, &ns, NULL, err) < 0)
		return -1;
	_cleanup_free_ int *index = xcalloc(max ? max : 1, sizeof(int));
	struct iface_list l = {.v = out, .index = index, .max = max};
	int rc = dump(&ns, RTM_GETLINK, sizeof(struct ifinfomsg), iface_cb, &l, err);
	if (rc == 0)
		rc = dump(&ns, RTM_GETADDR, sizeof(struct ifaddrmsg), addr_cb, &l, err);
	nl_close(&ns);
	*count = l.n;
	return rc;
}

/* ---- sockets ---- */

struct sock_list {
	struct net_sock *v;
	size_t n, max;
	const char *proto;
	bool udp;
};

static void sock_cb(const struct nlmsghdr *h, void *arg)
{
	struct sock_list *l = arg;
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || l->n >= l->max ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return;
	int port = ntohs(m->id.idiag_sport);
	if (l->udp && port == 0)
		return; /* an unbound UDP socket listens to nothing */
	struct net_sock *s = &l->v[l->n];
	memset(s, 0, sizeof(*s));
	if (!inet_ntop(m->idiag_family, m->id.idiag_src, s->ip, sizeof(s->ip)))
		return;
	snprintf(s->proto, sizeof(s->proto), "%s", l->proto);
	s->port = port;
	s->inode = m->idiag_inode;
	l->n++;
}

int net_list_sockets(struct runtime *rt, const char *id, struct net_sock *out, size_t max,
		     size_t *count, struct error *err)
{
	/* sock_diag rather than /proc/<pid>/net/tcp: that file walks the
	 * host-wide established hash on every read (milliseconds on a big
	 * host), a LISTEN-only dump walks the listening hash only. */
	static const struct {
		const char *proto;
		int family, ipproto;
		unsigned states;
	} kinds[] = {
	    {"tcp", AF_INET, IPPROTO_TCP, 1u << TCP_LISTEN},
	    {"tcp6", AF_INET6, IPPROTO_TCP, 1u << TCP_LISTEN},
	    /* Unconnected (bound) UDP sockets are in the CLOSE state. */
	    {"udp", AF_INET, IPPROTO_UDP, 1u << TCP_CLOSE},
	    {"udp6", AF_INET6, IPPROTO_UDP, 1u << TCP_CLOSE},
	};
	*count = 0;
	if (rt_check_id(id, err) < 0)
		return -1;
	_cleanup_free_ char *path = net_netns_path(rt, id);
	if (!is_ns_file(path))
		return 0;
	struct nl nl = {.fd = -1};
	if (ns_open(path, 0, NETLINK_SOCK_DIAG, &nl, NULL, err) < 0)
		return -1;
	struct sock_list l = {.v = out, .max = max};
	int rc = 0;
	for (size_t i = 0; i < ARRAY_SIZE(kinds) && rc == 0; i++) {
		struct req r;
		struct inet_diag_req_v2 *q =
		    req_init(&r, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, sizeof(*q));
		q->sdiag_family = (unsigned char)kinds[i].family;
		q->sdiag_protocol = (unsigned char)kinds[i].ipproto;
		q->idiag_states = kinds[i].states;
		l.proto = kinds[i].proto;
		l.udp = kinds[i].ipproto == IPPROTO_UDP;
		rc = nl_talk(&nl, &r, sock_cb, &l, NULL, 0);
		if (rc < 0)
			rc = err_set(err, E_RUNTIME, "sock_diag %s: %s", kinds[i].proto,
				     strerror(-rc));
	}
	nl_close(&nl);
	*count = l.n;
	return rc;
}
