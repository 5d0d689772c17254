/* hoody servers list|get */
#include <stdlib.h>

#include "cli/cli.h"

static const struct column server_cols[] = {
    {"SERVER ID", "server_id|id", COL_TEXT},
    {"NAME", "server_name|name", COL_TEXT},
    {"STATUS", "status", COL_TEXT},
    {"CONTAINERS", "container_capacity.used", COL_TEXT},
    {"MAX", "container_capacity.max", COL_TEXT},
    {0},
};

static int list(struct cli *c, struct args *a)
{
	return api_show(c, "GET", "/api/v1/servers", NULL, "servers", server_cols);
}

static int get(struct cli *c, struct args *a)
{
	char *path = api_path_new("/api/v1/servers/%s", arg_pos(a, 0));
	int rc = api_show(c, "GET", path, NULL, NULL, server_cols);
	free(path);
	return rc;
}

static const struct cmd list_cmd = {
    .name = "list",
    .summary = "List the servers you can create containers on",
    .run = list,
    .example = "hoody servers list",
};
static const struct cmd get_cmd = {
    .name = "get",
    .summary = "Show one server",
    .run = get,
    .positional = "<server-id>",
    .min_pos = 1,
    .max_pos = 1,
    .example = "hoody servers get $SERVER_ID",
};

static const struct cmd *const subs[] = {&list_cmd, &get_cmd, NULL};
const struct cmd servers_cmd = {.name = "servers",
				.summary = "List servers (where containers run)",
				.subs = subs,
				.example = "hoody servers list"};
