/* A running container takes a new name without a restart (prespawn claims):
 * the kernel hostname of its UTS namespace and the /etc/hostname and
 * /etc/hosts files bind-mounted from its bundle. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/internal.h"

#define HOSTS_MAX 4096

/* In place (same inode): the container sees the file through a bind mount. */
static int overwrite(const char *path, const char *text, struct error *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return err_sys(err, E_IO, "open %s", path);
	size_t n = strlen(text);
	ssize_t w = write(fd, text, n);
	return w == (ssize_t)n ? 0 : err_sys(err, E_IO, "write %s", path);
}

/* The container's address, from the last line of its hosts file. */
static void hosts_ip(const char *cdir, char *ip, size_t len)
{
	_cleanup_free_ char *path = xasprintf("%s/hosts", cdir);
	_cleanup_free_ char *text = NULL;
	struct error ignored;
	snprintf(ip, len, "127.0.1.1");
	if (read_file(path, HOSTS_MAX, &text, NULL, &ignored) < 0)
		return;
	char *nl = text + strlen(text);
	while (nl > text && nl[-1] == '\n')
		*--nl = '\0';
	char *last = strrchr(text, '\n');
	last = last ? last + 1 : text;
	size_t n = strcspn(last, "\t ");
	if (n > 0 && n < len)
		snprintf(ip, len, "%.*s", (int)n, last);
}

/* sethostname inside the container's UTS namespace, from a short-lived
 * child (setns would move this thread). The child reports over a pipe: the
 * runtime's reaper, not us, collects its exit status. */
static int uts_sethostname(pid_t init, const char *name, struct error *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/uts", (int)init);
	_cleanup_close_ int ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		return err_sys(err, E_RUNTIME, "open %s", path);
	_cleanup_close_pair_ int p[2] = {-1, -1};
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_sys(err, E_RUNTIME, "pipe");
	pid_t pid = fork();
	if (pid < 0)
		return err_sys(err, E_RUNTIME, "fork");
	if (pid == 0) {
		char ok = setns(ns, CLONE_NEWUTS) == 0 && sethostname(name, strlen(name)) == 0;
		if (write(p[1], &ok, 1) < 0)
			_exit(1);
		_exit(0);
	}
	closep(&p[1]); /* a child that dies before writing then reads as EOF */
	char ok = 0;
	ssize_t n = read(p[0], &ok, 1);
	return n == 1 && ok ? 0 : err_set(err, E_RUNTIME, "sethostname in container failed");
}

int rt_set_hostname(struct runtime *rt, const char *id, const char *name, struct error *err)
{
	struct rt_spec probe = {.id = id, .hostname = name, .image = "-"};
	char hostname[RT_HOSTNAME_MAX + 1];
	if (spec_validate(&probe, hostname, err) < 0)
		return -1;
	pid_t init = rt_live_init_pid(rt, id);
	if (!init)
		return err_set(err, E_STATE_CONFLICT, "container %s is not running", id);
	_cleanup_free_ char *cdir = rt_container_dir(rt, id);
	char ip[64];
	hosts_ip(cdir, ip, sizeof(ip));
	_cleanup_free_ char *hosts = xasprintf("127.0.0.1\tlocalhost\n"
					       "::1\tlocalhost ip6-localhost ip6-loopback\n"
					       "%s\t%s\n",
					       ip, hostname);
	_cleanup_free_ char *hostname_line = xasprintf("%s\n", hostname);
	_cleanup_free_ char *hosts_path = xasprintf("%s/hosts", cdir);
	_cleanup_free_ char *name_path = xasprintf("%s/hostname", cdir);
	if (overwrite(hosts_path, hosts, err) < 0 || overwrite(name_path, hostname_line, err) < 0)
		return -1;
	return uts_sethostname(init, hostname, err);
}
