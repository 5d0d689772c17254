/* Exec service (kit-api.md §6): scripts under EXEC_DIR become HTTP
 * endpoints by file-system routing (Next.js style: users.sh -> /users,
 * users/[id].sh -> /users/{id}, [...slug] catch-all, [[...slug]] optional
 * catch-all; static > dynamic > catch-all > optional). Shell scripts run with
 * /bin/sh; .js/.mjs/.cjs with node when the image has it. A script gets the
 * request as CGI-like environment variables and its body on stdin; what it
 * prints is the response (an optional "Status:"/"Content-Type:" head ends
 * at the first empty line). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit/kit.h"

#define EXEC_DIR_DEFAULT "/hoody/exec/scripts"
#define SEGS_MAX 32
#define PARAMS_MAX 16
#define SCRIPT_BODY_MAX (16 << 20)
#define SCRIPT_OUT_MAX (16 << 20)
#define SCRIPT_TIMEOUT_S 60
#define LIST_MAX 1000

static const char *const exts[] = {".sh", ".js", ".mjs", ".cjs"};

static const char *exec_dir(void)
{
	const char *d = getenv("HOODY_EXEC_DIR");
	return d && *d ? d : EXEC_DIR_DEFAULT;
}

struct match {
	char script[4096];
	char pattern[1024];
	int np;
	char *pname[PARAMS_MAX], *pval[PARAMS_MAX];
};

static void match_clear(struct match *m)
{
	for (int i = 0; i < m->np; i++) {
		free(m->pname[i]);
		free(m->pval[i]);
	}
	m->np = 0;
}

/* dir/stem.<ext> exists as a file: path filled. */
static bool script_file(const char *dir, const char *stem, char *out, size_t len)
{
	struct stat st;
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		snprintf(out, len, "%s/%s%s", dir, stem, exts[i]);
		if (stat(out, &st) == 0 && S_ISREG(st.st_mode))
			return true;
	}
	return false;
}

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void add_param(struct match *m, const char *name, size_t nl, const char *val)
{
	if (m->np >= PARAMS_MAX)
		return;
	m->pname[m->np] = strndup(name, nl);
	m->pval[m->np] = xstrdup(val);
	m->np++;
}

static void join_segs(char **segs, int from, int n, char *out, size_t len)
{
	out[0] = '\0';
	for (int i = from; i < n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i > from ? "/" : "",
			 segs[i]);
}

/* The entry of dir whose name is "[" kind "name]" (kind "", "...", or
 * "[..." for optional) and, for files, has a script extension. */
static bool find_bracket(const char *dir, const char *open, bool file, char *name, size_t nlen,
			 char *path, size_t plen)
{
	DIR *d = opendir(dir);
	bool found = false;
	size_t ol = strlen(open);
	for (struct dirent *e; d && !found && (e = readdir(d));) {
		const char *n = e->d_name;
		if (strncmp(n, open, ol) != 0)
			continue;
		const char *close = strstr(n + ol, open[1] == '[' ? "]]" : "]");
		if (!close || close == n + ol || memchr(n + ol, '[', (size_t)(close - n - ol)))
			continue;
		if (open[1] != '[' && !strcmp(open, "[") && !strncmp(n + 1, "...", 3))
			continue;
		size_t cl = open[1] == '[' ? 2 : 1;
		const char *rest = close + cl;
		snprintf(path, plen, "%s/%s", dir, n);
		bool ok = file ? (*rest == '.' && !is_dir(path)) : (*rest == '\0' && is_dir(path));
		if (ok && file) {
			ok = false;
			for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
				ok |= strcmp(rest, exts[i]) == 0;
		}
		if (ok) {
			snprintf(name, nlen, "%.*s", (int)(close - n - ol), n + ol);
			found = true;
		}
	}
	if (d)
		closedir(d);
	return found;
}

static bool route(const char *dir, char **segs, int n, int i, struct match *m, const char *pat)
{
	char path[4096], name[256], sub[4096], npat[1024];
	if (i == n) {
		if (script_file(dir, "index", m->script, sizeof(m->script))) {
			snprintf(m->pattern, sizeof(m->pattern), "%s", *pat ? pat : "/");
			return true;
		}
		if (find_bracket(dir, "[[...", true, name, sizeof(name), m->script,
				 sizeof(m->script))) {
			snprintf(m->pattern, sizeof(m->pattern), "%s/{%s*}", pat, name);
			add_param(m, name, strlen(name), "");
			return true;
		}
		return false;
	}
	const char *s = segs[i];
	/* static */
	if (i == n - 1 && script_file(dir, s, m->script, sizeof(m->script))) {
		snprintf(m->pattern, sizeof(m->pattern), "%s/%s", pat, s);
		return true;
	}
	snprintf(sub, sizeof(sub), "%s/%s", dir, s);
	snprintf(npat, sizeof(npat), "%s/%s", pat, s);
	if (is_dir(sub) && route(sub, segs, n, i + 1, m, npat))
		return true;
	/* dynamic */
	if (i == n - 1 &&
	    find_bracket(dir, "[", true, name, sizeof(name), m->script, sizeof(m->script))) {
		snprintf(m->pattern, sizeof(m->pattern), "%s/{%s}", pat, name);
		add_param(m, name, strlen(name), s);
		return true;
	}
	if (find_bracket(dir, "[", false, name, sizeof(name), path, sizeof(path))) {
		int before = m->np;
		add_param(m, name, strlen(name), s);
		snprintf(npat, sizeof(npat), "%s/{%s}", pat, name);
		if (route(path, segs, n, i + 1, m, npat))
			return true;
		while (m->np > before) {
			m->np--;
			free(m->pname[m->np]);
			free(m->pval[m->np]);
		}
	}
	/* catch-all, then optional catch-all */
	char rest[4096];
	join_segs(segs, i, n, rest, sizeof(rest));
	if (find_bracket(dir, "[...", true, name, sizeof(name), m->script, sizeof(m->script)) ||
	    find_bracket(dir, "[[...", true, name, sizeof(name), m->script, sizeof(m->script))) {
		snprintf(m->pattern, sizeof(m->pattern), "%s/{%s*}", pat, name);
		add_param(m, name, strlen(name), rest);
		return true;
	}
	return false;
}

/* ----------------------------------------------------------------- running */

static bool interpreter(const char *script, char *out, size_t len)
{
	if (strlen(script) > 3 && !strcmp(script + strlen(script) - 3, ".sh")) {
		snprintf(out, len, "/bin/sh");
		return access(out, X_OK) == 0;
	}
	return find_program("node", out, len);
}

/* Splits an optional CGI-style head off the output: Status and Content-Type. */
static size_t script_head(const struct buf *out, int *status, char *ctype, size_t clen)
{
	if (!out->p ||
	    (strncasecmp(out->p, "Status:", 7) && strncasecmp(out->p, "Content-Type:", 13)))
		return 0;
	char *end = strstr(out->p, "\n\n");
	char *crend = strstr(out->p, "\r\n\r\n");
	size_t body = end ? (size_t)(end - out->p) + 2 : 0;
	if (crend && (!end || crend < end))
		body = (size_t)(crend - out->p) + 4;
	if (!body)
		return 0;
	for (char *l = out->p; l < out->p + body;) {
		char *nl = memchr(l, '\n', (size_t)(out->p + body - l));
		if (!strncasecmp(l, "Status:", 7))
			*status = atoi(l + 7);
		else if (!strncasecmp(l, "Content-Type:", 13)) {
			const char *v = l + 13;
			while (*v == ' ')
				v++;
			snprintf(ctype, clen, "%.*s", (int)strcspn(v, "\r\n"), v);
		}
		l = nl ? nl + 1 : out->p + body;
	}
	if (*status < 100 || *status > 599)
		*status = 200;
	return body;
}

static void run_script(struct req *r, struct match *m, const char *route_path)
{
	char interp[512];
	if (!interpreter(m->script, interp, sizeof(interp))) {
		send_err(
		    r, 501,
		    "no interpreter for %s in this container (.sh needs /bin/sh, .js needs node)",
		    m->script);
		return;
	}
	struct buf body = {0};
	if (req_body(r, SCRIPT_BODY_MAX, &body) < 0) {
		buf_free(&body);
		send_err(r, 413, "request body too large for a script (max 16 MiB)");
		return;
	}
	_cleanup_close_ int in = memfd_create("hoody-exec-body", MFD_CLOEXEC);
	_cleanup_close_pair_ int op[2] = {-1, -1}, ep[2] = {-1, -1};
	if (in < 0 || !write_all(in, body.p, body.len) || lseek(in, 0, SEEK_SET) < 0 ||
	    pipe2(op, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
		buf_free(&body);
		send_err(r, 503, "cannot start the script: %s", strerror(errno));
		return;
	}
	buf_free(&body);
	struct buf params = {0};
	buf_puts(&params, "{");
	for (int i = 0; i < m->np; i++) {
		buf_puts(&params, i ? "," : "");
		buf_json_str(&params, m->pname[i]);
		buf_puts(&params, ":");
		buf_json_str(&params, m->pval[i]);
	}
	buf_puts(&params, "}");
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		dup2(in, 0);
		dup2(op[1], 1);
		dup2(ep[1], 2);
		signal(SIGPIPE, SIG_DFL);
		setenv("REQUEST_METHOD", r->method, 1);
		setenv("PATH_INFO", route_path, 1);
		setenv("QUERY_STRING", r->query, 1);
		setenv("HOODY_ROUTE", m->pattern, 1);
		setenv("HOODY_PARAMS", params.p, 1);
		const char *ct = req_header(r, "Content-Type");
		setenv("CONTENT_TYPE", ct ? ct : "", 1);
		for (int i = 0; i < m->np; i++) {
			char k[300];
			snprintf(k, sizeof(k), "HOODY_PARAM_%s", m->pname[i]);
			for (char *c = k; *c; c++)
				if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
				      (*c >= '0' && *c <= '9')))
					*c = '_';
			setenv(k, m->pval[i], 1);
		}
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s", m->script);
		*strrchr(dir, '/') = '\0';
		if (chdir(dir) < 0)
			_exit(126);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		execl(interp, interp, m->script, (char *)NULL);
		_exit(127);
	}
	closep(&in);
	closep(&op[1]); /* the child's ends: reading to EOF needs them gone here */
	closep(&ep[1]);
	buf_free(&params);
	if (pid < 0) {
		send_err(r, 503, "fork: %s", strerror(errno));
		return;
	}
	struct buf out = {0}, err = {0};
	bool timed_out = false;
	struct collect col = {&out, &err, NULL, NULL, SCRIPT_OUT_MAX, NULL, &timed_out};
	int st =
	    collect_child(pid, steal_fd(&op[0]), steal_fd(&ep[0]), SCRIPT_TIMEOUT_S * 1000, &col);
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (timed_out || code != 0) {
		struct buf b = {0};
		buf_printf(
		    &b,
		    "{\"statusCode\":%d,\"error\":\"%s\",\"success\":false,\"message\":\"%s\","
		    "\"data\":{\"exit_code\":%d,\"timed_out\":%s,\"stderr\":",
		    timed_out ? 504 : 500, timed_out ? "Gateway Timeout" : "Internal Server Error",
		    timed_out ? "the script timed out" : "the script failed", code,
		    timed_out ? "true" : "false");
		buf_json_strn(&b, err.p ? err.p : "", err.len);
		buf_puts(&b, ",\"stdout\":");
		buf_json_strn(&b, out.p ? out.p : "", out.len);
		buf_puts(&b, "}}");
		send_body(r, timed_out ? 504 : 500, "application/json", b.p, b.len, NULL);
		buf_free(&b);
	} else {
		int status = 200;
		char ctype[256] = "";
		size_t skip = script_head(&out, &status, ctype, sizeof(ctype));
		const char *p = out.p ? out.p + skip : "";
		size_t n = out.len - skip;
		if (!*ctype) {
			size_t k = 0;
			while (k < n &&
			       (p[k] == ' ' || p[k] == '\n' || p[k] == '\r' || p[k] == '\t'))
				k++;
			snprintf(ctype, sizeof(ctype), "%s",
				 k < n && (p[k] == '{' || p[k] == '[')
				     ? "application/json"
				     : "text/plain; charset=utf-8");
		}
		send_body(r, status, ctype, p, n, NULL);
	}
	buf_free(&out);
	buf_free(&err);
}

/* -------------------------------------------------------------- discovery */

struct lister {
	struct buf *b;
	int count;
};

static void list_dir(struct lister *l, const char *dir, const char *rel, int depth)
{
	if (depth > 16)
		return;
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d)) && l->count < LIST_MAX;) {
		if (e->d_name[0] == '.')
			continue;
		char full[4096], r2[2048];
		snprintf(full, sizeof(full), "%.2000s/%.1000s", dir, e->d_name);
		snprintf(r2, sizeof(r2), "%.1000s/%.1000s", rel, e->d_name);
		if (is_dir(full)) {
			list_dir(l, full, r2, depth + 1);
			continue;
		}
		char *dot = strrchr(r2, '.');
		bool ok = false;
		for (size_t i = 0; dot && i < sizeof(exts) / sizeof(exts[0]); i++)
			ok |= strcmp(dot, exts[i]) == 0;
		if (!ok)
			continue;
		/* route path: strip the extension and a trailing /index; [x] -> {x} */
		char route[2048];
		snprintf(route, sizeof(route), "%.*s", (int)(dot - r2), r2);
		size_t rl = strlen(route);
		if (rl >= 6 && !strcmp(route + rl - 6, "/index"))
			route[rl - 6 == 0 ? 1 : rl - 6] = '\0';
		struct buf rp = {0}, params = {0};
		for (const char *c = route; *c; c++) {
			if (*c == '[') {
				bool opt = c[1] == '[';
				const char *s = c + (opt ? 2 : 1);
				bool catchall = !strncmp(s, "...", 3);
				if (catchall)
					s += 3;
				const char *end = strchr(s, ']');
				if (!end)
					break;
				buf_printf(&rp, "{%.*s%s}", (int)(end - s), s, catchall ? "*" : "");
				buf_printf(&params, "%s\"%.*s\"", params.len ? "," : "",
					   (int)(end - s), s);
				c = end + (opt ? 1 : 0);
			} else {
				buf_put(&rp, c, 1);
			}
		}
		char schema[4096];
		snprintf(schema, sizeof(schema), "%.*s.schema.json",
			 (int)(strrchr(full, '.') - full), full);
		bool has_schema = access(schema, R_OK) == 0;
		buf_printf(l->b, "%s{\"path\":", l->count++ ? "," : "");
		buf_json_str(l->b, r2 + 1);
		buf_puts(l->b, ",\"routePath\":");
		buf_json_str(l->b, rp.p ? rp.p : "/");
		buf_printf(l->b, ",\"hasSchema\":%s,\"schemaFormat\":%s,\"pathParameters\":[%s]}",
			   has_schema ? "true" : "false", has_schema ? "\"json\"" : "null",
			   params.p ? params.p : "");
		buf_free(&rp);
		buf_free(&params);
	}
	if (d)
		closedir(d);
}

static void route_list(struct req *r)
{
	struct buf s = {0}, b = {0};
	struct lister l = {&s, 0};
	list_dir(&l, exec_dir(), "", 0);
	buf_puts(&b, "{\"directory\":");
	buf_json_str(&b, exec_dir());
	buf_printf(&b, ",\"totalScripts\":%d,\"withSchemas\":0,\"scripts\":[%s]}", l.count,
		   s.p ? s.p : "");
	send_ok(r, 200, b.p);
	buf_free(&s);
	buf_free(&b);
}

void exec_route(struct req *r)
{
	if (!strcmp(r->path, "/api/v1/exec/user-openapi/list") && !strcmp(r->method, "GET")) {
		route_list(r);
		return;
	}
	if (path_is(r->path, "/api/v1/exec", NULL)) {
		send_err(r, 404,
			 "no route %s %s (see docs/KIT.md for what the exec service supports)",
			 r->method, r->path);
		return;
	}
	char dec[4096], *segs[SEGS_MAX];
	size_t pl = strlen(r->path);
	if (pl >= sizeof(dec)) {
		send_err(r, 414, "path too long");
		return;
	}
	url_decode(r->path, pl, dec, false);
	char route_path[4096];
	snprintf(route_path, sizeof(route_path), "%s", dec);
	int n = 0;
	char *save = NULL;
	for (char *s = strtok_r(dec, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (n == SEGS_MAX || !strcmp(s, "..") || !strcmp(s, ".") || s[0] == '.') {
			send_err(r, 404, "no script for %s", route_path);
			return;
		}
		segs[n++] = s;
	}
	struct match m = {0};
	if (!route(exec_dir(), segs, n, 0, &m, "")) {
		match_clear(&m);
		send_err(r, 404, "no script for %s under %s", route_path, exec_dir());
		return;
	}
	run_script(r, &m, route_path);
	match_clear(&m);
}
