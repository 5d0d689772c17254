/* Projects, the realms list and the server identity against a real SQLite
 * store (no runtime, no HTTP): ownership, realm visibility and the exact
 * pagination of realm-filtered lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "platform/platform_int.h"
#include "platform/projects.h"
#include "platform/servers.h"
#include "platform/validate.h"

#define R1 "111111111111111111111111"
#define R2 "222222222222222222222222"
#define R3 "333333333333333333333333"

struct fixture {
	char dir[64];
	struct platform pf;
	struct user alice, bob;
};

static void add_user(struct store *st, struct user *u, const char *name)
{
	struct error err = {0};
	id_new(u->id);
	u->username = xstrdup(name);
	u->password_hash = xstrdup("x");
	u->max_containers = -1;
	assert_int_equal(store_user_insert(st, u, &err), 0);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct error err = {0};
	snprintf(f->dir, sizeof(f->dir), "/tmp/hoody-test-projects-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char *db = xasprintf("%s/hoody.db", f->dir);
	assert_int_equal(store_open(db, &f->pf.store, &err), 0);
	free(db);
	f->pf.cfg.state_dir = f->dir;
	f->pf.cfg.server_name = "node-unit";
	f->pf.cfg.server_max_containers = 4;
	add_user(f->pf.store, &f->alice, "alice");
	add_user(f->pf.store, &f->bob, "bob");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct error err = {0};
	store_close(f->pf.store);
	user_clear(&f->alice);
	user_clear(&f->bob);
	rm_rf(f->dir, &err);
	free(f);
	return 0;
}

static struct principal session(const struct user *u)
{
	struct principal p = {0};
	snprintf(p.user_id, sizeof(p.user_id), "%s", u->id);
	return p;
}

/* An hdy_ token of u with a full tree and these realms (JSON text). */
static struct principal token(const struct user *u, const char *realms_json)
{
	struct principal p = session(u);
	p.via_token = true;
	p.permissions = json_pack("{s:b, s:b}", "projects", 1, "resources", 1);
	p.token_realm_ids = json_loads(realms_json, 0, NULL);
	return p;
}

static json_t *make(struct platform *pf, const struct principal *who, const char *body_json)
{
	struct error err = {0};
	json_t *body = json_loads(body_json, 0, NULL), *p = NULL;
	assert_non_null(body);
	int rc = projects_create(pf, who, body, &p, &err);
	if (rc < 0)
		fail_msg("create %s: %s", body_json, err.msg);
	json_decref(body);
	return p;
}

static const char *sval(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void test_create_get_update(void **state)
{
	struct fixture *f = *state;
	struct principal a = session(&f->alice), b = session(&f->bob);
	struct error err = {0};
	json_t *p = make(&f->pf, &a, "{\"alias\": \"one\", \"color\": \"e74c3c\"}");
	assert_string_equal(sval(p, "color"), "#E74C3C");
	assert_true(json_is_null(json_object_get(p, "max_containers")));
	assert_int_equal(json_integer_value(json_object_get(p, "container_count")), 0);
	char id[ID_LEN + 1];
	snprintf(id, sizeof(id), "%s", sval(p, "id"));

	json_t *got = NULL;
	assert_int_equal(projects_get(&f->pf, &a, id, &got, &err), 0);
	assert_true(json_equal(got, p));
	json_decref(got);
	assert_int_equal(projects_get(&f->pf, &b, id, &got, &err), -1);
	assert_int_equal(err.code, E_NOT_FOUND);

	json_t *body = json_pack("{s:s}", "color", "#abc");
	assert_int_equal(projects_update(&f->pf, &a, id, body, false, &got, &err), -1);
	assert_int_equal(err.code, E_VALIDATION); /* PUT needs alias */
	assert_int_equal(projects_update(&f->pf, &b, id, body, true, &got, &err), -1);
	assert_int_equal(err.code, E_NOT_FOUND);
	assert_int_equal(projects_update(&f->pf, &a, id, body, true, &got, &err), 0);
	assert_string_equal(sval(got, "color"), "#ABC");
	assert_string_equal(sval(got, "alias"), "one");
	json_decref(got);
	json_decref(body);

	json_decref(make(&f->pf, &a, "{\"alias\": \"two\"}"));
	body = json_pack("{s:s}", "alias", "two");
	assert_int_equal(projects_update(&f->pf, &a, id, body, false, &got, &err), -1);
	assert_int_equal(err.code, E_CONFLICT);
	json_decref(body);
	json_decref(make(&f->pf, &b, "{\"alias\": \"two\"}")); /* per user */
	json_decref(p);
}

static void test_token_permissions_and_realms(void **state)
{
	struct fixture *f = *state;
	struct error err = {0};
	struct principal a = session(&f->alice);
	struct principal ro = token(&f->alice, "[]");
	json_decref(ro.permissions);
	ro.permissions = json_pack("{s:{s:b}}", "projects", "read", 1);
	json_t *body = json_pack("{s:s}", "alias", "x"), *out = NULL;
	assert_int_equal(projects_create(&f->pf, &ro, body, &out, &err), -1);
	assert_int_equal(err.code, E_FORBIDDEN);
	json_decref(body);

	/* a realm-bound token: creations join its realms, realm_ids refused */
	struct principal t = token(&f->alice, "[\"" R2 "\"]");
	json_t *p = make(&f->pf, &t, "{\"alias\": \"by-token\"}");
	assert_string_equal(json_string_value(json_array_get(json_object_get(p, "realm_ids"), 0)),
			    R2);
	body = json_pack("{s:s, s:[s]}", "alias", "y", "realm_ids", R2);
	assert_int_equal(projects_create(&f->pf, &t, body, &out, &err), -1);
	assert_int_equal(err.code, E_FORBIDDEN);
	json_decref(body);

	/* a realm host: the scoped realm is merged after the body's */
	struct principal scoped = session(&f->alice);
	snprintf(scoped.scoped_realm, sizeof(scoped.scoped_realm), "%s", R1);
	json_t *q = make(&f->pf, &scoped, "{\"alias\": \"scoped\", \"realm_ids\": [\"" R3 "\"]}");
	char *text = json_dumps(json_object_get(q, "realm_ids"), JSON_COMPACT);
	assert_string_equal(text, "[\"" R3 "\",\"" R1 "\"]");
	free(text);

	json_t *got = NULL;
	assert_int_equal(projects_get(&f->pf, &t, sval(q, "id"), &got, &err), -1);
	assert_int_equal(err.code, E_NOT_FOUND); /* outside the token's realm */
	assert_int_equal(projects_get(&f->pf, &a, sval(q, "id"), &got, &err), 0);
	json_decref(got);
	json_decref(p);
	json_decref(q);
	principal_clear(&ro);
	principal_clear(&t);
}

static json_t *list(struct platform *pf, const struct principal *who, const char *sort, bool desc,
		    int64_t page, int64_t limit, const char *realm)
{
	struct error err = {0};
	struct list_query q = {
	    .sort_by = sort, .desc = desc, .page = page, .limit = limit, .realm_id = realm};
	json_t *data = NULL;
	if (projects_list(pf, who, &q, &data, &err) < 0)
		fail_msg("list: %s", err.msg);
	return data;
}

static int64_t total_of(const json_t *data)
{
	return json_integer_value(json_object_get(json_object_get(data, "pagination"), "total"));
}

static void test_realm_filtered_pagination(void **state)
{
	struct fixture *f = *state;
	struct principal a = session(&f->alice);
	/* 12 projects: alias pNN in realm R1 (even), R2 (n % 3 == 1) or none */
	for (int i = 0; i < 12; i++) {
		char body[160];
		const char *realm = i % 2 == 0 ? "\"" R1 "\"" : i % 3 == 1 ? "\"" R2 "\"" : "";
		snprintf(body, sizeof(body), "{\"alias\": \"p%02d\", \"realm_ids\": [%s]}", i,
			 realm);
		json_decref(make(&f->pf, &a, body));
	}
	json_t *d = list(&f->pf, &a, "alias", false, 1, 100, NULL);
	assert_int_equal(total_of(d), 12);
	json_decref(d);
	d = list(&f->pf, &a, "alias", false, 1, 100, R2);
	assert_int_equal(total_of(d), 2); /* p01, p07 */
	json_decref(d);

	/* a token of R1 and R2 sees p00,p01,p02,p04,p06,p07,p08,p10 (odd with n%3==1: 1,7) */
	struct principal t = token(&f->alice, "[\"" R1 "\", \"" R2 "\"]");
	const char *want[] = {"p00", "p01", "p02", "p04", "p06", "p07", "p08", "p10"};
	for (int64_t page = 1; page <= 3; page++) {
		d = list(&f->pf, &t, "alias", false, page, 3, NULL);
		assert_int_equal(total_of(d), 8);
		json_t *items = json_object_get(d, "projects");
		size_t expect = page < 3 ? 3 : 2;
		assert_int_equal(json_array_size(items), expect);
		for (size_t i = 0; i < expect; i++)
			assert_string_equal(sval(json_array_get(items, i), "alias"),
					    want[(page - 1) * 3 + (int64_t)i]);
		json_decref(d);
	}
	/* a realm_id outside the token's realms lists nothing */
	d = list(&f->pf, &t, "alias", false, 1, 10, R3);
	assert_int_equal(total_of(d), 0);
	json_decref(d);
	/* a realm host of R1 with a realm_id filter of R2: both must hold (none here) */
	struct principal s = session(&f->alice);
	snprintf(s.scoped_realm, sizeof(s.scoped_realm), "%s", R1);
	d = list(&f->pf, &s, "alias", false, 1, 10, R2);
	assert_int_equal(total_of(d), 0);
	json_decref(d);
	principal_clear(&t);
}

static void test_realms_list(void **state)
{
	struct fixture *f = *state;
	struct error err = {0};
	struct principal a = session(&f->alice);
	json_t *d = NULL;
	assert_int_equal(realms_list(&f->pf, &a, false, &d, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(d, "total")), 0);
	json_decref(d);
	json_decref(
	    make(&f->pf, &a, "{\"alias\": \"r\", \"realm_ids\": [\"" R2 "\", \"" R1 "\"]}"));
	json_decref(make(&f->pf, &a, "{\"alias\": \"s\", \"realm_ids\": [\"" R1 "\"]}"));
	assert_int_equal(realms_list(&f->pf, &a, true, &d, &err), 0);
	char *text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text,
			    "{\"realm_ids\":[\"" R1 "\",\"" R2 "\"],\"total\":2,\"usage\":{\"" R1
			    "\":{\"auth_tokens\":0,\"containers\":0,\"projects\":2,\"servers\":0},"
			    "\"" R2 "\":{\"auth_tokens\":0,\"containers\":0,\"projects\":1,"
			    "\"servers\":0}}}");
	free(text);
	json_decref(d);
	struct principal t = token(&f->alice, "[\"" R2 "\"]");
	assert_int_equal(realms_list(&f->pf, &t, false, &d, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(d, "total")), 1);
	json_decref(d);
	json_decref(t.permissions);
	t.permissions = json_pack("{s:b}", "projects", 1);
	assert_int_equal(realms_list(&f->pf, &t, false, &d, &err), -1);
	assert_int_equal(err.code, E_FORBIDDEN);
	principal_clear(&t);
}

static void test_default_project(void **state)
{
	struct fixture *f = *state;
	struct error err = {0};
	struct project p1 = {0}, p2 = {0};
	assert_int_equal(projects_ensure_default(&f->pf, f->alice.id, &p1, &err), 0);
	assert_true(p1.is_default);
	assert_int_equal(projects_ensure_default(&f->pf, f->alice.id, &p2, &err), 0);
	assert_string_equal(p1.id, p2.id);
	project_clear(&p1);
	project_clear(&p2);
}

static void test_server_identity(void **state)
{
	struct fixture *f = *state;
	struct error err = {0};
	assert_int_equal(platform_servers_init(&f->pf, &err), 0);
	assert_true(id_valid(f->pf.server_id));
	char first[ID_LEN + 1];
	memcpy(first, f->pf.server_id, sizeof(first));
	f->pf.cfg.server_name = "renamed";
	assert_int_equal(platform_servers_init(&f->pf, &err), 0);
	assert_string_equal(f->pf.server_id, first);
	json_t *arr = NULL;
	struct principal a = session(&f->alice);
	assert_int_equal(servers_list_json(&f->pf, &a, &arr, &err), 0);
	assert_int_equal(json_array_size(arr), 1);
	json_t *s = json_array_get(arr, 0);
	assert_string_equal(sval(s, "server_id"), first);
	assert_string_equal(sval(s, "name"), "renamed");
	json_t *cap = json_object_get(s, "container_capacity");
	assert_int_equal(json_integer_value(json_object_get(cap, "max")), 4);
	assert_int_equal(json_integer_value(json_object_get(cap, "used")), 0);
	assert_string_equal(sval(json_object_get(s, "server"), "country"), "");
	json_decref(arr);
	assert_int_equal(servers_get_json(&f->pf, &a, "ffffffffffffffffffffffff", &arr, &err), -1);
	assert_int_equal(err.code, E_NOT_FOUND);
	json_t *sum = server_summary_json_new(&f->pf, first);
	assert_string_equal(sval(sum, "name"), "renamed");
	json_decref(sum);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_get_update, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_permissions_and_realms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_realm_filtered_pagination, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_realms_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_default_project, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_identity, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
