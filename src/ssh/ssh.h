/* The SSH front door: an edge beside the API and the hostname proxy. It
 * authenticates by public key only and asks the platform (platform/ssh.h)
 * which container a key opens; sessions give a shell (with a terminal),
 * exec, SFTP and local port forwarding inside that container. One thread
 * accepts, one thread per connection runs a libssh event loop; the API
 * never waits on any of it. docs/SSH.md. */
#ifndef HOODY_SSH_H
#define HOODY_SSH_H

#include "common/error.h"

struct platform;
struct ssh_server;

struct ssh_server_config {
	const char *listen;	     /* ADDR:PORT */
	const char *host_key;	     /* created (ed25519) if missing */
	int max_conns;		     /* open connections in all (256) */
	int max_conns_per_ip;	     /* per client address (8) */
	int max_conns_per_container; /* authenticated connections per container (16) */
	int auth_timeout_s;	     /* key exchange + authentication (20) */
};

int ssh_server_start(const struct ssh_server_config *cfg, struct platform *pf,
		     struct ssh_server **out_new, struct error *err);
/* Stops accepting, ends every session (their processes are killed), frees. */
void ssh_server_stop(struct ssh_server *s);

#endif
