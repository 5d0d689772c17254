#include "platform/platform_int.h"
#include "platform/validate.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/ids.h"
#include "common/util.h"

static int color_parse(const char *in, const char *key, char out[COLOR_LEN], struct error *err)
{
	const char *hex = in[0] == '#' ? in + 1 : in;
	size_t n = strlen(hex);
	char buf[COLOR_LEN] = "#";
	bool ok = n == 3 || n == 6;
	for (size_t i = 0; ok && i < n; i++) {
		ok = isxdigit((unsigned char)hex[i]);
		buf[i + 1] = (char)toupper((unsigned char)hex[i]);
	}
	if (!ok)
		return err_set(err, E_VALIDATION, "%s must be a hex color like #RGB or #RRGGBB",
			       key);
	memcpy(out, buf, COLOR_LEN);
	return 0;
}

int color_normalize(const char *in, char out[COLOR_LEN], struct error *err)
{
	return color_parse(in, "color", out, err);
}

void color_random(char out[COLOR_LEN])
{
	unsigned char rgb[3];
	random_bytes(rgb, sizeof(rgb));
	snprintf(out, COLOR_LEN, "#%02X%02X%02X", rgb[0], rgb[1], rgb[2]);
}

int field_color(const json_t *body, const char *key, char out[COLOR_LEN], struct error *err)
{
	const char *s = NULL;
	bool is_null = false;
	int rc = field_string(body, key, 0, 16, true, &s, &is_null, err);
	if (rc <= 0 || is_null)
		return rc < 0 ? -1 : 0;
	return color_parse(s, key, out, err) < 0 ? -1 : 1;
}

int realm_ids_check(const json_t *v, const char *key, json_t **out_new, struct error *err)
{
	if (!json_is_array(v))
		return err_set(err, E_VALIDATION, "%s must be an array of realm ids", key);
	if (json_array_size(v) > REALM_IDS_MAX)
		return err_set(err, E_VALIDATION, "%s may hold at most %d realm ids", key,
			       REALM_IDS_MAX);
	json_t *arr = json_array();
	size_t i;
	json_t *it;
	json_array_foreach(v, i, it)
	{
		const char *s = json_string_value(it);
		char low[ID_LEN + 1];
		size_t n = s ? strlen(s) : 0;
		if (n == ID_LEN && json_string_length(it) == ID_LEN) {
			for (size_t k = 0; k < ID_LEN; k++)
				low[k] = (char)tolower((unsigned char)s[k]);
			low[ID_LEN] = '\0';
		}
		if (n != ID_LEN || json_string_length(it) != ID_LEN || !id_valid(low)) {
			json_decref(arr);
			return err_set(err, E_VALIDATION,
				       "%s[%zu] must be a realm id (24 hex characters)", key, i);
		}
		realm_ids_add(arr, low);
	}
	*out_new = arr;
	return 0;
}

int field_realm_ids(const json_t *body, const char *key, json_t **out_new, struct error *err)
{
	json_t *v = json_is_object(body) ? json_object_get(body, key) : NULL;
	if (!v)
		return 0;
	if (json_is_null(v)) {
		*out_new = json_array();
		return 1;
	}
	return realm_ids_check(v, key, out_new, err) < 0 ? -1 : 1;
}

json_t *realm_ids_parse(const char *text)
{
	json_t *v = text && *text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
	if (json_is_array(v))
		return v;
	json_decref(v);
	return json_array();
}

bool realm_ids_has(const json_t *arr, const char *realm_id)
{
	size_t i;
	json_t *it;
	json_array_foreach(arr, i, it)
	{
		const char *s = json_string_value(it);
		if (s && strcmp(s, realm_id) == 0)
			return true;
	}
	return false;
}

void realm_ids_add(json_t *arr, const char *realm_id)
{
	if (!realm_ids_has(arr, realm_id))
		json_array_append_new(arr, json_string(realm_id));
}

char *realm_ids_dump_new(const json_t *arr)
{
	char *s = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	return s ? s : xstrdup("[]");
}

int field_alias(const json_t *body, const char *key, size_t min, size_t max, bool required,
		const char **out, struct error *err)
{
	const char *s = NULL;
	int rc = field_string(body, key, min, max, false, &s, NULL, err);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return required ? err_set(err, E_VALIDATION, "%s is required", key) : 0;
	bool blank = true;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return err_set(err, E_VALIDATION, "%s must not contain control characters",
				       key);
		if (!isspace(*p))
			blank = false;
	}
	if (blank)
		return err_set(err, E_VALIDATION, "%s must not be blank", key);
	*out = s;
	return 1;
}

int fields_allowed(const json_t *body, const char *const *allowed, struct error *err)
{
	if (fields_object(body, err) < 0)
		return -1;
	if (!body)
		return 0;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)body, key, v)
	{
		size_t i = 0;
		while (allowed[i] && strcmp(allowed[i], key) != 0)
			i++;
		if (!allowed[i])
			return err_set(err, E_VALIDATION, "Unknown field: %.100s", key);
	}
	return 0;
}

json_t *pagination_json_new(int64_t total, int64_t page, int64_t limit)
{
	int64_t pages = limit > 0 ? (total + limit - 1) / limit : 0;
	return json_pack("{s:I, s:I, s:I, s:I}", "total", (json_int_t)total, "page",
			 (json_int_t)page, "limit", (json_int_t)limit, "totalPages",
			 (json_int_t)pages);
}
