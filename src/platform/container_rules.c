/* Container request rules (see container_rules.h). */
#include "platform/platform_int.h"
#include "platform/container_rules.h"

#include <ctype.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/ids.h"
#include "common/util.h"

#define SSH_TYPE_MAX 64

const char *const crules_create_fields[] = {"name",
					    "color",
					    "container_image",
					    "ai",
					    "environment_vars",
					    "ssh_public_key",
					    "comment",
					    "hoody_kit",
					    "dev_kit",
					    "autostart",
					    "ramdisk",
					    "cache",
					    "cache_image",
					    "prespawn",
					    "bypass_prespawn",
					    "realm_ids",
					    "server_id",
					    "kvm",
					    "dev_kvm",
					    NULL};

const char *const crules_update_fields[] = {"name",
					    "color",
					    "ai",
					    "autostart",
					    "ramdisk",
					    "ramdisk_scope",
					    "environment_vars",
					    "ssh_public_key",
					    "comment",
					    "realm_ids",
					    NULL};

/* Set at creation, never changed by an update (reference §4.3, seeds). */
static const char *const immutable_fields[] = {"container_image", "hoody_kit",	"dev_kit",
					       "server_id",	  "project_id", "kvm",
					       "dev_kvm",	  "prespawn",	NULL};

/* ------------------------------------------------------------ names */

static bool name_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_';
}

int crules_name_check(const char *name, struct error *err)
{
	size_t n = strlen(name);
	bool ok = n >= CONTAINER_NAME_MIN && n <= CONTAINER_NAME_MAX;
	for (size_t i = 0; ok && i < n; i++)
		ok = name_char((unsigned char)name[i]);
	if (!ok)
		return err_set(err, E_INVALID_CONTAINER_NAME,
			       "Invalid container name: it must be %d-%d characters, alphanumeric "
			       "with hyphens and underscores",
			       CONTAINER_NAME_MIN, CONTAINER_NAME_MAX);
	return 0;
}

void crules_random_name(char out[CONTAINER_NAME_MAX + 1])
{
	static const char *const adjectives[] = {
	    "amber", "bold",  "brave",	"bright", "calm",  "clever", "cosmic", "crisp",
	    "eager", "fancy", "gentle", "golden", "happy", "lively", "lucky",  "mellow",
	    "misty", "noble", "proud",	"quick",  "quiet", "rapid",  "silent", "sunny",
	    "swift", "tidy",  "vivid",	"warm",	  "wild",  "wise",   "witty",  "zesty"};
	static const char *const nouns[] = {
	    "badger",  "beaver", "comet",  "falcon", "fox",    "gecko", "heron", "ibis",
	    "koala",   "lemur",	 "lynx",   "maple",  "meteor", "otter", "panda", "pebble",
	    "pine",    "puffin", "quasar", "raven",  "river",  "robin", "cedar", "seal",
	    "sparrow", "tiger",	 "tulip",  "walrus", "willow", "wren",	"yak",	 "zebra"};
	unsigned char r[4];
	random_bytes(r, sizeof(r));
	snprintf(out, CONTAINER_NAME_MAX + 1, "%s-%s-%02x%02x",
		 adjectives[r[0] % ARRAY_SIZE(adjectives)], nouns[r[1] % ARRAY_SIZE(nouns)], r[2],
		 r[3]);
}

/* ------------------------------------------------------------ environment */

static bool env_key_ok(const char *k, size_t bytes)
{
	if (bytes == 0 || bytes > CONTAINER_ENV_KEY_MAX || strlen(k) != bytes)
		return false;
	if (!(isalpha((unsigned char)k[0]) || k[0] == '_'))
		return false;
	for (size_t i = 1; i < bytes; i++)
		if (!(isalnum((unsigned char)k[i]) || k[i] == '_'))
			return false;
	return true;
}

bool crules_env_key_valid(const char *k)
{
	return k && env_key_ok(k, strlen(k));
}

int crules_env_check(const json_t *v, json_t **out_new, struct error *err)
{
	if (json_is_null(v)) {
		*out_new = json_object();
		return 0;
	}
	if (!json_is_object(v))
		return err_set(err, E_VALIDATION, "environment_vars must be an object");
	if (json_object_size(v) > CONTAINER_ENV_MAX)
		return err_set(err, E_VALIDATION, "environment_vars may hold at most %d variables",
			       CONTAINER_ENV_MAX);
	const char *k;
	json_t *val;
	size_t total = 0;
	json_object_foreach((json_t *)v, k, val)
	{
		if (!env_key_ok(k, strlen(k)))
			return err_set(err, E_VALIDATION,
				       "environment_vars: invalid key \"%.64s\" (must match "
				       "^[a-zA-Z_][a-zA-Z0-9_]*$, at most %d characters)",
				       k, CONTAINER_ENV_KEY_MAX);
		if (!json_is_string(val))
			return err_set(err, E_VALIDATION, "environment_vars.%s must be a string",
				       k);
		const char *s = json_string_value(val);
		if (json_string_length(val) != strlen(s))
			return err_set(err, E_VALIDATION, "environment_vars.%s contains a NUL byte",
				       k);
		if (utf8_chars(s) > CONTAINER_ENV_VALUE_MAX ||
		    json_string_length(val) > CONTAINER_ENV_VALUE_MAX_BYTES)
			return err_set(
			    err, E_VALIDATION,
			    "environment_vars.%s must be at most %d characters (%d bytes)", k,
			    CONTAINER_ENV_VALUE_MAX, CONTAINER_ENV_VALUE_MAX_BYTES);
		/* /etc/environment holds one variable per line. */
		if (strpbrk(s, "\r\n"))
			return err_set(err, E_VALIDATION,
				       "environment_vars.%s must not contain line breaks", k);
		total += strlen(k) + json_string_length(val) + 2;
	}
	if (total > CONTAINER_ENV_TOTAL_MAX_BYTES)
		return err_set(err, E_VALIDATION,
			       "environment_vars take %zu bytes in all (\"KEY=value\" and a NUL "
			       "each); the limit is %d bytes",
			       total, CONTAINER_ENV_TOTAL_MAX_BYTES);
	*out_new = json_deep_copy(v);
	return 0;
}

/* ------------------------------------------------------------ SSH keys */

static bool ssh_type_char(unsigned char c)
{
	return isalnum(c) || strchr("@._+-", c);
}

static bool b64_char(unsigned char c)
{
	return isalnum(c) || c == '+' || c == '/' || c == '=';
}

struct ssh_parts {
	const char *type, *blob, *comment;
	size_t type_len, blob_len, comment_len;
};

static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Splits a trimmed one-line key; false when the shape is wrong. */
static bool ssh_split(const char *s, size_t len, struct ssh_parts *p)
{
	size_t i = 0;
	p->type = s;
	while (i < len && ssh_type_char((unsigned char)s[i]))
		i++;
	p->type_len = i;
	if (i == 0 || i > SSH_TYPE_MAX || i == len || !is_blank((unsigned char)s[i]))
		return false;
	while (i < len && is_blank((unsigned char)s[i]))
		i++;
	p->blob = s + i;
	size_t b = i;
	while (i < len && b64_char((unsigned char)s[i]))
		i++;
	p->blob_len = i - b;
	if (p->blob_len < 16 || (i < len && !is_blank((unsigned char)s[i])))
		return false;
	while (i < len && is_blank((unsigned char)s[i]))
		i++;
	p->comment = s + i;
	p->comment_len = len - i;
	return true;
}

/* The decoded blob must begin with the key type as an SSH string. */
static bool ssh_blob_decode(const struct ssh_parts *p, unsigned char **bin_new, size_t *bin_len)
{
	unsigned char *bin = xmalloc(p->blob_len);
	size_t n = 0;
	if (sodium_base642bin(bin, p->blob_len, p->blob, p->blob_len, NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 &&
	    sodium_base642bin(bin, p->blob_len, p->blob, p->blob_len, NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0) {
		free(bin);
		return false;
	}
	uint32_t tl = n >= 4 ? (uint32_t)bin[0] << 24 | (uint32_t)bin[1] << 16 |
				   (uint32_t)bin[2] << 8 | bin[3]
			     : 0;
	if (n < 4 + p->type_len || tl != p->type_len || memcmp(bin + 4, p->type, p->type_len)) {
		free(bin);
		return false;
	}
	*bin_new = bin;
	*bin_len = n;
	return true;
}

static void trim(const char **s, size_t *len)
{
	while (*len && isspace((unsigned char)**s))
		(*s)++, (*len)--;
	while (*len && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

int crules_ssh_key_check(const char *key, char **normalized_new, struct error *err)
{
	size_t len = strlen(key);
	if (len > SSH_KEY_MAX)
		return err_set(err, E_VALIDATION, "ssh_public_key must be at most %d bytes",
			       SSH_KEY_MAX);
	trim(&key, &len);
	if (len == 0)
		return err_set(err, E_VALIDATION, "ssh_public_key must not be empty");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)key[i] < 0x20 && key[i] != '\t')
			return err_set(err, E_VALIDATION, "ssh_public_key must be a single line");
	struct ssh_parts p;
	unsigned char *bin = NULL;
	size_t bin_len = 0;
	if (!ssh_split(key, len, &p) || !ssh_blob_decode(&p, &bin, &bin_len))
		return err_set(err, E_VALIDATION,
			       "ssh_public_key must be an OpenSSH public key such as "
			       "\"ssh-ed25519 AAAA... comment\"");
	free(bin);
	*normalized_new =
	    p.comment_len
		? xasprintf("%.*s %.*s %.*s", (int)p.type_len, p.type, (int)p.blob_len, p.blob,
			    (int)p.comment_len, p.comment)
		: xasprintf("%.*s %.*s", (int)p.type_len, p.type, (int)p.blob_len, p.blob);
	return 0;
}

bool crules_ssh_fingerprint(const char *key, char out[SSH_FINGERPRINT_LEN])
{
	size_t len = key ? strlen(key) : 0;
	if (!len || len > SSH_KEY_MAX)
		return false;
	trim(&key, &len);
	struct ssh_parts p;
	unsigned char *bin = NULL, hash[crypto_hash_sha256_BYTES];
	size_t bin_len = 0;
	if (!ssh_split(key, len, &p) || !ssh_blob_decode(&p, &bin, &bin_len))
		return false;
	crypto_hash_sha256(hash, bin, bin_len);
	free(bin);
	memcpy(out, "SHA256:", 7);
	sodium_bin2base64(out + 7, SSH_FINGERPRINT_LEN - 7, hash, sizeof(hash),
			  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	return true;
}

/* ------------------------------------------------------------ bodies */

void container_input_clear(struct container_input *in)
{
	json_decref(in->env);
	json_decref(in->realm_ids);
	free(in->ssh_key);
	memset(in, 0, sizeof(*in));
}

/* A boolean member: 1 present, 0 absent, -1 wrong type. */
static int opt_bool(const json_t *body, const char *key, bool dflt, bool *out, struct error *err)
{
	*out = dflt;
	return field_bool(body, key, out, err);
}

static int parse_name(const json_t *body, bool create, struct container_input *in,
		      struct error *err)
{
	const char *s = NULL;
	bool is_null = false;
	int rc = field_string(body, "name", 0, SIZE_MAX, create, &s, &is_null, err);
	if (rc < 0)
		return -1;
	in->has_name = rc == 1 && !is_null;
	if (create && (!in->has_name || strcmp(s, "rand") == 0)) {
		crules_random_name(in->name);
		in->random_name = true;
		return 0;
	}
	if (!in->has_name)
		return 0;
	if (crules_name_check(s, err) < 0)
		return -1;
	snprintf(in->name, sizeof(in->name), "%s", s);
	return 0;
}

static int parse_env(const json_t *body, struct container_input *in, struct error *err)
{
	json_t *v = json_object_get(body, "environment_vars");
	in->has_env = v != NULL;
	if (!v)
		return 0;
	return crules_env_check(v, &in->env, err);
}

static int parse_ssh_key(const json_t *body, struct container_input *in, struct error *err)
{
	const char *s = NULL;
	bool is_null = false;
	int rc = field_string(body, "ssh_public_key", 0, SIZE_MAX, true, &s, &is_null, err);
	if (rc <= 0)
		return rc;
	in->has_ssh_key = true;
	return is_null ? 0 : crules_ssh_key_check(s, &in->ssh_key, err);
}

static int parse_comment(const json_t *body, struct container_input *in, struct error *err)
{
	bool is_null = false;
	int rc = field_string(body, "comment", 0, CONTAINER_COMMENT_MAX, true, &in->comment,
			      &is_null, err);
	if (rc < 0)
		return -1;
	in->has_comment = rc == 1;
	if (is_null)
		in->comment = NULL;
	return 0;
}

static int parse_realm_ids(const json_t *body, struct container_input *in, struct error *err)
{
	int rc = field_realm_ids(body, "realm_ids", &in->realm_ids, err);
	in->has_realm_ids = rc == 1;
	return rc < 0 ? -1 : 0;
}

/* The members update and create share. */
static int parse_common(const json_t *body, bool create, struct container_input *in,
			struct error *err)
{
	int rc;
	if (parse_name(body, create, in, err) < 0)
		return -1;
	if ((rc = field_color(body, "color", in->color, err)) < 0)
		return -1;
	in->has_color = rc == 1;
	if (create && !in->has_color)
		color_random(in->color);
	if ((rc = opt_bool(body, "ai", true, &in->ai, err)) < 0)
		return -1;
	in->has_ai = rc == 1;
	if ((rc = opt_bool(body, "autostart", true, &in->autostart, err)) < 0)
		return -1;
	in->has_autostart = rc == 1;
	if ((rc = opt_bool(body, "ramdisk", true, &in->ramdisk, err)) < 0)
		return -1;
	in->has_ramdisk = rc == 1;
	if (parse_env(body, in, err) < 0 || parse_ssh_key(body, in, err) < 0 ||
	    parse_comment(body, in, err) < 0 || parse_realm_ids(body, in, err) < 0)
		return -1;
	return 0;
}

static int parse_server_id(const json_t *body, struct container_input *in, struct error *err)
{
	const char *s = NULL;
	bool is_null = false;
	int rc = field_string(body, "server_id", 0, SIZE_MAX, true, &s, &is_null, err);
	if (rc <= 0 || is_null)
		return rc < 0 ? -1 : 0;
	if (!id_valid(s))
		return err_set(err, E_VALIDATION,
			       "server_id must be a 24-character lowercase hex id");
	in->server_id = s;
	in->has_server_id = true;
	return 0;
}

/* kvm and its alias dev_kvm: must agree; this server offers no /dev/kvm. */
static int parse_kvm(const json_t *body, struct error *err)
{
	bool kvm = false, dev_kvm = false;
	int a = field_bool(body, "kvm", &kvm, err);
	if (a < 0)
		return -1;
	int b = field_bool(body, "dev_kvm", &dev_kvm, err);
	if (b < 0)
		return -1;
	if (a == 1 && b == 1 && kvm != dev_kvm)
		return err_set(err, E_VALIDATION, "kvm and dev_kvm must agree");
	if (kvm || dev_kvm)
		return err_set(err, E_FORBIDDEN, "KVM is not available on this server");
	return 0;
}

/* Accepted for compatibility; they steer image caching, which this server
 * decides on its own (images are trees, nothing is cached per create). */
static int parse_ignored_bools(const json_t *body, struct error *err)
{
	static const char *const keys[] = {"cache", "cache_image"};
	bool b;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (field_bool(body, keys[i], &b, err) < 0)
			return -1;
	return 0;
}

int crules_parse_create(const json_t *body, struct container_input *in, struct error *err)
{
	memset(in, 0, sizeof(*in));
	bool prespawn = false;
	int rc;
	if (fields_allowed(body, crules_create_fields, err) < 0 ||
	    parse_common(body, true, in, err) < 0 || parse_server_id(body, in, err) < 0 ||
	    parse_kvm(body, err) < 0 || parse_ignored_bools(body, err) < 0 ||
	    field_bool(body, "bypass_prespawn", &in->bypass_prespawn, err) < 0 ||
	    field_bool(body, "prespawn", &prespawn, err) < 0)
		goto fail;
	if (prespawn) {
		err_set(err, E_FORBIDDEN,
			"prespawn containers are created by the system pool only");
		goto fail;
	}
	bool is_null = false;
	if ((rc = field_string(body, "container_image", 1, CONTAINER_IMAGE_MAX, true, &in->image,
			       &is_null, err)) < 0)
		goto fail;
	in->has_image = rc == 1 && !is_null;
	if (!in->has_image)
		in->image = NULL;
	if ((rc = opt_bool(body, "hoody_kit", true, &in->hoody_kit, err)) < 0)
		goto fail;
	in->has_hoody_kit = rc == 1;
	/* dev_kit follows hoody_kit unless given. */
	if ((rc = opt_bool(body, "dev_kit", in->hoody_kit, &in->dev_kit, err)) < 0)
		goto fail;
	in->has_dev_kit = rc == 1;
	if (!in->env)
		in->env = json_object();
	if (!in->realm_ids)
		in->realm_ids = json_array();
	return 0;
fail:
	container_input_clear(in);
	return -1;
}

static int reject_immutable(const json_t *body, struct error *err)
{
	for (size_t i = 0; immutable_fields[i]; i++)
		if (json_object_get(body, immutable_fields[i]))
			return err_set(err, E_VALIDATION, "%s cannot be changed after creation",
				       immutable_fields[i]);
	return 0;
}

/* "project": one /ramdisk shared by the project's containers on the
 * server, from the container's next start. */
static int parse_ramdisk_scope(const json_t *body, struct container_input *in, struct error *err)
{
	const char *s = NULL;
	int rc = field_string(body, "ramdisk_scope", 0, 32, false, &s, NULL, err);
	if (rc <= 0)
		return rc;
	if (strcmp(s, "container") != 0 && strcmp(s, "project") != 0)
		return err_set(err, E_VALIDATION,
			       "ramdisk_scope must be \"container\" or \"project\"");
	in->has_ramdisk_scope = true;
	in->ramdisk_shared = strcmp(s, "project") == 0;
	return 0;
}

int crules_parse_update(const json_t *body, struct container_input *in, struct error *err)
{
	memset(in, 0, sizeof(*in));
	if (fields_object(body, err) < 0 || (body && reject_immutable(body, err) < 0) ||
	    fields_allowed(body, crules_update_fields, err) < 0 ||
	    parse_common(body, false, in, err) < 0 || parse_ramdisk_scope(body, in, err) < 0) {
		container_input_clear(in);
		return -1;
	}
	return 0;
}
