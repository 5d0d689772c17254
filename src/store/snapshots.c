/* Snapshots: one row per filesystem snapshot of a container's layer. */
#include "store/db.h"

#include "common/util.h"

static const struct field snapshot_fields[] = {
    F_CHARS(struct snapshot, id, FL_KEY | FL_FIXED),
    F_CHARS(struct snapshot, container_id, FL_FIXED),
    F_CHARS(struct snapshot, project_id, FL_FIXED),
    F_CHARS(struct snapshot, user_id, FL_FIXED),
    F_STR(struct snapshot, name, FL_FIXED),
    F_STR(struct snapshot, alias, 0),
    F_STR(struct snapshot, container_image, FL_FIXED),
    F_INT(struct snapshot, size, 0),
    F_INT(struct snapshot, created_at, FL_CREATED),
    F_INT(struct snapshot, last_used_at, 0),
    F_INT(struct snapshot, expires_at, 0),
    F_STR(struct snapshot, realm_ids, 0),
};

static const struct db_unique snapshot_uniq[] = {
    {"snapshots.container_id, snapshots.name", E_CONFLICT, "Snapshot name already in use"},
    {"snapshots.id", E_CONFLICT, "Snapshot id already exists"},
    {NULL, 0, NULL},
};

struct table tbl_snapshots = {
    .name = "snapshots",
    .f = snapshot_fields,
    .nf = ARRAY_SIZE(snapshot_fields),
    .rec_size = sizeof(struct snapshot),
    .not_found = E_NOT_FOUND,
    .what = "Snapshot",
    .uniq = snapshot_uniq,
};

void snapshot_clear(struct snapshot *s)
{
	rec_clear(&tbl_snapshots, s);
}

void snapshot_list_free(struct snapshot *arr, size_t n)
{
	rec_array_free(&tbl_snapshots, arr, n);
}

int store_snapshot_insert(struct store *st, const struct snapshot *s, struct error *err)
{
	return rec_insert(st, &tbl_snapshots, s, err);
}

int store_snapshot_get(struct store *st, const char *container_id, const char *name,
		       struct snapshot *out, struct error *err)
{
	return rec_get(st, &tbl_snapshots, out, err, "container_id = ?1 AND name = ?2", "ss",
		       container_id, name);
}

int store_snapshot_update(struct store *st, const struct snapshot *s, struct error *err)
{
	return rec_update(st, &tbl_snapshots, s, err);
}

int store_snapshot_delete(struct store *st, const char *id, struct error *err)
{
	return rec_exec_row(st, &tbl_snapshots, err, "DELETE FROM snapshots WHERE id = ?1", "s",
			    id);
}

int store_snapshot_list(struct store *st, const char *container_id, struct snapshot **out_new,
			size_t *count, struct error *err)
{
	return rec_list(st, &tbl_snapshots, (void **)out_new, count, err,
			"WHERE container_id = ?1 ORDER BY created_at, id", "s", container_id);
}

int store_snapshot_list_orphaned(struct store *st, const char *user_id, struct snapshot **out_new,
				 size_t *count, struct error *err)
{
	return rec_list(
	    st, &tbl_snapshots, (void **)out_new, count, err,
	    "WHERE (?1 IS NULL OR user_id = ?1) AND NOT EXISTS (SELECT 1 FROM "
	    "containers c WHERE c.id = snapshots.container_id AND c.status <> 'deleted') "
	    "ORDER BY created_at, id LIMIT 10000",
	    "s", user_id);
}

int store_snapshot_summary(struct store *st, const char *container_id, int64_t *count,
			   char **last_used_new, struct error *err)
{
	_cleanup_db_q_ struct db_q q = {0};
	*count = 0;
	*last_used_new = NULL;
	if (db_query(st, &q,
		     "SELECT count(*), (SELECT name FROM snapshots WHERE container_id = ?1 AND "
		     "last_used_at > 0 ORDER BY last_used_at DESC LIMIT 1) "
		     "FROM snapshots WHERE container_id = ?1",
		     err, "s", container_id) < 0)
		return -1;
	int rc = db_step(&q, NULL, err);
	if (rc == 1) {
		*count = sqlite3_column_int64(q.s, 0);
		*last_used_new = db_col_strdup(q.s, 1);
	}
	return rc < 0 ? -1 : 0;
}

int store_snapshot_list_expired(struct store *st, int64_t now, struct snapshot **out_new,
				size_t *count, struct error *err)
{
	return rec_list(st, &tbl_snapshots, (void **)out_new, count, err,
			"WHERE expires_at > 0 AND expires_at <= ?1 ORDER BY expires_at", "I", now);
}
