/* A tiny HTTP/1.0 client for the Kit agent's socket: one request, bounded
 * in time (1 s) and size (4 MiB), so a wedged agent never stalls an API
 * read. */
#include "platform/platform_int.h"
#include "platform/kit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/ids.h"
#include "common/json.h"
#include "common/util.h"
#include "store/store.h"
#include "runtime/runtime.h"

#define KIT_REPLY_MAX (4u << 20)
#define KIT_TIMEOUT_MS 1000

static int kit_connect(struct platform *pf, const char *id)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct error err = {0};
	if (!pf->rt ||
	    pf->rto->kit_socket(pf->rt, id, sun.sun_path, sizeof(sun.sun_path), &err) < 0)
		return -1;
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {KIT_TIMEOUT_MS / 1000, (KIT_TIMEOUT_MS % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -1;
	return steal_fd(&fd);
}

/* The "data" of the agent's JSON envelope for GET path; NULL on any failure. */
static json_t *kit_get(struct platform *pf, const char *id, const char *service, const char *path)
{
	_cleanup_close_ int fd = kit_connect(pf, id);
	if (fd < 0)
		return NULL;
	_cleanup_free_ char *rq = xasprintf(
	    "GET %s HTTP/1.0\r\nHost: kit\r\nX-Hoody-Kit-Service: %s\r\n\r\n", path, service);
	size_t cap = 65536, len = 0;
	_cleanup_free_ char *buf = xmalloc(cap);
	if (send(fd, rq, strlen(rq), MSG_NOSIGNAL) != (ssize_t)strlen(rq))
		return NULL;
	int64_t deadline = now_ms() + KIT_TIMEOUT_MS;
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= KIT_REPLY_MAX)
				return NULL;
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR && now_ms() < deadline)
			continue;
		if (n < 0)
			return NULL;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	char *body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 || !body)
		return NULL;
	_cleanup_json_ json_t *env = json_loads(body + 4, 0, NULL);
	return json_incref(json_object_get(env, "data"));
}

static json_t *field(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return v ? v : json_null();
}

static json_t *terminal_view(json_t *s)
{
	char created[40], last[40];
	json_int_t c = json_integer_value(json_object_get(s, "created_at"));
	json_int_t l = json_integer_value(json_object_get(s, "last_activity"));
	iso8601_ms(c, created, sizeof(created));
	iso8601_ms(l, last, sizeof(last));
	json_t *hist = json_object_get(s, "command_history");
	json_t *v =
	    json_pack("{s:O, s:O, s:n, s:O, s:I, s:s, s:I, s:s, s:O, s:O}", "id",
		      field(s, "terminal_id"), "terminal_id", field(s, "terminal_id"), "display",
		      "username", field(s, "username"), "created_at", c, "created_at_formatted",
		      created, "last_activity", l, "last_activity_formatted", last, "shell",
		      field(s, "shell"), "status", field(s, "status"));
	if (v)
		json_object_set_new(v, "command_history",
				    json_is_array(hist) ? json_incref(hist) : json_array());
	return v;
}

json_t *kit_terminals_new(struct platform *pf, const char *id)
{
	json_t *out = json_array();
	json_t *list = kit_get(pf, id, "terminal", "/api/v1/terminal/sessions?history_limit=50");
	size_t i;
	json_t *s;
	json_array_foreach(list, i, s)
	{
		json_t *v = json_is_object(s) ? terminal_view(s) : NULL;
		if (v)
			json_array_append_new(out, v);
	}
	json_decref(list);
	return out;
}

#define KIT_EVENTS_MAX 65536

static void event_row(struct platform *pf, const char *id, const char *line)
{
	long long at;
	int sig, status;
	long delay;
	if (sscanf(line, "%lld %d %d %ld", &at, &sig, &status, &delay) != 4 || at <= 0 || sig < 0 ||
	    sig > 64 || status < -1 || status > 255 || delay < 0 || delay > 60000)
		return; /* the directory is the container's: trust nothing */
	_cleanup_free_ char *meta = xasprintf(
	    "{\"event\":\"kit_restart\",\"signal\":%d,\"exit_status\":%d,\"restart_in_ms\":%ld}",
	    sig, status, delay);
	struct status_log l = {
	    .from_status = CS_RUNNING,
	    .to_status = CS_RUNNING,
	    .transition_time = at,
	    .duration_ms = -1,
	    .triggered_by = "kit",
	    .metadata = meta,
	};
	struct error err = {0};
	id_new(l.id);
	snprintf(l.container_id, sizeof(l.container_id), "%s", id);
	store_status_log_insert(pf->store, &l, &err);
}

void kit_events_ingest(struct platform *pf, const char *id)
{
	char sock[256];
	struct error err = {0};
	if (!pf->rt || pf->rto->kit_socket(pf->rt, id, sock, sizeof(sock), &err) < 0)
		return;
	*strrchr(sock, '/') = '\0';
	_cleanup_free_ char *from = xasprintf("%s/events", sock);
	_cleanup_free_ char *taken = xasprintf("%s/events.platform", sock);
	/* Taken first, so hoody-init's next line starts a new file. */
	if (rename(from, taken) < 0)
		return;
	_cleanup_close_ int fd = open(taken, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	_cleanup_free_ char *buf = NULL;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		buf = xmalloc(KIT_EVENTS_MAX + 1);
		ssize_t n = read(fd, buf, KIT_EVENTS_MAX);
		buf[n > 0 ? n : 0] = '\0';
	}
	closep(&fd);
	unlink(taken);
	char *save = NULL;
	for (char *line = buf ? strtok_r(buf, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		event_row(pf, id, line);
}
