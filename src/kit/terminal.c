/* Terminal service (kit-api.md §4): shared PTY sessions, the ttyd-style
 * WebSocket protocol of §4.3, session routes (§4.2) and one-shot execute
 * (§4.4, in execute.c).
 *
 * A session is one PTY process. A reader thread per session copies its
 * output into a ring (history for reattaching clients and /raw) and to every
 * attached client. While any client has paused, the reader stops reading
 * the PTY: flow control reaches the process, no output is dropped. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "kit/kit.h"
#include "kit/terminal.h"

#define RING_SIZE (256 * 1024)
#define HISTORY_MAX 1000
#define LINE_MAX_LEN 1024
#define SESSIONS_MAX 256
#define EPHEMERAL_MIN 40000
#define EPHEMERAL_MAX 65535
#define EPHEMERAL_IDLE_MS (10 * 60 * 1000)

struct client {
	int fd;
	bool readonly, paused;
	struct client *next;
};

struct session {
	int id;
	pid_t pid;
	int master;
	char shell[256], shell_type[32], user[64];
	bool ephemeral, exited;
	int64_t created_ms, last_ms;
	char *ring;
	size_t ring_len, ring_head; /* ring_head: where the next byte goes */
	struct client *clients;
	int npaused;
	char *hist[HISTORY_MAX];
	int64_t hist_ms[HISTORY_MAX];
	int nhist;
	char line[LINE_MAX_LEN];
	size_t linelen;
	int esc; /* 0, 1 after ESC, 2 inside CSI/SS3: terminal replies and keys are not typed text
		  */
	int refs;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct session *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct session *g_sessions;

static void session_unref(struct session *s)
{
	pthread_mutex_lock(&g_lock);
	bool last = --s->refs == 0;
	pthread_mutex_unlock(&g_lock);
	if (!last)
		return;
	for (int i = 0; i < s->nhist; i++)
		free(s->hist[i]);
	free(s->ring);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
}

/* Takes a reference; NULL when absent. */
static struct session *session_get(int id)
{
	pthread_mutex_lock(&g_lock);
	struct session *s = g_sessions;
	while (s && s->id != id)
		s = s->next;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&g_lock);
	return s;
}

static void unlink_session(struct session *s)
{
	pthread_mutex_lock(&g_lock);
	for (struct session **pp = &g_sessions; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			s->refs--;
			break;
		}
	pthread_mutex_unlock(&g_lock);
}

static void ring_put(struct session *s, const char *p, size_t n)
{
	if (n >= RING_SIZE) {
		p += n - RING_SIZE;
		n = RING_SIZE;
	}
	size_t first = RING_SIZE - s->ring_head < n ? RING_SIZE - s->ring_head : n;
	memcpy(s->ring + s->ring_head, p, first);
	memcpy(s->ring, p + first, n - first);
	s->ring_head = (s->ring_head + n) % RING_SIZE;
	s->ring_len = s->ring_len + n > RING_SIZE ? RING_SIZE : s->ring_len + n;
}

/* The ring in order, into b (session locked). */
static void ring_copy(struct session *s, struct buf *b)
{
	size_t start = (s->ring_head + RING_SIZE - s->ring_len) % RING_SIZE;
	size_t first = RING_SIZE - start < s->ring_len ? RING_SIZE - start : s->ring_len;
	buf_put(b, s->ring + start, first);
	buf_put(b, s->ring, s->ring_len - first);
}

static void session_history_add(struct session *s, const char *cmd)
{
	if (!*cmd)
		return;
	if (s->nhist == HISTORY_MAX) {
		free(s->hist[0]);
		memmove(s->hist, s->hist + 1, (HISTORY_MAX - 1) * sizeof(s->hist[0]));
		memmove(s->hist_ms, s->hist_ms + 1, (HISTORY_MAX - 1) * sizeof(s->hist_ms[0]));
		s->nhist--;
	}
	s->hist[s->nhist] = xstrdup(cmd);
	s->hist_ms[s->nhist++] = now_ms();
}

/* Typed lines become the command history (what Enter submitted). */
static void track_input(struct session *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (s->esc == 1) {
			s->esc = c == '[' || c == 'O' ? 2 : 0;
			continue;
		}
		if (s->esc == 2) {
			if (c >= 0x40 && c <= 0x7e)
				s->esc = 0;
			continue;
		}
		if (c == 0x1b) {
			s->esc = 1;
		} else if (c == '\r' || c == '\n') {
			s->line[s->linelen] = '\0';
			session_history_add(s, s->line);
			s->linelen = 0;
		} else if (c == 0x7f || c == 0x08) {
			if (s->linelen)
				s->linelen--;
		} else if (c == 0x03 || c == 0x15) {
			s->linelen = 0;
		} else if ((unsigned char)c >= 0x20 && s->linelen < LINE_MAX_LEN - 1) {
			s->line[s->linelen++] = c;
		}
	}
}

static void broadcast(struct session *s, const char *p, size_t n)
{
	for (struct client *c = s->clients; c; c = c->next)
		if (c->fd >= 0 && !ws_send2(c->fd, 2, '0', p, n))
			shutdown(c->fd, SHUT_RDWR);
}

static void *reader_thread(void *arg)
{
	struct session *s = arg;
	char buf[16384];
	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (s->npaused > 0 && !s->exited)
			pthread_cond_wait(&s->cond, &s->lock);
		pthread_mutex_unlock(&s->lock);
		ssize_t n = read(s->master, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		pthread_mutex_lock(&s->lock);
		ring_put(s, buf, (size_t)n);
		s->last_ms = mono_ms();
		broadcast(s, buf, (size_t)n);
		pthread_mutex_unlock(&s->lock);
	}
	int st;
	while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
		;
	unlink_session(s);
	pthread_mutex_lock(&s->lock);
	s->exited = true;
	/* The process is gone: every client is told with a normal close. */
	for (struct client *c = s->clients; c; c = c->next)
		if (c->fd >= 0) {
			ws_close(c->fd, 1000);
			shutdown(c->fd, SHUT_RD);
		}
	close(s->master);
	s->master = -1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	session_unref(s);
	return NULL;
}

static int pty_spawn(struct session *s, const struct spawn *sp, int cols, int rows, char *msg,
		     size_t mlen)
{
	_cleanup_close_ int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	char name[128];
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0) {
		snprintf(msg, mlen, "cannot open a pty: %s", strerror(errno));
		return -1;
	}
	struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
	ioctl(m, TIOCSWINSZ, &ws);
	/* The peer of this very master, whatever /dev/pts is mounted there. */
	_cleanup_close_ int sl = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (sl < 0)
		sl = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	pid_t pid = sl < 0 ? -1 : fork();
	if (pid < 0) {
		snprintf(msg, mlen, "cannot start the shell: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		setsid();
		ioctl(sl, TIOCSCTTY, 0);
		dup2(sl, 0), dup2(sl, 1), dup2(sl, 2);
		if (sl > 2)
			close(sl);
		signal(SIGPIPE, SIG_DFL);
		const char *base = strrchr(s->shell, '/');
		char argv0[260];
		snprintf(argv0, sizeof(argv0), "-%s", base ? base + 1 : s->shell);
		char *argv[] = {argv0, NULL};
		child_exec(sp, s->shell, argv);
	}
	s->pid = pid;
	s->master = steal_fd(&m);
	return 0;
}

static int ephemeral_id_locked(void)
{
	for (int id = EPHEMERAL_MIN; id <= EPHEMERAL_MAX; id++) {
		struct session *s = g_sessions;
		while (s && s->id != id)
			s = s->next;
		if (!s)
			return id;
	}
	return -1;
}

/* Finds or creates session id (0 = a new ephemeral one); a reference is
 * returned. *created tells which. */
static struct session *session_open(int id, bool ephemeral, const struct spawn *sp, int cols,
				    int rows, bool *created, char *msg, size_t mlen)
{
	struct session *s = id > 0 ? session_get(id) : NULL;
	if (created)
		*created = false;
	if (s)
		return s;
	char why[256];
	if (!spawn_check(sp, why, sizeof(why))) {
		snprintf(msg, mlen, "%s", why);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->ring = xmalloc(RING_SIZE);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	struct kit_user u = {0};
	if (sp->user && *sp->user)
		user_lookup(sp->user, &u);
	else
		user_lookup("0", &u);
	snprintf(s->user, sizeof(s->user), "%s", *u.name ? u.name : "root");
	shell_resolve(sp->shell, &u, s->shell, sizeof(s->shell), s->shell_type,
		      sizeof(s->shell_type));
	s->created_ms = now_ms();
	s->last_ms = mono_ms();
	pthread_mutex_lock(&g_lock);
	int count = 0;
	for (struct session *o = g_sessions; o; o = o->next)
		count++;
	struct session *race = NULL;
	for (struct session *o = g_sessions; id > 0 && o; o = o->next)
		if (o->id == id)
			race = o;
	if (race || count >= SESSIONS_MAX || (id <= 0 && (id = ephemeral_id_locked()) < 0)) {
		if (race)
			race->refs++;
		pthread_mutex_unlock(&g_lock);
		free(s->ring);
		free(s);
		if (!race)
			snprintf(msg, mlen, "too many terminal sessions (max %d)", SESSIONS_MAX);
		return race;
	}
	s->id = id;
	s->ephemeral = ephemeral || id >= EPHEMERAL_MIN;
	if (pty_spawn(s, sp, cols, rows, msg, mlen) < 0) {
		pthread_mutex_unlock(&g_lock);
		free(s->ring);
		free(s);
		return NULL;
	}
	s->refs = 3; /* list, reader thread, caller */
	s->next = g_sessions;
	g_sessions = s;
	pthread_mutex_unlock(&g_lock);
	if (!thread_spawn(reader_thread, s, 128 * 1024)) {
		/* no reader: end the process; the session goes with the list's reference */
		kill(-s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		close(s->master);
		s->master = -1;
		s->exited = true;
		unlink_session(s);
		session_unref(s); /* the reader's */
	}
	if (created)
		*created = true;
	return s;
}

static void session_kill(struct session *s)
{
	pthread_mutex_lock(&s->lock);
	if (!s->exited && s->pid > 0) {
		kill(-s->pid, SIGHUP);
		kill(s->pid, SIGKILL);
		kill(-s->pid, SIGKILL);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Ephemeral sessions idle without clients for long are ended. */
static void reap_idle(void)
{
	int64_t now = mono_ms();
	struct session *victims[SESSIONS_MAX];
	int n = 0;
	pthread_mutex_lock(&g_lock);
	for (struct session *s = g_sessions; s && n < SESSIONS_MAX; s = s->next)
		if (s->ephemeral && !s->clients && now - s->last_ms > EPHEMERAL_IDLE_MS) {
			s->refs++;
			victims[n++] = s;
		}
	pthread_mutex_unlock(&g_lock);
	for (int i = 0; i < n; i++) {
		session_kill(victims[i]);
		session_unref(victims[i]);
	}
}

/* ---------------------------------------------------------------- queries */

void envlist_add(struct envlist *e, const char *kv)
{
	if (e->n < 64 && strchr(kv, '=') && strlen(kv) < 8192) {
		e->v[e->n++] = xstrdup(kv);
		e->v[e->n] = NULL;
	}
}

static void env_add(const char *v, void *arg)
{
	envlist_add(arg, v);
}

void envlist_free(struct envlist *e)
{
	for (int i = 0; i < e->n; i++)
		free(e->v[i]);
	e->n = 0;
}

int term_id_param(struct req *r, int dflt)
{
	char v[32];
	if (!q_get(r, "terminal_id", v, sizeof(v)))
		return dflt;
	char *e;
	long id = strtol(v, &e, 10);
	/* A malformed id means session 1 (what the public CLI expects). */
	if (*e || e == v || id < 0 || id > 65535)
		return 1;
	return (int)id;
}

void spawn_from_query(struct req *r, struct spawn_query *q)
{
	memset(q, 0, sizeof(*q));
	q->sp.shell = q_get(r, "shell", q->shell, sizeof(q->shell));
	q->sp.user = q_get(r, "user", q->user, sizeof(q->user));
	q->sp.cwd = q_get(r, "cwd", q->cwd, sizeof(q->cwd));
	q->sp.cwd_create = q_flag(r, "cwd_auto_create");
	q_each(r, "env", env_add, &q->env);
	q->env.v[q->env.n] = NULL;
	q->sp.env = q->env.v;
}

/* ------------------------------------------------------------- WebSocket */

static bool json_dims(const char *p, size_t n, int *cols, int *rows)
{
	struct jv *v = json_parse(p, n);
	if (!v)
		return false;
	long long c, r;
	if (jv_int(v, "columns", &c) && c > 0 && c <= 4096)
		*cols = (int)c;
	if (jv_int(v, "rows", &r) && r > 0 && r <= 4096)
		*rows = (int)r;
	jv_free(v);
	return true;
}

static void detach(struct session *s, struct client *c)
{
	pthread_mutex_lock(&s->lock);
	for (struct client **pp = &s->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->paused) {
		s->npaused--;
		pthread_cond_broadcast(&s->cond);
	}
	s->last_ms = mono_ms();
	pthread_mutex_unlock(&s->lock);
}

static void setup_frames(struct req *r, struct session *s)
{
	char title[512], host[256] = "";
	gethostname(host, sizeof(host) - 1);
	snprintf(title, sizeof(title), "%s (%s)", s->shell_type, host);
	char id[16];
	snprintf(id, sizeof(id), "%d", s->id);
	ws_send2(r->fd, 2, '1', title, strlen(title));
	ws_send2(r->fd, 2, '2', "{}", 2);
	ws_send2(r->fd, 2, '3', id, strlen(id));
	ws_send2(r->fd, 2, '4', s->shell_type, strlen(s->shell_type));
}

static void client_loop(struct req *r, struct session *s, struct client *c, struct buf *msg)
{
	for (;;) {
		int op = ws_recv(r, msg);
		if (op < 0 || op == 8)
			break;
		if (msg->len == 0)
			continue;
		char cmd = msg->p[0];
		pthread_mutex_lock(&s->lock);
		if (s->exited) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		if (cmd == '0' && !c->readonly) {
			track_input(s, msg->p + 1, msg->len - 1);
			s->last_ms = mono_ms();
			pthread_mutex_unlock(&s->lock);
			write_all(s->master, msg->p + 1, msg->len - 1);
			continue;
		}
		if (cmd == '1' || cmd == '{') {
			int cols = 0, rows = 0;
			if (json_dims(msg->p + (cmd == '1'), msg->len - (cmd == '1'), &cols,
				      &rows) &&
			    cols && rows) {
				struct winsize ws = {.ws_row = (unsigned short)rows,
						     .ws_col = (unsigned short)cols};
				ioctl(s->master, TIOCSWINSZ, &ws);
			}
		} else if (cmd == '2' && !c->paused) {
			c->paused = true;
			s->npaused++;
		} else if (cmd == '3' && c->paused) {
			c->paused = false;
			s->npaused--;
			pthread_cond_broadcast(&s->cond);
		}
		pthread_mutex_unlock(&s->lock);
	}
}

static void term_ws(struct req *r)
{
	char cmd64[8192];
	struct spawn_query *q = xmalloc(sizeof(*q)); /* 4.5 KiB: not on a small stack */
	int id = term_id_param(r, 1);
	bool readonly = q_flag(r, "readonly");
	spawn_from_query(r, q);
	if (!ws_accept(r)) {
		envlist_free(&q->env);
		free(q);
		return;
	}
	struct buf msg = {0};
	int cols = 80, rows = 24;
	/* The init frame comes first on every (re)connect. */
	int op = ws_recv(r, &msg);
	if (op < 0 || op == 8 || msg.len == 0 || msg.p[0] != '{' ||
	    !json_dims(msg.p, msg.len, &cols, &rows)) {
		ws_close(r->fd, 1008);
		goto out;
	}
	char why[256] = "";
	bool created;
	struct session *s = session_open(id, id == 0 || q_flag(r, "ephemeral"), &q->sp, cols, rows,
					 &created, why, sizeof(why));
	if (!s) {
		ws_send2(r->fd, 2, '0', why, strlen(why));
		ws_close(r->fd, 1011);
		goto out;
	}
	struct client c = {.fd = r->fd, .readonly = readonly};
	pthread_mutex_lock(&s->lock);
	setup_frames(r, s);
	if (!created) {
		struct buf hist = {0};
		ring_copy(s, &hist);
		if (hist.len)
			ws_send2(r->fd, 2, '0', hist.p, hist.len);
		buf_free(&hist);
		struct winsize ws = {.ws_row = (unsigned short)rows,
				     .ws_col = (unsigned short)cols};
		ioctl(s->master, TIOCSWINSZ, &ws);
	}
	bool exited = s->exited;
	if (!exited) {
		c.next = s->clients;
		s->clients = &c;
	}
	pthread_mutex_unlock(&s->lock);
	if (exited) {
		ws_close(r->fd, 1000);
	} else {
		char dec[6144];
		if (created && q_get(r, "cmd", cmd64, sizeof(cmd64))) {
			size_t n = base64_decode(cmd64, (unsigned char *)dec, sizeof(dec) - 1);
			if (n && dec[n - 1] != '\r' && dec[n - 1] != '\n')
				dec[n++] = '\r';
			write_all(s->master, dec, n);
		}
		client_loop(r, s, &c, &msg);
		detach(s, &c);
		pthread_mutex_lock(&s->lock);
		if (!s->exited)
			ws_close(r->fd, 1000);
		pthread_mutex_unlock(&s->lock);
	}
	session_unref(s);
out:
	buf_free(&msg);
	envlist_free(&q->env);
	free(q);
}

/* ----------------------------------------------------------- HTTP routes */

static void session_json(struct buf *b, struct session *s, int hist_limit)
{
	buf_printf(b, "{\"terminal_id\":\"%d\",\"shell\":", s->id);
	buf_json_str(b, s->shell_type);
	buf_printf(b,
		   ",\"status\":\"%s\",\"pid\":%d,\"username\":", s->exited ? "exited" : "running",
		   (int)s->pid);
	buf_json_str(b, s->user);
	buf_printf(
	    b, ",\"ephemeral\":%s,\"display\":null,\"clients\":", s->ephemeral ? "true" : "false");
	int nc = 0;
	for (struct client *c = s->clients; c; c = c->next)
		nc++;
	buf_printf(b, "%d,\"created_at\":%lld,\"last_activity\":%lld,\"command_history\":[", nc,
		   (long long)s->created_ms, (long long)(now_ms() - (mono_ms() - s->last_ms)));
	int from = s->nhist > hist_limit ? s->nhist - hist_limit : 0;
	for (int i = from; i < s->nhist; i++) {
		if (i > from)
			buf_puts(b, ",");
		buf_json_str(b, s->hist[i]);
	}
	buf_puts(b, "]}");
}

static void route_sessions(struct req *r)
{
	char v[16];
	int limit = 50;
	if (q_get(r, "history_limit", v, sizeof(v)) || q_get(r, "history_lines", v, sizeof(v)))
		limit = atoi(v);
	if (limit < 0)
		limit = 0;
	if (limit > 1000)
		limit = 1000;
	reap_idle();
	struct buf b = {0};
	buf_puts(&b, "[");
	pthread_mutex_lock(&g_lock);
	bool first = true;
	for (struct session *s = g_sessions; s; s = s->next) {
		if (!first)
			buf_puts(&b, ",");
		first = false;
		pthread_mutex_lock(&s->lock);
		session_json(&b, s, limit);
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&g_lock);
	buf_puts(&b, "]");
	send_ok(r, 200, b.p);
	buf_free(&b);
}

static int path_id(const char *rest)
{
	char *e;
	long id = strtol(rest, &e, 10);
	if (e == rest || *e || id < 1 || id > 65535)
		return -1;
	return (int)id;
}

static void route_history(struct req *r, const char *rest)
{
	int id = path_id(rest);
	struct session *s = id > 0 ? session_get(id) : NULL;
	if (!s) {
		send_err(r, 404, "no terminal session %s", rest);
		return;
	}
	struct buf b = {0};
	pthread_mutex_lock(&s->lock);
	buf_printf(&b, "{\"terminal_id\":\"%d\",\"status\":\"%s\",\"commands\":[", s->id,
		   s->exited ? "exited" : "running");
	for (int i = 0; i < s->nhist; i++) {
		buf_printf(&b, "%s{\"command\":", i ? "," : "");
		buf_json_str(&b, s->hist[i]);
		buf_printf(&b, ",\"timestamp\":%lld}", (long long)s->hist_ms[i]);
	}
	buf_puts(&b, "]}");
	pthread_mutex_unlock(&s->lock);
	session_unref(s);
	send_ok(r, 200, b.p);
	buf_free(&b);
}

static void route_delete(struct req *r, const char *rest)
{
	int id = path_id(rest);
	struct session *s = id > 0 ? session_get(id) : NULL;
	if (!s) {
		send_err(r, 404, "no terminal session %s", rest);
		return;
	}
	session_kill(s);
	/* Wait (bounded) for the reader to see the end, so a list right after
	 * no longer shows it. */
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < 50 && !s->exited; i++) {
		pthread_mutex_unlock(&s->lock);
		usleep(20000);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	session_unref(s);
	char d[64];
	snprintf(d, sizeof(d), "{\"terminal_id\":\"%d\",\"deleted\":true}", id);
	send_ok(r, 200, d);
}

static void route_raw(struct req *r)
{
	int id = term_id_param(r, 1);
	struct session *s = session_get(id);
	if (!s) {
		send_err(r, 404, "no terminal session %d", id);
		return;
	}
	struct buf b = {0};
	pthread_mutex_lock(&s->lock);
	ring_copy(s, &b);
	pthread_mutex_unlock(&s->lock);
	session_unref(s);
	char v[16];
	if (q_get(r, "tail", v, sizeof(v)) && atoi(v) > 0) {
		int want = atoi(v);
		size_t i = b.len;
		if (i && b.p[i - 1] == '\n')
			i--;
		while (i > 0 && want > 0)
			if (b.p[--i] == '\n')
				want--;
		size_t start = (i > 0 || (b.len && b.p[0] == '\n')) && want == 0 ? i + 1 : 0;
		memmove(b.p, b.p + start, b.len - start);
		b.len -= start;
	}
	char fmt[16] = "download";
	q_get(r, "format", fmt, sizeof(fmt));
	const char *ct =
	    strcmp(fmt, "html") == 0 ? "text/html; charset=utf-8" : "text/plain; charset=utf-8";
	const char *extra = strcmp(fmt, "download") == 0
				? "Content-Disposition: attachment; filename=\"terminal.log\"\r\n"
				: NULL;
	send_body(r, 200, ct, b.p ? b.p : "", b.len, extra);
	buf_free(&b);
}

static void route_create(struct req *r)
{
	struct buf body = {0};
	if (req_body(r, KIT_JSON_BODY_MAX, &body) < 0) {
		send_err(r, 413, "body too large");
		return;
	}
	struct jv *j = body.len ? json_parse(body.p, body.len) : xcalloc(1, sizeof(struct jv));
	buf_free(&body);
	if (!j || (j->t != J_OBJ && j->t != J_NULL)) {
		jv_free(j);
		send_err(r, 400, "body must be a JSON object");
		return;
	}
	long long id = 0, cols = 80, rows = 24;
	bool eph = jv_bool(j, "ephemeral", false);
	if (!jv_int(j, "terminal_id", &id) && !eph)
		id = term_id_param(r, -1);
	jv_int(j, "cols", &cols);
	jv_int(j, "rows", &rows);
	if ((id < 1 && !eph) || id > 65535 || id < 0 || cols < 1 || cols > 4096 || rows < 1 ||
	    rows > 4096) {
		jv_free(j);
		send_err(r, 400,
			 "terminal_id (1-65535) is required unless ephemeral; cols/rows 1-4096");
		return;
	}
	struct spawn sp = {.shell = jv_str(j, "shell"),
			   .user = jv_str(j, "user"),
			   .cwd = jv_str(j, "cwd"),
			   .cwd_create = jv_bool(j, "cwd_auto_create", false)};
	char why[256] = "";
	bool created;
	struct session *s =
	    session_open((int)id, eph, &sp, (int)cols, (int)rows, &created, why, sizeof(why));
	jv_free(j);
	if (!s) {
		send_err(r, 400, "%s", why);
		return;
	}
	struct buf b = {0};
	buf_printf(&b, "{\"status\":\"%s\",\"terminal_id\":\"%d\",\"display\":null,\"shell\":",
		   created ? "created" : "exists", s->id);
	buf_json_str(&b, s->shell_type);
	buf_puts(&b, "}");
	session_unref(s);
	send_ok(r, created ? 201 : 200, b.p);
	buf_free(&b);
}

static void route_write(struct req *r)
{
	struct buf body = {0};
	struct jv *j =
	    req_body(r, KIT_JSON_BODY_MAX, &body) == 0 ? json_parse(body.p, body.len) : NULL;
	buf_free(&body);
	const char *input = jv_str(j, "input");
	int id = term_id_param(r, 1);
	struct session *s = input ? session_get(id) : NULL;
	if (!input || !s) {
		jv_free(j);
		if (s)
			session_unref(s);
		send_err(r, input ? 404 : 400,
			 input ? "no terminal session" : "input (string) is required");
		return;
	}
	struct buf in = {0};
	buf_puts(&in, input);
	if (jv_bool(j, "enter", true))
		buf_puts(&in, "\r");
	pthread_mutex_lock(&s->lock);
	track_input(s, in.p, in.len);
	pthread_mutex_unlock(&s->lock);
	bool ok = write_all(s->master, in.p, in.len);
	session_unref(s);
	jv_free(j);
	char d[64];
	snprintf(d, sizeof(d), "{\"written\":%zu,\"success\":%s}", in.len, ok ? "true" : "false");
	buf_free(&in);
	send_ok(r, 200, d);
}

void term_route(struct req *r)
{
	const char *rest;
	const char *p = r->path;
	const char *m = r->method;
	if (strcmp(p, "/api/v1/terminal/ws") == 0)
		term_ws(r);
	else if (strcmp(p, "/api/v1/terminal/sessions") == 0 && !strcmp(m, "GET"))
		route_sessions(r);
	else if (strcmp(p, "/api/v1/terminal/create") == 0 && !strcmp(m, "POST"))
		route_create(r);
	else if (strcmp(p, "/api/v1/terminal/raw") == 0 && !strcmp(m, "GET"))
		route_raw(r);
	else if (strcmp(p, "/api/v1/terminal/write") == 0 && !strcmp(m, "POST"))
		route_write(r);
	else if (path_is(p, "/api/v1/terminal/history/", &rest) && !strcmp(m, "GET"))
		route_history(r, rest);
	else if (path_is(p, "/api/v1/terminal/execute", NULL) ||
		 path_is(p, "/api/v1/terminal/result/", NULL))
		execute_route(r);
	else if (path_is(p, "/api/v1/terminal/", &rest) && !strcmp(m, "DELETE"))
		route_delete(r, rest);
	else
		send_err(r, 404, "no route %s %s", m, p);
}

/* For execute.c: records a command in a session's history when it exists. */
void term_history_note(int id, const char *cmd)
{
	struct session *s = id > 0 ? session_get(id) : NULL;
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	session_history_add(s, cmd);
	pthread_mutex_unlock(&s->lock);
	session_unref(s);
}
