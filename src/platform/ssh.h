/* The platform side of the SSH front door (src/ssh/): which container an
 * offered public key opens, and the container's processes, ports and files
 * for that session. Every call re-reads the container, so a stop or a key
 * removal takes effect for the next channel. */
#ifndef HOODY_PLATFORM_SSH_H
#define HOODY_PLATFORM_SSH_H

#include <stdbool.h>
#include <stdint.h>

#include "platform/platform.h"

struct ssh_target {
	char container_id[ID_LEN + 1];
	char user_id[ID_LEN + 1];
	char name[128];
	char status[16];
	char type_blob[1024]; /* the key that opened it */
};

/* type_blob: "ssh-ed25519 AAAA..." of a key the client proved it holds.
 * login: the SSH user name. The key selects the containers whose stored key
 * has this type and blob; when there are several, login must be the id or
 * the name of exactly one of them. E_FORBIDDEN otherwise (no match, no key,
 * ambiguity). A stopped container is found (the session says why it cannot
 * run anything). */
int platform_ssh_find(struct platform *pf, const char *type_blob, const char *login,
		      struct ssh_target *out, struct error *err);
/* The same, for a connection that arrived through the SSH bridge of
 * {p}-{c}-ssh.{server}.containers.{domain} (docs/SSH.md): the host name
 * already chose container_id, so the key must be that container's stored
 * key and the login name does not matter. E_FORBIDDEN otherwise. */
int platform_ssh_find_in(struct platform *pf, const char *type_blob, const char *container_id,
			 struct ssh_target *out, struct error *err);
/* The target again, still holding the same key; E_STATE_CONFLICT with a
 * message for people when it is not running. */
int platform_ssh_check(struct platform *pf, struct ssh_target *t, struct error *err);
/* A process of a session inside the container (the runtime's, unseen by the
 * edge). argv NULL-terminated; term: the TERM of a terminal, NULL for none. */
struct ssh_proc;
struct ssh_proc_opts {
	const char *const *argv;
	const char *term;
	bool tty;
	unsigned cols, rows;
};
int platform_ssh_proc_start(struct platform *pf, struct ssh_target *t,
			    const struct ssh_proc_opts *o, struct ssh_proc **out_new,
			    struct error *err);
/* Non-blocking fds: 0 stdin (write), 1 stdout, 2 stderr (-1 with a tty: the
 * terminal carries both), 3 readable once the process has ended. */
int platform_ssh_proc_fd(const struct ssh_proc *p, int which);
/* Closes stdin (EOF for the process; a no-op on a terminal) or an output. */
void platform_ssh_proc_close_fd(struct ssh_proc *p, int which);
int platform_ssh_proc_resize(struct ssh_proc *p, unsigned cols, unsigned rows);
/* Kills what is left, reaps, frees; the exit code (128 + signal if killed). */
int platform_ssh_proc_end(struct platform *pf, struct ssh_proc *p);
int platform_ssh_connect(struct platform *pf, struct ssh_target *t, uint16_t port,
			 struct error *err);
int platform_ssh_root(struct platform *pf, struct ssh_target *t, struct error *err);

#endif
