/* Projects: (user_id, alias) is unique. Deleting a project deletes its
 * containers' rows and their status logs (ON DELETE CASCADE); the platform
 * removes the containers from the host first. */
#include "store/db.h"

#include <stdio.h>

#include "common/util.h"

static const struct field project_fields[] = {
    F_CHARS(struct project, id, FL_KEY | FL_FIXED),
    F_CHARS(struct project, user_id, FL_FIXED),
    F_STR(struct project, alias, 0),
    F_STR(struct project, color, 0),
    F_INT(struct project, max_containers, 0),
    F_STR(struct project, realm_ids, 0),
    F_BOOL(struct project, is_default, 0),
    F_INT(struct project, created_at, FL_FIXED | FL_CREATED),
    F_INT(struct project, updated_at, FL_UPDATED),
};

static const struct db_unique project_uniq[] = {
    {"projects.user_id, projects.alias", E_CONFLICT, "A project with this alias already exists"},
    {"projects.id", E_CONFLICT, "Project id already exists"},
    {NULL, E_OK, NULL},
};

struct table tbl_projects = {
    .name = "projects",
    .f = project_fields,
    .nf = ARRAY_SIZE(project_fields),
    .rec_size = sizeof(struct project),
    .not_found = E_NOT_FOUND,
    .what = "Project",
    .uniq = project_uniq,
};

/* Sort whitelist; the first is the default. Each has an index
 * (user_id, col[, id]); alias is unique per user, so it needs no id. */
static const struct sort_key project_sorts[] = {
    {"created_at", "created_at"},
    {"updated_at", "updated_at"},
    {"id", "id"},
    {"alias", "alias"},
    {NULL, NULL},
};

void project_clear(struct project *p)
{
	rec_clear(&tbl_projects, p);
}

int store_project_insert(struct store *st, const struct project *p, struct error *err)
{
	return rec_insert(st, &tbl_projects, p, err);
}

int store_project_get_owned(struct store *st, const char *user_id, const char *id,
			    struct project *out, struct error *err)
{
	return rec_get(st, &tbl_projects, out, err, "id = ?1 AND user_id = ?2", "ss", id, user_id);
}

int store_project_get(struct store *st, const char *id, struct project *out, struct error *err)
{
	return rec_get(st, &tbl_projects, out, err, "id = ?1", "s", id);
}

int store_project_update(struct store *st, const struct project *p, struct error *err)
{
	return rec_update(st, &tbl_projects, p, err);
}

int store_project_delete(struct store *st, const char *id, struct error *err)
{
	return rec_exec_row(st, &tbl_projects, err, "DELETE FROM projects WHERE id = ?1", "s", id);
}

int store_project_list(struct store *st, const struct list_query *q, struct project **out_new,
		       size_t *count, int64_t *total, struct error *err)
{
	char where[128], *realm = NULL;
	*out_new = NULL;
	*count = 0;
	*total = 0;
	if (!q)
		return err_set(err, E_INTERNAL, "project list: no query");
	struct page pg = {.where = where, .desc = q->desc, .page = q->page, .limit = q->limit};
	if (!(pg.order = sort_column(project_sorts, q->sort_by, err)))
		return -1;
	snprintf(where, sizeof(where), "user_id = ?1%s",
		 q->realm_id ? " AND " REALM_MATCH("?2") : "");
	realm = realm_needle_new(q->realm_id);
	int rc = rec_page(st, &tbl_projects, &pg, (void **)out_new, count, total, err, "ss",
			  q->user_id, realm);
	free(realm);
	return rc;
}
