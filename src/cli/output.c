/* Rendering for people and scripts: one table printer, one key/value view,
 * JSON, relative times, color swatches, a spinner and confirmations.
 * Strings from the server are stripped of control characters before they
 * reach a terminal, so a container comment cannot inject escape sequences. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/util.h"

#define CELL_MAX 48	  /* visible characters of one table cell */
#define CELL_MAX_LAST 200 /* the last column: nothing to misalign after it */
#define CELL_BYTES 512

json_t *json_path(json_t *obj, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	char *save = NULL;
	for (char *alt = strtok_r(buf, "|", &save); alt; alt = strtok_r(NULL, "|", &save)) {
		json_t *cur = obj;
		char *s2 = NULL;
		for (char *k = strtok_r(alt, ".", &s2); k && cur; k = strtok_r(NULL, ".", &s2))
			cur = json_is_object(cur) ? json_object_get(cur, k) : NULL;
		if (cur && !json_is_null(cur))
			return cur;
	}
	return NULL;
}

/* Visible width: UTF-8 code points, ANSI escape sequences excluded. */
static size_t vis_width(const char *s)
{
	size_t w = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == 0x1b) {
			while (*p && *p != 'm')
				p++;
			if (!*p)
				break;
			continue;
		}
		if ((*p & 0xc0) != 0x80)
			w++;
	}
	return w;
}

/* Copies s without control bytes, cut to max visible characters (with a
 * trailing ellipsis) and to the buffer, never inside a UTF-8 sequence. */
static void sanitize(const char *s, char *out, size_t len, size_t max)
{
	size_t o = 0, w = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t n = *p < 0xc0 ? 1 : *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
		for (size_t i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				n = 1; /* malformed: handled as one byte below */
		if (w == max || o + n + 4 > len) {
			memcpy(out + o, "\xe2\x80\xa6", 3); /* … */
			o += 3;
			break;
		}
		if (n > 1)
			memcpy(out + o, p, n);
		else
			out[o] = *p < 0x20 || *p == 0x7f ? ' ' : *p >= 0x80 ? '?' : (char)*p;
		o += n;
		p += n;
		w++;
	}
	out[o] = '\0';
}

const char *text_clean(const char *s, char *out, size_t len)
{
	sanitize(s ? s : "", out, len, len);
	return out;
}

void reltime(const char *iso, char *buf, size_t len)
{
	int64_t t = iso ? iso8601_parse_ms(iso) : -1;
	if (t < 0) {
		snprintf(buf, len, "%s", iso ? iso : "-");
		return;
	}
	int64_t d = (now_ms() - t) / 1000;
	bool future = d < 0;
	int64_t a = future ? -d : d;
	const char *unit = "s";
	int64_t n = a;
	if (a < 5 && !future) {
		snprintf(buf, len, "just now");
		return;
	}
	if (a >= 30 * 86400) {
		snprintf(buf, len, "%.10s", iso);
		return;
	}
	if (a >= 86400)
		n = a / 86400, unit = "d";
	else if (a >= 3600)
		n = a / 3600, unit = "h";
	else if (a >= 60)
		n = a / 60, unit = "m";
	snprintf(buf, len, future ? "in %lld%s" : "%lld%s ago", (long long)n, unit);
}

static bool parse_hex_color(const char *hex, int rgb[3])
{
	if (!hex)
		return false;
	if (*hex == '#')
		hex++;
	size_t n = strlen(hex);
	if ((n != 3 && n != 6) || strspn(hex, "0123456789abcdefABCDEF") != n)
		return false;
	for (int i = 0; i < 3; i++) {
		char part[3] = {hex[n == 3 ? i : 2 * i], hex[n == 3 ? i : 2 * i + 1], 0};
		rgb[i] = (int)strtol(part, NULL, 16);
	}
	return true;
}

void color_cell(const struct cli *c, const char *hex, char *buf, size_t len)
{
	int rgb[3];
	char clean[16];
	sanitize(hex ? hex : "-", clean, sizeof(clean), 9);
	if (c->color && parse_hex_color(hex, rgb))
		snprintf(buf, len, "\033[48;2;%d;%d;%dm  \033[0m %s", rgb[0], rgb[1], rgb[2],
			 clean);
	else
		snprintf(buf, len, "%s", clean);
}

static const char *status_color(const char *s)
{
	if (!strcmp(s, "running"))
		return "32";
	if (!strcmp(s, "failed"))
		return "31";
	if (!strcmp(s, "stopped") || !strcmp(s, "deleted"))
		return "90";
	return "33"; /* transitional: creating, paused, copying, deleting, claiming */
}

static void human_bytes(double v, char *buf, size_t len)
{
	const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;
	while (v >= 1024 && u + 1 < ARRAY_SIZE(units))
		v /= 1024, u++;
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* The plain text of a scalar (or compact JSON of a container value). */
static void scalar_text(json_t *v, char *buf, size_t len)
{
	if (!v || json_is_null(v)) {
		snprintf(buf, len, "-");
	} else if (json_is_string(v)) {
		snprintf(buf, len, "%s", json_string_value(v));
	} else if (json_is_integer(v)) {
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		snprintf(buf, len, "%.2f", json_real_value(v));
	} else if (json_is_boolean(v)) {
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	} else {
		char *d = json_dumps(v, JSON_COMPACT);
		snprintf(buf, len, "%s", d ? d : "?");
		free(d);
	}
}

static void cell_text(const struct cli *c, json_t *row, const struct column *col, size_t max,
		      char *out, size_t len)
{
	char raw[CELL_BYTES], clean[CELL_BYTES];
	json_t *v = json_path(row, col->key);
	scalar_text(v, raw, sizeof(raw));
	switch (col->fmt) {
	case COL_TIME:
		reltime(json_string_value(v), clean, sizeof(clean));
		snprintf(out, len, "%s", clean);
		return;
	case COL_COLOR:
		color_cell(c, json_string_value(v), out, len);
		return;
	case COL_BYTES:
		if (json_is_number(v)) {
			human_bytes(json_number_value(v), out, len);
			return;
		}
		break;
	case COL_STATUS: {
		char st[128]; /* statuses are short words */
		sanitize(raw, st, sizeof(st), 24);
		if (c->color && json_is_string(v))
			snprintf(out, len, "\033[%sm%s\033[0m", status_color(raw), st);
		else
			snprintf(out, len, "%s", st);
		return;
	}
	case COL_TEXT:
		break;
	}
	sanitize(raw, out, len, max);
}

static void pad_print(const char *s, size_t width, bool last)
{
	fputs(s, stdout);
	if (last)
		return;
	for (size_t w = vis_width(s); w < width + 2; w++)
		fputc(' ', stdout);
}

void print_table(struct cli *c, json_t *rows, const struct column *cols)
{
	size_t ncols = 0, nrows = json_array_size(rows);
	while (cols[ncols].title)
		ncols++;
	if (!nrows) {
		fprintf(stderr, "No results.\n");
		return;
	}
	char(*cells)[CELL_BYTES] = xcalloc(nrows * ncols, CELL_BYTES);
	size_t *width = xcalloc(ncols, sizeof(size_t));
	for (size_t j = 0; j < ncols; j++)
		width[j] = vis_width(cols[j].title);
	for (size_t i = 0; i < nrows; i++)
		for (size_t j = 0; j < ncols; j++) {
			char *cell = cells[i * ncols + j];
			cell_text(c, json_array_get(rows, i), &cols[j],
				  j + 1 == ncols ? CELL_MAX_LAST : CELL_MAX, cell, CELL_BYTES);
			size_t w = vis_width(cell);
			if (w > width[j])
				width[j] = w;
		}
	for (size_t j = 0; j < ncols; j++) {
		if (c->color)
			fputs("\033[1m", stdout);
		pad_print(cols[j].title, width[j], j + 1 == ncols);
		if (c->color)
			fputs("\033[0m", stdout);
	}
	fputc('\n', stdout);
	for (size_t i = 0; i < nrows; i++) {
		for (size_t j = 0; j < ncols; j++)
			pad_print(cells[i * ncols + j], width[j], j + 1 == ncols);
		fputc('\n', stdout);
	}
	free(cells);
	free(width);
}

/* Column widths only grow, so rows of a stream stay aligned without knowing
 * what comes next. */
void print_stream_row(struct cli *c, json_t *row, const struct column *cols)
{
	static size_t width[16];
	char cell[CELL_BYTES];
	for (size_t j = 0; j < ARRAY_SIZE(width) && cols[j].title; j++) {
		json_t *v = json_path(row, cols[j].key);
		int64_t ms = cols[j].fmt == COL_TIME && json_is_string(v)
				 ? iso8601_parse_ms(json_string_value(v))
				 : -1;
		if (ms >= 0) {
			/* in a stream "just now" says nothing: the wall-clock time does */
			time_t t = (time_t)(ms / 1000);
			struct tm tm;
			strftime(cell, sizeof(cell), "%H:%M:%S", localtime_r(&t, &tm));
		} else {
			cell_text(c, row, &cols[j], cols[j + 1].title ? CELL_MAX : CELL_MAX_LAST,
				  cell, sizeof(cell));
		}
		if (vis_width(cell) > width[j])
			width[j] = vis_width(cell);
		pad_print(cell, width[j], !cols[j + 1].title);
	}
	fputc('\n', stdout);
}

/* ---- key/value view ---- */

static bool is_time_key(const char *k)
{
	size_t n = strlen(k);
	return (n > 3 && !strcmp(k + n - 3, "_at")) || (n > 5 && !strcmp(k + n - 5, "_time"));
}

static void kv_value(const struct cli *c, const char *key, json_t *v, char *out, size_t len)
{
	char raw[4096], rel[64];
	const char *leaf = strrchr(key, '.') ? strrchr(key, '.') + 1 : key;
	if (json_is_string(v) && !strcmp(leaf, "color")) {
		color_cell(c, json_string_value(v), out, len);
		return;
	}
	if (json_is_string(v) && !strcmp(leaf, "status") && c->color) {
		char st[128];
		sanitize(json_string_value(v), st, sizeof(st), 24);
		snprintf(out, len, "\033[%sm%s\033[0m", status_color(st), st);
		return;
	}
	scalar_text(v, raw, sizeof(raw));
	if (json_is_string(v) && is_time_key(leaf) && iso8601_parse_ms(raw) >= 0) {
		reltime(raw, rel, sizeof(rel));
		char clean[128];
		sanitize(raw, clean, sizeof(clean), 40);
		snprintf(out, len, "%s (%s)", clean, rel);
		return;
	}
	sanitize(raw, out, len, 400);
}

struct kv {
	char *key;
	char *val;
};

/* Flattens nested objects into dotted keys (bounded depth), so that
 * environment variables and stats read as one aligned list. */
static void kv_collect(const struct cli *c, json_t *obj, const char *prefix, int depth,
		       struct kv **items, size_t *n)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		/* nothing to read in an absent value: -o json shows every field */
		if (json_is_null(v) || ((json_is_object(v) || json_is_array(v)) &&
					!json_object_size(v) && !json_array_size(v)))
			continue;
		char *key = *prefix ? xasprintf("%s.%s", prefix, k) : xstrdup(k);
		if (json_is_object(v) && depth < 3) {
			kv_collect(c, v, key, depth + 1, items, n);
			free(key);
			continue;
		}
		char val[4096];
		kv_value(c, key, v, val, sizeof(val));
		*items = xrealloc(*items, (*n + 1) * sizeof(**items));
		(*items)[*n].key = key;
		(*items)[*n].val = xstrdup(val);
		(*n)++;
	}
}

void print_object(struct cli *c, json_t *obj)
{
	if (!json_is_object(obj)) {
		char buf[4096], clean[4096];
		scalar_text(obj, buf, sizeof(buf));
		sanitize(buf, clean, sizeof(clean), 4000);
		puts(clean);
		return;
	}
	struct kv *items = NULL;
	size_t n = 0, width = 0;
	kv_collect(c, obj, "", 0, &items, &n);
	for (size_t i = 0; i < n; i++) {
		char clean[256];
		sanitize(items[i].key, clean, sizeof(clean), 80);
		free(items[i].key);
		items[i].key = xstrdup(clean);
		if (vis_width(clean) > width)
			width = vis_width(clean);
	}
	for (size_t i = 0; i < n; i++) {
		printf("%s:", items[i].key);
		for (size_t w = vis_width(items[i].key); w < width + 1; w++)
			fputc(' ', stdout);
		printf("%s\n", items[i].val);
		free(items[i].key);
		free(items[i].val);
	}
	free(items);
}

void print_json(json_t *v)
{
	char *s = json_dumps(v ? v : json_null(), JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (s)
		puts(s);
	free(s);
}

void print_pagination(struct cli *c, json_t *data)
{
	json_t *p = json_object_get(data, "pagination");
	long long page = json_integer_value(json_object_get(p, "page"));
	long long pages = json_integer_value(json_object_get(p, "totalPages"));
	long long total = json_integer_value(json_object_get(p, "total"));
	if (c->output == OUT_TABLE && !c->quiet && pages > 1)
		fprintf(stderr, "Page %lld of %lld (%lld in all); next: --page %lld\n", page, pages,
			total, page < pages ? page + 1 : pages);
	else if (json_is_true(json_object_get(p, "has_more")))
		fprintf(stderr, "More results: use --offset %lld\n",
			json_integer_value(json_object_get(p, "offset")) +
			    json_integer_value(json_object_get(p, "limit")));
}

static void print_id(json_t *v)
{
	char buf[512], clean[512];
	if (!v)
		return;
	scalar_text(v, buf, sizeof(buf));
	sanitize(buf, clean, sizeof(clean), 200);
	puts(clean);
}

void output_result(struct cli *c, json_t *data, const char *list_key, const struct column *cols)
{
	if (c->output == OUT_JSON) {
		print_json(data);
		return;
	}
	json_t *rows = json_is_array(data) ? data
		       : list_key	   ? json_object_get(data, list_key)
					   : NULL;
	const char *id_key = cols ? cols[0].key : "id";
	if (c->quiet) {
		size_t i;
		json_t *row;
		if (json_is_array(rows))
			json_array_foreach(rows, i, row) print_id(json_path(row, id_key));
		else
			print_id(json_path(data, id_key));
		return;
	}
	if (json_is_array(rows) && cols) {
		print_table(c, rows, cols);
		print_pagination(c, data);
	} else {
		print_object(c, data);
	}
}

void output_done(struct cli *c, json_t *data, const char *fmt, ...)
{
	if (c->output == OUT_JSON) {
		print_json(data);
		return;
	}
	if (c->quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* ---- terminal interaction ---- */

void spinner_tick(struct cli *c, const char *msg)
{
	static const char *frames[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};
	static unsigned n;
	if (!c->spinner)
		return;
	fprintf(stderr, "\r%s %s\033[K", frames[n++ % ARRAY_SIZE(frames)], msg);
	fflush(stderr);
}

void spinner_clear(struct cli *c)
{
	if (!c->spinner)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
}

bool confirm(struct cli *c, const char *fmt, ...)
{
	if (c->yes || !isatty(STDIN_FILENO))
		return true;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" [y/N] ", stderr);
	fflush(stderr);
	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}
