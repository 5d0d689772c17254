/* Accounts: creation and administration, the JSON shape of a user, and the
 * first-start bootstrap (admin user + admin token file). */
#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "platform/platform_int.h"
#include "common/log.h"
#include "common/util.h"
#include "platform/auth.h"
#include "platform/events.h"
#include "platform/fields.h"
#include "platform/validate.h"
#include "platform/revoke.h"

#define USERNAME_MIN 3
#define USERNAME_MAX 64
#define EMAIL_MAX 254
#define ALIAS_MAX 100
#define ADMIN_TOKEN_FILE "admin-token"

#define METADATA_MAX (16 * 1024)

json_t *user_json_new(const struct user *u)
{
	json_t *meta = u->metadata ? json_loads(u->metadata, 0, NULL) : NULL;
	return json_pack(
	    "{s:s, s:s, s:s?, s:s?, s:s?, s:o, s:b, s:b, s:b, s:n, s:s, s:b, s:o, "
	    "s:o, s:o}",
	    "id", u->id, "username", u->username, "email", u->email, "alias", u->alias,
	    "public_key", u->public_key, "metadata",
	    json_is_object(meta) ? meta : (json_decref(meta), json_object()), "is_admin",
	    u->is_admin, "is_banned", u->is_banned, "email_verified", u->email != NULL,
	    "avatar_url", "signup_method", "password", "free_tier_unlocked", true, "max_containers",
	    u->max_containers < 0 ? json_null() : json_integer(u->max_containers), "created_at",
	    json_time_new(u->created_at), "updated_at", json_time_new(u->updated_at));
}

static bool username_ok(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

/* At least 8 characters with a lower-case letter, an upper-case letter and a digit. */
static int password_check(const char *pw, struct error *err)
{
	bool lower = false, upper = false, digit = false;
	size_t n = strlen(pw);
	for (const char *p = pw; *p; p++) {
		lower |= islower((unsigned char)*p) != 0;
		upper |= isupper((unsigned char)*p) != 0;
		digit |= isdigit((unsigned char)*p) != 0;
	}
	if (n < AUTH_PASSWORD_MIN || n > AUTH_PASSWORD_MAX || !lower || !upper || !digit)
		return err_set(err, E_VALIDATION,
			       "password must be %d to %d characters with a lower-case letter, an "
			       "upper-case letter and a digit",
			       AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
	return 0;
}

static int email_check(const char *email, struct error *err)
{
	const char *at = strchr(email, '@');
	bool ok = at && at != email && at[1] && !strchr(at + 1, '@') && strchr(at + 1, '.');
	for (const char *p = email; ok && *p; p++)
		ok = !isspace((unsigned char)*p) && !iscntrl((unsigned char)*p);
	if (!ok)
		return err_set(err, E_VALIDATION, "email must be a valid e-mail address");
	return 0;
}

/* metadata (a JSON object kept as given) and public_key (Ed25519 hex). */
static int apply_public_fields(const json_t *body, struct user *u, struct error *err)
{
	char *text = NULL;
	int rc = field_json_text(body, "metadata", METADATA_MAX, true, &text, err);
	if (rc > 0) {
		free(u->metadata);
		u->metadata = text;
	}
	if (rc < 0 || (rc = field_ed25519_hex(body, "public_key", &text, err)) <= 0)
		return rc;
	free(u->public_key);
	u->public_key = text;
	return 0;
}

/* The optional fields shared by create and update. */
static int apply_profile(const json_t *body, struct user *u, struct error *err)
{
	const char *email = NULL, *alias = NULL, *password = NULL;
	bool null = false;
	int64_t max = 0;
	int rc;
	if (apply_public_fields(body, u, err) < 0)
		return -1;
	if ((rc = field_string(body, "email", 3, EMAIL_MAX, true, &email, &null, err)) < 0)
		return -1;
	if (rc && (null || email_check(email, err) == 0)) {
		free(u->email);
		u->email = null ? NULL : str_lower_dup(email);
	} else if (rc) {
		return -1;
	}
	if ((rc = field_string(body, "alias", 1, ALIAS_MAX, true, &alias, &null, err)) < 0)
		return -1;
	if (rc) {
		free(u->alias);
		u->alias = null ? NULL : xstrdup(alias);
	}
	if ((rc = field_int(body, "max_containers", -1, 1000000, true, &max, &null, err)) < 0)
		return -1;
	if (rc)
		u->max_containers = null ? -1 : max;
	if (field_bool(body, "is_admin", &u->is_admin, err) < 0)
		return -1;
	if ((rc = field_string(body, "password", 1, AUTH_PASSWORD_MAX, false, &password, NULL,
			       err)) < 0)
		return -1;
	if (rc) {
		char hash[AUTH_PASSWORD_HASH_MAX];
		if (password_check(password, err) < 0 ||
		    auth_password_hash(password, hash, err) < 0)
			return -1;
		free(u->password_hash);
		u->password_hash = xstrdup(hash);
	}
	return rc;
}

static int insert_user(struct store *st, struct user *u, struct error *err)
{
	if (store_user_insert(st, u, err) < 0) {
		if (err->code == E_CONFLICT)
			err_set(err, E_CONFLICT, "Username or email already in use");
		return -1;
	}
	return 0;
}

static const char *const user_create_fields[] = {"username",	   "email",	 "alias",
						 "max_containers", "is_admin",	 "password",
						 "metadata",	   "public_key", NULL};
static const char *const user_update_fields[] = {"email",    "alias",	   "max_containers",
						 "is_admin", "password",   "is_banned",
						 "metadata", "public_key", NULL};

/* user.<what> about account u: in u's own log and, when someone else (an
 * administrator) did it, in the actor's log too, so that both can see it. */
static void user_event(struct store *st, const char *type, const struct user *u,
		       const char *actor_id)
{
	json_t *p = json_pack("{s:s, s:b, s:b, s:s?}", "username", u->username, "is_admin",
			      u->is_admin, "is_banned", u->is_banned, "actor_id", actor_id);
	struct event_spec e = {.type = type,
			       .resource_type = "account",
			       .resource_id = u->id,
			       .user_id = u->id,
			       .payload = p};
	events_record(st, &e);
	if (actor_id && strcmp(actor_id, u->id) != 0) {
		e.user_id = actor_id;
		events_record(st, &e);
	}
	json_decref(p);
}

int users_create(struct store *st, const json_t *body, struct user *out, struct error *err)
{
	const char *username = NULL;
	memset(out, 0, sizeof(*out));
	if (fields_object(body, err) < 0 || fields_allowed(body, user_create_fields, err) < 0)
		return -1;
	int rc =
	    field_string(body, "username", USERNAME_MIN, USERNAME_MAX, false, &username, NULL, err);
	if (rc < 0)
		return -1;
	if (rc == 0 || !username_ok(username))
		return err_set(err, E_VALIDATION,
			       "username is required: %d to %d letters, digits, '.', '_' or '-'",
			       USERNAME_MIN, USERNAME_MAX);
	if (!json_object_get(body, "password"))
		return err_set(err, E_VALIDATION, "password is required");
	id_new(out->id);
	out->username = xstrdup(username);
	out->max_containers = -1;
	out->created_at = out->updated_at = now_ms();
	if (apply_profile(body, out, err) < 0 || insert_user(st, out, err) < 0) {
		user_clear(out);
		return -1;
	}
	user_event(st, "user.created", out, NULL);
	return 0;
}

int users_update(struct store *st, const char *actor_id, const char *id, const json_t *body,
		 struct user *out, struct error *err)
{
	bool banned, was_banned, was_admin;
	int pw;
	memset(out, 0, sizeof(*out));
	if (fields_object(body, err) < 0 || fields_allowed(body, user_update_fields, err) < 0)
		return -1;
	if (store_user_get(st, id, out, err) < 0) {
		if (err->code == E_NOT_FOUND)
			err_set(err, E_NOT_FOUND, "User not found");
		return -1;
	}
	was_banned = banned = out->is_banned;
	was_admin = out->is_admin;
	if (field_bool(body, "is_banned", &banned, err) < 0 ||
	    (pw = apply_profile(body, out, err)) < 0)
		goto fail;
	out->is_banned = banned;
	if (strcmp(actor_id, id) == 0 && (banned || !out->is_admin)) {
		err_set(err, E_VALIDATION, "you cannot ban yourself or drop your own admin role");
		goto fail;
	}
	out->updated_at = now_ms();
	if (store_user_update(st, out, err) < 0)
		goto fail;
	/* A ban or a new password ends the user's sessions. */
	if (((banned && !was_banned) || pw > 0) && store_user_bump_session(st, id, err) < 0)
		goto fail;
	auth_cache_invalidate();
	revoke_note(REVOKE_USER, id, false);
	if (banned != was_banned)
		user_event(st, banned ? "user.banned" : "user.unbanned", out, actor_id);
	if (out->is_admin != was_admin)
		user_event(st, "user.role_changed", out, actor_id);
	/* Read back what the store holds (session generation included). */
	user_clear(out);
	return store_user_get(st, id, out, err);
fail:
	user_clear(out);
	return -1;
}

int users_set_password(struct store *st, const char *login, const char *password, struct error *err)
{
	struct user u = {0};
	char hash[AUTH_PASSWORD_HASH_MAX];
	int rc = -1;
	if (store_user_find_login(st, login, &u, err) < 0 || password_check(password, err) < 0 ||
	    auth_password_hash(password, hash, err) < 0)
		goto out;
	free(u.password_hash);
	u.password_hash = xstrdup(hash);
	u.updated_at = now_ms();
	if (store_user_update(st, &u, err) < 0 || store_user_bump_session(st, u.id, err) < 0)
		goto out;
	auth_cache_invalidate();
	revoke_note(REVOKE_USER, u.id, false);
	rc = 0;
out:
	user_clear(&u);
	return rc;
}

struct bootstrap {
	struct platform *pf;
	struct user admin;
};

static int bootstrap_tx(struct store *st, void *arg, struct error *err)
{
	struct bootstrap *b = arg;
	char secret[AUTH_TOKEN_SECRET_LEN + 1];
	if (insert_user(st, &b->admin, err) < 0 ||
	    tokens_insert_new(st, b->admin.id, "admin-bootstrap",
			      auth_permission_template_new("full_access"), secret, err) < 0)
		return -1;
	_cleanup_free_ char *path = xasprintf("%s/%s", b->pf->cfg.state_dir, ADMIN_TOKEN_FILE);
	_cleanup_free_ char *line = xasprintf("%s\n", secret);
	int rc = write_file_atomic(path, line, strlen(line), 0600, err);
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(line, strlen(line));
	return rc;
}

int users_bootstrap(struct platform *pf, bool *created, struct error *err)
{
	int64_t count = 0;
	*created = false;
	if (store_user_count(pf->store, &count, err) < 0)
		return -1;
	if (count > 0)
		return 0;
	/* A random password nobody is shown: the admin works with the token file
	 * and sets a password with `hoodyd users passwd admin` when needed. */
	char pw[AUTH_TOKEN_SECRET_LEN + 4], hash[AUTH_PASSWORD_HASH_MAX];
	auth_token_secret_new(pw);
	memcpy(pw, "Aa1-", 4);
	int rc = auth_password_hash(pw, hash, err);
	sodium_memzero(pw, sizeof(pw));
	if (rc < 0)
		return -1;
	struct bootstrap b = {.pf = pf};
	id_new(b.admin.id);
	b.admin.username = xstrdup("admin");
	b.admin.password_hash = xstrdup(hash);
	b.admin.is_admin = true;
	b.admin.max_containers = -1;
	b.admin.created_at = b.admin.updated_at = now_ms();
	rc = store_tx(pf->store, bootstrap_tx, &b, err);
	user_clear(&b.admin);
	*created = rc == 0;
	return rc;
}

/* user_json_new of *u when rc is 0; u is cleared either way. */
static int answer(int rc, struct user *u, json_t **data_new)
{
	if (rc == 0)
		*data_new = user_json_new(u);
	user_clear(u);
	return rc;
}

int users_get_json(struct platform *pf, const char *id, json_t **data_new, struct error *err)
{
	struct user u = {0};
	return answer(store_user_get(pf->store, id, &u, err), &u, data_new);
}

int users_create_json(struct platform *pf, const json_t *body, json_t **data_new, struct error *err)
{
	struct user u = {0};
	return answer(users_create(pf->store, body, &u, err), &u, data_new);
}

int users_update_json(struct platform *pf, const char *actor_id, const char *id, const json_t *body,
		      json_t **data_new, struct error *err)
{
	struct user u = {0};
	return answer(users_update(pf->store, actor_id, id, body, &u, err), &u, data_new);
}
