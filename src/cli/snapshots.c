/* hoody snapshots create|list|restore|delete -c <container-id> */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

static const struct column snapshot_cols[] = {
    {"NAME", "name", COL_TEXT},		 {"ALIAS", "alias", COL_TEXT},
    {"CREATED", "created_at", COL_TIME}, {"EXPIRES", "expires_at", COL_TIME},
    {"SIZE", "size", COL_BYTES},	 {0},
};

static const struct opt create_opts[] = {
    OPT("alias", 0, OPT_STR, DEST_BODY, "alias", "<text>", "a name to remember it by"),
    OPT("expiry", 0, OPT_INT, DEST_BODY, "expiry", "<days>", "delete it after this many days"),
    {0},
};

static int create(struct cli *c, struct args *a)
{
	const char *id = container_arg(c, a, 0);
	if (!id)
		return EXIT_USAGE;
	char *path = api_path_new("/api/v1/containers/%s/snapshots", id);
	json_t *body = json_object(), *data = NULL;
	args_to_json(a, DEST_BODY, body);
	int rc = api_call(c, "POST", path, body, &data);
	if (rc == 0)
		output_result(c, c->output == OUT_JSON ? data : json_object_get(data, "snapshot"),
			      NULL, snapshot_cols);
	json_decref(body);
	json_decref(data);
	free(path);
	return rc;
}

static int list(struct cli *c, struct args *a)
{
	const char *id = container_arg(c, a, 0);
	if (!id)
		return EXIT_USAGE;
	char *path = api_path_new("/api/v1/containers/%s/snapshots", id);
	int rc = api_show(c, "GET", path, NULL, "snapshots", snapshot_cols);
	free(path);
	return rc;
}

/* restore (PUT) or delete one snapshot, after a confirmation. */
static int one(struct cli *c, struct args *a, const char *method, const char *question,
	       const char *done_fmt)
{
	const char *id = container_arg(c, a, 1);
	if (!id)
		return EXIT_USAGE;
	const char *name = arg_pos(a, 0);
	char *path = api_path_new("/api/v1/containers/%s/snapshots/%s", id, name);
	int rc = api_act(c, method, path, NULL, question, done_fmt, name, id);
	free(path);
	return rc;
}

static int restore(struct cli *c, struct args *a)
{
	return one(c, a, "PUT", "Restore snapshot %s into container %s (later changes are lost)?",
		   "Restored snapshot %s into container %s.");
}

static int destroy(struct cli *c, struct args *a)
{
	return one(c, a, "DELETE", "Delete snapshot %s of container %s?",
		   "Deleted snapshot %s of container %s.");
}

static const struct cmd create_cmd = {
    .name = "create",
    .summary = "Snapshot a container's filesystem",
    .run = create,
    .opts = create_opts,
    .positional = "[<container-id>]",
    .max_pos = 1,
    .example =
	"hoody snapshots create --container $CONTAINER_ID --alias \"before-deletion-2025-11-09\"",
};
static const struct cmd list_cmd = {
    .name = "list",
    .summary = "List a container's snapshots",
    .run = list,
    .positional = "[<container-id>]",
    .max_pos = 1,
    .example = "hoody snapshots list -c $CONTAINER_ID",
};
static const struct cmd restore_cmd = {
    .name = "restore",
    .summary = "Roll a container back to a snapshot",
    .run = restore,
    .positional = "[<container-id>] <snapshot-name>",
    .max_pos = 2,
    .example = "hoody snapshots restore -c $CONTAINER_ID snap-20250115-103000",
};
static const struct cmd delete_cmd = {
    .name = "delete",
    .summary = "Delete a snapshot",
    .run = destroy,
    .positional = "[<container-id>] <snapshot-name>",
    .max_pos = 2,
    .example = "hoody snapshots delete -c $CONTAINER_ID snap-20250115-103000 -y",
};

static const struct cmd *const subs[] = {&create_cmd, &list_cmd, &restore_cmd, &delete_cmd, NULL};
const struct cmd snapshots_cmd = {
    .name = "snapshots",
    .summary = "Snapshot, restore and delete container filesystems",
    .subs = subs,
    .example =
	"hoody snapshots create --container $CONTAINER_ID --alias \"before-deletion-2025-11-09\""};
