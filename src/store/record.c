/* Records <-> rows, driven by one field table per record type. The column
 * list, INSERT, UPDATE and upsert statements of each table are generated
 * once from its fields, so a column is declared in one place (plus the
 * schema step that created it) and the mapping code exists once. */
#include "store/db.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

#define SQL_MAX 4096

static struct table *const tables[] = {
    &tbl_users,	      &tbl_tokens,    &tbl_projects,	  &tbl_servers,	   &tbl_containers,
    &tbl_status_logs, &tbl_snapshots, &tbl_proxy_aliases, &tbl_proxy_docs,
};

static void *field_at(const void *rec, const struct field *f)
{
	return (char *)rec + f->off;
}

/* ---- statement generation ---- */

static const struct field *field_with(const struct table *t, unsigned flag)
{
	for (size_t i = 0; i < t->nf; i++)
		if (t->f[i].flags & flag)
			return &t->f[i];
	return NULL;
}

/* glibc writes the size through the pointer given to open_memstream at every
 * flush and at fclose, so it must live as long as the stream: the caller's
 * frame, not this function's. */
struct mstream {
	FILE *f;
	size_t len;
};

static FILE *memstream(struct mstream *ms, char **buf)
{
	ms->f = open_memstream(buf, &ms->len);
	if (!ms->f)
		HOODY_PANIC("out of memory (open_memstream)");
	return ms->f;
}

/* The SET list of an update (from the bound record) or of an upsert (from
 * the row that failed to insert): every column but the write-once ones. */
static void put_set(FILE *m, const struct table *t, bool from_excluded)
{
	const struct field *upd = field_with(t, FL_UPDATED);
	const char *sep = "";
	for (size_t i = 0; i < t->nf; i++) {
		const struct field *f = &t->f[i];
		if (f->flags & (FL_KEY | FL_FIXED))
			continue;
		if (from_excluded)
			fprintf(m, "%s%s=excluded.%s", sep, f->col, f->col);
		else if (f == upd) /* an explicit newer stamp wins, else now */
			fprintf(m, "%s%s=CASE WHEN ?%zu>%s THEN ?%zu ELSE ?%zu END", sep, f->col,
				i + 1, f->col, i + 1, t->nf + 1);
		else
			fprintf(m, "%s%s=?%zu", sep, f->col, i + 1);
		sep = ",";
	}
}

/* Binding order is field order: field i is ?i+1 in every generated
 * statement, and ?nf+1 is "now" (update stamps). */
static void gen_table(struct table *t)
{
	const struct field *key = &t->f[0];
	struct mstream ms;
	FILE *m;

	/* A descriptor bug, caught by the first store_open. */
	HOODY_ASSERT((key->flags & FL_KEY) && key->kind == FK_CHARS);

	m = memstream(&ms, &t->cols);
	for (size_t i = 0; i < t->nf; i++)
		fprintf(m, "%s%s", i ? "," : "", t->f[i].col);
	fclose(m);

	m = memstream(&ms, &t->insert);
	fprintf(m, "INSERT INTO %s(%s) VALUES(", t->name, t->cols);
	for (size_t i = 0; i < t->nf; i++)
		fprintf(m, "%s?%zu", i ? "," : "", i + 1);
	fprintf(m, ")");
	fclose(m);

	m = memstream(&ms, &t->update);
	fprintf(m, "UPDATE %s SET ", t->name);
	put_set(m, t, false);
	fprintf(m, " WHERE %s=?1", key->col);
	fclose(m);

	m = memstream(&ms, &t->upsert);
	fprintf(m, "%s ON CONFLICT(%s) DO UPDATE SET ", t->insert, key->col);
	put_set(m, t, true);
	fclose(m);
}

static void gen_all(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		gen_table(tables[i]);
}

void record_tables_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, gen_all);
}

/* ---- binding and reading ---- */

static int bind_field(sqlite3_stmt *s, int idx, const struct field *f, const void *rec, int64_t now)
{
	const void *p = field_at(rec, f);
	switch (f->kind) {
	case FK_CHARS: {
		const char *v = p;
		size_t n = strnlen(v, f->size); /* never read past the array */
		if (!n && (f->flags & FL_NULL_EMPTY))
			return sqlite3_bind_null(s, idx);
		return sqlite3_bind_text(s, idx, v, (int)n, SQLITE_STATIC);
	}
	case FK_STR: {
		const char *v = *(char *const *)p;
		return v ? sqlite3_bind_text(s, idx, v, -1, SQLITE_STATIC)
			 : sqlite3_bind_null(s, idx);
	}
	case FK_INT: {
		int64_t v = *(const int64_t *)p;
		if (!v && (f->flags & (FL_CREATED | FL_UPDATED)))
			v = now;
		return sqlite3_bind_int64(s, idx, v);
	}
	case FK_BOOL:
		return sqlite3_bind_int(s, idx, *(const bool *)p);
	case FK_STATUS: {
		enum container_status v = *(const enum container_status *)p;
		return v == CS_NONE
			   ? sqlite3_bind_null(s, idx)
			   : sqlite3_bind_text(s, idx, container_status_name(v), -1, SQLITE_STATIC);
	}
	}
	return SQLITE_MISUSE;
}

static int bind_record(struct db_q *q, const struct table *t, const void *rec, struct error *err)
{
	int64_t now = now_ms();
	for (size_t i = 0; i < t->nf; i++) {
		int rc = bind_field(q->s, (int)i + 1, &t->f[i], rec, now);
		if (rc != SQLITE_OK)
			return err_set(err, E_INTERNAL, "bind %s.%s: %s", t->name, t->f[i].col,
				       sqlite3_errstr(rc));
	}
	return db_bind_int(q, (int)t->nf + 1, now, err);
}

static void read_field(sqlite3_stmt *s, int col, const struct field *f, void *rec)
{
	void *p = field_at(rec, f);
	switch (f->kind) {
	case FK_CHARS: {
		const char *v = (const char *)sqlite3_column_text(s, col);
		snprintf(p, f->size, "%s", v ? v : "");
		break;
	}
	case FK_STR:
		*(char **)p = db_col_strdup(s, col);
		break;
	case FK_INT:
		*(int64_t *)p = sqlite3_column_int64(s, col);
		break;
	case FK_BOOL:
		*(bool *)p = sqlite3_column_int(s, col) != 0;
		break;
	case FK_STATUS:
		*(enum container_status *)p =
		    container_status_from_name((const char *)sqlite3_column_text(s, col));
		break;
	}
}

static void read_record(sqlite3_stmt *s, const struct table *t, void *rec)
{
	memset(rec, 0, t->rec_size);
	for (size_t i = 0; i < t->nf; i++)
		read_field(s, (int)i, &t->f[i], rec);
}

void rec_clear(const struct table *t, void *rec)
{
	if (!rec)
		return;
	for (size_t i = 0; i < t->nf; i++)
		if (t->f[i].kind == FK_STR)
			free(*(char **)field_at(rec, &t->f[i]));
	memset(rec, 0, t->rec_size);
}

void rec_array_free(const struct table *t, void *arr, size_t n)
{
	for (size_t i = 0; arr && i < n; i++)
		rec_clear(t, (char *)arr + i * t->rec_size);
	free(arr);
}

/* ---- operations ---- */

static int not_found(const struct table *t, struct error *err)
{
	return err_set(err, t->not_found, "%s not found", t->what);
}

/* Runs one generated write; returns the number of changed rows. */
static int write_record(struct store *st, const struct table *t, const char *sql, const void *rec,
			struct error *err)
{
	_cleanup_db_q_ struct db_q q = {0};
	if (!rec || !*(const char *)field_at(rec, &t->f[0]))
		return err_set(err, E_INTERNAL, "%s: record without an id", t->name);
	if (db_query(st, &q, sql, err, NULL) < 0)
		return -1;
	int rc = bind_record(&q, t, rec, err);
	if (rc == 0)
		rc = db_step(&q, t->uniq, err);
	if (rc == 0)
		rc = sqlite3_changes(sqlite3_db_handle(q.s));
	return rc;
}

int rec_insert(struct store *st, const struct table *t, const void *rec, struct error *err)
{
	return write_record(st, t, t->insert, rec, err) < 0 ? -1 : 0;
}

int rec_update(struct store *st, const struct table *t, const void *rec, struct error *err)
{
	int n = write_record(st, t, t->update, rec, err);
	if (n == 0)
		return not_found(t, err);
	return n < 0 ? -1 : 0;
}

int rec_upsert(struct store *st, const struct table *t, const void *rec, struct error *err)
{
	return write_record(st, t, t->upsert, rec, err) < 0 ? -1 : 0;
}

int rec_exec_row(struct store *st, const struct table *t, struct error *err, const char *sql,
		 const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = db_execv(st, t->uniq, err, sql, fmt, ap);
	va_end(ap);
	if (n == 0)
		return not_found(t, err);
	return n < 0 ? -1 : 0;
}

/* Prepares "SELECT <cols> FROM <table> " + sqlfmt (one %s for part). */
static int select_queryv(struct store *st, const struct table *t, struct db_q *q,
			 const char *sqlfmt, const char *part, struct error *err, const char *fmt,
			 va_list ap)
{
	char sql[SQL_MAX];
	int n = snprintf(sql, sizeof(sql), "SELECT %s FROM %s ", t->cols, t->name);
	if (n >= 0 && n < SQL_MAX)
		n += snprintf(sql + n, (size_t)(SQL_MAX - n), sqlfmt, part);
	if (n < 0 || n >= SQL_MAX)
		return err_set(err, E_INTERNAL, "%s: query too long", t->name);
	return db_queryv(st, q, sql, err, fmt, ap);
}

int rec_get(struct store *st, const struct table *t, void *out, struct error *err,
	    const char *where, const char *fmt, ...)
{
	_cleanup_db_q_ struct db_q q = {0};
	va_list ap;
	if (!out)
		return err_set(err, E_INTERNAL, "%s: no output record", t->name);
	memset(out, 0, t->rec_size);
	va_start(ap, fmt);
	int rc = select_queryv(st, t, &q, "WHERE %s", where, err, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	rc = db_step(&q, NULL, err);
	if (rc == 1)
		read_record(q.s, t, out);
	if (rc == 0)
		return not_found(t, err);
	return rc < 0 ? -1 : 0;
}

/* Reads every remaining row of q into a new array. */
static int collect(struct db_q *q, const struct table *t, void **out_new, size_t *count,
		   struct error *err)
{
	char *arr = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = db_step(q, NULL, err)) == 1) {
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			arr = xrealloc(arr, cap * t->rec_size);
		}
		read_record(q->s, t, arr + n * t->rec_size);
		n++;
	}
	if (rc < 0) {
		rec_array_free(t, arr, n);
		return -1;
	}
	*out_new = arr;
	*count = n;
	return 0;
}

int rec_list(struct store *st, const struct table *t, void **out_new, size_t *count,
	     struct error *err, const char *tail, const char *fmt, ...)
{
	_cleanup_db_q_ struct db_q q = {0};
	va_list ap;
	*out_new = NULL;
	*count = 0;
	va_start(ap, fmt);
	int rc = select_queryv(st, t, &q, "%s", tail, err, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return -1;
	rc = collect(&q, t, out_new, count, err);
	return rc;
}

const char *sort_column(const struct sort_key *keys, const char *sort_by, struct error *err)
{
	if (!sort_by || !*sort_by)
		return keys[0].col;
	for (; keys->name; keys++)
		if (!strcmp(keys->name, sort_by))
			return keys->col;
	err_set(err, E_VALIDATION, "Invalid sort_by value");
	return NULL;
}

char *realm_needle_new(const char *realm_id)
{
	return realm_id ? xasprintf("\"%s\"", realm_id) : NULL;
}

static int page_rows(struct store *st, const struct table *t, const struct page *pg, int64_t limit,
		     int64_t offset, void **out_new, size_t *count, struct error *err,
		     const char *fmt, va_list ap)
{
	char tail[1024];
	_cleanup_db_q_ struct db_q q = {0};
	const char *dir = pg->desc ? "DESC" : "ASC";
	bool by_id = !strcmp(pg->order, "id"); /* else id breaks ties */
	int n = snprintf(tail, sizeof(tail), "WHERE %s ORDER BY %s %s%s%s LIMIT ?%d OFFSET ?%d",
			 pg->where, pg->order, dir, by_id ? "" : ", id ", by_id ? "" : dir,
			 DB_P_LIMIT, DB_P_OFFSET);
	if (n < 0 || (size_t)n >= sizeof(tail))
		return err_set(err, E_INTERNAL, "%s: query too long", t->name);
	if (select_queryv(st, t, &q, "%s", tail, err, fmt, ap) < 0)
		return -1;
	int rc = -1;
	if (db_bind_int(&q, DB_P_LIMIT, limit, err) == 0 &&
	    db_bind_int(&q, DB_P_OFFSET, offset, err) == 0)
		rc = collect(&q, t, out_new, count, err);
	return rc;
}

int rec_page(struct store *st, const struct table *t, const struct page *pg, void **out_new,
	     size_t *count, int64_t *total, struct error *err, const char *fmt, ...)
{
	char sql[SQL_MAX];
	va_list ap;
	int64_t limit = pg->limit < 1 ? 1 : pg->limit > DB_MAX_LIMIT ? DB_MAX_LIMIT : pg->limit;
	int64_t page = pg->page < 1 ? 1 : pg->page, offset;
	*out_new = NULL;
	*count = 0;
	*total = 0;
	if (!pg->where || !pg->order)
		return err_set(err, E_INTERNAL, "%s: incomplete page query", t->name);
	if (__builtin_mul_overflow(page - 1, limit, &offset))
		offset = INT64_MAX;
	int n = snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE %s", t->name, pg->where);
	if (n < 0 || n >= (int)sizeof(sql))
		return err_set(err, E_INTERNAL, "%s: query too long", t->name);
	if (db_read_begin(st, err) < 0)
		return -1;
	va_start(ap, fmt);
	int rc = db_intv(st, total, err, sql, fmt, ap);
	va_end(ap);
	if (rc == 0 && offset < *total) {
		va_start(ap, fmt);
		rc = page_rows(st, t, pg, limit, offset, out_new, count, err, fmt, ap);
		va_end(ap);
	}
	db_read_end(st);
	return rc;
}
