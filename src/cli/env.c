/* hoody containers env list|set|delete -c <id> [--key K] [--value V] */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

static const struct column env_cols[] = {
    {"KEY", "key", COL_TEXT},
    {"VALUE", "value", COL_TEXT},
    {0},
};

static const struct opt key_opts[] = {
    OPT("key", 'k', OPT_STR, DEST_NONE, NULL, "<KEY>", "variable name", .required = true),
    {0},
};

static const struct opt set_opts[] = {
    OPT("key", 'k', OPT_STR, DEST_NONE, NULL, "<KEY>", "variable name", .required = true),
    OPT("value", 0, OPT_STR, DEST_BODY, "value", "<value>", "its value", .required = true),
    {0},
};

/* The API answers {environment_vars: {K: V}}; a table wants rows. */
static int list(struct cli *c, struct args *a)
{
	const char *id = container_arg(c, a, 0);
	if (!id)
		return EXIT_USAGE;
	char *path = api_path_new("/api/v1/containers/%s/env", id);
	json_t *data = NULL;
	int rc = api_call(c, "GET", path, NULL, &data);
	if (rc == 0 && c->output == OUT_JSON) {
		print_json(data);
	} else if (rc == 0) {
		json_t *rows = json_array(), *v;
		const char *k;
		json_object_foreach(json_object_get(data, "environment_vars"), k, v)
		    json_array_append_new(rows, json_pack("{s:s,s:O}", "key", k, "value", v));
		output_result(c, rows, NULL, env_cols);
		json_decref(rows);
	}
	json_decref(data);
	free(path);
	return rc;
}

/* PUT or DELETE one key. */
static int one_key(struct cli *c, struct args *a, const char *method, const char *done_fmt)
{
	const char *id = container_arg(c, a, 0);
	if (!id)
		return EXIT_USAGE;
	const char *key = arg_str(a, "key");
	char *path = api_path_new("/api/v1/containers/%s/env/%s", id, key);
	json_t *body = NULL;
	if (arg_set(a, "value")) {
		body = json_object();
		args_to_json(a, DEST_BODY, body);
	}
	int rc = api_act(c, method, path, body, NULL, done_fmt, key, id);
	json_decref(body);
	free(path);
	return rc;
}

static int set(struct cli *c, struct args *a)
{
	return one_key(c, a, "PUT", "Set %s on container %s.");
}

static int destroy(struct cli *c, struct args *a)
{
	return one_key(c, a, "DELETE", "Deleted %s from container %s.");
}

static const struct cmd list_cmd = {
    .name = "list",
    .summary = "List a container's environment variables",
    .run = list,
    .positional = "[<container-id>]",
    .max_pos = 1,
    .example = "hoody containers env list -c $CONTAINER_ID",
};
static const struct cmd set_cmd = {
    .name = "set",
    .summary = "Set one environment variable",
    .run = set,
    .opts = set_opts,
    .positional = "[<container-id>]",
    .max_pos = 1,
    .example = "hoody containers env set -c $CONTAINER_ID --key NODE_ENV --value production",
};
static const struct cmd delete_cmd = {
    .name = "delete",
    .summary = "Delete one environment variable",
    .run = destroy,
    .opts = key_opts,
    .positional = "[<container-id>]",
    .max_pos = 1,
    .example = "hoody containers env delete -c $CONTAINER_ID --key NODE_ENV",
};

static const struct cmd *const subs[] = {&list_cmd, &set_cmd, &delete_cmd, NULL};
const struct cmd env_cmd = {
    .name = "env",
    .summary = "A container's environment variables",
    .subs = subs,
    .example = "hoody containers env set -c $CONTAINER_ID --key NODE_ENV --value production"};
