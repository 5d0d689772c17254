/* hoody-kit entry: the Unix socket listener and the service dispatch.
 *
 * The proxy names the service in X-Hoody-Kit-Service (terminal, files,
 * exec); without it (local tools) the path decides. Health routes answer
 * on every service. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "kit/kit.h"

int64_t kit_started_ms;

static void dispatch(struct req *r)
{
	const char *svc = req_header(r, "X-Hoody-Kit-Service");
	const char *p = r->path;
	static const char *const health[][2] = {{"/api/v1/terminal/health", "terminal"},
						{"/api/v1/files/health", "files"},
						{"/api/v1/exec/health", "exec"},
						{"/health", NULL}};
	for (size_t i = 0; i < sizeof(health) / sizeof(health[0]); i++)
		if (strcmp(p, health[i][0]) == 0 && strcmp(r->method, "GET") == 0) {
			send_health(r, health[i][1] ? health[i][1] : svc ? svc : "kit");
			return;
		}
	if (!svc)
		svc = path_is(p, "/api/v1/files", NULL)	 ? "files"
		      : path_is(p, "/api/v1/exec", NULL) ? "exec"
							 : "terminal";
	if (strcmp(svc, "terminal") == 0) {
		if (path_is(p, "/api/v1/system", NULL))
			system_route(r);
		else if (path_is(p, "/api/v1/terminal", NULL))
			term_route(r);
		else
			www_route(r);
	} else if (strcmp(svc, "files") == 0) {
		files_route(r);
	} else if (strcmp(svc, "exec") == 0) {
		exec_route(r);
	} else {
		send_err(r, 404, "the Kit has no service %s", svc);
	}
}

static void *conn_thread(void *arg)
{
	conn_serve((int)(intptr_t)arg, dispatch);
	return NULL;
}

static int listen_on(const char *path)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (fd < 0 || strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	unlink(path);
	mode_t old = umask(0077);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0 || listen(fd, 256) < 0)
		return -1; /* the cleanup keeps errno for the caller's message */
	return steal_fd(&fd);
}

int main(int argc, char **argv)
{
	const char *path = getenv("HOODY_KIT_SOCKET");
	if (argc > 1)
		path = argv[1];
	if (!path)
		path = KIT_SOCKET_DEFAULT;
	signal(SIGPIPE, SIG_IGN);
	kit_started_ms = now_ms();
	int lfd = listen_on(path);
	if (lfd < 0) {
		fprintf(stderr, "hoody-kit: listen %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				usleep(100000);
			continue;
		}
		if (!thread_spawn(conn_thread, (void *)(intptr_t)fd, 256 * 1024))
			close(fd); /* the thread owns it once started */
	}
}
