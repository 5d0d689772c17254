/* Long-lived auth tokens (hdy_...). Only the sha256 of the secret is kept. */
#include "store/db.h"

#include "common/util.h"

static const struct field token_fields[] = {
    F_CHARS(struct auth_token, id, FL_KEY | FL_FIXED),
    F_CHARS(struct auth_token, user_id, FL_FIXED),
    F_STR(struct auth_token, alias, 0),
    F_CHARS(struct auth_token, token_hash, 0),
    F_STR(struct auth_token, permissions, 0),
    F_STR(struct auth_token, realm_ids, 0),
    F_BOOL(struct auth_token, allow_no_realm, 0),
    F_STR(struct auth_token, ip_whitelist, 0),
    F_BOOL(struct auth_token, is_enabled, 0),
    F_BOOL(struct auth_token, vault_access, 0),
    F_BOOL(struct auth_token, event_access, 0),
    F_STR(struct auth_token, public_key, 0),
    F_STR(struct auth_token, public_storage, 0),
    F_INT(struct auth_token, expires_at, 0),
    /* usage is written by store_token_touch only, so an update from an
     * older read does not roll it back */
    F_INT(struct auth_token, last_used_at, FL_FIXED),
    F_STR(struct auth_token, last_used_ip, FL_FIXED),
    F_INT(struct auth_token, created_at, FL_FIXED | FL_CREATED),
    F_INT(struct auth_token, updated_at, FL_UPDATED),
};

static const struct db_unique token_uniq[] = {
    {"auth_tokens.token_hash", E_CONFLICT, "Token hash already exists"},
    {"auth_tokens.id", E_CONFLICT, "Token id already exists"},
    {NULL, E_OK, NULL},
};

struct table tbl_tokens = {
    .name = "auth_tokens",
    .f = token_fields,
    .nf = ARRAY_SIZE(token_fields),
    .rec_size = sizeof(struct auth_token),
    .not_found = E_NOT_FOUND,
    .what = "Auth token",
    .uniq = token_uniq,
};

void auth_token_clear(struct auth_token *t)
{
	rec_clear(&tbl_tokens, t);
}

int store_token_insert(struct store *st, const struct auth_token *t, struct error *err)
{
	return rec_insert(st, &tbl_tokens, t, err);
}

int store_token_get_owned(struct store *st, const char *user_id, const char *id,
			  struct auth_token *out, struct error *err)
{
	return rec_get(st, &tbl_tokens, out, err, "id = ?1 AND user_id = ?2", "ss", id, user_id);
}

int store_token_find_hash(struct store *st, const char *token_hash, struct auth_token *out,
			  struct error *err)
{
	return rec_get(st, &tbl_tokens, out, err, "token_hash = ?1", "s", token_hash);
}

int store_token_update(struct store *st, const struct auth_token *t, struct error *err)
{
	return rec_update(st, &tbl_tokens, t, err);
}

int store_token_touch(struct store *st, const char *id, int64_t when, const char *ip,
		      struct error *err)
{
	return rec_exec_row(st, &tbl_tokens, err,
			    "UPDATE auth_tokens SET last_used_at = ?2, last_used_ip = ?3 "
			    "WHERE id = ?1",
			    "sIs", id, when, ip);
}

int store_token_delete_owned(struct store *st, const char *user_id, const char *id,
			     struct error *err)
{
	return rec_exec_row(st, &tbl_tokens, err,
			    "DELETE FROM auth_tokens WHERE id = ?1 AND user_id = ?2", "ss", id,
			    user_id);
}

int store_token_list(struct store *st, const char *user_id, struct auth_token **out_new,
		     size_t *count, struct error *err)
{
	return rec_list(st, &tbl_tokens, (void **)out_new, count, err,
			"WHERE user_id = ?1 ORDER BY created_at DESC, id DESC", "s", user_id);
}
