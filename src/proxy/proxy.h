/* The hostname proxy: the network edge in front of containers (kit-api.md
 * §1, docs/PROXY.md). It owns sockets, TLS, HTTP/1.1 framing, WebSocket and
 * streaming pass-through, timeouts and connection limits; every decision
 * (which container a Host names, whether a request may reach it) is asked of
 * the platform through platform/proxy.h. It runs on its own epoll threads,
 * so nothing it does can block the API's threads. */
#ifndef HOODY_PROXY_PROXY_H
#define HOODY_PROXY_PROXY_H

#include <stdbool.h>

#include "common/error.h"
#include "platform/platform.h"

struct proxy_server;

/* The limits and api_listen are set: their defaults live in hoodyd's config
 * rows (src/daemon/config.c). */
struct proxy_config {
	const char *listen;	/* "ADDR:PORT" plain HTTP, NULL/"" = none */
	const char *tls_listen; /* "ADDR:PORT" HTTPS, NULL/"" = none */
	const char *tls_cert;	/* PEM chain (a wildcard certificate), needed by tls_listen */
	const char *tls_key;	/* PEM private key */
	const char *api_listen; /* the API's own listener: api.{domain} is forwarded there */
	int threads;		/* event loops, 0 = one per CPU */
	int max_conns_per_ip;	/* open client connections per source address */
	int idle_timeout_s;	/* keep-alive idle, and no progress mid-exchange */
	int tunnel_timeout_s;	/* no traffic on an upgraded (WebSocket) connection */
	const char *relay_exe;	/* hoodyd itself: upgraded connections go to relay
				 * workers it runs (PROXY_RELAY_ARG); NULL = kept here */
	int relay_conns;	/* upgraded connections per relay worker, 0 = as many as
				 * its descriptor limit allows */
	/* {p}-{c}-ssh: one end of a connection to the SSH front door for that
	 * container (non-blocking; raw: SSH bytes, else HTTP and WebSocket);
	 * NULL when hoodyd has no SSH front door. The composition root wires
	 * it, so the two edges never include each other. */
	int (*ssh_bridge)(void *ctx, const char *container_id, const char *client_ip, bool raw,
			  struct error *err);
	void *ssh_bridge_ctx;
};

/* argv[1] of a relay worker: hoodyd re-executed to hold upgraded
 * connections (relay_worker.c). main() hands such a process to
 * proxy_relay_main before anything else. */
#define PROXY_RELAY_ARG "__relay-worker"
int proxy_relay_main(int argc, char **argv);

/* Binds every listener (one SO_REUSEPORT socket per loop) and starts the
 * loops; on failure nothing is left running. */
int proxy_server_start(const struct proxy_config *cfg, struct platform *pf,
		       struct proxy_server **out_new, struct error *err);
/* Rereads the certificate and key (SIGHUP). New handshakes use the new pair;
 * on a bad pair the old one stays and -1 explains why. */
int proxy_server_reload_tls(struct proxy_server *srv, struct error *err);
/* Closes the listeners and every connection, joins the threads. NULL is fine. */
void proxy_server_stop(struct proxy_server *srv);

#endif
