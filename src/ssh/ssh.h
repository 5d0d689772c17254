/* The SSH front door: an edge beside the API and the hostname proxy. It
 * authenticates by public key only and asks the platform (platform/ssh.h)
 * which container a key opens; sessions give a shell (with a terminal),
 * exec, SFTP and local port forwarding inside that container. One thread
 * accepts, one thread per connection runs a libssh event loop; the API
 * never waits on any of it. docs/SSH.md. */
#ifndef HOODY_SSH_H
#define HOODY_SSH_H

#include <stdbool.h>

#include "common/error.h"

struct platform;
struct ssh_server;

/* Every field is set: the defaults live in hoodyd's config rows
 * (src/daemon/config.c). */
struct ssh_server_config {
	const char *listen;	     /* ADDR:PORT */
	const char *host_key;	     /* created (ed25519) if missing */
	int max_conns;		     /* open connections in all */
	int max_conns_per_ip;	     /* per client address */
	int max_conns_per_container; /* authenticated connections per container */
	int auth_timeout_s;	     /* key exchange + authentication */
};

int ssh_server_start(const struct ssh_server_config *cfg, struct platform *pf,
		     struct ssh_server **out_new, struct error *err);
/* The SSH bridge of {p}-{c}-ssh.{server}.containers.{domain} (bridge.c):
 * the hostname proxy, having checked access to the name, gets one end of a
 * socket pair (non-blocking) and forwards the client's HTTP request on it
 * (raw: the SSH byte stream itself, after a CONNECT). The connection may
 * only open container_id, with its stored key. Counted as connections of
 * client_ip under the front door's bounds. */
int ssh_server_bridge(struct ssh_server *s, const char *container_id, const char *client_ip,
		      bool raw, struct error *err);
/* Stops accepting, ends every session (their processes are killed), frees. */
void ssh_server_stop(struct ssh_server *s);

#endif
