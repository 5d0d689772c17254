/* Long-lived hdy_ auth tokens: validation of every field, delegation rules
 * (a token never grants more than its creator holds), and the JSON shape.
 * The secret exists only in the create response; the store keeps its sha256. */
#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "platform/platform_int.h"
#include "common/util.h"
#include "platform/auth.h"
#include "platform/events.h"
#include "platform/fields.h"
#include "platform/validate.h"
#include "platform/revoke.h"

#define ALIAS_MAX 254
#define REALMS_MAX 100
#define IP_ENTRIES_MAX 100
#define REAUTH_DENIED_TTL_MS (30LL * 86400 * 1000)
#define DAY_MS (86400LL * 1000)
#define PUBLIC_STORAGE_MAX (64 * 1024)

static const char *const adjectives[] = {
    "clever", "brave", "calm",	 "eager", "gentle", "happy", "jolly", "kind",  "lively", "mighty",
    "nimble", "proud", "quiet",	 "rapid", "silent", "swift", "witty", "zesty", "bold",	 "bright",
    "cosmic", "fuzzy", "golden", "lucky", "misty",  "noble", "sunny", "tidy",  "vivid",	 "wild",
};
static const char *const animals[] = {
    "dolphin", "otter",	 "falcon",  "badger", "lynx",	"panda",  "heron",  "koala",
    "lemur",   "marten", "narwhal", "ocelot", "puffin", "quokka", "raven",  "seal",
    "tapir",   "urchin", "walrus",  "yak",    "zebra",	"beaver", "condor", "dingo",
    "ferret",  "gecko",	 "ibis",    "jackal", "kiwi",	"moose",
};

static char *random_alias_new(void)
{
	unsigned char r[2];
	random_bytes(r, sizeof(r));
	return xasprintf("%s-%s", adjectives[r[0] % ARRAY_SIZE(adjectives)],
			 animals[r[1] % ARRAY_SIZE(animals)]);
}

json_t *token_json_new(const struct auth_token *t)
{
	json_t *perm = json_loads(t->permissions ? t->permissions : "{}", 0, NULL);
	json_t *realms = json_loads(t->realm_ids ? t->realm_ids : "[]", 0, NULL);
	json_t *ips = json_loads(t->ip_whitelist ? t->ip_whitelist : "[\"*\"]", 0, NULL);
	json_t *storage =
	    t->public_storage ? json_loads(t->public_storage, JSON_DECODE_ANY, NULL) : NULL;
	return json_pack("{s:s, s:s?, s:s, s:s?, s:o, s:o, s:o, s:b, s:o, s:o, s:b, s:b, s:b, s:n, "
			 "s:i, s:o, s:s?, s:o, s:o}",
			 "id", t->id, "alias", t->alias, "prefix", AUTH_TOKEN_PREFIX, "public_key",
			 t->public_key, "public_storage", storage ? storage : json_null(),
			 "ip_whitelist", ips ? ips : json_array(), "realm_ids",
			 realms ? realms : json_array(), "allow_no_realm", t->allow_no_realm,
			 "permissions", perm ? perm : json_object(), "expires_at",
			 json_time_new(t->expires_at), "is_enabled", t->is_enabled, "vault_access",
			 t->vault_access, "event_access", t->event_access, "created_by_token_id",
			 "delegation_depth", 0, "last_used_at", json_time_new(t->last_used_at),
			 "last_used_ip", t->last_used_ip, "created_at",
			 json_time_new(t->created_at), "updated_at", json_time_new(t->updated_at));
}

static void set_text(char **field, json_t *value_steal)
{
	free(*field);
	*field = json_dumps(value_steal, JSON_COMPACT);
	json_decref(value_steal);
}

/* ---------------------------------------------------------------- fields */

static int alias_field(const json_t *body, struct auth_token *t, struct error *err)
{
	const char *alias = NULL;
	bool null = false;
	int rc = field_string(body, "alias", 1, ALIAS_MAX, true, &alias, &null, err);
	if (rc <= 0)
		return rc;
	for (const char *p = alias; !null && *p; p++)
		if (!isalnum((unsigned char)*p) && *p != ' ' && *p != '_' && *p != '-')
			return err_set(err, E_VALIDATION,
				       "alias may contain only letters, digits, "
				       "spaces, '_' and '-'");
	free(t->alias);
	t->alias = null ? random_alias_new() : xstrdup(alias);
	return 1;
}

static int replace_text(char **field, int rc, char *value_new)
{
	if (rc > 0) {
		free(*field);
		*field = value_new;
	}
	return rc;
}

static int public_key_field(const json_t *body, struct auth_token *t, struct error *err)
{
	char *key = NULL;
	return replace_text(&t->public_key, field_ed25519_hex(body, "public_key", &key, err), key);
}

/* Any JSON a client keeps next to its token (reference: at most 64 KB). */
static int public_storage_field(const json_t *body, struct auth_token *t, struct error *err)
{
	char *text = NULL;
	int rc = field_json_text(body, "public_storage", PUBLIC_STORAGE_MAX, false, &text, err);
	return replace_text(&t->public_storage, rc, text);
}

/* A TOTP code or backup code, which the public API requires from a JWT
 * session with two-factor login. This server has no two-factor login, so a
 * well-formed code is accepted and has no effect. */
static int otp_code_field(const json_t *body, struct error *err)
{
	const char *code = NULL;
	int rc = field_string(body, "otp_code", 6, 10, false, &code, NULL, err);
	for (const char *p = code; rc > 0 && *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-')
			return err_set(err, E_VALIDATION,
				       "otp_code must be a 6-digit code or a "
				       "backup code");
	return rc;
}

/* permission_template wins over permissions. *tree_new stays NULL when
 * neither is given. */
static int permissions_field(const json_t *body, json_t **tree_new, struct error *err)
{
	const char *tpl = NULL;
	*tree_new = NULL;
	int rc = field_string(body, "permission_template", 1, 64, true, &tpl, NULL, err);
	if (rc < 0)
		return -1;
	if (rc && tpl) {
		if (!(*tree_new = auth_permission_template_new(tpl)))
			return err_set(err, E_VALIDATION,
				       "permission_template must be one of "
				       "full_access, read_only, dev_team, "
				       "external_customer, finance_team");
		return 1;
	}
	json_t *perm = json_object_get(body, "permissions");
	if (!perm || json_is_null(perm))
		return 0;
	return auth_permissions_normalize(perm, tree_new, err) < 0 ? -1 : 1;
}

static int realm_ids_field(const json_t *body, json_t **realms_new, struct error *err)
{
	json_t *v = json_object_get(body, "realm_ids");
	*realms_new = NULL;
	if (!v)
		return 0;
	if (json_is_null(v)) {
		*realms_new = json_array();
		return 1;
	}
	if (!json_is_array(v) || json_array_size(v) > REALMS_MAX)
		return err_set(err, E_VALIDATION, "realm_ids must be an array of at most %d ids",
			       REALMS_MAX);
	json_t *out = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		if (!id_valid(json_string_value(e))) {
			json_decref(out);
			return err_set(err, E_VALIDATION,
				       "realm_ids[%zu] must be a 24-character lowercase hex id", i);
		}
		bool dup = false;
		for (size_t j = 0; j < json_array_size(out) && !dup; j++)
			dup = json_equal(json_array_get(out, j), e);
		if (!dup)
			json_array_append(out, e);
	}
	*realms_new = out;
	return 1;
}

static int ip_entry_append(json_t *out, const char *s, size_t len, struct error *err)
{
	char buf[64];
	while (len && isspace((unsigned char)*s))
		s++, len--;
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	if (len == 0 || len >= sizeof(buf))
		return err_set(err, E_VALIDATION,
			       "ip_whitelist entries must be \"*\", an IP address "
			       "or a CIDR range");
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (!auth_ip_entry_valid(buf))
		return err_set(err, E_VALIDATION,
			       "ip_whitelist entry \"%s\" is not \"*\", an IP "
			       "address or a CIDR range",
			       buf);
	if (json_array_size(out) >= IP_ENTRIES_MAX)
		return err_set(err, E_VALIDATION, "ip_whitelist holds at most %d entries",
			       IP_ENTRIES_MAX);
	json_array_append_new(out, json_string(buf));
	return 0;
}

/* An array of entries, a comma-separated string, or "*". */
static int ip_whitelist_field(const json_t *body, json_t **list_new, struct error *err)
{
	json_t *v = json_object_get(body, "ip_whitelist");
	*list_new = NULL;
	if (!v)
		return 0;
	json_t *out = json_array();
	int rc = 0;
	if (json_is_null(v)) {
		json_array_append_new(out, json_string("*"));
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		for (const char *comma; rc == 0 && (comma = strchr(s, ',')); s = comma + 1)
			rc = ip_entry_append(out, s, (size_t)(comma - s), err);
		if (rc == 0)
			rc = ip_entry_append(out, s, strlen(s), err);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
		{
			const char *s = json_string_value(e);
			if (!s) {
				rc = err_set(err, E_VALIDATION,
					     "ip_whitelist[%zu] must be a string", i);
				break;
			}
			if ((rc = ip_entry_append(out, s, strlen(s), err)) < 0)
				break;
		}
		if (rc == 0 && json_array_size(out) == 0)
			json_array_append_new(out, json_string("*"));
	} else {
		rc = err_set(err, E_VALIDATION,
			     "ip_whitelist must be an array, a comma-separated "
			     "string or \"*\"");
	}
	if (rc < 0) {
		json_decref(out);
		return -1;
	}
	*list_new = out;
	return 1;
}

/* ISO-8601, unix seconds (or ms), "today"/"tomorrow" (end of that UTC day),
 * null = never. Must lie in the future. */
static int expires_field(const json_t *body, int64_t *out_ms, struct error *err)
{
	json_t *v = json_object_get(body, "expires_at");
	int64_t now = now_ms(), ms = -1;
	if (!v)
		return 0;
	if (json_is_null(v)) {
		*out_ms = 0;
		return 1;
	}
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);
		ms = n > 100000000000LL ? n : n * 1000;
	} else if (json_is_real(v)) {
		double d = json_real_value(v);
		ms = d > 1e11 ? (int64_t)d : (int64_t)(d * 1000);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (strcmp(s, "today") == 0 || strcmp(s, "tomorrow") == 0)
			ms = (now / DAY_MS + (s[1] == 'o' && s[2] == 'm' ? 2 : 1)) * DAY_MS - 1;
		else
			ms = iso8601_parse_ms(s);
	}
	if (ms < 0 || ms > 253402300799000LL)
		return err_set(err, E_VALIDATION,
			       "expires_at must be an ISO-8601 date, a unix "
			       "timestamp, \"today\", \"tomorrow\" or null");
	if (ms <= now)
		return err_set(err, E_VALIDATION, "expires_at must be in the future");
	*out_ms = ms;
	return 1;
}

/* ------------------------------------------------------------ delegation */

static bool realms_subset(const json_t *inner, const json_t *outer)
{
	size_t i, j;
	json_t *a, *b;
	json_array_foreach(inner, i, a)
	{
		bool found = false;
		json_array_foreach(outer, j, b) found |= json_equal(a, b);
		if (!found)
			return false;
	}
	return true;
}

static json_t *json_of(const char *text, const char *dflt)
{
	json_t *j = json_loads(text ? text : dflt, 0, NULL);
	return j ? j : json_loads(dflt, 0, NULL);
}

static int refuse_axis(const char *axis, struct error *err)
{
	return err_set(err, E_FORBIDDEN,
		       "an auth token cannot give a token more than it holds itself (%s)", axis);
}

/* A token acting for its user (creating a child, or updating any token,
 * itself included) leaves the result within its own bounds on every axis.
 * Compared on the finished record, so no field and no default escapes. */
static int check_within(const struct auth_token *t, const struct auth_token *parent,
			struct error *err)
{
	json_t *tp = json_of(t->permissions, "{}"), *pp = json_of(parent->permissions, "{}");
	json_t *tr = json_of(t->realm_ids, "[]"), *pr = json_of(parent->realm_ids, "[]");
	json_t *ti = json_of(t->ip_whitelist, "[\"*\"]"),
	       *pi = json_of(parent->ip_whitelist, "[\"*\"]");
	int rc = 0;
	for (size_t i = 0; auth_permission_leaves[i] && rc == 0; i++)
		if (auth_permission_granted(tp, auth_permission_leaves[i]) &&
		    !auth_permission_granted(pp, auth_permission_leaves[i]))
			rc = err_set(err, E_FORBIDDEN,
				     "this auth token cannot grant %s, which it "
				     "does not hold",
				     auth_permission_leaves[i]);
	if (rc == 0 && json_array_size(pr) && (json_array_size(tr) == 0 || !realms_subset(tr, pr)))
		rc = refuse_axis("realm_ids", err);
	else if (rc == 0 && t->allow_no_realm && !parent->allow_no_realm)
		rc = refuse_axis("allow_no_realm", err);
	else if (rc == 0 && t->event_access && !parent->event_access)
		rc = refuse_axis("event_access", err);
	else if (rc == 0 && t->vault_access && !parent->vault_access)
		rc = refuse_axis("vault_access", err);
	else if (rc == 0 && !auth_ip_list_within(ti, pi))
		rc = refuse_axis("ip_whitelist", err);
	else if (rc == 0 && parent->expires_at &&
		 (!t->expires_at || t->expires_at > parent->expires_at))
		rc = refuse_axis("expires_at", err);
	json_decref(tp);
	json_decref(pp);
	json_decref(tr);
	json_decref(pr);
	json_decref(ti);
	json_decref(pi);
	return rc;
}

/* The record of the token the caller authenticated with. */
static int caller_token(struct platform *pf, const struct principal *who, struct auth_token *out,
			struct error *err)
{
	if (store_token_get_owned(pf->store, who->user_id, who->token_id, out, err) < 0)
		return err->code == E_NOT_FOUND
			   ? err_set(err, E_INVALID_TOKEN, "Auth token no longer exists")
			   : -1;
	return 0;
}

/* For a token caller: t stays within the caller token as it is now (a
 * token changing itself cannot lift its own restrictions). */
static int within_caller(struct platform *pf, const struct principal *who,
			 const struct auth_token *t, struct error *err)
{
	struct auth_token parent = {0};
	int rc = 0;
	if (who->via_token)
		rc = caller_token(pf, who, &parent, err) < 0 || check_within(t, &parent, err) < 0
			 ? -1
			 : 0;
	auth_token_clear(&parent);
	return rc;
}

/* A child starts with its parent's restrictions, so that leaving a field
 * out never widens anything; naming a wider value is refused. */
static void inherit_restrictions(struct auth_token *t, const struct auth_token *parent)
{
	free(t->realm_ids);
	t->realm_ids = xstrdup(parent->realm_ids ? parent->realm_ids : "[]");
	free(t->ip_whitelist);
	t->ip_whitelist = parent->ip_whitelist ? xstrdup(parent->ip_whitelist) : NULL;
	t->allow_no_realm = parent->allow_no_realm;
	t->event_access = parent->event_access;
	t->vault_access = parent->vault_access;
	t->expires_at = parent->expires_at;
}

/* Shared by create and update: every optional field present in body. */
static int apply_fields(const struct principal *who, const json_t *body, bool updating,
			struct auth_token *t, json_t **perms_out, struct error *err)
{
	json_t *perms = NULL, *realms = NULL, *ips = NULL;
	int rc = -1;
	if (alias_field(body, t, err) < 0 || public_key_field(body, t, err) < 0 ||
	    public_storage_field(body, t, err) < 0 || otp_code_field(body, err) < 0 ||
	    permissions_field(body, &perms, err) < 0 || realm_ids_field(body, &realms, err) < 0 ||
	    ip_whitelist_field(body, &ips, err) < 0 ||
	    expires_field(body, &t->expires_at, err) < 0 ||
	    field_bool(body, "allow_no_realm", &t->allow_no_realm, err) < 0 ||
	    field_bool(body, "vault_access", &t->vault_access, err) < 0 ||
	    field_bool(body, "event_access", &t->event_access, err) < 0)
		goto out;
	if (updating && realms && who->via_token && json_array_size(who->token_realm_ids)) {
		err_set(err, E_FORBIDDEN, "a realm-restricted auth token cannot change realm_ids");
		goto out;
	}
	if (realms)
		set_text(&t->realm_ids, json_incref(realms));
	if (ips)
		set_text(&t->ip_whitelist, json_incref(ips));
	*perms_out = json_incref(perms);
	rc = 0;
out:
	json_decref(perms);
	json_decref(realms);
	json_decref(ips);
	return rc;
}

static int require_token_admin(const struct principal *who, struct error *err)
{
	return principal_require(who, "resources.create_tokens", err);
}

/* ------------------------------------------------------------ operations */

static void token_defaults(struct auth_token *t, const char *user_id)
{
	id_new(t->id);
	memcpy(t->user_id, user_id, sizeof(t->user_id));
	t->alias = random_alias_new();
	t->realm_ids = xstrdup("[]");
	t->ip_whitelist = xstrdup("[\"*\"]");
	t->allow_no_realm = true;
	t->is_enabled = true;
	t->event_access = true;
	t->created_at = t->updated_at = now_ms();
}

static int insert_with_secret(struct store *st, struct auth_token *t,
			      char secret_out[AUTH_TOKEN_SECRET_LEN + 1], struct error *err)
{
	auth_token_secret_new(secret_out);
	auth_token_hash(secret_out, t->token_hash);
	if (store_token_insert(st, t, err) < 0) {
		sodium_memzero(secret_out, AUTH_TOKEN_SECRET_LEN + 1);
		return -1;
	}
	return 0;
}

/* Inserts a new token; its JSON carries the secret, this once. */
static int insert_answer(struct platform *pf, struct auth_token *t, json_t **token_json_new_out,
			 struct error *err)
{
	char secret[AUTH_TOKEN_SECRET_LEN + 1];
	if (insert_with_secret(pf->store, t, secret, err) < 0)
		return -1;
	*token_json_new_out = token_json_new(t);
	json_object_set_new(*token_json_new_out, "token", json_string(secret));
	sodium_memzero(secret, sizeof(secret));
	return 0;
}

int tokens_insert_new(struct store *st, const char *user_id, const char *alias,
		      json_t *permissions_steal, char secret_out[AUTH_TOKEN_SECRET_LEN + 1],
		      struct error *err)
{
	struct auth_token t = {0};
	token_defaults(&t, user_id);
	free(t.alias);
	t.alias = xstrdup(alias);
	set_text(&t.permissions, permissions_steal);
	int rc = insert_with_secret(st, &t, secret_out, err);
	auth_token_clear(&t);
	return rc;
}

/* deny_reauthorization: no token creation, no vault, bounded lifetime. */
static int deny_reauth(const json_t *body, json_t *perms, struct auth_token *t, struct error *err)
{
	bool deny = false;
	if (field_bool(body, "deny_reauthorization", &deny, err) < 0)
		return -1;
	if (!deny)
		return 0;
	if (json_object_get(body, "permissions") &&
	    (auth_permission_granted(perms, "resources.create_tokens") ||
	     auth_permission_granted(perms, "resources.vault")))
		return err_set(err, E_VALIDATION,
			       "deny_reauthorization cannot be combined with "
			       "resources.create_tokens or resources.vault");
	json_object_set_new(json_object_get(perms, "resources"), "create_tokens", json_false());
	json_object_set_new(json_object_get(perms, "resources"), "vault", json_false());
	t->vault_access = false;
	if (!t->expires_at)
		t->expires_at = now_ms() + REAUTH_DENIED_TTL_MS;
	return 0;
}

static const char *const token_create_fields[] = {"alias",
						  "public_key",
						  "permission_template",
						  "permissions",
						  "realm_ids",
						  "ip_whitelist",
						  "expires_at",
						  "allow_no_realm",
						  "vault_access",
						  "event_access",
						  "deny_reauthorization",
						  "public_storage",
						  "otp_code",
						  NULL};
static const char *const token_update_fields[] = {"alias",
						  "public_key",
						  "permission_template",
						  "permissions",
						  "realm_ids",
						  "ip_whitelist",
						  "expires_at",
						  "allow_no_realm",
						  "vault_access",
						  "event_access",
						  "is_enabled",
						  "public_storage",
						  "otp_code",
						  "deny_reauthorization",
						  NULL};

/* auth.token.<what> in the owner's log, inside the token's realms; the
 * payload names the token, never its secret. */
static void token_event(struct platform *pf, const struct auth_token *t, const char *type)
{
	json_t *p = json_pack("{s:s?, s:b}", "alias", t->alias, "is_enabled", t->is_enabled);
	struct event_spec e = {.type = type,
			       .resource_type = "auth_token",
			       .resource_id = t->id,
			       .user_id = t->user_id,
			       .realm_ids = t->realm_ids,
			       .payload = p};
	events_emit(pf, &e);
	json_decref(p);
}

int tokens_create(struct platform *pf, const struct principal *who, const json_t *body,
		  json_t **token_json_new_out, struct error *err)
{
	struct auth_token t = {0}, parent = {0};
	json_t *perms = NULL;
	int rc = -1;
	if (fields_object(body, err) < 0 || fields_allowed(body, token_create_fields, err) < 0 ||
	    require_token_admin(who, err) < 0)
		return -1;
	token_defaults(&t, who->user_id);
	if (who->via_token) {
		if (caller_token(pf, who, &parent, err) < 0)
			goto out;
		inherit_restrictions(&t, &parent);
	}
	if (apply_fields(who, body, false, &t, &perms, err) < 0)
		goto out;
	/* Without a choice a session gets everything, a token what it holds. */
	if (!perms)
		perms = who->via_token ? json_deep_copy(who->permissions)
				       : auth_permission_template_new("full_access");
	if (deny_reauth(body, perms, &t, err) < 0)
		goto out;
	set_text(&t.permissions, json_incref(perms));
	if (who->via_token && check_within(&t, &parent, err) < 0)
		goto out;
	rc = insert_answer(pf, &t, token_json_new_out, err);
	if (rc == 0)
		token_event(pf, &t, "auth.token.created");
out:
	json_decref(perms);
	auth_token_clear(&t);
	auth_token_clear(&parent);
	return rc;
}

/* The caller's own token, visible to it (realm-restricted tokens see only
 * tokens inside their realms). */
static int load_owned(struct platform *pf, const struct principal *who, const char *id,
		      struct auth_token *t, struct error *err)
{
	if (!id_valid(id))
		return err_set(err, E_INVALID_ID, "Invalid ID format");
	if (store_token_get_owned(pf->store, who->user_id, id, t, err) < 0 ||
	    !principal_sees_realms(who, t->realm_ids)) {
		if (err->code == E_NOT_FOUND || err->code == E_OK)
			err_set(err, E_NOT_FOUND, "Auth token not found");
		auth_token_clear(t);
		return -1;
	}
	return 0;
}

/* Writes a changed token; the auth cache forgets the old one. */
static int save_changed(struct platform *pf, struct auth_token *t, json_t **token_json_new_out,
			struct error *err)
{
	t->updated_at = now_ms();
	if (store_token_update(pf->store, t, err) < 0)
		return -1;
	auth_cache_invalidate();
	revoke_note(REVOKE_USER, t->user_id, false);
	token_event(pf, t, "auth.token.updated");
	*token_json_new_out = token_json_new(t);
	return 0;
}

int tokens_update(struct platform *pf, const struct principal *who, const char *id,
		  const json_t *body, json_t **token_json_new_out, struct error *err)
{
	struct auth_token t = {0};
	json_t *perms = NULL;
	int rc = -1;
	if (fields_object(body, err) < 0 || fields_allowed(body, token_update_fields, err) < 0 ||
	    require_token_admin(who, err) < 0 || load_owned(pf, who, id, &t, err) < 0)
		return -1;
	bool was_enabled = t.is_enabled;
	if (apply_fields(who, body, true, &t, &perms, err) < 0 ||
	    field_bool(body, "is_enabled", &t.is_enabled, err) < 0)
		goto out;
	/* deny_reauthorization narrows the tree the token already has. */
	if (!perms && json_object_get(body, "deny_reauthorization"))
		perms = json_loads(t.permissions ? t.permissions : "{}", 0, NULL);
	if (deny_reauth(body, perms, &t, err) < 0)
		goto out;
	if (perms)
		set_text(&t.permissions, json_incref(perms));
	if (within_caller(pf, who, &t, err) < 0)
		goto out;
	rc = save_changed(pf, &t, token_json_new_out, err);
	if (rc == 0 && t.is_enabled != was_enabled)
		token_event(pf, &t, t.is_enabled ? "auth.token.enabled" : "auth.token.disabled");
out:
	json_decref(perms);
	auth_token_clear(&t);
	return rc;
}

int tokens_get(struct platform *pf, const struct principal *who, const char *id,
	       json_t **token_json_new_out, struct error *err)
{
	struct auth_token t = {0};
	if (principal_require(who, "resources.read_account", err) < 0 ||
	    load_owned(pf, who, id, &t, err) < 0)
		return -1;
	*token_json_new_out = token_json_new(&t);
	auth_token_clear(&t);
	return 0;
}

int tokens_delete(struct platform *pf, const struct principal *who, const char *id,
		  struct error *err)
{
	struct auth_token t = {0};
	if (require_token_admin(who, err) < 0 || load_owned(pf, who, id, &t, err) < 0)
		return -1;
	int rc = store_token_delete_owned(pf->store, who->user_id, id, err);
	if (rc == 0) {
		auth_cache_invalidate();
		revoke_note(REVOKE_USER, t.user_id, false);
		token_event(pf, &t, "auth.token.deleted");
	}
	auth_token_clear(&t);
	return rc;
}

int tokens_list(struct platform *pf, const struct principal *who, json_t **array_new,
		struct error *err)
{
	struct auth_token *arr = NULL;
	size_t n = 0;
	if (principal_require(who, "resources.read_account", err) < 0 ||
	    store_token_list(pf->store, who->user_id, &arr, &n, err) < 0)
		return -1;
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++) {
		if (principal_sees_realms(who, arr[i].realm_ids))
			json_array_append_new(out, token_json_new(&arr[i]));
		auth_token_clear(&arr[i]);
	}
	free(arr);
	*array_new = out;
	return 0;
}

/* ------------------------------------------------ me, copy and realm edits */

int tokens_me(struct platform *pf, const struct principal *who, json_t **data_new,
	      struct error *err)
{
	struct auth_token t = {0};
	if (!who->via_token)
		return err_set(err, E_VALIDATION,
			       "This request is not authenticated with an auth token");
	/* The caller's own token, whatever realm host it calls through. */
	if (store_token_get_owned(pf->store, who->user_id, who->token_id, &t, err) < 0)
		return -1;
	json_t *realms = realm_ids_parse(t.realm_ids);
	bool restricted = json_array_size(realms) > 0;
	*data_new =
	    json_pack("{s:o, s:{s:b, s:b, s:o, s:b, s:o}}", "token", token_json_new(&t),
		      "restrictions", "has_realm_restrictions", restricted, "requires_realm_scope",
		      restricted || !t.allow_no_realm, "allowed_realm_ids", realms,
		      "allow_no_realm", t.allow_no_realm, "active_realm_id",
		      who->scoped_realm[0] ? json_string(who->scoped_realm) : json_null());
	auth_token_clear(&t);
	return 0;
}

/* "<alias>-copy", cut to the alias limit. */
static char *copy_alias_new(const char *alias)
{
	return xasprintf("%.*s-copy", ALIAS_MAX - 5, alias ? alias : "token");
}

int tokens_copy(struct platform *pf, const struct principal *who, const char *id,
		const json_t *body, json_t **token_json_new_out, struct error *err)
{
	static const char *const allowed[] = {"alias", "expires_at", "otp_code", NULL};
	struct auth_token t = {0};
	int rc = -1;
	if (fields_object(body, err) < 0 || fields_allowed(body, allowed, err) < 0 ||
	    require_token_admin(who, err) < 0 || load_owned(pf, who, id, &t, err) < 0)
		return -1;
	char *alias = copy_alias_new(t.alias);
	free(t.alias);
	t.alias = alias;
	if (alias_field(body, &t, err) < 0 || otp_code_field(body, err) < 0 ||
	    expires_field(body, &t.expires_at, err) < 0)
		goto out;
	/* A copy grants what the original grants: the caller must hold it. */
	if (within_caller(pf, who, &t, err) < 0)
		goto out;
	id_new(t.id);
	t.is_enabled = true;
	t.last_used_at = 0;
	free(t.last_used_ip);
	t.last_used_ip = NULL;
	t.created_at = t.updated_at = now_ms();
	rc = insert_answer(pf, &t, token_json_new_out, err);
	if (rc == 0)
		token_event(pf, &t, "auth.token.created");
out:
	auth_token_clear(&t);
	return rc;
}

int tokens_edit_realm(struct platform *pf, const struct principal *who, const char *id,
		      const json_t *body, bool add, json_t **token_json_new_out, struct error *err)
{
	static const char *const allowed[] = {"realm_id", "otp_code", NULL};
	struct auth_token t = {0};
	const char *realm = NULL;
	json_t *realms = NULL;
	int rc = -1;
	if (fields_object(body, err) < 0 || fields_allowed(body, allowed, err) < 0 ||
	    otp_code_field(body, err) < 0)
		return -1;
	if (field_string(body, "realm_id", ID_LEN, ID_LEN, false, &realm, NULL, err) <= 0 ||
	    !id_valid(realm))
		return err->code ? -1
				 : err_set(err, E_VALIDATION,
					   "realm_id is required: a "
					   "24-character lowercase hex id");
	if (require_token_admin(who, err) < 0)
		return -1;
	if (who->via_token && json_array_size(who->token_realm_ids))
		return err_set(err, E_FORBIDDEN,
			       "a realm-restricted auth token cannot change realm_ids");
	if (load_owned(pf, who, id, &t, err) < 0)
		return -1;
	realms = realm_ids_parse(t.realm_ids);
	if (add && !realm_ids_has(realms, realm) && json_array_size(realms) >= REALMS_MAX) {
		err_set(err, E_VALIDATION, "a token holds at most %d realm ids", REALMS_MAX);
		goto out;
	}
	if (add) {
		realm_ids_add(realms, realm);
	} else {
		for (size_t i = json_array_size(realms); i-- > 0;)
			if (strcmp(json_string_value(json_array_get(realms, i)), realm) == 0)
				json_array_remove(realms, i);
	}
	set_text(&t.realm_ids, json_incref(realms));
	if (within_caller(pf, who, &t, err) == 0)
		rc = save_changed(pf, &t, token_json_new_out, err);
out:
	json_decref(realms);
	auth_token_clear(&t);
	return rc;
}
