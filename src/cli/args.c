/* The one flag parser: every command declares its options as data, the
 * global options are merged in, and options may come before or after
 * positional arguments. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

const struct opt global_opts[] = {
    OPT("base-url", 0, OPT_STR, DEST_NONE, NULL, "<url>",
	"API base URL (env HOODY_BASE_URL; default http://127.0.0.1:8080)"),
    OPT("token", 't', OPT_STR, DEST_NONE, NULL, "<token>", "API token or JWT (env HOODY_TOKEN)"),
    OPT("output", 'o', OPT_STR, DEST_NONE, NULL, "table|json", "output format (default table)"),
    OPT("quiet", 'q', OPT_FLAG, DEST_NONE, NULL, NULL, "print only ids (or nothing)"),
    OPT("yes", 'y', OPT_FLAG, DEST_NONE, NULL, NULL, "do not ask for confirmation"),
    OPT("container", 'c', OPT_STR, DEST_NONE, NULL, "<id>", "the container a command is about"),
    OPT("help", 'h', OPT_FLAG, DEST_NONE, NULL, NULL, "show help"),
    {0},
};

static int add_opts(struct args *a, const struct opt *opts)
{
	for (const struct opt *o = opts; o && o->name; o++) {
		if (a->nopts == CLI_MAX_OPTS)
			return -1;
		a->opts[a->nopts++] = o;
	}
	return 0;
}

static int find_long(const struct args *a, const char *name, size_t len, bool *negated)
{
	*negated = false;
	for (size_t i = 0; i < a->nopts; i++) {
		const struct opt *o = a->opts[i];
		if ((strlen(o->name) == len && !strncmp(o->name, name, len)) ||
		    (o->alias && strlen(o->alias) == len && !strncmp(o->alias, name, len)))
			return (int)i;
	}
	/* --no-<bool> */
	if (len > 3 && !strncmp(name, "no-", 3)) {
		int i = find_long(a, name + 3, len - 3, negated);
		if (i >= 0 && a->opts[i]->kind == OPT_BOOL) {
			*negated = true;
			return i;
		}
	}
	return -1;
}

static int find_short(const struct args *a, char c)
{
	for (size_t i = 0; i < a->nopts; i++)
		if (a->opts[i]->shortc == c)
			return (int)i;
	return -1;
}

static int usage_err(const char *fmt, const char *what)
{
	fprintf(stderr, "hoody: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, " (see --help)\n");
	return EXIT_USAGE;
}

static int parse_bool_text(const char *s)
{
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1") || !strcmp(s, "on"))
		return 1;
	if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0") || !strcmp(s, "off"))
		return 0;
	return -1;
}

static bool takes_value(const struct opt *o)
{
	return o->kind == OPT_STR || o->kind == OPT_INT || o->kind == OPT_KV;
}

/* Stores one occurrence of option i; value may be NULL (flag/bool). */
static int store(struct args *a, int i, const char *value, bool negated)
{
	const struct opt *o = a->opts[i];
	struct optval *v = &a->vals[i];
	if (value && takes_value(o)) {
		json_t *probe = json_string(value); /* NULL: not UTF-8, JSON cannot carry it */
		if (!probe)
			return usage_err("--%s is not valid UTF-8", o->name);
		json_decref(probe);
	}
	switch (o->kind) {
	case OPT_FLAG:
		if (value)
			return usage_err("--%s takes no value", o->name);
		v->b = true;
		break;
	case OPT_BOOL: {
		int b = 1;
		if (value && (negated || (b = parse_bool_text(value)) < 0))
			return usage_err("--%s takes true or false", o->name);
		v->b = negated ? false : b;
		break;
	}
	case OPT_INT: {
		char *end;
		errno = 0;
		long long n = strtoll(value, &end, 10);
		if (errno || end == value || *end)
			return usage_err("--%s needs a whole number", o->name);
		v->num = n;
		v->str = value;
		break;
	}
	case OPT_STR:
		v->str = value;
		break;
	case OPT_KV: {
		const char *eq = strchr(value, '=');
		if (!eq || eq == value)
			return usage_err("--%s needs KEY=VALUE", o->name);
		if (v->nlist == CLI_MAX_LIST)
			return usage_err("too many --%s", o->name);
		v->list[v->nlist++] = value;
		break;
	}
	}
	v->set = true;
	return 0;
}

static int parse_long(struct args *a, int argc, char **argv, int *k)
{
	const char *arg = argv[*k] + 2;
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	bool negated;
	int i = find_long(a, arg, len, &negated);
	if (i < 0)
		return usage_err("unknown option %s", argv[*k]);
	const char *value = eq ? eq + 1 : NULL;
	if (!value && takes_value(a->opts[i])) {
		if (*k + 1 >= argc)
			return usage_err("--%s needs a value", a->opts[i]->name);
		value = argv[++*k];
	}
	return store(a, i, value, negated);
}

/* -q, -qy, -o json, -ojson */
static int parse_short(struct args *a, int argc, char **argv, int *k)
{
	for (const char *p = argv[*k] + 1; *p; p++) {
		int i = find_short(a, *p);
		if (i < 0) {
			char opt[3] = {'-', *p, 0};
			return usage_err("unknown option %s", opt);
		}
		if (!takes_value(a->opts[i])) {
			if (store(a, i, NULL, false))
				return EXIT_USAGE;
			continue;
		}
		const char *value = p[1] ? p + 1 : NULL;
		if (!value) {
			if (*k + 1 >= argc)
				return usage_err("--%s needs a value", a->opts[i]->name);
			value = argv[++*k];
		}
		return store(a, i, value, false);
	}
	return 0;
}

int args_parse(struct args *a, const struct cmd *cmd, int argc, char **argv)
{
	memset(a, 0, sizeof(*a));
	if (add_opts(a, global_opts) < 0 || add_opts(a, cmd ? cmd->opts : NULL) < 0)
		return cli_fail(EXIT_USAGE, "internal: too many options");
	bool only_pos = false;
	for (int k = 0; k < argc; k++) {
		const char *s = argv[k];
		int rc = 0;
		if (!only_pos && !strcmp(s, "--"))
			only_pos = true;
		else if (!only_pos && s[0] == '-' && s[1] == '-')
			rc = parse_long(a, argc, argv, &k);
		else if (!only_pos && s[0] == '-' && s[1])
			rc = parse_short(a, argc, argv, &k);
		else if (a->npos == CLI_MAX_POS)
			return usage_err("too many arguments at %s", s);
		else
			a->pos[a->npos++] = s;
		if (rc)
			return rc;
	}
	a->help = arg_set(a, "help");
	if (a->help || !cmd)
		return 0;
	for (size_t i = 0; i < a->nopts; i++)
		if (a->opts[i]->required && !a->vals[i].set)
			return usage_err("--%s is required", a->opts[i]->name);
	if (a->npos < cmd->min_pos)
		return usage_err("missing argument: %s", cmd->positional ? cmd->positional : "");
	if (a->npos > cmd->max_pos)
		return usage_err("unexpected argument %s", a->pos[cmd->max_pos]);
	return 0;
}

static const struct optval *val(const struct args *a, const char *name)
{
	for (size_t i = 0; i < a->nopts; i++)
		if (!strcmp(a->opts[i]->name, name))
			return a->vals[i].set ? &a->vals[i] : NULL;
	return NULL;
}

bool arg_set(const struct args *a, const char *name)
{
	return val(a, name) != NULL;
}

const char *arg_str(const struct args *a, const char *name)
{
	const struct optval *v = val(a, name);
	return v ? v->str : NULL;
}

int arg_bool(const struct args *a, const char *name)
{
	const struct optval *v = val(a, name);
	return v ? v->b : -1;
}

long long arg_int(const struct args *a, const char *name, long long dflt)
{
	const struct optval *v = val(a, name);
	return v ? v->num : dflt;
}

const char *arg_pos(const struct args *a, int i)
{
	return i < a->npos ? a->pos[i] : NULL;
}

static json_t *kv_object(const struct optval *v)
{
	json_t *o = json_object();
	for (size_t i = 0; i < v->nlist; i++) {
		const char *eq = strchr(v->list[i], '=');
		json_object_setn_new(o, v->list[i], (size_t)(eq - v->list[i]), json_string(eq + 1));
	}
	return o;
}

void args_to_json(const struct args *a, enum opt_dest dest, json_t *obj)
{
	for (size_t i = 0; i < a->nopts; i++) {
		const struct opt *o = a->opts[i];
		const struct optval *v = &a->vals[i];
		if (o->dest != dest || !v->set)
			continue;
		json_t *j = NULL;
		switch (o->kind) {
		case OPT_STR:
			j = json_string(v->str);
			break;
		case OPT_INT:
			j = dest == DEST_QUERY ? json_string(v->str) : json_integer(v->num);
			break;
		case OPT_BOOL:
		case OPT_FLAG:
			j = dest == DEST_QUERY ? json_string(v->b ? "true" : "false")
					       : json_boolean(v->b);
			break;
		case OPT_KV:
			j = kv_object(v);
			break;
		}
		json_object_set_new(obj, o->field ? o->field : o->name, j);
	}
}
