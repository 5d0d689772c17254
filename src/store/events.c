/* Events: an append-only log ordered by seq. Queries use one filter clause
 * with fixed parameter positions, "(?n IS NULL OR col = ?n)", so every
 * combination of filters is one cached statement per sort. */
#include "store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define EVENT_COLS                                                                                 \
	"seq, id, event_type, resource_type, resource_id, user_id, project_id, container_id, "     \
	"payload, realm_ids, created_at"

/* ?1 user, ?2 type, ?3 resource type, ?4 resource id, ?5 project, ?6
 * container, ?7 realm needle, ?8 start, ?9 end, ?10 after seq. */
#define EVENT_WHERE                                                                                \
	"user_id = ?1 AND (?2 IS NULL OR event_type = ?2) AND (?3 IS NULL OR resource_type = ?3)"  \
	" AND (?4 IS NULL OR resource_id = ?4) AND (?5 IS NULL OR project_id = ?5)"                \
	" AND (?6 IS NULL OR container_id = ?6) AND (?7 IS NULL OR instr(realm_ids, ?7) > 0)"      \
	" AND (?8 = 0 OR created_at >= ?8) AND (?9 = 0 OR created_at <= ?9)"                       \
	" AND seq > ?10"

#define EVENT_FMT "sssssssIII"

void event_clear(struct event *e)
{
	free(e->event_type);
	free(e->resource_type);
	free(e->resource_id);
	free(e->project_id);
	free(e->container_id);
	free(e->payload);
	free(e->realm_ids);
	memset(e, 0, sizeof(*e));
}

void event_list_free(struct event *arr, size_t n)
{
	for (size_t i = 0; i < n; i++)
		event_clear(&arr[i]);
	free(arr);
}

static char *col_dup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? xstrdup((const char *)t) : NULL;
}

static void col_chars(sqlite3_stmt *s, int i, char *out, size_t len)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	snprintf(out, len, "%s", t ? (const char *)t : "");
}

static void read_event(sqlite3_stmt *s, struct event *e)
{
	e->seq = sqlite3_column_int64(s, 0);
	col_chars(s, 1, e->id, sizeof(e->id));
	e->event_type = col_dup(s, 2);
	e->resource_type = col_dup(s, 3);
	e->resource_id = col_dup(s, 4);
	col_chars(s, 5, e->user_id, sizeof(e->user_id));
	e->project_id = col_dup(s, 6);
	e->container_id = col_dup(s, 7);
	e->payload = col_dup(s, 8);
	e->realm_ids = col_dup(s, 9);
	e->created_at = sqlite3_column_int64(s, 10);
}

int store_event_insert(struct store *st, struct event *e, struct error *err)
{
	_cleanup_db_q_ struct db_q q = {0};
	if (!e->id[0])
		id_new(e->id);
	if (!e->created_at)
		e->created_at = now_ms();
	if (db_query(st, &q,
		     "INSERT INTO events (id, event_type, resource_type, resource_id, user_id, "
		     "project_id, container_id, payload, realm_ids, created_at) VALUES "
		     "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING seq",
		     err, "sssseeessI", e->id, e->event_type, e->resource_type, e->resource_id,
		     e->user_id, e->project_id, e->container_id, e->payload,
		     e->realm_ids ? e->realm_ids : "[]", e->created_at) < 0)
		return -1;
	int rc = db_step(&q, NULL, err);
	if (rc == 1)
		e->seq = sqlite3_column_int64(q.s, 0);
	return rc < 0 ? -1 : 0;
}

/* Binds the filter parameters of EVENT_WHERE. */
static int query_filtered(struct store *st, struct db_q *dq, const char *sql,
			  const struct event_query *q, struct error *err)
{
	_cleanup_free_ char *needle = realm_needle_new(q->realm_id);
	return db_query(st, dq, sql, err, EVENT_FMT, q->user_id, q->event_type, q->resource_type,
			q->resource_id, q->project_id, q->container_id, needle, q->start_ms,
			q->end_ms, q->after_seq);
}

static const char *sort_col(const char *sort_by)
{
	if (sort_by && strcmp(sort_by, "seq") == 0)
		return "seq";
	if (sort_by && strcmp(sort_by, "event_type") == 0)
		return "event_type";
	if (sort_by && strcmp(sort_by, "resource_type") == 0)
		return "resource_type";
	return "created_at";
}

int store_event_list(struct store *st, const struct event_query *q, struct event **out_new,
		     size_t *count, int64_t *total, struct error *err)
{
	char sql[1024];
	struct db_q dq;
	int rc;
	*out_new = NULL;
	*count = 0;
	if (total) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE " EVENT_WHERE);
		if (query_filtered(st, &dq, sql, q, err) < 0)
			return -1;
		rc = db_step(&dq, NULL, err);
		*total = rc == 1 ? sqlite3_column_int64(dq.s, 0) : 0;
		db_done(&dq);
		if (rc < 0)
			return -1;
	}
	const char *dir = q->desc ? "DESC" : "ASC";
	snprintf(sql, sizeof(sql),
		 "SELECT " EVENT_COLS " FROM events WHERE " EVENT_WHERE
		 " ORDER BY %s %s, seq %s LIMIT ?11 OFFSET ?12",
		 sort_col(q->sort_by), dir, dir);
	if (query_filtered(st, &dq, sql, q, err) < 0 || db_bind_int(&dq, 11, q->limit, err) < 0 ||
	    db_bind_int(&dq, 12, q->offset, err) < 0) {
		db_done(&dq);
		return -1;
	}
	struct event *v = xcalloc((size_t)(q->limit > 0 ? q->limit : 1), sizeof(*v));
	size_t n = 0;
	while ((rc = db_step(&dq, NULL, err)) == 1 && n < (size_t)q->limit)
		read_event(dq.s, &v[n++]);
	db_done(&dq);
	if (rc < 0) {
		event_list_free(v, n);
		return -1;
	}
	*out_new = v;
	*count = n;
	return 0;
}

int store_event_get(struct store *st, const char *user_id, const char *id, struct event *out,
		    struct error *err)
{
	_cleanup_db_q_ struct db_q q = {0};
	memset(out, 0, sizeof(*out));
	if (db_query(st, &q, "SELECT " EVENT_COLS " FROM events WHERE id = ?1 AND user_id = ?2",
		     err, "ss", id, user_id) < 0)
		return -1;
	int rc = db_step(&q, NULL, err);
	if (rc == 1)
		read_event(q.s, out);
	if (rc == 0)
		return err_set(err, E_NOT_FOUND, "Event not found");
	return rc < 0 ? -1 : 0;
}

int store_event_delete(struct store *st, const struct event_query *q, int64_t *deleted,
		       struct error *err)
{
	struct db_q dq;
	if (query_filtered(st, &dq, "DELETE FROM events WHERE " EVENT_WHERE, q, err) < 0)
		return -1;
	int rc = db_step(&dq, NULL, err);
	*deleted = rc == 0 ? sqlite3_changes(sqlite3_db_handle(dq.s)) : 0;
	db_done(&dq);
	return rc < 0 ? -1 : 0;
}

int store_event_delete_one(struct store *st, const char *user_id, const char *id, struct error *err)
{
	_cleanup_db_q_ struct db_q q = {0};
	if (db_query(st, &q, "DELETE FROM events WHERE id = ?1 AND user_id = ?2", err, "ss", id,
		     user_id) < 0)
		return -1;
	int rc = db_step(&q, NULL, err);
	int64_t n = rc == 0 ? sqlite3_changes(sqlite3_db_handle(q.s)) : 0;
	if (rc < 0)
		return -1;
	return n ? 0 : err_set(err, E_NOT_FOUND, "Event not found");
}

int store_event_counts(struct store *st, const struct event_query *q, const char *column,
		       char ***keys_new, int64_t **counts_new, size_t *n, struct error *err)
{
	char sql[1024];
	struct db_q dq;
	const char *col = strcmp(column, "event_type") == 0 ? "event_type" : "resource_type";
	snprintf(sql, sizeof(sql),
		 "SELECT %s, count(*) FROM events WHERE " EVENT_WHERE " GROUP BY %s ORDER BY %s",
		 col, col, col);
	*keys_new = NULL;
	*counts_new = NULL;
	*n = 0;
	if (query_filtered(st, &dq, sql, q, err) < 0)
		return -1;
	size_t cap = 0;
	int rc;
	while ((rc = db_step(&dq, NULL, err)) == 1) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*keys_new = xrealloc(*keys_new, cap * sizeof(**keys_new));
			*counts_new = xrealloc(*counts_new, cap * sizeof(**counts_new));
		}
		(*keys_new)[*n] = col_dup(dq.s, 0);
		(*counts_new)[*n] = sqlite3_column_int64(dq.s, 1);
		(*n)++;
	}
	db_done(&dq);
	return rc < 0 ? -1 : 0;
}

int store_event_purge_before(struct store *st, int64_t before_ms, int64_t *deleted,
			     struct error *err)
{
	int n = db_exec(st, NULL, err, "DELETE FROM events WHERE created_at < ?1", "I", before_ms);
	if (n < 0)
		return -1;
	*deleted = n;
	return 0;
}

int store_event_last_seq(struct store *st, int64_t *out, struct error *err)
{
	return db_int(st, out, err, "SELECT coalesce(max(seq), 0) FROM events", NULL);
}
