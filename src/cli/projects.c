/* hoody projects create|list|get|update|delete */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

static const struct column project_cols[] = {
    {"ID", "id", COL_TEXT},
    {"ALIAS", "alias", COL_TEXT},
    {"COLOR", "color", COL_COLOR},
    {"MAX CONTAINERS", "max_containers", COL_TEXT},
    {"CREATED", "created_at", COL_TIME},
    {0},
};

/* clang-format off */
#define PROJECT_FIELDS \
	OPT("color", 0, OPT_STR, DEST_BODY, "color", "<hex>", "color, e.g. \"#e74c3c\""), \
	OPT("max-containers", 0, OPT_INT, DEST_BODY, "max_containers", "<n>", \
	    "most containers the project may hold")
/* clang-format on */

static const struct opt create_opts[] = {
    OPT("alias", 0, OPT_STR, DEST_BODY, "alias", "<name>", "project name, unique",
	.required = true),
    PROJECT_FIELDS,
    {0},
};

static const struct opt update_opts[] = {
    OPT("alias", 0, OPT_STR, DEST_BODY, "alias", "<name>", "new project name"),
    PROJECT_FIELDS,
    {0},
};

static const struct opt list_opts[] = {PAGE_OPTS, {0}};

static int create(struct cli *c, struct args *a)
{
	json_t *body = json_object();
	args_to_json(a, DEST_BODY, body);
	return api_show(c, "POST", "/api/v1/projects", body, NULL, project_cols);
}

static int list(struct cli *c, struct args *a)
{
	char *path = api_path_args_new("/api/v1/projects", a);
	int rc = api_show(c, "GET", path, NULL, "projects", project_cols);
	free(path);
	return rc;
}

static int get(struct cli *c, struct args *a)
{
	char *path = api_path_new("/api/v1/projects/%s", arg_pos(a, 0));
	int rc = api_show(c, "GET", path, NULL, NULL, project_cols);
	free(path);
	return rc;
}

/* PUT wants the alias; keep the current one when only other fields change. */
static int update(struct cli *c, struct args *a)
{
	char *path = api_path_new("/api/v1/projects/%s", arg_pos(a, 0));
	json_t *body = json_object();
	args_to_json(a, DEST_BODY, body);
	int rc = 0;
	if (!json_object_get(body, "alias")) {
		json_t *cur = NULL;
		rc = api_call(c, "GET", path, NULL, &cur);
		if (rc == 0)
			json_object_set(body, "alias", json_object_get(cur, "alias"));
		json_decref(cur);
	}
	if (rc == 0)
		rc = api_show(c, "PUT", path, body, NULL, project_cols);
	else
		json_decref(body);
	free(path);
	return rc;
}

static int destroy(struct cli *c, struct args *a)
{
	const char *id = arg_pos(a, 0);
	char *path = api_path_new("/api/v1/projects/%s", id);
	int rc = api_act(c, "DELETE", path, NULL, "Delete project %s and every container in it?",
			 "Deleted project %s and its containers.", id);
	free(path);
	return rc;
}

static const struct cmd create_cmd = {
    .name = "create",
    .summary = "Create a project",
    .run = create,
    .opts = create_opts,
    .example = "hoody projects create --alias \"client-acme\" --color \"#e74c3c\"",
};
static const struct cmd list_cmd = {
    .name = "list",
    .summary = "List your projects",
    .run = list,
    .opts = list_opts,
    .example = "hoody projects list --limit 20",
};
static const struct cmd get_cmd = {
    .name = "get",
    .summary = "Show one project",
    .run = get,
    .positional = "<project-id>",
    .min_pos = 1,
    .max_pos = 1,
    .example = "hoody projects get $PROJECT_ID",
};
static const struct cmd update_cmd = {
    .name = "update",
    .summary = "Change a project's alias, color or container limit",
    .run = update,
    .opts = update_opts,
    .positional = "<project-id>",
    .min_pos = 1,
    .max_pos = 1,
    .example = "hoody projects update $PROJECT_ID --alias client-acme-2 --color 3498db",
};
static const struct cmd delete_cmd = {
    .name = "delete",
    .summary = "Delete a project and all its containers",
    .run = destroy,
    .positional = "<project-id>",
    .min_pos = 1,
    .max_pos = 1,
    .example = "hoody projects delete $PROJECT_ID -y",
};

static const struct cmd *const subs[] = {
    &create_cmd, &list_cmd, &get_cmd, &update_cmd, &delete_cmd, NULL,
};
const struct cmd projects_cmd = {
    .name = "projects",
    .summary = "Create, list, change and delete projects",
    .subs = subs,
    .example = "hoody projects create --alias \"client-acme\" --color \"#e74c3c\""};
