/* Starting shells and commands as a given user, in a given directory, with
 * extra environment: shared by terminal sessions and one-shot execute. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
