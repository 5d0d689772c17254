/* Starting shells and commands as a given user, in a given directory, with
 * extra environment: shared by terminal sessions and one-shot execute. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit/kit.h"

extern char **environ;

void shell_resolve(const char *want, const struct kit_user *u, char *path, size_t plen, char *type,
		   size_t tlen)
{
	if (!(want && *want && find_program(want, path, plen)) &&
	    !(u && *u->shell && !strstr(u->shell, "nologin") && !strstr(u->shell, "false") &&
	      (!want || !*want) && find_program(u->shell, path, plen)) &&
	    !find_program("bash", path, plen))
		snprintf(path, plen, "/bin/sh");
	const char *base = strrchr(path, '/');
	snprintf(type, tlen, "%s", base ? base + 1 : path);
}

bool spawn_check(const struct spawn *s, char *msg, size_t len)
{
	struct kit_user u;
	if (s->user && *s->user && !user_lookup(s->user, &u)) {
		snprintf(msg, len, "no user %s in this container", s->user);
		return false;
	}
	if (s->cwd && *s->cwd) {
		struct stat st;
		if (s->cwd[0] != '/' || strlen(s->cwd) >= 4096) {
			snprintf(msg, len, "cwd must be an absolute path");
			return false;
		}
		if (stat(s->cwd, &st) < 0 && !(s->cwd_create && mkdir_p(s->cwd, 0755, NULL) == 0)) {
			snprintf(msg, len, "cwd %s does not exist", s->cwd);
			return false;
		}
	}
	return true;
}

static void env_set_kv(const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv || eq - kv > 256)
		return;
	char key[257];
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = '\0';
	setenv(key, eq + 1, 1);
}

void child_exec(const struct spawn *s, const char *shell_path, char *const argv[])
{
	struct kit_user u = {0};
	bool have_user = s->user && *s->user && user_lookup(s->user, &u);
	if (!have_user && !user_lookup("0", &u))
		snprintf(u.home, sizeof(u.home), "/root");
	if (!have_user) {
		char self[16];
		snprintf(self, sizeof(self), "%u", (unsigned)getuid());
		user_lookup(self, &u);
	}
	setenv("HOME", u.home, 1);
	if (*u.name) {
		setenv("USER", u.name, 1);
		setenv("LOGNAME", u.name, 1);
	}
	setenv("SHELL", shell_path, 1);
	setenv("TERM", "xterm-256color", 1);
	unsetenv("HOODY_KIT_SOCKET");
	for (char **e = s->env; e && *e; e++)
		env_set_kv(*e);
	if (have_user && u.uid != getuid()) {
		if (setgroups(0, NULL) < 0 && errno != EPERM)
			_exit(126);
		if (setgid(u.gid) < 0 || setuid(u.uid) < 0) {
			fprintf(stderr, "hoody-kit: cannot become %s: %s\r\n", s->user,
				strerror(errno));
			_exit(126);
		}
	}
	const char *dir = s->cwd && *s->cwd ? s->cwd : u.home;
	if (chdir(dir) < 0 && chdir("/") < 0)
		_exit(126);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	execve(shell_path, argv, environ);
	fprintf(stderr, "hoody-kit: exec %s: %s\r\n", shell_path, strerror(errno));
	_exit(127);
}

static void keep(const struct collect *c, int which, const char *p, size_t n)
{
	struct buf *b = which ? c->err : c->out;
	bool *trunc = which ? c->err_trunc : c->out_trunc;
	if (c->lock)
		pthread_mutex_lock(c->lock);
	if (b->len + n > c->cap) {
		if (trunc)
			*trunc = true;
		n = c->cap - b->len;
	}
	buf_put(b, p, n);
	if (c->lock)
		pthread_mutex_unlock(c->lock);
}

int collect_child(pid_t pid, int ofd, int efd, int timeout_ms, const struct collect *c)
{
	struct pollfd p[2] = {{ofd, POLLIN, 0}, {efd, POLLIN, 0}};
	int64_t deadline = timeout_ms > 0 ? mono_ms() + timeout_ms : 0;
	bool killed = false;
	char buf[16384];
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		int64_t left = deadline ? deadline - mono_ms() : -1;
		int n = left == -1 ? poll(p, 2, -1) : left > 0 ? poll(p, 2, (int)left) : 0;
		if (n == 0 && killed)
			break;
		if (n == 0) {
			if (c->lock)
				pthread_mutex_lock(c->lock);
			*c->timed_out = true;
			if (c->lock)
				pthread_mutex_unlock(c->lock);
			kill(-pid, SIGKILL);
			killed = true;
			deadline = mono_ms() + 5000;
			continue;
		}
		for (int i = 0; n > 0 && i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t k = read(p[i].fd, buf, sizeof(buf));
			if (k > 0) {
				keep(c, i, buf, (size_t)k);
			} else if (k == 0 || errno != EINTR) {
				close(p[i].fd);
				p[i].fd = -1;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

bool thread_spawn(void *(*fn)(void *), void *arg, size_t stack)
{
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, stack);
	bool ok = pthread_create(&t, &attr, fn, arg) == 0;
	pthread_attr_destroy(&attr);
	return ok;
}
