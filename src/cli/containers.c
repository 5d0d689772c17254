/* hoody containers create|list|get|update|delete|manage|stats|status-logs|
 * authorize (and the env group from env.c) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/util.h"

static const struct column container_cols[] = {
    {"ID", "id", COL_TEXT},
    {"NAME", "name", COL_TEXT},
    {"COLOR", "color", COL_COLOR},
    {"STATUS", "status", COL_STATUS},
    {"IMAGE", "container_image", COL_TEXT},
    {"SERVER", "server_name|server_id", COL_TEXT},
    {"CREATED", "created_at", COL_TIME},
    {0},
};

/* Fields both create and update accept. */
/* clang-format off */
#define CONTAINER_FIELDS \
	OPT("name", 0, OPT_STR, DEST_BODY, "name", "<name>", \
	    "3-100 characters: letters, digits, - and _"), \
	OPT("color", 0, OPT_STR, DEST_BODY, "color", "<hex>", "color, e.g. \"#3498db\""), \
	OPT("comment", 0, OPT_STR, DEST_BODY, "comment", "<text>", "free text (16000 max)"), \
	OPT("ssh-public-key", 0, OPT_STR, DEST_BODY, "ssh_public_key", "<key>", \
	    "SSH public key, unique to this container"), \
	OPT("environment-vars", 'e', OPT_KV, DEST_BODY, "environment_vars", "<K=V>", \
	    "environment variable (repeatable)"), \
	OPT("autostart", 0, OPT_BOOL, DEST_BODY, "autostart", NULL, "start when the host boots"), \
	OPT("ramdisk", 0, OPT_BOOL, DEST_BODY, "ramdisk", NULL, "mount a tmpfs at /ramdisk"), \
	OPT("ai", 0, OPT_BOOL, DEST_BODY, "ai", NULL, "AI features")
/* clang-format on */

static const struct opt create_opts[] = {
    OPT("project", 'p', OPT_STR, DEST_NONE, NULL, "<id>", "project to create it in",
	.required = true),
    OPT("server-id", 0, OPT_STR, DEST_BODY, "server_id", "<id>",
	"server to run it on (default: your first server)"),
    OPT("container-image", 0, OPT_STR, DEST_BODY, "container_image", "<image>",
	"image, e.g. debian/13 (default: the server's default)", .alias = "image"),
    OPT("hoody-kit", 0, OPT_BOOL, DEST_BODY, "hoody_kit", NULL, "install the Hoody Kit services"),
    OPT("dev-kit", 0, OPT_BOOL, DEST_BODY, "dev_kit", NULL, "install the developer tools"),
    CONTAINER_FIELDS,
    OPT("bypass-prespawn", 0, OPT_FLAG, DEST_BODY, "bypass_prespawn", NULL,
	"create a fresh container instead of claiming a warm one"),
    OPT("wait", 'w', OPT_FLAG, DEST_NONE, NULL, NULL, "wait until it runs, then print its URLs"),
    OPT("wait-timeout", 0, OPT_INT, DEST_NONE, NULL, "<seconds>",
	"give up waiting after this (default 300)"),
    {0},
};

static const struct opt update_opts[] = {CONTAINER_FIELDS, {0}};

static const struct opt list_opts[] = {
    OPT("project", 'p', OPT_STR, DEST_NONE, NULL, "<id>", "only this project's containers"),
    OPT("realm-id", 0, OPT_STR, DEST_QUERY, "realm_id", "<id>", "only containers of this realm"),
    PAGE_OPTS,
    {0},
};

static const struct opt get_opts[] = {
    OPT("runtime", 0, OPT_FLAG, DEST_QUERY, "runtime", NULL, "include live runtime information"),
    {0},
};

static const struct opt manage_opts[] = {
    OPT("timeout", 0, OPT_INT, DEST_BODY, "timeout", "<seconds>",
	"upper bound for the operation (1-600); grace period of stop/restart"),
    {0},
};

static const struct opt logs_opts[] = {PAGE_OPTS, {0}};

static const struct opt copy_opts[] = {
    OPT("target-project", 0, OPT_STR, DEST_BODY, "target_project_id", "<project-id>",
	"project the copy goes to (required)"),
    OPT("name", 0, OPT_STR, DEST_BODY, "name", "<name>", "name of the copy (random if omitted)"),
    OPT("ssh-public-key", 0, OPT_STR, DEST_BODY, "ssh_public_key", "<key>",
	"SSH key of the copy (never inherited)"),
    OPT("source-snapshot", 0, OPT_STR, DEST_BODY, "source_snapshot", "<name>",
	"copy this snapshot's files instead of the current ones"),
    {0},
};

/* ---- service URLs ---- */

static const char *const kit_services[] = {"terminal", "display", "files", "exec", "sqlite"};

static const struct column url_cols[] = {
    {"SERVICE", "service", COL_TEXT},
    {"URL", "url", COL_TEXT},
    {0},
};

/* The Kit URLs of a container: the daemon's own "urls" object when it sends
 * one, else the documented pattern {project}-{container}-{kit}-1.{host
 * suffix}, whose suffix the ssh_hostname "{project}-{container}-ssh.<suffix>"
 * gives. */
static json_t *urls_new(json_t *ct)
{
	json_t *urls = json_path(ct, "service_urls|urls"), *rows = json_array(), *v;
	const char *k;
	if (json_is_object(urls)) {
		json_object_foreach(urls, k, v)
		    json_array_append_new(rows, json_pack("{s:s,s:O}", "service", k, "url", v));
		return rows;
	}
	const char *ssh = json_string_value(json_object_get(ct, "ssh_hostname"));
	const char *suffix = ssh ? strchr(ssh, '.') : NULL;
	const char *pid = json_string_value(json_object_get(ct, "project_id"));
	const char *cid = json_string_value(json_object_get(ct, "id"));
	if (!suffix || !pid || !cid || json_is_false(json_object_get(ct, "hoody_kit")))
		return rows;
	for (size_t i = 0; i < ARRAY_SIZE(kit_services); i++) {
		char *url = xasprintf("https://%s-%s-%s-1%s", pid, cid, kit_services[i], suffix);
		json_array_append_new(
		    rows, json_pack("{s:s,s:s}", "service", kit_services[i], "url", url));
		free(url);
	}
	json_array_append_new(rows, json_pack("{s:s,s:s}", "service", "ssh", "url", ssh));
	return rows;
}

/* A container the way create and get print it: its fields, then its service
 * URLs as a table of their own (unless it is gone or broken). */
static void show_container(struct cli *c, json_t *ct)
{
	if (c->output == OUT_JSON || c->quiet || !json_is_object(ct)) {
		output_result(c, ct, NULL, container_cols);
		return;
	}
	json_t *fields = json_copy(ct);
	json_object_del(fields, "urls");
	json_object_del(fields, "service_urls");
	print_object(c, fields);
	json_decref(fields);
	const char *status = json_string_value(json_object_get(ct, "status"));
	json_t *urls = urls_new(ct);
	if (status && strcmp(status, "failed") && strcmp(status, "deleting") &&
	    json_array_size(urls)) {
		printf("\nService URLs:\n");
		print_table(c, urls, url_cols);
	} else if (json_is_false(json_object_get(ct, "hoody_kit"))) {
		printf("\nNo Hoody Kit in this container: no service URLs.\n");
	}
	json_decref(urls);
}

/* ---- create ---- */

/* The status of a polled container, made printable: 0 = keep waiting,
 * -1 = running, else the exit code after saying why it will not run. */
static int judge(json_t *ct, const char *id, char *status, size_t len)
{
	text_clean(json_string_value(json_object_get(ct, "status")), status, len);
	if (!strcmp(status, "running"))
		return -1;
	if (!strcmp(status, "creating") || !strcmp(status, "claiming") ||
	    !strcmp(status, "copying"))
		return 0;
	char why[1024] = "";
	const char *reason = json_string_value(json_object_get(ct, "failure_reason"));
	if (reason)
		text_clean(reason, why, sizeof(why));
	return cli_fail(EXIT_FAIL, "container %s is %s, not running%s%s", id, status,
			*why ? ": " : "", why);
}

/* Polls until the container runs; *ct_out gets its last state. */
static int wait_running(struct cli *c, const char *id, long long timeout_s, json_t **ct_out)
{
	char *path = api_path_new("/api/v1/containers/%s", id);
	int64_t deadline = mono_ns() + timeout_s * 1000000000LL;
	char status[64] = "creating", msg[160];
	int rc = 0;
	*ct_out = NULL;
	for (unsigned tick = 0; rc == 0; tick++) {
		if (tick % 3 == 0) {
			json_decref(*ct_out);
			*ct_out = NULL;
			rc = api_call(c, "GET", path, NULL, ct_out);
			if (rc || (rc = judge(*ct_out, id, status, sizeof(status))))
				break;
		}
		if (mono_ns() > deadline) {
			rc = cli_fail(EXIT_FAIL, "gave up after %llds: container %s is still %s",
				      timeout_s, id, status);
			break;
		}
		snprintf(msg, sizeof(msg), "waiting for %s (%s)", id, status);
		spinner_tick(c, msg);
		nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
	}
	spinner_clear(c);
	free(path);
	return rc < 0 ? 0 : rc;
}

/* The caller's first server, for when --server-id is left out. */
static int default_server(struct cli *c, json_t *body)
{
	json_t *servers = NULL;
	int rc = api_call(c, "GET", "/api/v1/servers", NULL, &servers);
	json_t *first = json_array_get(
	    json_is_array(servers) ? servers : json_object_get(servers, "servers"), 0);
	json_t *id = json_path(first, "server_id|id");
	if (rc == 0 && !json_is_string(id))
		rc = cli_fail(EXIT_FAIL, "you have no server; give --server-id");
	if (rc == 0)
		json_object_set(body, "server_id", id);
	json_decref(servers);
	return rc;
}

static int create(struct cli *c, struct args *a)
{
	json_t *body = json_object(), *ct = NULL;
	args_to_json(a, DEST_BODY, body);
	char *path = api_path_new("/api/v1/projects/%s/containers", arg_str(a, "project"));
	int rc = json_object_get(body, "server_id") ? 0 : default_server(c, body);
	if (rc == 0)
		rc = api_call(c, "POST", path, body, &ct);
	const char *id = json_string_value(json_object_get(ct, "id"));
	if (rc == 0 && arg_set(a, "wait") && id) {
		json_t *final = NULL;
		char *idc = xstrdup(id);
		rc = wait_running(c, idc, arg_int(a, "wait-timeout", 300), &final);
		free(idc);
		if (final) {
			json_decref(ct);
			ct = final;
		}
	}
	if (ct)
		show_container(c, ct);
	json_decref(ct);
	json_decref(body);
	free(path);
	return rc;
}

/* ---- the rest ---- */

static int list(struct cli *c, struct args *a)
{
	const char *project = arg_str(a, "project");
	char *base = project ? api_path_new("/api/v1/projects/%s/containers", project)
			     : xstrdup("/api/v1/containers");
	char *path = api_path_args_new(base, a);
	int rc = api_show(c, "GET", path, NULL, "containers", container_cols);
	free(path);
	free(base);
	return rc;
}

/* Runs method on /api/v1/containers/{id}<suffix> for the container the
 * command names, with n_after more positionals allowed. */
static char *container_path(struct cli *c, struct args *a, const char *suffix, int n_after)
{
	const char *id = container_arg(c, a, n_after);
	if (!id)
		return NULL;
	char *base = api_path_new("/api/v1/containers/%s", id);
	char *path = xasprintf("%s%s", base, suffix);
	free(base);
	return path;
}

static int show(struct cli *c, struct args *a, const char *method, const char *suffix,
		const char *list_key, const struct column *cols)
{
	char *base = container_path(c, a, suffix, 0);
	if (!base)
		return EXIT_USAGE;
	char *path = api_path_args_new(base, a);
	json_t *body = NULL;
	if (strcmp(method, "GET")) {
		body = json_object();
		args_to_json(a, DEST_BODY, body);
	}
	int rc = api_show(c, method, path, body, list_key, cols);
	free(path);
	free(base);
	return rc;
}

static int get(struct cli *c, struct args *a)
{
	char *path = container_path(c, a, "", 0);
	if (!path)
		return EXIT_USAGE;
	char *full = api_path_args_new(path, a);
	json_t *ct = NULL;
	int rc = api_call(c, "GET", full, NULL, &ct);
	if (rc == 0)
		show_container(c, ct);
	json_decref(ct);
	free(full);
	free(path);
	return rc;
}

static int update(struct cli *c, struct args *a)
{
	return show(c, a, "PATCH", "", NULL, container_cols);
}

static int stats(struct cli *c, struct args *a)
{
	return show(c, a, "GET", "/stats", NULL, NULL);
}

static const struct column log_cols[] = {
    {"WHEN", "transition_time|created_at", COL_TIME},
    {"FROM", "from_status", COL_STATUS},
    {"TO", "to_status", COL_STATUS},
    {"DURATION MS", "duration_ms", COL_TEXT},
    {"BY", "triggered_by", COL_TEXT},
    {0},
};

static int copy(struct cli *c, struct args *a)
{
	if (!arg_str(a, "target-project"))
		return cli_fail(EXIT_USAGE, "--target-project is required");
	return show(c, a, "POST", "/copy", NULL, container_cols);
}

static int sync_copy(struct cli *c, struct args *a)
{
	return show(c, a, "POST", "/sync", NULL, NULL);
}

static int status_logs(struct cli *c, struct args *a)
{
	return show(c, a, "GET", "/status-logs", "logs", log_cols);
}

static int destroy(struct cli *c, struct args *a)
{
	const char *id = container_arg(c, a, 0);
	if (!id)
		return EXIT_USAGE;
	char *path = api_path_new("/api/v1/containers/%s", id);
	int rc = api_act(c, "DELETE", path, NULL, "Delete container %s and all its data?",
			 "Deleted container %s.", id);
	free(path);
	return rc;
}

static const char *const operations[] = {"start",   "stop",  "force-stop",
					 "restart", "pause", "resume"};

static int manage(struct cli *c, struct args *a)
{
	const char *id = container_arg(c, a, 1);
	if (!id)
		return EXIT_USAGE;
	const char *op = arg_pos(a, 0);
	size_t i = 0;
	while (i < ARRAY_SIZE(operations) && strcmp(operations[i], op))
		i++;
	if (i == ARRAY_SIZE(operations))
		return cli_fail(EXIT_USAGE,
				"unknown operation '%s': use start, stop, force-stop, "
				"restart, pause or resume",
				op);
	if (!strcmp(op, "force-stop") &&
	    !confirm(c, "Force-stop container %s (no clean shutdown)?", id))
		return cli_fail(EXIT_FAIL, "not stopped");
	char *path = api_path_new("/api/v1/containers/%s/%s", id, op);
	json_t *body = NULL, *data = NULL;
	if (arg_set(a, "timeout")) {
		body = json_object();
		args_to_json(a, DEST_BODY, body);
	}
	int rc = api_call(c, "POST", path, body, &data);
	if (rc == 0) {
		const char *msg = json_string_value(json_object_get(data, "message"));
		const char *st = json_string_value(json_object_get(data, "status"));
		output_done(c, data, "%s: %s (status: %s)", id, msg ? msg : op, st ? st : "?");
	}
	json_decref(body);
	json_decref(data);
	free(path);
	return rc;
}

/* Quiet mode prints the claim as the one line a program sends in
 * X-Hoody-Container-Claim. */
static int authorize(struct cli *c, struct args *a)
{
	char *path = container_path(c, a, "/authorize", 0);
	if (!path)
		return EXIT_USAGE;
	json_t *data = NULL;
	int rc = api_call(c, "POST", path, NULL, &data);
	if (rc == 0 && c->quiet && c->output == OUT_TABLE) {
		char *claim = json_dumps(json_object_get(data, "container_claim"), JSON_COMPACT);
		if (claim)
			puts(claim);
		free(claim);
	} else if (rc == 0) {
		output_result(c, data, NULL, NULL);
	}
	json_decref(data);
	free(path);
	return rc;
}

static const struct cmd create_cmd = {
    .name = "create",
    .summary = "Create a container (prints it; --wait waits until it runs)",
    .run = create,
    .opts = create_opts,
    .example = "hoody containers create --project $PROJECT_ID --server-id $SERVER_ID \\\n"
	       "      --name \"acme-frontend\" --hoody-kit --ssh-public-key \"ssh-ed25519 "
	       "AAAA...\" --wait",
};
static const struct cmd list_cmd = {
    .name = "list",
    .summary = "List containers (all projects, or one with --project)",
    .run = list,
    .opts = list_opts,
    .example = "hoody containers list --project $PROJECT_ID",
};
static const struct cmd get_cmd = {
    .name = "get",
    .summary = "Show one container and its service URLs",
    .run = get,
    .opts = get_opts,
    .positional = "<container-id>",
    .max_pos = 1,
    .example = "hoody containers get $CONTAINER_ID",
};
static const struct cmd update_cmd = {
    .name = "update",
    .summary = "Change a container's name, color, environment, SSH key, ...",
    .run = update,
    .opts = update_opts,
    .positional = "<container-id>",
    .max_pos = 1,
    .example = "hoody containers update $CONTAINER_ID --name \"renamed-container\" "
	       "--environment-vars NODE_ENV=staging",
};
static const struct cmd delete_cmd = {
    .name = "delete",
    .summary = "Delete a container and its data",
    .run = destroy,
    .positional = "<container-id>",
    .max_pos = 1,
    .example = "hoody containers delete $CONTAINER_ID -y",
};
static const struct cmd manage_cmd = {
    .name = "manage",
    .summary = "Run an operation: start, stop, force-stop, restart, pause, resume",
    .run = manage,
    .opts = manage_opts,
    .positional = "<container-id> <operation>",
    .max_pos = 2,
    .example = "hoody containers manage $CONTAINER_ID stop",
};
static const struct cmd stats_cmd = {
    .name = "stats",
    .summary = "Live CPU, memory, disk and network usage",
    .run = stats,
    .positional = "<container-id>",
    .max_pos = 1,
    .example = "hoody containers stats $CONTAINER_ID",
};
static const struct cmd logs_cmd = {
    .name = "status-logs",
    .summary = "The container's state transitions",
    .run = status_logs,
    .opts = logs_opts,
    .positional = "<container-id>",
    .max_pos = 1,
    .example = "hoody containers status-logs $CONTAINER_ID --limit 20",
};
static const struct cmd copy_cmd = {
    .name = "copy",
    .summary = "Copy a container (its files and settings) into a project",
    .run = copy,
    .opts = copy_opts,
    .positional = "<container-id>",
    .max_pos = 1,
    .example = "hoody containers copy $CONTAINER_ID --target-project $PROJECT --name staging",
};
static const struct cmd sync_cmd = {
    .name = "sync",
    .summary = "Bring a copy up to date with its source",
    .run = sync_copy,
    .positional = "<container-id>",
    .max_pos = 1,
    .example = "hoody containers sync $COPY_ID",
};
static const struct cmd authorize_cmd = {
    .name = "authorize",
    .summary = "Issue a signed container claim (-q: the claim only)",
    .run = authorize,
    .positional = "<container-id>",
    .max_pos = 1,
    .example = "CLAIM=$(hoody containers authorize $CONTAINER_ID -q)",
};

static const struct cmd *const subs[] = {
    &create_cmd, &list_cmd,	 &get_cmd, &update_cmd, &delete_cmd, &manage_cmd, &stats_cmd,
    &logs_cmd,	 &authorize_cmd, &env_cmd, &copy_cmd,	&sync_cmd,   NULL,
};
const struct cmd containers_cmd = {.name = "containers",
				   .summary = "Create, run, change and delete containers",
				   .subs = subs,
				   .example = "hoody containers manage $CONTAINER_ID stop"};
