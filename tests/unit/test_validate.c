/* The shared validators: colors, realm id lists, aliases, unknown fields and
 * the pagination shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/ids.h"
#include "platform/validate.h"

static json_t *body(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	assert_non_null(v);
	return v;
}

static void test_color_normalize(void **state)
{
	static const char *const ok[][2] = {
	    {"#3498db", "#3498DB"}, {"3498db", "#3498DB"},  {"#ABC", "#ABC"},
	    {"abc", "#ABC"},	    {"#e74C3c", "#E74C3C"}, {"000000", "#000000"},
	};
	char out[COLOR_LEN];
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct error err = {0};
		assert_int_equal(color_normalize(ok[i][0], out, &err), 0);
		assert_string_equal(out, ok[i][1]);
	}
	static const char *const bad[] = {"",	    "#",     "#12",   "1234", "#12345", "#1234567",
					  "12345g", "##abc", "#ab c", "red",  " #abc",	"#abcdef0"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct error err = {0};
		strcpy(out, "keep");
		assert_int_equal(color_normalize(bad[i], out, &err), -1);
		assert_int_equal(err.code, E_VALIDATION);
		assert_non_null(strstr(err.msg, "color"));
		assert_string_equal(out, "keep");
	}
}

static void test_color_random(void **state)
{
	char a[COLOR_LEN], b[COLOR_LEN], n[COLOR_LEN];
	int same = 0;
	for (int i = 0; i < 20; i++) {
		struct error err = {0};
		color_random(a);
		assert_int_equal(strlen(a), 7);
		assert_int_equal(color_normalize(a, n, &err), 0);
		assert_string_equal(a, n); /* already normalised: '#' + uppercase */
		color_random(b);
		same += strcmp(a, b) == 0;
	}
	assert_true(same < 3);
}

static void test_field_color(void **state)
{
	char out[COLOR_LEN] = "";
	struct error err = {0};
	json_t *b = body("{\"color\": \"e74c3c\", \"c2\": null, \"c3\": 12, \"c4\": \"#xyz\"}");
	assert_int_equal(field_color(b, "color", out, &err), 1);
	assert_string_equal(out, "#E74C3C");
	assert_int_equal(field_color(b, "missing", out, &err), 0);
	assert_int_equal(field_color(b, "c2", out, &err), 0); /* null = absent */
	assert_string_equal(out, "#E74C3C");
	assert_int_equal(field_color(b, "c3", out, &err), -1);
	assert_int_equal(err.code, E_VALIDATION);
	assert_non_null(strstr(err.msg, "c3"));
	assert_int_equal(field_color(b, "c4", out, &err), -1);
	assert_non_null(strstr(err.msg, "c4"));
	json_decref(b);
}

static void test_realm_ids(void **state)
{
	struct error err = {0};
	json_t *out = NULL;
	json_t *b =
	    body("{\"realm_ids\": [\"64a2c4e9f3d5e2b6a8c7d8e1\", \"64A2C4E9F3D5E2B6A8C7D8E1\","
		 " \"65b3d5f0a4e6f3c7b9d8e9f2\"]}");
	assert_int_equal(field_realm_ids(b, "realm_ids", &out, &err), 1);
	assert_int_equal(json_array_size(out), 2); /* case-folded duplicate dropped */
	assert_string_equal(json_string_value(json_array_get(out, 0)), "64a2c4e9f3d5e2b6a8c7d8e1");
	assert_string_equal(json_string_value(json_array_get(out, 1)), "65b3d5f0a4e6f3c7b9d8e9f2");
	char *text = realm_ids_dump_new(out);
	assert_string_equal(text, "[\"64a2c4e9f3d5e2b6a8c7d8e1\",\"65b3d5f0a4e6f3c7b9d8e9f2\"]");
	json_t *back = realm_ids_parse(text);
	assert_true(json_equal(back, out));
	assert_true(realm_ids_has(back, "65b3d5f0a4e6f3c7b9d8e9f2"));
	assert_false(realm_ids_has(back, "65b3d5f0a4e6f3c7b9d8e9f3"));
	realm_ids_add(back, "65b3d5f0a4e6f3c7b9d8e9f2");
	assert_int_equal(json_array_size(back), 2);
	realm_ids_add(back, "000000000000000000000000");
	assert_int_equal(json_array_size(back), 3);
	free(text);
	json_decref(back);
	json_decref(out);
	json_decref(b);

	b = body("{\"a\": null, \"b\": []}");
	assert_int_equal(field_realm_ids(b, "a", &out, &err), 1);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	assert_int_equal(field_realm_ids(b, "b", &out, &err), 1);
	json_decref(out);
	out = NULL;
	assert_int_equal(field_realm_ids(b, "zz", &out, &err), 0);
	assert_null(out);
	json_decref(b);
}

static void test_realm_ids_rejects(void **state)
{
	static const char *const bad[] = {
	    "\"64a2c4e9f3d5e2b6a8c7d8e1\"",
	    "{}",
	    "[1]",
	    "[null]",
	    "[\"64a2c4e9\"]",
	    "[\"64a2c4e9f3d5e2b6a8c7d8e1x\"]",
	    "[\"64a2c4e9f3d5e2b6a8c7d8eg\"]",
	    "[\"64a2c4e9f3d5e2b6a8c7d8e1\", \"nope\"]",
	    "[\"64a2c4e9f3d5e2b6a8c7d8\\u0000e\"]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct error err = {0};
		json_t *out = NULL;
		json_t *v = body(bad[i]);
		assert_int_equal(realm_ids_check(v, "realm_ids", &out, &err), -1);
		assert_int_equal(err.code, E_VALIDATION);
		assert_non_null(strstr(err.msg, "realm_ids"));
		assert_null(out);
		json_decref(v);
	}
	/* REALM_IDS_MAX distinct ids pass, one more does not. */
	json_t *arr = json_array();
	for (int i = 0; i < REALM_IDS_MAX; i++)
		json_array_append_new(arr, json_sprintf("%024x", i));
	struct error err = {0};
	json_t *out = NULL;
	assert_int_equal(realm_ids_check(arr, "realm_ids", &out, &err), 0);
	assert_int_equal(json_array_size(out), REALM_IDS_MAX);
	json_decref(out);
	out = NULL;
	json_array_append_new(arr, json_string("ffffffffffffffffffffffff"));
	assert_int_equal(realm_ids_check(arr, "realm_ids", &out, &err), -1);
	assert_non_null(strstr(err.msg, "at most 50"));
	assert_null(out);
	json_decref(arr);
}

static void test_realm_ids_parse_garbage(void **state)
{
	static const char *const texts[] = {NULL, "", "{", "{}", "\"x\"", "12"};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		json_t *v = realm_ids_parse(texts[i]);
		assert_true(json_is_array(v));
		assert_int_equal(json_array_size(v), 0);
		json_decref(v);
	}
	char *s = realm_ids_dump_new(NULL);
	assert_string_equal(s, "[]");
	free(s);
}

static void test_alias(void **state)
{
	struct error err = {0};
	const char *a = NULL;
	json_t *b = body("{\"ok\": \"client-acme\", \"uni\": \"\u00e9t\u00e9 \u00e0 Paris\","
			 " \"empty\": \"\", \"blank\": \"   \", \"ctl\": \"a\\nb\", \"num\": 5,"
			 " \"nul\": null}");
	assert_int_equal(field_alias(b, "ok", 1, 100, true, &a, &err), 1);
	assert_string_equal(a, "client-acme");
	assert_int_equal(field_alias(b, "uni", 1, 11, true, &a, &err), 1); /* 11 characters */
	assert_int_equal(field_alias(b, "uni", 1, 10, true, &a, &err), -1);
	assert_int_equal(field_alias(b, "missing", 1, 100, false, &a, &err), 0);
	const char *bad[] = {"missing", "empty", "blank", "ctl", "num", "nul"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = (struct error){0};
		assert_int_equal(field_alias(b, bad[i], 1, 100, true, &a, &err), -1);
		assert_int_equal(err.code, E_VALIDATION);
		assert_non_null(strstr(err.msg, bad[i]));
	}
	/* 100 characters pass, 101 do not */
	char long_alias[102];
	memset(long_alias, 'x', 101);
	long_alias[101] = '\0';
	json_t *l = json_pack("{s:s, s:s#}", "a", long_alias, "b", long_alias, (size_t)100);
	assert_int_equal(field_alias(l, "a", 1, 100, true, &a, &err), -1);
	assert_int_equal(field_alias(l, "b", 1, 100, true, &a, &err), 1);
	json_decref(l);
	json_decref(b);
}

static void test_fields_allowed(void **state)
{
	static const char *const allowed[] = {"alias", "color", NULL};
	struct error err = {0};
	json_t *b = body("{\"alias\": \"x\", \"color\": \"#fff\"}");
	assert_int_equal(fields_allowed(b, allowed, &err), 0);
	json_decref(b);
	assert_int_equal(fields_allowed(NULL, allowed, &err), 0);
	b = body("{}");
	assert_int_equal(fields_allowed(b, allowed, &err), 0);
	json_decref(b);
	b = body("{\"alias\": \"x\", \"colour\": \"#fff\"}");
	assert_int_equal(fields_allowed(b, allowed, &err), -1);
	assert_int_equal(err.code, E_VALIDATION);
	assert_non_null(strstr(err.msg, "colour"));
	json_decref(b);
	b = body("[1, 2]");
	err = (struct error){0};
	assert_int_equal(fields_allowed(b, allowed, &err), -1);
	assert_int_equal(err.code, E_VALIDATION);
	json_decref(b);
}

/* Public-API fields kept as JSON text (token public_storage, user metadata). */
static void test_field_json_text(void **state)
{
	struct error err = {0};
	char *text = (char *)"untouched";
	json_t *b = body("{\"s\": {\"a\": [1, \"x\"]}, \"n\": null, \"t\": \"str\"}");
	assert_int_equal(field_json_text(b, "absent", 100, false, &text, &err), 0);
	assert_string_equal(text, "untouched");
	assert_int_equal(field_json_text(b, "s", 100, true, &text, &err), 1);
	assert_string_equal(text, "{\"a\":[1,\"x\"]}");
	free(text);
	assert_int_equal(field_json_text(b, "n", 100, true, &text, &err), 1);
	assert_null(text);
	assert_int_equal(field_json_text(b, "t", 100, false, &text, &err), 1);
	assert_string_equal(text, "\"str\"");
	free(text);
	/* object_only and the size bound */
	assert_int_equal(field_json_text(b, "t", 100, true, &text, &err), -1);
	assert_int_equal(err.code, E_VALIDATION);
	assert_non_null(strstr(err.msg, "t must be an object"));
	err = (struct error){0};
	assert_int_equal(field_json_text(b, "s", 10, false, &text, &err), -1);
	assert_non_null(strstr(err.msg, "at most 10 bytes"));
	json_decref(b);
}

static void test_field_ed25519_hex(void **state)
{
	struct error err = {0};
	char *hex = NULL;
	char upper[80], lower[80];
	snprintf(lower, sizeof(lower), "%s",
		 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	snprintf(upper, sizeof(upper), "{\"k\": \"%s\"}",
		 "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef");
	json_t *b = body(upper);
	assert_int_equal(field_ed25519_hex(b, "k", &hex, &err), 1);
	assert_string_equal(hex, lower);
	free(hex);
	json_decref(b);
	b = body("{\"k\": null}");
	hex = (char *)"untouched";
	assert_int_equal(field_ed25519_hex(b, "k", &hex, &err), 1);
	assert_null(hex);
	json_decref(b);
	static const char *const bad[] = {
	    "{\"k\": \"abc\"}", "{\"k\": 5}",
	    "{\"k\": \"zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = (struct error){0};
		b = body(bad[i]);
		assert_int_equal(field_ed25519_hex(b, "k", &hex, &err), -1);
		assert_int_equal(err.code, E_VALIDATION);
		json_decref(b);
	}
}

static void test_pagination(void **state)
{
	json_t *p = pagination_json_new(31, 2, 10);
	json_t *want = body("{\"total\": 31, \"page\": 2, \"limit\": 10, \"totalPages\": 4}");
	assert_true(json_equal(p, want));
	json_decref(p);
	json_decref(want);
	p = pagination_json_new(0, 1, 10);
	assert_int_equal(json_integer_value(json_object_get(p, "totalPages")), 0);
	json_decref(p);
	p = pagination_json_new(30, 1, 10);
	assert_int_equal(json_integer_value(json_object_get(p, "totalPages")), 3);
	json_decref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_color_normalize),
	    cmocka_unit_test(test_color_random),
	    cmocka_unit_test(test_field_color),
	    cmocka_unit_test(test_realm_ids),
	    cmocka_unit_test(test_realm_ids_rejects),
	    cmocka_unit_test(test_realm_ids_parse_garbage),
	    cmocka_unit_test(test_alias),
	    cmocka_unit_test(test_fields_allowed),
	    cmocka_unit_test(test_pagination),
	    cmocka_unit_test(test_field_json_text),
	    cmocka_unit_test(test_field_ed25519_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
