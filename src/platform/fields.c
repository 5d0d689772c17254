#include "platform/platform_int.h"
#include "platform/fields.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

int fields_object(const json_t *body, struct error *err)
{
	if (body && !json_is_object(body))
		return err_set(err, E_VALIDATION, "Request body must be a JSON object");
	return 0;
}

/* 0 absent, 1 present and non-null, 2 null (nullable only), -1 bad. */
static int lookup(const json_t *body, const char *key, bool nullable, json_t **v, bool *is_null,
		  struct error *err)
{
	*v = json_is_object(body) ? json_object_get(body, key) : NULL;
	if (!*v)
		return 0;
	if (json_is_null(*v)) {
		if (!nullable)
			return err_set(err, E_VALIDATION, "%s must not be null", key);
		if (is_null)
			*is_null = true;
		return 2;
	}
	if (is_null)
		*is_null = false;
	return 1;
}

int field_string(const json_t *body, const char *key, size_t min, size_t max, bool nullable,
		 const char **out, bool *is_null, struct error *err)
{
	json_t *v;
	int rc = lookup(body, key, nullable, &v, is_null, err);
	if (rc != 1)
		return rc == 2 ? 1 : rc;
	if (!json_is_string(v))
		return err_set(err, E_VALIDATION, "%s must be a string", key);
	const char *s = json_string_value(v);
	size_t n = utf8_chars(s);
	if (n < min || n > max || json_string_length(v) != strlen(s))
		return err_set(err, E_VALIDATION, "%s must be %zu to %zu characters", key, min,
			       max);
	*out = s;
	return 1;
}

int field_bool(const json_t *body, const char *key, bool *out, struct error *err)
{
	json_t *v;
	int rc = lookup(body, key, false, &v, NULL, err);
	if (rc != 1)
		return rc;
	if (!json_is_boolean(v))
		return err_set(err, E_VALIDATION, "%s must be a boolean", key);
	*out = json_is_true(v);
	return 1;
}

int field_int(const json_t *body, const char *key, int64_t min, int64_t max, bool nullable,
	      int64_t *out, bool *is_null, struct error *err)
{
	json_t *v;
	int rc = lookup(body, key, nullable, &v, is_null, err);
	if (rc != 1)
		return rc == 2 ? 1 : rc;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return err_set(err, E_VALIDATION, "%s must be an integer from %lld to %lld", key,
			       (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 1;
}

json_t *json_time_new(int64_t ms)
{
	char buf[40];
	if (!ms)
		return json_null();
	iso8601_ms(ms, buf, sizeof(buf));
	return json_string(buf);
}

char *str_lower_dup(const char *s)
{
	char *d = xstrdup(s);
	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

int field_json_text(const json_t *body, const char *key, size_t max_bytes, bool object_only,
		    char **text_new, struct error *err)
{
	json_t *v;
	bool is_null = false;
	int rc = lookup(body, key, true, &v, &is_null, err);
	if (rc <= 0)
		return rc;
	if (is_null) {
		*text_new = NULL;
		return 1;
	}
	if (object_only && !json_is_object(v))
		return err_set(err, E_VALIDATION, "%s must be an object or null", key);
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text || strlen(text) > max_bytes) {
		free(text);
		return err_set(err, E_VALIDATION, "%s must be at most %zu bytes of JSON", key,
			       max_bytes);
	}
	*text_new = text;
	return 1;
}

int field_ed25519_hex(const json_t *body, const char *key, char **lower_new, struct error *err)
{
	const char *hex = NULL;
	bool is_null = false;
	int rc = field_string(body, key, 64, 64, true, &hex, &is_null, err);
	if (rc <= 0)
		return rc;
	for (const char *p = hex; !is_null && *p; p++)
		if (!isxdigit((unsigned char)*p))
			return err_set(err, E_VALIDATION,
				       "%s must be 64 hex characters (an Ed25519 public key)", key);
	*lower_new = is_null ? NULL : str_lower_dup(hex);
	return 1;
}
