/* Processes: the one reaper of the whole process, and running commands.
 *
 * hoodyd is a child subreaper, so container inits land here once `crun run
 * --detach` exits. Exactly one thread calls waitpid(-1): if several places
 * waited, one would steal the exit status of another's child. Anything this
 * process spawns is registered (under the registry lock, held across the
 * spawn) before the reaper can look it up, so a child that dies at once still
 * finds its waiter.
 *
 * Containers that are not our children (re-adopted after a daemon restart)
 * cannot be waited for; a second thread polls one pidfd per such container,
 * woken through an eventfd when the set changes. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/internal.h"

extern char **environ;

struct waiter {
	struct waiter *next;
	pid_t pid;
	bool done;
	int status;
};

struct watch {
	struct watch *next;
	char id[RT_ID_MAX + 1];
	pid_t pid;
	int pidfd; /* >= 0: not our child; only the pidfd thread frees such a watch */
	bool dead; /* reported or unwatched */
};

/* Statuses of children reaped while nobody waited or watched for them: a
 * container's init that dies during its start (a TERM that lands before
 * hoody-init waits for it) is reaped before its watch exists, and its start
 * must still be able to tell how it ended. */
#define RECENT_MAX 64
struct recent {
	pid_t pid;
	int status;
};

struct reaper {
	struct runtime *rt;
	struct recent recent[RECENT_MAX];
	unsigned recent_next;
	pthread_mutex_t lock;
	pthread_cond_t spawned; /* a child exists again (reaper idle after ECHILD) */
	pthread_cond_t reaped;	/* some waiter got its status */
	uint64_t spawn_gen;
	bool stop;
	struct waiter *waiters;
	struct watch *watches;
	pthread_t thread, pidfd_thread;
	int evfd;
};

/* The exit code, or 128 + the signal that killed it (as a shell reports
 * it): the true status, never "unknown" for a process we reaped. */
static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

void runtime_set_exit_cb(struct runtime *rt, rt_exit_cb cb, void *arg)
{
	pthread_mutex_lock(&rt->reaper->lock);
	rt->exit_cb = cb;
	rt->exit_arg = arg;
	pthread_mutex_unlock(&rt->reaper->lock);
}

static void report_exit(struct reaper *r, const char *id, int code)
{
	pthread_mutex_lock(&r->lock);
	rt_exit_cb cb = r->rt->exit_cb;
	void *arg = r->rt->exit_arg;
	pthread_mutex_unlock(&r->lock);
	log_info("container %s: init exited unexpectedly (code %d)", id, code);
	if (cb)
		cb(id, code, arg);
}

static void unlink_watch(struct reaper *r, struct watch *w)
{
	for (struct watch **pp = &r->watches; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			return;
		}
	}
}

/* Marks a watch dead; frees it unless the pidfd thread owns its memory. */
static void kill_watch_locked(struct reaper *r, struct watch *w)
{
	w->dead = true;
	if (w->pidfd >= 0) {
		uint64_t one = 1;
		if (write(r->evfd, &one, sizeof(one)) < 0)
			log_warn("reaper: eventfd write: %s", strerror(errno));
		return;
	}
	unlink_watch(r, w);
	free(w);
}

static void handle_exit(struct reaper *r, pid_t pid, int status)
{
	char id[RT_ID_MAX + 1] = "";
	pthread_mutex_lock(&r->lock);
	for (struct waiter *w = r->waiters; w; w = w->next) {
		if (w->pid == pid) {
			w->done = true;
			w->status = status;
			pthread_cond_broadcast(&r->reaped);
			pthread_mutex_unlock(&r->lock);
			return;
		}
	}
	for (struct watch *w = r->watches; w; w = w->next) {
		if (w->pid == pid && !w->dead && w->pidfd < 0) {
			snprintf(id, sizeof(id), "%s", w->id);
			kill_watch_locked(r, w);
			break;
		}
	}
	if (!id[0]) {
		r->recent[r->recent_next % RECENT_MAX] = (struct recent){pid, status};
		r->recent_next++;
	}
	pthread_mutex_unlock(&r->lock);
	/* Unknown pids are orphans re-parented to us (crun's helpers, or
	 * processes left by a container): reaping them is all there is to do. */
	if (id[0])
		report_exit(r, id, exit_code_of(status));
}

static void *reaper_main(void *arg)
{
	struct reaper *r = arg;
	for (;;) {
		pthread_mutex_lock(&r->lock);
		uint64_t gen = r->spawn_gen;
		bool stop = r->stop;
		pthread_mutex_unlock(&r->lock);
		if (stop)
			return NULL;
		int status;
		pid_t pid = waitpid(-1, &status, 0);
		if (pid > 0) {
			handle_exit(r, pid, status);
			continue;
		}
		if (errno == EINTR)
			continue;
		/* ECHILD: sleep until something is spawned. The timeout covers
		 * children we did not spawn ourselves (orphans re-parented). */
		pthread_mutex_lock(&r->lock);
		while (!r->stop && r->spawn_gen == gen) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 200 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (pthread_cond_timedwait(&r->spawned, &r->lock, &ts) == ETIMEDOUT)
				break;
		}
		pthread_mutex_unlock(&r->lock);
	}
}

/* ---- pidfd watches (containers that are not our children) ---- */

int rt_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Frees dead pidfd watches and fills the poll set; returns its size. */
static size_t collect_pollset(struct reaper *r, struct pollfd **fds, struct watch ***ws,
			      size_t *cap)
{
	size_t n = 1;
	struct watch **pp = &r->watches;
	while (*pp) {
		struct watch *w = *pp;
		if (w->pidfd >= 0 && w->dead) {
			*pp = w->next;
			close(w->pidfd);
			free(w);
			continue;
		}
		pp = &w->next;
		if (w->pidfd < 0)
			continue;
		if (n == *cap) {
			*cap *= 2;
			*fds = xrealloc(*fds, *cap * sizeof(**fds));
			*ws = xrealloc(*ws, *cap * sizeof(**ws));
		}
		(*fds)[n] = (struct pollfd){.fd = w->pidfd, .events = POLLIN};
		(*ws)[n] = w;
		n++;
	}
	(*fds)[0] = (struct pollfd){.fd = r->evfd, .events = POLLIN};
	return n;
}

static void *pidfd_main(void *arg)
{
	struct reaper *r = arg;
	size_t cap = 16;
	struct pollfd *fds = xcalloc(cap, sizeof(*fds));
	struct watch **ws = xcalloc(cap, sizeof(*ws));
	for (;;) {
		pthread_mutex_lock(&r->lock);
		if (r->stop) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		size_t n = collect_pollset(r, &fds, &ws, &cap);
		pthread_mutex_unlock(&r->lock);

		if (poll(fds, n, -1) < 0)
			continue;
		if (fds[0].revents) {
			uint64_t v;
			if (read(r->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("reaper: eventfd read: %s", strerror(errno));
		}
		for (size_t i = 1; i < n; i++) {
			if (!fds[i].revents)
				continue;
			char id[RT_ID_MAX + 1] = "";
			pthread_mutex_lock(&r->lock);
			if (!ws[i]->dead) {
				snprintf(id, sizeof(id), "%s", ws[i]->id);
				ws[i]->dead = true;
			}
			pthread_mutex_unlock(&r->lock);
			/* Not our child: its exit status is not ours to read. */
			if (id[0])
				report_exit(r, id, -1);
		}
	}
	/* Stopped: close every pidfd; the next reaper re-adopts. */
	pthread_mutex_lock(&r->lock);
	for (struct watch *w = r->watches; w; w = w->next)
		w->dead = true;
	collect_pollset(r, &fds, &ws, &cap);
	pthread_mutex_unlock(&r->lock);
	free(fds);
	free(ws);
	return NULL;
}

bool proc_is_our_child(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_free_ char *buf = NULL;
	if (read_file(path, 4096, &buf, NULL, NULL) < 0)
		return false;
	/* "pid (comm) S ppid ...": comm may hold spaces and parens. */
	char *p = strrchr(buf, ')');
	int ppid = 0;
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return false;
	return ppid == getpid();
}

static struct watch *find_watch_locked(struct reaper *r, const char *id)
{
	for (struct watch *w = r->watches; w; w = w->next)
		if (!w->dead && !strcmp(w->id, id))
			return w;
	return NULL;
}

/* The status the reaper kept for pid, consumed (pids are reused). */
static bool take_recent_locked(struct reaper *r, pid_t pid, int *code)
{
	for (unsigned i = 0; i < RECENT_MAX; i++)
		if (r->recent[i].pid == pid) {
			*code = exit_code_of(r->recent[i].status);
			r->recent[i].pid = 0;
			return true;
		}
	return false;
}

/* pid is gone before its watch existed: reports its exit if the reaper kept
 * its status. Called with r->lock held; releases it. */
static bool gone_unwatched(struct reaper *r, const char *id, pid_t pid)
{
	int code;
	bool known = take_recent_locked(r, pid, &code);
	pthread_mutex_unlock(&r->lock);
	if (known)
		report_exit(r, id, code);
	return known;
}

bool reaper_report_if_reaped(struct runtime *rt, const char *id, pid_t pid)
{
	pthread_mutex_lock(&rt->reaper->lock);
	return gone_unwatched(rt->reaper, id, pid);
}

bool reaper_watch_container(struct runtime *rt, const char *id, pid_t pid)
{
	struct reaper *r = rt->reaper;
	if (strlen(id) > RT_ID_MAX)
		return false;
	struct watch *w = xcalloc(1, sizeof(*w));
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->pid = pid;
	w->pidfd = -1;
	bool child = proc_is_our_child(pid);
	if (!child) {
		w->pidfd = rt_pidfd_open(pid);
		if (w->pidfd < 0) {
			free(w);
			pthread_mutex_lock(&r->lock);
			return gone_unwatched(r, id, pid);
		}
	}
	pthread_mutex_lock(&r->lock);
	struct watch *old = find_watch_locked(r, id);
	if (old)
		kill_watch_locked(r, old);
	/* A child reaped before this point is not in the list: kill() fails,
	 * and a child reaped after it will find the watch. */
	if (child && kill(pid, 0) < 0) {
		free(w);
		return gone_unwatched(r, id, pid);
	}
	w->next = r->watches;
	r->watches = w;
	if (w->pidfd >= 0) {
		uint64_t one = 1;
		if (write(r->evfd, &one, sizeof(one)) < 0)
			log_warn("reaper: eventfd write: %s", strerror(errno));
	}
	pthread_mutex_unlock(&r->lock);
	return true;
}

void reaper_unwatch_container(struct runtime *rt, const char *id)
{
	struct reaper *r = rt->reaper;
	pthread_mutex_lock(&r->lock);
	struct watch *w;
	while ((w = find_watch_locked(r, id)))
		kill_watch_locked(r, w);
	pthread_mutex_unlock(&r->lock);
}

bool reaper_is_watched(struct runtime *rt, const char *id)
{
	struct reaper *r = rt->reaper;
	pthread_mutex_lock(&r->lock);
	bool found = find_watch_locked(r, id) != NULL;
	pthread_mutex_unlock(&r->lock);
	return found;
}

/* ---- start / stop ---- */

int reaper_start(struct runtime *rt, struct error *err)
{
	struct reaper *r = xcalloc(1, sizeof(*r));
	r->rt = rt;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_cond_init(&r->spawned, &ca);
	pthread_cond_init(&r->reaped, &ca);
	pthread_condattr_destroy(&ca);
	r->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->evfd < 0) {
		free(r);
		return err_sys(err, E_INTERNAL, "eventfd");
	}
	if (pthread_create(&r->thread, NULL, reaper_main, r) != 0) {
		close(r->evfd);
		free(r);
		return err_set(err, E_INTERNAL, "cannot start the reaper thread");
	}
	if (pthread_create(&r->pidfd_thread, NULL, pidfd_main, r) != 0) {
		rt->reaper = r;
		reaper_stop(rt);
		return err_set(err, E_INTERNAL, "cannot start the pidfd thread");
	}
	rt->reaper = r;
	return 0;
}

void reaper_stop(struct runtime *rt)
{
	struct reaper *r = rt->reaper;
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	r->spawn_gen++;
	pthread_cond_broadcast(&r->spawned);
	/* waitpid(-1) cannot be interrupted portably; a child that exits at
	 * once wakes it. Its status goes to the next reaper or nobody. */
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	uint64_t one = 1;
	if (write(r->evfd, &one, sizeof(one)) < 0)
		log_warn("reaper: eventfd write: %s", strerror(errno));
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	if (r->pidfd_thread)
		pthread_join(r->pidfd_thread, NULL);
	for (struct watch *w = r->watches, *next; w; w = next) {
		next = w->next;
		if (w->pidfd >= 0)
			close(w->pidfd);
		free(w);
	}
	close(r->evfd);
	pthread_cond_destroy(&r->spawned);
	pthread_cond_destroy(&r->reaped);
	pthread_mutex_destroy(&r->lock);
	free(r);
	rt->reaper = NULL;
}

/* ---- running commands ---- */

struct proc_io {
	int in, out, err;
};

/* Spawns argv in its own process group with default signal dispositions and
 * an empty mask (the calling thread's are not the child's business), and
 * registers w before the reaper can look for it. */
static int spawn_registered(struct reaper *r, const char *const *argv, const char *const *envp,
			    const struct proc_io *io, struct waiter *w, struct error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, io->in, 0);
	posix_spawn_file_actions_adddup2(&fa, io->out, 1);
	posix_spawn_file_actions_adddup2(&fa, io->err, 2);
	posix_spawnattr_init(&at);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					  POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_USEVFORK);

	memset(w, 0, sizeof(*w));
	pthread_mutex_lock(&r->lock);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, &at, (char *const *)argv,
			      envp ? (char *const *)envp : environ);
	if (rc == 0) {
		w->pid = pid;
		w->next = r->waiters;
		r->waiters = w;
		r->spawn_gen++;
		pthread_cond_broadcast(&r->spawned);
	}
	pthread_mutex_unlock(&r->lock);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc != 0) {
		errno = rc;
		return err_sys(err, E_RUNTIME, "spawn %s", argv[0]);
	}
	return 0;
}

static void unregister(struct reaper *r, struct waiter *w)
{
	for (struct waiter **pp = &r->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			return;
		}
	}
}

static void deadline_ts(int64_t deadline_ns, struct timespec *ts)
{
	/* The condvars use CLOCK_REALTIME; convert the monotonic deadline. */
	int64_t left = deadline_ns - mono_ns();
	clock_gettime(CLOCK_REALTIME, ts);
	if (left < 0)
		left = 0;
	int64_t ns = ts->tv_nsec + left % 1000000000LL;
	ts->tv_sec += left / 1000000000LL + ns / 1000000000LL;
	ts->tv_nsec = ns % 1000000000LL;
}

/* Waits for w until deadline_ns (monotonic; <= 0 = forever). On timeout the
 * process group gets SIGKILL and we wait for the reaper anyway, so the waiter
 * never outlives this call. Returns true on timeout. */
static bool wait_waiter(struct reaper *r, struct waiter *w, int64_t deadline_ns)
{
	bool timed_out = false;
	pthread_mutex_lock(&r->lock);
	while (!w->done) {
		if (deadline_ns > 0 && mono_ns() >= deadline_ns) {
			/* Not reaped yet (done is false under the lock), so the
			 * pid still names our child's group. */
			kill(-w->pid, SIGKILL);
			timed_out = true;
			deadline_ns = 0;
		}
		if (deadline_ns > 0) {
			struct timespec ts;
			deadline_ts(deadline_ns, &ts);
			pthread_cond_timedwait(&r->reaped, &r->lock, &ts);
		} else {
			pthread_cond_wait(&r->reaped, &r->lock);
		}
	}
	unregister(r, w);
	pthread_mutex_unlock(&r->lock);
	return timed_out;
}

static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms > 0 ? mono_ns() + (int64_t)timeout_ms * 1000000LL : 0;
}

int proc_run_logged(struct runtime *rt, const char *const *argv, const char *log_path,
		    int timeout_ms, int *exit_code, struct error *err)
{
	_cleanup_close_ int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return err_sys(err, E_IO, "open /dev/null");
	_cleanup_close_ int out = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (out < 0)
		return err_sys(err, E_IO, "open %s", log_path);
	struct waiter w;
	struct proc_io io = {in, out, out};
	int rc = spawn_registered(rt->reaper, argv, NULL, &io, &w, err);
	closep(&in); /* the child has its copies; ours need not live while it runs */
	closep(&out);
	if (rc < 0)
		return rc;
	bool timed_out = wait_waiter(rt->reaper, &w, deadline_of(timeout_ms));
	*exit_code = exit_code_of(w.status);
	if (timed_out)
		return err_set(err, E_TIMEOUT, "%s timed out after %d ms", argv[0], timeout_ms);
	return 0;
}

struct capture {
	int fd;
	char *buf;
	size_t len, max;
};

/* Reads what is there; false at EOF or error. Bytes past max are dropped. */
static bool capture_read(struct capture *c)
{
	char tmp[4096];
	for (;;) {
		ssize_t n = read(c->fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN;
		if (n == 0)
			return false;
		size_t keep = c->len < c->max ? c->max - c->len : 0;
		if (keep > (size_t)n)
			keep = (size_t)n;
		if (keep) {
			c->buf = xrealloc(c->buf, c->len + keep + 1);
			memcpy(c->buf + c->len, tmp, keep);
			c->len += keep;
		}
	}
}

static void capture_close(struct capture *c)
{
	closep(&c->fd);
}

/* Pumps both pipes until both hit EOF, or the process exited (a background
 * grandchild may keep a pipe open forever), or the deadline. Without a pidfd
 * (-1) only EOF ends it, unless the process is known to be gone already. */
static void pump_output(struct capture *cap, int pidfd, bool gone, int64_t deadline_ns)
{
	bool exited = gone;
	while (cap[0].fd >= 0 || cap[1].fd >= 0) {
		struct pollfd fds[3];
		int n = 2;
		for (int i = 0; i < 2; i++)
			fds[i] = (struct pollfd){.fd = cap[i].fd, .events = POLLIN};
		if (pidfd >= 0 && !exited)
			fds[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
		int timeout = -1;
		if (deadline_ns > 0) {
			int64_t left = (deadline_ns - mono_ns()) / 1000000;
			if (left <= 0)
				return;
			timeout = (int)(left > 1000000 ? 1000000 : left);
		}
		if (exited)
			timeout = 0; /* drain what is buffered, then stop */
		int rc = poll(fds, (nfds_t)n, timeout);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return;
		for (int i = 0; i < 2; i++)
			if (fds[i].revents && !capture_read(&cap[i]))
				capture_close(&cap[i]);
		if (n == 3 && fds[2].revents)
			exited = true;
	}
}

static int make_pipe(int fds[2], struct error *err)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return err_sys(err, E_IO, "pipe");
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	return 0;
}

int proc_run(struct runtime *rt, const char *const *argv, const char *const *envp, int timeout_ms,
	     size_t max_output, struct rt_exec_result *res, struct error *err)
{
	memset(res, 0, sizeof(*res));
	_cleanup_close_pair_ int po[2] = {-1, -1};
	_cleanup_close_pair_ int pe[2] = {-1, -1};
	_cleanup_close_ int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return err_sys(err, E_IO, "open /dev/null");
	if (make_pipe(po, err) < 0 || make_pipe(pe, err) < 0)
		return -1;
	struct waiter w;
	struct proc_io io = {in, po[1], pe[1]};
	int rc = spawn_registered(rt->reaper, argv, envp, &io, &w, err);
	/* Our write ends would keep the pipes from ever reaching EOF. */
	closep(&in);
	closep(&po[1]);
	closep(&pe[1]);
	struct capture cap[2] = {{steal_fd(&po[0]), NULL, 0, max_output},
				 {steal_fd(&pe[0]), NULL, 0, max_output}};
	if (rc < 0) {
		capture_close(&cap[0]);
		capture_close(&cap[1]);
		return rc;
	}
	int64_t deadline = deadline_of(timeout_ms);
	/* ESRCH: already reaped, only buffered output is left to read. Other
	 * failures (no fds left) fall back to waiting for EOF. */
	_cleanup_close_ int pidfd = rt_pidfd_open(w.pid);
	bool gone = pidfd < 0 && errno == ESRCH;
	pump_output(cap, pidfd, gone, deadline);
	closep(&pidfd);
	capture_close(&cap[0]);
	capture_close(&cap[1]);
	res->timed_out = wait_waiter(rt->reaper, &w, deadline);
	res->exit_code = res->timed_out ? -1 : exit_code_of(w.status);
	res->out = cap[0].buf ? cap[0].buf : xstrdup("");
	res->out[cap[0].len] = '\0';
	res->out_len = cap[0].len;
	res->err = cap[1].buf ? cap[1].buf : xstrdup("");
	res->err[cap[1].len] = '\0';
	res->err_len = cap[1].len;
	return 0;
}

/* ---- long-lived children (interactive sessions) ---- */

struct proc_child {
	struct waiter w;
};

int proc_spawn(struct runtime *rt, const char *const *argv, int in, int out, int errfd,
	       struct proc_child **out_new, struct error *err)
{
	struct proc_child *c = xcalloc(1, sizeof(*c));
	struct proc_io io = {in, out, errfd};
	if (spawn_registered(rt->reaper, argv, NULL, &io, &c->w, err) < 0) {
		free(c);
		return -1;
	}
	*out_new = c;
	return 0;
}

pid_t proc_child_pid(const struct proc_child *c)
{
	return c->w.pid;
}

int proc_child_wait(struct runtime *rt, struct proc_child *c, int timeout_ms)
{
	wait_waiter(rt->reaper, &c->w, deadline_of(timeout_ms));
	int code = exit_code_of(c->w.status);
	free(c);
	return code;
}
