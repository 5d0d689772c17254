/* hoody images list */
#include <stdlib.h>

#include "cli/cli.h"

static const struct column image_cols[] = {
    {"NAME", "alias|name|id", COL_TEXT},	  {"OS", "os", COL_TEXT},
    {"VERSION", "version|release", COL_TEXT},	  {"ARCH", "architecture|arch", COL_TEXT},
    {"SIZE", "size|size_bytes", COL_BYTES},	  {"DEFAULT", "is_default", COL_TEXT},
    {"ADDED", "added_date|created_at", COL_TIME}, {0},
};

static const struct opt list_opts[] = {
    OPT("os", 0, OPT_STR, DEST_QUERY, "os", "<os>", "only this operating system, e.g. debian"),
    OPT("search", 0, OPT_STR, DEST_QUERY, "search", "<text>", "match names and descriptions"),
    PAGE_OPTS,
    {0},
};

static int list(struct cli *c, struct args *a)
{
	char *path = api_path_args_new("/api/v1/images/public", a);
	int rc = api_show(c, "GET", path, NULL, "images", image_cols);
	free(path);
	return rc;
}

static const struct cmd list_cmd = {
    .name = "list",
    .summary = "List the images containers can be created from",
    .run = list,
    .opts = list_opts,
    .example = "hoody images list --os debian",
};

static const struct cmd *const subs[] = {&list_cmd, NULL};
const struct cmd images_cmd = {.name = "images",
			       .summary = "List container images",
			       .subs = subs,
			       .example = "hoody images list"};
