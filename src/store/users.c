/* Users, and the refresh-token families of their sessions. Usernames and
 * emails are unique and matched without regard to ASCII case (an index
 * COLLATE NOCASE on username, the email column COLLATE NOCASE), so "Alice"
 * can neither register beside "alice" nor sign in as her by another case. */
#include "store/db.h"

#include "common/util.h"

static const struct field user_fields[] = {
    F_CHARS(struct user, id, FL_KEY | FL_FIXED),
    F_STR(struct user, username, 0),
    F_STR(struct user, email, 0),
    F_STR(struct user, alias, 0),
    F_STR(struct user, password_hash, 0),
    F_BOOL(struct user, is_admin, 0),
    F_BOOL(struct user, is_banned, 0),
    /* only store_user_bump_session moves it: an update from a record read
     * before a logout must not revive old sessions */
    F_INT(struct user, session_generation, FL_FIXED),
    F_INT(struct user, max_containers, 0),
    F_STR(struct user, metadata, 0),
    F_STR(struct user, public_key, 0),
    F_INT(struct user, created_at, FL_FIXED | FL_CREATED),
    F_INT(struct user, updated_at, FL_UPDATED),
};

static const struct db_unique user_uniq[] = {
    {"users.username", E_CONFLICT, "Username already in use"},
    {"users.email", E_CONFLICT, "Email already in use"},
    {"users.id", E_CONFLICT, "User id already exists"},
    {NULL, E_OK, NULL},
};

struct table tbl_users = {
    .name = "users",
    .f = user_fields,
    .nf = ARRAY_SIZE(user_fields),
    .rec_size = sizeof(struct user),
    .not_found = E_NOT_FOUND,
    .what = "User",
    .uniq = user_uniq,
};

void user_clear(struct user *u)
{
	rec_clear(&tbl_users, u);
}

int store_user_insert(struct store *st, const struct user *u, struct error *err)
{
	return rec_insert(st, &tbl_users, u, err);
}

int store_user_get(struct store *st, const char *id, struct user *out, struct error *err)
{
	return rec_get(st, &tbl_users, out, err, "id = ?1", "s", id);
}

int store_user_find_login(struct store *st, const char *login, struct user *out, struct error *err)
{
	/* should a username ever equal another user's email, the exact
	 * username match wins */
	return rec_get(st, &tbl_users, out, err,
		       "username = ?1 COLLATE NOCASE OR email = ?1 "
		       "ORDER BY username = ?1 COLLATE NOCASE DESC LIMIT 1",
		       "s", login);
}

int store_user_update(struct store *st, const struct user *u, struct error *err)
{
	return rec_update(st, &tbl_users, u, err);
}

int store_user_bump_session(struct store *st, const char *id, struct error *err)
{
	return rec_exec_row(st, &tbl_users, err,
			    "UPDATE users SET session_generation = session_generation + 1, "
			    "updated_at = ?2 WHERE id = ?1",
			    "sI", id, now_ms());
}

int store_user_count(struct store *st, int64_t *out, struct error *err)
{
	return db_int(st, out, err, "SELECT count(*) FROM users", NULL);
}

int store_refresh_family_insert(struct store *st, const char *id, const char *user_id,
				const char *jti, int64_t expires_at, struct error *err)
{
	int64_t now = now_ms();
	if (db_exec(st, NULL, err, "DELETE FROM refresh_families WHERE expires_at < ?1", "I", now) <
	    0)
		return -1;
	return db_exec(st, NULL, err,
		       "INSERT INTO refresh_families(id, user_id, current_jti, expires_at, "
		       "created_at, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?5)",
		       "sssII", id, user_id, jti, expires_at, now) < 0
		   ? -1
		   : 0;
}

int store_refresh_family_rotate(struct store *st, const char *id, const char *jti,
				const char *next_jti, int64_t expires_at, bool *rotated,
				struct error *err)
{
	int n = db_exec(st, NULL, err,
			"UPDATE refresh_families SET current_jti = ?3, expires_at = ?4, "
			"updated_at = ?5 WHERE id = ?1 AND current_jti = ?2 AND revoked = 0",
			"sssII", id, jti, next_jti, expires_at, now_ms());
	*rotated = n == 1;
	return n < 0 ? -1 : 0;
}

int store_refresh_family_revoke(struct store *st, const char *id, struct error *err)
{
	return db_exec(st, NULL, err,
		       "UPDATE refresh_families SET revoked = 1, updated_at = ?2 WHERE id = ?1",
		       "sI", id, now_ms()) < 0
		   ? -1
		   : 0;
}

bool store_refresh_family_live(struct store *st, const char *id)
{
	int64_t n = 0;
	struct error err = {0};
	return db_int(st, &n, &err,
		      "SELECT count(*) FROM refresh_families WHERE id = ?1 AND revoked = 0", "s",
		      id) == 0 &&
	       n == 1;
}
