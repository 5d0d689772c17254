/* Passwords, JWT sessions, hdy_ secrets, the permission tree and the request
 * authenticator with its small identity cache. */
#include "platform/platform_int.h"
#include "platform/auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jwt.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

/* ------------------------------------------------------------- passwords */

/* INTERACTIVE limits: a login costs ~0.1 s and 64 MiB, once. */
#define PW_OPS crypto_pwhash_OPSLIMIT_INTERACTIVE
#define PW_MEM crypto_pwhash_MEMLIMIT_INTERACTIVE

_Static_assert(crypto_pwhash_STRBYTES <= AUTH_PASSWORD_HASH_MAX, "hash buffer too small");

int auth_password_hash(const char *password, char out[AUTH_PASSWORD_HASH_MAX], struct error *err)
{
	if (crypto_pwhash_str(out, password, strlen(password), PW_OPS, PW_MEM) != 0)
		return err_set(err, E_NOMEM, "password hashing ran out of memory");
	return 0;
}

bool auth_password_verify(const char *hash, const char *password)
{
	if (!hash || !password)
		return false;
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

static char burn_hash[crypto_pwhash_STRBYTES];
static pthread_once_t burn_once = PTHREAD_ONCE_INIT;

static void burn_init(void)
{
	if (crypto_pwhash_str(burn_hash, "hoody-dummy", 11, PW_OPS, PW_MEM) != 0)
		burn_hash[0] = '\0';
}

void auth_password_burn(const char *password)
{
	pthread_once(&burn_once, burn_init);
	if (burn_hash[0])
		(void)auth_password_verify(burn_hash, password ? password : "");
}

/* ------------------------------------------------------------------ JWT */

static const char *const jwt_kind_names[] = {[JWT_ACCESS] = "access", [JWT_REFRESH] = "refresh"};

int auth_jwt_issue(const struct platform *pf, const struct user *u, enum jwt_kind kind,
		   const struct jwt_ids *ids, char **token_new, int64_t *exp_out, struct error *err)
{
	jwt_t *jwt = NULL;
	int64_t now = now_unix();
	int64_t ttl = kind == JWT_ACCESS ? pf->cfg.jwt_ttl_s : pf->cfg.refresh_ttl_s;
	char jti[JWT_ID_LEN + 1];
	if (ids && ids->jti[0])
		snprintf(jti, sizeof(jti), "%s", ids->jti);
	else
		random_hex(jti, JWT_ID_LEN / 2);
	*token_new = NULL;
	if (jwt_new(&jwt) != 0 ||
	    (ids && ids->family[0] && jwt_add_grant(jwt, "fam", ids->family) != 0) ||
	    jwt_set_alg(jwt, JWT_ALG_HS256, pf->jwt_secret, sizeof(pf->jwt_secret)) != 0 ||
	    jwt_add_grant(jwt, "sub", u->id) != 0 ||
	    jwt_add_grant(jwt, "typ", jwt_kind_names[kind]) != 0 ||
	    jwt_add_grant(jwt, "jti", jti) != 0 ||
	    jwt_add_grant_int(jwt, "gen", (long)u->session_generation) != 0 ||
	    jwt_add_grant_int(jwt, "iat", (long)now) != 0 ||
	    jwt_add_grant_int(jwt, "exp", (long)(now + ttl)) != 0 ||
	    !(*token_new = jwt_encode_str(jwt))) {
		jwt_free(jwt);
		return err_set(err, E_INTERNAL, "cannot issue a session token");
	}
	jwt_free(jwt);
	*exp_out = now + ttl;
	return 0;
}

int auth_jwt_verify(const struct platform *pf, const char *token, enum jwt_kind kind,
		    struct jwt_claims *out, struct error *err)
{
	jwt_t *jwt = NULL;
	int rc = -1;
	if (jwt_decode(&jwt, token, pf->jwt_secret, sizeof(pf->jwt_secret)) != 0 || !jwt) {
		err_set(err, E_INVALID_TOKEN, "Invalid authentication token");
		goto out;
	}
	/* The key was given, but only the algorithm we issue is acceptable. */
	const char *typ = jwt_get_grant(jwt, "typ");
	const char *sub = jwt_get_grant(jwt, "sub");
	if (jwt_get_alg(jwt) != JWT_ALG_HS256 || !typ || strcmp(typ, jwt_kind_names[kind]) != 0 ||
	    !id_valid(sub)) {
		err_set(err, E_INVALID_TOKEN, "Invalid authentication token");
		goto out;
	}
	errno = 0;
	long gen = jwt_get_grant_int(jwt, "gen");
	long exp = errno ? 0 : jwt_get_grant_int(jwt, "exp");
	if (errno) {
		err_set(err, E_INVALID_TOKEN, "Invalid authentication token");
		goto out;
	}
	if (now_unix() >= exp) {
		err_set(err, E_TOKEN_EXPIRED, "Token has expired");
		goto out;
	}
	memcpy(out->user_id, sub, ID_LEN + 1);
	out->generation = gen;
	out->exp = exp;
	const char *fam = jwt_get_grant(jwt, "fam"), *jti = jwt_get_grant(jwt, "jti");
	snprintf(out->ids.family, sizeof(out->ids.family), "%s", fam ? fam : "");
	snprintf(out->ids.jti, sizeof(out->ids.jti), "%s", jti ? jti : "");
	rc = 0;
out:
	jwt_free(jwt);
	return rc;
}

/* ------------------------------------------------------------ hdy_ secrets */

void auth_token_secret_new(char out[AUTH_TOKEN_SECRET_LEN + 1])
{
	unsigned char raw[32];
	random_bytes(raw, sizeof(raw));
	memcpy(out, AUTH_TOKEN_PREFIX, 4);
	sodium_bin2base64(out + 4, AUTH_TOKEN_SECRET_LEN + 1 - 4, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

void auth_token_hash(const char *secret, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)secret, strlen(secret));
	hex_encode(h, sizeof(h), out);
}

/* ------------------------------------------------------- permission tree */

const char *const auth_permission_leaves[] = {
    "containers.create",
    "containers.read",
    "containers.update",
    "containers.delete",
    "containers.actions.start",
    "containers.actions.stop",
    "containers.actions.restart",
    "containers.actions.exec",
    "containers.actions.logs",
    "containers.features.ai",
    "containers.features.hoody_kit",
    "containers.features.snapshots",
    "containers.features.networking",
    "containers.features.kvm",
    "projects.create",
    "projects.read",
    "projects.update",
    "projects.delete",
    "projects.members.invite",
    "projects.members.remove",
    "projects.members.change_roles",
    "financial.wallet.read",
    "financial.wallet.transfer",
    "financial.wallet.withdraw",
    "financial.billing.read",
    "financial.billing.manage_payment_methods",
    "financial.billing.download_invoices",
    "financial.server_rental.view_marketplace",
    "financial.server_rental.rent_servers",
    "financial.server_rental.extend_rentals",
    "financial.server_rental.terminate_rentals",
    "resources.vault",
    "resources.events",
    "resources.ssh_keys",
    "resources.storage_shares",
    "resources.proxy_aliases",
    "resources.firewalls",
    "resources.realms",
    "resources.auth_token_public_profile",
    "resources.create_tokens",
    "resources.read_account",
    "admin.users",
    "admin.servers",
    "admin.system",
    "admin.billing",
    "admin.monitoring",
    NULL,
};

const char *const auth_permission_templates[] = {
    "full_access", "read_only", "dev_team", "external_customer", "finance_team", NULL,
};

/* Each template grants the leaves under these prefixes. */
static const char *const tpl_full[] = {"containers", "projects", "financial",
				       "resources",  "admin",	 NULL};
static const char *const tpl_read_only[] = {"containers.read",
					    "projects.read",
					    "financial.wallet.read",
					    "financial.billing.read",
					    "financial.server_rental.view_marketplace",
					    "resources.events",
					    "resources.realms",
					    "resources.read_account",
					    NULL};
static const char *const tpl_dev_team[] = {"containers",
					   "projects.create",
					   "projects.read",
					   "projects.update",
					   "resources.events",
					   "resources.ssh_keys",
					   "resources.storage_shares",
					   "resources.proxy_aliases",
					   "resources.firewalls",
					   "resources.realms",
					   "resources.read_account",
					   NULL};
static const char *const tpl_external[] = {"containers.read",	      "containers.actions.start",
					   "containers.actions.stop", "containers.actions.restart",
					   "projects.read",	      NULL};
static const char *const tpl_finance[] = {
    "financial",	"containers.read",	  "projects.read",
    "resources.events", "resources.read_account", NULL};
static const char *const *const tpl_grants[] = {tpl_full, tpl_read_only, tpl_dev_team, tpl_external,
						tpl_finance};

static bool has_prefix_path(const char *leaf, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(leaf, prefix, n) == 0 && (leaf[n] == '\0' || leaf[n] == '.');
}

/* Sets tree[a][b][c] = value for the dotted leaf, creating branches. */
static void tree_set(json_t *tree, const char *leaf, bool value)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", leaf);
	json_t *node = tree;
	char *save = NULL;
	char *seg = strtok_r(buf, ".", &save);
	while (seg) {
		char *next = strtok_r(NULL, ".", &save);
		if (!next) {
			json_object_set_new(node, seg, json_boolean(value));
			break;
		}
		json_t *child = json_object_get(node, seg);
		if (!json_is_object(child)) {
			child = json_object();
			json_object_set_new(node, seg, child);
		}
		node = child;
		seg = next;
	}
}

json_t *auth_permission_template_new(const char *name)
{
	for (size_t t = 0; name && auth_permission_templates[t]; t++) {
		if (strcmp(name, auth_permission_templates[t]) != 0)
			continue;
		json_t *tree = json_object();
		for (size_t i = 0; auth_permission_leaves[i]; i++) {
			bool on = false;
			for (size_t g = 0; tpl_grants[t][g] && !on; g++)
				on = has_prefix_path(auth_permission_leaves[i], tpl_grants[t][g]);
			tree_set(tree, auth_permission_leaves[i], on);
		}
		return tree;
	}
	return NULL;
}

/* Walks the dotted path; a boolean met on the way decides for its subtree.
 * Returns -1 when the path is absent, else 0/1. */
static int tree_lookup(const json_t *tree, const char *leaf)
{
	const json_t *node = tree;
	const char *p = leaf;
	while (node) {
		if (json_is_boolean(node))
			return json_is_true(node);
		if (!json_is_object(node) || !*p)
			return -1;
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		node = json_object_getn(node, p, len);
		p = dot ? dot + 1 : p + len;
	}
	return -1;
}

bool auth_permission_granted(const json_t *tree, const char *leaf)
{
	return tree_lookup(tree, leaf) == 1;
}

/* Looking, not changing: the read_only template's leaves and the other reads.
 * A token holding only these may not end sessions or erase history. */
const char *const auth_permission_read_leaves[] = {
    "containers.read",
    "projects.read",
    "financial.wallet.read",
    "financial.billing.read",
    "financial.billing.download_invoices",
    "financial.server_rental.view_marketplace",
    "resources.events",
    "resources.realms",
    "resources.read_account",
    "resources.auth_token_public_profile",
    NULL,
};

static bool is_read_leaf(const char *leaf)
{
	for (size_t i = 0; auth_permission_read_leaves[i]; i++)
		if (strcmp(auth_permission_read_leaves[i], leaf) == 0)
			return true;
	return false;
}

bool auth_permission_can_write(const json_t *tree)
{
	for (size_t i = 0; auth_permission_leaves[i]; i++)
		if (!is_read_leaf(auth_permission_leaves[i]) &&
		    auth_permission_granted(tree, auth_permission_leaves[i]))
			return true;
	return false;
}

/* Whether some leaf lives under path (path is a branch or a leaf). */
static bool known_path(const char *path, bool *is_leaf)
{
	for (size_t i = 0; auth_permission_leaves[i]; i++) {
		if (has_prefix_path(auth_permission_leaves[i], path)) {
			*is_leaf = strcmp(auth_permission_leaves[i], path) == 0;
			return true;
		}
	}
	return false;
}

/* Every key of in must be a known branch (object or boolean) or leaf (boolean). */
static int check_subtree(const json_t *in, const char *prefix, int depth, struct error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)in, key, v)
	{
		char path[128];
		bool is_leaf = false;
		int n = snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
		if (n < 0 || (size_t)n >= sizeof(path) || depth > 3 || !known_path(path, &is_leaf))
			return err_set(err, E_VALIDATION,
				       "permissions.%.80s is not a known permission", key);
		if (json_is_boolean(v))
			continue;
		if (is_leaf || !json_is_object(v))
			return err_set(err, E_VALIDATION, "permissions.%s must be a boolean%s",
				       path, is_leaf ? "" : " or an object");
		if (check_subtree(v, path, depth + 1, err) < 0)
			return -1;
	}
	return 0;
}

int auth_permissions_normalize(const json_t *in, json_t **tree_new, struct error *err)
{
	*tree_new = NULL;
	if (!json_is_object(in))
		return err_set(err, E_VALIDATION, "permissions must be an object");
	if (check_subtree(in, "", 0, err) < 0)
		return -1;
	json_t *tree = json_object();
	for (size_t i = 0; auth_permission_leaves[i]; i++)
		tree_set(tree, auth_permission_leaves[i],
			 tree_lookup(in, auth_permission_leaves[i]) == 1);
	*tree_new = tree;
	return 0;
}

/* ---------------------------------------------------------- IP allow-lists */

struct cidr {
	int family;
	unsigned char addr[16];
	int bits;
};

static bool cidr_parse(const char *s, struct cidr *out)
{
	char buf[64];
	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	out->family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(out->family, buf, out->addr) != 1)
		return false;
	int max = out->family == AF_INET ? 32 : 128;
	out->bits = max;
	if (slash) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || b < 0 || b > max)
			return false;
		out->bits = (int)b;
	}
	return true;
}

static bool cidr_contains(const struct cidr *net, const struct cidr *ip)
{
	if (net->family != ip->family)
		return false;
	int full = net->bits / 8, rest = net->bits % 8;
	if (memcmp(net->addr, ip->addr, (size_t)full) != 0)
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (net->addr[full] & mask) == (ip->addr[full] & mask);
}

bool auth_ip_entry_valid(const char *entry)
{
	struct cidr c;
	return entry && (strcmp(entry, "*") == 0 || cidr_parse(entry, &c));
}

bool auth_ip_allowed(const json_t *list, const char *ip)
{
	if (!json_is_array(list) || json_array_size(list) == 0)
		return true;
	const char *v4mapped = "::ffff:";
	if (ip && strncasecmp(ip, v4mapped, strlen(v4mapped)) == 0 && strchr(ip, '.'))
		ip += strlen(v4mapped);
	struct cidr addr;
	bool have_addr = ip && cidr_parse(ip, &addr);
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
	{
		const char *s = json_string_value(e);
		struct cidr net;
		if (s && strcmp(s, "*") == 0)
			return true;
		if (s && have_addr && cidr_parse(s, &net) && cidr_contains(&net, &addr))
			return true;
	}
	return false;
}

/* A list with no entry or a "*" lets every address in. */
static bool ip_list_open(const json_t *list)
{
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
	{
		const char *s = json_string_value(e);
		if (s && strcmp(s, "*") == 0)
			return true;
	}
	return json_array_size(list) == 0;
}

/* Whether the range entry lies wholly inside one of outer's ranges. */
static bool ip_entry_within(const char *entry, const json_t *outer)
{
	struct cidr in, out;
	size_t i;
	json_t *e;
	if (!entry || !cidr_parse(entry, &in))
		return false;
	json_array_foreach(outer, i, e)
	{
		const char *s = json_string_value(e);
		if (s && cidr_parse(s, &out) && out.bits <= in.bits && cidr_contains(&out, &in))
			return true;
	}
	return false;
}

bool auth_ip_list_within(const json_t *inner, const json_t *outer)
{
	if (!json_is_array(outer) || ip_list_open(outer))
		return true;
	if (!json_is_array(inner) || ip_list_open(inner))
		return false;
	size_t i;
	json_t *e;
	json_array_foreach(inner, i,
			   e) if (!ip_entry_within(json_string_value(e), outer)) return false;
	return true;
}

/* ---------------------------------------------------------- authenticator */

/* Who a credential names, as loaded from the store. Cached briefly so a hot
 * path costs one hash and no query; every in-process change to tokens, users
 * or sessions bumps the epoch, and the TTL bounds staleness from changes made
 * by another process (the `hoodyd users` command). */
struct ident {
	unsigned char key[crypto_hash_sha256_BYTES];
	bool valid;
	uint64_t epoch;
	int64_t cached_until_ms;
	int64_t expires_ms; /* 0 = never */
	char user_id[ID_LEN + 1];
	char token_id[ID_LEN + 1];
	bool is_admin, via_token, allow_no_realm;
	bool no_events;					/* an hdy_ token with event_access false */
	json_t *permissions, *realm_ids, *ip_whitelist; /* shared, never modified */
};

#define CACHE_SLOTS 1024
#define CACHE_TTL_MS 5000
#define TOUCH_INTERVAL_MS 60000
#define AUTH_HEADER_MAX 4096

static struct {
	pthread_mutex_t mu[CACHE_SLOTS];
	struct ident slot[CACHE_SLOTS];
} cache = {.mu = {[0 ... CACHE_SLOTS - 1] = PTHREAD_MUTEX_INITIALIZER}};
static uint64_t cache_epoch = 1;

void auth_cache_invalidate(void)
{
	__atomic_add_fetch(&cache_epoch, 1, __ATOMIC_RELEASE);
}

static void ident_clear(struct ident *id)
{
	json_decref(id->permissions);
	json_decref(id->realm_ids);
	json_decref(id->ip_whitelist);
	memset(id, 0, sizeof(*id));
}

static void ident_copy(struct ident *dst, const struct ident *src)
{
	*dst = *src;
	json_incref(dst->permissions);
	json_incref(dst->realm_ids);
	json_incref(dst->ip_whitelist);
}

static size_t slot_of(const unsigned char key[32])
{
	return ((size_t)key[0] | (size_t)key[1] << 8) % CACHE_SLOTS;
}

static bool cache_get(const unsigned char key[32], struct ident *out)
{
	size_t s = slot_of(key);
	bool hit = false;
	pthread_mutex_lock(&cache.mu[s]);
	struct ident *e = &cache.slot[s];
	if (e->valid && memcmp(e->key, key, 32) == 0 &&
	    e->epoch == __atomic_load_n(&cache_epoch, __ATOMIC_ACQUIRE) &&
	    now_ms() < e->cached_until_ms) {
		ident_copy(out, e);
		hit = true;
	}
	pthread_mutex_unlock(&cache.mu[s]);
	return hit;
}

static void cache_put(const struct ident *id)
{
	size_t s = slot_of(id->key);
	pthread_mutex_lock(&cache.mu[s]);
	ident_clear(&cache.slot[s]);
	ident_copy(&cache.slot[s], id);
	cache.slot[s].valid = true;
	pthread_mutex_unlock(&cache.mu[s]);
}

static int user_active(struct platform *pf, const char *user_id, struct user *u, struct error *err)
{
	if (store_user_get(pf->store, user_id, u, err) < 0) {
		if (err->code == E_NOT_FOUND)
			err_set(err, E_INVALID_TOKEN, "Invalid authentication token");
		return -1;
	}
	if (u->is_banned)
		return err_set(err, E_ACCOUNT_BANNED, "Account is banned");
	return 0;
}

static int load_hdy(struct platform *pf, const char *secret, const char *client_ip,
		    struct ident *id, struct error *err)
{
	struct auth_token t = {0};
	struct user u = {0};
	char hash[65];
	int rc = -1;
	auth_token_hash(secret, hash);
	if (store_token_find_hash(pf->store, hash, &t, err) < 0) {
		if (err->code == E_NOT_FOUND)
			err_set(err, E_INVALID_TOKEN, "Invalid authentication token");
		goto out;
	}
	if (!t.is_enabled) {
		err_set(err, E_INVALID_TOKEN, "Auth token is disabled");
		goto out;
	}
	if (user_active(pf, t.user_id, &u, err) < 0)
		goto out;
	int64_t now = now_ms();
	if (now - t.last_used_at > TOUCH_INTERVAL_MS || !t.last_used_ip ||
	    strcmp(t.last_used_ip, client_ip ? client_ip : "") != 0) {
		struct error terr = {0};
		(void)store_token_touch(pf->store, t.id, now, client_ip, &terr);
	}
	memcpy(id->user_id, t.user_id, sizeof(id->user_id));
	memcpy(id->token_id, t.id, sizeof(id->token_id));
	id->is_admin = u.is_admin;
	id->via_token = true;
	id->allow_no_realm = t.allow_no_realm;
	id->no_events = !t.event_access;
	id->expires_ms = t.expires_at;
	id->permissions = json_loads(t.permissions ? t.permissions : "{}", 0, NULL);
	id->realm_ids = json_loads(t.realm_ids ? t.realm_ids : "[]", 0, NULL);
	id->ip_whitelist = t.ip_whitelist ? json_loads(t.ip_whitelist, 0, NULL) : NULL;
	/* A record that does not parse must not read as "no restriction". */
	if (!json_is_object(id->permissions) || !json_is_array(id->realm_ids) ||
	    (t.ip_whitelist && !json_is_array(id->ip_whitelist))) {
		err_set(err, E_INTERNAL, "auth token %s has a corrupt permission record", t.id);
		goto out;
	}
	rc = 0;
out:
	auth_token_clear(&t);
	user_clear(&u);
	return rc;
}

static int load_jwt(struct platform *pf, const char *token, struct ident *id, struct error *err)
{
	struct jwt_claims c;
	struct user u = {0};
	int rc = -1;
	if (auth_jwt_verify(pf, token, JWT_ACCESS, &c, err) < 0)
		return -1;
	if (user_active(pf, c.user_id, &u, err) < 0)
		goto out;
	if (u.session_generation != c.generation) {
		err_set(err, E_INVALID_TOKEN, "Session has been logged out");
		goto out;
	}
	if (c.ids.family[0] && !store_refresh_family_live(pf->store, c.ids.family)) {
		err_set(err, E_INVALID_TOKEN, "Session has been ended");
		goto out;
	}
	memcpy(id->user_id, u.id, sizeof(id->user_id));
	id->is_admin = u.is_admin;
	id->allow_no_realm = true;
	id->expires_ms = c.exp * 1000;
	rc = 0;
out:
	user_clear(&u);
	return rc;
}

static bool realm_listed(const json_t *realms, const char *realm)
{
	size_t i;
	json_t *e;
	json_array_foreach(realms, i, e)
	{
		const char *s = json_string_value(e);
		if (s && strcmp(s, realm) == 0)
			return true;
	}
	return false;
}

/* What is checked on every request, cached identity or not. */
static int check_request(const struct ident *id, const char *client_ip, const char *scoped_realm,
			 struct error *err)
{
	if (id->expires_ms && now_ms() >= id->expires_ms)
		return err_set(err, E_TOKEN_EXPIRED, "Token has expired");
	if (!id->via_token)
		return 0;
	if (!auth_ip_allowed(id->ip_whitelist, client_ip))
		return err_set(err, E_FORBIDDEN, "IP address not allowed for this auth token");
	if (scoped_realm[0] && json_array_size(id->realm_ids) &&
	    !realm_listed(id->realm_ids, scoped_realm))
		return err_set(err, E_FORBIDDEN, "Auth token is not valid for this realm");
	if (!scoped_realm[0] && !id->allow_no_realm)
		return err_set(err, E_FORBIDDEN, "Auth token must be used on a realm subdomain");
	return 0;
}

/* "Bearer <x>" or a bare hdy_ token. */
static int credential_of(const char *authorization, const char **out, struct error *err)
{
	const char *a = authorization;
	while (a && (*a == ' ' || *a == '\t'))
		a++;
	if (!a || !*a)
		return err_set(err, E_MISSING_TOKEN, "Authentication token required");
	if (strlen(a) > AUTH_HEADER_MAX)
		return err_set(err, E_INVALID_TOKEN, "Invalid authentication token");
	if (strncasecmp(a, "Bearer", 6) == 0 && (a[6] == ' ' || a[6] == '\0')) {
		a += 6;
		while (*a == ' ')
			a++;
		if (!*a)
			return err_set(err, E_MISSING_TOKEN, "Authentication token required");
	} else if (strncmp(a, AUTH_TOKEN_PREFIX, 4) != 0) {
		return err_set(err, E_INVALID_TOKEN, "Invalid authentication token");
	}
	*out = a;
	return 0;
}

int auth_authenticate(struct platform *pf, const char *authorization, const char *client_ip,
		      const char *scoped_realm, struct principal *out, struct error *err)
{
	struct ident id = {0};
	const char *cred = NULL;
	int rc = -1;
	memset(out, 0, sizeof(*out));
	if (credential_of(authorization, &cred, err) < 0)
		return -1;
	crypto_hash_sha256(id.key, (const unsigned char *)cred, strlen(cred));
	if (!cache_get(id.key, &id)) {
		id.epoch = __atomic_load_n(&cache_epoch, __ATOMIC_ACQUIRE);
		if (strncmp(cred, AUTH_TOKEN_PREFIX, 4) == 0
			? load_hdy(pf, cred, client_ip, &id, err)
			: load_jwt(pf, cred, &id, err))
			goto out;
		id.cached_until_ms = now_ms() + CACHE_TTL_MS;
		cache_put(&id);
	}
	if (check_request(&id, client_ip, scoped_realm, err) < 0)
		goto out;
	memcpy(out->user_id, id.user_id, sizeof(out->user_id));
	memcpy(out->token_id, id.token_id, sizeof(out->token_id));
	snprintf(out->scoped_realm, sizeof(out->scoped_realm), "%s", scoped_realm);
	out->is_admin = id.is_admin;
	out->via_token = id.via_token;
	out->no_events = id.no_events;
	out->permissions = json_incref(id.permissions);
	out->token_realm_ids = json_incref(id.realm_ids);
	rc = 0;
out:
	ident_clear(&id);
	return rc;
}
