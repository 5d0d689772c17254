/* One-shot execute (kit-api.md §4.4). A command runs beside the session's
 * PTY, not typed into it: `shell -c command` in its own process group with
 * separate stdout and stderr pipes, so results are exact. Results are kept
 * (newest RESULTS_MAX) and can be polled from any terminal host. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit/kit.h"
#include "kit/terminal.h"

#define RESULTS_MAX 1000
#define OUTPUT_MAX (4 << 20)
#define RUNNING_MAX 64

struct cmd {
	int id, terminal_id;
	pid_t pid;
	const char *status; /* pending running completed failed timed_out */
	struct buf out, err;
	bool out_trunc, err_trunc;
	int exit_code;
	bool has_exit, timed_out, aborted;
	int timeout_s;
	int64_t started_ms, finished_ms;
	char *command;
	int refs;
	struct cmd *next;
};

static pthread_mutex_t c_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c_done = PTHREAD_COND_INITIALIZER;
static struct cmd *c_list;
static int c_count, c_running, c_next_id = 1;

static void cmd_unref_locked(struct cmd *c)
{
	if (--c->refs)
		return;
	buf_free(&c->out);
	buf_free(&c->err);
	free(c->command);
	free(c);
}

static struct cmd *cmd_find_locked(int id)
{
	for (struct cmd *c = c_list; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

/* Oldest finished results go first when the table is full. */
static void evict_locked(void)
{
	while (c_count >= RESULTS_MAX) {
		struct cmd **victim = NULL;
		for (struct cmd **pp = &c_list; *pp; pp = &(*pp)->next)
			if ((*pp)->finished_ms)
				victim = pp;
		if (!victim)
			return;
		struct cmd *c = *victim;
		*victim = c->next;
		c_count--;
		cmd_unref_locked(c);
	}
}

struct run {
	struct cmd *c;
	int ofd, efd;
};

static void *run_thread(void *arg)
{
	struct run *rn = arg;
	struct cmd *c = rn->c;
	struct collect col = {&c->out,	  &c->err, &c->out_trunc, &c->err_trunc,
			      OUTPUT_MAX, &c_lock, &c->timed_out};
	int st = collect_child(c->pid, rn->ofd, rn->efd, c->timeout_s * 1000, &col);
	pthread_mutex_lock(&c_lock);
	c->has_exit = true;
	c->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	/* completed = ran to its end (exit_code tells how); failed = killed
	 * by a signal (abort) or could not start. */
	c->status = c->timed_out			      ? "timed_out"
		    : WIFEXITED(st) && WEXITSTATUS(st) != 127 ? "completed"
							      : "failed";
	c->finished_ms = now_ms();
	c_running--;
	pthread_cond_broadcast(&c_done);
	cmd_unref_locked(c);
	pthread_mutex_unlock(&c_lock);
	free(rn);
	return NULL;
}

static void result_json(struct buf *b, struct cmd *c)
{
	buf_printf(b,
		   "{\"command_id\":\"%d\",\"id\":\"%d\",\"terminal_id\":\"%d\",\"status\":\"%s\",",
		   c->id, c->id, c->terminal_id, c->status);
	buf_puts(b, "\"command\":");
	buf_json_str(b, c->command);
	buf_puts(b, ",\"stdout\":");
	buf_json_strn(b, c->out.p ? c->out.p : "", c->out.len);
	buf_puts(b, ",\"stderr\":");
	buf_json_strn(b, c->err.p ? c->err.p : "", c->err.len);
	if (c->has_exit)
		buf_printf(b, ",\"exit_code\":%d", c->exit_code);
	else
		buf_puts(b, ",\"exit_code\":null");
	buf_printf(b,
		   ",\"timed_out\":%s,\"aborted\":%s,\"truncated\":%s,\"started_at\":%lld,"
		   "\"finished_at\":",
		   c->timed_out ? "true" : "false", c->aborted ? "true" : "false",
		   c->out_trunc || c->err_trunc ? "true" : "false", (long long)c->started_ms);
	if (c->finished_ms)
		buf_printf(b, "%lld,\"duration_ms\":%lld}", (long long)c->finished_ms,
			   (long long)(c->finished_ms - c->started_ms));
	else
		buf_puts(b, "null,\"duration_ms\":null}");
}

static void env_obj(struct jv *env, struct envlist *out)
{
	for (size_t i = 0; env && env->t == J_OBJ && i < env->count; i++) {
		struct jv *v = &env->items[i];
		if (v->t != J_STR || !*env->keys[i] || strchr(env->keys[i], '='))
			continue;
		struct buf kv = {0};
		buf_printf(&kv, "%s=%s", env->keys[i], v->s);
		envlist_add(out, kv.p);
		buf_free(&kv);
	}
}

/* Starts the command; on failure answers r and returns NULL. */
static struct cmd *cmd_start(struct req *r, struct jv *j, const struct spawn *sp0)
{
	const char *command = jv_str(j, "command");
	long long id = 0, timeout = 0;
	if (!command || !*command || strlen(command) > 256 * 1024) {
		send_err(r, 400, "command (non-empty string, at most 256 KiB) is required");
		return NULL;
	}
	if ((jv_get(j, "id") && (!jv_int(j, "id", &id) || id < 1 || id > 65535)) ||
	    (jv_get(j, "timeout") &&
	     (!jv_int(j, "timeout", &timeout) || timeout < 0 || timeout > 86400))) {
		send_err(r, 400, "id must be 1-65535 and timeout 0-86400 seconds");
		return NULL;
	}
	struct spawn sp = *sp0;
	if (jv_str(j, "cwd"))
		sp.cwd = jv_str(j, "cwd");
	struct envlist env = {0};
	for (char **e = sp0->env; e && *e; e++)
		envlist_add(&env, *e);
	env_obj(jv_get(j, "env"), &env);
	sp.env = env.v;
	char why[256];
	if (!spawn_check(&sp, why, sizeof(why))) {
		envlist_free(&env);
		send_err(r, 400, "%s", why);
		return NULL;
	}
	struct kit_user u = {0};
	if (sp.user && *sp.user)
		user_lookup(sp.user, &u);
	char shell[256], type[32];
	shell_resolve(sp.shell, &u, shell, sizeof(shell), type, sizeof(type));
	pthread_mutex_lock(&c_lock);
	if (id && cmd_find_locked((int)id)) {
		pthread_mutex_unlock(&c_lock);
		envlist_free(&env);
		send_err(r, 409, "command id %lld is already used", id);
		return NULL;
	}
	if (c_running >= RUNNING_MAX) {
		pthread_mutex_unlock(&c_lock);
		envlist_free(&env);
		send_err(r, 503, "too many running commands (max %d)", RUNNING_MAX);
		return NULL;
	}
	if (!id) {
		for (int tries = 0; tries < 65535 && cmd_find_locked(c_next_id); tries++)
			c_next_id = c_next_id % 65535 + 1;
		id = c_next_id;
		c_next_id = c_next_id % 65535 + 1;
	}
	evict_locked();
	_cleanup_close_pair_ int op[2] = {-1, -1}, ep[2] = {-1, -1};
	if (pipe2(op, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		pthread_mutex_unlock(&c_lock);
		envlist_free(&env);
		send_err(r, 503, "pipe: %s", strerror(errno));
		return NULL;
	}
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(op[1], 1);
		dup2(ep[1], 2);
		signal(SIGPIPE, SIG_DFL);
		char *argv[] = {type, "-c", (char *)command, NULL};
		child_exec(&sp, shell, argv);
	}
	closep(&op[1]); /* the child's ends: reading to EOF needs them gone here */
	closep(&ep[1]);
	envlist_free(&env);
	if (pid < 0) {
		pthread_mutex_unlock(&c_lock);
		send_err(r, 503, "fork: %s", strerror(errno));
		return NULL;
	}
	setpgid(pid, pid);
	struct cmd *c = xcalloc(1, sizeof(*c));
	c->id = (int)id;
	c->pid = pid;
	c->status = "running";
	c->timeout_s = (int)timeout;
	c->started_ms = now_ms();
	c->command = xstrdup(command);
	c->refs = 3; /* list, thread, caller */
	c->next = c_list;
	c_list = c;
	c_count++;
	c_running++;
	pthread_mutex_unlock(&c_lock);
	struct run *rn = xmalloc(sizeof(*rn));
	*rn = (struct run){c, steal_fd(&op[0]), steal_fd(&ep[0])};
	if (!thread_spawn(run_thread, rn, 128 * 1024)) {
		kill(-pid, SIGKILL); /* the caller keeps its reference; the result says failed */
		pthread_mutex_lock(&c_lock);
		c->status = "failed";
		c->finished_ms = now_ms();
		c_running--;
		cmd_unref_locked(c);
		pthread_mutex_unlock(&c_lock);
		close(rn->ofd); /* rn never reached the thread: its ends are still ours */
		close(rn->efd);
		waitpid(pid, NULL, 0);
		free(rn);
	}
	return c;
}

static void route_execute(struct req *r)
{
	struct buf body = {0};
	if (req_body(r, KIT_JSON_BODY_MAX, &body) < 0) {
		buf_free(&body);
		send_err(r, 413, "body too large (max 1 MiB)");
		return;
	}
	struct jv *j = json_parse(body.p, body.len);
	buf_free(&body);
	if (!j || j->t != J_OBJ) {
		jv_free(j);
		send_err(r, 400, "body must be a JSON object with a command");
		return;
	}
	struct spawn_query *q = xmalloc(sizeof(*q));
	spawn_from_query(r, q);
	int tid = term_id_param(r, 0);
	char defer[32];
	bool wait = jv_bool(j, "wait", true) && !q_get(r, "defer_pid", defer, sizeof(defer));
	struct cmd *c = cmd_start(r, j, &q->sp);
	envlist_free(&q->env);
	free(q);
	if (!c) {
		jv_free(j);
		return;
	}
	term_history_note(tid, c->command);
	struct buf b = {0};
	pthread_mutex_lock(&c_lock);
	c->terminal_id = tid;
	if (wait) {
		while (!c->finished_ms)
			pthread_cond_wait(&c_done, &c_lock);
		result_json(&b, c);
	} else {
		buf_printf(&b,
			   "{\"command_id\":\"%d\",\"id\":\"%d\",\"terminal_id\":\"%d\",\"status\":"
			   "\"%s\"}",
			   c->id, c->id, tid, c->status);
	}
	cmd_unref_locked(c);
	pthread_mutex_unlock(&c_lock);
	jv_free(j);
	send_ok(r, 200, b.p);
	buf_free(&b);
}

static int parse_id(const char *s, const char **end)
{
	char *e;
	long id = strtol(s, &e, 10);
	if (e == s || id < 1 || id > 65535)
		return -1;
	*end = e;
	return (int)id;
}

static void route_result(struct req *r, const char *rest)
{
	const char *end;
	int id = parse_id(rest, &end);
	pthread_mutex_lock(&c_lock);
	struct cmd *c = id > 0 && !*end ? cmd_find_locked(id) : NULL;
	if (!c) {
		pthread_mutex_unlock(&c_lock);
		send_err(r, 404, "no command %s", rest);
		return;
	}
	struct buf b = {0};
	result_json(&b, c);
	pthread_mutex_unlock(&c_lock);
	send_ok(r, 200, b.p);
	buf_free(&b);
}

static void route_abort(struct req *r, const char *rest)
{
	const char *end;
	int id = parse_id(rest, &end);
	struct buf body = {0};
	struct jv *j = req_body(r, KIT_JSON_BODY_MAX, &body) == 0 && body.len
			   ? json_parse(body.p, body.len)
			   : NULL;
	buf_free(&body);
	bool force = jv_bool(j, "force", false);
	jv_free(j);
	pthread_mutex_lock(&c_lock);
	struct cmd *c = id > 0 && strcmp(end, "/abort") == 0 ? cmd_find_locked(id) : NULL;
	struct buf b = {0};
	int status = 200;
	if (!c) {
		pthread_mutex_unlock(&c_lock);
		send_err(r, 404, "no command %s", rest);
		return;
	}
	if (c->finished_ms) {
		status = 409;
		result_json(&b, c);
	} else {
		c->aborted = true;
		/* Graceful: Ctrl+C to the whole group, like a terminal would. */
		kill(-c->pid, force ? SIGKILL : SIGINT);
		buf_printf(&b, "{\"command_id\":\"%d\",\"status\":\"aborting\",\"force\":%s}",
			   c->id, force ? "true" : "false");
	}
	pthread_mutex_unlock(&c_lock);
	if (status == 409) {
		struct buf e = {0};
		buf_printf(&e,
			   "{\"statusCode\":409,\"error\":\"Conflict\",\"message\":\"command "
			   "already finished\",\"data\":%s}",
			   b.p);
		send_body(r, 409, "application/json", e.p, e.len, NULL);
		buf_free(&e);
	} else {
		send_ok(r, 200, b.p);
	}
	buf_free(&b);
}

void execute_route(struct req *r)
{
	const char *rest;
	if (strcmp(r->path, "/api/v1/terminal/execute") == 0 && !strcmp(r->method, "POST"))
		route_execute(r);
	else if (path_is(r->path, "/api/v1/terminal/execute/", &rest) && !strcmp(r->method, "POST"))
		route_abort(r, rest);
	else if (path_is(r->path, "/api/v1/terminal/result/", &rest) && !strcmp(r->method, "GET"))
		route_result(r, rest);
	else
		send_err(r, 404, "no route %s %s", r->method, r->path);
}
