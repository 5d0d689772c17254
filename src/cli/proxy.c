/* hoody proxy list|create|get|update|delete|enable|disable (aliases) and
 * hoody proxy permissions ... (the permission documents, kit-api.md §3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"

static const struct column alias_cols[] = {
    {"ID", "id", COL_TEXT},	      {"ALIAS", "alias", COL_TEXT},
    {"PROGRAM", "program", COL_TEXT}, {"INDEX", "index", COL_TEXT},
    {"ENABLED", "enabled", COL_TEXT}, {"EXPIRES", "expires_at", COL_TIME},
    {"URL", "url", COL_TEXT},	      {0},
};

/* clang-format off */
#define ALIAS_OPTS \
	OPT("alias", 0, OPT_STR, DEST_BODY, "alias", "<name>", "3-61 of a-z, 0-9, '-' (default: random)"), \
	OPT("program", 0, OPT_STR, DEST_BODY, "program", "<program>", \
	    "terminal, files, code, ..., http, https, ssh, or http-<port>"), \
	OPT("port", 0, OPT_INT, DEST_BODY, "port", "<port>", "backend port for http/https"), \
	OPT("index", 0, OPT_INT, DEST_BODY, "index", "<n>", "program instance (default 1)"), \
	OPT("target-path", 0, OPT_STR, DEST_BODY, "target_path", "<path>", "path prefix on the backend"), \
	OPT("allow-path-override", 0, OPT_BOOL, DEST_BODY, "allow_path_override", NULL, \
	    "deeper paths reach the backend (default on)"), \
	OPT("expires-at", 0, OPT_STR, DEST_BODY, "expires_at", "<iso-date>", "the alias stops answering then"), \
	OPT("enabled", 0, OPT_BOOL, DEST_BODY, "enabled", NULL, "answer requests (default on)")
/* clang-format on */

static const struct opt list_opts[] = {
    OPT("container-id", 0, OPT_STR, DEST_QUERY, "container_id", "<id>", "only this container's"),
    OPT("project-id", 0, OPT_STR, DEST_QUERY, "project_id", "<id>", "only this project's"),
    OPT("enabled", 0, OPT_BOOL, DEST_QUERY, "enabled", NULL, "only enabled (or disabled) ones"),
    OPT("expired", 0, OPT_BOOL, DEST_QUERY, "expired", NULL, "only expired (or live) ones"),
    {0},
};
static const struct opt create_opts[] = {ALIAS_OPTS, {0}};
static const struct opt update_opts[] = {ALIAS_OPTS, {0}};

static int list(struct cli *c, struct args *a)
{
	char *path = api_path_args_new("/api/v1/proxy/aliases", a);
	int rc = api_show(c, "GET", path, NULL, "aliases", alias_cols);
	free(path);
	return rc;
}

static int create(struct cli *c, struct args *a)
{
	const char *id = container_arg(c, a, 0);
	if (!id)
		return EXIT_USAGE;
	json_t *body = json_pack("{s:s}", "container_id", id);
	args_to_json(a, DEST_BODY, body);
	return api_show(c, "POST", "/api/v1/proxy/aliases", body, NULL, alias_cols);
}

static int get(struct cli *c, struct args *a)
{
	char *path = api_path_new("/api/v1/proxy/aliases/%s", arg_pos(a, 0));
	int rc = api_show(c, "GET", path, NULL, NULL, alias_cols);
	free(path);
	return rc;
}

static int update(struct cli *c, struct args *a)
{
	json_t *body = json_object();
	args_to_json(a, DEST_BODY, body);
	if (!json_object_size(body)) {
		json_decref(body);
		return cli_fail(EXIT_USAGE, "nothing to change (see --help)");
	}
	char *path = api_path_new("/api/v1/proxy/aliases/%s", arg_pos(a, 0));
	int rc = api_show(c, "PATCH", path, body, NULL, alias_cols);
	free(path);
	return rc;
}

static int destroy(struct cli *c, struct args *a)
{
	const char *id = arg_pos(a, 0);
	char *path = api_path_new("/api/v1/proxy/aliases/%s", id);
	int rc =
	    api_act(c, "DELETE", path, NULL, "Delete proxy alias %s (its URL stops answering)?",
		    "Deleted proxy alias %s.", id);
	free(path);
	return rc;
}

static int set_state(struct cli *c, struct args *a, bool on)
{
	char *path = api_path_new("/api/v1/proxy/aliases/%s/state", arg_pos(a, 0));
	int rc = api_show(c, "PATCH", path, json_pack("{s:b}", "enabled", on), NULL, alias_cols);
	free(path);
	return rc;
}

static int enable(struct cli *c, struct args *a)
{
	return set_state(c, a, true);
}

static int disable(struct cli *c, struct args *a)
{
	return set_state(c, a, false);
}

/* ------------------------------------------------------------ permissions */

static const struct opt doc_opts[] = {
    OPT("project", 'p', OPT_STR, DEST_NONE, NULL, "<id>", "the project's document instead"),
    OPT("if-match", 0, OPT_STR, DEST_NONE, NULL, "file:v<N>",
	"version the change applies to (default: the current one, read first)"),
    {0},
};
static const struct opt set_opts[] = {
    OPT("project", 'p', OPT_STR, DEST_NONE, NULL, "<id>", "the project's document instead"),
    OPT("if-match", 0, OPT_STR, DEST_NONE, NULL, "file:v<N>",
	"version the change applies to (default: the current one, read first)"),
    OPT("json", 0, OPT_STR, DEST_NONE, NULL, "<json>", "the body as JSON text"),
    OPT("file", 'f', OPT_STR, DEST_NONE, NULL, "<path>", "the body from a JSON file"),
    {0},
};

/* ".../proxy/permissions" of the container (-c or first positional) or of
 * --project; n_after positionals must remain. */
static char *doc_base_new(struct cli *c, struct args *a, int n_after)
{
	const char *project = arg_str(a, "project");
	if (project) {
		if (a->npos != n_after) {
			cli_fail(EXIT_USAGE, "expected %d argument(s) (see --help)", n_after);
			return NULL;
		}
		return api_path_new("/api/v1/projects/%s/proxy/permissions", project);
	}
	const char *id = container_arg(c, a, n_after);
	return id ? api_path_new("/api/v1/containers/%s/proxy/permissions", id) : NULL;
}

/* --if-match, else the version the document is at now. */
static int version_new(struct cli *c, struct args *a, const char *base, char **out)
{
	const char *given = arg_str(a, "if-match");
	json_t *data = NULL;
	*out = NULL;
	if (given) {
		*out = xstrdup(given);
		return 0;
	}
	int rc = api_call(c, "GET", base, NULL, &data);
	if (rc == 0)
		*out =
		    xasprintf("file:v%lld",
			      (long long)json_integer_value(json_object_get(data, "file_version")));
	json_decref(data);
	return rc;
}

static int doc_write(struct cli *c, struct args *a, const char *base, const char *method,
		     const char *suffix, json_t *body_steal)
{
	char *ver = NULL, *path = xasprintf("%s%s", base, suffix);
	int rc = version_new(c, a, base, &ver);
	if (rc == 0) {
		c->if_match = ver;
		rc = api_show(c, method, path, body_steal, NULL, NULL);
		body_steal = NULL;
		c->if_match = NULL;
	}
	json_decref(body_steal);
	free(ver);
	free(path);
	return rc;
}

static int perm_get(struct cli *c, struct args *a)
{
	char *base = doc_base_new(c, a, 0);
	if (!base)
		return EXIT_USAGE;
	json_t *data = NULL;
	int rc = api_call(c, "GET", base, NULL, &data);
	if (rc == 0)
		print_json(data); /* nested groups and rules: JSON is the readable form */
	json_decref(data);
	free(base);
	return rc;
}

static json_t *body_arg(const struct args *a)
{
	const char *text = arg_str(a, "json"), *file = arg_str(a, "file");
	json_error_t e;
	json_t *v = text ? json_loads(text, 0, &e) : file ? json_load_file(file, 0, &e) : NULL;
	if (!text && !file)
		cli_fail(EXIT_USAGE, "give the body with --json or --file");
	else if (!json_is_object(v))
		cli_fail(EXIT_USAGE, "the body must be a JSON object: %s", v ? "" : e.text);
	if (!json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

static int perm_set(struct cli *c, struct args *a)
{
	char *base = doc_base_new(c, a, 0);
	json_t *body = base ? body_arg(a) : NULL;
	int rc = body ? doc_write(c, a, base, "PUT", "", body) : EXIT_USAGE;
	free(base);
	return rc;
}

static int perm_delete(struct cli *c, struct args *a)
{
	char *base = doc_base_new(c, a, 0);
	int rc = EXIT_USAGE;
	if (base && confirm(c, "Delete the proxy permissions document?"))
		rc = doc_write(c, a, base, "DELETE", "", NULL);
	else if (base)
		rc = cli_fail(EXIT_FAIL, "cancelled: nothing was changed");
	free(base);
	return rc;
}

static int perm_default(struct cli *c, struct args *a)
{
	char *base = doc_base_new(c, a, 1);
	if (!base)
		return EXIT_USAGE;
	int rc = doc_write(c, a, base, "PATCH", "/default",
			   json_pack("{s:s}", "default", arg_pos(a, 0)));
	free(base);
	return rc;
}

static int perm_state(struct cli *c, struct args *a, bool on)
{
	char *base = doc_base_new(c, a, 0);
	if (!base)
		return EXIT_USAGE;
	int rc = doc_write(c, a, base, "PATCH", "/state", json_pack("{s:b}", "enable_proxy", on));
	free(base);
	return rc;
}

static int perm_enable(struct cli *c, struct args *a)
{
	return perm_state(c, a, true);
}

static int perm_disable(struct cli *c, struct args *a)
{
	return perm_state(c, a, false);
}

static int perm_group(struct cli *c, struct args *a)
{
	char *base = doc_base_new(c, a, 2);
	json_t *body = base ? body_arg(a) : NULL;
	int rc = EXIT_USAGE;
	if (body) {
		char *suffix = api_path_new("/groups/%s/%s", arg_pos(a, 0), arg_pos(a, 1));
		rc = doc_write(c, a, base, "PUT", suffix, body);
		free(suffix);
	}
	free(base);
	return rc;
}

static int perm_ungroup(struct cli *c, struct args *a)
{
	char *base = doc_base_new(c, a, 1);
	if (!base)
		return EXIT_USAGE;
	char *suffix = api_path_new("/groups/%s", arg_pos(a, 0));
	int rc = doc_write(c, a, base, "DELETE", suffix, NULL);
	free(suffix);
	free(base);
	return rc;
}

/* access: JSON (true, 2, [1,3], "8000-9000") or a bare word taken as a string. */
static int perm_allow(struct cli *c, struct args *a)
{
	char *base = doc_base_new(c, a, 3);
	if (!base)
		return EXIT_USAGE;
	const char *raw = arg_pos(a, 2);
	json_t *access = json_loads(raw, JSON_DECODE_ANY, NULL);
	if (!access)
		access = json_string(raw);
	char *suffix = api_path_new("/permissions/%s", arg_pos(a, 0));
	int rc = doc_write(c, a, base, "PUT", suffix,
			   json_pack("{s:s, s:o}", "program", arg_pos(a, 1), "access", access));
	free(suffix);
	free(base);
	return rc;
}

static int perm_revoke(struct cli *c, struct args *a)
{
	const char *project = arg_str(a, "project");
	int n = a->npos - (project || c->container ? 0 : 1);
	if (n < 1 || n > 2)
		return cli_fail(EXIT_USAGE, "give a group and optionally a program (see --help)");
	char *base = doc_base_new(c, a, n);
	if (!base)
		return EXIT_USAGE;
	char *suffix = n == 2 ? api_path_new("/permissions/%s/%s", arg_pos(a, 0), arg_pos(a, 1))
			      : api_path_new("/permissions/%s", arg_pos(a, 0));
	int rc = doc_write(c, a, base, "DELETE", suffix, NULL);
	free(suffix);
	free(base);
	return rc;
}

#define PERM(var, n, sum, fn, opts_, pos, lo, hi, ex)                                              \
	static const struct cmd var = {.name = n,                                                  \
				       .summary = sum,                                             \
				       .run = fn,                                                  \
				       .opts = opts_,                                              \
				       .positional = pos,                                          \
				       .min_pos = lo,                                              \
				       .max_pos = hi,                                              \
				       .example = ex}

PERM(perm_get_cmd, "get", "Show the proxy permissions document", perm_get, doc_opts,
     "[<container-id>]", 0, 1, "hoody proxy permissions get -c $CONTAINER_ID");
PERM(perm_set_cmd, "set", "Replace the whole document", perm_set, set_opts, "[<container-id>]", 0,
     1, "hoody proxy permissions set -c $CONTAINER_ID --file perms.json");
PERM(perm_delete_cmd, "delete", "Delete the document (the container is private again)", perm_delete,
     doc_opts, "[<container-id>]", 0, 1, "hoody proxy permissions delete -c $CONTAINER_ID -y");
PERM(perm_default_cmd, "default", "Set what requests no rule grants get", perm_default, doc_opts,
     "[<container-id>] allow|deny", 1, 2, "hoody proxy permissions default -c $CONTAINER_ID allow");
PERM(perm_enable_cmd, "enable", "Let the proxy serve the container", perm_enable, doc_opts,
     "[<container-id>]", 0, 1, "hoody proxy permissions enable -c $CONTAINER_ID");
PERM(perm_disable_cmd, "disable", "Refuse every proxied request (403)", perm_disable, doc_opts,
     "[<container-id>]", 0, 1, "hoody proxy permissions disable -c $CONTAINER_ID");
PERM(perm_group_cmd, "group", "Create or replace an auth group", perm_group, set_opts,
     "[<container-id>] <group> password|jwt|token|ip", 2, 3,
     "hoody proxy permissions group -c $CONTAINER_ID ops token --json "
     "'{\"header\":\"X-Key\",\"value\":\"s3cret\"}'");
PERM(perm_ungroup_cmd, "ungroup", "Remove an auth group and its rules", perm_ungroup, doc_opts,
     "[<container-id>] <group>", 1, 2, "hoody proxy permissions ungroup -c $CONTAINER_ID ops");
PERM(perm_allow_cmd, "allow", "Let a group reach a program", perm_allow, doc_opts,
     "[<container-id>] <group> <program> <access>", 3, 4,
     "hoody proxy permissions allow -c $CONTAINER_ID ops terminal 2");
PERM(perm_revoke_cmd, "revoke", "Remove a group's rules (all, or one program's)", perm_revoke,
     doc_opts, "[<container-id>] <group> [<program>]", 1, 3,
     "hoody proxy permissions revoke -c $CONTAINER_ID ops terminal");

static const struct cmd *const perm_subs[] = {&perm_get_cmd,
					      &perm_set_cmd,
					      &perm_delete_cmd,
					      &perm_default_cmd,
					      &perm_enable_cmd,
					      &perm_disable_cmd,
					      &perm_group_cmd,
					      &perm_ungroup_cmd,
					      &perm_allow_cmd,
					      &perm_revoke_cmd,
					      NULL};
static const struct cmd permissions_cmd = {
    .name = "permissions",
    .summary = "Who may reach a container's URLs (auth groups and rules)",
    .subs = perm_subs,
    .example = "hoody proxy permissions allow -c $CONTAINER_ID ops http 8000-8100"};

static const struct cmd list_cmd = {.name = "list",
				    .summary = "List proxy aliases",
				    .run = list,
				    .opts = list_opts,
				    .example = "hoody proxy list"};
static const struct cmd create_cmd = {
    .name = "create",
    .summary = "Give a container program a name of its own",
    .run = create,
    .opts = create_opts,
    .positional = "[<container-id>]",
    .max_pos = 1,
    .example = "hoody proxy create -c $CONTAINER_ID --alias my-app --program http-8000"};
static const struct cmd get_cmd = {.name = "get",
				   .summary = "Show a proxy alias",
				   .run = get,
				   .positional = "<alias-id>",
				   .min_pos = 1,
				   .max_pos = 1,
				   .example = "hoody proxy get $ALIAS_ID"};
static const struct cmd update_cmd = {.name = "update",
				      .summary = "Change a proxy alias",
				      .run = update,
				      .opts = update_opts,
				      .positional = "<alias-id>",
				      .min_pos = 1,
				      .max_pos = 1,
				      .example = "hoody proxy update $ALIAS_ID --target-path /app"};
static const struct cmd delete_cmd = {.name = "delete",
				      .summary = "Delete a proxy alias",
				      .run = destroy,
				      .positional = "<alias-id>",
				      .min_pos = 1,
				      .max_pos = 1,
				      .example = "hoody proxy delete $ALIAS_ID"};
static const struct cmd enable_cmd = {.name = "enable",
				      .summary = "Let an alias answer again",
				      .run = enable,
				      .positional = "<alias-id>",
				      .min_pos = 1,
				      .max_pos = 1,
				      .example = "hoody proxy enable $ALIAS_ID"};
static const struct cmd disable_cmd = {.name = "disable",
				       .summary = "Make an alias answer 404 (kept)",
				       .run = disable,
				       .positional = "<alias-id>",
				       .min_pos = 1,
				       .max_pos = 1,
				       .example = "hoody proxy disable $ALIAS_ID"};

static const struct cmd *const subs[] = {&list_cmd,    &create_cmd,	 &get_cmd,
					 &update_cmd,  &delete_cmd,	 &enable_cmd,
					 &disable_cmd, &permissions_cmd, NULL};
const struct cmd proxy_cmd = {
    .name = "proxy",
    .summary = "Proxy aliases and permissions of container URLs",
    .subs = subs,
    .example = "hoody proxy create -c $CONTAINER_ID --alias my-app --program http-8000\n"
	       "  hoody proxy delete $ALIAS_ID",
};
