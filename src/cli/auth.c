/* hoody auth login|logout|whoami and hoody auth tokens create|list|delete */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/util.h"

static const struct opt login_opts[] = {
    OPT("username", 'u', OPT_STR, DEST_BODY, "username", "<name>", "your user name"),
    OPT("email", 0, OPT_STR, DEST_BODY, "email", "<address>", "or your email address"),
    OPT("password", 0, OPT_STR, DEST_NONE, NULL, "<password>",
	"your password (prompted for on a terminal)"),
    OPT("password-stdin", 0, OPT_FLAG, DEST_NONE, NULL, NULL, "read the password from stdin"),
    {0},
};

/* One line from stdin, echo off when it is a terminal. */
static char *read_password(bool prompt)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	if (prompt)
		fputs("Password: ", stderr);
	if (tty) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char buf[1024];
	char *line = fgets(buf, sizeof(buf), stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		if (prompt)
			fputc('\n', stderr);
	}
	if (!line)
		return NULL;
	buf[strcspn(buf, "\r\n")] = '\0';
	return xstrdup(buf);
}

static int login(struct cli *c, struct args *a)
{
	if (!arg_set(a, "username") && !arg_set(a, "email"))
		return cli_fail(EXIT_USAGE, "give --username or --email (see --help)");
	char *pw = NULL;
	if (arg_str(a, "password"))
		pw = xstrdup(arg_str(a, "password"));
	else if (arg_set(a, "password-stdin") || isatty(STDIN_FILENO))
		pw = read_password(!arg_set(a, "password-stdin"));
	if (!pw)
		return cli_fail(EXIT_USAGE,
				"no password: use --password, --password-stdin or a terminal");
	json_t *body = json_object(), *data = NULL;
	args_to_json(a, DEST_BODY, body);
	json_object_set_new(body, "password", json_string(pw));
	free(pw);
	/* a stale token must not ride along with a login */
	free(c->token);
	c->token = NULL;
	int rc = api_call(c, "POST", "/api/v1/users/auth/login", body, &data);
	const char *token = json_string_value(json_object_get(data, "token"));
	if (rc == 0 && json_is_true(json_object_get(data, "requires_2fa")))
		rc = cli_fail(EXIT_AUTH,
			      "this account uses two-factor authentication, which the CLI "
			      "does not support yet; create an auth token instead");
	else if (rc == 0 && !token)
		rc = cli_fail(EXIT_SERVER, "the login answer has no token");
	if (rc == 0) {
		json_object_set_new(c->config, "baseUrl", json_string(c->base_url));
		json_object_set_new(c->config, "token", json_string(token));
		rc = config_save(c);
	}
	if (rc == 0) {
		const char *who = json_string_value(json_path(data, "user.username"));
		output_done(c, data, "Logged in to %s as %s; token saved in %s.", c->base_url,
			    who ? who : "you", c->config_path);
	}
	json_decref(body);
	json_decref(data);
	return rc;
}

/* Forgets the saved token even when the server cannot be told. */
static int logout(struct cli *c, struct args *a)
{
	json_t *data = NULL;
	int rc = c->token ? api_call(c, "POST", "/api/v1/users/auth/logout", NULL, &data)
			  : cli_fail(EXIT_AUTH, "not logged in");
	if (json_object_get(c->config, "token")) {
		json_object_del(c->config, "token");
		int src = config_save(c);
		rc = rc ? rc : src;
	}
	if (rc == 0)
		output_done(c, data, "Logged out of %s.", c->base_url);
	json_decref(data);
	return rc;
}

static const struct column user_cols[] = {
    {"ID", "user.id|id", COL_TEXT},
    {0},
};

static int whoami(struct cli *c, struct args *a)
{
	json_t *data = NULL;
	int rc = api_call(c, "GET", "/api/v1/users/auth/me", NULL, &data);
	if (rc == 0) {
		json_t *user = json_object_get(data, "user");
		output_result(
		    c, c->output == OUT_TABLE && !c->quiet && json_is_object(user) ? user : data,
		    NULL, user_cols);
	}
	json_decref(data);
	return rc;
}

/* ---- long-lived auth tokens ---- */

static const struct column token_cols[] = {
    {"ID", "id", COL_TEXT},
    {"ALIAS", "alias", COL_TEXT},
    {"ENABLED", "is_enabled", COL_TEXT},
    {"EXPIRES", "expires_at", COL_TIME},
    {"LAST USED", "last_used_at", COL_TIME},
    {"CREATED", "created_at", COL_TIME},
    {0},
};

static const struct column new_token_cols[] = {
    {"TOKEN", "token", COL_TEXT},
    {0},
};

static const struct opt token_create_opts[] = {
    OPT("alias", 0, OPT_STR, DEST_BODY, "alias", "<name>", "a name for the token"),
    OPT("permission-template", 0, OPT_STR, DEST_BODY, "permission_template", "<template>",
	"full_access, external_customer, dev_team, finance_team or read_only"),
    OPT("expires-at", 0, OPT_STR, DEST_BODY, "expires_at", "<when>",
	"ISO date, unix time, \"today\" or \"tomorrow\" (default: never)"),
    {0},
};

static int token_create(struct cli *c, struct args *a)
{
	json_t *body = json_object();
	args_to_json(a, DEST_BODY, body);
	int rc = api_show(c, "POST", "/api/v1/auth/tokens", body, NULL, new_token_cols);
	if (rc == 0 && c->output == OUT_TABLE && !c->quiet)
		printf("\nThe token is shown only this once: keep it now.\n");
	return rc;
}

static int token_list(struct cli *c, struct args *a)
{
	return api_show(c, "GET", "/api/v1/auth/tokens", NULL, "tokens", token_cols);
}

static int token_delete(struct cli *c, struct args *a)
{
	const char *id = arg_pos(a, 0);
	char *path = api_path_new("/api/v1/auth/tokens/%s", id);
	int rc =
	    api_act(c, "DELETE", path, NULL, "Delete auth token %s? Programs using it lose access.",
		    "Deleted auth token %s.", id);
	free(path);
	return rc;
}

static const struct cmd token_create_cmd = {
    .name = "create",
    .summary = "Create a long-lived hdy_ token (shown once)",
    .run = token_create,
    .opts = token_create_opts,
    .example = "hoody auth tokens create --alias ci --permission-template dev_team",
};
static const struct cmd token_list_cmd = {
    .name = "list",
    .summary = "List your auth tokens (never their secrets)",
    .run = token_list,
    .example = "hoody auth tokens list",
};
static const struct cmd token_delete_cmd = {
    .name = "delete",
    .summary = "Delete an auth token",
    .run = token_delete,
    .positional = "<token-id>",
    .min_pos = 1,
    .max_pos = 1,
    .example = "hoody auth tokens delete $TOKEN_ID -y",
};
static const struct cmd *const token_subs[] = {&token_create_cmd, &token_list_cmd,
					       &token_delete_cmd, NULL};
static const struct cmd tokens_cmd = {.name = "tokens",
				      .summary = "Long-lived API tokens (hdy_...)",
				      .subs = token_subs,
				      .example = "hoody auth tokens create --alias ci -q"};

static const struct cmd login_cmd = {
    .name = "login",
    .summary = "Log in and save the session token in ~/.hoody/config.json",
    .run = login,
    .opts = login_opts,
    .example = "hoody --base-url http://127.0.0.1:8080 auth login --username alice",
};
static const struct cmd logout_cmd = {
    .name = "logout",
    .summary = "End your sessions and forget the saved token",
    .run = logout,
    .example = "hoody auth logout",
};
static const struct cmd whoami_cmd = {
    .name = "whoami",
    .summary = "Show who the token belongs to",
    .run = whoami,
    .example = "hoody auth whoami",
};

static const struct cmd *const subs[] = {&login_cmd, &logout_cmd, &whoami_cmd, &tokens_cmd, NULL};
const struct cmd auth_cmd = {.name = "auth",
			     .summary = "Log in and out, and manage auth tokens",
			     .subs = subs,
			     .example = "hoody auth login --username alice"};
