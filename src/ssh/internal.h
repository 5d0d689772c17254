/* Shared between the SSH edge's files. */
#ifndef HOODY_SSH_INTERNAL_H
#define HOODY_SSH_INTERNAL_H

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>
#define WITH_SERVER 1 /* libssh guards its SFTP server API with it */
#include <libssh/sftp.h>
#include <pthread.h>
#include <stdbool.h>

#include "platform/ssh.h"
#include "ssh/ssh.h"

#define SSH_CHANNELS_MAX 16

/* A count per key (client address, container id) under the server's lock. */
struct ssh_counts {
	struct ssh_count {
		char key[64];
		int n;
	} * v;
	size_t len, cap;
};

struct ssh_server {
	struct ssh_server_config cfg;
	struct platform *pf;
	ssh_bind bind; /* host key and algorithms; we own the socket */
	int fd;	       /* listening */
	pthread_t thread;
	int wake[2];
	pthread_mutex_t mu;
	pthread_cond_t idle;
	int active;
	bool stop;
	struct ssh_counts per_ip, per_container;
	char host_key_pub[256]; /* "ssh-ed25519 AAAA...", for the bridge's description */
	char host_key_fp[128];	/* "SHA256:..." */
};

/* Takes one slot of key (false when max are taken) / gives it back. */
bool ssh_count_take(struct ssh_server *s, struct ssh_counts *c, const char *key, int max);
void ssh_count_drop(struct ssh_server *s, struct ssh_counts *c, const char *key);
bool ssh_server_stopping(struct ssh_server *s);

/* A slot of the max_conns bound (false when full or stopping) / gives it back. */
bool ssh_slot_take(struct ssh_server *s);
void ssh_slot_drop(struct ssh_server *s);
/* A detached thread; false when none could be made. */
bool ssh_thread_start(void *(*fn)(void *), void *arg);
/* Serves fd (a connected socket, closed in every case) as an SSH connection
 * from peer on a thread of its own, under the same bounds as an accepted
 * one. pin: the container a bridged connection may open (NULL: the key and
 * login name choose). */
int ssh_conn_adopt(struct ssh_server *s, int fd, const char *peer, const char *pin,
		   struct error *err);

/* conn.c: runs one connection to its end and frees it. */
void ssh_conn_run(struct ssh_server *s, ssh_session session, const char *peer, const char *pin);

/* sftp.c: an SFTP server over one channel, files resolved inside the
 * container's root (rt_root_open) so symlinks cannot leave it. */
struct ssh_sftp;
struct ssh_sftp *ssh_sftp_new(ssh_session session, ssh_channel ch, int root_fd);
/* Serves what the client has sent; -1 when the channel must close. */
int ssh_sftp_pump(struct ssh_sftp *f);
void ssh_sftp_free(struct ssh_sftp *f);

#endif
