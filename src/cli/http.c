/* The one request function: libcurl, the Hoody envelopes, and the mapping
 * of failures to exit codes. Response bodies are capped (CLI_MAX_RESPONSE) so
 * a misbehaving server cannot make the client allocate without bound. */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"

int cli_fail(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("hoody: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return code;
}

int exit_for_status(long status)
{
	if (status == 401 || status == 403)
		return EXIT_AUTH;
	if (status == 404)
		return EXIT_NOTFOUND;
	if (status == 409)
		return EXIT_CONFLICT;
	if (status >= 500)
		return EXIT_SERVER;
	return EXIT_FAIL;
}

/* ---- paths ---- */

static void buf_add(char **s, size_t *len, const char *add, size_t n)
{
	*s = xrealloc(*s, *len + n + 1);
	memcpy(*s + *len, add, n);
	*len += n;
	(*s)[*len] = '\0';
}

static void buf_add_escaped(char **s, size_t *len, const char *raw)
{
	char *e = curl_easy_escape(NULL, raw, 0);
	if (!e)
		HOODY_PANIC("out of memory (URL escape)");
	else
		buf_add(s, len, e, strlen(e));
	curl_free(e);
}

char *api_path_new(const char *fmt, ...)
{
	va_list ap;
	char *s = xstrdup("");
	size_t len = 0;
	va_start(ap, fmt);
	for (const char *p = fmt; *p; p++) {
		if (p[0] == '%' && p[1] == 's') {
			buf_add_escaped(&s, &len, va_arg(ap, const char *));
			p++;
		} else {
			buf_add(&s, &len, p, 1);
		}
	}
	va_end(ap);
	return s;
}

char *api_path_query_new(const char *path, json_t *query)
{
	char *s = xstrdup(path);
	size_t len = strlen(s);
	const char *key;
	json_t *v;
	char sep = strchr(s, '?') ? '&' : '?';
	json_object_foreach(query, key, v)
	{
		char num[32];
		const char *text = json_string_value(v);
		if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			text = num;
		} else if (json_is_boolean(v)) {
			text = json_is_true(v) ? "true" : "false";
		}
		if (!text)
			continue;
		buf_add(&s, &len, &sep, 1);
		buf_add_escaped(&s, &len, key);
		buf_add(&s, &len, "=", 1);
		buf_add_escaped(&s, &len, text);
		sep = '&';
	}
	return s;
}

/* ---- transport ---- */

struct body_buf {
	char *data;
	size_t len;
	bool too_big;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct body_buf *b = userdata;
	size_t n = size * nmemb;
	if (b->len + n > CLI_MAX_RESPONSE) {
		b->too_big = true;
		return 0; /* aborts the transfer */
	}
	b->data = xrealloc(b->data, b->len + n + 1);
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static CURL *easy_new(struct cli *c, const char *method, const char *path,
		      struct curl_slist **hdrs_out)
{
	CURL *h = curl_easy_init();
	if (!h)
		HOODY_PANIC("curl_easy_init failed");
	char *url = xasprintf("%s%s", c->base_url, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* send ".." ids as typed: the server refuses them, curl must not resolve them */
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "hoody-cli/1");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
	if (c->token && *c->token) {
		char *auth = xasprintf("Authorization: Bearer %s", c->token);
		hdrs = curl_slist_append(hdrs, auth);
		free(auth);
	}
	if (c->if_match) {
		char *im = xasprintf("If-Match: %s", c->if_match);
		hdrs = curl_slist_append(hdrs, im);
		free(im);
	}
	*hdrs_out = hdrs;
	return h;
}

static int perform(CURL *h, struct curl_slist *hdrs, struct cli *c)
{
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	CURLcode rc = curl_easy_perform(h);
	/* WRITE_ERROR: our own callback stopped the transfer (size cap, stream end) */
	if (rc == CURLE_OK || rc == CURLE_WRITE_ERROR)
		return 0;
	return cli_fail(EXIT_CONNECT, "cannot reach %s: %s", c->base_url, curl_easy_strerror(rc));
}

/* A printable excerpt of a non-JSON answer, kept for the error message. */
static json_t *raw_excerpt(const char *data, size_t len)
{
	char text[201];
	size_t n = len < 200 ? len : 200;
	for (size_t i = 0; i < n; i++)
		text[i] = data[i] >= 0x20 && data[i] < 0x7f ? data[i] : ' ';
	text[n] = '\0';
	return json_pack("{s:s}", "__raw", text);
}

int api_call_raw(struct cli *c, const char *method, const char *path, json_t *body,
		 long *status_out, json_t **json_out)
{
	struct curl_slist *hdrs;
	struct body_buf resp = {0};
	char *payload = NULL;
	CURL *h = easy_new(c, method, path, &hdrs);
	*status_out = 0;
	*json_out = NULL;
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
	} else if (strcmp(method, "GET") && strcmp(method, "DELETE")) {
		/* an explicit empty body, so POST/PUT carry Content-Length: 0 */
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		hdrs = curl_slist_append(hdrs, "Content-Type:"); /* no form content type */
	}
	/* operations may legitimately take up to their 600 s timeout */
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 700L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
	int rc = perform(h, hdrs, c);
	if (rc == 0 && resp.too_big)
		rc = cli_fail(EXIT_SERVER, "response larger than %u bytes refused",
			      CLI_MAX_RESPONSE);
	if (rc == 0) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status_out);
		if (resp.len)
			*json_out = json_loadb(resp.data, resp.len, 0, NULL);
		if (!*json_out && resp.len)
			*json_out = raw_excerpt(resp.data, resp.len);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(payload);
	free(resp.data);
	return rc;
}

static int print_api_error(long status, json_t *j)
{
	char msg[1024], code[128];
	const char *m = json_string_value(json_object_get(j, "message"));
	const char *cd = json_string_value(json_object_get(j, "code"));
	const char *raw = json_string_value(json_object_get(j, "__raw"));
	if (!cd)
		cd = json_string_value(json_object_get(j, "error"));
	if (raw)
		return cli_fail(status >= 200 && status < 300 ? EXIT_SERVER
							      : exit_for_status(status),
				"unexpected response (HTTP %ld): %s", status, raw);
	return cli_fail(exit_for_status(status), "%s (%s, HTTP %ld)",
			text_clean(m ? m : "request failed", msg, sizeof(msg)),
			text_clean(cd ? cd : "no code", code, sizeof(code)), status);
}

int api_call(struct cli *c, const char *method, const char *path, json_t *body, json_t **data_out)
{
	long status;
	json_t *j;
	int rc = api_call_raw(c, method, path, body, &status, &j);
	if (rc)
		return rc;
	if (status < 200 || status >= 300 || json_object_get(j, "__raw")) {
		rc = print_api_error(status, j);
		if (status == 401 && !c->token)
			fprintf(stderr,
				"hoody: no token: run 'hoody auth login', pass -t/--token or set "
				"HOODY_TOKEN\n");
	} else if (data_out) {
		json_t *d = json_object_get(j, "data");
		*data_out = d ? json_incref(d) : json_null();
	}
	json_decref(j);
	return rc;
}

char *api_path_args_new(const char *path, const struct args *a)
{
	json_t *q = json_object();
	args_to_json(a, DEST_QUERY, q);
	char *s = api_path_query_new(path, q);
	json_decref(q);
	return s;
}

int api_show(struct cli *c, const char *method, const char *path, json_t *body_steal,
	     const char *list_key, const struct column *cols)
{
	json_t *data = NULL;
	int rc = api_call(c, method, path, body_steal, &data);
	json_decref(body_steal);
	if (rc == 0)
		output_result(c, data, list_key, cols);
	json_decref(data);
	return rc;
}

int api_act(struct cli *c, const char *method, const char *path, json_t *body, const char *question,
	    const char *done_fmt, ...)
{
	va_list ap, ap2;
	char *q = NULL, *done = NULL;
	va_start(ap, done_fmt);
	va_copy(ap2, ap);
	if ((question && vasprintf(&q, question, ap2) < 0) || vasprintf(&done, done_fmt, ap) < 0)
		HOODY_PANIC("out of memory (asprintf)");
	va_end(ap2);
	va_end(ap);
	json_t *data = NULL;
	int rc;
	if (q && !confirm(c, "%s", q))
		rc = cli_fail(EXIT_FAIL, "cancelled: nothing was changed");
	else if ((rc = api_call(c, method, path, body, &data)) == 0)
		output_done(c, data, "%s", done);
	json_decref(data);
	free(q);
	free(done);
	return rc;
}

/* ---- server-sent events ---- */

struct sse {
	struct cli *c;
	int (*on_event)(struct cli *c, json_t *ev);
	char *line; /* the current, unfinished line */
	size_t line_len;
	char *data; /* "data:" lines of the current event, joined by \n */
	size_t data_len;
	bool stop, too_big;
	long status;
	CURL *h;
};

static void sse_dispatch(struct sse *s)
{
	if (!s->data_len)
		return;
	json_t *ev = json_loadb(s->data, s->data_len, 0, NULL);
	s->data_len = 0;
	if (ev && s->on_event(s->c, ev))
		s->stop = true;
	json_decref(ev);
}

static void sse_line(struct sse *s, char *line, size_t n)
{
	if (n && line[n - 1] == '\r')
		line[--n] = '\0';
	if (n == 0) {
		sse_dispatch(s);
		return;
	}
	if (strncmp(line, "data:", 5))
		return; /* comments (heartbeats), event:, id:, retry: */
	const char *v = line + 5 + (line[5] == ' ');
	size_t vn = n - (size_t)(v - line);
	if (s->data_len)
		buf_add(&s->data, &s->data_len, "\n", 1);
	buf_add(&s->data, &s->data_len, v, vn);
}

static size_t on_sse(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct sse *s = userdata;
	size_t n = size * nmemb;
	if (!s->status)
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->status != 200) {
		/* an error envelope: keep it (bounded) and report it after */
		if (s->data_len + n > CLI_MAX_SSE_EVENT)
			return 0;
		buf_add(&s->data, &s->data_len, ptr, n);
		return n;
	}
	for (size_t i = 0; i < n && !s->stop; i++) {
		if (ptr[i] != '\n') {
			if (s->line_len + s->data_len >= CLI_MAX_SSE_EVENT) {
				s->too_big = true;
				return 0;
			}
			buf_add(&s->line, &s->line_len, ptr + i, 1);
			continue;
		}
		buf_add(&s->line, &s->line_len, "", 0);
		sse_line(s, s->line, s->line_len);
		s->line_len = 0;
	}
	return s->stop ? 0 : n;
}

int api_stream(struct cli *c, const char *path, int (*on_event)(struct cli *c, json_t *ev))
{
	struct curl_slist *hdrs;
	struct sse s = {.c = c, .on_event = on_event};
	CURL *h = easy_new(c, "GET", path, &hdrs);
	s.h = h;
	hdrs = curl_slist_append(hdrs, "Accept: text/event-stream");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_sse);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	int rc = perform(h, hdrs, c);
	if (rc == 0) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &s.status);
		if (s.too_big) {
			rc = cli_fail(EXIT_SERVER, "event larger than %u bytes refused",
				      CLI_MAX_SSE_EVENT);
		} else if (s.status != 200) {
			json_t *j = s.data_len ? json_loadb(s.data, s.data_len, 0, NULL) : NULL;
			if (!j)
				j = s.data_len ? raw_excerpt(s.data, s.data_len) : json_object();
			rc = print_api_error(s.status, j);
			json_decref(j);
		}
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(s.line);
	free(s.data);
	return rc;
}
