/* Set elements added and removed through nfnetlink directly: one batch, one
 * round trip. libnftables (firewall.c, which still builds the tables) reads
 * every table of the host, with its chains, sets and their elements, before
 * each transaction: its cost grows with everything else on the host (other
 * daemons' tables, the elements of every container) and was most of the CPU
 * a create spent in hoodyd (docs/PERFORMANCE.md, "Limits and network
 * rules"). The elements are the same bytes nft would send: concatenated
 * keys with each field padded to 4 bytes, marks in host order. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/internal.h"

#define NFNL_BUF 8192
#define NFNL_REPLY_TIMEOUT_MS 5000

struct batch {
	_Alignas(struct nlmsghdr) char buf[NFNL_BUF];
	size_t len;
	uint32_t seq, msgs;
	bool overflow;
};

static void *put(struct batch *b, size_t len)
{
	size_t al = NLMSG_ALIGN(len);
	if (b->len + al > sizeof(b->buf)) {
		b->overflow = true;
		return NULL;
	}
	void *p = b->buf + b->len;
	memset(p, 0, al);
	b->len += al;
	return p;
}

static struct nlmsghdr *msg_begin(struct batch *b, uint16_t type, uint16_t flags, uint8_t family,
				  uint16_t res_id)
{
	struct nlmsghdr *h = put(b, NLMSG_HDRLEN + sizeof(struct nfgenmsg));
	if (!h)
		return NULL;
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | flags;
	h->nlmsg_seq = ++b->seq;
	struct nfgenmsg *g = NLMSG_DATA(h);
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = htons(res_id);
	return h;
}

static void msg_end(struct batch *b, struct nlmsghdr *h)
{
	if (h)
		h->nlmsg_len = (uint32_t)(b->buf + b->len - (char *)h);
}

static struct nlattr *attr(struct batch *b, uint16_t type, const void *val, size_t len)
{
	struct nlattr *a = put(b, NLA_HDRLEN + len);
	if (!a)
		return NULL;
	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	if (len)
		memcpy((char *)a + NLA_HDRLEN, val, len);
	return a;
}

static void nest_end(struct batch *b, struct nlattr *a)
{
	if (a)
		a->nla_len = (uint16_t)(b->buf + b->len - (char *)a);
}

static void data_value(struct batch *b, uint16_t type, const void *val, size_t len)
{
	struct nlattr *n = attr(b, NLA_F_NESTED | type, NULL, 0);
	attr(b, NFTA_DATA_VALUE, val, len);
	nest_end(b, n);
}

static void elem_msg(struct batch *b, const char *table, const struct nfnl_elem *e)
{
	uint16_t type =
	    (NFNL_SUBSYS_NFTABLES << 8) | (e->del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM);
	struct nlmsghdr *h =
	    msg_begin(b, type, NLM_F_ACK | (e->del ? 0 : NLM_F_CREATE), NFPROTO_BRIDGE, 0);
	attr(b, NFTA_SET_ELEM_LIST_TABLE, table, strlen(table) + 1);
	attr(b, NFTA_SET_ELEM_LIST_SET, e->set, strlen(e->set) + 1);
	struct nlattr *list = attr(b, NLA_F_NESTED | NFTA_SET_ELEM_LIST_ELEMENTS, NULL, 0);
	struct nlattr *el = attr(b, NLA_F_NESTED | NFTA_LIST_ELEM, NULL, 0);
	data_value(b, NFTA_SET_ELEM_KEY, e->key, e->key_len);
	if (e->has_data)
		data_value(b, NFTA_SET_ELEM_DATA, &e->data, sizeof(e->data));
	nest_end(b, el);
	nest_end(b, list);
	msg_end(b, h);
	b->msgs++;
}

/* Reads acknowledgements until every message has one or one failed. */
static int read_acks(int fd, uint32_t want, const char *table, struct error *err)
{
	_Alignas(struct nlmsghdr) char buf[NFNL_BUF];
	uint32_t got = 0;
	while (got < want) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int rc = poll(&p, 1, NFNL_REPLY_TIMEOUT_MS);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return err_set(err, E_RUNTIME, "nftables %s: no answer from the kernel",
				       table);
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return err_sys(err, E_RUNTIME, "nftables %s: read answer", table);
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (e->error)
				return err_set(err, E_RUNTIME, "nftables %s: %s", table,
					       strerror(-e->error));
			got++;
		}
	}
	return 0;
}

int nfnl_set_elems(const char *table, const struct nfnl_elem *elems, size_t count,
		   struct error *err)
{
	struct batch *b = xcalloc(1, sizeof(*b));
	msg_end(b, msg_begin(b, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES));
	for (size_t i = 0; i < count; i++)
		elem_msg(b, table, &elems[i]);
	msg_end(b, msg_begin(b, NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES));
	int rc = 0;
	_cleanup_close_ int fd = -1;
	if (b->overflow)
		rc = err_set(err, E_INTERNAL, "nftables %s: batch too large", table);
	if (rc == 0 && (fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER)) < 0)
		rc = err_sys(err, E_RUNTIME, "nftables: netlink socket");
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	if (rc == 0 && sendto(fd, b->buf, b->len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) !=
			   (ssize_t)b->len)
		rc = err_sys(err, E_RUNTIME, "nftables %s: send", table);
	if (rc == 0)
		rc = read_acks(fd, b->msgs, table, err);
	free(b);
	return rc;
}
