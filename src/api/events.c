/* /api/v1/events: list, one, stats, delete, cleanup, and the live stream
 * (Server-Sent Events). A stream never blocks an HTTP thread: when it has
 * nothing to send its content reader suspends the connection and returns
 * 0, the pattern libmicrohttpd prescribes; a new event (or a 1 s tick, for
 * keep-alives and closed peers) resumes every waiting stream. libmicrohttpd
 * asks a stream for data only when its socket can take more, so a slow
 * reader only ever holds its own connection and its own small buffer. */
#include <microhttpd.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/http.h"
#include "api/socketio.h"
#include "common/log.h"
#include "common/util.h"
#include "platform/auth.h"
#include "platform/events.h"

#define STREAM_BATCH 100
#define STREAM_KEEPALIVE_NS (10LL * 1000 * 1000 * 1000)
#define STREAM_TICK_MS 1000
#define FILTER_VALUE_MAX 100

/* ------------------------------------------------------------ filters */

struct filter_strs {
	char *v[6]; /* owned copies for streams: event_type .. realm_id */
};

static int filter_parse(struct req *r, struct events_filter *f, struct error *err)
{
	static const char *const keys[] = {"event_type", "resource_type", "resource_id",
					   "project_id", "container_id",  "realm_id"};
	const char **dst[] = {&f->event_type, &f->resource_type, &f->resource_id,
			      &f->project_id, &f->container_id,	 &f->realm_id};
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *v = req_query(r, keys[i]);
		if (v && (!*v || strlen(v) > FILTER_VALUE_MAX))
			return err_set(err, E_VALIDATION, "%s must be 1 to %d characters", keys[i],
				       FILTER_VALUE_MAX);
		*dst[i] = v;
	}
	if (f->realm_id && !id_valid(f->realm_id))
		return err_set(err, E_INVALID_ID, "realm_id: Invalid ID format");
	if (events_parse_time("start_date", req_query(r, "start_date"), &f->start_ms, err) < 0)
		return -1;
	return events_parse_time("end_date", req_query(r, "end_date"), &f->end_ms, err);
}

/* ------------------------------------------------------------ plain routes */

static void list(struct req *r, struct resp *out)
{
	struct error err = {0};
	struct events_filter f;
	int64_t limit, offset;
	json_t *data = NULL;
	const char *sort = req_query(r, "sort_by"), *order = req_query(r, "sort_order");
	int rc = filter_parse(r, &f, &err);
	if (rc == 0)
		rc = req_int_query(r, "limit", 50, 1, EVENTS_LIMIT_MAX, &limit, &err);
	if (rc == 0)
		rc = req_int_query(r, "offset", 0, 0, INT32_MAX, &offset, &err);
	if (rc == 0 && sort && strcmp(sort, "created_at") && strcmp(sort, "event_type") &&
	    strcmp(sort, "resource_type"))
		rc = err_set(&err, E_VALIDATION,
			     "sort_by must be one of created_at, event_type, resource_type");
	if (rc == 0 && order && strcmp(order, "asc") && strcmp(order, "desc"))
		rc = err_set(&err, E_VALIDATION, "sort_order must be asc or desc");
	if (rc == 0)
		rc = events_list(r->pf, &r->who, &f, sort, !order || strcmp(order, "asc") != 0,
				 offset, limit, &data, &err);
	resp_result(out, rc, &err, 200, "Events retrieved successfully", data);
}

static void get(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = events_get(r->pf, &r->who, r->params[0], &data, &err);
	resp_result(out, rc, &err, 200, "Event retrieved successfully", data);
}

static void stats(struct req *r, struct resp *out)
{
	struct error err = {0};
	struct events_filter f;
	json_t *data = NULL;
	int rc = filter_parse(r, &f, &err);
	if (rc == 0)
		rc = events_stats(r->pf, &r->who, &f, &data, &err);
	resp_result(out, rc, &err, 200, "Event statistics retrieved successfully", data);
}

static void delete (struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = events_delete(r->pf, &r->who, r->body, &data, &err);
	resp_result(out, rc, &err, 200, "Events deleted successfully", data);
}

static void delete_one(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = events_delete_one(r->pf, &r->who, r->params[0], &data, &err);
	resp_result(out, rc, &err, 200, "Event deleted successfully", data);
}

static void cleanup(struct req *r, struct resp *out)
{
	struct error err = {0};
	json_t *data = NULL;
	int rc = events_cleanup(r->pf, &r->who, r->body, &data, &err);
	resp_result(out, rc, &err, 200, "Events cleaned up successfully", data);
}

/* ------------------------------------------------------------ streams */

struct stream {
	struct MHD_Connection *conn;
	struct platform *pf;
	struct principal who; /* a copy with its own references */
	/* What the stream was opened with, checked again before every write:
	 * a ban, a logout, a deleted or narrowed token ends the stream. */
	char *credential;
	char client_ip[64];
	struct events_filter f;
	struct filter_strs own;
	int64_t last_seq;
	char *buf;
	size_t len, off, cap;
	int64_t last_write_ns;
	struct stream *next; /* in the waiting list while suspended */
};

static struct {
	pthread_mutex_t mu;
	struct stream *waiting;
	uint64_t gen; /* bumped by every wake-up */
	bool stopping, ticker_on;
	pthread_t ticker;
} hub = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Resumes every waiting stream; caller holds hub.mu. */
static void resume_all_locked(void)
{
	for (struct stream *s = hub.waiting, *next; s; s = next) {
		next = s->next;
		s->next = NULL;
		MHD_resume_connection(s->conn);
	}
	hub.waiting = NULL;
}

/* After every committed event: SSE streams and socket.io sessions. */
static void wake(void *arg)
{
	pthread_mutex_lock(&hub.mu);
	hub.gen++;
	resume_all_locked();
	pthread_mutex_unlock(&hub.mu);
	api_sio_wake();
}

static void *ticker(void *arg)
{
	for (;;) {
		usleep(STREAM_TICK_MS * 1000);
		pthread_mutex_lock(&hub.mu);
		bool stop = hub.stopping;
		resume_all_locked();
		pthread_mutex_unlock(&hub.mu);
		if (stop)
			return NULL;
	}
}

void api_streams_stop(void)
{
	pthread_mutex_lock(&hub.mu);
	hub.stopping = true;
	resume_all_locked();
	bool joined = hub.ticker_on;
	hub.ticker_on = false;
	pthread_mutex_unlock(&hub.mu);
	if (joined)
		pthread_join(hub.ticker, NULL);
	events_set_hook(NULL, NULL);
}

static void buf_put(struct stream *s, const char *data, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		s->buf = xrealloc(s->buf, s->cap);
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
}

/* "id: <seq>\nevent: <type>\ndata: <json>\n\n" for each new event. */
static bool fill(struct stream *s)
{
	json_t *arr = NULL, *ev;
	struct error err = {0};
	int64_t last = s->last_seq;
	if (events_after(s->pf, &s->who, &s->f, s->last_seq, STREAM_BATCH, &arr, &last, &err) < 0) {
		log_warn("event stream: %s", err.msg);
		return false;
	}
	size_t i;
	json_array_foreach(arr, i, ev)
	{
		char *data = json_dumps(ev, JSON_COMPACT);
		char head[160];
		int n = snprintf(head, sizeof(head), "id: %lld\nevent: %s\ndata: ",
				 (long long)json_integer_value(json_object_get(ev, "sequence")),
				 json_string_value(json_object_get(ev, "event_type")));
		buf_put(s, head, (size_t)n);
		buf_put(s, data, strlen(data));
		buf_put(s, "\n\n", 2);
		free(data);
	}
	/* Events of other realms were filtered out but still move the cursor. */
	s->last_seq = last;
	json_decref(arr);
	return s->len > 0;
}

static ssize_t drain(struct stream *s, char *out, size_t max)
{
	size_t n = s->len - s->off < max ? s->len - s->off : max;
	memcpy(out, s->buf + s->off, n);
	s->off += n;
	if (s->off == s->len)
		s->off = s->len = 0;
	s->last_write_ns = mono_ns();
	return (ssize_t)n;
}

/* Authenticates the stream's credential again (cheap: the authenticator's
 * cache, which every ban, logout and token change invalidates) and takes
 * the fresh principal, so narrowed realms or permissions apply at once. */
static bool still_authorized(struct stream *s)
{
	struct principal now = {0};
	struct error err = {0};
	if (auth_authenticate(s->pf, s->credential, s->client_ip, s->who.scoped_realm, &now, &err) <
		0 ||
	    principal_require(&now, "resources.events", &err) < 0 ||
	    events_require_access(&now, &err) < 0) {
		principal_clear(&now);
		return false;
	}
	principal_clear(&s->who);
	s->who = now;
	return true;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct stream *s = cls;
	if (!still_authorized(s))
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (s->len > s->off)
		return drain(s, out, max);
	pthread_mutex_lock(&hub.mu);
	bool stopping = hub.stopping;
	uint64_t gen = hub.gen;
	pthread_mutex_unlock(&hub.mu);
	if (stopping)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (fill(s))
		return drain(s, out, max);
	if (mono_ns() - s->last_write_ns > STREAM_KEEPALIVE_NS) {
		buf_put(s, ": keepalive\n\n", 13);
		return drain(s, out, max);
	}
	pthread_mutex_lock(&hub.mu);
	/* An event that came between the query and now must not wait a tick. */
	if (hub.gen == gen && !hub.stopping) {
		s->next = hub.waiting;
		hub.waiting = s;
		MHD_suspend_connection(s->conn);
	}
	pthread_mutex_unlock(&hub.mu);
	return 0;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;
	pthread_mutex_lock(&hub.mu);
	for (struct stream **pp = &hub.waiting; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	pthread_mutex_unlock(&hub.mu);
	principal_clear(&s->who);
	if (s->credential) {
		sodium_memzero(s->credential, strlen(s->credential));
		free(s->credential);
	}
	for (size_t i = 0; i < ARRAY_SIZE(s->own.v); i++)
		free(s->own.v[i]);
	free(s->buf);
	free(s);
}

static void ticker_start(void)
{
	pthread_mutex_lock(&hub.mu);
	if (!hub.ticker_on && !hub.stopping && pthread_create(&hub.ticker, NULL, ticker, NULL) == 0)
		hub.ticker_on = true;
	pthread_mutex_unlock(&hub.mu);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* The stream's own copies of what outlives the request. */
static void stream_own(struct stream *s, struct req *r, const struct events_filter *f)
{
	s->who = r->who;
	s->who.permissions = json_incref(r->who.permissions);
	s->who.token_realm_ids = json_incref(r->who.token_realm_ids);
	s->credential = xstrdup(req_header(r, MHD_HTTP_HEADER_AUTHORIZATION));
	snprintf(s->client_ip, sizeof(s->client_ip), "%s", r->client_ip);
	s->f = *f;
	const char **src[] = {&s->f.event_type, &s->f.resource_type, &s->f.resource_id,
			      &s->f.project_id, &s->f.container_id,  &s->f.realm_id};
	for (size_t i = 0; i < ARRAY_SIZE(src); i++) {
		s->own.v[i] = dup_or_null(*src[i]);
		*src[i] = s->own.v[i];
	}
}

static void stream(struct req *r, struct resp *out)
{
	struct error err = {0};
	struct events_filter f;
	int64_t since = -1;
	const char *last_id = req_header(r, "Last-Event-ID");
	if (filter_parse(r, &f, &err) < 0 || events_require_access(&r->who, &err) < 0 ||
	    req_int_query(r, "since", -1, 0, INT64_MAX, &since, &err) < 0) {
		resp_err(out, &err, NULL);
		return;
	}
	struct stream *s = xcalloc(1, sizeof(*s));
	s->conn = r->conn;
	s->pf = r->pf;
	stream_own(s, r, &f);
	s->last_write_ns = mono_ns();
	/* Resume after the last event the client saw; else only new events. */
	char *end = NULL;
	long long seq = last_id ? strtoll(last_id, &end, 10) : -1;
	if (last_id && *last_id && !*end && seq >= 0)
		s->last_seq = seq;
	else if (since >= 0)
		s->last_seq = since;
	else if (events_last_seq(r->pf, &s->last_seq, &err) < 0)
		s->last_seq = 0;
	/* A first comment line tells the client the stream is open. */
	buf_put(s, ": connected\n\n", 13);
	ticker_start();
	out->status = 200;
	out->stream_read = stream_read;
	out->stream_cls = s;
	out->stream_free = stream_free;
}

void api_register_events(struct api_server *srv)
{
	events_set_hook(wake, NULL);
	api_route(srv, "GET", "/api/v1/events", list, 0, "resources.events");
	api_route(srv, "DELETE", "/api/v1/events", delete, ROUTE_WRITE, "resources.events");
	api_route(srv, "GET", "/api/v1/events/stats", stats, 0, "resources.events");
	api_route(srv, "GET", "/api/v1/events/stream", stream, 0, "resources.events");
	api_route(srv, "POST", "/api/v1/events/cleanup", cleanup, ROUTE_WRITE, "resources.events");
	api_route(srv, "GET", "/api/v1/events/{id}", get, 0, "resources.events");
	api_route(srv, "DELETE", "/api/v1/events/{id}", delete_one, ROUTE_WRITE,
		  "resources.events");
}
