/* Private to src/store: per-thread connections, the statement cache, binding
 * and error helpers (db.c), the schema migrations (schema.c) and the
 * descriptor-driven record mapping shared by every table (record.c). */
#ifndef HOODY_STORE_DB_H
#define HOODY_STORE_DB_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Page-query LIMIT / OFFSET parameters: numbered high so that the filters of
 * a query can use ?1..?n freely and the count query (which has no LIMIT)
 * shares the same binding code. */
#define DB_P_LIMIT 90
#define DB_P_OFFSET 91
#define DB_MAX_LIMIT 100

/* ---- connections and statements (db.c) ---- */
struct conn;

/* The calling thread's connection to st, opened on first use. */
struct conn *db_conn(struct store *st, struct error *err);
sqlite3 *db_handle(struct conn *c);

/* Maps a unique-constraint message ("UNIQUE constraint failed: t.a, t.b")
 * to a documented code; lists end with a NULL needle. */
struct db_unique {
	const char *needle;
	enum err_code code;
	const char *msg;
};

struct db_q {
	sqlite3_stmt *s;
	struct conn *c;
	bool cached;
};

/* Prepares sql (cached per connection) and binds the arguments described by
 * fmt to ?1, ?2, ...: 's' const char * (NULL binds NULL), 'e' const char *
 * where "" also binds NULL (optional ids), 'I' int64_t, 'b' bool.
 * A parameter the statement does not use is skipped. */
int db_query(struct store *st, struct db_q *q, const char *sql, struct error *err, const char *fmt,
	     ...);
int db_queryv(struct store *st, struct db_q *q, const char *sql, struct error *err, const char *fmt,
	      va_list ap);
int db_bind_int(struct db_q *q, int idx, int64_t v, struct error *err);
/* 1 = a row, 0 = done, -1 = error (constraints mapped through uniq). */
int db_step(struct db_q *q, const struct db_unique *uniq, struct error *err);
/* Resets the statement (ending its read) and returns it to the cache.
 * Idempotent, and a no-op on a zeroed q. */
void db_done(struct db_q *q);
/* `_cleanup_db_q_ struct db_q q = {0};` calls db_done at scope end. */
#define _cleanup_db_q_ __attribute__((cleanup(db_done)))

/* Prepare, bind, step to completion; returns the number of changed rows. */
int db_exec(struct store *st, const struct db_unique *uniq, struct error *err, const char *sql,
	    const char *fmt, ...);
int db_execv(struct store *st, const struct db_unique *uniq, struct error *err, const char *sql,
	     const char *fmt, va_list ap);
/* A query returning one integer (count(*), ...). */
int db_int(struct store *st, int64_t *out, struct error *err, const char *sql, const char *fmt,
	   ...);
int db_intv(struct store *st, int64_t *out, struct error *err, const char *sql, const char *fmt,
	    va_list ap);

/* A read snapshot spanning several statements (a count and its page); nests
 * inside store_tx. */
int db_read_begin(struct store *st, struct error *err);
void db_read_end(struct store *st);

/* Column text as a new string, NULL for SQL NULL. */
char *db_col_strdup(sqlite3_stmt *s, int col);

/* ---- schema (schema.c) ---- */
/* Applies every migration step newer than the file's user_version, one
 * transaction per step. */
int schema_migrate(sqlite3 *db, struct error *err);
int schema_version_latest(void);

/* ---- records (record.c) ---- */
enum field_kind {
	FK_CHARS,  /* char[size] inside the record (ids, hashes) */
	FK_STR,	   /* malloc'ed char *, NULL allowed */
	FK_INT,	   /* int64_t */
	FK_BOOL,   /* bool */
	FK_STATUS, /* enum container_status, stored as its name (CS_NONE: NULL) */
};

enum {
	FL_KEY = 1,	   /* the primary key: WHERE of an update, never SET */
	FL_FIXED = 2,	   /* written by insert only */
	FL_NULL_EMPTY = 4, /* FK_CHARS: "" is stored as NULL (optional references) */
	FL_CREATED = 8,	   /* 0 on insert means "now" */
	FL_UPDATED = 16,   /* 0 on insert means "now"; update stamps it (record.c) */
};

struct field {
	const char *col;
	enum field_kind kind;
	unsigned flags;
	size_t off, size;
};

#define F_(T, m, k, fl)                                                                            \
	{                                                                                          \
#m, k, fl, offsetof(T, m), sizeof(((T *)0)->m)                                     \
	}
#define F_CHARS(T, m, fl) F_(T, m, FK_CHARS, fl)
#define F_STR(T, m, fl) F_(T, m, FK_STR, fl)
#define F_INT(T, m, fl) F_(T, m, FK_INT, fl)
#define F_BOOL(T, m, fl) F_(T, m, FK_BOOL, fl)
#define F_STATUS(T, m, fl) F_(T, m, FK_STATUS, fl)

struct table {
	const char *name;
	const struct field *f;
	size_t nf;
	size_t rec_size;
	enum err_code not_found; /* E_NOT_FOUND or E_CONTAINER_NOT_FOUND */
	const char *what;	 /* "Container", for messages */
	const struct db_unique *uniq;
	/* Generated once from the fields (record_tables_init). */
	char *cols, *insert, *update, *upsert;
};

extern struct table tbl_users, tbl_tokens, tbl_projects, tbl_servers, tbl_containers,
    tbl_status_logs, tbl_snapshots, tbl_proxy_aliases, tbl_proxy_docs;

void record_tables_init(void);
void rec_clear(const struct table *t, void *rec);
void rec_array_free(const struct table *t, void *arr, size_t n);
int rec_insert(struct store *st, const struct table *t, const void *rec, struct error *err);
/* E_<not found> when no row has the record's id. */
int rec_update(struct store *st, const struct table *t, const void *rec, struct error *err);
int rec_upsert(struct store *st, const struct table *t, const void *rec, struct error *err);
/* A write that must hit one row of t: E_<not found> when it changes none. */
int rec_exec_row(struct store *st, const struct table *t, struct error *err, const char *sql,
		 const char *fmt, ...);
/* One row "SELECT <cols> FROM <table> WHERE <where>"; *out is zeroed first,
 * so clearing it after a failure is safe. */
int rec_get(struct store *st, const struct table *t, void *out, struct error *err,
	    const char *where, const char *fmt, ...);
/* Every row of "SELECT <cols> FROM <table> <tail>". */
int rec_list(struct store *st, const struct table *t, void **out_new, size_t *count,
	     struct error *err, const char *tail, const char *fmt, ...);

/* A sort key a list accepts and the column it orders by. */
struct sort_key {
	const char *name;
	const char *col;
};
/* Maps sort_by (NULL = keys[0]) through the whitelist; E_VALIDATION
 * otherwise. The returned column is one of the table's literals. */
const char *sort_column(const struct sort_key *keys, const char *sort_by, struct error *err);

/* The realm filter: the JSON array text holds the quoted id. instr(), not
 * LIKE, so no character of the id acts as a wildcard. */
#define REALM_MATCH(param) "instr(realm_ids, " param ") > 0"
/* The value to bind for REALM_MATCH ("\"<id>\""), NULL for no filter. */
char *realm_needle_new(const char *realm_id);

struct page {
	const char *where; /* filters over ?1..?n */
	const char *order; /* a column from sort_column() */
	bool desc;
	int64_t page, limit; /* clamped to >= 1 and 1..DB_MAX_LIMIT */
};
/* One page ordered by (order, id) plus the total matching `where`, read in
 * one snapshot. */
int rec_page(struct store *st, const struct table *t, const struct page *pg, void **out_new,
	     size_t *count, int64_t *total, struct error *err, const char *fmt, ...);

#endif
