/* hoody-init: PID 1 of every container (bind-mounted read-only at /.hoody/init).
 *
 * It is static so that an image needs nothing installed. It reaps every zombie
 * re-parented to it, and on SIGTERM or SIGINT it forwards SIGTERM to every
 * process of the container, waits for them and exits 0, which is what lets
 * `stop` be graceful. Without arguments it stays alive forever; with arguments
 * it runs them as a child and exits with that child's status (after the same
 * graceful shutdown of whatever else is left).
 *
 * All signals are blocked and taken with sigwaitinfo(): no async handlers, no
 * races between a SIGCHLD and the decision to wait. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t main_child = -1;
static int main_status = 0;
static bool main_done = false;

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

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
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
