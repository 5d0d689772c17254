/* Every invocation of crun. Each costs a fork+exec (a few ms), so callers
 * use them sparingly: the create path makes exactly one (crun run). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/internal.h"

#define CRUN_MAX_ARGS 64
#define CRUN_OUTPUT_MAX (64 * 1024)

/* Trims trailing whitespace so crun's message reads well inside ours. */
static const char *trimmed(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

int crun_cmd(struct runtime *rt, int timeout_ms, struct error *err, ...)
{
	_cleanup_free_ char *root = rt_crun_root(rt);
	const char *argv[CRUN_MAX_ARGS + 4];
	size_t n = 0;
	argv[n++] = rt->crun_path;
	argv[n++] = "--root";
	argv[n++] = root;
	va_list ap;
	va_start(ap, err);
	const char *a;
	while ((a = va_arg(ap, const char *))) {
		if (n >= CRUN_MAX_ARGS) {
			va_end(ap);
			return err_set(err, E_INTERNAL, "too many crun arguments");
		}
		argv[n++] = a;
	}
	va_end(ap);
	argv[n] = NULL;

	struct rt_exec_result res;
	if (proc_run(rt, argv, NULL, timeout_ms, CRUN_OUTPUT_MAX, &res, err) < 0)
		return -1;
	int rc = 0;
	if (res.timed_out)
		rc = err_set(err, E_TIMEOUT, "crun %s timed out", argv[3]);
	else if (res.exit_code != 0)
		rc = err_set(err, E_RUNTIME, "crun %s: %s", argv[3],
			     trimmed(res.err_len ? res.err : res.out));
	rt_exec_result_free(&res);
	return rc;
}

/* The last line crun wrote to init.log: why the container did not start. */
static void last_log_line(const char *log, char *out, size_t len)
{
	_cleanup_free_ char *buf = NULL;
	size_t n = 0;
	out[0] = '\0';
	if (read_file(log, 1 << 20, &buf, &n, NULL) < 0)
		return;
	trimmed(buf);
	char *line = strrchr(buf, '\n');
	snprintf(out, len, "%s", line ? line + 1 : buf);
}

int crun_run(struct runtime *rt, const char *id, const char *cdir, struct error *err)
{
	_cleanup_free_ char *root = rt_crun_root(rt);
	_cleanup_free_ char *pidf = xasprintf("%s/init.pid", cdir);
	_cleanup_free_ char *log = xasprintf("%s/init.log", cdir);
	const char *argv[] = {rt->crun_path, "--root",	 root, "run", "--detach", "--pid-file",
			      pidf,	     "--bundle", cdir, id,    NULL};
	int code;
	/* One start's worth of log: enough to say why it failed, and bounded. */
	if (truncate(log, 0) < 0 && errno != ENOENT)
		return err_sys(err, E_IO, "truncate %s", log);
	if (proc_run_logged(rt, argv, log, 60 * 1000, &code, err) < 0)
		return -1;
	if (code != 0) {
		char why[400];
		last_log_line(log, why, sizeof(why));
		return err_set(err, E_RUNTIME, "crun run %s failed (%d): %s", id, code, why);
	}
	return 0;
}

bool crun_has_state(struct runtime *rt, const char *id)
{
	_cleanup_free_ char *root = rt_crun_root(rt);
	_cleanup_free_ char *p = xasprintf("%s/%s", root, id);
	return path_exists(p);
}
