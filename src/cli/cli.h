/* The `hoody` command-line client: shared declarations. Every command file
 * describes its commands as data (struct cmd + struct opt); main.c parses the
 * command line once with one parser, http.c talks to the API, output.c
 * renders tables, key/value views and JSON. */
#ifndef HOODY_CLI_H
#define HOODY_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes (documented in docs/CLI.md). */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,	   /* the API refused the request (400, 422, 429, ...) or an op failed */
	EXIT_USAGE = 2,	   /* bad command line */
	EXIT_AUTH = 3,	   /* 401/403: no token, bad token, not allowed */
	EXIT_NOTFOUND = 4, /* 404 */
	EXIT_CONFLICT = 5, /* 409 */
	EXIT_SERVER = 6,   /* 5xx or an unreadable response */
	EXIT_CONNECT = 7,  /* the daemon could not be reached */
};

/* Bounds on what the client accepts. */
#define CLI_MAX_RESPONSE (16u << 20) /* bytes of one response body */
#define CLI_MAX_CONFIG (64u << 10)   /* bytes of ~/.hoody/config.json */
#define CLI_MAX_SSE_EVENT (1u << 20) /* bytes of one server-sent event */
#define CLI_MAX_POS 8		     /* positional arguments */
#define CLI_MAX_OPTS 48		     /* options of one command, globals included */
#define CLI_MAX_LIST 256	     /* values of one repeatable option */
#define CLI_MAX_TOKEN 8192	     /* bytes of a token */

enum opt_kind {
	OPT_STR,  /* --name value */
	OPT_INT,  /* --limit 10 */
	OPT_BOOL, /* --autostart / --no-autostart / --autostart=false */
	OPT_FLAG, /* --wait (no value, no negation) */
	OPT_KV,	  /* --environment-vars K=V, repeatable */
};

/* Where a parsed option goes when a command builds its request from args. */
enum opt_dest { DEST_NONE, DEST_BODY, DEST_QUERY };

struct opt {
	const char *name; /* long name, without "--" */
	char shortc;	  /* -x, or 0 */
	enum opt_kind kind;
	enum opt_dest dest;
	const char *field;   /* JSON body field / query key (DEST_BODY/DEST_QUERY) */
	const char *metavar; /* shown in help: "<id>" */
	const char *help;
	const char *alias; /* a second long name (--image for --container-image) */
	bool required;
};

/* One option: long name, short letter, kind, destination, JSON field, metavar,
 * help, then optional designated fields (.alias, .required). */
#define OPT(n, s, k, d, f, m, h, ...)                                                              \
	{                                                                                          \
		.name = (n), .shortc = (s), .kind = (k), .dest = (d), .field = (f),                \
		.metavar = (m), .help = (h), __VA_ARGS__                                           \
	}

/* Options every paginated list takes. */
/* clang-format off */
#define PAGE_OPTS \
	OPT("page", 0, OPT_INT, DEST_QUERY, "page", "<n>", "page number, from 1"), \
	OPT("limit", 0, OPT_INT, DEST_QUERY, "limit", "<n>", "items per page (1-100)"), \
	OPT("sort-by", 0, OPT_STR, DEST_QUERY, "sort_by", "<field>", "field to sort by"), \
	OPT("sort-order", 0, OPT_STR, DEST_QUERY, "sort_order", "asc|desc", "sort direction")
/* clang-format on */

struct cli;
struct args;
struct column;

struct cmd {
	const char *name;
	const char *summary;
	const struct cmd *const *subs; /* NULL-terminated; NULL for a leaf */
	int (*run)(struct cli *c, struct args *a);
	const struct opt *opts; /* terminated by {0}; may be NULL */
	const char *positional; /* help text: "<id> <operation>" */
	int min_pos, max_pos;
	const char *example;
};

enum out_mode { OUT_TABLE, OUT_JSON };

struct cli {
	char *base_url;
	char *token;
	char *config_path;
	json_t *config; /* parsed config file (object, never NULL) */
	enum out_mode output;
	bool quiet, yes;
	bool color;	       /* 24-bit colors on stdout */
	bool spinner;	       /* stderr is a terminal */
	const char *container; /* -c/--container */
	const char *if_match;  /* sent as If-Match when set (proxy documents) */
};

/* ---- args.c: the one flag parser ---- */
struct args {
	const struct opt *opts[CLI_MAX_OPTS];
	size_t nopts;
	struct optval {
		bool set;
		const char *str;
		long long num;
		bool b;
		const char *list[CLI_MAX_LIST];
		size_t nlist;
	} vals[CLI_MAX_OPTS];
	const char *pos[CLI_MAX_POS];
	int npos;
	bool help;
};

extern const struct opt global_opts[];

/* Parses argv (command words already removed) against the global options
 * and cmd's. Prints the problem and returns EXIT_USAGE on a bad line. */
int args_parse(struct args *a, const struct cmd *cmd, int argc, char **argv);
const char *arg_str(const struct args *a, const char *name);
/* -1 unset, else 0/1 */
int arg_bool(const struct args *a, const char *name);
bool arg_set(const struct args *a, const char *name);
long long arg_int(const struct args *a, const char *name, long long dflt);
/* Adds every set option whose dest matches to obj (body) as typed JSON values
 * (OPT_KV options become an object). */
void args_to_json(const struct args *a, enum opt_dest dest, json_t *obj);
/* Positional i, or NULL. */
const char *arg_pos(const struct args *a, int i);

/* ---- http.c: the one request function ---- */
/* "/api/v1/containers/%s/env/%s" with each argument URL-escaped (only %s). */
char *api_path_new(const char *fmt, ...);
/* Appends "?k=v&..." from a JSON object of scalars (values escaped). */
char *api_path_query_new(const char *path, json_t *query);
/* One API call. body may be NULL. On 2xx, *data_out (if non-NULL) receives a
 * new reference to the envelope's data (json null when absent) and 0 is
 * returned; otherwise the API's message and code are printed to stderr and
 * the exit code for the failure is returned. */
int api_call(struct cli *c, const char *method, const char *path, json_t *body, json_t **data_out);
/* Like api_call but quiet on failure: *status_out gets the HTTP status (0 if
 * unreachable) and *err_out the parsed error envelope (may be NULL). */
int api_call_raw(struct cli *c, const char *method, const char *path, json_t *body,
		 long *status_out, json_t **json_out);
/* path + "?..." from the command's DEST_QUERY options. */
char *api_path_args_new(const char *path, const struct args *a);
/* api_call, then output_result; takes body. */
int api_show(struct cli *c, const char *method, const char *path, json_t *body_steal,
	     const char *list_key, const struct column *cols);
/* An action whose answer is an acknowledgement: asks question (if not NULL)
 * with confirm(), calls method on path, prints done. Both sentences are
 * formatted with the same arguments. */
int api_act(struct cli *c, const char *method, const char *path, json_t *body, const char *question,
	    const char *done_fmt, ...) __attribute__((format(printf, 6, 7)));
/* Server-sent events: calls on_event for every JSON "data:" payload until the
 * stream ends or on_event returns non-zero. */
int api_stream(struct cli *c, const char *path, int (*on_event)(struct cli *c, json_t *ev));
/* Maps an HTTP status to an exit code. */
int exit_for_status(long status);
/* Prints "hoody: <msg>" to stderr, returns code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- output.c ---- */
enum col_fmt { COL_TEXT, COL_TIME, COL_COLOR, COL_STATUS, COL_BYTES };
struct column {
	const char *title;
	const char *key; /* dotted path; "a|b" tries a, then b */
	enum col_fmt fmt;
};
/* The standard way a command prints its result: JSON mode prints data as
 * is; quiet mode prints the id(s) (cols[0].key); table mode prints rows (the
 * array at list_key, or data itself when it is an array) with cols, or an
 * object as aligned key/value lines. */
void output_result(struct cli *c, json_t *data, const char *list_key, const struct column *cols);
/* For commands whose result is an acknowledgement: JSON mode prints data,
 * table mode prints the sentence, quiet mode nothing. */
void output_done(struct cli *c, json_t *data, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void print_table(struct cli *c, json_t *rows, const struct column *cols);
void print_object(struct cli *c, json_t *obj);
/* One row of an unbounded stream, fixed-width, times as wall-clock. */
void print_stream_row(struct cli *c, json_t *row, const struct column *cols);
void print_json(json_t *v);
/* The value at a dotted path ("server.name"); "a|b" falls back to b. */
json_t *json_path(json_t *obj, const char *path);
/* "3m ago" / "in 2h" / a date for old times; "-" when unparseable. */
void reltime(const char *iso, char *buf, size_t len);
/* A color cell: a 24-bit swatch when colors are on, then the hex. */
void color_cell(const struct cli *c, const char *hex, char *buf, size_t len);
/* Server text made safe for a terminal: control characters become spaces,
 * cut to fit out. Returns out. */
const char *text_clean(const char *s, char *out, size_t len);
/* Page footer on stderr when a list has more pages. */
void print_pagination(struct cli *c, json_t *data);
/* Spinner on stderr (only when it is a terminal). */
void spinner_tick(struct cli *c, const char *msg);
void spinner_clear(struct cli *c);
/* Asks "prompt [y/N]" when stdin is a terminal and -y was not given.
 * true = go ahead. */
bool confirm(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- command groups ---- */
extern const struct cmd auth_cmd, projects_cmd, servers_cmd, images_cmd, containers_cmd, env_cmd,
    snapshots_cmd, events_cmd, proxy_cmd;

/* The container a command is about: -c/--container, else the first
 * positional, which is then removed so the command's own positionals start
 * at 0. Exactly n_after of those must remain; on a bad line prints the
 * problem and returns NULL (exit with EXIT_USAGE). */
const char *container_arg(struct cli *c, struct args *a, int n_after);
/* Saves the config file (login). */
int config_save(struct cli *c);

#endif
