/* Auth building blocks without a store: JWT round trips and rejections,
 * token secrets and hashes, the permission tree, principals and realms,
 * IP allow-lists, passwords. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "platform/platform_int.h"
#include "platform/auth.h"

static struct platform pf;

static int setup(void **state)
{
	assert_true(sodium_init() >= 0);
	memset(&pf, 0, sizeof(pf));
	memset(pf.jwt_secret, 7, sizeof(pf.jwt_secret));
	pf.cfg.jwt_ttl_s = 60;
	pf.cfg.refresh_ttl_s = 600;
	return 0;
}

static struct user test_user(void)
{
	struct user u = {0};
	memcpy(u.id, "0123456789abcdef01234567", ID_LEN + 1);
	u.session_generation = 3;
	return u;
}

static void test_jwt_roundtrip(void **state)
{
	struct user u = test_user();
	char *tok = NULL;
	int64_t exp = 0;
	struct jwt_claims c;
	struct error err = {0};
	assert_int_equal(auth_jwt_issue(&pf, &u, JWT_ACCESS, NULL, &tok, &exp, &err), 0);
	assert_true(exp > 0);
	assert_int_equal(auth_jwt_verify(&pf, tok, JWT_ACCESS, &c, &err), 0);
	assert_string_equal(c.user_id, u.id);
	assert_int_equal(c.generation, 3);
	assert_int_equal(c.exp, exp);

	/* an access token is not a refresh token */
	assert_int_equal(auth_jwt_verify(&pf, tok, JWT_REFRESH, &c, &err), -1);
	assert_int_equal(err.code, E_INVALID_TOKEN);

	/* another secret, a flipped signature byte, garbage */
	struct platform other = pf;
	other.jwt_secret[0] ^= 1;
	assert_int_equal(auth_jwt_verify(&other, tok, JWT_ACCESS, &c, &err), -1);
	assert_int_equal(err.code, E_INVALID_TOKEN);
	size_t n = strlen(tok);
	tok[n - 2] = tok[n - 2] == 'A' ? 'B' : 'A';
	assert_int_equal(auth_jwt_verify(&pf, tok, JWT_ACCESS, &c, &err), -1);
	assert_int_equal(auth_jwt_verify(&pf, "a.b.c", JWT_ACCESS, &c, &err), -1);
	assert_int_equal(auth_jwt_verify(&pf, "", JWT_ACCESS, &c, &err), -1);
	/* alg "none" is never accepted */
	assert_int_equal(
	    auth_jwt_verify(&pf,
			    "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIwMTIzNDU2Nzg5"
			    "YWJjZGVmMDEyMzQ1NjciLCJ0eXAiOiJhY2Nlc3MiLCJnZW4iOjMsImV4cCI6"
			    "OTk5OTk5OTk5OX0.",
			    JWT_ACCESS, &c, &err),
	    -1);
	assert_int_equal(err.code, E_INVALID_TOKEN);
	free(tok);
}

static void test_jwt_expiry(void **state)
{
	struct user u = test_user();
	struct platform old = pf;
	char *tok = NULL;
	int64_t exp;
	struct jwt_claims c;
	struct error err = {0};
	old.cfg.refresh_ttl_s = -5;
	assert_int_equal(auth_jwt_issue(&old, &u, JWT_REFRESH, NULL, &tok, &exp, &err), 0);
	assert_int_equal(auth_jwt_verify(&pf, tok, JWT_REFRESH, &c, &err), -1);
	assert_int_equal(err.code, E_TOKEN_EXPIRED);
	free(tok);
}

static void test_token_secrets(void **state)
{
	char a[AUTH_TOKEN_SECRET_LEN + 1], b[AUTH_TOKEN_SECRET_LEN + 1], h[65];
	auth_token_secret_new(a);
	auth_token_secret_new(b);
	assert_int_equal(strlen(a), AUTH_TOKEN_SECRET_LEN);
	assert_memory_equal(a, "hdy_", 4);
	assert_string_not_equal(a, b);
	for (const char *p = a + 4; *p; p++)
		assert_non_null(
		    strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
	auth_token_hash("hdy_test", h);
	/* sha256("hdy_test") */
	assert_string_equal(h, "95fa131f985d36614087d8ad73f1790fb4c287157401500b6228486001f14ff5");
	char again[65];
	auth_token_hash("hdy_test", again);
	assert_string_equal(h, again);
	auth_token_hash("hdy_tesu", again);
	assert_string_not_equal(h, again);
}

static void test_permission_tree(void **state)
{
	json_t *full = auth_permission_template_new("full_access");
	json_t *ro = auth_permission_template_new("read_only");
	assert_non_null(full);
	assert_null(auth_permission_template_new("god_mode"));
	for (size_t i = 0; auth_permission_leaves[i]; i++)
		assert_true(auth_permission_granted(full, auth_permission_leaves[i]));
	assert_true(auth_permission_granted(ro, "containers.read"));
	assert_false(auth_permission_granted(ro, "containers.create"));
	assert_false(auth_permission_granted(ro, "containers.actions.start"));
	assert_false(auth_permission_granted(ro, "resources.create_tokens"));
	assert_false(auth_permission_granted(ro, "no.such.leaf"));
	assert_false(auth_permission_granted(NULL, "containers.read"));

	/* a boolean on a branch sets the whole subtree; missing means deny */
	json_t *in = json_pack("{s:b, s:{s:b}}", "containers", 1, "projects", "read", 1);
	json_t *tree = NULL;
	struct error err = {0};
	assert_int_equal(auth_permissions_normalize(in, &tree, &err), 0);
	assert_true(auth_permission_granted(tree, "containers.actions.exec"));
	assert_true(auth_permission_granted(tree, "projects.read"));
	assert_false(auth_permission_granted(tree, "projects.delete"));
	assert_false(auth_permission_granted(tree, "admin.users"));
	assert_true(json_is_false(json_object_get(json_object_get(tree, "admin"), "users")));
	json_decref(in);
	json_decref(tree);

	const char *bad[] = {"{\"containers\": {\"fly\": true}}", "{\"x\": true}",
			     "{\"containers\": {\"create\": 1}}", "{\"containers\": \"all\"}",
			     "{\"containers\": {\"create\": {\"deeper\": true}}}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		in = json_loads(bad[i], 0, NULL);
		tree = NULL;
		assert_int_equal(auth_permissions_normalize(in, &tree, &err), -1);
		assert_int_equal(err.code, E_VALIDATION);
		assert_non_null(strstr(err.msg, "permissions"));
		assert_null(tree);
		json_decref(in);
	}
	json_decref(full);
	json_decref(ro);
}

static void test_principal(void **state)
{
	struct principal jwt = {0}, tok = {0};
	struct error err = {0};
	assert_int_equal(principal_require(&jwt, "admin.system", &err), 0);
	tok.via_token = true;
	tok.permissions = auth_permission_template_new("external_customer");
	assert_int_equal(principal_require(&tok, "containers.actions.start", &err), 0);
	assert_int_equal(principal_require(&tok, "containers.create", &err), -1);
	assert_int_equal(err.code, E_FORBIDDEN);
	assert_non_null(strstr(err.msg, "containers.create"));

	const char *ra = "aaaaaaaaaaaaaaaaaaaaaaaa", *rb = "bbbbbbbbbbbbbbbbbbbbbbbb";
	const char *in_a = "[\"aaaaaaaaaaaaaaaaaaaaaaaa\"]",
		   *in_b = "[\"bbbbbbbbbbbbbbbbbbbbbbbb\"]";
	assert_true(principal_sees_realms(&jwt, "[]"));
	assert_true(principal_sees_realms(&jwt, in_b));
	tok.token_realm_ids = json_pack("[s]", ra);
	assert_true(principal_sees_realms(&tok, in_a));
	assert_false(principal_sees_realms(&tok, in_b));
	assert_false(principal_sees_realms(&tok, "[]"));
	assert_false(principal_sees_realms(&tok, NULL));
	/* a realm host narrows every caller to that realm */
	memcpy(jwt.scoped_realm, rb, ID_LEN + 1);
	assert_true(principal_sees_realms(&jwt, in_b));
	assert_false(principal_sees_realms(&jwt, in_a));
	assert_false(principal_sees_realms(&jwt, "[]"));
	principal_clear(&tok);
	assert_null(tok.permissions);
	assert_false(tok.via_token);
}

static void test_ip_lists(void **state)
{
	json_t *l = json_pack("[s, s]", "10.0.0.0/8", "2001:db8::/32");
	assert_true(auth_ip_allowed(l, "10.1.2.3"));
	assert_true(auth_ip_allowed(l, "::ffff:10.9.9.9"));
	assert_true(auth_ip_allowed(l, "2001:db8::1"));
	assert_false(auth_ip_allowed(l, "11.0.0.1"));
	assert_false(auth_ip_allowed(l, "2001:db9::1"));
	assert_false(auth_ip_allowed(l, ""));
	json_decref(l);
	l = json_pack("[s]", "*");
	assert_true(auth_ip_allowed(l, "8.8.8.8"));
	json_decref(l);
	assert_true(auth_ip_allowed(NULL, "1.2.3.4"));
	assert_true(auth_ip_entry_valid("192.168.1.1"));
	assert_true(auth_ip_entry_valid("192.168.0.0/16"));
	assert_true(auth_ip_entry_valid("::1"));
	assert_false(auth_ip_entry_valid("192.168.0.0/33"));
	assert_false(auth_ip_entry_valid("999.1.1.1"));
	assert_false(auth_ip_entry_valid("10.0.0.0/"));
	assert_false(auth_ip_entry_valid("localhost"));
}

static void test_passwords(void **state)
{
	char hash[AUTH_PASSWORD_HASH_MAX];
	struct error err = {0};
	assert_int_equal(auth_password_hash("Passw0rd-x", hash, &err), 0);
	assert_non_null(strstr(hash, "$argon2id$"));
	assert_true(auth_password_verify(hash, "Passw0rd-x"));
	assert_false(auth_password_verify(hash, "Passw0rd-y"));
	assert_false(auth_password_verify(NULL, "x"));
	assert_false(auth_password_verify("not a hash", "x"));
}

/* The limiter's hash (djb2 mod slots), to find addresses that collide. */
static size_t fail_slot(const char *ip)
{
	size_t h = 5381;
	for (; *ip; ip++)
		h = h * 33 + (unsigned char)*ip;
	return h % LOGIN_FAIL_SLOTS;
}

/* An attacker near the failed-login limit must not get a fresh budget from a
 * second address of theirs that lands on the same slot. */
static void test_login_limiter_collision(void **state)
{
	char a[48] = "10.9.0.1", b[48] = "";
	for (int i = 2; i < 100000 && !b[0]; i++) {
		char ip[48];
		snprintf(ip, sizeof(ip), "10.9.%d.%d", i / 250, i % 250);
		if (strcmp(ip, a) && fail_slot(ip) == fail_slot(a))
			snprintf(b, sizeof(b), "%s", ip);
	}
	assert_true(b[0]);
	for (int i = 0; i < LOGIN_FAIL_MAX - 1; i++)
		assert_false(sessions_login_blocked(a, true));
	assert_false(sessions_login_blocked(b, true)); /* the colliding address */
	assert_false(sessions_login_blocked(b, false));
	assert_true(sessions_login_blocked(a, true)); /* a's count was kept */
	assert_true(sessions_login_blocked(a, false));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jwt_roundtrip), cmocka_unit_test(test_jwt_expiry),
	    cmocka_unit_test(test_token_secrets), cmocka_unit_test(test_permission_tree),
	    cmocka_unit_test(test_principal),	  cmocka_unit_test(test_ip_lists),
	    cmocka_unit_test(test_passwords),	  cmocka_unit_test(test_login_limiter_collision),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
