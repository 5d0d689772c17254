/* Authentication and accounts: passwords (argon2id), JWT sessions (HS256),
 * long-lived hdy_ tokens (only their sha256 is stored), the permission tree
 * and its templates, users and the request authenticator. */
#ifndef HOODY_PLATFORM_AUTH_H
#define HOODY_PLATFORM_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "platform/platform.h"

struct auth_token;

#define AUTH_TOKEN_PREFIX "hdy_"
/* hdy_ + 43 base64url chars (32 random bytes). */
#define AUTH_TOKEN_SECRET_LEN (4 + 43)
#define AUTH_PASSWORD_HASH_MAX 128
#define AUTH_PASSWORD_MIN 8
#define AUTH_PASSWORD_MAX 1024

/* ---- passwords ---- */
int auth_password_hash(const char *password, char out[AUTH_PASSWORD_HASH_MAX], struct error *err);
bool auth_password_verify(const char *hash, const char *password);
/* Costs what a verify costs, so unknown users are not told apart by timing. */
void auth_password_burn(const char *password);

/* ---- JWT sessions ---- */
enum jwt_kind { JWT_ACCESS, JWT_REFRESH };
#define JWT_ID_LEN 32
/* A login's refresh family and one token's id within it. */
struct jwt_ids {
	char family[JWT_ID_LEN + 1];
	char jti[JWT_ID_LEN + 1];
};
struct jwt_claims {
	char user_id[ID_LEN + 1];
	int64_t generation;
	int64_t exp;	    /* unix s */
	struct jwt_ids ids; /* "" when the token carries none */
};
/* *exp_out: unix seconds. ids (may be NULL) names the family and the jti;
 * without them the token gets a random jti and no family. */
int auth_jwt_issue(const struct platform *pf, const struct user *u, enum jwt_kind kind,
		   const struct jwt_ids *ids, char **token_new, int64_t *exp_out,
		   struct error *err);
/* E_INVALID_TOKEN (bad signature, wrong kind, malformed) or E_TOKEN_EXPIRED. */
int auth_jwt_verify(const struct platform *pf, const char *token, enum jwt_kind kind,
		    struct jwt_claims *out, struct error *err);

/* ---- hdy_ token secrets ---- */
void auth_token_secret_new(char out[AUTH_TOKEN_SECRET_LEN + 1]);
/* sha256 hex of the whole secret ("hdy_..."). */
void auth_token_hash(const char *secret, char out[65]);

/* ---- permission tree ---- */
/* Every leaf path ("containers.actions.start", ...), NULL-terminated. */
extern const char *const auth_permission_leaves[];
extern const char *const auth_permission_templates[]; /* names, NULL-terminated */
/* The full tree of booleans for a template; NULL when the name is unknown. */
json_t *auth_permission_template_new(const char *name);
/* Checks a client-supplied tree (known keys only; booleans, where a boolean on
 * a branch sets its whole subtree) and returns the full normalised tree.
 * E_VALIDATION naming the offending key. */
int auth_permissions_normalize(const json_t *in, json_t **tree_new, struct error *err);
/* Whether the tree grants leaf (a "true" on a branch grants all below). */
bool auth_permission_granted(const json_t *tree, const char *leaf);
/* The leaves that only let a token look (reads, event access, realm and
 * account reads), NULL-terminated. */
extern const char *const auth_permission_read_leaves[];
/* Whether the tree grants some leaf that is not a read leaf. */
bool auth_permission_can_write(const json_t *tree);

/* ---- IP allow-lists: entries are "*", an address or a CIDR (v4 or v6) ---- */
bool auth_ip_entry_valid(const char *entry);
/* list: JSON array of entries; NULL or empty allows everyone. */
bool auth_ip_allowed(const json_t *list, const char *ip);
/* Whether every address inner lets in, outer lets in too (ranges nest). */
bool auth_ip_list_within(const json_t *inner, const json_t *outer);

/* ---- the request authenticator ---- */
/* authorization: the raw Authorization header (may be NULL). scoped_realm: the
 * realm of the Host header or "". Fills *out (principal_clear() it). */
int auth_authenticate(struct platform *pf, const char *authorization, const char *client_ip,
		      const char *scoped_realm, struct principal *out, struct error *err);
/* Drops every cached authentication (after a token, user or session change). */
void auth_cache_invalidate(void);

/* ---- sessions (platform/sessions.c) ---- */
/* POST /users/auth/login body {username | email, password}: the session
 * document {token, refreshToken, expires_at, ..., user}. Slow (argon2id): run
 * it off the HTTP threads. E_INVALID_CREDENTIALS, E_ACCOUNT_BANNED,
 * E_RATE_LIMITED after too many failures from one address. */
int sessions_login(struct platform *pf, const json_t *body, const char *client_ip,
		   json_t **session_new, struct error *err);
#define LOGIN_FAIL_MAX 1000 /* failed logins per address per 30 min (reference 10.1) */
#define LOGIN_FAIL_SLOTS 256
/* The failed-login budget of an address: counts one failure when record;
 * whether the address is blocked. */
bool sessions_login_blocked(const char *ip, bool record);
/* A new pair for a valid refresh token of a current session. */
int sessions_refresh(struct platform *pf, const char *refresh_token, const char *client_ip,
		     json_t **session_new, struct error *err);
/* Ends every JWT session of the user (hdy_ tokens are untouched). */
int sessions_logout(struct platform *pf, const char *user_id, struct error *err);

/* ---- users (platform/users.c) ---- */
/* {username*, password*, email?, alias?, is_admin?, max_containers?} */
int users_create(struct store *st, const json_t *body, struct user *out, struct error *err);
/* {is_banned?, is_admin?, max_containers?, email?, alias?, password?} on user id. */
int users_update(struct store *st, const char *actor_id, const char *id, const json_t *body,
		 struct user *out, struct error *err);
int users_set_password(struct store *st, const char *login, const char *password,
		       struct error *err);
json_t *user_json_new(const struct user *u);
/* The same calls for the API, answering with the user object: GET
 * /users/{id} and /users/me (E_NOT_FOUND), POST /users, PUT /users/{id}. */
int users_get_json(struct platform *pf, const char *id, json_t **data_new, struct error *err);
int users_create_json(struct platform *pf, const json_t *body, json_t **data_new,
		      struct error *err);
int users_update_json(struct platform *pf, const char *actor_id, const char *id, const json_t *body,
		      json_t **data_new, struct error *err);
/* On an empty store: creates the "admin" user (random password) and an admin
 * hdy_ token written to <state_dir>/admin-token (0600). *created tells. */
int users_bootstrap(struct platform *pf, bool *created, struct error *err);

/* ---- hdy_ tokens (platform/tokens.c) ---- */
/* Creates a token for who->user_id from a request body; the returned JSON
 * holds the secret ("token"), the only time it is ever shown. */
int tokens_create(struct platform *pf, const struct principal *who, const json_t *body,
		  json_t **token_json_new, struct error *err);
int tokens_update(struct platform *pf, const struct principal *who, const char *id,
		  const json_t *body, json_t **token_json_new, struct error *err);
int tokens_get(struct platform *pf, const struct principal *who, const char *id,
	       json_t **token_json_new, struct error *err);
int tokens_delete(struct platform *pf, const struct principal *who, const char *id,
		  struct error *err);
int tokens_list(struct platform *pf, const struct principal *who, json_t **array_new,
		struct error *err);
/* Inserts an unrestricted token with the given tree (used by bootstrap). */
int tokens_insert_new(struct store *st, const char *user_id, const char *alias,
		      json_t *permissions_steal, char secret_out[AUTH_TOKEN_SECRET_LEN + 1],
		      struct error *err);
json_t *token_json_new(const struct auth_token *t);
/* GET /auth/tokens/me: {token, restrictions {has_realm_restrictions,
 * requires_realm_scope, allowed_realm_ids, allow_no_realm, active_realm_id}};
 * E_VALIDATION for a JWT session. */
int tokens_me(struct platform *pf, const struct principal *who, json_t **data_new,
	      struct error *err);
/* A new token with the same grants as token id (body {alias?, expires_at?,
 * otp_code?}); the answer carries the new secret once. */
int tokens_copy(struct platform *pf, const struct principal *who, const char *id,
		const json_t *body, json_t **token_json_new_out, struct error *err);
/* Body {realm_id, otp_code?}: adds it to (add) or removes it from the token's
 * realm_ids. Realm-restricted callers may not (E_FORBIDDEN). */
int tokens_edit_realm(struct platform *pf, const struct principal *who, const char *id,
		      const json_t *body, bool add, json_t **token_json_new_out, struct error *err);

#endif
