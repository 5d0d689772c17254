/* What runs in a container: its processes and its listening sockets, read
 * from procfs of the host.
 *
 * Processes come from the container's pids cgroup (crun exec joins it too)
 * rather than from a scan of every /proc entry: the cost follows the
 * container's size, not the host's. The pid as seen inside comes from NSpid
 * at the depth of the container's init.
 *
 * Sockets come from a sock_diag dump inside the container's network
 * namespace (netns.c); their inodes are matched against the fds of the
 * container's processes to name the owner. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/internal.h"

#define PROCS_MAX 4096
#define SOCKS_MAX 1024
#define FDS_PER_PROC_MAX 65536

/* ---- processes ---- */

/* Field `level` (0 = host) of the NSpid line, and how many there are. */
static int nspid(pid_t pid, int level, int *levels)
{
	char path[64];
	_cleanup_free_ char *st = NULL;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_file(path, 16384, &st, NULL, NULL) < 0)
		return 0;
	const char *line = strstr(st, "\nNSpid:");
	if (!line)
		return 0;
	line += 7;
	int found = 0, i = 0;
	for (char *end;; line = end, i++) {
		long v = strtol(line, &end, 10);
		if (end == line)
			break;
		if (i == level)
			found = (int)v;
	}
	if (levels)
		*levels = i;
	return found;
}

static void read_small(const char *path, char *buf, size_t len, bool nul_to_space)
{
	buf[0] = '\0';
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, len - 1);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0' && nul_to_space)
			buf[i] = ' ';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
}

static bool fill_proc(struct rt_process *p, pid_t host, int level)
{
	char path[64];
	p->host_pid = host;
	p->pid = nspid(host, level, NULL);
	if (!p->pid)
		return false; /* exited meanwhile */
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)host);
	read_small(path, p->comm, sizeof(p->comm), false);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)host);
	read_small(path, p->cmdline, sizeof(p->cmdline), true);
	if (!p->cmdline[0])
		snprintf(p->cmdline, sizeof(p->cmdline), "[%s]", p->comm);
	return true;
}

static int cmp_proc(const void *a, const void *b)
{
	return ((const struct rt_process *)a)->pid - ((const struct rt_process *)b)->pid;
}

static void list_procs(struct runtime *rt, const char *id, pid_t init, struct rt_runtime_info *out)
{
	int levels = 0;
	nspid(init, 0, &levels);
	if (levels < 1)
		return;
	pid_t *pids = xcalloc(PROCS_MAX, sizeof(pid_t));
	size_t n = cgroup_procs(rt, id, pids, PROCS_MAX);
	out->procs = xcalloc(n ? n : 1, sizeof(*out->procs));
	for (size_t i = 0; i < n; i++)
		if (fill_proc(&out->procs[out->proc_count], pids[i], levels - 1))
			out->proc_count++;
	free(pids);
	qsort(out->procs, out->proc_count, sizeof(*out->procs), cmp_proc);
}

/* ---- sockets ---- */

/* Names the owner of every socket whose inode one of procs holds open. */
static void match_owners(const struct rt_runtime_info *info, const struct net_sock *socks,
			 struct rt_socket *out, size_t n)
{
	for (size_t i = 0; i < info->proc_count; i++) {
		char dir[64];
		snprintf(dir, sizeof(dir), "/proc/%d/fd", info->procs[i].host_pid);
		DIR *d = opendir(dir);
		struct dirent *de;
		for (size_t k = 0; d && k < FDS_PER_PROC_MAX && (de = readdir(d)); k++) {
			char link[64];
			unsigned long inode;
			ssize_t len = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
			if (len <= 0)
				continue;
			link[len] = '\0';
			if (sscanf(link, "socket:[%lu]", &inode) != 1)
				continue;
			for (size_t j = 0; j < n; j++) {
				if (socks[j].inode != inode || out[j].pid)
					continue;
				out[j].pid = info->procs[i].pid;
				snprintf(out[j].program, sizeof(out[j].program), "%s",
					 info->procs[i].comm);
			}
		}
		if (d)
			closedir(d);
	}
}

static int list_sockets(struct runtime *rt, const char *id, struct rt_runtime_info *out,
			struct error *err)
{
	_cleanup_free_ struct net_sock *socks = xcalloc(SOCKS_MAX, sizeof(*socks));
	size_t n = 0;
	if (net_list_sockets(rt, id, socks, SOCKS_MAX, &n, err) < 0)
		return -1;
	out->socks = xcalloc(n ? n : 1, sizeof(*out->socks));
	for (size_t i = 0; i < n; i++) {
		struct rt_socket *s = &out->socks[i];
		memcpy(s->proto, socks[i].proto, sizeof(s->proto));
		memcpy(s->ip, socks[i].ip, sizeof(s->ip));
		s->port = socks[i].port;
	}
	out->sock_count = n;
	match_owners(out, socks, out->socks, n);
	return 0;
}

int rt_runtime_info(struct runtime *rt, const char *id, struct rt_runtime_info *out,
		    struct error *err)
{
	memset(out, 0, sizeof(*out));
	if (rt_check_id(id, err) < 0)
		return -1;
	pid_t init = 0;
	enum rt_state st = rt_probe(rt, id, &init);
	if (st == RT_ABSENT || !init)
		return 0; /* not running: nothing runs, nothing listens */
	list_procs(rt, id, init, out);
	if (list_sockets(rt, id, out, err) < 0) {
		rt_runtime_info_free(out);
		return -1;
	}
	return 0;
}

void rt_runtime_info_free(struct rt_runtime_info *info)
{
	if (!info)
		return;
	free(info->procs);
	free(info->socks);
	memset(info, 0, sizeof(*info));
}
