/* Servers: this host registers itself at start (upsert by id). */
#include "store/db.h"

#include "common/util.h"

static const struct field server_fields[] = {
    F_CHARS(struct server, id, FL_KEY | FL_FIXED),
    F_STR(struct server, name, 0),
    F_STR(struct server, country, 0),
    F_STR(struct server, city, 0),
    F_STR(struct server, region, 0),
    F_STR(struct server, datacenter, 0),
    F_BOOL(struct server, is_free, 0),
    F_INT(struct server, max_containers, 0),
    F_INT(struct server, created_at, FL_FIXED | FL_CREATED),
    F_INT(struct server, updated_at, FL_UPDATED),
};

struct table tbl_servers = {
    .name = "servers",
    .f = server_fields,
    .nf = ARRAY_SIZE(server_fields),
    .rec_size = sizeof(struct server),
    .not_found = E_NOT_FOUND,
    .what = "Server",
    .uniq = NULL,
};

void server_clear(struct server *s)
{
	rec_clear(&tbl_servers, s);
}

int store_server_upsert(struct store *st, const struct server *s, struct error *err)
{
	return rec_upsert(st, &tbl_servers, s, err);
}

int store_server_get(struct store *st, const char *id, struct server *out, struct error *err)
{
	return rec_get(st, &tbl_servers, out, err, "id = ?1", "s", id);
}

int store_server_list(struct store *st, struct server **out_new, size_t *count, struct error *err)
{
	return rec_list(st, &tbl_servers, (void **)out_new, count, err, "ORDER BY created_at, id",
			NULL);
}
