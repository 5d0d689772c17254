/* Network isolation with nftables: the tables through libnftables (one
 * context per runtime, used by one thread of its own; rt->fw_lock serialises
 * callers), a container's set elements through nfnetlink (nfnl.c), which
 * skips libnftables' read of every table of the host on each change.
 *
 * Each runtime owns two tables named after its bridge, "hoody_<bridge>" in
 * the bridge and inet families, so daemons with different bridges never
 * touch each other's rules. The rules are fixed; a container only adds
 * elements to sets, keyed by its host veth:
 *   ports        the veth              (these frames are this table's)
 *   port_mac     veth . its MAC        (anti-spoofing, Ethernet and ARP)
 *   port_ip4     veth . its IPv4       (anti-spoofing, ARP and IPv4)
 *   port_ip6     veth . its IPv6, global and link-local (with IPv6 on)
 *   port_nd      the same as raw ICMPv6 target bytes (neighbour discovery)
 *   port_ll      veth . its MAC as an ND link-layer option
 *   port_group   veth : group mark     (who it may talk to on the bridge)
 *   group_ports  group mark . veth
 * Bridge family: frames from a port must carry its MAC, ARP must claim its
 * own MAC and address, IPv4 must come from its address and not be a DHCP
 * server's; IPv6 (when on, else dropped) must come from its addresses, not
 * be a router's message or a DHCPv6 server's, and its neighbour discovery
 * may only advertise its own addresses and MAC; anything else (VLAN tags,
 * other ethertypes) is dropped. Port to port,
 * a frame passes only when both ports are in the same group; a container
 * without a group (a prespawn pool member) reaches no other.
 * Inet family (both IP versions): from the bridge to the host itself, only
 * replies, neighbour discovery and DNS to the configured resolvers; routed
 * out, the private, link-local, loopback and multicast ranges are refused
 * unless allowed (--net-allow), everything else is masqueraded (unless
 * --no-nat); new connections from outside into
 * the bridge are dropped. The host's own connections to containers (the
 * hostname proxy) are output traffic and not filtered: their replies are
 * "established".
 *
 * State: the kernel's tables outlive hoodyd; <run>/fw/<id> records what a
 * container added ("veth mac ip mark [ip6 link6]"), so it can be removed exactly, and the
 * first use in a process rebuilds both tables and every recorded container's
 * elements in one transaction (a restart heals rules lost or changed
 * meanwhile). Group marks come from <state>/netgroups/<mark> -> group key
 * symlinks, never removed: the probe sequence of a key is then stable. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

#define FW_RECORD_MAX 256
#define GROUP_PROBES 4096

/* Never reachable from a container unless allowed; the host's own
 * addresses are refused on input whatever they are. */
static const char deny_ranges[] = "0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, "
				  "169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16, 224.0.0.0/3";

/* The IPv6 counterparts: unspecified, loopback, IPv4-mapped, the local
 * NAT64 prefix, discard-only, unique local, link-local, site-local and
 * multicast. 2001:db8::/32 (documentation) is left out on purpose: the
 * tests use it as "the internet". */
static const char deny6_ranges[] = "::/128, ::1/128, ::ffff:0:0/96, 64:ff9b:1::/48, 100::/64, "
				   "fc00::/7, fe80::/10, fec0::/10, ff00::/8";

/* ---- a growing text buffer for nft commands ---- */

struct text {
	char *s;
	size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (t->s && (size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = (t->cap + (size_t)n + 1) * 2;
		t->s = xrealloc(t->s, t->cap);
	}
}

/* ---- configuration ---- */

static bool name_ok(const char *s)
{
	return *s &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") ==
		   strlen(s);
}

/* "a.b.c.d[/n]" or an IPv6 "x::y[/n]" -> canonical network text appended to
 * t4 or t6. */
static bool cidr_put(struct text *t4, struct text *t6, const char *s)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen >= sizeof(addr))
		return false;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	long bits = family == AF_INET6 ? 128 : 32, prefix = bits;
	if (slash) {
		char *end;
		prefix = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1 || prefix < 0 || prefix > bits)
			return false;
	}
	unsigned char a[16];
	if (inet_pton(family, addr, a) != 1)
		return false;
	for (long bit = prefix; bit < bits; bit++)
		a[bit / 8] &= (unsigned char)~(0x80 >> (bit % 8));
	inet_ntop(family, a, addr, sizeof(addr));
	struct text *t = family == AF_INET6 ? t6 : t4;
	put(t, "%s%s/%ld", t->len ? ", " : "", addr, prefix);
	return true;
}

int fw_init(struct runtime *rt, const struct rt_config *cfg, struct error *err)
{
	rt->firewall = !cfg->no_firewall;
	rt->nat = !cfg->no_nat;
	rt->protected_port = cfg->protected_port;
	pthread_mutex_init(&rt->fw_lock, NULL);
	pthread_mutex_init(&rt->fw_job_lock, NULL);
	pthread_cond_init(&rt->fw_job_cv, NULL);
	if (!name_ok(rt->bridge) || strlen(rt->bridge) > 15)
		return err_set(err, E_VALIDATION,
			       "bridge name \"%.32s\" must be 1 to 15 of [A-Za-z0-9_.-]",
			       rt->bridge);
	if (ip6_init(rt, cfg, err) < 0)
		return -1;
	struct text allow = {0}, allow6 = {0};
	if (cfg->net_allow && *cfg->net_allow) {
		_cleanup_free_ char *copy = xstrdup(cfg->net_allow);
		char *save = NULL;
		for (char *s = strtok_r(copy, ", ", &save); s; s = strtok_r(NULL, ", ", &save)) {
			if (!cidr_put(&allow, &allow6, s)) {
				free(allow.s);
				free(allow6.s);
				return err_set(err, E_VALIDATION,
					       "net_allow: \"%.64s\" is not an IPv4 or IPv6 "
					       "address or CIDR",
					       s);
			}
		}
	}
	rt->net_allow = allow.s;
	rt->net_allow6 = allow6.s;
	return dns_init(rt, cfg->dns, err);
}

void fw_free(struct runtime *rt)
{
	if (rt->fw_thread_started) {
		pthread_mutex_lock(&rt->fw_job_lock);
		rt->fw_stop = true;
		pthread_cond_broadcast(&rt->fw_job_cv);
		pthread_mutex_unlock(&rt->fw_job_lock);
		pthread_join(rt->fw_thread, NULL);
	}
	free(rt->net_allow);
	free(rt->net_allow6);
	pthread_mutex_destroy(&rt->fw_lock);
	pthread_mutex_destroy(&rt->fw_job_lock);
	pthread_cond_destroy(&rt->fw_job_cv);
}

/* ---- running commands ---- */

/* libnftables runs on one thread of its own: its allocations (it reads
 * the tables' state on every transaction) then stay in one malloc arena;
 * spread over the workers' arenas they fragment them (hoodyd's RSS grew
 * by megabytes per thousand containers). */
static void *nft_thread(void *arg)
{
	struct runtime *rt = arg;
	pthread_mutex_lock(&rt->fw_job_lock);
	for (;;) {
		while (!rt->fw_job_text && !rt->fw_stop)
			pthread_cond_wait(&rt->fw_job_cv, &rt->fw_job_lock);
		if (rt->fw_stop)
			break;
		if (!rt->nft) {
			rt->nft = nft_ctx_new(NFT_CTX_DEFAULT);
			if (rt->nft) {
				nft_ctx_buffer_output(rt->nft);
				nft_ctx_buffer_error(rt->nft);
			}
		}
		rt->fw_job_rc = rt->nft ? nft_run_cmd_from_buffer(rt->nft, rt->fw_job_text) : -1;
		const char *why = rt->nft ? nft_ctx_get_error_buffer(rt->nft) : "no context";
		snprintf(rt->fw_job_why, sizeof(rt->fw_job_why), "%s",
			 why && *why ? why : "failed");
		rt->fw_job_text = NULL;
		pthread_cond_broadcast(&rt->fw_job_cv);
	}
	if (rt->nft)
		nft_ctx_free(rt->nft);
	rt->nft = NULL;
	pthread_mutex_unlock(&rt->fw_job_lock);
	return NULL;
}

/* Runs text as one nft transaction (on the nft thread); caller holds
 * fw_lock. */
static int nft_run(struct runtime *rt, const char *text, struct error *err)
{
	pthread_mutex_lock(&rt->fw_job_lock);
	if (!rt->fw_thread_started) {
		if (pthread_create(&rt->fw_thread, NULL, nft_thread, rt) != 0) {
			pthread_mutex_unlock(&rt->fw_job_lock);
			return err_set(err, E_RUNTIME, "nftables: no thread");
		}
		rt->fw_thread_started = true;
	}
	rt->fw_job_text = text;
	pthread_cond_broadcast(&rt->fw_job_cv);
	while (rt->fw_job_text)
		pthread_cond_wait(&rt->fw_job_cv, &rt->fw_job_lock);
	int rc = rt->fw_job_rc;
	if (rc != 0)
		err_set(err, E_RUNTIME, "nftables: %.400s", rt->fw_job_why);
	pthread_mutex_unlock(&rt->fw_job_lock);
	return rc == 0 ? 0 : -1;
}

static void table_name(struct runtime *rt, char out[32])
{
	snprintf(out, 32, "hoody_%s", rt->bridge);
}

/* ---- per-container elements ---- */

struct fw_port {
	char veth[16];
	char mac[24];
	char ip[20];
	uint32_t mark; /* 0: no group */
	/* IPv6 global and link-local; empty when off (and in records of
	 * versions before IPv6, which are read as such) */
	char ip6[48], link6[48];
};

static bool ip6_ok(const char *s)
{
	unsigned char a[16];
	return inet_pton(AF_INET6, s, a) == 1;
}

static char *record_path(struct runtime *rt, const char *id)
{
	return xasprintf("%s/fw/%s", rt->run_dir, id);
}

static bool record_read(struct runtime *rt, const char *id, struct fw_port *p)
{
	_cleanup_free_ char *path = record_path(rt, id);
	_cleanup_free_ char *text = NULL;
	memset(p, 0, sizeof(*p));
	if (read_file(path, FW_RECORD_MAX, &text, NULL, NULL) < 0)
		return false;
	int n = sscanf(text, "%15s %23s %19s %u %47s %47s", p->veth, p->mac, p->ip, &p->mark,
		       p->ip6, p->link6);
	if (n == 4)
		p->ip6[0] = p->link6[0] = '\0';
	return (n == 4 || (n == 6 && ip6_ok(p->ip6) && ip6_ok(p->link6))) && name_ok(p->veth) &&
	       strspn(p->mac, "0123456789abcdef:") == strlen(p->mac) &&
	       strspn(p->ip, "0123456789.") == strlen(p->ip);
}

static int record_write(struct runtime *rt, const char *id, const struct fw_port *p,
			struct error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/fw", rt->run_dir);
	_cleanup_free_ char *path = record_path(rt, id);
	char line[FW_RECORD_MAX];
	int n =
	    snprintf(line, sizeof(line), "%s %s %s %u%s%s%s%s\n", p->veth, p->mac, p->ip, p->mark,
		     p->ip6[0] ? " " : "", p->ip6, p->ip6[0] ? " " : "", p->ip6[0] ? p->link6 : "");
	if (mkdir_p(dir, 0700, err) < 0)
		return -1;
	return write_file_atomic(path, line, (size_t)n, 0600, err);
}

/* An IPv6 address as the 32 hex digits of a raw 128-bit key (port_nd). */
static void hex_of(const char *ip6, char out[40])
{
	unsigned char a[16] = {0};
	inet_pton(AF_INET6, ip6, a);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", a[i]);
}

/* p's elements in nft's language, for the rebuild of the tables (fw_ready);
 * a single container's go through nfnetlink (port_batch). */
static void port_elements(struct runtime *rt, struct text *t, const struct fw_port *p)
{
	char tbl[32];
	table_name(rt, tbl);
	put(t, "add element bridge %s ports { \"%s\" }\n", tbl, p->veth);
	put(t, "add element bridge %s port_mac { \"%s\" . %s }\n", tbl, p->veth, p->mac);
	put(t, "add element bridge %s port_ip4 { \"%s\" . %s }\n", tbl, p->veth, p->ip);
	if (p->ip6[0]) {
		char hex[2][40], mac[16] = "0x";
		size_t m = 2;
		hex_of(p->ip6, hex[0]);
		hex_of(p->link6, hex[1]);
		for (const char *c = p->mac; *c && m < sizeof(mac) - 1; c++)
			if (*c != ':')
				mac[m++] = *c;
		mac[m] = '\0';
		put(t, "add element bridge %s port_ip6 { \"%s\" . %s, \"%s\" . %s }\n", tbl,
		    p->veth, p->ip6, p->veth, p->link6);
		put(t, "add element bridge %s port_nd { \"%s\" . 0x%s, \"%s\" . 0x%s }\n", tbl,
		    p->veth, hex[0], p->veth, hex[1]);
		put(t, "add element bridge %s port_ll { \"%s\" . %s }\n", tbl, p->veth, mac);
	}
	if (p->mark) {
		put(t, "add element bridge %s port_group { \"%s\" : 0x%x }\n", tbl, p->veth,
		    p->mark);
		put(t, "add element bridge %s group_ports { 0x%x . \"%s\" }\n", tbl, p->mark,
		    p->veth);
	}
}

/* ---- groups ---- */

/* The mark of group key: the first slot of its probe sequence that is
 * free (taken now) or already names key. */
static int group_mark(struct runtime *rt, const char *key, uint32_t *out, struct error *err)
{
	*out = 0;
	if (!key)
		return 0;
	if (!rt_id_valid(key))
		return err_set(err, E_VALIDATION,
			       "network group \"%.64s\" is not [0-9a-zA-Z_-]{1,64}", key);
	_cleanup_free_ char *dir = xasprintf("%s/netgroups", rt->state_dir);
	if (mkdir_p(dir, 0700, err) < 0)
		return -1;
	uint64_t h = rt_fnv1a(0xcbf29ce484222325ULL, key);
	uint32_t start = (uint32_t)(h ^ (h >> 32));
	for (uint32_t i = 0; i < GROUP_PROBES; i++) {
		uint32_t mark = start + i;
		if (mark == 0)
			continue;
		char path[512], owner[RT_ID_MAX + 2];
		snprintf(path, sizeof(path), "%s/%08x", dir, mark);
		if (symlink(key, path) == 0) {
			*out = mark;
			return 0;
		}
		if (errno != EEXIST)
			return err_sys(err, E_IO, "create %s", path);
		ssize_t n = readlink(path, owner, sizeof(owner) - 1);
		if (n > 0 && (owner[n] = '\0', !strcmp(owner, key))) {
			*out = mark;
			return 0;
		}
	}
	return err_set(err, E_INTERNAL, "no network group mark free for %s", key);
}

/* ---- the tables ---- */

static void tables_delete(struct runtime *rt, struct text *t)
{
	char tbl[32];
	table_name(rt, tbl);
	/* add-then-delete: deleting a missing table would fail the batch */
	put(t, "add table bridge %s\ndelete table bridge %s\n", tbl, tbl);
	put(t, "add table inet %s\ndelete table inet %s\n", tbl, tbl);
}

/* A frame to the bridge's own MAC (pkttype host) goes up to the host to be
 * routed; one for another container of the subnet would be routed straight
 * back into the bridge, past by_group, which sees only bridged frames.
 * Containers reach each other on the link, never through the gateway. */
static void hairpin_rules(struct runtime *rt, char v4[160], char v6[224])
{
	char gw[20], gw6[48];
	int prefix;
	struct error ignored;
	v4[0] = v6[0] = '\0';
	if (ipam_gateway(rt, gw, &prefix, &ignored) < 0)
		return;
	snprintf(v4, 160, "  meta pkttype host ip daddr %s ip daddr != %s drop\n", rt->subnet, gw);
	ip6_of(rt, gw, gw6);
	if (gw6[0])
		snprintf(v6, 224, "  meta pkttype host ip6 daddr %s ip6 daddr != %s drop\n",
			 rt->subnet6, gw6);
}

static void bridge_table(struct runtime *rt, struct text *t)
{
	char tbl[32], hairpin4[160], hairpin6[224];
	table_name(rt, tbl);
	hairpin_rules(rt, hairpin4, hairpin6);
	put(t,
	    "table bridge %s {\n"
	    " set ports { type ifname; }\n"
	    " set port_mac { type ifname . ether_addr; }\n"
	    " set port_ip4 { type ifname . ipv4_addr; }\n"
	    /* IPv6: the sets exist whatever the mode, so that records of
	     * either mode always apply */
	    " set port_ip6 { type ifname . ipv6_addr; }\n"
	    /* the same addresses as raw ICMPv6 bytes 8-23: a neighbour
	     * message's target (nft 1.0.6 has no icmpv6 taddr) */
	    " set port_nd { typeof iifname . @th,64,128; }\n"
	    /* the port's MAC as an ND message's one link-layer option */
	    " set port_ll { typeof iifname . @th,208,48; }\n"
	    " map port_group { type ifname : mark; }\n"
	    " set group_ports { type mark . ifname; }\n"
	    " chain ports_in {\n"
	    "  type filter hook prerouting priority -300; policy accept;\n"
	    "  iifname @ports jump from_port\n"
	    " }\n"
	    " chain from_port {\n"
	    "  iifname . ether saddr != @port_mac drop\n"
	    "  ether type arp jump arp_in\n"
	    "  ether type ip jump ip_in\n"
	    "%s"
	    "  drop\n"
	    " }\n"
	    " chain arp_in {\n"
	    "  arp htype != 1 drop\n"
	    "  arp ptype != ip drop\n"
	    "  arp hlen != 6 drop\n"
	    "  arp plen != 4 drop\n"
	    "  iifname . arp saddr ether != @port_mac drop\n"
	    "  iifname . arp saddr ip != @port_ip4 drop\n"
	    "  accept\n"
	    " }\n"
	    " chain ip_in {\n"
	    "  iifname . ip saddr != @port_ip4 drop\n"
	    "%s"
	    /* a client checks the transaction id, not the server's port */
	    "  udp sport 67 drop\n"
	    "  udp dport 68 drop\n"
	    "  accept\n"
	    " }\n"
	    /* IPv6 from the port's own addresses only; :: only for duplicate
	     * address detection */
	    " chain ip6_in {\n"
	    "  ip6 saddr :: jump dad\n"
	    "  iifname . ip6 saddr != @port_ip6 drop\n"
	    "%s"
	    "  meta l4proto ipv6-icmp jump icmp6_in\n"
	    /* a DHCPv6 server's or relay's messages: from port 547, and to
	     * a client's port 546 from any other (clients check the
	     * transaction id, not the source port) */
	    "  udp sport 547 drop\n"
	    "  udp dport 546 drop\n"
	    "  accept\n"
	    " }\n"
	    /* a router's messages (advertisements, redirects, renumbering)
	     * and multicast listener queries never come from a container */
	    " chain icmp6_in {\n"
	    "  icmpv6 type { nd-router-advert, nd-redirect, router-renumbering, "
	    "mld-listener-query } drop\n"
	    "  icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } jump nd_in\n"
	    "  accept\n"
	    " }\n"
	    /* Neighbour messages as this kernel sends them: no extension
	     * header, at most one option. An advertisement's target is one of
	     * the port's addresses (a solicitation's is whom it asks about); a
	     * link-layer option carries the port's MAC. */
	    " chain nd_in {\n"
	    "  ip6 nexthdr != ipv6-icmp drop\n"
	    "  icmpv6 type nd-neighbor-advert iifname . @th,64,128 != @port_nd drop\n"
	    "  ip6 length 24 accept\n"
	    "  ip6 length != 32 drop\n"
	    "  @th,192,8 { 1, 2 } iifname . @th,208,48 != @port_ll drop\n"
	    "  accept\n"
	    " }\n"
	    /* duplicate address detection: a solicitation for one of the
	     * port's own addresses, without or with a nonce option */
	    " chain dad {\n"
	    "  ip6 nexthdr != ipv6-icmp drop\n"
	    "  icmpv6 type != nd-neighbor-solicit drop\n"
	    "  iifname . @th,64,128 != @port_nd drop\n"
	    "  ip6 length 24 accept\n"
	    "  ip6 length 32 @th,192,8 14 accept\n"
	    "  drop\n"
	    " }\n"
	    " chain ports_fwd {\n"
	    "  type filter hook forward priority -300; policy accept;\n"
	    "  iifname @ports jump by_group\n"
	    " }\n"
	    " chain by_group {\n"
	    "  meta mark set 0\n"
	    "  meta mark set iifname map @port_group\n"
	    "  meta mark . oifname @group_ports accept\n"
	    "  drop\n"
	    " }\n"
	    "}\n",
	    tbl, rt->ipv6 ? "  ether type ip6 jump ip6_in\n" : "", hairpin4, hairpin6);
}

static void set_with(struct text *t, const char *name, const char *type, const char *elems)
{
	put(t, " set %s { type %s; flags interval; auto-merge;%s%s%s }\n", name, type,
	    elems && *elems ? " elements = { " : "", elems && *elems ? elems : "",
	    elems && *elems ? " };" : "");
}

static void inet_table(struct runtime *rt, struct text *t)
{
	char tbl[32];
	table_name(rt, tbl);
	struct text dns = {0}, dns6 = {0};
	for (size_t i = 0; i < rt->dns_count; i++) {
		struct text *d = strchr(rt->dns[i], ':') ? &dns6 : &dns;
		put(d, "%s%s", d->len ? ", " : "", rt->dns[i]);
	}
	put(t, "table inet %s {\n", tbl);
	set_with(t, "dns", "ipv4_addr", dns.s);
	set_with(t, "allow", "ipv4_addr", rt->net_allow);
	set_with(t, "deny", "ipv4_addr", deny_ranges);
	set_with(t, "dns6", "ipv6_addr", dns6.s);
	set_with(t, "allow6", "ipv6_addr", rt->net_allow6);
	set_with(t, "deny6", "ipv6_addr", deny6_ranges);
	put(t,
	    " chain host_in {\n"
	    "  type filter hook input priority filter - 10; policy accept;\n"
	    "  iifname \"%s\" jump from_containers\n"
	    " }\n"
	    " chain from_containers {\n"
	    "  ct state established,related accept\n",
	    rt->bridge);
	if (rt->protected_port > 0)
		put(t, "  tcp dport %d reject with tcp reset\n", rt->protected_port);
	/* ping of the gateway stays a diagnostic; no service answers there */
	char gw[20], gw6[48];
	int prefix;
	struct error ignored;
	if (ipam_gateway(rt, gw, &prefix, &ignored) == 0) {
		put(t, "  ip daddr %s icmp type echo-request accept\n", gw);
		ip6_of(rt, gw, gw6);
		if (gw6[0])
			put(t, "  ip6 daddr %s icmpv6 type echo-request accept\n", gw6);
	}
	/* neighbour discovery with the gateway (checked on the bridge); other
	 * multicast (listener reports, solicitations for routers) is not
	 * answered */
	if (rt->ipv6)
		put(t, "  icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n"
		       "  ip6 daddr ff00::/8 drop\n");
	put(t,
	    "  ip daddr @dns meta l4proto { tcp, udp } th dport 53 accept\n"
	    "  ip6 daddr @dns6 meta l4proto { tcp, udp } th dport 53 accept\n"
	    "  ip daddr @allow accept\n"
	    "  ip6 daddr @allow6 accept\n"
	    "  reject with icmpx admin-prohibited\n"
	    " }\n"
	    " chain routed {\n"
	    "  type filter hook forward priority filter - 10; policy accept;\n"
	    /* bridged frames seen here through br_netfilter: the bridge table
	     * decides those */
	    "  iifname \"%s\" oifname \"%s\" accept\n"
	    "  iifname \"%s\" jump to_world\n"
	    "  oifname \"%s\" ct state established,related accept\n"
	    "  oifname \"%s\" drop\n"
	    " }\n"
	    " chain to_world {\n"
	    "  ct state established,related accept\n"
	    "  ip daddr @dns meta l4proto { tcp, udp } th dport 53 accept\n"
	    "  ip6 daddr @dns6 meta l4proto { tcp, udp } th dport 53 accept\n"
	    "  ip daddr @allow accept\n"
	    "  ip6 daddr @allow6 accept\n"
	    "  ip daddr @deny reject with icmpx admin-prohibited\n"
	    "  ip6 daddr @deny6 reject with icmpx admin-prohibited\n"
	    "  meta nfproto ipv4 accept\n"
	    "%s"
	    "  drop\n"
	    " }\n",
	    rt->bridge, rt->bridge, rt->bridge, rt->bridge, rt->bridge,
	    rt->ipv6 ? "  meta nfproto ipv6 accept\n" : "");
	if (rt->nat) {
		/* Routed out only: with br_netfilter, frames bridged between
		 * containers pass this hook too (out = the bridge), and their
		 * multicast and broadcast (ff02::1, mDNS) are outside the
		 * subnet without leaving the link. */
		put(t,
		    " chain nat_out {\n"
		    "  type nat hook postrouting priority srcnat; policy accept;\n"
		    "  oifname \"%s\" accept\n"
		    "  ip saddr %s ip daddr != %s masquerade\n",
		    rt->bridge, rt->subnet, rt->subnet);
		if (rt->ipv6)
			put(t, "  ip6 saddr %s ip6 daddr != %s masquerade\n", rt->subnet6,
			    rt->subnet6);
		put(t, " }\n");
	}
	put(t, "}\n");
	free(dns.s);
	free(dns6.s);
}

/* The bridge's own IP configuration never comes from a container: no
 * router advertisements, autoconfiguration or redirects. Also called when
 * the bridge is made (netns.c): made after this, it would inherit the
 * host's defaults. */
void fw_harden_bridge(struct runtime *rt)
{
	static const char *const knobs[][2] = {
	    {"ipv6/conf/%s/accept_ra", "0"},	    {"ipv6/conf/%s/autoconf", "0"},
	    {"ipv6/conf/%s/accept_redirects", "0"}, {"ipv4/conf/%s/accept_redirects", "0"},
	    {"ipv4/conf/%s/secure_redirects", "0"}, {"ipv4/conf/%s/send_redirects", "0"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(knobs); i++) {
		char rel[128], path[160];
		snprintf(rel, sizeof(rel), knobs[i][0], rt->bridge);
		snprintf(path, sizeof(path), "/proc/sys/net/%s", rel);
		if (write_file(path, knobs[i][1], NULL) < 0 && errno != ENOENT)
			log_warn("cannot set %s: %s", path, strerror(errno));
	}
}

static void host_prepare(struct runtime *rt)
{
	fw_harden_bridge(rt);
	/* Outbound access needs forwarding, host-wide as with Docker. */
	if (write_file("/proc/sys/net/ipv4/ip_forward", "1", NULL) < 0)
		log_warn("cannot enable IPv4 forwarding: %s", strerror(errno));
	ip6_host_prepare(rt);
}

/* Elements of every recorded container whose namespace still exists;
 * records of the others are dropped. */
static void recorded_ports(struct runtime *rt, struct text *t)
{
	_cleanup_free_ char *dir = xasprintf("%s/fw", rt->run_dir);
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct fw_port p;
		if (!rt_id_valid(de->d_name))
			continue;
		_cleanup_free_ char *ns = net_netns_path(rt, de->d_name);
		if (path_exists(ns) && record_read(rt, de->d_name, &p)) {
			port_elements(rt, t, &p);
		} else {
			_cleanup_free_ char *rec = record_path(rt, de->d_name);
			unlink(rec);
		}
	}
	closedir(d);
}

/* Once per process: both tables rebuilt with every recorded container, in
 * one transaction (no moment without rules). Caller holds fw_lock. */
static int fw_ready(struct runtime *rt, struct error *err)
{
	if (rt->fw_ready)
		return 0;
	host_prepare(rt);
	struct text t = {0};
	tables_delete(rt, &t);
	bridge_table(rt, &t);
	inet_table(rt, &t);
	recorded_ports(rt, &t);
	int rc = nft_run(rt, t.s, err);
	free(t.s);
	if (rc == 0)
		rt->fw_ready = true;
	return rc;
}

int fw_sync(struct runtime *rt, struct error *err)
{
	/* Switched off: what an earlier run left must not stay half in force. */
	if (!rt->firewall)
		return fw_remove_all(rt, err);
	pthread_mutex_lock(&rt->fw_lock);
	int rc = fw_ready(rt, err);
	pthread_mutex_unlock(&rt->fw_lock);
	return rc;
}

/* ---- per-container elements, through nfnetlink (nfnl.c) ---- */

#define PORT_ELEMS 10

static void key_put(struct nfnl_elem *e, const void *v, size_t len, size_t padded)
{
	memcpy(e->key + e->key_len, v, len);
	e->key_len += padded;
}

/* The IPv6 elements of a port: port_ip6 and port_nd hold the same bytes
 * (ifname . address) under two types. */
static size_t port_elems6(const struct fw_port *p, const char *ifname, const unsigned char mac[6],
			  struct nfnl_elem *out)
{
	unsigned char a[2][16];
	if (!p->ip6[0] || inet_pton(AF_INET6, p->ip6, a[0]) != 1 ||
	    inet_pton(AF_INET6, p->link6, a[1]) != 1)
		return 0;
	size_t n = 0;
	for (int i = 0; i < 2; i++) {
		out[n].set = "port_ip6";
		key_put(&out[n], ifname, 16, 16);
		key_put(&out[n++], a[i], 16, 16);
		out[n].set = "port_nd";
		key_put(&out[n], ifname, 16, 16);
		key_put(&out[n++], a[i], 16, 16);
	}
	out[n].set = "port_ll";
	key_put(&out[n], ifname, 16, 16);
	key_put(&out[n++], mac, 6, 8);
	return n;
}

/* p's elements, as port_elements writes them in nft's language. */
static size_t port_elems(const struct fw_port *p, bool del, struct nfnl_elem *out)
{
	char ifname[16] = {0};
	unsigned char mac[6];
	struct in_addr ip;
	memcpy(ifname, p->veth, strnlen(p->veth, sizeof(ifname) - 1));
	if (sscanf(p->mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
		   &mac[4], &mac[5]) != 6 ||
	    inet_pton(AF_INET, p->ip, &ip) != 1)
		return 0;
	size_t n = 0;
	memset(out, 0, PORT_ELEMS * sizeof(*out));
	out[n].set = "ports";
	key_put(&out[n++], ifname, 16, 16);
	out[n].set = "port_mac";
	key_put(&out[n], ifname, 16, 16);
	key_put(&out[n++], mac, 6, 8);
	out[n].set = "port_ip4";
	key_put(&out[n], ifname, 16, 16);
	key_put(&out[n++], &ip, 4, 4);
	if (p->mark) {
		out[n].set = "port_group";
		key_put(&out[n], ifname, 16, 16);
		out[n].has_data = true;
		out[n++].data = p->mark;
		out[n].set = "group_ports";
		key_put(&out[n], &p->mark, 4, 4);
		key_put(&out[n++], ifname, 16, 16);
	}
	n += port_elems6(p, ifname, mac, out + n);
	for (size_t i = 0; i < n; i++)
		out[i].del = del;
	return n;
}

/* Replaces what id had (per its record) by p, in one batch. A removal adds
 * each element first so that a missing one does not fail the batch. */
static int port_batch(struct runtime *rt, const struct fw_port *old, const struct fw_port *p,
		      struct error *err)
{
	struct nfnl_elem e[3 * PORT_ELEMS];
	size_t n = 0;
	if (old) {
		n += port_elems(old, false, e + n);
		n += port_elems(old, true, e + n);
	}
	if (p)
		n += port_elems(p, false, e + n);
	char tbl[32];
	table_name(rt, tbl);
	return n ? nfnl_set_elems(tbl, e, n, err) : 0;
}

/* Replaces what id had (per its record) by p: one transaction. */
static int port_apply(struct runtime *rt, const char *id, const struct fw_port *p,
		      struct error *err)
{
	struct fw_port old;
	pthread_mutex_lock(&rt->fw_lock);
	int rc = fw_ready(rt, err);
	/* Unchanged (a restart): adding again is enough and half the work. */
	bool had = rc == 0 && record_read(rt, id, &old) && !(p && !memcmp(&old, p, sizeof(old)));
	/* The record first: a crash after it leaves elements a later apply or
	 * detach removes by it; never elements without a record. */
	if (rc == 0 && p)
		rc = record_write(rt, id, p, err);
	if (rc == 0 && port_batch(rt, had ? &old : NULL, p, err) < 0) {
		/* Tables gone or changed under us (a flush, another runtime of
		 * this bridge): rebuild them from the records, then retry. */
		rt->fw_ready = false;
		rc = fw_ready(rt, err) < 0 ? -1 : port_batch(rt, had ? &old : NULL, p, err);
	}
	if (rc == 0 && !p) {
		_cleanup_free_ char *rec = record_path(rt, id);
		if (unlink(rec) < 0 && errno != ENOENT)
			rc = err_sys(err, E_IO, "remove %s", rec);
	}
	pthread_mutex_unlock(&rt->fw_lock);
	return rc;
}

static void mac_text(const char *ip, char out[24])
{
	unsigned char mac[6];
	net_mac_of(ip, mac);
	snprintf(out, 24, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

int fw_attach(struct runtime *rt, const char *id, const struct net_lease *lease, const char *group,
	      struct error *err)
{
	if (!rt->firewall)
		return 0;
	struct fw_port p = {0};
	snprintf(p.veth, sizeof(p.veth), "%s", lease->host_veth);
	snprintf(p.ip, sizeof(p.ip), "%s", lease->ipv4);
	mac_text(lease->ipv4, p.mac);
	snprintf(p.ip6, sizeof(p.ip6), "%s", lease->ipv6);
	snprintf(p.link6, sizeof(p.link6), "%s", lease->ipv6[0] ? lease->link6 : "");
	if (group_mark(rt, group, &p.mark, err) < 0)
		return -1;
	return port_apply(rt, id, &p, err);
}

int fw_detach(struct runtime *rt, const char *id, struct error *err)
{
	_cleanup_free_ char *rec = record_path(rt, id);
	if (!path_exists(rec))
		return 0; /* nothing was added */
	if (!rt->firewall)
		return unlink(rec) < 0 && errno != ENOENT ? err_sys(err, E_IO, "remove %s", rec)
							  : 0;
	return port_apply(rt, id, NULL, err);
}

int rt_set_net_group(struct runtime *rt, const char *id, const char *group, struct error *err)
{
	if (rt_check_id(id, err) < 0)
		return -1;
	if (!rt->firewall)
		return 0;
	struct fw_port p;
	if (!record_read(rt, id, &p))
		return err_set(err, E_STATE_CONFLICT, "container %s has no network", id);
	if (group_mark(rt, group, &p.mark, err) < 0)
		return -1;
	return port_apply(rt, id, &p, err);
}

int fw_remove_all(struct runtime *rt, struct error *err)
{
	struct text t = {0};
	tables_delete(rt, &t);
	pthread_mutex_lock(&rt->fw_lock);
	int rc = nft_run(rt, t.s, err);
	rt->fw_ready = false;
	pthread_mutex_unlock(&rt->fw_lock);
	free(t.s);
	_cleanup_free_ char *dir = xasprintf("%s/fw", rt->run_dir);
	if (rc == 0)
		rc = rm_rf(dir, err);
	return rc;
}
