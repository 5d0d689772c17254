/* Validation and normalisation of proxy permission documents (kit-api.md
 * §2.2): groups, program rules, default, enable_proxy and hooks. Everything a
 * client writes passes through here, so the access decision only ever sees
 * well-formed documents. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/platform_int.h"
#include "common/util.h"
#include "platform/proxy_internal.h"
#include "platform/validate.h"

static int bad(struct error *err, const char *fmt, const char *what)
{
	return err_set(err, E_VALIDATION, fmt, what);
}

static bool name_ok(const char *s, size_t max, bool first_alnum_lower)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool ok = isdigit(c) || c == '_' || c == '-' ||
			  (first_alnum_lower ? islower(c) : isalpha(c));
		if (!ok || (first_alnum_lower && i == 0 && !(islower(c) || isdigit(c))))
			return false;
	}
	return true;
}

bool proxy_group_name_valid(const char *s)
{
	return s && name_ok(s, PROXY_GROUP_NAME_MAX, false);
}

bool proxy_service_name_valid(const char *s)
{
	return s && name_ok(s, 50, true);
}

/* Keys of o all in allowed. */
static int only_keys(const json_t *o, const char *const *allowed, const char *what,
		     struct error *err)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v)
	{
		size_t i = 0;
		while (allowed[i] && strcmp(allowed[i], k) != 0)
			i++;
		if (!allowed[i])
			return err_set(err, E_VALIDATION, "%s: unknown field %.64s", what, k);
	}
	return 0;
}

static int str_member(const json_t *o, const char *key, size_t max, bool required, const char **out,
		      struct error *err)
{
	json_t *v = json_object_get(o, key);
	*out = NULL;
	if (!v && !required)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
		return err_set(err, E_VALIDATION, "%s must be a string of 1 to %zu characters", key,
			       max);
	*out = json_string_value(v);
	return 1;
}

static bool hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

/* A plaintext password is hashed now; 64 lowercase hex is taken as the
 * sha256(salt + password) a client computed itself (§2.2). */
static int password_group(const json_t *in, json_t **out, struct error *err)
{
	static const char *const keys[] = {"username", "password", "salt", "algorithm", NULL};
	const char *user, *pass, *salt, *alg;
	if (only_keys(in, keys, "password group", err) < 0 ||
	    str_member(in, "username", 128, true, &user, err) < 0 ||
	    str_member(in, "password", 1024, true, &pass, err) < 0 ||
	    str_member(in, "salt", 256, true, &salt, err) < 0 ||
	    str_member(in, "algorithm", 16, false, &alg, err) < 0)
		return -1;
	if (alg && strcmp(alg, "sha256") != 0)
		return bad(err, "algorithm must be %s", "sha256");
	char hash[65];
	if (hex64(pass))
		snprintf(hash, sizeof(hash), "%s", pass);
	else
		proxy_password_hash(salt, pass, hash);
	*out = json_pack("{s:s, s:s, s:s, s:s}", "username", user, "password", hash, "salt", salt,
			 "algorithm", "sha256");
	return 0;
}

static int jwt_sources(const json_t *v, struct error *err)
{
	size_t i;
	json_t *s;
	if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 8)
		return bad(err,
			   "%s must be an array of 1 to 8 \"header:<Name>\" or "
			   "\"cookie:<Name>\" strings",
			   "sources");
	json_array_foreach(v, i, s)
	{
		const char *src = json_string_value(s);
		bool ok = src &&
			  (strncmp(src, "header:", 7) == 0 || strncmp(src, "cookie:", 7) == 0) &&
			  name_ok(src + 7, 128, false);
		if (!ok)
			return bad(err,
				   "sources: %s entries are \"header:<Name>\" or \"cookie:<Name>\"",
				   "all");
	}
	return 0;
}

static int jwt_claims(const json_t *v, struct error *err)
{
	const char *k;
	json_t *c;
	if (!v)
		return 0;
	if (!json_is_object(v) || json_object_size(v) > 32)
		return bad(err, "%s must be an object of at most 32 exact values", "claims");
	json_object_foreach((json_t *)v, k, c)
	{
		if (!(json_is_string(c) || json_is_number(c) || json_is_boolean(c)) ||
		    strlen(k) > 128)
			return bad(err, "claims: %s values are strings, numbers or booleans",
				   "all");
	}
	return 0;
}

static int jwt_group(const json_t *in, json_t **out, struct error *err)
{
	static const char *const keys[] = {"secret", "algorithm", "sources", "claims", NULL};
	const char *secret, *alg;
	if (only_keys(in, keys, "jwt group", err) < 0 ||
	    str_member(in, "secret", 8192, true, &secret, err) < 0 ||
	    str_member(in, "algorithm", 16, true, &alg, err) < 0)
		return -1;
	if (strcmp(alg, "HS256") && strcmp(alg, "RS256") && strcmp(alg, "ES256"))
		return bad(err, "algorithm must be HS256, RS256 or ES256%s", "");
	if (strcmp(alg, "HS256") != 0 && !strstr(secret, "-----BEGIN PUBLIC KEY-----"))
		return bad(err, "secret must be a PEM public key (SPKI) for %s", alg);
	if (jwt_sources(json_object_get(in, "sources"), err) < 0 ||
	    jwt_claims(json_object_get(in, "claims"), err) < 0)
		return -1;
	*out = json_deep_copy(in);
	return 0;
}

static int token_group(const json_t *in, json_t **out, struct error *err)
{
	static const char *const keys[] = {"header", "cookie", "param", "value", NULL};
	static const char *const locs[] = {"header", "cookie", "param"};
	const char *value, *loc = NULL, *name = NULL;
	if (only_keys(in, keys, "token group", err) < 0 ||
	    str_member(in, "value", 4096, true, &value, err) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(locs); i++) {
		const char *n;
		int rc = str_member(in, locs[i], 128, false, &n, err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			continue;
		if (loc)
			return bad(err, "a token group has exactly one of header, cookie, param%s",
				   "");
		loc = locs[i];
		name = n;
	}
	if (!loc || !name_ok(name, 128, false))
		return bad(err,
			   "a token group needs one of header, cookie or param (a name of "
			   "letters, digits, '-' and '_')%s",
			   "");
	*out = json_pack("{s:s, s:s}", loc, name, "value", value);
	return 0;
}

static bool cidr4_ok(const char *s)
{
	char net[20];
	const char *slash = strchr(s, '/');
	struct in_addr a;
	if (!slash || (size_t)(slash - s) >= sizeof(net) || !slash[1] || strlen(slash + 1) > 2)
		return false;
	memcpy(net, s, (size_t)(slash - s));
	net[slash - s] = '\0';
	for (const char *p = slash + 1; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return inet_pton(AF_INET, net, &a) == 1 && atoi(slash + 1) <= 32;
}

static int ip_group(const json_t *in, json_t **out, struct error *err)
{
	static const char *const keys[] = {"range", NULL};
	const char *range;
	if (only_keys(in, keys, "ip group", err) < 0 ||
	    str_member(in, "range", 18, true, &range, err) < 0)
		return -1;
	if (!cidr4_ok(range))
		return bad(err, "range must be an IPv4 CIDR such as 10.0.0.0/8, not %.32s", range);
	*out = json_pack("{s:s}", "range", range);
	return 0;
}

int proxy_group_check(const char *type, const json_t *in, json_t **out_new, struct error *err)
{
	*out_new = NULL;
	if (!json_is_object(in))
		return bad(err, "a group configuration must be an %s", "object");
	if (!type) /* a whole document: the shape says which type */
		type = json_object_get(in, "username") ? "password"
		       : json_object_get(in, "secret") ? "jwt"
		       : json_object_get(in, "value")  ? "token"
		       : json_object_get(in, "range")  ? "ip"
						       : "";
	if (strcmp(type, "password") == 0)
		return password_group(in, out_new, err);
	if (strcmp(type, "jwt") == 0)
		return jwt_group(in, out_new, err);
	if (strcmp(type, "token") == 0)
		return token_group(in, out_new, err);
	if (strcmp(type, "ip") == 0)
		return ip_group(in, out_new, err);
	return bad(err,
		   "a group is password {username, password, salt}, jwt {secret, algorithm, "
		   "sources}, token {header|cookie|param, value} or ip {range}%s",
		   "");
}

/* ---- program rules ---- */

static bool boolean_only(const char *program)
{
	static const char *const progs[] = {"files", "services", "notifications", "exec", "logs"};
	for (size_t i = 0; i < ARRAY_SIZE(progs); i++)
		if (strcmp(progs[i], program) == 0)
			return true;
	return false;
}

static bool range_str_ok(const char *s)
{
	if (strcmp(s, "*") == 0)
		return true;
	char *end;
	long lo = strtol(s, &end, 10), hi = lo;
	if (end == s || !isdigit((unsigned char)s[0]))
		return false;
	if (*end == '-') {
		const char *h = end + 1;
		if (!isdigit((unsigned char)*h))
			return false;
		hi = strtol(h, &end, 10);
	}
	return *end == '\0' && lo >= 0 && hi <= 65535 && lo <= hi;
}

static bool number_ok(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 65535;
}

int proxy_rule_check(const char *program, const json_t *rule, struct error *err)
{
	if (!proxy_service_name_valid(program))
		return bad(err, "program %.64s: names are [a-z0-9][a-z0-9_-]{0,49}", program);
	if (json_is_boolean(rule))
		return 0;
	if (boolean_only(program))
		return bad(err, "%s accepts true or false only", program);
	if (number_ok(rule) || (json_is_string(rule) && range_str_ok(json_string_value(rule))))
		return 0;
	size_t i;
	json_t *e;
	if (json_is_array(rule) && json_array_size(rule) >= 1 && json_array_size(rule) <= 64) {
		json_array_foreach(rule, i, e)
		{
			if (!number_ok(e) &&
			    !(json_is_string(e) && range_str_ok(json_string_value(e))))
				goto fail;
		}
		return 0;
	}
fail:
	return bad(err,
		   "access for %s must be true/false, a number 0-65535, an array of numbers "
		   "or ranges, a range \"8000-9000\" or \"*\"",
		   program);
}

static int rules_check(const json_t *rules, const char *group, struct error *err)
{
	const char *prog;
	json_t *r;
	if (!json_is_object(rules) || json_object_size(rules) > 64)
		return bad(err, "permissions.%.50s must be an object of at most 64 programs",
			   group);
	json_object_foreach((json_t *)rules, prog, r)
	{
		if (proxy_rule_check(prog, r, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- hooks ---- */

static bool hookable(const char *service)
{
	return strcmp(service, "logs") && strcmp(service, "proxy") &&
	       strcmp(service, "workspaces") && strcmp(service, "cdp");
}

static int match_check(const json_t *m, struct error *err)
{
	static const char *const keys[] = {"method", "path", "headers", NULL};
	if (!m)
		return 0;
	if (!json_is_object(m) || only_keys(m, keys, "match", err) < 0)
		return err->code ? -1 : bad(err, "%s must be an object", "match");
	json_t *meth = json_object_get(m, "method"), *e;
	size_t i;
	if (meth && !json_is_string(meth)) {
		if (!json_is_array(meth) || json_array_size(meth) > 16)
			return bad(err, "match.method is a string or an array of %s", "strings");
		json_array_foreach(
		    meth, i, e) if (!json_is_string(e) ||
				    json_string_length(e) >
					16) return bad(err,
						       "match.method is a string or an array of %s",
						       "strings");
	}
	json_t *path = json_object_get(m, "path"), *h = json_object_get(m, "headers");
	if (path && (!json_is_string(path) || json_string_length(path) > 1024))
		return bad(err, "match.path must be a %s of at most 1024 characters", "string");
	if (h && (!json_is_object(h) || json_object_size(h) > 16))
		return bad(err, "match.headers must be an %s of at most 16 strings", "object");
	const char *k;
	json_object_foreach(
	    h, k, e) if (!json_is_string(e) ||
			 json_string_length(e) >
			     1024) return bad(err,
					      "match.headers must be an %s of at most 16 strings",
					      "object");
	return 0;
}

static int script_check(const json_t *s, struct error *err)
{
	static const char *const keys[] = {"subdomain", "execId", "path", NULL};
	json_t *p = json_object_get(s, "path");
	if (!json_is_object(s) || !json_is_string(p) || json_string_length(p) == 0 ||
	    json_string_length(p) > 1024)
		return err_set(err, E_UNPROCESSABLE, "script.path is required");
	if (only_keys(s, keys, "script", err) < 0)
		return -1;
	json_t *sub = json_object_get(s, "subdomain"), *ex = json_object_get(s, "execId");
	if ((sub && (!json_is_string(sub) || json_string_length(sub) > 63)) ||
	    (ex && (!json_is_string(ex) || json_string_length(ex) > 64)))
		return bad(err, "script.subdomain and script.execId are short %s", "strings");
	return 0;
}

static int applies_check(const json_t *a, struct error *err)
{
	static const char *const keys[] = {"groups", NULL};
	if (!a)
		return 0;
	json_t *g = json_object_get(a, "groups"), *e;
	size_t i;
	if (!json_is_object(a) || only_keys(a, keys, "applies_to", err) < 0)
		return err->code ? -1 : bad(err, "%s must be an object", "applies_to");
	if (g && (!json_is_array(g) || json_array_size(g) > 64))
		return bad(err, "applies_to.groups must be an array of group %s", "names");
	json_array_foreach(g, i, e) if (!proxy_group_name_valid(json_string_value(e))) return bad(
	    err, "applies_to.groups must be an array of group %s", "names");
	return 0;
}

int proxy_hook_check(const json_t *h, struct error *err)
{
	static const char *const keys[] = {"id",      "position",   "match", "script",
					   "timeout", "applies_to", NULL};
	if (!json_is_object(h))
		return bad(err, "a hook must be an %s", "object");
	if (only_keys(h, keys, "hook", err) < 0 ||
	    match_check(json_object_get(h, "match"), err) < 0 ||
	    script_check(json_object_get(h, "script"), err) < 0 ||
	    applies_check(json_object_get(h, "applies_to"), err) < 0)
		return -1;
	json_t *t = json_object_get(h, "timeout"), *p = json_object_get(h, "position");
	if (t &&
	    (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > 30000))
		return bad(err, "timeout must be 1 to 30000 %s", "ms");
	if (p && (!json_is_integer(p) || json_integer_value(p) < 0))
		return bad(err, "position must be an integer >= %s", "0");
	return 0;
}

int proxy_hook_service_check(const char *service, struct error *err)
{
	if (!proxy_service_name_valid(service))
		return bad(err, "service %.64s: names are [a-z0-9][a-z0-9_-]{0,49}", service);
	if (!hookable(service))
		return bad(err, "the %s service cannot have hooks", service);
	return 0;
}

/* Crockford base32 ULID: 48 bits of ms time, 80 random bits. */
void proxy_ulid_new(char out[27])
{
	static const char a[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	unsigned char rnd[10];
	uint64_t t = (uint64_t)now_ms();
	random_bytes(rnd, sizeof(rnd));
	for (int i = 9; i >= 0; i--, t >>= 5)
		out[i] = a[t & 31];
	for (int i = 0; i < 16; i++) {
		int bit = i * 5, byte = bit / 8, off = bit % 8;
		unsigned v =
		    ((unsigned)rnd[byte] << 8 | (byte + 1 < 10 ? rnd[byte + 1] : 0)) >> (11 - off);
		out[10 + i] = a[v & 31];
	}
	out[26] = '\0';
}

/* Normalised copy of a hook: an id (kept or new), a timeout, match {}. */
json_t *proxy_hook_normalize(const json_t *in, const char *keep_id)
{
	json_t *h = json_deep_copy(in);
	char id[27];
	if (keep_id)
		json_object_set_new(h, "id", json_string(keep_id));
	else if (!json_is_string(json_object_get(h, "id"))) {
		proxy_ulid_new(id);
		json_object_set_new(h, "id", json_string(id));
	}
	if (!json_object_get(h, "timeout"))
		json_object_set_new(h, "timeout", json_integer(5000));
	if (!json_object_get(h, "match"))
		json_object_set_new(h, "match", json_object());
	return h;
}

static int hooks_check(const json_t *hooks, json_t **out_new, struct error *err)
{
	const char *svc;
	json_t *list;
	size_t total = 0;
	if (!json_is_object(hooks))
		return bad(err, "%s must be an object {service: [hook]}", "hooks");
	json_t *out = json_object();
	json_object_foreach((json_t *)hooks, svc, list)
	{
		size_t i;
		json_t *h;
		if (proxy_hook_service_check(svc, err) < 0)
			goto fail;
		if (!json_is_array(list) || json_array_size(list) > PROXY_HOOKS_PER_SERVICE ||
		    (total += json_array_size(list)) > PROXY_HOOKS_PER_DOC) {
			bad(err, "at most 8 hooks per service and 32 per document%s", "");
			goto fail;
		}
		json_t *norm = json_array();
		json_object_set_new(out, svc, norm);
		json_array_foreach(list, i, h)
		{
			if (proxy_hook_check(h, err) < 0)
				goto fail;
			json_t *n = proxy_hook_normalize(h, NULL);
			json_object_set_new(n, "position", json_integer((json_int_t)i));
			json_array_append_new(norm, n);
		}
	}
	*out_new = out;
	return 0;
fail:
	json_decref(out);
	return -1;
}

/* ---- whole documents ---- */

static int groups_check(const json_t *groups, json_t *doc, struct error *err)
{
	const char *name;
	json_t *g;
	if (!json_is_object(groups) || json_object_size(groups) > PROXY_GROUPS_MAX)
		return bad(err, "groups must be an object of at most 64 %s", "groups");
	json_object_foreach((json_t *)groups, name, g)
	{
		json_t *norm;
		if (!proxy_group_name_valid(name))
			return bad(err, "group name %.64s: 1 to 50 of [A-Za-z0-9_-]", name);
		if (proxy_group_check(NULL, g, &norm, err) < 0)
			return err_wrap(err, "groups.%s", name);
		json_object_set_new(json_object_get(doc, "groups"), name, norm);
	}
	return 0;
}

static int permissions_check(const json_t *perms, json_t *doc, struct error *err)
{
	const char *name;
	json_t *rules;
	if (!json_is_object(perms))
		return bad(err, "permissions must be an %s {group: {program: access}}", "object");
	json_object_foreach((json_t *)perms, name, rules)
	{
		if (!json_object_get(json_object_get(doc, "groups"), name))
			return err_set(err, E_VALIDATION, "permissions.%.50s: no such group", name);
		if (rules_check(rules, name, err) < 0)
			return -1;
		json_object_set_new(json_object_get(doc, "permissions"), name,
				    json_deep_copy(rules));
	}
	return 0;
}

int proxy_default_check(const json_t *v, struct error *err)
{
	const char *s = json_string_value(v);
	if (!s || (strcmp(s, "allow") && strcmp(s, "deny")))
		return bad(err, "default must be \"allow\" or \"deny\"%s", "");
	return 0;
}

json_t *proxy_doc_empty_new(void)
{
	return json_pack("{s:s, s:{}, s:{}, s:{}}", "default", "deny", "groups", "permissions",
			 "hooks");
}

int proxy_doc_check(const json_t *body, bool container, json_t **doc_new, struct error *err)
{
	static const char *const keys[] = {
	    "project", "container",	 "groups",	 "permissions", "default", "enable_proxy",
	    "hooks",   "schema_version", "file_version", "etag",	NULL};
	json_t *doc = proxy_doc_empty_new(), *v;
	*doc_new = NULL;
	if (!json_is_object(body) || only_keys(body, keys, "document", err) < 0)
		goto fail;
	if ((v = json_object_get(body, "groups")) && groups_check(v, doc, err) < 0)
		goto fail;
	if ((v = json_object_get(body, "permissions")) && permissions_check(v, doc, err) < 0)
		goto fail;
	if ((v = json_object_get(body, "default"))) {
		if (proxy_default_check(v, err) < 0)
			goto fail;
		json_object_set(doc, "default", v);
	}
	if ((v = json_object_get(body, "enable_proxy"))) {
		if (!json_is_boolean(v)) {
			bad(err, "enable_proxy must be a %s", "boolean");
			goto fail;
		}
		json_object_set(doc, "enable_proxy", v);
	}
	if ((v = json_object_get(body, "hooks"))) {
		json_t *hooks = NULL;
		if (!container) {
			bad(err, "a project document has no %s", "hooks");
			goto fail;
		}
		if (hooks_check(v, &hooks, err) < 0)
			goto fail;
		json_object_set_new(doc, "hooks", hooks);
	}
	*doc_new = doc;
	return 0;
fail:
	if (!err->code)
		bad(err, "the body must be a %s document", "proxy permissions");
	json_decref(doc);
	return -1;
}
