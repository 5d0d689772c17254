/* Containers. Rows of deleted containers may stay as tombstones (status
 * "deleted"): they release their name and SSH key (partial unique indexes)
 * and drop out of every list and count. Prespawn pool members have no user
 * or project (NULL columns, "" in the record). */
#include "store/db.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"

/* The API's names, which the TEXT columns hold (no schema change came with
 * the enum). */
static const char *const status_names[CS_COUNT] = {
    [CS_NONE] = "unknown",	[CS_CREATING] = "creating", [CS_RUNNING] = "running",
    [CS_PAUSED] = "paused",	[CS_STOPPED] = "stopped",   [CS_FAILED] = "failed",
    [CS_DELETED] = "deleted",	[CS_COPYING] = "copying",   [CS_DELETING] = "deleting",
    [CS_CLAIMING] = "claiming",
};

const char *container_status_name(enum container_status s)
{
	return s > CS_NONE && s < CS_COUNT ? status_names[s] : status_names[CS_NONE];
}

enum container_status container_status_from_name(const char *name)
{
	for (int s = CS_NONE + 1; name && s < CS_COUNT; s++)
		if (strcmp(status_names[s], name) == 0)
			return (enum container_status)s;
	return CS_NONE;
}

static const struct field container_fields[] = {
    F_CHARS(struct container, id, FL_KEY | FL_FIXED),
    F_CHARS(struct container, project_id, FL_NULL_EMPTY),
    F_CHARS(struct container, user_id, FL_NULL_EMPTY),
    F_CHARS(struct container, server_id, FL_NULL_EMPTY),
    F_STR(struct container, name, 0),
    F_STR(struct container, color, 0),
    F_STR(struct container, container_image, 0),
    F_BOOL(struct container, ai, 0),
    F_BOOL(struct container, hoody_kit, 0),
    F_BOOL(struct container, dev_kit, 0),
    F_BOOL(struct container, autostart, 0),
    F_BOOL(struct container, ramdisk, 0),
    F_BOOL(struct container, prespawn, 0),
    F_STATUS(struct container, status, 0),
    F_STATUS(struct container, desired, 0),
    F_STR(struct container, environment_vars, 0),
    F_STR(struct container, ssh_public_key, 0),
    F_STR(struct container, comment, 0),
    F_STR(struct container, realm_ids, 0),
    F_STR(struct container, source_container_id, 0),
    F_STR(struct container, pool_key, 0),
    F_STR(struct container, failure_reason, 0),
    F_BOOL(struct container, server_expired, 0),
    F_INT(struct container, server_expired_at, 0),
    F_INT(struct container, started_at, 0),
    F_INT(struct container, env_revision, 0),
    F_INT(struct container, env_applied_revision, 0),
    F_INT(struct container, created_at, FL_FIXED | FL_CREATED),
    F_INT(struct container, updated_at, FL_UPDATED),
};

static const struct db_unique container_uniq[] = {
    {"containers.project_id, containers.name", E_NAME_IN_USE,
     "Container name already in use within the project"},
    {"containers_user_ssh_key", E_SSH_KEY_IN_USE,
     "SSH public key already in use by another of your containers"},
    {"containers.id", E_CONFLICT, "Container id already exists"},
    {NULL, E_OK, NULL},
};

struct table tbl_containers = {
    .name = "containers",
    .f = container_fields,
    .nf = ARRAY_SIZE(container_fields),
    .rec_size = sizeof(struct container),
    .not_found = E_CONTAINER_NOT_FOUND,
    .what = "Container",
    .uniq = container_uniq,
};

/* Sort whitelist, default first; each has a (user_id, col, id, filters)
 * and a (project_id, user_id, col, id, filters) index (schema step 1). */
static const struct sort_key container_sorts[] = {
    {"created_at", "created_at"},
    {"updated_at", "updated_at"},
    {"id", "id"},
    {"name", "name"},
    {"status", "status"},
    {NULL, NULL},
};

/* Bits of the generated column `hidden` (schema step 1). */
enum { HIDE_PRESPAWN = 1, HIDE_EXPIRED = 2, HIDE_GONE = 4 };
/* Counted against quotas: not prespawn, not deleting/deleted. */
#define LIVE "hidden & 5 = 0"
_Static_assert((HIDE_PRESPAWN | HIDE_GONE) == 5, "LIVE mask");

void container_clear(struct container *c)
{
	rec_clear(&tbl_containers, c);
}

void container_list_free(struct container *arr, size_t count)
{
	rec_array_free(&tbl_containers, arr, count);
}

int store_container_insert(struct store *st, const struct container *c, struct error *err)
{
	return rec_insert(st, &tbl_containers, c, err);
}

int store_container_get(struct store *st, const char *id, struct container *out, struct error *err)
{
	return rec_get(st, &tbl_containers, out, err, "id = ?1", "s", id);
}

int store_container_get_owned(struct store *st, const char *user_id, const char *id,
			      struct container *out, struct error *err)
{
	return rec_get(st, &tbl_containers, out, err, "id = ?1 AND user_id = ?2", "ss", id,
		       user_id);
}

int store_container_update(struct store *st, const struct container *c, struct error *err)
{
	return rec_update(st, &tbl_containers, c, err);
}

/* After a compare-and-set matched nothing: missing row or another status. */
static int cas_failure(struct store *st, const char *id, enum container_status from,
		       struct error *err)
{
	_cleanup_db_q_ struct db_q q = {0};
	if (db_query(st, &q, "SELECT status FROM containers WHERE id = ?1", err, "s", id) < 0)
		return -1;
	int rc = db_step(&q, NULL, err);
	if (rc == 1)
		err_set(err, E_STATE_CONFLICT, "Container is %s, not %s",
			(const char *)sqlite3_column_text(q.s, 0),
			from == CS_NONE ? "any" : container_status_name(from));
	else if (rc == 0)
		err_set(err, E_CONTAINER_NOT_FOUND, "Container not found");
	return -1;
}

/* A status as the column holds it: its name, NULL for CS_NONE. */
static const char *status_column(enum container_status s)
{
	return s == CS_NONE ? NULL : container_status_name(s);
}

int store_container_set_status(struct store *st, const char *id, enum container_status from,
			       enum container_status to, const char *failure_reason,
			       struct error *err)
{
	int n =
	    db_exec(st, tbl_containers.uniq, err,
		    "UPDATE containers SET status = ?3, failure_reason = ?4, updated_at = ?5 "
		    "WHERE id = ?1 AND (?2 IS NULL OR status = ?2)",
		    "ssssI", id, status_column(from), status_column(to), failure_reason, now_ms());
	if (n == 0)
		return cas_failure(st, id, from, err);
	return n < 0 ? -1 : 0;
}

int store_container_delete(struct store *st, const char *id, struct error *err)
{
	return rec_exec_row(st, &tbl_containers, err, "DELETE FROM containers WHERE id = ?1", "s",
			    id);
}

int store_container_list(struct store *st, const struct container_query *q,
			 struct container **out_new, size_t *count, int64_t *total,
			 struct error *err)
{
	char where[512], *realm;
	*out_new = NULL;
	*count = 0;
	*total = 0;
	if (!q)
		return err_set(err, E_INTERNAL, "container list: no query");
	struct page pg = {
	    .where = where,
	    .desc = q->base.desc,
	    .page = q->base.page,
	    .limit = q->base.limit,
	};
	if (!(pg.order = sort_column(container_sorts, q->base.sort_by, err)))
		return -1;
	int hide = (q->include_prespawn ? 0 : HIDE_PRESPAWN) |
		   (q->include_expired ? 0 : HIDE_EXPIRED) | (q->include_deleting ? 0 : HIDE_GONE);
	snprintf(where, sizeof(where), "user_id = ?1%s%s AND hidden & %d = 0",
		 q->project_id ? " AND project_id = ?2" : "",
		 q->base.realm_id ? " AND " REALM_MATCH("?3") : "", hide);
	realm = realm_needle_new(q->base.realm_id);
	int rc = rec_page(st, &tbl_containers, &pg, (void **)out_new, count, total, err, "sss",
			  q->base.user_id, q->project_id, realm);
	free(realm);
	return rc;
}

int store_container_list_all(struct store *st, struct container **out_new, size_t *count,
			     struct error *err)
{
	return rec_list(st, &tbl_containers, (void **)out_new, count, err,
			"ORDER BY created_at, id", NULL);
}

int store_container_find_ssh_key(struct store *st, const char *type_blob,
				 struct container **out_new, size_t *count, struct error *err)
{
	/* Keys are stored "type blob [comment]": the comment is not the key. */
	return rec_list(st, &tbl_containers, (void **)out_new, count, err,
			"WHERE " LIVE " AND (ssh_public_key = ?1 OR "
			"substr(ssh_public_key, 1, length(?1) + 1) = ?1 || ' ') "
			"ORDER BY created_at, id LIMIT 16",
			"s", type_blob);
}

int store_container_count_project(struct store *st, const char *project_id, int64_t *out,
				  struct error *err)
{
	return db_int(st, out, err,
		      "SELECT count(*) FROM containers WHERE project_id = ?1 AND " LIVE, "s",
		      project_id);
}

int store_container_count_user(struct store *st, const char *user_id, int64_t *out,
			       struct error *err)
{
	return db_int(st, out, err, "SELECT count(*) FROM containers WHERE user_id = ?1 AND " LIVE,
		      "s", user_id);
}

int store_container_pool_count(struct store *st, const char *pool_key, int64_t *ready,
			       int64_t *creating, struct error *err)
{
	if (db_int(st, ready, err,
		   "SELECT count(*) FROM containers WHERE pool_key = ?1 AND prespawn = 1 AND "
		   "status = 'running'",
		   "s", pool_key) < 0)
		return -1;
	return db_int(st, creating, err,
		      "SELECT count(*) FROM containers WHERE pool_key = ?1 AND prespawn = 1 AND "
		      "status = 'creating'",
		      "s", pool_key);
}

int store_container_pool_pick(struct store *st, const char *pool_key, struct container *out,
			      struct error *err)
{
	return rec_get(st, &tbl_containers, out, err,
		       "pool_key = ?1 AND prespawn = 1 AND status = 'running' "
		       "ORDER BY created_at, id LIMIT 1",
		       "s", pool_key);
}

int store_container_pool_members(struct store *st, struct container **out_new, size_t *count,
				 struct error *err)
{
	return rec_list(st, &tbl_containers, (void **)out_new, count, err,
			"WHERE prespawn = 1 AND status IN ('creating', 'running', 'failed') "
			"ORDER BY created_at, id",
			NULL);
}

int store_container_expire_server(struct store *st, const char *server_id, int64_t at,
				  int64_t *changed, struct error *err)
{
	int n = db_exec(st, NULL, err,
			"UPDATE containers SET server_expired = ?2, server_expired_at = ?3, "
			"updated_at = ?4 WHERE server_id = ?1 AND server_expired <> ?2",
			"sbII", server_id, at != 0, at, now_ms());
	if (n < 0)
		return -1;
	*changed = n;
	return 0;
}

int store_container_count_server(struct store *st, const char *server_id, int64_t *out,
				 struct error *err)
{
	return db_int(st, out, err,
		      "SELECT count(*) FROM containers WHERE server_id = ?1 AND " LIVE, "s",
		      server_id);
}

int store_container_count_server_user(struct store *st, const char *server_id, const char *user_id,
				      int64_t *out, struct error *err)
{
	return db_int(
	    st, out, err,
	    "SELECT count(*) FROM containers WHERE server_id = ?1 AND user_id = ?2 AND " LIVE, "ss",
	    server_id, user_id);
}
