/* Status logs: one row per container status transition. */
#include "store/db.h"

#include "common/util.h"

static const struct field log_fields[] = {
    F_CHARS(struct status_log, id, FL_KEY | FL_FIXED),
    F_CHARS(struct status_log, container_id, FL_FIXED),
    F_STATUS(struct status_log, from_status, 0),
    F_STATUS(struct status_log, to_status, 0),
    F_INT(struct status_log, transition_time, FL_CREATED),
    F_INT(struct status_log, duration_ms, 0),
    F_STR(struct status_log, triggered_by, 0),
    F_STR(struct status_log, metadata, 0),
};

struct table tbl_status_logs = {
    .name = "status_logs",
    .f = log_fields,
    .nf = ARRAY_SIZE(log_fields),
    .rec_size = sizeof(struct status_log),
    .not_found = E_NOT_FOUND,
    .what = "Status log",
    .uniq = NULL,
};

/* A log is created when its transition happens, so created_at sorts as
 * transition_time. */
static const struct sort_key log_sorts[] = {
    {"transition_time", "transition_time"},
    {"created_at", "transition_time"},
    {"to_status", "to_status"},
    {"from_status", "from_status"},
    {NULL, NULL},
};

void status_log_clear(struct status_log *l)
{
	rec_clear(&tbl_status_logs, l);
}

int store_status_log_insert(struct store *st, const struct status_log *l, struct error *err)
{
	if (!l)
		return err_set(err, E_INTERNAL, "status log: no record");
	/* callers rarely need the id of a log line: one is made up if absent */
	struct status_log row = *l;
	if (!row.id[0])
		id_new(row.id);
	return rec_insert(st, &tbl_status_logs, &row, err);
}

int store_status_log_list(struct store *st, const char *container_id, const char *sort_by,
			  bool desc, int64_t page, int64_t limit, struct status_log **out_new,
			  size_t *count, int64_t *total, struct error *err)
{
	struct page pg = {.where = "container_id = ?1", .desc = desc, .page = page, .limit = limit};
	*out_new = NULL;
	*count = 0;
	*total = 0;
	if (!(pg.order = sort_column(log_sorts, sort_by, err)))
		return -1;
	return rec_page(st, &tbl_status_logs, &pg, (void **)out_new, count, total, err, "s",
			container_id);
}
