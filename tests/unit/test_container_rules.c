/* Container request rules without a daemon: names, environment variables,
 * SSH keys and fingerprints, the create/update body parsers, the operation
 * locks and the rendered container object. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/util.h"
#include "platform/platform_int.h"
#include "platform/container_rules.h"
#include "platform/oplocks.h"
#include "platform/render.h"

/* ssh-keygen -t ed25519 -C test@hoody; fingerprint from ssh-keygen -l. */
#define ED_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICCMVgpTnAvZpB1tXaAaVkBCSCPBc5Wnm7b3oDxvOhtv"
#define ED_FP "SHA256:gSiLAWT0NFxz891YO4lfiMF3IRq6FKkNKU/6KM1Mk8o"
#define RSA_KEY                                                                                    \
	"ssh-rsa "                                                                                 \
	"AAAAB3NzaC1yc2EAAAADAQABAAABAQCgTFKEQp5gEjJbTZOR8YxLykamyBWKh4keVfUtOxbNzIWzE/dp4w76Zc95" \
	"MXkRqhjQn4zlAuX32egJ/n7kVtM86D1rR4Sn++c7axp+rm/BMG4bcH7Sf0SBn5OvgNhTcw+4uQZWKd6iCLGOerfp" \
	"JCU2zhs/"                                                                                 \
	"nIPGa4ap0exeXCowP56sAZJ6hg38VAa68A7nAeSbFD4pkmFGvGt4lQrQzEgMkV60SEqo4L33l9oCXT7a9"        \
	"+pnXQq5bJ/"                                                                               \
	"AUic1cWWIjnTbVYwSP4CccA9Zaup8rsoOKYqYz9C3RmXY+t7AXq6BUjRMMGA9LavsBjIYq4mqrM0Vgg"          \
	"0jl3MH6Emqxqut6QFj"
#define RSA_FP "SHA256:xKe6mNi7n0V3mylyG36iOmeqOhbno9rpnmdavm42YR0"

static json_t *body(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	if (!j)
		fail_msg("bad test JSON %s: %s", text, e.text);
	return j;
}

/* Parses text as a create (or update) body; returns the error code. */
static enum err_code parse(const char *text, bool create, struct container_input *in,
			   struct error *err)
{
	json_t *b = body(text);
	memset(err, 0, sizeof(*err));
	int rc = create ? crules_parse_create(b, in, err) : crules_parse_update(b, in, err);
	json_decref(b);
	/* Borrowed strings die with the body: the tests only look at owned ones. */
	in->image = NULL;
	in->comment = NULL;
	in->server_id = NULL;
	return rc == 0 ? E_OK : err->code;
}

static void test_names(void **state)
{
	struct error err;
	assert_int_equal(crules_name_check("abc", &err), 0);
	assert_int_equal(crules_name_check("A_b-9", &err), 0);
	assert_int_equal(crules_name_check("ab", &err), -1);
	assert_int_equal(err.code, E_INVALID_CONTAINER_NAME);
	assert_int_equal(crules_name_check("has space", &err), -1);
	assert_int_equal(crules_name_check("dot.name", &err), -1);
	assert_int_equal(crules_name_check("\xc3\xa9t\xc3\xa9", &err), -1);
	char name[CONTAINER_NAME_MAX + 2];
	memset(name, 'a', sizeof(name));
	name[CONTAINER_NAME_MAX] = '\0';
	assert_int_equal(crules_name_check(name, &err), 0);
	name[CONTAINER_NAME_MAX] = 'a';
	name[CONTAINER_NAME_MAX + 1] = '\0';
	assert_int_equal(crules_name_check(name, &err), -1);
	for (int i = 0; i < 200; i++) {
		char r[CONTAINER_NAME_MAX + 1];
		crules_random_name(r);
		assert_int_equal(crules_name_check(r, &err), 0);
	}
}

static void test_env(void **state)
{
	struct error err;
	json_t *out = NULL;
	json_t *ok =
	    body("{\"A\":\"1\",\"_b9\":\"\",\"PATH_X\":\"has spaces and \\\"quotes\\\"\"}");
	assert_int_equal(crules_env_check(ok, &out, &err), 0);
	assert_true(json_equal(ok, out));
	json_decref(out);
	json_decref(ok);
	static const char *const bad[] = {
	    "[]",	 "{\"1A\":\"x\"}", "{\"A-B\":\"x\"}",	       "{\"\":\"x\"}",
	    "{\"A\":1}", "{\"A\":null}",   "{\"A\":\"line\\nbreak\"}", "{\"A\":\"cr\\r\"}"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_t *b = body(bad[i]);
		assert_int_equal(crules_env_check(b, &out, &err), -1);
		assert_int_equal(err.code, E_VALIDATION);
		json_decref(b);
	}
	/* null is an empty environment */
	assert_int_equal(crules_env_check(json_null(), &out, &err), 0);
	assert_int_equal(json_object_size(out), 0);
	json_decref(out);
	/* limits: 200 properties, 128-character keys, 65536-character values */
	json_t *many = json_object();
	for (int i = 0; i < CONTAINER_ENV_MAX; i++) {
		char k[16];
		snprintf(k, sizeof(k), "K%d", i);
		json_object_set_new(many, k, json_string("v"));
	}
	assert_int_equal(crules_env_check(many, &out, &err), 0);
	json_decref(out);
	json_object_set_new(many, "ONE_MORE", json_string("v"));
	assert_int_equal(crules_env_check(many, &out, &err), -1);
	json_decref(many);
	char key[CONTAINER_ENV_KEY_MAX + 2];
	memset(key, 'K', sizeof(key));
	key[CONTAINER_ENV_KEY_MAX] = '\0';
	char *val = xmalloc(CONTAINER_ENV_VALUE_MAX + 2);
	memset(val, 'v', CONTAINER_ENV_VALUE_MAX + 1);
	val[CONTAINER_ENV_VALUE_MAX] = '\0';
	json_t *big = json_pack("{s:s}", key, val);
	assert_int_equal(crules_env_check(big, &out, &err), 0);
	json_decref(out);
	json_decref(big);
	val[CONTAINER_ENV_VALUE_MAX] = 'v';
	val[CONTAINER_ENV_VALUE_MAX + 1] = '\0';
	big = json_pack("{s:s}", "K", val);
	assert_int_equal(crules_env_check(big, &out, &err), -1);
	json_decref(big);
	/* 65536 two-byte characters exceed what a process environment holds */
	char *wide = xmalloc(2 * CONTAINER_ENV_VALUE_MAX + 1);
	for (int i = 0; i < CONTAINER_ENV_VALUE_MAX; i++)
		memcpy(wide + 2 * i, "\xc3\xa9", 2);
	wide[2 * CONTAINER_ENV_VALUE_MAX] = '\0';
	big = json_pack("{s:s}", "K", wide);
	assert_int_equal(crules_env_check(big, &out, &err), -1);
	json_decref(big);
	wide[2 * 60000] = '\0';
	big = json_pack("{s:s}", "K", wide);
	assert_int_equal(crules_env_check(big, &out, &err), 0);
	json_decref(out);
	json_decref(big);
	free(wide);
	key[CONTAINER_ENV_KEY_MAX] = 'K';
	key[CONTAINER_ENV_KEY_MAX + 1] = '\0';
	big = json_pack("{s:s}", key, "v");
	assert_int_equal(crules_env_check(big, &out, &err), -1);
	json_decref(big);
	free(val);
}

static void test_ssh_keys(void **state)
{
	struct error err;
	char *norm = NULL;
	char fp[SSH_FINGERPRINT_LEN];
	assert_int_equal(crules_ssh_key_check(ED_KEY " test@hoody", &norm, &err), 0);
	assert_string_equal(norm, ED_KEY " test@hoody");
	free(norm);
	/* surrounding whitespace and a trailing newline are trimmed, inner runs collapsed */
	assert_int_equal(crules_ssh_key_check("  " ED_KEY "   my  laptop \n", &norm, &err), 0);
	assert_string_equal(norm, ED_KEY " my  laptop");
	free(norm);
	assert_int_equal(crules_ssh_key_check(RSA_KEY, &norm, &err), 0);
	assert_string_equal(norm, RSA_KEY);
	free(norm);
	static const char *const bad[] = {
	    "", "   ", "ssh-ed25519", "ssh-ed25519 !!!notbase64!!!",
	    /* blob of another type */
	    "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAICCMVgpTnAvZpB1tXaAaVkBCSCPBc5Wnm7b3oDxvOhtv",
	    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICCMVgpTnAvZpB1tXaAaVkBCSCPBc5Wnm7b3oDxvOhtv\nx y",
	    "hello world"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(crules_ssh_key_check(bad[i], &norm, &err), -1);
		assert_int_equal(err.code, E_VALIDATION);
	}
	char *huge = xmalloc(SSH_KEY_MAX + 64);
	snprintf(huge, SSH_KEY_MAX + 64, "%s ", ED_KEY);
	size_t n = strlen(huge);
	memset(huge + n, 'c', SSH_KEY_MAX + 10 - n);
	huge[SSH_KEY_MAX + 10] = '\0';
	assert_int_equal(crules_ssh_key_check(huge, &norm, &err), -1);
	free(huge);

	assert_true(crules_ssh_fingerprint(ED_KEY " test@hoody", fp));
	assert_string_equal(fp, ED_FP);
	assert_true(crules_ssh_fingerprint(RSA_KEY, fp));
	assert_string_equal(fp, RSA_FP);
	assert_false(crules_ssh_fingerprint("nope", fp));
	assert_false(crules_ssh_fingerprint(NULL, fp));
}

static void test_create_defaults(void **state)
{
	struct container_input in;
	struct error err;
	assert_int_equal(parse("{}", true, &in, &err), E_OK);
	assert_true(in.random_name);
	assert_int_equal(crules_name_check(in.name, &err), 0);
	assert_int_equal(strlen(in.color), 7);
	assert_int_equal(in.color[0], '#');
	assert_true(in.ai && in.hoody_kit && in.dev_kit && in.autostart && in.ramdisk);
	assert_false(in.has_image || in.has_server_id || in.has_ssh_key);
	assert_int_equal(json_object_size(in.env), 0);
	assert_int_equal(json_array_size(in.realm_ids), 0);
	container_input_clear(&in);

	assert_int_equal(
	    parse("{\"name\":\"rand\",\"hoody_kit\":false,\"color\":\"3498db\","
		  "\"realm_ids\":[\"64A2C4E9F3D5E2B6A8C7D8E1\"],\"ssh_public_key\":\"" ED_KEY
		  "\",\"cache\":false,\"cache_image\":true,\"bypass_prespawn\":true,"
		  "\"prespawn\":false,\"kvm\":false}",
		  true, &in, &err),
	    E_OK);
	assert_true(in.random_name);
	assert_false(in.hoody_kit);
	assert_false(in.dev_kit); /* follows hoody_kit */
	assert_string_equal(in.color, "#3498DB");
	assert_string_equal(json_string_value(json_array_get(in.realm_ids, 0)),
			    "64a2c4e9f3d5e2b6a8c7d8e1");
	assert_string_equal(in.ssh_key, ED_KEY);
	container_input_clear(&in);

	assert_int_equal(
	    parse("{\"name\":\"web-1\",\"hoody_kit\":false,\"dev_kit\":true}", true, &in, &err),
	    E_OK);
	assert_string_equal(in.name, "web-1");
	assert_false(in.random_name);
	assert_true(in.dev_kit && !in.hoody_kit);
	container_input_clear(&in);
}

static void test_create_errors(void **state)
{
	struct container_input in;
	struct error err;
	static const struct {
		const char *body;
		enum err_code code;
		const char *mentions;
	} cases[] = {
	    {"{\"bogus\":1}", E_VALIDATION, "bogus"},
	    {"{\"name\":5}", E_VALIDATION, "name"},
	    {"{\"name\":\"a b\"}", E_INVALID_CONTAINER_NAME, "container name"},
	    {"{\"name\":\"ab\"}", E_INVALID_CONTAINER_NAME, "container name"},
	    {"{\"color\":\"red\"}", E_VALIDATION, "color"},
	    {"{\"color\":7}", E_VALIDATION, "color"},
	    {"{\"ai\":\"yes\"}", E_VALIDATION, "ai"},
	    {"{\"hoody_kit\":1}", E_VALIDATION, "hoody_kit"},
	    {"{\"dev_kit\":null}", E_VALIDATION, "dev_kit"},
	    {"{\"autostart\":0}", E_VALIDATION, "autostart"},
	    {"{\"ramdisk\":\"true\"}", E_VALIDATION, "ramdisk"},
	    {"{\"cache\":1}", E_VALIDATION, "cache"},
	    {"{\"environment_vars\":[]}", E_VALIDATION, "environment_vars"},
	    {"{\"environment_vars\":{\"9\":\"x\"}}", E_VALIDATION, "environment_vars"},
	    {"{\"ssh_public_key\":\"\"}", E_VALIDATION, "ssh_public_key"},
	    {"{\"ssh_public_key\":42}", E_VALIDATION, "ssh_public_key"},
	    {"{\"comment\":[]}", E_VALIDATION, "comment"},
	    {"{\"realm_ids\":\"x\"}", E_VALIDATION, "realm_ids"},
	    {"{\"realm_ids\":[\"nothex\"]}", E_VALIDATION, "realm_ids"},
	    {"{\"server_id\":\"123\"}", E_VALIDATION, "server_id"},
	    {"{\"server_id\":12}", E_VALIDATION, "server_id"},
	    {"{\"container_image\":\"\"}", E_VALIDATION, "container_image"},
	    {"{\"container_image\":5}", E_VALIDATION, "container_image"},
	    {"{\"prespawn\":true}", E_FORBIDDEN, "prespawn"},
	    {"{\"kvm\":true}", E_FORBIDDEN, "KVM"},
	    {"{\"kvm\":true,\"dev_kvm\":false}", E_VALIDATION, "agree"},
	    {"[1]", E_VALIDATION, "object"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		enum err_code code = parse(cases[i].body, true, &in, &err);
		if (code != cases[i].code || !strstr(err.msg, cases[i].mentions))
			fail_msg("%s: got %d \"%s\"", cases[i].body, code, err.msg);
	}
	char *comment = xmalloc(CONTAINER_COMMENT_MAX + 32);
	memset(comment, 'c', CONTAINER_COMMENT_MAX);
	comment[CONTAINER_COMMENT_MAX] = '\0';
	json_t *b = json_pack("{s:s}", "comment", comment);
	assert_int_equal(crules_parse_create(b, &in, &err), 0);
	container_input_clear(&in);
	json_decref(b);
	strcat(comment, "c");
	b = json_pack("{s:s}", "comment", comment);
	assert_int_equal(crules_parse_create(b, &in, &err), -1);
	assert_non_null(strstr(err.msg, "comment"));
	json_decref(b);
	free(comment);
}

static void test_update(void **state)
{
	struct container_input in;
	struct error err;
	assert_int_equal(parse("{}", false, &in, &err), E_OK);
	assert_false(in.has_name || in.has_color || in.has_env || in.has_ssh_key ||
		     in.has_comment || in.has_realm_ids || in.has_ai);
	container_input_clear(&in);
	assert_int_equal(parse("{\"name\":\"rand\",\"ssh_public_key\":null,\"comment\":null,"
			       "\"environment_vars\":{\"A\":\"b\"},\"ai\":false,"
			       "\"ramdisk_scope\":\"container\"}",
			       false, &in, &err),
			 E_OK);
	assert_true(in.has_name && !in.random_name);
	assert_string_equal(in.name, "rand"); /* literal on update */
	assert_true(in.has_ssh_key && !in.ssh_key);
	assert_true(in.has_comment);
	assert_true(in.has_env && in.has_ai && !in.ai);
	container_input_clear(&in);
	static const char *const immutable[] = {"container_image", "hoody_kit",	 "dev_kit",
						"server_id",	   "project_id", "prespawn"};
	for (size_t i = 0; i < ARRAY_SIZE(immutable); i++) {
		char text[128];
		snprintf(text, sizeof(text), "{\"%s\":true}", immutable[i]);
		assert_int_equal(parse(text, false, &in, &err), E_VALIDATION);
		assert_non_null(strstr(err.msg, immutable[i]));
		assert_non_null(strstr(err.msg, "cannot be changed"));
	}
	assert_int_equal(parse("{\"name\":null}", false, &in, &err), E_VALIDATION);
	assert_int_equal(parse("{\"name\":\"no\"}", false, &in, &err), E_INVALID_CONTAINER_NAME);
	assert_int_equal(parse("{\"status\":\"running\"}", false, &in, &err), E_VALIDATION);
	assert_non_null(strstr(err.msg, "status"));
	assert_int_equal(parse("{\"ramdisk_scope\":\"galaxy\"}", false, &in, &err), E_VALIDATION);
	assert_int_equal(parse("{\"ramdisk_scope\":\"project\"}", false, &in, &err), 0);
	assert_true(in.has_ramdisk_scope && in.ramdisk_shared);
	container_input_clear(&in);
	assert_int_equal(parse("{\"ssh_public_key\":\"  \"}", false, &in, &err), E_VALIDATION);
}

struct lock_arg {
	struct oplocks *l;
	int *counter;
};

static void *locker(void *p)
{
	struct lock_arg *a = p;
	for (int i = 0; i < 1000; i++) {
		oplock_wait(a->l, "aaaaaaaaaaaaaaaaaaaaaaaa", "test");
		int v = *a->counter;
		*a->counter = v + 1;
		oplock_release(a->l, "aaaaaaaaaaaaaaaaaaaaaaaa");
	}
	return NULL;
}

static void test_oplocks(void **state)
{
	struct oplocks *l = oplocks_new();
	struct error err;
	assert_int_equal(oplock_try(l, "aaaaaaaaaaaaaaaaaaaaaaaa", "start", &err), 0);
	assert_true(oplock_held(l, "aaaaaaaaaaaaaaaaaaaaaaaa"));
	assert_int_equal(oplock_try(l, "aaaaaaaaaaaaaaaaaaaaaaaa", "stop", &err), -1);
	assert_int_equal(err.code, E_OP_IN_PROGRESS);
	assert_non_null(strstr(err.msg, "start"));
	/* another container is independent */
	assert_int_equal(oplock_try(l, "bbbbbbbbbbbbbbbbbbbbbbbb", "stop", &err), 0);
	oplock_release(l, "aaaaaaaaaaaaaaaaaaaaaaaa");
	oplock_release(l, "bbbbbbbbbbbbbbbbbbbbbbbb");
	assert_false(oplock_held(l, "aaaaaaaaaaaaaaaaaaaaaaaa"));
	/* waiters serialise: no lost increments */
	int counter = 0;
	struct lock_arg a = {l, &counter};
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, locker, &a);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(counter, 4000);
	oplocks_free(l);
}

static void test_render(void **state)
{
	struct platform pf = {0};
	pf.cfg.public_domain = "hoody.local";
	pf.cfg.state_dir = "/tmp";
	struct container c = {
	    .id = "890abcdef12345678901cdef",
	    .project_id = "67e89abc123def456789abcd",
	    .user_id = "111111111111111111111111",
	    .server_id = "63f8b0e5c9a1b2d3e4f5a6b7",
	    .name = "web",
	    .color = "#3498DB",
	    .container_image = "busybox",
	    .hoody_kit = true,
	    .dev_kit = true,
	    .ai = true,
	    .status = CS_RUNNING,
	    .environment_vars = "{\"A\":\"b\"}",
	    .ssh_public_key = ED_KEY " test@hoody",
	    .realm_ids = "[]",
	    .created_at = 1736955900000,
	    .updated_at = 1736955900000,
	};
	json_t *sj = json_pack("{s:s}", "name", "node-us");
	struct render_ctx ctx = {.pf = &pf,
				 .project_alias = "proj",
				 .server_name = "node-us",
				 .server = sj,
				 .proxy_domains = true};
	json_t *o = render_container_new(&ctx, &c);
	assert_string_equal(json_string_value(json_object_get(o, "created_at")),
			    "2025-01-15T15:45:00.000Z");
	assert_string_equal(json_string_value(json_object_get(o, "ssh_key_fingerprint")), ED_FP);
	assert_string_equal(json_string_value(json_object_get(o, "ssh_hostname")),
			    "67e89abc123def456789abcd-890abcdef12345678901cdef-ssh.node-us."
			    "containers.hoody.local");
	json_t *urls = json_object_get(o, "urls");
	assert_int_equal(json_object_size(urls), 18);
	assert_string_equal(json_string_value(json_object_get(urls, "terminal")),
			    "https://67e89abc123def456789abcd-890abcdef12345678901cdef-terminal-1."
			    "node-us.containers.hoody.local");
	assert_non_null(json_object_get(urls, "agent"));
	assert_true(json_is_array(json_object_get(o, "proxy_domains")));
	assert_true(json_is_false(json_object_get(o, "kvm")));
	assert_string_equal(json_string_value(json_object_get(o, "ramdisk_scope")), "container");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(o, "server"), "name")), "node-us");
	json_decref(o);
	c.dev_kit = false;
	o = render_container_new(&ctx, &c);
	assert_int_equal(json_object_size(json_object_get(o, "urls")), 16);
	json_decref(o);
	c.hoody_kit = false;
	c.status = CS_FAILED;
	c.failure_reason = "boom";
	o = render_container_new(&ctx, &c);
	assert_int_equal(json_object_size(json_object_get(o, "urls")), 0);
	json_t *w = json_array_get(json_object_get(o, "warnings"), 0);
	assert_string_equal(json_string_value(json_object_get(w, "message")), "boom");
	json_decref(o);
	json_decref(sj);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),	  cmocka_unit_test(test_env),
	    cmocka_unit_test(test_ssh_keys),	  cmocka_unit_test(test_create_defaults),
	    cmocka_unit_test(test_create_errors), cmocka_unit_test(test_update),
	    cmocka_unit_test(test_oplocks),	  cmocka_unit_test(test_render),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
