/* JWT sessions: login (argon2id), refresh, logout, and a per-address bound
 * on failed logins. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/platform_int.h"
#include "common/util.h"
#include "platform/auth.h"
#include "platform/defaults.h"
#include "platform/fields.h"
#include "platform/validate.h"
#include "platform/revoke.h"

#define LOGIN_FAIL_WINDOW_MS (30LL * 60 * 1000)
#define FAIL_PROBES 8

/* Failed logins per client address in a fixed window. An address takes the
 * first of FAIL_PROBES slots that is its own, free or expired; a live slot
 * of another address is never reset (that would hand an attacker a fresh
 * budget each time a second address of theirs landed on it). When all are
 * live and taken, the address shares the first one's budget. */
static struct {
	pthread_mutex_t mu;
	struct {
		char ip[48];
		int64_t window_start;
		int count;
	} slot[LOGIN_FAIL_SLOTS];
} fails = {.mu = PTHREAD_MUTEX_INITIALIZER};

static size_t ip_hash(const char *ip)
{
	size_t h = 5381;
	for (; ip && *ip; ip++)
		h = h * 33 + (unsigned char)*ip;
	return h;
}

/* Under fails.mu. The address's own live slot first, wherever it is, so
 * that a slot expiring before it never hands the address a fresh count. */
static size_t ip_slot(const char *ip, int64_t now)
{
	size_t h = ip_hash(ip);
	for (size_t i = 0; i < FAIL_PROBES; i++) {
		size_t s = (h + i) % LOGIN_FAIL_SLOTS;
		if (strcmp(fails.slot[s].ip, ip) == 0 &&
		    now - fails.slot[s].window_start <= LOGIN_FAIL_WINDOW_MS)
			return s;
	}
	for (size_t i = 0; i < FAIL_PROBES; i++) {
		size_t s = (h + i) % LOGIN_FAIL_SLOTS;
		if (!fails.slot[s].ip[0] ||
		    now - fails.slot[s].window_start > LOGIN_FAIL_WINDOW_MS) {
			snprintf(fails.slot[s].ip, sizeof(fails.slot[s].ip), "%s", ip);
			fails.slot[s].window_start = now;
			fails.slot[s].count = 0;
			return s;
		}
	}
	return h % LOGIN_FAIL_SLOTS;
}

bool sessions_login_blocked(const char *ip, bool record)
{
	int64_t now = now_ms();
	bool blocked;
	pthread_mutex_lock(&fails.mu);
	size_t s = ip_slot(ip && *ip ? ip : "?", now);
	if (record)
		fails.slot[s].count++;
	blocked = fails.slot[s].count >= LOGIN_FAIL_MAX;
	pthread_mutex_unlock(&fails.mu);
	return blocked;
}

/* The pair of a session; ids name its refresh family and the refresh
 * token's jti, which the family must record as current. */
static int session_pair_new(struct platform *pf, const struct user *u, const char *client_ip,
			    const struct jwt_ids *ids, json_t **out, struct error *err)
{
	char *access = NULL, *refresh = NULL;
	int64_t exp = 0, rexp = 0;
	struct jwt_ids access_ids = {0};
	memcpy(access_ids.family, ids->family, sizeof(access_ids.family));
	if (auth_jwt_issue(pf, u, JWT_ACCESS, &access_ids, &access, &exp, err) < 0 ||
	    auth_jwt_issue(pf, u, JWT_REFRESH, ids, &refresh, &rexp, err) < 0) {
		free(access);
		return -1;
	}
	*out = json_pack("{s:s, s:s, s:o, s:I, s:o, s:I, s:s?, s:o, s:n, s:n, s:n}", "token",
			 access, "refreshToken", refresh, "expires_at", json_time_new(exp * 1000),
			 "expires_in", (json_int_t)pf->cfg.jwt_ttl_s, "refresh_expires_at",
			 json_time_new(rexp * 1000), "refresh_expires_in",
			 (json_int_t)pf->cfg.refresh_ttl_s, "client_ip", client_ip, "user",
			 user_json_new(u), "server", "project", "container");
	session_defaults_set(pf, u->id, *out);
	free(access);
	free(refresh);
	return 0;
}

/* A family lives as long as the longest token issued in it. */
static int64_t family_expiry_ms(const struct platform *pf)
{
	int64_t ttl =
	    pf->cfg.jwt_ttl_s > pf->cfg.refresh_ttl_s ? pf->cfg.jwt_ttl_s : pf->cfg.refresh_ttl_s;
	return (now_unix() + ttl + 1) * 1000;
}

static void jwt_id_new(char out[JWT_ID_LEN + 1])
{
	random_hex(out, JWT_ID_LEN / 2);
}

static int session_new_for(struct platform *pf, const struct user *u, const char *client_ip,
			   json_t **out, struct error *err)
{
	struct jwt_ids ids;
	jwt_id_new(ids.family);
	jwt_id_new(ids.jti);
	if (store_refresh_family_insert(pf->store, ids.family, u->id, ids.jti, family_expiry_ms(pf),
					err) < 0)
		return -1;
	return session_pair_new(pf, u, client_ip, &ids, out, err);
}

/* A refresh token works once. Presenting one again means two parties hold
 * it (one of them stole it): the whole family ends, the access tokens it
 * issued included, and both must sign in again. */
static int rotate(struct platform *pf, const struct jwt_claims *c, struct jwt_ids *next,
		  struct error *err)
{
	bool rotated = false;
	if (!c->ids.family[0] || !c->ids.jti[0])
		return err_set(err, E_INVALID_TOKEN, "Invalid refresh token");
	memcpy(next->family, c->ids.family, sizeof(next->family));
	jwt_id_new(next->jti);
	if (store_refresh_family_rotate(pf->store, c->ids.family, c->ids.jti, next->jti,
					family_expiry_ms(pf), &rotated, err) < 0)
		return -1;
	if (rotated)
		return 0;
	if (store_refresh_family_revoke(pf->store, c->ids.family, err) < 0)
		return -1;
	auth_cache_invalidate();
	revoke_note(REVOKE_USER, c->user_id, false); /* the family's access tokens end */
	return err_set(err, E_INVALID_TOKEN,
		       "Refresh token already used; this session has been ended, sign in again");
}

/* Options of the public login for its browser flows (an "intent" answer, a
 * PKCE challenge, a client name). Checked, then without effect: this server
 * always answers tokens. */
static int login_options_check(const json_t *body, struct error *err)
{
	const char *mode = NULL, *ignored;
	if (field_string(body, "response_mode", 1, 16, false, &mode, NULL, err) < 0 ||
	    field_string(body, "client", 1, 100, true, &ignored, NULL, err) < 0 ||
	    field_string(body, "code_challenge", 1, 256, true, &ignored, NULL, err) < 0)
		return -1;
	if (mode && strcmp(mode, "tokens") != 0 && strcmp(mode, "intent") != 0)
		return err_set(err, E_VALIDATION, "response_mode must be tokens or intent");
	return 0;
}

int sessions_login(struct platform *pf, const json_t *body, const char *client_ip,
		   json_t **session_new, struct error *err)
{
	const char *username = NULL, *email = NULL, *password = NULL;
	struct user u = {0};
	int rc = -1;
	static const char *const allowed[] = {
	    "username", "email", "password", "response_mode", "client", "code_challenge", NULL};
	if (fields_object(body, err) < 0 || fields_allowed(body, allowed, err) < 0 ||
	    login_options_check(body, err) < 0 ||
	    field_string(body, "username", 1, 254, true, &username, NULL, err) < 0 ||
	    field_string(body, "email", 1, 254, true, &email, NULL, err) < 0 ||
	    field_string(body, "password", 1, AUTH_PASSWORD_MAX, false, &password, NULL, err) < 0)
		return -1;
	if (!username && !email)
		return err_set(err, E_VALIDATION, "username or email is required");
	if (!password)
		return err_set(err, E_VALIDATION, "password is required");
	if (sessions_login_blocked(client_ip, false))
		return err_set(err, E_RATE_LIMITED, "Too many failed logins; try again later");
	if (store_user_find_login(pf->store, username ? username : email, &u, err) < 0) {
		if (err->code != E_NOT_FOUND)
			return -1;
		auth_password_burn(password);
		sessions_login_blocked(client_ip, true);
		return err_set(err, E_INVALID_CREDENTIALS, "Invalid credentials");
	}
	if (!auth_password_verify(u.password_hash, password)) {
		sessions_login_blocked(client_ip, true);
		err_set(err, E_INVALID_CREDENTIALS, "Invalid credentials");
		goto out;
	}
	if (u.is_banned) {
		err_set(err, E_ACCOUNT_BANNED, "Account is banned");
		goto out;
	}
	rc = session_new_for(pf, &u, client_ip, session_new, err);
out:
	user_clear(&u);
	return rc;
}

int sessions_refresh(struct platform *pf, const char *refresh_token, const char *client_ip,
		     json_t **session_new, struct error *err)
{
	struct jwt_claims c;
	struct user u = {0};
	int rc = -1;
	if (!refresh_token || !*refresh_token)
		return err_set(err, E_MISSING_TOKEN, "Refresh token required");
	if (auth_jwt_verify(pf, refresh_token, JWT_REFRESH, &c, err) < 0)
		return -1;
	if (store_user_get(pf->store, c.user_id, &u, err) < 0) {
		if (err->code == E_NOT_FOUND)
			err_set(err, E_INVALID_TOKEN, "Invalid refresh token");
		return -1;
	}
	struct jwt_ids next;
	if (u.is_banned)
		err_set(err, E_ACCOUNT_BANNED, "Account is banned");
	else if (u.session_generation != c.generation)
		err_set(err, E_INVALID_TOKEN, "Session has been logged out");
	else if (rotate(pf, &c, &next, err) == 0)
		rc = session_pair_new(pf, &u, client_ip, &next, session_new, err);
	user_clear(&u);
	return rc;
}

int sessions_logout(struct platform *pf, const char *user_id, struct error *err)
{
	if (store_user_bump_session(pf->store, user_id, err) < 0)
		return -1;
	auth_cache_invalidate();
	revoke_note(REVOKE_USER, user_id, false);
	return 0;
}
