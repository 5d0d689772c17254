/* hoody-init: PID 1 of every container (bind-mounted read-only at /.hoody/init).
 *
 * It is static so that an image needs nothing installed. It reaps every zombie
 * re-parented to it, and on SIGTERM or SIGINT it forwards SIGTERM to every
 * process of the container, waits for them and exits 0, which is what lets
 * `stop` be graceful. Without arguments it stays alive forever; with arguments
 * it runs them as a child and exits with that child's status (after the same
 * graceful shutdown of whatever else is left).
 *
 * When the Hoody Kit agent is mounted at /.hoody/kit, it is started too and
 * kept alive: restarted after 50 ms when it dies, the delay doubling on each
 * quick death up to 5 s and reset once it has lived 10 s. Each death is one
 * line on stderr (the container's init.log).
 *
 * All signals are blocked and taken with sigwaitinfo(): no async handlers, no
 * races between a SIGCHLD and the decision to wait. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KIT_PATH "/.hoody/kit"
#define KIT_BACKOFF_MIN_MS 50
#define KIT_BACKOFF_MAX_MS 5000
#define KIT_STABLE_MS 10000
/* One line per agent death for the platform (its status logs), in the
 * agent's socket directory: "<unix ms> <signal> <exit status> <delay ms>". */
#define KIT_EVENTS "/.hoody/kit.d/events"
#define KIT_EVENTS_MAX 65536

static pid_t main_child = -1;
static int main_status = 0;
static bool main_done = false;

static bool kit_enabled;
static pid_t kit_pid = -1;
static long long kit_started_ms, kit_restart_at_ms = -1;
static long kit_backoff_ms = KIT_BACKOFF_MIN_MS;

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kit_spawn(const sigset_t *old)
{
	kit_restart_at_ms = -1;
	kit_pid = fork();
	if (kit_pid < 0) {
		perror("hoody-init: fork hoody-kit");
		kit_restart_at_ms = mono_ms() + KIT_BACKOFF_MAX_MS;
		return;
	}
	if (kit_pid == 0) {
		sigprocmask(SIG_SETMASK, old, NULL);
		setsid();
		execl(KIT_PATH, "hoody-kit", (char *)NULL);
		fprintf(stderr, "hoody-init: exec %s: %s\n", KIT_PATH, strerror(errno));
		_exit(127);
	}
	kit_started_ms = mono_ms();
}

static void kit_event(int sig, int status, long delay_ms)
{
	int fd = open(KIT_EVENTS, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat sb;
	if (fd < 0)
		return;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size < KIT_EVENTS_MAX) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		dprintf(fd, "%lld %d %d %ld\n", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
			sig, status, delay_ms);
	}
	close(fd);
}

static void kit_died(int st)
{
	long long now = mono_ms();
	if (now - kit_started_ms >= KIT_STABLE_MS)
		kit_backoff_ms = KIT_BACKOFF_MIN_MS;
	if (WIFSIGNALED(st))
		fprintf(stderr, "hoody-init: hoody-kit killed by signal %d, restarting in %ld ms\n",
			WTERMSIG(st), kit_backoff_ms);
	else
		fprintf(stderr,
			"hoody-init: hoody-kit exited with status %d, restarting in %ld ms\n",
			WEXITSTATUS(st), kit_backoff_ms);
	kit_event(WIFSIGNALED(st) ? WTERMSIG(st) : 0, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
		  kit_backoff_ms);
	kit_pid = -1;
	kit_restart_at_ms = now + kit_backoff_ms;
	kit_backoff_ms =
	    kit_backoff_ms * 2 > KIT_BACKOFF_MAX_MS ? KIT_BACKOFF_MAX_MS : kit_backoff_ms * 2;
}

/* Reaps every exited process; returns true once no child is left at all. */
static bool reap_all(void)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p > 0) {
			if (p == main_child) {
				main_done = true;
				main_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			}
			if (p == kit_pid)
				kit_died(st);
			continue;
		}
		if (p < 0 && errno == EINTR)
			continue;
		return p < 0 && errno == ECHILD;
	}
}

/* Every process of the pid namespace but us gets SIGTERM; we wait for all of
 * them. Whoever ignores it is SIGKILLed by the runtime after its timeout. */
static void shutdown_all(const sigset_t *set, int code)
{
	kit_enabled = false;
	kill(-1, SIGTERM);
	for (;;) {
		if (reap_all())
			exit(code);
		siginfo_t si;
		if (sigwaitinfo(set, &si) < 0 && errno != EINTR)
			exit(code);
	}
}

static void spawn_main(char **argv, const sigset_t *old)
{
	main_child = fork();
	if (main_child < 0) {
		perror("hoody-init: fork");
		exit(127);
	}
	if (main_child == 0) {
		sigprocmask(SIG_SETMASK, old, NULL);
		setsid();
		execvp(argv[0], argv);
		fprintf(stderr, "hoody-init: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
}

int main(int argc, char **argv)
{
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);

	/* Outside a pid namespace (tests, misuse) orphans still come to us. */
	if (getpid() != 1)
		prctl(PR_SET_CHILD_SUBREAPER, 1);

	if (argc > 1)
		spawn_main(argv + 1, &old);
	kit_enabled = access(KIT_PATH, X_OK) == 0;
	if (kit_enabled)
		kit_spawn(&old);

	for (;;) {
		siginfo_t si;
		int sig;
		if (kit_enabled && kit_restart_at_ms >= 0) {
			long long left = kit_restart_at_ms - mono_ms();
			if (left <= 0) {
				kit_spawn(&old);
				continue;
			}
			struct timespec ts = {left / 1000, (left % 1000) * 1000000};
			sig = sigtimedwait(&all, &si, &ts);
		} else {
			sig = sigwaitinfo(&all, &si);
		}
		if (sig < 0)
			continue;
		switch (sig) {
		case SIGCHLD:
			reap_all();
			if (main_done)
				shutdown_all(&all, main_status);
			break;
		case SIGTERM:
		case SIGINT:
			shutdown_all(&all, 0);
			break;
		case SIGHUP:
		case SIGUSR1:
		case SIGUSR2:
		case SIGWINCH:
			if (main_child > 0 && !main_done)
				kill(main_child, sig);
			break;
		default:
			break;
		}
	}
}
