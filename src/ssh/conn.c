/* One SSH connection: key exchange, public-key authentication against the
 * platform, then channels until the client leaves. Every channel pumps
 * between libssh and a file descriptor: a process's stdio (shell, exec), a
 * socket in the container (direct-tcpip), or SFTP served in this thread.
 * Output is read only while the client's window has room, so a slow client
 * slows the process instead of filling memory. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "ssh/internal.h"

#define INBUF_MAX (1 << 20)
#define READ_CHUNK 32768
#define AUTH_TRIES_MAX 10
#define POLL_MS 200

enum chan_kind { CH_NEW, CH_PROC, CH_FWD, CH_SFTP, CH_DONE };

struct conn;

struct chan {
	struct conn *conn;
	ssh_channel ch;
	struct ssh_channel_callbacks_struct cb;
	enum chan_kind kind;
	struct ssh_proc *proc;
	struct ssh_sftp *sftp;
	int sock;
	int out[2];	  /* read into the channel: stdout (or the socket), stderr */
	bool out_done[2]; /* at its end: closed by the next step, not in a callback */
	int in;		  /* written from the channel: stdin (or the socket) */
	int exitfd;	  /* pidfd of the process */
	int reg_fd[4];	  /* what is registered in the event loop */
	short reg_ev[4];
	char *inbuf;
	size_t inlen;
	bool peer_eof, in_closed, exited;
	bool pty;
	unsigned cols, rows;
	char term[64];
	char *fail_msg;
};

struct conn {
	struct ssh_server *srv;
	ssh_session session;
	ssh_event ev;
	char peer[64];
	char pin[ID_LEN + 1]; /* through the bridge: the one container the host name chose */
	bool authed, counted;
	int auth_tries;
	struct ssh_target target;
	struct chan *chans[SSH_CHANNELS_MAX];
	struct ssh_server_callbacks_struct cb;
};

/* ------------------------------------------------------------ channels */

static void chan_fail(struct chan *c, const char *msg)
{
	free(c->fail_msg);
	c->fail_msg = xasprintf("hoody: %s\r\n", msg);
}

static int on_data(ssh_session s, ssh_channel ch, void *data, uint32_t len, int is_stderr, void *ud)
{
	struct chan *c = ud;
	if (c->kind == CH_SFTP || c->kind == CH_NEW)
		return 0; /* left in libssh's buffer: sftp reads it from there */
	if (c->kind != CH_PROC && c->kind != CH_FWD)
		return (int)len;
	size_t take = INBUF_MAX - c->inlen < len ? INBUF_MAX - c->inlen : len;
	c->inbuf = xrealloc(c->inbuf, c->inlen + take + 1);
	memcpy(c->inbuf + c->inlen, data, take);
	c->inlen += take;
	return (int)take;
}

static void on_eof(ssh_session s, ssh_channel ch, void *ud)
{
	((struct chan *)ud)->peer_eof = true;
}

static int on_pty(ssh_session s, ssh_channel ch, const char *term, int w, int h, int pw, int ph,
		  void *ud)
{
	struct chan *c = ud;
	if (c->kind != CH_NEW)
		return -1;
	c->pty = true;
	c->cols = w > 0 && w < 10000 ? (unsigned)w : 80;
	c->rows = h > 0 && h < 10000 ? (unsigned)h : 24;
	snprintf(c->term, sizeof(c->term), "%s", term && strlen(term) < 60 ? term : "xterm");
	return 0;
}

static int on_resize(ssh_session s, ssh_channel ch, int w, int h, int pw, int ph, void *ud)
{
	struct chan *c = ud;
	c->cols = w > 0 && w < 10000 ? (unsigned)w : c->cols;
	c->rows = h > 0 && h < 10000 ? (unsigned)h : c->rows;
	if (c->proc)
		platform_ssh_proc_resize(c->proc, c->cols, c->rows);
	return 0;
}

/* bash when the image has it (a login shell reads the profile), sh otherwise. */
static const char *const shell_argv[] = {
    "/bin/sh", "-c", "if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi", NULL};

static void start_proc(struct chan *c, const char *command)
{
	const char *argv[] = {"/bin/sh", "-c", command, NULL};
	struct ssh_proc_opts o = {
	    .argv = command ? argv : shell_argv,
	    .term = c->pty ? c->term : NULL,
	    .tty = c->pty,
	    .cols = c->cols,
	    .rows = c->rows,
	};
	struct error err = {0};
	if (platform_ssh_proc_start(c->conn->srv->pf, &c->conn->target, &o, &c->proc, &err) < 0) {
		chan_fail(c, err.msg);
		return;
	}
	c->kind = CH_PROC;
	c->in = platform_ssh_proc_fd(c->proc, 0);
	c->out[0] = platform_ssh_proc_fd(c->proc, 1);
	c->out[1] = platform_ssh_proc_fd(c->proc, 2);
	c->exitfd = platform_ssh_proc_fd(c->proc, 3);
}

static int on_shell(ssh_session s, ssh_channel ch, void *ud)
{
	struct chan *c = ud;
	if (c->kind != CH_NEW)
		return -1;
	start_proc(c, NULL);
	return 0;
}

static int on_exec(ssh_session s, ssh_channel ch, const char *command, void *ud)
{
	struct chan *c = ud;
	if (c->kind != CH_NEW)
		return -1;
	if (!command || strlen(command) > 65536) {
		chan_fail(c, "command too long");
		return 0;
	}
	start_proc(c, command);
	return 0;
}

static int on_subsystem(ssh_session s, ssh_channel ch, const char *name, void *ud)
{
	struct chan *c = ud;
	if (c->kind != CH_NEW || !name || strcmp(name, "sftp"))
		return -1;
	struct error err = {0};
	int root = platform_ssh_root(c->conn->srv->pf, &c->conn->target, &err);
	if (root < 0) {
		chan_fail(c, err.msg);
		return 0;
	}
	c->sftp = ssh_sftp_new(c->conn->session, c->ch, root);
	c->kind = CH_SFTP;
	return 0;
}

static struct chan *chan_new(struct conn *cn, enum chan_kind kind)
{
	size_t slot = 0;
	while (slot < SSH_CHANNELS_MAX && cn->chans[slot])
		slot++;
	if (slot == SSH_CHANNELS_MAX)
		return NULL;
	struct chan *c = xcalloc(1, sizeof(*c));
	c->conn = cn;
	c->kind = kind;
	c->sock = c->in = c->out[0] = c->out[1] = c->exitfd = -1;
	for (int i = 0; i < 4; i++)
		c->reg_fd[i] = -1;
	c->cb.size = sizeof(c->cb);
	c->cb.userdata = c;
	c->cb.channel_data_function = on_data;
	c->cb.channel_eof_function = on_eof;
	c->cb.channel_pty_request_function = on_pty;
	c->cb.channel_pty_window_change_function = on_resize;
	c->cb.channel_shell_request_function = on_shell;
	c->cb.channel_exec_request_function = on_exec;
	c->cb.channel_subsystem_request_function = on_subsystem;
	ssh_callbacks_init(&c->cb);
	cn->chans[slot] = c;
	return c;
}

static void chan_attach(struct chan *c, ssh_channel ch)
{
	c->ch = ch;
	ssh_set_channel_callbacks(ch, &c->cb);
}

static void unregister_all(struct chan *c)
{
	for (int i = 0; i < 4; i++) {
		if (c->reg_fd[i] >= 0)
			ssh_event_remove_fd(c->conn->ev, c->reg_fd[i]);
		c->reg_fd[i] = -1;
		c->reg_ev[i] = 0;
	}
}

static void chan_free(struct chan *c)
{
	unregister_all(c);
	if (c->proc)
		platform_ssh_proc_end(c->conn->srv->pf, c->proc);
	if (c->sock >= 0)
		close(c->sock);
	if (c->sftp)
		ssh_sftp_free(c->sftp);
	if (c->ch) {
		/* libssh may keep the channel until the peer's close arrives:
		 * nothing of it may call back into freed memory. */
		ssh_remove_channel_callbacks(c->ch, &c->cb);
		ssh_channel_free(c->ch);
	}
	free(c->inbuf);
	free(c->fail_msg);
	free(c);
}

static void close_out(struct chan *c, int i)
{
	c->out_done[i] = true;
}

/* Drops fd from the event loop before it is closed: a number closed while
 * still registered could come back for another channel and be removed from
 * under it. */
static void forget_fd(struct chan *c, int fd)
{
	for (int i = 0; i < 4; i++) {
		if (fd >= 0 && c->reg_fd[i] == fd) {
			ssh_event_remove_fd(c->conn->ev, fd);
			c->reg_fd[i] = -1;
			c->reg_ev[i] = 0;
		}
	}
}

static void reap_outs(struct chan *c)
{
	for (int i = 0; i < 2; i++) {
		if (!c->out_done[i] || c->out[i] < 0)
			continue;
		forget_fd(c, c->out[i]);
		if (c->kind == CH_PROC)
			platform_ssh_proc_close_fd(c->proc, i + 1);
		else if (c->kind == CH_FWD)
			shutdown(c->sock, SHUT_RD);
		c->out[i] = -1;
	}
}

/* Moves what the client's window allows from out[i] into the channel;
 * false when nothing more is to be had for now. */
static bool pump_out(struct chan *c, int i)
{
	uint32_t win = ssh_channel_window_size(c->ch);
	if (c->out[i] < 0 || c->out_done[i] || win == 0)
		return false;
	char buf[READ_CHUNK];
	ssize_t n = read(c->out[i], buf, win < sizeof(buf) ? win : sizeof(buf));
	if (n > 0) {
		if ((i ? ssh_channel_write_stderr(c->ch, buf, (uint32_t)n)
		       : ssh_channel_write(c->ch, buf, (uint32_t)n)) < 0)
			close_out(c, i);
		return n > 0;
	}
	if (n < 0 && errno == EINTR)
		return true;
	/* EAGAIN after the process ended: a grandchild may hold the pipe open
	 * forever, what was written before the exit has been read. EIO: the
	 * terminal's last process is gone. */
	if (n == 0 || (n < 0 && (errno != EAGAIN || c->exited)))
		close_out(c, i);
	return false;
}

static void flush_in(struct chan *c)
{
	while (c->inlen && c->in >= 0) {
		ssize_t n = write(c->in, c->inbuf, c->inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			c->inlen = 0; /* the reader is gone */
			return;
		}
		memmove(c->inbuf, c->inbuf + n, c->inlen - (size_t)n);
		c->inlen -= (size_t)n;
	}
}

static int on_fd(socket_t fd, int revents, void *ud)
{
	struct chan *c = ud;
	if (fd == c->exitfd && (revents & POLLIN))
		c->exited = true;
	for (int i = 0; i < 2; i++)
		if (fd == c->out[i] && (revents & (POLLIN | POLLHUP | POLLERR)))
			pump_out(c, i);
	if (fd == c->in && (revents & (POLLOUT | POLLERR)))
		flush_in(c);
	return 0;
}

/* Registers each fd for what it is wanted for now. */
static void sync_fds(struct chan *c)
{
	int fds[4] = {-1, -1, -1, -1};
	short evs[4] = {0};
	int n = 0;
	bool room = c->ch && ssh_channel_window_size(c->ch) > 0;
	int cand[4] = {c->out[0], c->out[1], c->in, c->exited ? -1 : c->exitfd};
	short want[4] = {room ? POLLIN : 0, room ? POLLIN : 0, c->inlen ? POLLOUT : 0, POLLIN};
	for (int k = 0; k < 4; k++) {
		if (cand[k] < 0 || !want[k])
			continue;
		int j = 0;
		while (j < n && fds[j] != cand[k])
			j++;
		if (j == n)
			fds[n++] = cand[k];
		evs[j] |= want[k];
	}
	for (int i = 0; i < 4; i++) {
		bool keep = false;
		for (int j = 0; j < n; j++)
			keep |= fds[j] == c->reg_fd[i] && evs[j] == c->reg_ev[i];
		if (c->reg_fd[i] >= 0 && !keep) {
			ssh_event_remove_fd(c->conn->ev, c->reg_fd[i]);
			c->reg_fd[i] = -1;
		}
	}
	for (int j = 0; j < n; j++) {
		int free_slot = -1;
		bool have = false;
		for (int i = 0; i < 4; i++) {
			have |= c->reg_fd[i] == fds[j];
			if (c->reg_fd[i] < 0 && free_slot < 0)
				free_slot = i;
		}
		if (have || free_slot < 0)
			continue;
		if (ssh_event_add_fd(c->conn->ev, fds[j], evs[j], on_fd, c) == SSH_OK) {
			c->reg_fd[free_slot] = fds[j];
			c->reg_ev[free_slot] = evs[j];
		}
	}
}

static void finish(struct chan *c, int code)
{
	unregister_all(c);
	ssh_channel_request_send_exit_status(c->ch, code);
	ssh_channel_send_eof(c->ch);
	ssh_channel_close(c->ch);
	c->kind = CH_DONE;
}

static void step_proc(struct chan *c)
{
	reap_outs(c);
	if (c->peer_eof && !c->inlen && !c->in_closed && !c->pty) {
		forget_fd(c, c->in);
		platform_ssh_proc_close_fd(c->proc, 0);
		c->in = -1;
		c->in_closed = true;
	}
	if (!c->exited)
		return;
	for (int i = 0; i < 2; i++)
		while (pump_out(c, i))
			;
	reap_outs(c);
	if (c->out[0] >= 0 || c->out[1] >= 0)
		return; /* the client's window is full: later */
	unregister_all(c);
	int code = platform_ssh_proc_end(c->conn->srv->pf, c->proc);
	c->proc = NULL;
	c->in = c->exitfd = -1;
	finish(c, code < 0 ? 255 : code);
}

static void step_fwd(struct chan *c)
{
	reap_outs(c);
	if (c->peer_eof && !c->inlen && !c->in_closed) {
		shutdown(c->sock, SHUT_WR);
		c->in = -1;
		c->in_closed = true;
	}
	if (c->out[0] < 0 && !c->exited) {
		c->exited = true;
		ssh_channel_send_eof(c->ch);
	}
	if (c->exited && c->in_closed) {
		unregister_all(c);
		ssh_channel_close(c->ch);
		c->kind = CH_DONE;
	}
}

static void step(struct chan *c)
{
	if (c->fail_msg && c->kind != CH_DONE) {
		ssh_channel_write_stderr(c->ch, c->fail_msg, (uint32_t)strlen(c->fail_msg));
		finish(c, 255);
		return;
	}
	if (c->kind == CH_PROC)
		step_proc(c);
	else if (c->kind == CH_FWD)
		step_fwd(c);
	else if (c->kind == CH_SFTP && ssh_sftp_pump(c->sftp) < 0)
		finish(c, 0);
	if (c->kind == CH_PROC || c->kind == CH_FWD) {
		flush_in(c);
		sync_fds(c);
	}
}

/* ------------------------------------------------------------ session */

static int key_type_blob(ssh_key key, char *out, size_t len)
{
	char *b64 = NULL;
	const char *type = ssh_key_type_to_char(ssh_key_type(key));
	if (!type || ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK)
		return -1;
	int n = snprintf(out, len, "%s %s", type, b64);
	ssh_string_free_char(b64);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

static int on_auth_pubkey(ssh_session s, const char *user, struct ssh_key_struct *key, char state,
			  void *ud)
{
	struct conn *cn = ud;
	if (cn->authed || ++cn->auth_tries > AUTH_TRIES_MAX)
		return SSH_AUTH_DENIED;
	char tb[1024];
	struct ssh_target t;
	struct error err = {0};
	if (key_type_blob(key, tb, sizeof(tb)) < 0 ||
	    (cn->pin[0] ? platform_ssh_find_in(cn->srv->pf, tb, cn->pin, &t, &err)
			: platform_ssh_find(cn->srv->pf, tb, user, &t, &err)) < 0) {
		log_debug("ssh: %s: key refused: %s", cn->peer, err.msg);
		return SSH_AUTH_DENIED;
	}
	if (state == SSH_PUBLICKEY_STATE_NONE)
		return SSH_AUTH_SUCCESS; /* "this key would do": the client signs next */
	if (state != SSH_PUBLICKEY_STATE_VALID)
		return SSH_AUTH_DENIED;
	if (!ssh_count_take(cn->srv, &cn->srv->per_container, t.container_id,
			    cn->srv->cfg.max_conns_per_container)) {
		log_info("ssh: %s: too many sessions on container %s", cn->peer, t.container_id);
		return SSH_AUTH_DENIED;
	}
	cn->counted = true;
	cn->target = t;
	cn->authed = true;
	log_info("ssh: %s logged in to container %s", cn->peer, t.container_id);
	return SSH_AUTH_SUCCESS;
}

static ssh_channel on_session_open(ssh_session s, void *ud)
{
	struct conn *cn = ud;
	struct chan *c = cn->authed ? chan_new(cn, CH_NEW) : NULL;
	if (!c)
		return NULL;
	ssh_channel ch = ssh_channel_new(s);
	if (!ch) {
		for (size_t i = 0; i < SSH_CHANNELS_MAX; i++)
			if (cn->chans[i] == c)
				cn->chans[i] = NULL;
		chan_free(c);
		return NULL;
	}
	chan_attach(c, ch);
	return ch;
}

/* Only the container's own loopback: the front door is not a way into
 * other containers or the host's network. */
static bool local_destination(const char *host)
{
	return host && (!strcmp(host, "localhost") || !strcmp(host, "127.0.0.1"));
}

static int connected(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (poll(&p, 1, 2000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ||
	    soerr)
		return -1;
	return 0;
}

static void open_forward(struct conn *cn, ssh_message m)
{
	const char *host = ssh_message_channel_request_open_destination(m);
	int port = ssh_message_channel_request_open_destination_port(m);
	struct error err = {0};
	_cleanup_close_ int fd = -1;
	struct chan *c = NULL;
	if (!local_destination(host) || port < 1 || port > 65535) {
		log_debug("ssh: %s: forward to %s:%d refused", cn->peer, host ? host : "", port);
		goto refuse;
	}
	fd = platform_ssh_connect(cn->srv->pf, &cn->target, (uint16_t)port, &err);
	if (fd < 0 || connected(fd) < 0 || !(c = chan_new(cn, CH_FWD)))
		goto refuse;
	ssh_channel ch = ssh_message_channel_request_open_reply_accept(m);
	if (!ch) {
		for (size_t i = 0; i < SSH_CHANNELS_MAX; i++)
			if (cn->chans[i] == c)
				cn->chans[i] = NULL;
		chan_free(c);
		return;
	}
	chan_attach(c, ch);
	c->sock = c->in = c->out[0] = steal_fd(&fd);
	return;
refuse:
	ssh_message_reply_default(m);
}

static int on_message(ssh_session s, ssh_message m, void *ud)
{
	struct conn *cn = ud;
	if (cn->authed && ssh_message_type(m) == SSH_REQUEST_CHANNEL_OPEN &&
	    ssh_message_subtype(m) == SSH_CHANNEL_DIRECT_TCPIP) {
		open_forward(cn, m);
		return 0;
	}
	return 1; /* libssh refuses it */
}

static bool closed(ssh_session s)
{
	return ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR);
}

/* Non-blocking, so a client that stalls the handshake holds its thread
 * only until the login deadline or a shutdown, whichever comes first. */
static bool key_exchange(struct conn *cn, int64_t deadline)
{
	ssh_set_blocking(cn->session, 0);
	int rc;
	while ((rc = ssh_handle_key_exchange(cn->session)) == SSH_AGAIN) {
		if (mono_ns() > deadline || ssh_server_stopping(cn->srv)) {
			rc = SSH_ERROR;
			break;
		}
		struct pollfd p = {.fd = ssh_get_fd(cn->session), .events = POLLIN};
		poll(&p, 1, POLL_MS);
	}
	ssh_set_blocking(cn->session, 1);
	return rc == SSH_OK;
}

static bool authenticate(struct conn *cn, int64_t deadline)
{
	while (!cn->authed) {
		if (mono_ns() > deadline || closed(cn->session) || ssh_server_stopping(cn->srv) ||
		    cn->auth_tries > AUTH_TRIES_MAX)
			return false;
		if (ssh_event_dopoll(cn->ev, POLL_MS) == SSH_ERROR)
			return false;
	}
	return true;
}

static void serve(struct conn *cn)
{
	while (!closed(cn->session) && !ssh_server_stopping(cn->srv)) {
		if (ssh_event_dopoll(cn->ev, POLL_MS) == SSH_ERROR)
			break;
		for (size_t i = 0; i < SSH_CHANNELS_MAX; i++) {
			struct chan *c = cn->chans[i];
			if (!c)
				continue;
			if (c->ch && (ssh_channel_is_closed(c->ch) ||
				      (c->kind == CH_DONE && ssh_channel_is_eof(c->ch)))) {
				cn->chans[i] = NULL;
				chan_free(c);
				continue;
			}
			step(c);
		}
	}
}

void ssh_conn_run(struct ssh_server *s, ssh_session session, const char *peer, const char *pin)
{
	struct conn *cn = xcalloc(1, sizeof(*cn));
	cn->srv = s;
	cn->session = session;
	snprintf(cn->peer, sizeof(cn->peer), "%s", peer);
	snprintf(cn->pin, sizeof(cn->pin), "%s", pin ? pin : "");
	long timeout = s->cfg.auth_timeout_s;
	ssh_options_set(session, SSH_OPTIONS_TIMEOUT, &timeout);
	cn->cb.size = sizeof(cn->cb);
	cn->cb.userdata = cn;
	cn->cb.auth_pubkey_function = on_auth_pubkey;
	cn->cb.channel_open_request_session_function = on_session_open;
	ssh_callbacks_init(&cn->cb);
	ssh_set_server_callbacks(session, &cn->cb);
	ssh_set_auth_methods(session, SSH_AUTH_METHOD_PUBLICKEY);
	ssh_set_message_callback(session, on_message, cn);
	int64_t deadline = mono_ns() + (int64_t)s->cfg.auth_timeout_s * 1000000000LL;
	if (key_exchange(cn, deadline)) {
		cn->ev = ssh_event_new();
		if (cn->ev && ssh_event_add_session(cn->ev, session) == SSH_OK &&
		    authenticate(cn, deadline))
			serve(cn);
	}
	for (size_t i = 0; i < SSH_CHANNELS_MAX; i++)
		if (cn->chans[i])
			chan_free(cn->chans[i]);
	if (cn->ev) {
		ssh_event_remove_session(cn->ev, session);
		ssh_event_free(cn->ev);
	}
	if (cn->counted) {
		ssh_count_drop(s, &s->per_container, cn->target.container_id);
		log_info("ssh: %s left container %s", cn->peer, cn->target.container_id);
	}
	ssh_disconnect(session);
	ssh_free(session);
	free(cn);
}
