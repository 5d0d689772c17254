/* Listener: accepts, applies the per-address and total bounds, hands each
 * connection to a thread of its own. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/util.h"
#include "ssh/internal.h"

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
	ssh_init();
}

bool ssh_count_take(struct ssh_server *s, struct ssh_counts *c, const char *key, int max)
{
	pthread_mutex_lock(&s->mu);
	struct ssh_count *e = NULL;
	for (size_t i = 0; i < c->len && !e; i++)
		if (!strcmp(c->v[i].key, key))
			e = &c->v[i];
	if (!e) {
		if (c->len == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 16;
			c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
		}
		e = &c->v[c->len++];
		snprintf(e->key, sizeof(e->key), "%s", key);
		e->n = 0;
	}
	bool ok = e->n < max;
	if (ok)
		e->n++;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

void ssh_count_drop(struct ssh_server *s, struct ssh_counts *c, const char *key)
{
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < c->len; i++) {
		if (strcmp(c->v[i].key, key))
			continue;
		if (--c->v[i].n <= 0)
			c->v[i] = c->v[--c->len];
		break;
	}
	pthread_mutex_unlock(&s->mu);
}

bool ssh_server_stopping(struct ssh_server *s)
{
	pthread_mutex_lock(&s->mu);
	bool stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	return stop;
}

struct conn_start {
	struct ssh_server *s;
	ssh_session session;
	char peer[64];
	char pin[ID_LEN + 1];
};

static void *conn_thread(void *arg)
{
	struct conn_start *cs = arg;
	struct ssh_server *s = cs->s;
	ssh_conn_run(s, cs->session, cs->peer, cs->pin[0] ? cs->pin : NULL);
	ssh_count_drop(s, &s->per_ip, cs->peer);
	free(cs);
	ssh_slot_drop(s);
	return NULL;
}

static void peer_of(const struct sockaddr_storage *sa, char *out, size_t len)
{
	snprintf(out, len, "?");
	if (sa->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
			  (socklen_t)len);
	else if (sa->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)len);
}

/* Over a bound: the client learns why before the door closes. */
static void refuse(ssh_session session, const char *peer, const char *why)
{
	log_info("ssh: refused %s: %s", peer, why);
	ssh_disconnect(session);
	ssh_free(session);
}

bool ssh_slot_take(struct ssh_server *s)
{
	pthread_mutex_lock(&s->mu);
	bool ok = !s->stop && s->active < s->cfg.max_conns;
	if (ok)
		s->active++;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

void ssh_slot_drop(struct ssh_server *s)
{
	pthread_mutex_lock(&s->mu);
	if (--s->active == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
}

bool ssh_thread_start(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	bool ok = pthread_create(&t, &at, fn, arg) == 0;
	pthread_attr_destroy(&at);
	return ok;
}

int ssh_conn_adopt(struct ssh_server *s, int fd, const char *peer, const char *pin,
		   struct error *err)
{
	ssh_session session = ssh_new();
	if (!session || ssh_bind_accept_fd(s->bind, session, fd) != SSH_OK) {
		if (session)
			ssh_free(session); /* closes fd */
		else
			close(fd);
		return err_set(err, E_INTERNAL, "cannot start an SSH session");
	}
	struct conn_start *cs = xcalloc(1, sizeof(*cs));
	cs->s = s;
	cs->session = session;
	snprintf(cs->peer, sizeof(cs->peer), "%s", peer);
	snprintf(cs->pin, sizeof(cs->pin), "%s", pin ? pin : "");
	if (!ssh_slot_take(s)) {
		refuse(session, cs->peer, "too many connections");
		free(cs);
		return err_set(err, E_RATE_LIMITED, "too many SSH connections");
	}
	bool ok = ssh_count_take(s, &s->per_ip, cs->peer, s->cfg.max_conns_per_ip);
	if (ok && ssh_thread_start(conn_thread, cs))
		return 0;
	refuse(session, cs->peer, ok ? "no thread" : "too many connections from this address");
	if (ok)
		ssh_count_drop(s, &s->per_ip, cs->peer);
	free(cs);
	ssh_slot_drop(s);
	return err_set(err, E_RATE_LIMITED,
		       ok ? "no thread for an SSH connection"
			  : "too many SSH connections from this address");
}

static void accept_one(struct ssh_server *s)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	int fd = accept4(s->fd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	char peer[64];
	struct error err = {0};
	peer_of(&sa, peer, sizeof(peer));
	(void)ssh_conn_adopt(s, fd, peer, NULL, &err);
}

static void *listen_thread(void *arg)
{
	struct ssh_server *s = arg;
	struct pollfd p[2] = {{.fd = s->fd, .events = POLLIN},
			      {.fd = s->wake[0], .events = POLLIN}};
	while (!ssh_server_stopping(s)) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN)
			accept_one(s);
	}
	return NULL;
}

/* One host key for the life of the state dir: clients pin it. */
static int load_host_key(const char *path, ssh_key *out, struct error *err)
{
	if (access(path, F_OK) == 0) {
		if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, out) != SSH_OK)
			return err_set(err, E_INTERNAL, "cannot read the SSH host key %s", path);
		return 0;
	}
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, out) != SSH_OK)
		return err_set(err, E_INTERNAL, "cannot generate an SSH host key");
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
	mode_t old = umask(077);
	int rc = ssh_pki_export_privkey_file(*out, NULL, NULL, NULL, tmp);
	umask(old);
	if (rc != SSH_OK || rename(tmp, path) < 0) {
		unlink(tmp);
		ssh_key_free(*out);
		return err_sys(err, E_IO, "cannot write the SSH host key %s", path);
	}
	log_info("ssh: generated host key %s", path);
	return 0;
}

/* What a client pins (the bridge's description shows it, docs/SSH.md). */
static void host_key_describe(ssh_key key, struct ssh_server *s)
{
	char *b64 = NULL, *fp = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	const char *type = ssh_key_type_to_char(ssh_key_type(key));
	if (type && ssh_pki_export_pubkey_base64(key, &b64) == SSH_OK)
		snprintf(s->host_key_pub, sizeof(s->host_key_pub), "%s %s", type, b64);
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0 &&
	    (fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen)))
		snprintf(s->host_key_fp, sizeof(s->host_key_fp), "%s", fp);
	ssh_string_free_char(b64);
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
}

static int listen_on(const char *addr, struct error *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (netaddr_parse(addr, &ss, &len, err) < 0)
		return err_wrap(err, "--ssh-listen");
	_cleanup_close_ int fd =
	    socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0)
		return err_sys(err, E_IO, "ssh: cannot listen on %s", addr);
	return steal_fd(&fd);
}

int ssh_server_start(const struct ssh_server_config *cfg, struct platform *pf,
		     struct ssh_server **out_new, struct error *err)
{
	pthread_once(&lib_once, lib_init);
	_cleanup_close_ int lfd = listen_on(cfg->listen, err);
	if (lfd < 0)
		return -1;
	ssh_key key = NULL;
	if (load_host_key(cfg->host_key, &key, err) < 0)
		return -1;
	struct ssh_server *s = xcalloc(1, sizeof(*s));
	host_key_describe(key, s);
	s->cfg = *cfg;
	s->pf = pf;
	s->fd = steal_fd(&lfd);
	s->wake[0] = s->wake[1] = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->idle, NULL);
	s->bind = ssh_bind_new();
	int verbosity = SSH_LOG_NOLOG;
	/* The bind owns the key from here. */
	if (!s->bind ||
	    ssh_bind_options_set(s->bind, SSH_BIND_OPTIONS_LOG_VERBOSITY, &verbosity) < 0 ||
	    ssh_bind_options_set(s->bind, SSH_BIND_OPTIONS_IMPORT_KEY, key) < 0) {
		ssh_key_free(key);
		err_set(err, E_INTERNAL, "ssh: cannot set up the host key");
		goto fail;
	}
	if (pipe2(s->wake, O_CLOEXEC) < 0) {
		err_sys(err, E_IO, "pipe");
		goto fail;
	}
	if (pthread_create(&s->thread, NULL, listen_thread, s) != 0) {
		err_set(err, E_INTERNAL, "ssh: cannot start the listener thread");
		goto fail;
	}
	log_info("ssh front door on %s", cfg->listen);
	*out_new = s;
	return 0;
fail:
	if (s->bind)
		ssh_bind_free(s->bind);
	close(s->fd);
	for (int i = 0; i < 2; i++)
		if (s->wake[i] >= 0)
			close(s->wake[i]);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->idle);
	free(s);
	return -1;
}

void ssh_server_stop(struct ssh_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_mutex_unlock(&s->mu);
	if (write(s->wake[1], "x", 1) < 0)
		log_warn("ssh: wake: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	/* Connection threads look at stop between polls. */
	pthread_mutex_lock(&s->mu);
	while (s->active > 0)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
	ssh_bind_free(s->bind);
	close(s->fd);
	close(s->wake[0]);
	close(s->wake[1]);
	free(s->per_ip.v);
	free(s->per_container.v);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->idle);
	free(s);
}
