/* Interactive processes inside a running container (the SSH front door):
 * the same `crun exec` as rt_exec, so they join the container's namespaces
 * and cgroups, but they outlive the call and the caller pumps their stdio.
 * A terminal is made by crun inside the container (--tty, its master handed
 * back over a console socket), so it lives on the container's devpts. Also:
 * sockets in the container's network namespace, and its root directory. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "common/util.h"
#include "runtime/internal.h"

#define CONSOLE_WAIT_MS 10000

struct rt_proc {
	struct exec_cmd cmd;
	struct proc_child *child;
	char id[RT_ID_MAX + 1];
	int in, out, err; /* tty: in == out == the master, err -1 */
	int pidfd;
	bool tty;
};

static int console_listen(struct runtime *rt, char *path, size_t len, struct error *err)
{
	static unsigned long seq;
	snprintf(path, len, "%s/console.%d.%lu.sock", rt->run_dir, (int)getpid(),
		 __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, E_INTERNAL, "console socket path too long");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys(err, E_IO, "socket");
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0)
		return err_sys(err, E_IO, "console socket %s", path);
	return steal_fd(&fd);
}

/* crun connects once and sends the master as SCM_RIGHTS. */
static int console_receive(int lfd, int pidfd, struct error *err)
{
	struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
	int n = poll(p, 2, CONSOLE_WAIT_MS);
	if (n <= 0 || !(p[0].revents & POLLIN))
		return err_set(err, E_RUNTIME, "crun exec did not hand over a terminal");
	_cleanup_close_ int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return err_sys(err, E_IO, "accept console");
	char buf[256];
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {buf, sizeof(buf)};
	struct msghdr m = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
	ssize_t r = recvmsg(c, &m, MSG_CMSG_CLOEXEC);
	struct cmsghdr *cm = r > 0 ? CMSG_FIRSTHDR(&m) : NULL;
	if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return err_set(err, E_RUNTIME, "no terminal from crun exec");
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
	return fd;
}

/* Checked at once: errno says why only until the next call. */
static int open_pidfd(struct rt_proc *p, struct error *err)
{
	p->pidfd = rt_pidfd_open(proc_child_pid(p->child));
	return p->pidfd < 0 ? err_sys(err, E_RUNTIME, "pidfd_open") : 0;
}

static int spawn_tty(struct runtime *rt, struct rt_proc *p, const struct rt_proc_opts *o,
		     struct error *err)
{
	char path[256];
	_cleanup_close_ int lfd = console_listen(rt, path, sizeof(path), err);
	if (lfd < 0)
		return -1;
	const char *flags[] = {"--tty", "--console-socket", path, NULL};
	int rc = -1;
	_cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0) {
		err_sys(err, E_IO, "open /dev/null");
		goto out;
	}
	if (exec_cmd_build(rt, p->id, o->argv, o->env, o->env_count, flags, &p->cmd, err) < 0 ||
	    proc_spawn(rt, p->cmd.argv, null, null, null, &p->child, err) < 0 ||
	    open_pidfd(p, err) < 0)
		goto out;
	int m = console_receive(lfd, p->pidfd, err);
	if (m < 0)
		goto out;
	p->in = m;
	p->out = dup(m);
	rc = 0;
out:
	unlink(path);
	return rc;
}

static int spawn_pipes(struct runtime *rt, struct rt_proc *p, const struct rt_proc_opts *o,
		       struct error *err)
{
	_cleanup_close_pair_ int pin[2] = {-1, -1};
	_cleanup_close_pair_ int pout[2] = {-1, -1};
	_cleanup_close_pair_ int perr[2] = {-1, -1};
	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0)
		return err_sys(err, E_IO, "pipe");
	if (exec_cmd_build(rt, p->id, o->argv, o->env, o->env_count, NULL, &p->cmd, err) < 0 ||
	    proc_spawn(rt, p->cmd.argv, pin[0], pout[1], perr[1], &p->child, err) < 0 ||
	    open_pidfd(p, err) < 0)
		return -1;
	p->in = steal_fd(&pin[1]);
	p->out = steal_fd(&pout[0]);
	p->err = steal_fd(&perr[0]);
	return 0;
}

int rt_proc_start(struct runtime *rt, const char *id, const struct rt_proc_opts *o,
		  struct rt_proc **out_new, struct error *err)
{
	if (rt_check_id(id, err) < 0)
		return -1;
	struct rt_proc *p = xcalloc(1, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->in = p->out = p->err = p->pidfd = -1;
	p->tty = o->tty;
	if ((o->tty ? spawn_tty(rt, p, o, err) : spawn_pipes(rt, p, o, err)) < 0) {
		rt_proc_end(rt, p);
		return -1;
	}
	for (int *fd = &p->in; fd <= &p->err; fd++)
		if (*fd >= 0)
			fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
	if (o->tty)
		rt_proc_resize(p, o->cols, o->rows);
	*out_new = p;
	return 0;
}

int rt_proc_fd(const struct rt_proc *p, int which)
{
	return which == 0 ? p->in : which == 1 ? p->out : which == 2 ? p->err : p->pidfd;
}

void rt_proc_close_fd(struct rt_proc *p, int which)
{
	if (which == 0 && p->tty)
		return; /* the master is stdin and stdout at once */
	closep(which == 0 ? &p->in : which == 1 ? &p->out : &p->err);
}

int rt_proc_resize(struct rt_proc *p, unsigned cols, unsigned rows)
{
	if (!p->tty || p->in < 0)
		return -1;
	struct winsize ws = {.ws_row = (unsigned short)(rows ? rows : 24),
			     .ws_col = (unsigned short)(cols ? cols : 80)};
	return ioctl(p->in, TIOCSWINSZ, &ws);
}

int rt_proc_end(struct runtime *rt, struct rt_proc *p)
{
	int code = -1;
	if (!p)
		return code;
	closep(&p->in);
	closep(&p->out);
	closep(&p->err);
	if (p->child) {
		/* The command runs in a session of its own inside the container;
		 * whatever is left of it goes with the client. */
		pid_t pid = p->cmd.pidf ? rt_read_pid_file(p->cmd.pidf) : 0;
		if (pid && rt_pid_in_container(pid, p->id)) {
			pid_t pgid = getpgid(pid);
			kill(pgid > 1 ? -pgid : pid, SIGKILL);
		}
		code = proc_child_wait(rt, p->child, 5000);
	}
	closep(&p->pidfd);
	exec_cmd_free(&p->cmd);
	free(p);
	return code;
}

/* Creates the socket inside the namespace; connecting can happen outside,
 * the socket stays in the namespace it was made in. */
int rt_net_connect(struct runtime *rt, const char *id, uint16_t port, struct error *err)
{
	char ns[512], ip[64];
	if (rt_net_endpoint(rt, id, ns, sizeof(ns), ip, sizeof(ip), err) < 0)
		return -1;
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int target = open(ns, O_RDONLY | O_CLOEXEC);
	if (self < 0 || target < 0)
		return err_sys(err, E_IO, "open network namespace");
	if (setns(target, CLONE_NEWNET) < 0)
		return err_sys(err, E_RUNTIME, "setns");
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int saved = errno;
	if (setns(self, CLONE_NEWNET) < 0)
		HOODY_PANIC(
		    "setns back to the host network: %m"); /* thread stuck in a container's */
	if (fd < 0) {
		errno = saved;
		return err_sys(err, E_IO, "socket");
	}
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		return err_sys(err, E_NOT_FOUND, "connect to port %u", port);
	return steal_fd(&fd);
}

int rt_root_open(struct runtime *rt, const char *id, struct error *err)
{
	pid_t pid;
	if (rt_init_pid(rt, id, &pid, err) < 0)
		return -1;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, E_IO, "open %s", path);
	return fd;
}
