/* `hoody`: finds the command in argv, parses its options (global ones may
 * come before or after it), works out where the API is and which token to
 * use, and runs it. */
#include <curl/curl.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/json.h"
#include "common/util.h"

#define DEFAULT_BASE_URL "http://127.0.0.1:8080"
#define DEFAULT_STATE_DIR "/var/lib/hoody"
#define MAX_DEPTH 4

static const struct cmd *const root_subs[] = {
    &auth_cmd,	    &projects_cmd, &servers_cmd, &images_cmd, &containers_cmd,
    &snapshots_cmd, &events_cmd,   &proxy_cmd,	 NULL,
};

static const struct cmd root_cmd = {
    .name = "hoody",
    .summary = "Command-line client for the Hoody API (hoodyd)",
    .subs = root_subs,
    .example = "hoody containers list\n"
	       "  hoody --base-url http://127.0.0.1:8080 -t $HOODY_TOKEN projects list -o json",
};

/* ---- help ---- */

static void print_opt(FILE *out, const struct opt *o)
{
	char left[128];
	char shortc[5] = "    ";
	if (o->shortc)
		snprintf(shortc, sizeof(shortc), "-%c, ", o->shortc);
	snprintf(left, sizeof(left), "%s--%s%s%s%s%s%s%s", shortc, o->name, o->alias ? ", --" : "",
		 o->alias ? o->alias : "", o->metavar ? " " : "", o->metavar ? o->metavar : "",
		 o->kind == OPT_BOOL ? ", --no-" : "", o->kind == OPT_BOOL ? o->name : "");
	fprintf(out, "  %-44s %s%s\n", left, o->help, o->required ? " (required)" : "");
}

static void print_help(const struct cmd *const *chain, int depth, FILE *out)
{
	const struct cmd *cmd = chain[depth - 1];
	char name[128] = "";
	for (int i = 0; i < depth; i++)
		snprintf(name + strlen(name), sizeof(name) - strlen(name), "%s%s", i ? " " : "",
			 chain[i]->name);
	if (cmd->subs) {
		fprintf(out, "Usage: %s <command> [options]\n\n%s\n\nCommands:\n", name,
			cmd->summary);
		for (const struct cmd *const *s = cmd->subs; *s; s++)
			fprintf(out, "  %-14s %s\n", (*s)->name, (*s)->summary);
	} else {
		fprintf(out, "Usage: %s%s%s [options]\n\n%s\n", name, cmd->positional ? " " : "",
			cmd->positional ? cmd->positional : "", cmd->summary);
		if (cmd->opts && cmd->opts[0].name) {
			fprintf(out, "\nOptions:\n");
			for (const struct opt *o = cmd->opts; o->name; o++)
				print_opt(out, o);
		}
	}
	fprintf(out, "\nGlobal options (before or after the command):\n");
	for (const struct opt *o = global_opts; o->name; o++)
		print_opt(out, o);
	if (cmd->example)
		fprintf(out, "\nExample:\n  %s\n", cmd->example);
	if (cmd->subs)
		fprintf(out, "\nRun '%s <command> --help' for a command's options.\n", name);
}

/* ---- finding the command ---- */

/* How many following tokens a global option consumes, or -1 when s is not
 * (only) global options. */
static int global_arity(const char *s)
{
	if (s[1] == '-') {
		const char *eq = strchr(s + 2, '=');
		size_t len = eq ? (size_t)(eq - s - 2) : strlen(s + 2);
		for (const struct opt *o = global_opts; o->name; o++)
			if (strlen(o->name) == len && !strncmp(o->name, s + 2, len))
				return o->kind == OPT_STR && !eq ? 1 : 0;
		return -1;
	}
	for (const char *p = s + 1; *p; p++) {
		const struct opt *o = global_opts;
		while (o->name && o->shortc != *p)
			o++;
		if (!o->name)
			return -1;
		if (o->kind == OPT_STR)
			return p[1] ? 0 : 1;
	}
	return 0;
}

static const struct cmd *find_sub(const struct cmd *node, const char *name)
{
	for (const struct cmd *const *s = node->subs; s && *s; s++)
		if (!strcmp((*s)->name, name))
			return *s;
	return NULL;
}

/* Splits argv into the command chain and the rest (options and
 * positionals), in order. */
static int find_command(int argc, char **argv, const struct cmd **chain, int *depth, char **rest,
			int *nrest, bool *want_help)
{
	bool descending = true;
	for (int k = 1; k < argc; k++) {
		const char *s = argv[k];
		const struct cmd *node = chain[*depth - 1];
		if (descending && s[0] == '-' && s[1]) {
			int n = strcmp(s, "--") ? global_arity(s) : -1;
			if (n < 0)
				descending = false; /* a command option: the command is complete */
			rest[(*nrest)++] = argv[k];
			if (n == 1 && k + 1 < argc)
				rest[(*nrest)++] = argv[++k];
			continue;
		}
		if (descending && node->subs) {
			const struct cmd *sub = find_sub(node, s);
			if (sub && *depth < MAX_DEPTH) {
				chain[(*depth)++] = sub;
				continue;
			}
			if (!strcmp(s, "help")) {
				*want_help = true;
				continue;
			}
			print_help(chain, *depth, stderr);
			return cli_fail(EXIT_USAGE, "unknown command '%s'", s);
		}
		descending = false;
		rest[(*nrest)++] = argv[k];
	}
	return 0;
}

/* ---- configuration ---- */

static char *config_path_new(void)
{
	const char *p = getenv("HOODY_CONFIG");
	if (p && *p)
		return xstrdup(p);
	const char *home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : "/";
	}
	return xasprintf("%s/.hoody/config.json", home);
}

static json_t *config_load(const char *path)
{
	char *text = NULL;
	size_t len;
	struct error err = {0};
	if (read_file(path, CLI_MAX_CONFIG + 1, &text, &len, &err) < 0)
		return json_object();
	json_error_t jerr;
	json_t *j = len > CLI_MAX_CONFIG ? NULL : json_loadb(text, len, 0, &jerr);
	free(text);
	if (!json_is_object(j)) {
		fprintf(stderr,
			"hoody: warning: ignoring %s (not a JSON object of at most %u bytes)\n",
			path, CLI_MAX_CONFIG);
		json_decref(j);
		return json_object();
	}
	return j;
}

int config_save(struct cli *c)
{
	struct error err = {0};
	char *dir = xstrdup(c->config_path);
	int rc = mkdir_p(dirname(dir), 0700, &err);
	free(dir);
	char *text = json_dumps(c->config, JSON_INDENT(2));
	if (rc == 0)
		rc = write_file_atomic(c->config_path, text, strlen(text), 0600, &err);
	free(text);
	if (rc < 0)
		return cli_fail(EXIT_FAIL, "cannot save %s: %s", c->config_path, err.msg);
	return 0;
}

static bool is_loopback_url(const char *url)
{
	const char *host = strstr(url, "://");
	host = host ? host + 3 : url;
	static const char *const local[] = {"127.0.0.1", "localhost", "[::1]"};
	for (size_t i = 0; i < ARRAY_SIZE(local); i++) {
		size_t n = strlen(local[i]);
		if (!strncmp(host, local[i], n) && strchr(":/", host[n]))
			return true;
	}
	return false;
}

/* The local daemon's admin token: only offered to a daemon on this machine,
 * so it never travels to a remote base URL. */
static char *admin_token_new(const char *base_url)
{
	if (!is_loopback_url(base_url))
		return NULL;
	const char *dir = getenv("HOODY_STATE_DIR");
	char *path = xasprintf("%s/admin-token", dir && *dir ? dir : DEFAULT_STATE_DIR);
	char *tok = NULL;
	struct error err = {0};
	if (read_file(path, CLI_MAX_TOKEN, &tok, NULL, &err) == 0)
		tok[strcspn(tok, "\r\n")] = '\0';
	free(path);
	return tok;
}

static const char *first_set(const char *a, const char *b, const char *c)
{
	if (a && *a)
		return a;
	if (b && *b)
		return b;
	return c && *c ? c : NULL;
}

static int setup(struct cli *c, struct args *a)
{
	c->config_path = config_path_new();
	c->config = config_load(c->config_path);
	const char *cfg_url = json_string_value(json_object_get(c->config, "baseUrl"));
	const char *url = first_set(arg_str(a, "base-url"), getenv("HOODY_BASE_URL"), cfg_url);
	c->base_url = xstrdup(url ? url : DEFAULT_BASE_URL);
	size_t n = strlen(c->base_url);
	while (n && c->base_url[n - 1] == '/')
		c->base_url[--n] = '\0';
	if (strncmp(c->base_url, "http://", 7) && strncmp(c->base_url, "https://", 8))
		return cli_fail(EXIT_USAGE, "base URL must start with http:// or https://: %s",
				c->base_url);

	/* the saved token belongs to the saved base URL only */
	const char *cfg_tok = json_string_value(json_object_get(c->config, "token"));
	char *cfg_norm = cfg_url ? xstrdup(cfg_url) : xstrdup(DEFAULT_BASE_URL);
	for (size_t m = strlen(cfg_norm); m && cfg_norm[m - 1] == '/';)
		cfg_norm[--m] = '\0';
	if (strcmp(cfg_norm, c->base_url))
		cfg_tok = NULL;
	free(cfg_norm);
	const char *tok = first_set(arg_str(a, "token"), getenv("HOODY_TOKEN"), cfg_tok);
	c->token = tok ? xstrdup(tok) : admin_token_new(c->base_url);
	if (c->token && (strlen(c->token) > CLI_MAX_TOKEN || strpbrk(c->token, "\r\n\t ")))
		return cli_fail(EXIT_USAGE, "the token is malformed (whitespace or too long)");

	const char *out = arg_str(a, "output");
	if (out && strcmp(out, "table") && strcmp(out, "json"))
		return cli_fail(EXIT_USAGE, "--output must be table or json");
	c->output = out && !strcmp(out, "json") ? OUT_JSON : OUT_TABLE;
	c->quiet = arg_set(a, "quiet");
	c->yes = arg_set(a, "yes");
	c->container = arg_str(a, "container");
	const char *term = getenv("TERM");
	c->color = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && !(term && !strcmp(term, "dumb"));
	c->spinner = isatty(STDERR_FILENO) && !c->quiet && !(term && !strcmp(term, "dumb"));
	return 0;
}

const char *container_arg(struct cli *c, struct args *a, int n_after)
{
	const char *id = c->container;
	if (!id) {
		if (a->npos == 0) {
			cli_fail(EXIT_USAGE,
				 "which container? give its id or -c <id> (see --help)");
			return NULL;
		}
		id = a->pos[0];
		memmove(a->pos, a->pos + 1, (size_t)(a->npos - 1) * sizeof(a->pos[0]));
		a->npos--;
	}
	if (a->npos != n_after) {
		cli_fail(EXIT_USAGE,
			 a->npos < n_after ? "missing argument (see --help)"
					   : "unexpected argument %s (see --help)",
			 a->npos > n_after ? a->pos[n_after] : "");
		return NULL;
	}
	return id;
}

int main(int argc, char **argv)
{
	const struct cmd *chain[MAX_DEPTH] = {&root_cmd};
	int depth = 1, nrest = 0;
	bool want_help = false;
	char **rest = xcalloc((size_t)argc + 1, sizeof(char *));
	struct args a;
	struct cli c = {0};
	json_alloc_policy_init();
	int rc = find_command(argc, argv, chain, &depth, rest, &nrest, &want_help);
	const struct cmd *cmd = chain[depth - 1];
	if (rc == 0)
		rc = args_parse(&a, cmd->subs ? NULL : cmd, nrest, rest);
	if (rc == 0 && (a.help || want_help)) {
		print_help(chain, depth, stdout);
	} else if (rc == 0 && cmd->subs) {
		print_help(chain, depth, stderr);
		rc = argc > 1 ? cli_fail(EXIT_USAGE, "missing command") : EXIT_USAGE;
		if (nrest)
			rc = cli_fail(EXIT_USAGE, "unknown command '%s'", rest[0]);
	} else if (rc == 0 && (rc = setup(&c, &a)) == 0) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = cmd->run(&c, &a);
		curl_global_cleanup();
	}
	fflush(stdout);
	free(rest);
	free(c.base_url);
	free(c.token);
	free(c.config_path);
	json_decref(c.config);
	return rc;
}
