/* Shared state of the proxy edge's files: loops, connections and the two
 * halves of an exchange. See docs/ARCHITECTURE.md ("The hostname proxy"). */
#ifndef HOODY_PROXY_INTERNAL_H
#define HOODY_PROXY_INTERNAL_H

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/netaddr.h"
#include "platform/proxy.h"
#include "proxy/http1.h"
#include "proxy/proxy.h"

#define BUF_SIZE 16384 /* one per direction, only while data is in flight */
#define HEAD_OUT_MAX (H1_HEAD_MAX + 2048)
#define HEADER_TIMEOUT_S 15 /* a request head must arrive whole within this */
#define CONNECT_TIMEOUT_S 5
#define POOL_KEEP 256 /* free buffers a loop keeps for reuse */

enum ep_kind { EP_LISTEN, EP_WAKE, EP_CONNECTOR, EP_CLIENT, EP_BACKEND, EP_IDLE };

/* What an epoll event points at: the first member of each registered thing. */
struct ep_ref {
	enum ep_kind kind;
};

struct listener {
	struct ep_ref ref;
	int fd;
	bool tls;
};

/* FNV-1a of a client address: the per-address tables of server.c and
 * relay.c. */
static inline unsigned addr_hash(const char *ip)
{
	unsigned h = 2166136261u;
	for (; *ip; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return h;
}

/* An accepted connection given to another loop (server.c, rebalancing). */
struct handoff {
	int fd;
	bool tls;
	char ip[INET6_ADDRSTRLEN];
};

struct buf {
	char *data; /* BUF_SIZE bytes from the loop's pool, or NULL */
	uint32_t start, end;
};

/* Request side: client -> backend. */
enum rq_state {
	RQ_HEAD,    /* reading a request head */
	RQ_CONNECT, /* head accepted, waiting for the backend socket */
	RQ_BODY,    /* sending the rewritten head, then the body */
	RQ_DONE,    /* request sent; waiting for the response to end */
	RQ_TUNNEL,  /* upgraded: raw bytes */
	RQ_DRAIN,   /* refused request: its body is not read, the connection closes */
};

/* Response side: backend -> client. */
enum rs_state {
	RS_IDLE, /* no exchange */
	RS_HEAD, /* reading the backend's response head */
	RS_BODY, /* sending the rewritten head, then the body */
	RS_TUNNEL,
	RS_LOCAL, /* sending a response the proxy made itself */
};

/* One direction: a buffer, the head to send before its bytes, and the
 * framing that says where the message ends. */
struct half {
	struct buf b;
	char *out; /* rewritten head (malloc'ed), sent first */
	uint32_t out_len, out_off;
	struct h1_framing fr;
	uint64_t left; /* Content-Length bytes still to scan */
	struct h1_chunked ck;
	uint32_t ready; /* bytes at b.start known to be body, not yet sent */
	bool body_done; /* the scanner reached the end of the message */
	bool src_eof;
};

struct loop;

struct conn {
	struct ep_ref cref, bref; /* client and backend sockets */
	struct loop *lp;
	struct conn *prev, *next; /* the loop's list, for the timeout sweep */
	struct conn *ready_next;  /* re-pump queue (fairness cap reached) */
	int cfd, bfd;
	SSL *ssl;
	char ip[INET6_ADDRSTRLEN];
	/* edge-triggered readiness, cleared when a call would block */
	bool c_rd, c_wr, b_rd, b_wr, c_hup, b_hup;
	bool queued, closing, close_after, zombie, on_dead, ip_released, lingering;
	bool tls_bye;	 /* send TLS close_notify at close: the client reads an end, not a cut */
	size_t lingered; /* bytes discarded while lingering */
	bool b_connecting, b_pending, b_reused, b_keep, b_fresh;
	bool keep_alive, head_req, upgrade, resp_started, req_has_body, tls;
	bool egress;		/* a forward-proxy request (egress.c): connect exactly there */
	bool tunnel_on_connect; /* CONNECT: 200, then bytes both ways */
	char *egress_name;	/* egress to a host name (not an address): resolved first */
	int minor;		/* client's HTTP/1.<minor> */
	enum rq_state rq;
	enum rs_state rs;
	struct half req, resp;
	char *retry_head;	   /* request head kept for one retry on a reused backend */
	SSL *bssl;		   /* https-{port}: TLS to the backend */
	char bkey[420];		   /* which backend bfd is connected to (reuse) */
	struct proxy_route route;  /* of the current exchange */
	struct proxy_memo *memo;   /* the platform's memo of this connection's last decision */
	struct proxy_grant *grant; /* a tunnel's admission, decided again on access changes */
	bool recheck;		   /* to be decided again (tunnels.c, a few per turn) */
	int64_t deadline_ns;
	int64_t head_start_ns; /* first byte of the current request head */
	uint64_t requests;
};

/* The netns connector: setns(2) affects the calling thread, so sockets in a
 * container's namespace are made on a thread that does nothing else. */
struct connect_req {
	struct conn *c;
	char netns[256];
	char ip[64];
	int port;
	bool exact; /* egress: this address in the namespace, no fallback */
	/* egress to a host name: the resolver thread (resolve.c) looks it up
	 * with these resolvers ("a,b") first, then fills ip */
	char name[254];
	char dns[PROXY_DNS_MAX];
	bool ipv6; /* no A record: ask AAAA too */
};

struct connect_res {
	struct conn *c;
	int fd;	 /* -1 on failure */
	int err; /* errno */
	bool in_progress;
	int dns_status; /* non-zero: the resolver's failure (resolve.c), not the connector's */
};

#define RESOLVE_BUSY (-1)      /* dns_status: too many lookups in flight */
#define RESOLVE_NO_SERVER (-2) /* dns_status: the container has no resolver */

/* A parked backend connection (keepalive.c). */
struct idle_backend {
	struct ep_ref ref;
	struct loop *lp;
	struct idle_backend *prev, *next; /* the loop's list, newest first */
	int fd;
	SSL *ssl;
	uint64_t hash;
	int64_t since_ns;
	bool gone; /* taken or closed: freed after the current batch */
	char key[420];
};

struct loop {
	struct proxy_server *srv;
	int idx;
	int epfd, wakefd;
	struct ep_ref wake_ref, connector_ref;
	struct listener lhttp, ltls;
	int csock[2]; /* [0] loop side, [1] connector side (SOCK_SEQPACKET) */
	int rsock[2]; /* [0] loop side, [1] resolver side (SOCK_SEQPACKET) */
	pthread_t thread, connector, resolver;
	bool has_connector, has_thread, has_resolver;
	struct conn head;	  /* list sentinel */
	struct conn *ready;	  /* conns to pump again */
	struct conn *dead;	  /* closed, freed after the current batch of events */
	int npending;		  /* conns waiting for the connector */
	struct idle_backend idle; /* list sentinel of parked backend connections */
	int nidle;
	struct idle_backend *idle_dead;
	char *pool[POOL_KEEP];
	int npool;
	int nconns; /* atomic: other loops read it to rebalance */
	pthread_mutex_t hand_lock;
	struct handoff *hand; /* given by other loops, started at the next wake-up */
	int nhand, hand_cap;  /* nhand atomic */
	int64_t now_ns;
	uint64_t access_seq; /* the platform's last access change this loop applied */
	int nrecheck;	     /* conns with recheck set */
};

struct ip_slot {
	char ip[INET6_ADDRSTRLEN];
	int count;
};

struct proxy_server {
	struct platform *pf;
	struct proxy_config cfg;
	char *listen, *tls_listen, *tls_cert, *tls_key, *api_listen;
	struct sockaddr_storage api_addr;
	socklen_t api_addr_len;
	struct loop *loops;
	int nloops;
	pthread_mutex_t tls_lock;
	SSL_CTX *tls_ctx;
	SSL_CTX *tls_client_ctx; /* to https-{port} backends */
	pthread_mutex_t ip_lock;
	struct ip_slot *ips; /* open addressing, ip_cap slots */
	size_t ip_cap, ip_used;
	int max_conns;
	int conns; /* atomic */
	bool stopping;
	struct relay *relay; /* relay workers (relay.c), NULL when not used */
};

/* server.c */
char *pool_get(struct loop *lp);
void pool_put(struct loop *lp, char *p);
void conn_queue(struct conn *c);
void conn_free(struct conn *c);
int ep_add(struct loop *lp, int fd, struct ep_ref *ref, struct error *err);
void ep_close(struct loop *lp, int fd); /* leaves the epoll set, then closes */

void ip_release(struct proxy_server *srv, const char *ip);

/* relay.c: upgraded connections handed to relay worker processes */
int relay_start(struct proxy_server *srv, struct error *err);
void relay_stop(struct proxy_server *srv);
bool relay_try(struct conn *c); /* true: handed over, c is closed */

/* tunnels.c: tunnels decided again when access changes (docs/PROXY.md
 * "What closes a tunnel"); at most this many decisions per turn of a loop */
#define RECHECK_BATCH 16
void tunnels_poll(struct loop *lp);
void tunnels_due(struct loop *lp); /* the one-second sweep: expiring grants */

/* conn.c */
void conn_start(struct loop *lp, int fd, const char *ip, bool tls);
void conn_event(struct conn *c, bool backend, uint32_t events);
void conn_pump(struct conn *c);
void conn_timeout(struct conn *c);
void conn_close(struct conn *c);
void conn_backend_ready(const struct connect_res *res);
void conn_release(struct conn *c); /* server.c: frees once nothing refers to c */
void half_start(struct half *h, enum h1_body_kind kind, uint64_t length);
void half_reset(struct half *h);

/* exchange.c: heads and errors */
int exchange_request(struct conn *c, struct h1_head *h);
int exchange_response(struct conn *c, struct h1_head *h);
void exchange_error(struct conn *c, const struct error *err);
/* The same with another status than the code's (0: the code's) and extra
 * header lines ("Name: value\r\n", or NULL). */
void exchange_error_as(struct conn *c, const struct error *err, int status, const char *extra);
/* Whether a field of h crosses the proxy (not hop-by-hop; in a request, not
 * one the edge sets itself). */
bool exchange_field_crosses(const struct h1_head *h, const struct h1_field *f, bool request);
/* A head being built in a HEAD_OUT_MAX buffer; `over` once it did not fit. */
struct sb {
	char *p;
	size_t len, cap;
	bool over;
};
struct sb sb_new(void);
void sb_add(struct sb *b, const char *s, size_t n);
void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_field(struct sb *b, const struct h1_field *f);
void sb_to_half(struct sb *b, struct half *h);

/* egress.c: {p}-{c}-proxy, the container's forward proxy (absolute-form and
 * CONNECT requests on the TLS listener, the SNI naming the container) */
int egress_request(struct conn *c, struct h1_head *h, const struct h1_framing *fr);
void egress_tunnel_start(struct conn *c);

/* sshbridge.c: {p}-{c}-ssh, handed to the SSH front door */
void sshbridge_connect(struct conn *c);

/* backend.c: every failure before the response head becomes a 502/504
 * envelope; after it, the connection is closed. */
void backend_connect(struct conn *c);
void backend_connected(struct conn *c);
void backend_failed(struct conn *c, int errnum);
void backend_gone_early(struct conn *c);
void backend_protocol_error(struct conn *c, const char *msg);
void backend_close(struct conn *c);
void *connector_main(void *arg);
/* resolve.c: host names of egress targets, a resolver thread per loop */
void *resolver_main(void *arg);
void resolve_failed(struct conn *c, int status); /* 502/504 for a dns_status */
/* Answers err as the exchange's failure (502 envelope, or close). */
void backend_refuse(struct conn *c, const struct error *err);
/* fd becomes the backend socket (in_progress: connect() pending). */
void backend_adopt(struct conn *c, int fd, bool in_progress);

/* keepalive.c: backend connections shared by a loop's client connections */
void keepalive_park(struct conn *c); /* parks c's backend when clean, else closes it */
bool keepalive_take(struct conn *c, const char *key);
void keepalive_event(struct ep_ref *ref);
void keepalive_sweep(struct loop *lp);
void keepalive_close_all(struct loop *lp);
void keepalive_free_dead(struct loop *lp);

/* tls.c */
int tls_load(struct proxy_server *srv, struct error *err);
SSL *tls_new(struct proxy_server *srv, int fd);
void tls_free_all(struct proxy_server *srv);
/* Client I/O, plain or TLS: > 0 bytes, 0 EOF, -1 would block, -2 error. */
ssize_t cio_read(struct conn *c, char *p, size_t n);
ssize_t cio_write(struct conn *c, const char *p, size_t n);
ssize_t bio_read(struct conn *c, char *p, size_t n);
ssize_t bio_write(struct conn *c, const char *p, size_t n);
/* a then b in one call where the socket allows it; returns bytes of both */
ssize_t io_write2(struct conn *c, bool backend, const char *a, size_t an, const char *b, size_t bn);
SSL *tls_backend_new(struct proxy_server *srv, int fd, const char *sni);

#endif
