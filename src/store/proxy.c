/* Proxy aliases and proxy permission documents. */
#include "store/db.h"

#include "common/util.h"

static const struct field alias_fields[] = {
    F_CHARS(struct proxy_alias, id, FL_KEY | FL_FIXED),
    F_CHARS(struct proxy_alias, user_id, FL_FIXED),
    F_CHARS(struct proxy_alias, project_id, FL_FIXED),
    F_CHARS(struct proxy_alias, container_id, FL_FIXED),
    F_CHARS(struct proxy_alias, server_id, FL_FIXED),
    F_STR(struct proxy_alias, alias, 0),
    F_STR(struct proxy_alias, program, 0),
    F_INT(struct proxy_alias, idx, 0),
    F_INT(struct proxy_alias, port, 0),
    F_STR(struct proxy_alias, target_path, 0),
    F_BOOL(struct proxy_alias, allow_path_override, 0),
    F_INT(struct proxy_alias, expires_at, 0),
    F_BOOL(struct proxy_alias, enabled, 0),
    F_INT(struct proxy_alias, created_at, FL_CREATED),
    F_INT(struct proxy_alias, updated_at, FL_UPDATED),
};

static const struct db_unique alias_uniq[] = {
    {"proxy_aliases.server_id, proxy_aliases.alias", E_CONFLICT,
     "Alias already in use on this server"},
    {"proxy_aliases.id", E_CONFLICT, "Alias id already exists"},
    {NULL, 0, NULL},
};

struct table tbl_proxy_aliases = {
    .name = "proxy_aliases",
    .f = alias_fields,
    .nf = ARRAY_SIZE(alias_fields),
    .rec_size = sizeof(struct proxy_alias),
    .not_found = E_NOT_FOUND,
    .what = "Proxy alias",
    .uniq = alias_uniq,
};

void proxy_alias_clear(struct proxy_alias *a)
{
	rec_clear(&tbl_proxy_aliases, a);
}

void proxy_alias_list_free(struct proxy_alias *arr, size_t n)
{
	rec_array_free(&tbl_proxy_aliases, arr, n);
}

int store_proxy_alias_insert(struct store *st, const struct proxy_alias *a, struct error *err)
{
	return rec_insert(st, &tbl_proxy_aliases, a, err);
}

int store_proxy_alias_update(struct store *st, const struct proxy_alias *a, struct error *err)
{
	return rec_update(st, &tbl_proxy_aliases, a, err);
}

int store_proxy_alias_get_owned(struct store *st, const char *user_id, const char *id,
				struct proxy_alias *out, struct error *err)
{
	return rec_get(st, &tbl_proxy_aliases, out, err, "id = ?1 AND user_id = ?2", "ss", id,
		       user_id);
}

int store_proxy_alias_get_name(struct store *st, const char *server_id, const char *alias,
			       struct proxy_alias *out, struct error *err)
{
	return rec_get(st, &tbl_proxy_aliases, out, err, "server_id = ?1 AND alias = ?2", "ss",
		       server_id, alias);
}

int store_proxy_alias_delete(struct store *st, const char *id, struct error *err)
{
	return rec_exec_row(st, &tbl_proxy_aliases, err, "DELETE FROM proxy_aliases WHERE id = ?1",
			    "s", id);
}

int store_proxy_alias_list(struct store *st, const struct proxy_alias_query *q,
			   struct proxy_alias **out_new, size_t *count, struct error *err)
{
	return rec_list(st, &tbl_proxy_aliases, (void **)out_new, count, err,
			"WHERE user_id = ?1 AND (?2 IS NULL OR project_id = ?2)"
			" AND (?3 IS NULL OR container_id = ?3) AND (?4 < 0 OR enabled = ?4)"
			" AND (?5 < 0 OR (?5 = (expires_at > 0 AND expires_at <= ?6)))"
			" ORDER BY created_at, id LIMIT 1000",
			"sssIII", q->user_id, q->project_id, q->container_id, (int64_t)q->enabled,
			(int64_t)q->expired, q->now_ms);
}

int store_proxy_alias_count(struct store *st, const char *container_id, int64_t *out,
			    struct error *err)
{
	return db_int(st, out, err, "SELECT count(*) FROM proxy_aliases WHERE container_id = ?1",
		      "s", container_id);
}

/* ---- documents ---- */

static const struct field doc_fields[] = {
    F_CHARS(struct proxy_doc, id, FL_KEY | FL_FIXED),
    F_STR(struct proxy_doc, scope, FL_FIXED),
    F_CHARS(struct proxy_doc, user_id, FL_FIXED),
    F_STR(struct proxy_doc, document, 0),
    F_INT(struct proxy_doc, file_version, 0),
    F_INT(struct proxy_doc, created_at, FL_CREATED),
    F_INT(struct proxy_doc, updated_at, FL_UPDATED),
};

struct table tbl_proxy_docs = {
    .name = "proxy_documents",
    .f = doc_fields,
    .nf = ARRAY_SIZE(doc_fields),
    .rec_size = sizeof(struct proxy_doc),
    .not_found = E_NOT_FOUND,
    .what = "Proxy permissions document",
    .uniq = NULL,
};

void proxy_doc_clear(struct proxy_doc *d)
{
	rec_clear(&tbl_proxy_docs, d);
}

int store_proxy_doc_get(struct store *st, const char *id, struct proxy_doc *out, struct error *err)
{
	return rec_get(st, &tbl_proxy_docs, out, err, "id = ?1", "s", id);
}

int store_proxy_doc_put(struct store *st, const struct proxy_doc *d, int64_t expect,
			struct error *err)
{
	struct proxy_doc row = *d;
	row.file_version = expect + 1;
	if (expect == 0) {
		int rc = rec_insert(st, &tbl_proxy_docs, &row, err);
		if (rc < 0 && err->code == E_CONFLICT)
			err_set(err, E_CONFLICT, "The document changed since version 0");
		return rc;
	}
	int n = db_exec(st, NULL, err,
			"UPDATE proxy_documents SET document = ?1, file_version = ?2 + 1,"
			" updated_at = ?3 WHERE id = ?4 AND file_version = ?2",
			"sIIs", d->document, expect, now_ms(), d->id);
	if (n < 0)
		return -1;
	return n == 1 ? 0
		      : err_set(err, E_CONFLICT, "The document changed since version %lld",
				(long long)expect);
}
