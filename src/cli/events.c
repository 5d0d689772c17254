/* hoody events list|follow */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

static const struct column event_cols[] = {
    {"ID", "id", COL_TEXT},
    {"WHEN", "created_at", COL_TIME},
    {"TYPE", "event_type", COL_TEXT},
    {"RESOURCE", "resource_type", COL_TEXT},
    {"RESOURCE ID", "resource_id", COL_TEXT},
    {0},
};

/* clang-format off */
#define FILTER_OPTS \
	OPT("event-type", 0, OPT_STR, DEST_QUERY, "event_type", "<type>", \
	    "only this type, e.g. container.running"), \
	OPT("resource-type", 0, OPT_STR, DEST_QUERY, "resource_type", "<type>", \
	    "only this resource type, e.g. container"), \
	OPT("resource-id", 0, OPT_STR, DEST_QUERY, "resource_id", "<id>", "only this resource"), \
	OPT("project-id", 0, OPT_STR, DEST_QUERY, "project_id", "<id>", "only this project")
/* clang-format on */

static const struct opt list_opts[] = {
    FILTER_OPTS,
    OPT("limit", 0, OPT_INT, DEST_QUERY, "limit", "<n>", "events per page (1-500)"),
    OPT("offset", 0, OPT_INT, DEST_QUERY, "offset", "<n>", "skip this many"),
    OPT("sort-order", 0, OPT_STR, DEST_QUERY, "sort_order", "asc|desc", "sort direction"),
    {0},
};

static const struct opt follow_opts[] = {FILTER_OPTS, {0}};

/* -c/--container narrows to one container's events. */
static char *events_path(struct cli *c, struct args *a, const char *base)
{
	char *path = api_path_args_new(base, a);
	if (!c->container)
		return path;
	json_t *q = json_pack("{s:s}", "container_id", c->container);
	char *full = api_path_query_new(path, q);
	json_decref(q);
	free(path);
	return full;
}

static int list(struct cli *c, struct args *a)
{
	char *path = events_path(c, a, "/api/v1/events");
	int rc = api_show(c, "GET", path, NULL, "events", event_cols);
	free(path);
	return rc;
}

/* One line per event as it arrives: NDJSON with -o json. */
static int on_event(struct cli *c, json_t *ev)
{
	if (c->output == OUT_JSON) {
		char *s = json_dumps(ev, JSON_COMPACT);
		if (s)
			puts(s);
		free(s);
	} else {
		print_stream_row(c, ev, event_cols + 1);
	}
	fflush(stdout);
	return 0;
}

static int follow(struct cli *c, struct args *a)
{
	char *path = events_path(c, a, "/api/v1/events/stream");
	int rc = api_stream(c, path, on_event);
	free(path);
	return rc;
}

static const struct cmd list_cmd = {
    .name = "list",
    .summary = "List recent events",
    .run = list,
    .opts = list_opts,
    .example = "hoody events list -c $CONTAINER_ID --limit 20",
};
static const struct cmd follow_cmd = {
    .name = "follow",
    .summary = "Print events as they happen (until interrupted)",
    .run = follow,
    .opts = follow_opts,
    .example = "hoody events follow --resource-type container -o json",
};

static const struct cmd *const subs[] = {&list_cmd, &follow_cmd, NULL};
const struct cmd events_cmd = {.name = "events",
			       .summary = "What happened to your resources",
			       .subs = subs,
			       .example = "hoody events follow -c $CONTAINER_ID"};
