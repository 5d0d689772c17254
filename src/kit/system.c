/* System monitoring (kit-api.md §4.6), read from the container's own /proc:
 * the agent runs in the container's pid and network namespaces, so what it
 * sees is the container. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "kit/kit.h"

#define PROCS_MAX 4096
#define SOCKS_MAX 4096

struct proc {
	int pid, ppid, threads;
	char name[64], state[4], user[64];
	char cmdline[1024];
	unsigned long long ticks, start, vsize, rss;
	double cpu, mem;
};

static long long read_ll(const char *path, const char *key)
{
	FILE *f = fopen(path, "re");
	char line[256];
	long long v = -1;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0) {
			v = atoll(line + kl);
			break;
		}
	if (f)
		fclose(f);
	return v;
}

static double uptime_s(void)
{
	FILE *f = fopen("/proc/uptime", "re");
	double u = 0;
	if (f) {
		if (fscanf(f, "%lf", &u) != 1)
			u = 0;
		fclose(f);
	}
	return u;
}

static bool proc_read(int pid, struct proc *p, double up, long long memtotal_kb)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *l = strchr(buf, '('), *r = strrchr(buf, ')');
	if (!l || !r)
		return false;
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	snprintf(p->name, sizeof(p->name), "%.*s", (int)(r - l - 1), l + 1);
	unsigned long long ut = 0, st = 0, rss_pages = 0;
	char s = '?';
	if (sscanf(
		r + 2,
		"%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %d %*d %llu "
		"%llu %llu",
		&s, &p->ppid, &ut, &st, &p->threads, &p->start, &p->vsize, &rss_pages) < 8)
		return false;
	p->state[0] = s;
	long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	p->ticks = ut + st;
	p->rss = rss_pages * (unsigned long long)page;
	double age = up - (double)p->start / (double)hz;
	p->cpu = age > 0 ? 100.0 * ((double)p->ticks / (double)hz) / age : 0;
	p->mem = memtotal_kb > 0 ? 100.0 * (double)p->rss / ((double)memtotal_kb * 1024) : 0;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	f = fopen(path, "re");
	if (f) {
		n = fread(p->cmdline, 1, sizeof(p->cmdline) - 1, f);
		fclose(f);
		for (size_t i = 0; i < n; i++)
			if (!p->cmdline[i])
				p->cmdline[i] = ' ';
		while (n && p->cmdline[n - 1] == ' ')
			n--;
		p->cmdline[n] = '\0';
	}
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	long long uid = read_ll(path, "Uid:");
	user_name_of(uid < 0 ? 0 : (uid_t)uid, p->user, sizeof(p->user));
	return true;
}

static bool icontains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return !n;
}

static const char *g_sort;

static int proc_cmp(const void *a, const void *b)
{
	const struct proc *x = a, *y = b;
	if (!strcmp(g_sort, "name"))
		return strcmp(x->name, y->name);
	if (!strcmp(g_sort, "cpu"))
		return x->cpu < y->cpu ? 1 : x->cpu > y->cpu ? -1 : 0;
	if (!strcmp(g_sort, "memory"))
		return x->rss < y->rss ? 1 : x->rss > y->rss ? -1 : 0;
	return x->pid - y->pid;
}

static size_t procs_read(struct proc *v, size_t max, const char *filter)
{
	double up = uptime_s();
	long long mt = read_ll("/proc/meminfo", "MemTotal:");
	DIR *d = opendir("/proc");
	size_t n = 0;
	for (struct dirent *e; d && (e = readdir(d)) && n < max;) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		if (proc_read(atoi(e->d_name), &v[n], up, mt) &&
		    (!filter || icontains(v[n].name, filter)))
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

static void proc_json(struct buf *b, const struct proc *p)
{
	buf_printf(b, "{\"pid\":%d,\"name\":", p->pid);
	buf_json_str(b, p->name);
	buf_puts(b, ",\"cmdline\":");
	buf_json_str(b, p->cmdline);
	buf_printf(b, ",\"state\":\"%s\",\"ppid\":%d,\"user\":", p->state, p->ppid);
	buf_json_str(b, p->user);
	buf_printf(b,
		   ",\"threads\":%d,\"cpu_percent\":%.2f,\"mem_percent\":%.2f,\"vsize\":%llu,"
		   "\"rss\":%llu}",
		   p->threads, p->cpu, p->mem, p->vsize, p->rss);
}

static void route_processes(struct req *r)
{
	char sort[16] = "pid", filter[128], lim[16];
	q_get(r, "sort", sort, sizeof(sort));
	if (strcmp(sort, "pid") && strcmp(sort, "name") && strcmp(sort, "cpu") &&
	    strcmp(sort, "memory")) {
		send_err(r, 400, "sort must be pid, name, cpu or memory");
		return;
	}
	long limit = q_get(r, "limit", lim, sizeof(lim)) ? atol(lim) : PROCS_MAX;
	struct proc *v = xmalloc(PROCS_MAX * sizeof(*v));
	size_t n = procs_read(v, PROCS_MAX, q_get(r, "filter", filter, sizeof(filter)));
	/* qsort has no context argument: one sorter at a time */
	static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&sort_lock);
	g_sort = sort;
	qsort(v, n, sizeof(*v), proc_cmp);
	pthread_mutex_unlock(&sort_lock);
	struct buf b = {0};
	buf_puts(&b, "[");
	for (size_t i = 0; i < n && (long)i < limit; i++) {
		if (i)
			buf_puts(&b, ",");
		proc_json(&b, &v[i]);
	}
	buf_puts(&b, "]");
	free(v);
	send_ok(r, 200, b.p);
	buf_free(&b);
}

static void route_process(struct req *r, const char *rest)
{
	char *e;
	long pid = strtol(rest, &e, 10);
	struct proc p;
	if (*e || pid < 1 ||
	    !proc_read((int)pid, &p, uptime_s(), read_ll("/proc/meminfo", "MemTotal:"))) {
		send_err(r, 404, "no process %s", rest);
		return;
	}
	struct buf b = {0};
	proc_json(&b, &p);
	b.len--; /* reopen the object */
	buf_puts(&b, ",\"open_files\":[");
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
	DIR *d = opendir(dir);
	int k = 0;
	for (struct dirent *de; d && (de = readdir(d)) && k < 1024;) {
		if (de->d_name[0] == '.')
			continue;
		char lp[512], t[1024];
		snprintf(lp, sizeof(lp), "%s/%s", dir, de->d_name);
		ssize_t n = readlink(lp, t, sizeof(t) - 1);
		if (n < 0)
			continue;
		t[n] = '\0';
		buf_printf(&b, "%s{\"fd\":%s,\"target\":", k++ ? "," : "", de->d_name);
		buf_json_str(&b, t);
		buf_puts(&b, "}");
	}
	if (d)
		closedir(d);
	buf_puts(&b, "]}");
	send_ok(r, 200, b.p);
	buf_free(&b);
}

static void route_resources(struct req *r)
{
	struct buf b = {0};
	double la[3] = {0};
	FILE *f = fopen("/proc/loadavg", "re");
	if (f) {
		if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3)
			la[0] = la[1] = la[2] = 0;
		fclose(f);
	}
	long long total = read_ll("/proc/meminfo", "MemTotal:"),
		  avail = read_ll("/proc/meminfo", "MemAvailable:");
	long long cg_limit = -1, cg_usage = -1;
	FILE *c = fopen("/sys/fs/cgroup/memory.max", "re");
	if (!c)
		c = fopen("/sys/fs/cgroup/memory/memory.limit_in_bytes", "re");
	if (c) {
		if (fscanf(c, "%lld", &cg_limit) != 1)
			cg_limit = -1;
		fclose(c);
	}
	c = fopen("/sys/fs/cgroup/memory.current", "re");
	if (!c)
		c = fopen("/sys/fs/cgroup/memory/memory.usage_in_bytes", "re");
	if (c) {
		if (fscanf(c, "%lld", &cg_usage) != 1)
			cg_usage = -1;
		fclose(c);
	}
	struct statvfs vfs = {0};
	statvfs("/", &vfs);
	buf_printf(
	    &b,
	    "{\"cpu\":{\"count\":%ld,\"load_average\":[%.2f,%.2f,%.2f]},"
	    "\"memory\":{\"total\":%lld,\"available\":%lld,\"used\":%lld,\"cgroup_limit\":%lld,"
	    "\"cgroup_usage\":%lld},\"uptime\":%.0f,"
	    "\"disk\":{\"path\":\"/\",\"total\":%llu,\"free\":%llu,\"used\":%llu},\"network\":[",
	    sysconf(_SC_NPROCESSORS_ONLN), la[0], la[1], la[2], total * 1024, avail * 1024,
	    (total - avail) * 1024, cg_limit, cg_usage, uptime_s(),
	    (unsigned long long)vfs.f_blocks * vfs.f_frsize,
	    (unsigned long long)vfs.f_bavail * vfs.f_frsize,
	    (unsigned long long)(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize);
	f = fopen("/proc/net/dev", "re");
	char line[512];
	int k = 0;
	for (int ln = 0; f && fgets(line, sizeof(line), f); ln++) {
		char name[64];
		unsigned long long rx, tx, d1, d2, d3, d4, d5, d6, d7;
		char *colon = strchr(line, ':');
		if (ln < 2 || !colon)
			continue;
		*colon = '\0';
		if (sscanf(line, " %63s", name) != 1 ||
		    sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &rx, &d1, &d2,
			   &d3, &d4, &d5, &d6, &d7, &tx) != 9)
			continue;
		buf_printf(&b, "%s{\"name\":", k++ ? "," : "");
		buf_json_str(&b, name);
		buf_printf(&b, ",\"rx_bytes\":%llu,\"tx_bytes\":%llu}", rx, tx);
	}
	if (f)
		fclose(f);
	buf_puts(&b, "]}");
	send_ok(r, 200, b.p);
	buf_free(&b);
}

/* ------------------------------------------------------------------ ports */

struct sock {
	char proto[8], ip[48];
	int port;
	unsigned long inode;
};

static void hex_ip(const char *hex, bool v6, char *out, size_t len)
{
	unsigned char a[16] = {0};
	size_t n = v6 ? 16 : 4;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		a[i] = (unsigned char)v;
	}
	if (!v6) {
		snprintf(out, len, "%u.%u.%u.%u", a[3], a[2], a[1], a[0]);
		return;
	}
	/* four host-order 32-bit words */
	unsigned char b[16];
	for (int w = 0; w < 4; w++)
		for (int k = 0; k < 4; k++)
			b[4 * w + k] = a[4 * w + 3 - k];
	size_t o = 0;
	for (int i = 0; i < 16; i += 2)
		o += (size_t)snprintf(out + o, len - o, "%s%x", i ? ":" : "", b[i] << 8 | b[i + 1]);
}

static size_t socks_read(struct sock *v, size_t max)
{
	static const char *const files[][2] = {{"/proc/net/tcp", "tcp"},
					       {"/proc/net/tcp6", "tcp6"},
					       {"/proc/net/udp", "udp"},
					       {"/proc/net/udp6", "udp6"}};
	size_t n = 0;
	for (size_t i = 0; i < 4; i++) {
		FILE *f = fopen(files[i][0], "re");
		char line[512];
		bool udp = files[i][1][0] == 'u', v6 = strchr(files[i][1], '6') != NULL;
		for (int ln = 0; f && fgets(line, sizeof(line), f) && n < max; ln++) {
			char local[64];
			unsigned st;
			unsigned long inode;
			if (ln == 0 || sscanf(line, " %*d: %63s %*s %x %*s %*s %*s %*d %*d %lu",
					      local, &st, &inode) != 3)
				continue;
			if (st != (udp ? 0x07u : 0x0Au))
				continue;
			char *colon = strchr(local, ':');
			if (!colon)
				continue;
			*colon = '\0';
			struct sock *s = &v[n++];
			snprintf(s->proto, sizeof(s->proto), "%s", files[i][1]);
			hex_ip(local, v6, s->ip, sizeof(s->ip));
			s->port = (int)strtol(colon + 1, NULL, 16);
			s->inode = inode;
		}
		if (f)
			fclose(f);
	}
	return n;
}

static int inode_pid(unsigned long inode)
{
	char want[64];
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	DIR *d = opendir("/proc");
	int found = 0;
	for (struct dirent *e; !found && d && (e = readdir(d));) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		char dir[300];
		snprintf(dir, sizeof(dir), "/proc/%s/fd", e->d_name);
		DIR *fd = opendir(dir);
		for (struct dirent *x; fd && (x = readdir(fd));) {
			char lp[600], t[64];
			snprintf(lp, sizeof(lp), "%s/%s", dir, x->d_name);
			ssize_t k = readlink(lp, t, sizeof(t) - 1);
			if (k > 0 && (t[k] = '\0', strcmp(t, want) == 0)) {
				found = atoi(e->d_name);
				break;
			}
		}
		if (fd)
			closedir(fd);
	}
	if (d)
		closedir(d);
	return found;
}

static void route_ports(struct req *r)
{
	char proto[64] = "", port[16] = "";
	q_get(r, "protocol", proto, sizeof(proto));
	q_get(r, "port", port, sizeof(port));
	struct sock *v = xmalloc(SOCKS_MAX * sizeof(*v));
	size_t n = socks_read(v, SOCKS_MAX);
	struct buf b = {0};
	buf_puts(&b, "[");
	int k = 0;
	for (size_t i = 0; i < n; i++) {
		char base[8];
		snprintf(base, sizeof(base), "%.3s", v[i].proto);
		if ((*proto && !strstr(proto, base)) || (*port && atoi(port) != v[i].port))
			continue;
		int pid = inode_pid(v[i].inode);
		struct proc p = {0};
		if (pid)
			proc_read(pid, &p, uptime_s(), 0);
		buf_printf(&b, "%s{\"protocol\":\"%s\",\"port\":%d,\"ip\":", k++ ? "," : "", base,
			   v[i].port);
		buf_json_str(&b, v[i].ip);
		buf_printf(&b, ",\"pid\":%d,\"user\":", pid);
		buf_json_str(&b, pid ? p.user : "");
		buf_puts(&b, ",\"program\":");
		buf_json_str(&b, pid ? p.name : "");
		buf_puts(&b, ",\"args\":");
		buf_json_str(&b, pid ? p.cmdline : "");
		buf_puts(&b, "}");
	}
	buf_puts(&b, "]");
	free(v);
	send_ok(r, 200, b.p);
	buf_free(&b);
}

/* ----------------------------------------------------------------- signal */

static int signal_parse(const struct jv *v)
{
	static const struct {
		const char *n;
		int s;
	} names[] = {{"HUP", SIGHUP},	{"INT", SIGINT},   {"QUIT", SIGQUIT},	{"KILL", SIGKILL},
		     {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM},	{"STOP", SIGSTOP},
		     {"CONT", SIGCONT}, {"ALRM", SIGALRM}, {"WINCH", SIGWINCH}, {"TSTP", SIGTSTP},
		     {"PIPE", SIGPIPE}, {"CHLD", SIGCHLD}};
	if (!v)
		return SIGTERM;
	if (v->t == J_NUM)
		return v->n >= 0 && v->n < _NSIG && v->n == (int)v->n ? (int)v->n : -1;
	if (v->t != J_STR)
		return -1;
	const char *s = v->s;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	char *e;
	long n = strtol(s, &e, 10);
	if (*s && !*e)
		return n >= 0 && n < _NSIG ? (int)n : -1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].n) == 0)
			return names[i].s;
	return -1;
}

static void route_signal(struct req *r)
{
	struct buf body = {0};
	struct jv *j =
	    req_body(r, KIT_JSON_BODY_MAX, &body) == 0 ? json_parse(body.p, body.len) : NULL;
	buf_free(&body);
	long long pid = 0;
	const char *name = jv_str(j, "name");
	bool has_pid = jv_int(j, "pid", &pid);
	int sig = signal_parse(jv_get(j, "signal"));
	if (jv_get(j, "force"))
		sig = jv_bool(j, "force", false) ? SIGKILL : SIGTERM;
	if (!j || has_pid == (name != NULL) || sig < 0 || (has_pid && pid < 1)) {
		jv_free(j);
		send_err(r, 400, "give pid (integer) or name (string), and a valid signal");
		return;
	}
	struct buf b = {0};
	buf_printf(&b, "{\"signal\":%d,\"pids\":[", sig);
	int ok = 0, failed = 0, last_err = 0;
	if (has_pid) {
		if (kill((pid_t)pid, sig) == 0)
			buf_printf(&b, "%lld", pid), ok++;
		else
			failed++, last_err = errno;
	} else {
		struct proc *v = xmalloc(PROCS_MAX * sizeof(*v));
		size_t n = procs_read(v, PROCS_MAX, NULL);
		for (size_t i = 0; i < n; i++) {
			if (strcmp(v[i].name, name) != 0 || v[i].pid == getpid())
				continue;
			if (kill(v[i].pid, sig) == 0)
				buf_printf(&b, "%s%d", ok++ ? "," : "", v[i].pid);
			else
				failed++, last_err = errno;
		}
		free(v);
	}
	buf_printf(&b, "],\"signaled\":%d,\"failed\":%d}", ok, failed);
	jv_free(j);
	if (!ok)
		send_err(r, last_err == EPERM ? 403 : 404, "no process signaled (%s)",
			 last_err ? strerror(last_err) : "no match");
	else
		send_ok(r, 200, b.p);
	buf_free(&b);
}

void system_route(struct req *r)
{
	const char *rest, *m = r->method;
	if (!strcmp(r->path, "/api/v1/system/processes") && !strcmp(m, "GET"))
		route_processes(r);
	else if (path_is(r->path, "/api/v1/system/processes/", &rest) && !strcmp(m, "GET"))
		route_process(r, rest);
	else if (!strcmp(r->path, "/api/v1/system/resources") && !strcmp(m, "GET"))
		route_resources(r);
	else if (!strcmp(r->path, "/api/v1/system/ports") && !strcmp(m, "GET"))
		route_ports(r);
	else if (!strcmp(r->path, "/api/v1/system/process/signal") && !strcmp(m, "POST"))
		route_signal(r);
	else
		send_err(r, 404, "no route %s %s", m, r->path);
}
