/* Commands inside a running container: `crun exec`, which joins the
 * container's namespaces, cgroups, capabilities and seccomp filter. The
 * environment is the container's (config.json, via crun), then the values
 * last set with rt_set_env, then the caller's extra env. */
#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/internal.h"

#define EXEC_ARGV_MAX 1024
#define EXEC_ENV_MAX 1024
#define EXEC_ENV_TOTAL_MAX 4096
#define EXEC_TIMEOUT_MAX_S (24 * 3600)

struct argv_buf {
	const char **v;
	size_t n, cap;
};

static void argv_push(struct argv_buf *a, const char *s)
{
	if (a->n + 1 >= a->cap) {
		a->cap = a->cap ? a->cap * 2 : 32;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

/* "KEY=VALUE" strings, later ones overriding earlier ones with the same key. */
struct env_list {
	char **kv;
	size_t n, cap;
};

static void env_add(struct env_list *l, char *kv_steal)
{
	if (l->n >= EXEC_ENV_TOTAL_MAX) {
		free(kv_steal);
		return;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->kv = xrealloc(l->kv, l->cap * sizeof(*l->kv));
	}
	l->kv[l->n++] = kv_steal;
}

static bool same_key(const char *a, const char *b)
{
	size_t ka = strcspn(a, "="), kb = strcspn(b, "=");
	return ka == kb && !strncmp(a, b, ka);
}

static void env_free(struct env_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->kv[i]);
	free(l->kv);
}

/* crun exec --env replaces the whole environment, so the container's own
 * (process.env of config.json) comes first. */
static void add_config_env(struct env_list *l, const char *cdir)
{
	_cleanup_free_ char *path = xasprintf("%s/config.json", cdir);
	json_t *root = json_load_file(path, 0, NULL);
	json_t *env = json_object_get(json_object_get(root, "process"), "env");
	size_t i;
	json_t *v;
	json_array_foreach(env, i, v)
	{
		if (json_is_string(v))
			env_add(l, xstrdup(json_string_value(v)));
	}
	json_decref(root);
}

/* <cdir>/environment holds KEY="value" lines written by rt_set_env. */
static void add_saved_env(struct env_list *l, const char *cdir)
{
	_cleanup_free_ char *path = xasprintf("%s/environment", cdir);
	_cleanup_free_ char *text = NULL;
	if (read_file(path, RT_ENV_FILE_MAX, &text, NULL, NULL) < 0)
		return;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq || eq == line)
			continue;
		*eq = '\0';
		char *v = eq + 1;
		size_t n = strlen(v);
		if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
			v[n - 1] = '\0';
			v++;
		}
		env_add(l, xasprintf("%s=%s", line, v));
	}
}

static void push_env(struct argv_buf *a, const struct env_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		bool overridden = false;
		for (size_t j = i + 1; j < l->n && !overridden; j++)
			overridden = same_key(l->kv[i], l->kv[j]);
		if (!overridden) {
			argv_push(a, "--env");
			argv_push(a, l->kv[i]);
		}
	}
}

/* On timeout proc_run has killed crun, but crun exec runs the command in a
 * session of its own inside the container: kill that process group too. */
static void kill_exec_group(const char *pidf, const char *id)
{
	pid_t pid = rt_read_pid_file(pidf);
	if (!pid || !rt_pid_in_container(pid, id))
		return;
	pid_t pgid = getpgid(pid);
	kill(pgid > 1 ? -pgid : pid, SIGKILL);
}

int exec_cmd_build(struct runtime *rt, const char *id, const char *const *argv,
		   const struct rt_env *env, size_t env_count, const char *const *flags,
		   struct exec_cmd *x, struct error *err)
{
	memset(x, 0, sizeof(*x));
	if (rt_check_id(id, err) < 0)
		return -1;
	size_t argc = 0;
	while (argv && argv[argc])
		argc++;
	if (argc == 0 || argc > EXEC_ARGV_MAX || env_count > EXEC_ENV_MAX)
		return err_set(err, E_VALIDATION,
			       "exec needs 1 to %d arguments and at most %d "
			       "environment variables",
			       EXEC_ARGV_MAX, EXEC_ENV_MAX);
	for (size_t i = 0; i < env_count; i++)
		if (!env[i].key || !*env[i].key || strchr(env[i].key, '='))
			return err_set(err, E_INVALID_ENV_KEY, "invalid environment variable name");
	enum rt_state st = rt_probe(rt, id, NULL);
	if (st != RT_RUNNING)
		return err_set(err, E_STATE_CONFLICT, "container %s is %s", id, rt_state_name(st));

	x->root = rt_crun_root(rt);
	x->cdir = rt_container_dir(rt, id);
	struct env_list *env_all = xcalloc(1, sizeof(*env_all));
	x->env = env_all;
	add_config_env(env_all, x->cdir);
	add_saved_env(env_all, x->cdir);
	for (size_t i = 0; i < env_count; i++)
		env_add(env_all, xasprintf("%s=%s", env[i].key, env[i].value ? env[i].value : ""));
	static unsigned long seq;
	x->pidf = xasprintf("%s/exec.%d.%lu.pid", x->cdir, (int)gettid(),
			    __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
	struct argv_buf *a = xcalloc(1, sizeof(*a));
	x->args = a;
	argv_push(a, rt->crun_path);
	argv_push(a, "--root");
	argv_push(a, x->root);
	argv_push(a, "exec");
	/* crun exec does not take noNewPrivileges from config.json. */
	argv_push(a, "--no-new-privs");
	argv_push(a, "--pid-file");
	argv_push(a, x->pidf);
	for (size_t i = 0; flags && flags[i]; i++)
		argv_push(a, flags[i]);
	push_env(a, env_all);
	argv_push(a, "--");
	argv_push(a, id);
	for (size_t i = 0; i < argc; i++)
		argv_push(a, argv[i]);
	x->argv = a->v;
	return 0;
}

void exec_cmd_free(struct exec_cmd *x)
{
	if (x->pidf)
		unlink(x->pidf);
	if (x->args)
		free(((struct argv_buf *)x->args)->v);
	free(x->args);
	if (x->env)
		env_free(x->env);
	free(x->env);
	free(x->pidf);
	free(x->root);
	free(x->cdir);
	memset(x, 0, sizeof(*x));
}

int rt_exec(struct runtime *rt, const char *id, const char *const *argv, const struct rt_env *env,
	    size_t env_count, int timeout_s, size_t max_output, struct rt_exec_result *res,
	    struct error *err)
{
	memset(res, 0, sizeof(*res));
	struct exec_cmd x;
	if (exec_cmd_build(rt, id, argv, env, env_count, NULL, &x, err) < 0) {
		exec_cmd_free(&x);
		return -1;
	}
	if (timeout_s > EXEC_TIMEOUT_MAX_S)
		timeout_s = EXEC_TIMEOUT_MAX_S;
	int timeout_ms = timeout_s > 0 ? timeout_s * 1000 : 0;
	int rc = proc_run(rt, x.argv, NULL, timeout_ms, max_output, res, err);
	if (rc == 0 && res->timed_out)
		kill_exec_group(x.pidf, id);
	exec_cmd_free(&x);
	return rc;
}

void rt_exec_result_free(struct rt_exec_result *res)
{
	if (!res)
		return;
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
	res->out_len = res->err_len = 0;
}
