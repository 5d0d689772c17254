/* The SQLite store (src/store): schema and migrations, every record's
 * insert/get/update/delete, uniqueness and ownership codes, lists, the
 * status compare-and-set, transactions, concurrent writers and list speed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "store/db.h"
#include "store/store.h"

struct fx {
	char dir[64];
	char path[128];
	struct store *st;
	char user[ID_LEN + 1], other[ID_LEN + 1];
	char proj[ID_LEN + 1], proj2[ID_LEN + 1], other_proj[ID_LEN + 1];
	char server[ID_LEN + 1];
};

#define OK(call)                                                                                   \
	do {                                                                                       \
		struct error e_ = {0};                                                             \
		int rc_ = (call);                                                                  \
		if (rc_ < 0)                                                                       \
			fail_msg("%s: %s (%s)", #call, e_.msg, err_code_name(e_.code));            \
	} while (0)
/* The macro's own error, for calls written as OK(store_x(..., &e_)). */
#define E (&e_)

/* Runs call, which must fail with `code`. */
#define FAILS(want, call)                                                                          \
	do {                                                                                       \
		struct error e_ = {0};                                                             \
		int rc_ = (call);                                                                  \
		if (rc_ >= 0 || e_.code != (want))                                                 \
			fail_msg("%s: rc %d, code %s (%s), wanted %s", #call, rc_,                 \
				 err_code_name(e_.code), e_.msg, err_code_name(want));             \
	} while (0)

/* ---- record factories ---- */

static void add_user(struct store *st, const char *username, const char *email, char *id)
{
	struct user u = {0};
	id_new(u.id);
	u.username = (char *)username;
	u.email = (char *)email;
	u.password_hash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
	u.max_containers = -1;
	OK(store_user_insert(st, &u, E));
	strcpy(id, u.id);
}

static void add_project(struct store *st, const char *user, const char *alias, char *id)
{
	struct project p = {0};
	id_new(p.id);
	strcpy(p.user_id, user);
	p.alias = (char *)alias;
	p.color = "#AABBCC";
	p.max_containers = -1;
	p.realm_ids = "[]";
	OK(store_project_insert(st, &p, E));
	strcpy(id, p.id);
}

static void container_init(struct container *c, const struct fx *f, const char *user,
			   const char *proj, const char *name)
{
	memset(c, 0, sizeof(*c));
	id_new(c->id);
	strcpy(c->user_id, user);
	strcpy(c->project_id, proj);
	strcpy(c->server_id, f->server);
	c->name = (char *)name;
	c->color = "#112233";
	c->container_image = "debian/13";
	c->status = CS_RUNNING;
	c->desired = CS_RUNNING;
	c->environment_vars = "{}";
	c->realm_ids = "[]";
	c->ai = c->hoody_kit = c->autostart = true;
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct error err = {0};
	snprintf(f->dir, sizeof(f->dir), "/tmp/hoody-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/hoody.db", f->dir);
	if (store_open(f->path, &f->st, &err) < 0)
		fail_msg("store_open: %s", err.msg);
	add_user(f->st, "alice", "Alice@Example.com", f->user);
	add_user(f->st, "bob", NULL, f->other);
	add_project(f->st, f->user, "default", f->proj);
	add_project(f->st, f->user, "second", f->proj2);
	add_project(f->st, f->other, "default", f->other_proj);
	struct server s = {.name = "node-local", .is_free = true, .max_containers = -1};
	id_new(s.id);
	OK(store_server_upsert(f->st, &s, E));
	strcpy(f->server, s.id);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct error err = {0};
	store_close(f->st);
	assert_int_equal(rm_rf(f->dir, &err), 0);
	free(f);
	return 0;
}

static void sql_text(const char *path, const char *sql, char *out, size_t len)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	snprintf(out, len, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
}

/* ---- open, migrations ---- */

static void test_open_migrate_reopen(void **state)
{
	struct fx *f = *state;
	char buf[64], *v = NULL;
	struct user u = {0};
	struct stat sb;

	OK(store_kv_set(f->st, "server_id", f->server, E));
	store_close(f->st);
	f->st = NULL;

	sql_text(f->path, "PRAGMA user_version", buf, sizeof(buf));
	assert_int_equal(atoi(buf), schema_version_latest());
	sql_text(f->path, "PRAGMA journal_mode", buf, sizeof(buf));
	assert_string_equal(buf, "wal");
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	OK(store_open(f->path, &f->st, E));
	OK(store_kv_get(f->st, "server_id", &v, E));
	assert_string_equal(v, f->server);
	free(v);
	OK(store_user_get(f->st, f->user, &u, E));
	assert_string_equal(u.username, "alice");
	user_clear(&u);
	sql_text(f->path, "PRAGMA user_version", buf, sizeof(buf));
	assert_int_equal(atoi(buf), schema_version_latest());
}

static void test_refuses_newer_schema(void **state)
{
	struct fx *f = *state;
	sqlite3 *db;
	struct store *st = NULL;
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=999", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	FAILS(E_INTERNAL, store_open(f->path, &st, E));
	struct error err = {0};
	assert_int_equal(store_open(f->path, &st, &err), -1);
	assert_non_null(strstr(err.msg, "newer"));
	assert_null(st);
	assert_int_equal(store_open(":memory:", &st, &err), -1);
}

/* ---- users ---- */

static void test_users(void **state)
{
	struct fx *f = *state;
	struct user u = {0};
	char id[ID_LEN + 1];
	int64_t n = 0;

	OK(store_user_find_login(f->st, "alice", &u, E));
	assert_string_equal(u.id, f->user);
	assert_string_equal(u.email, "Alice@Example.com");
	assert_null(u.alias);
	assert_int_equal(u.max_containers, -1);
	assert_true(u.created_at > 0 && u.updated_at == u.created_at);
	user_clear(&u);
	OK(store_user_find_login(f->st, "alice@EXAMPLE.com", &u, E));
	assert_string_equal(u.id, f->user);
	user_clear(&u);
	/* usernames are one per spelling regardless of case: "ALICE" is alice */
	OK(store_user_find_login(f->st, "ALICE", &u, E));
	assert_string_equal(u.id, f->user);
	user_clear(&u);
	FAILS(E_NOT_FOUND, store_user_find_login(f->st, NULL, &u, E));
	FAILS(E_NOT_FOUND, store_user_get(f->st, "000000000000000000000000", &u, E));

	/* uniqueness: username, email (any case); several NULL emails are fine */
	struct user dup = {.username = "alice", .password_hash = "x"};
	id_new(dup.id);
	struct error err = {0};
	assert_int_equal(store_user_insert(f->st, &dup, &err), -1);
	assert_int_equal(err.code, E_CONFLICT);
	assert_non_null(strstr(err.msg, "Username"));
	dup.username = "aLiCe"; /* another case is the same username */
	assert_int_equal(store_user_insert(f->st, &dup, &err), -1);
	assert_int_equal(err.code, E_CONFLICT);
	assert_non_null(strstr(err.msg, "Username"));
	dup.username = "alice2";
	dup.email = "ALICE@example.COM";
	assert_int_equal(store_user_insert(f->st, &dup, &err), -1);
	assert_int_equal(err.code, E_CONFLICT);
	assert_non_null(strstr(err.msg, "Email"));
	add_user(f->st, "carol", NULL, id);
	FAILS(E_VALIDATION,
	      store_user_insert(f->st, &(struct user){.id = "aaaaaaaaaaaaaaaaaaaaaaaa"}, E));

	/* update writes the mutable columns but never the session generation */
	OK(store_user_get(f->st, f->user, &u, E));
	OK(store_user_bump_session(f->st, f->user, E));
	free(u.alias);
	u.alias = xstrdup("Al");
	u.is_admin = true;
	u.max_containers = 7;
	OK(store_user_update(f->st, &u, E));
	user_clear(&u);
	OK(store_user_get(f->st, f->user, &u, E));
	assert_string_equal(u.alias, "Al");
	assert_true(u.is_admin);
	assert_false(u.is_banned);
	assert_int_equal(u.max_containers, 7);
	assert_int_equal(u.session_generation, 1);
	OK(store_user_bump_session(f->st, f->user, E));
	user_clear(&u);
	OK(store_user_get(f->st, f->user, &u, E));
	assert_int_equal(u.session_generation, 2);
	/* renaming onto a taken username is a conflict */
	free(u.username);
	u.username = xstrdup("bob");
	FAILS(E_CONFLICT, store_user_update(f->st, &u, E));
	user_clear(&u);
	FAILS(E_NOT_FOUND, store_user_bump_session(f->st, "ffffffffffffffffffffffff", E));

	OK(store_user_count(f->st, &n, E));
	assert_int_equal(n, 3);
}

/* ---- auth tokens ---- */

static void token_init(struct auth_token *t, const char *user, char fill)
{
	memset(t, 0, sizeof(*t));
	id_new(t->id);
	strcpy(t->user_id, user);
	memset(t->token_hash, fill, 64);
	t->alias = "clever-dolphin";
	t->permissions = "{\"containers\":{\"read\":true}}";
	t->realm_ids = "[]";
	t->ip_whitelist = "[\"*\"]";
	t->allow_no_realm = t->is_enabled = t->event_access = true;
}

static void test_tokens(void **state)
{
	struct fx *f = *state;
	struct auth_token t, t2, got = {0}, *list = NULL;
	size_t n = 0;
	char hash[65];

	token_init(&t, f->user, 'a');
	t.created_at = 1000;
	OK(store_token_insert(f->st, &t, E));
	token_init(&t2, f->user, 'b');
	t2.created_at = 2000;
	OK(store_token_insert(f->st, &t2, E));
	memset(hash, 'a', 64);
	hash[64] = 0;

	OK(store_token_find_hash(f->st, hash, &got, E));
	assert_string_equal(got.id, t.id);
	assert_string_equal(got.permissions, t.permissions);
	assert_true(got.allow_no_realm && got.is_enabled && got.event_access);
	assert_false(got.vault_access);
	assert_null(got.public_key);
	assert_null(got.last_used_ip);
	auth_token_clear(&got);
	FAILS(E_NOT_FOUND, store_token_find_hash(f->st, "nope", &got, E));

	OK(store_token_get_owned(f->st, f->user, t.id, &got, E));
	auth_token_clear(&got);
	FAILS(E_NOT_FOUND, store_token_get_owned(f->st, f->other, t.id, &got, E));
	FAILS(E_NOT_FOUND, store_token_get_owned(f->st, NULL, t.id, &got, E));

	/* the hash is unique */
	token_init(&got, f->other, 'a');
	FAILS(E_CONFLICT, store_token_insert(f->st, &got, E));
	memset(&got, 0, sizeof(got));

	/* touch records usage; an update from an older read keeps it */
	OK(store_token_get_owned(f->st, f->user, t.id, &got, E));
	OK(store_token_touch(f->st, t.id, 12345, "10.0.0.1", E));
	got.is_enabled = false;
	OK(store_token_update(f->st, &got, E));
	auth_token_clear(&got);
	OK(store_token_get_owned(f->st, f->user, t.id, &got, E));
	assert_false(got.is_enabled);
	assert_int_equal(got.last_used_at, 12345);
	assert_string_equal(got.last_used_ip, "10.0.0.1");
	assert_true(got.updated_at >= got.created_at);
	auth_token_clear(&got);
	FAILS(E_NOT_FOUND, store_token_touch(f->st, "ffffffffffffffffffffffff", 1, NULL, E));

	/* newest first */
	OK(store_token_list(f->st, f->user, &list, &n, E));
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, t2.id);
	assert_string_equal(list[1].id, t.id);
	for (size_t i = 0; i < n; i++)
		auth_token_clear(&list[i]);
	free(list);
	OK(store_token_list(f->st, f->other, &list, &n, E));
	assert_int_equal(n, 0);
	free(list);

	FAILS(E_NOT_FOUND, store_token_delete_owned(f->st, f->other, t.id, E));
	OK(store_token_delete_owned(f->st, f->user, t.id, E));
	FAILS(E_NOT_FOUND, store_token_delete_owned(f->st, f->user, t.id, E));
	FAILS(E_NOT_FOUND, store_token_get_owned(f->st, f->user, t.id, &got, E));
}

/* ---- projects ---- */

static void free_projects(struct project *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		project_clear(&p[i]);
	free(p);
}

static void test_projects(void **state)
{
	struct fx *f = *state;
	struct project p = {0}, none = {0}, *list = NULL;
	size_t n = 0;
	int64_t total = 0;
	char id[ID_LEN + 1];

	OK(store_project_get_owned(f->st, f->user, f->proj, &p, E));
	assert_string_equal(p.alias, "default");
	assert_string_equal(p.color, "#AABBCC");
	assert_int_equal(p.max_containers, -1);
	FAILS(E_NOT_FOUND, store_project_get_owned(f->st, f->other, f->proj, &none, E));
	FAILS(E_NOT_FOUND, store_project_get_owned(f->st, f->user, f->other_proj, &none, E));

	/* the alias is unique per user only (bob has a "default" too) */
	struct project dup = {.alias = "second"};
	id_new(dup.id);
	strcpy(dup.user_id, f->user);
	struct error err = {0};
	assert_int_equal(store_project_insert(f->st, &dup, &err), -1);
	assert_int_equal(err.code, E_CONFLICT);
	assert_non_null(strstr(err.msg, "alias"));

	free(p.realm_ids);
	p.realm_ids = xstrdup("[\"aaaaaaaaaaaaaaaaaaaaaaaa\"]");
	free(p.color);
	p.color = NULL;
	p.max_containers = 5;
	p.is_default = true;
	OK(store_project_update(f->st, &p, E));
	project_clear(&p);
	OK(store_project_get_owned(f->st, f->user, f->proj, &p, E));
	assert_null(p.color);
	assert_int_equal(p.max_containers, 5);
	assert_true(p.is_default);
	free(p.alias);
	p.alias = xstrdup("second");
	FAILS(E_CONFLICT, store_project_update(f->st, &p, E));
	project_clear(&p);

	for (int i = 0; i < 5; i++) {
		char alias[16];
		snprintf(alias, sizeof(alias), "p%d", i);
		add_project(f->st, f->user, alias, id);
	}
	struct list_query q = {.user_id = f->user, .sort_by = "alias", .page = 1, .limit = 3};
	OK(store_project_list(f->st, &q, &list, &n, &total, E));
	assert_int_equal(total, 7);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].alias, "default");
	assert_string_equal(list[1].alias, "p0");
	free_projects(list, n);
	q.page = 3;
	q.desc = true;
	OK(store_project_list(f->st, &q, &list, &n, &total, E));
	assert_int_equal(n, 1);
	assert_string_equal(list[0].alias, "default");
	free_projects(list, n);
	q.realm_id = "aaaaaaaaaaaaaaaaaaaaaaaa";
	q.page = 1;
	OK(store_project_list(f->st, &q, &list, &n, &total, E));
	assert_int_equal(total, 1);
	assert_string_equal(list[0].id, f->proj);
	free_projects(list, n);
	q.sort_by = "alias; DROP TABLE projects";
	FAILS(E_VALIDATION, store_project_list(f->st, &q, &list, &n, &total, E));

	OK(store_project_delete(f->st, id, E));
	FAILS(E_NOT_FOUND, store_project_delete(f->st, id, E));
}

/* ---- servers ---- */

static void test_servers(void **state)
{
	struct fx *f = *state;
	struct server s = {0}, *list = NULL;
	size_t n = 0;

	OK(store_server_get(f->st, f->server, &s, E));
	assert_string_equal(s.name, "node-local");
	assert_true(s.is_free);
	assert_null(s.country);
	int64_t created = s.created_at;
	free(s.name);
	s.name = xstrdup("node-renamed");
	s.country = xstrdup("SG");
	s.created_at = 1; /* ignored: an upsert keeps the original creation time */
	OK(store_server_upsert(f->st, &s, E));
	server_clear(&s);
	OK(store_server_get(f->st, f->server, &s, E));
	assert_string_equal(s.name, "node-renamed");
	assert_string_equal(s.country, "SG");
	assert_int_equal(s.created_at, created);
	server_clear(&s);
	FAILS(E_NOT_FOUND, store_server_get(f->st, "ffffffffffffffffffffffff", &s, E));
	OK(store_server_list(f->st, &list, &n, E));
	assert_int_equal(n, 1);
	server_clear(&list[0]);
	free(list);
}

/* ---- containers ---- */

static void test_container_crud(void **state)
{
	struct fx *f = *state;
	struct container c, got = {0};
	container_init(&c, f, f->user, f->proj, "web");
	c.ssh_public_key = "ssh-ed25519 AAAA1 a@b";
	c.env_revision = 3;
	OK(store_container_insert(f->st, &c, E));

	OK(store_container_get(f->st, c.id, &got, E));
	assert_string_equal(got.name, "web");
	assert_string_equal(got.project_id, f->proj);
	assert_string_equal(got.user_id, f->user);
	assert_string_equal(got.server_id, f->server);
	assert_int_equal(got.status, CS_RUNNING);
	assert_string_equal(got.ssh_public_key, c.ssh_public_key);
	assert_true(got.ai && got.hoody_kit && got.autostart);
	assert_false(got.dev_kit || got.ramdisk || got.prespawn || got.server_expired);
	assert_null(got.comment);
	assert_null(got.failure_reason);
	assert_null(got.source_container_id);
	assert_int_equal(got.env_revision, 3);
	assert_true(got.created_at > 0);

	/* update writes every mutable column, NULL clears */
	int64_t created = got.created_at;
	free(got.name);
	got.name = xstrdup("web2");
	free(got.ssh_public_key);
	got.ssh_public_key = NULL;
	got.comment = xstrdup("hello");
	got.started_at = 99;
	got.env_applied_revision = 3;
	got.created_at = 5; /* immutable */
	OK(store_container_update(f->st, &got, E));
	container_clear(&got);
	OK(store_container_get_owned(f->st, f->user, c.id, &got, E));
	assert_string_equal(got.name, "web2");
	assert_null(got.ssh_public_key);
	assert_string_equal(got.comment, "hello");
	assert_int_equal(got.started_at, 99);
	assert_int_equal(got.env_applied_revision, 3);
	assert_int_equal(got.created_at, created);
	assert_true(got.updated_at >= created);
	/* an explicit newer updated_at is kept as given */
	got.updated_at += 5000;
	int64_t stamp = got.updated_at;
	OK(store_container_update(f->st, &got, E));
	container_clear(&got);
	OK(store_container_get(f->st, c.id, &got, E));
	assert_int_equal(got.updated_at, stamp);
	container_clear(&got);

	OK(store_container_delete(f->st, c.id, E));
	FAILS(E_CONTAINER_NOT_FOUND, store_container_delete(f->st, c.id, E));
	FAILS(E_CONTAINER_NOT_FOUND, store_container_get(f->st, c.id, &got, E));
	container_init(&c, f, f->user, f->proj, "ghost");
	FAILS(E_CONTAINER_NOT_FOUND, store_container_update(f->st, &c, E));
	/* a reference to a missing project is refused */
	container_init(&c, f, f->user, "ffffffffffffffffffffffff", "orphan");
	FAILS(E_NOT_FOUND, store_container_insert(f->st, &c, E));
	FAILS(E_INTERNAL, store_container_insert(f->st, &(struct container){0}, E));
}

static void test_container_null_strings(void **state)
{
	struct fx *f = *state;
	struct container c = {0}, got = {0};
	/* every optional string NULL; a prespawn member has no user/project */
	id_new(c.id);
	strcpy(c.server_id, f->server);
	c.name = "pool-1";
	c.status = CS_STOPPED;
	c.prespawn = true;
	OK(store_container_insert(f->st, &c, E));
	OK(store_container_get(f->st, c.id, &got, E));
	assert_string_equal(got.user_id, "");
	assert_string_equal(got.project_id, "");
	assert_null(got.color);
	assert_null(got.environment_vars);
	assert_null(got.realm_ids);
	assert_int_equal(got.desired, CS_NONE);
	container_clear(&got);
	assert_null(got.name);
	container_clear(NULL);
	/* nobody owns it */
	FAILS(E_CONTAINER_NOT_FOUND, store_container_get_owned(f->st, "", c.id, &got, E));
	FAILS(E_CONTAINER_NOT_FOUND, store_container_get_owned(f->st, NULL, c.id, &got, E));
	/* a missing required string is a validation error, not a crash */
	id_new(c.id);
	c.status = CS_NONE;
	FAILS(E_VALIDATION, store_container_insert(f->st, &c, E));
	FAILS(E_CONTAINER_NOT_FOUND, store_container_get(f->st, NULL, &got, E));
}

static void test_container_uniqueness(void **state)
{
	struct fx *f = *state;
	struct container a, b;
	container_init(&a, f, f->user, f->proj, "app");
	a.ssh_public_key = "ssh-ed25519 KEY1";
	OK(store_container_insert(f->st, &a, E));

	/* name: per project */
	container_init(&b, f, f->user, f->proj, "app");
	struct error err = {0};
	assert_int_equal(store_container_insert(f->st, &b, &err), -1);
	assert_int_equal(err.code, E_NAME_IN_USE);
	assert_string_equal(err.msg, "Container name already in use within the project");
	container_init(&b, f, f->user, f->proj2, "app");
	OK(store_container_insert(f->st, &b, E));
	container_init(&b, f, f->other, f->other_proj, "app");
	OK(store_container_insert(f->st, &b, E));

	/* ssh key: per user (another user may hold the same key), compared by
	 * type and blob (another comment is the same key) */
	container_init(&b, f, f->other, f->other_proj, "other");
	b.ssh_public_key = "ssh-ed25519 KEY1";
	OK(store_container_insert(f->st, &b, E));
	container_init(&b, f, f->user, f->proj2, "mine");
	b.ssh_public_key = "ssh-ed25519 KEY1 laptop";
	FAILS(E_SSH_KEY_IN_USE, store_container_insert(f->st, &b, E));
	b.ssh_public_key = "ssh-ed25519 KEY2";
	OK(store_container_insert(f->st, &b, E));
	/* the same through update */
	struct container got = {0};
	OK(store_container_get(f->st, b.id, &got, E));
	free(got.ssh_public_key);
	got.ssh_public_key = xstrdup("ssh-ed25519 KEY1 desktop");
	FAILS(E_SSH_KEY_IN_USE, store_container_update(f->st, &got, E));
	free(got.ssh_public_key);
	got.ssh_public_key = NULL;
	free(got.name);
	got.name = xstrdup("app");
	FAILS(E_NAME_IN_USE, store_container_update(f->st, &got, E));
	container_clear(&got);
	/* the id itself */
	container_init(&b, f, f->user, f->proj, "fresh");
	strcpy(b.id, a.id);
	FAILS(E_CONFLICT, store_container_insert(f->st, &b, E));

	/* a deleted tombstone releases its name and key */
	OK(store_container_set_status(f->st, a.id, CS_RUNNING, CS_DELETED, NULL, E));
	container_init(&b, f, f->user, f->proj, "app");
	b.ssh_public_key = "ssh-ed25519 KEY1";
	OK(store_container_insert(f->st, &b, E));
	/* ... and cannot come back while they are taken */
	struct error err2 = {0};
	assert_int_equal(
	    store_container_set_status(f->st, a.id, CS_DELETED, CS_STOPPED, NULL, &err2), -1);
	assert_true(err2.code == E_NAME_IN_USE || err2.code == E_SSH_KEY_IN_USE);
}

/* The SSH front door's lookup: by type and blob whatever the comment, one
 * row per user holding it, never a tombstone, never a prefix of another key. */
static void test_container_find_ssh_key(void **state)
{
	struct fx *f = *state;
	struct container a, b, c, *found = NULL;
	size_t n = 0;
	container_init(&a, f, f->user, f->proj, "k-a");
	a.ssh_public_key = "ssh-ed25519 KEYX laptop";
	OK(store_container_insert(f->st, &a, E));
	container_init(&b, f, f->other, f->other_proj, "k-b");
	b.ssh_public_key = "ssh-ed25519 KEYX";
	OK(store_container_insert(f->st, &b, E));
	container_init(&c, f, f->user, f->proj, "k-c");
	c.ssh_public_key = "ssh-ed25519 KEYXY";
	OK(store_container_insert(f->st, &c, E));

	OK(store_container_find_ssh_key(f->st, "ssh-ed25519 KEYX", &found, &n, E));
	assert_int_equal(n, 2);
	assert_string_equal(found[0].id, a.id);
	assert_string_equal(found[1].id, b.id);
	container_list_free(found, n);
	OK(store_container_find_ssh_key(f->st, "ssh-ed25519 KEY", &found, &n, E));
	assert_int_equal(n, 0);
	container_list_free(found, n);
	OK(store_container_find_ssh_key(f->st, "ssh-rsa KEYX", &found, &n, E));
	assert_int_equal(n, 0);
	container_list_free(found, n);
	/* LIKE wildcards are plain bytes here */
	OK(store_container_find_ssh_key(f->st, "ssh-ed25519 KEY%", &found, &n, E));
	assert_int_equal(n, 0);
	container_list_free(found, n);

	OK(store_container_set_status(f->st, a.id, CS_RUNNING, CS_DELETED, NULL, E));
	OK(store_container_find_ssh_key(f->st, "ssh-ed25519 KEYX", &found, &n, E));
	assert_int_equal(n, 1);
	assert_string_equal(found[0].id, b.id);
	container_list_free(found, n);
}

static void test_container_ownership(void **state)
{
	struct fx *f = *state;
	struct container c, got = {0};
	container_init(&c, f, f->user, f->proj, "mine");
	OK(store_container_insert(f->st, &c, E));
	OK(store_container_get_owned(f->st, f->user, c.id, &got, E));
	container_clear(&got);
	struct error theirs = {0}, missing = {0};
	assert_int_equal(store_container_get_owned(f->st, f->other, c.id, &got, &theirs), -1);
	assert_int_equal(
	    store_container_get_owned(f->st, f->other, "ffffffffffffffffffffffff", &got, &missing),
	    -1);
	/* another user's row is indistinguishable from a missing one */
	assert_int_equal(theirs.code, E_CONTAINER_NOT_FOUND);
	assert_int_equal(missing.code, theirs.code);
	assert_string_equal(missing.msg, theirs.msg);
	assert_null(got.name);
}

static void test_set_status_cas(void **state)
{
	struct fx *f = *state;
	struct container c, got = {0};
	container_init(&c, f, f->user, f->proj, "cas");
	c.status = CS_CREATING;
	c.updated_at = 1;
	OK(store_container_insert(f->st, &c, E));

	OK(store_container_set_status(f->st, c.id, CS_CREATING, CS_RUNNING, NULL, E));
	struct error err = {0};
	assert_int_equal(store_container_set_status(f->st, c.id, CS_CREATING, CS_FAILED, "x", &err),
			 -1);
	assert_int_equal(err.code, E_STATE_CONFLICT);
	assert_non_null(strstr(err.msg, "running"));
	OK(store_container_set_status(f->st, c.id, CS_RUNNING, CS_FAILED, "crun exited 1", E));
	OK(store_container_get(f->st, c.id, &got, E));
	assert_int_equal(got.status, CS_FAILED);
	assert_string_equal(got.failure_reason, "crun exited 1");
	assert_true(got.updated_at > 1);
	container_clear(&got);
	/* NULL from = unconditional; NULL reason clears */
	OK(store_container_set_status(f->st, c.id, CS_NONE, CS_STOPPED, NULL, E));
	OK(store_container_get(f->st, c.id, &got, E));
	assert_int_equal(got.status, CS_STOPPED);
	assert_null(got.failure_reason);
	container_clear(&got);
	FAILS(E_CONTAINER_NOT_FOUND, store_container_set_status(f->st, "ffffffffffffffffffffffff",
								CS_NONE, CS_STOPPED, NULL, E));
	FAILS(E_VALIDATION, store_container_set_status(f->st, c.id, CS_NONE, CS_NONE, NULL, E));
}

static void free_containers(struct container *arr, size_t n)
{
	container_list_free(arr, n);
}

static int64_t list_total(struct fx *f, struct container_query *q)
{
	struct container *arr = NULL;
	size_t n = 0;
	int64_t total = -1;
	OK(store_container_list(f->st, q, &arr, &n, &total, E));
	free_containers(arr, n);
	return total;
}

static void test_container_list(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = {"delta", "alpha", "echo", "charlie", "bravo"};
	char ids[5][ID_LEN + 1];
	struct container c, *arr = NULL;
	size_t n = 0;
	int64_t total = 0;

	for (int i = 0; i < 5; i++) {
		container_init(&c, f, f->user, i < 3 ? f->proj : f->proj2, names[i]);
		c.created_at = 1000 + i;
		c.status = i == 4 ? CS_STOPPED : CS_RUNNING;
		c.realm_ids =
		    i == 1 ? "[\"bbbbbbbbbbbbbbbbbbbbbbbb\", \"cccccccccccccccccccccccc\"]" : "[]";
		OK(store_container_insert(f->st, &c, E));
		strcpy(ids[i], c.id);
	}
	/* hidden by default: prespawn, expired, deleting, deleted; other users */
	const char *hidden[] = {"pre", "exp", "going", "gone"};
	for (int i = 0; i < 4; i++) {
		container_init(&c, f, f->user, f->proj, hidden[i]);
		c.prespawn = i == 0;
		c.server_expired = i == 1;
		c.status = i == 2 ? CS_DELETING : i == 3 ? CS_DELETED : CS_RUNNING;
		OK(store_container_insert(f->st, &c, E));
	}
	container_init(&c, f, f->other, f->other_proj, "bobs");
	OK(store_container_insert(f->st, &c, E));

	struct container_query q = {.base = {.user_id = f->user, .page = 1, .limit = 50}};
	assert_int_equal(list_total(f, &q), 5);
	q.include_prespawn = true;
	assert_int_equal(list_total(f, &q), 6);
	q.include_expired = true;
	assert_int_equal(list_total(f, &q), 7);
	q.include_deleting = true;
	assert_int_equal(list_total(f, &q), 9);
	q.include_prespawn = q.include_expired = q.include_deleting = false;
	q.project_id = f->proj2;
	assert_int_equal(list_total(f, &q), 2);
	q.project_id = f->other_proj; /* someone else's project: nothing */
	assert_int_equal(list_total(f, &q), 0);
	q.project_id = NULL;
	q.base.realm_id = "cccccccccccccccccccccccc";
	assert_int_equal(list_total(f, &q), 1);
	q.base.realm_id = "bbbbbbbbbbbbbb%";
	assert_int_equal(list_total(f, &q), 0);
	q.base.realm_id = NULL;

	/* default sort: created_at; desc; by name; pagination */
	q.base.desc = true;
	OK(store_container_list(f->st, &q, &arr, &n, &total, E));
	assert_int_equal(n, 5);
	for (int i = 0; i < 5; i++)
		assert_string_equal(arr[i].id, ids[4 - i]);
	free_containers(arr, n);
	q.base.sort_by = "name";
	q.base.desc = false;
	q.base.limit = 2;
	q.base.page = 2;
	OK(store_container_list(f->st, &q, &arr, &n, &total, E));
	assert_int_equal(total, 5);
	assert_int_equal(n, 2);
	assert_string_equal(arr[0].name, "charlie");
	assert_string_equal(arr[1].name, "delta");
	free_containers(arr, n);
	q.base.page = 3;
	OK(store_container_list(f->st, &q, &arr, &n, &total, E));
	assert_int_equal(n, 1);
	assert_string_equal(arr[0].name, "echo");
	free_containers(arr, n);
	q.base.page = 4;
	OK(store_container_list(f->st, &q, &arr, &n, &total, E));
	assert_int_equal(total, 5);
	assert_int_equal(n, 0);
	assert_null(arr);
	q.base.page = INT64_MAX; /* no overflow */
	OK(store_container_list(f->st, &q, &arr, &n, &total, E));
	assert_int_equal(n, 0);
	/* status then id */
	q.base.sort_by = "status";
	q.base.page = 1;
	q.base.limit = 1000; /* clamped to 100 */
	q.base.desc = true;
	OK(store_container_list(f->st, &q, &arr, &n, &total, E));
	assert_int_equal(n, 5);
	assert_int_equal(arr[0].status, CS_STOPPED);
	free_containers(arr, n);
	q.base.sort_by = "id";
	q.base.desc = false;
	OK(store_container_list(f->st, &q, &arr, &n, &total, E));
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(arr[i - 1].id, arr[i].id) < 0);
	free_containers(arr, n);
	q.base.sort_by = "updated_at";
	OK(store_container_list(f->st, &q, &arr, &n, &total, E));
	assert_int_equal(n, 5);
	free_containers(arr, n);
	q.base.sort_by = "password_hash";
	FAILS(E_VALIDATION, store_container_list(f->st, &q, &arr, &n, &total, E));
	q.base.sort_by = NULL;
	q.base.user_id = NULL;
	assert_int_equal(list_total(f, &q), 0);

	/* recovery sees everything */
	OK(store_container_list_all(f->st, &arr, &n, E));
	assert_int_equal(n, 10);
	free_containers(arr, n);

	/* counts: live, non-prespawn */
	int64_t cnt = 0;
	OK(store_container_count_user(f->st, f->user, &cnt, E));
	assert_int_equal(cnt, 6); /* 5 + the expired one */
	OK(store_container_count_project(f->st, f->proj2, &cnt, E));
	assert_int_equal(cnt, 2);
	OK(store_container_count_server(f->st, f->server, &cnt, E));
	assert_int_equal(cnt, 7);
}

/* ---- status logs, cascades ---- */

static void test_status_logs(void **state)
{
	struct fx *f = *state;
	struct container c;
	struct status_log l = {0}, *logs = NULL;
	size_t n = 0;
	int64_t total = 0;
	static const enum container_status seq[] = {CS_CREATING, CS_RUNNING, CS_STOPPED,
						    CS_RUNNING};

	container_init(&c, f, f->user, f->proj, "logged");
	OK(store_container_insert(f->st, &c, E));
	for (int i = 0; i < 4; i++) {
		memset(&l, 0, sizeof(l));
		strcpy(l.container_id, c.id);
		l.from_status = i ? seq[i - 1] : CS_NONE;
		l.to_status = seq[i];
		l.transition_time = 1000 * (i + 1);
		l.duration_ms = i ? 1000 : -1;
		l.triggered_by = "user";
		OK(store_status_log_insert(f->st, &l, E));
	}
	OK(store_status_log_list(f->st, c.id, NULL, true, 1, 3, &logs, &n, &total, E));
	assert_int_equal(total, 4);
	assert_int_equal(n, 3);
	assert_int_equal(logs[0].transition_time, 4000);
	assert_int_equal(logs[0].from_status, CS_STOPPED);
	assert_int_equal(logs[2].transition_time, 2000);
	assert_int_equal(strlen(logs[0].id), ID_LEN);
	for (size_t i = 0; i < n; i++)
		status_log_clear(&logs[i]);
	free(logs);
	OK(store_status_log_list(f->st, c.id, "from_status", false, 1, 10, &logs, &n, &total, E));
	assert_int_equal(logs[0].from_status, CS_NONE); /* NULL sorts first */
	assert_int_equal(logs[0].duration_ms, -1);
	assert_null(logs[0].metadata);
	for (size_t i = 0; i < n; i++)
		status_log_clear(&logs[i]);
	free(logs);
	FAILS(E_VALIDATION,
	      store_status_log_list(f->st, c.id, "id", false, 1, 10, &logs, &n, &total, E));
	strcpy(l.container_id, "ffffffffffffffffffffffff");
	FAILS(E_NOT_FOUND, store_status_log_insert(f->st, &l, E));

	/* deleting the project deletes its containers and their logs */
	OK(store_project_delete(f->st, f->proj, E));
	struct container got = {0};
	FAILS(E_CONTAINER_NOT_FOUND, store_container_get(f->st, c.id, &got, E));
	OK(store_status_log_list(f->st, c.id, NULL, true, 1, 10, &logs, &n, &total, E));
	assert_int_equal(total, 0);
}

static void test_kv(void **state)
{
	struct fx *f = *state;
	char *v = NULL;
	FAILS(E_NOT_FOUND, store_kv_get(f->st, "missing", &v, E));
	assert_null(v);
	OK(store_kv_set(f->st, "k", "one", E));
	OK(store_kv_set(f->st, "k", "two", E));
	OK(store_kv_get(f->st, "k", &v, E));
	assert_string_equal(v, "two");
	free(v);
	OK(store_kv_set(f->st, "k", NULL, E));
	FAILS(E_NOT_FOUND, store_kv_get(f->st, "k", &v, E));
	FAILS(E_INTERNAL, store_kv_set(f->st, NULL, "x", E));
}

/* ---- transactions ---- */

struct tx_arg {
	const char *key;
	int ret;
	struct tx_arg *inner;
};

static int tx_fn(struct store *st, void *arg, struct error *err)
{
	struct tx_arg *a = arg;
	if (store_kv_set(st, a->key, "v", err) < 0)
		return -1;
	if (a->inner)
		(void)store_tx(st, tx_fn, a->inner, err);
	if (a->ret < 0)
		err_set(err, E_CONFLICT, "asked to fail");
	return a->ret;
}

static bool kv_has(struct store *st, const char *key)
{
	char *v = NULL;
	struct error err = {0};
	int rc = store_kv_get(st, key, &v, &err);
	free(v);
	return rc == 0;
}

static void test_tx(void **state)
{
	struct fx *f = *state;
	struct tx_arg ok = {"a", 7, NULL}, bad = {"b", -1, NULL};
	struct error err = {0};
	assert_int_equal(store_tx(f->st, tx_fn, &ok, &err), 7);
	assert_true(kv_has(f->st, "a"));
	assert_int_equal(store_tx(f->st, tx_fn, &bad, &err), -1);
	assert_int_equal(err.code, E_CONFLICT);
	assert_false(kv_has(f->st, "b"));

	/* nested: an inner failure undoes only the inner writes ... */
	struct tx_arg in_bad = {"in1", -1, NULL}, out_ok = {"out1", 0, &in_bad};
	assert_int_equal(store_tx(f->st, tx_fn, &out_ok, &err), 0);
	assert_true(kv_has(f->st, "out1"));
	assert_false(kv_has(f->st, "in1"));
	/* ... an outer failure undoes everything, inner commits included */
	struct tx_arg in_ok = {"in2", 0, NULL}, out_bad = {"out2", -1, &in_ok};
	assert_int_equal(store_tx(f->st, tx_fn, &out_bad, &err), -1);
	assert_false(kv_has(f->st, "out2"));
	assert_false(kv_has(f->st, "in2"));
	/* a failing statement inside rolls back too */
	struct tx_arg nokey = {NULL, 0, NULL};
	assert_int_equal(store_tx(f->st, tx_fn, &nokey, &err), -1);
	/* and the connection is usable afterwards */
	assert_int_equal(store_tx(f->st, tx_fn, &(struct tx_arg){"c", 0, NULL}, &err), 0);
	assert_true(kv_has(f->st, "c"));
}

/* ---- threads ---- */

#define WRITES 150

struct writer {
	struct fx *f;
	int idx;
	int failures;
	char msg[512];
};

static int tx_pair(struct store *st, void *arg, struct error *err)
{
	const char *key = arg;
	char k2[64];
	snprintf(k2, sizeof(k2), "%s-b", key);
	return store_kv_set(st, key, "1", err) < 0 || store_kv_set(st, k2, "2", err) < 0 ? -1 : 0;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	for (int i = 0; i < WRITES; i++) {
		struct error err = {0};
		struct container c, got = {0};
		char name[32], key[32];
		snprintf(name, sizeof(name), "t%d-%d", w->idx, i);
		snprintf(key, sizeof(key), "t%d-%d", w->idx, i);
		container_init(&c, w->f, w->f->user, w->f->proj, name);
		int rc = store_container_insert(w->f->st, &c, &err);
		if (rc == 0)
			rc = store_container_set_status(w->f->st, c.id, CS_RUNNING, CS_STOPPED,
							NULL, &err);
		if (rc == 0)
			rc = store_tx(w->f->st, tx_pair, key, &err);
		if (rc == 0)
			rc = store_container_get_owned(w->f->st, w->f->user, c.id, &got, &err);
		container_clear(&got);
		if (rc < 0) {
			w->failures++;
			snprintf(w->msg, sizeof(w->msg), "%s", err.msg);
		}
	}
	return NULL;
}

/* Lists while the writers write: each page and its total come from one
 * snapshot, so a full first page never disagrees with its total. */
static void *reader_main(void *arg)
{
	struct writer *w = arg;
	struct container_query q = {.base = {.user_id = w->f->user, .page = 1, .limit = 100}};
	for (int i = 0; i < WRITES; i++) {
		struct error err = {0};
		struct container *arr = NULL;
		size_t n = 0;
		int64_t total = 0;
		if (store_container_list(w->f->st, &q, &arr, &n, &total, &err) < 0 ||
		    (int64_t)n != (total < 100 ? total : 100)) {
			w->failures++;
			snprintf(w->msg, sizeof(w->msg), "%.400s (n %zu, total %lld)", err.msg, n,
				 (long long)total);
		}
		container_list_free(arr, n);
	}
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	struct fx *f = *state;
	pthread_t th[3];
	struct writer w[3] = {{f, 0, 0, ""}, {f, 1, 0, ""}, {f, 2, 0, ""}};
	for (int i = 0; i < 3; i++)
		assert_int_equal(
		    pthread_create(&th[i], NULL, i < 2 ? writer_main : reader_main, &w[i]), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < 3; i++)
		if (w[i].failures)
			fail_msg("thread %d: %d failures, last: %s", i, w[i].failures, w[i].msg);
	int64_t n = 0;
	OK(store_container_count_project(f->st, f->proj, &n, E));
	assert_int_equal(n, 2 * WRITES);
	assert_true(kv_has(f->st, "t1-149-b"));
}

/* A connection opened by a thread that is still alive when the store
 * closes is closed by store_close; the thread's later use of another store
 * is unaffected. */
struct holder {
	struct store *a, *b;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int phase;
	int result;
};

static void holder_wait(struct holder *h, int phase)
{
	pthread_mutex_lock(&h->mu);
	while (h->phase < phase)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

static void holder_set(struct holder *h, int phase)
{
	pthread_mutex_lock(&h->mu);
	h->phase = phase;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

static void *holder_main(void *arg)
{
	struct holder *h = arg;
	struct error err = {0};
	h->result = store_kv_set(h->a, "x", "1", &err) | store_kv_set(h->b, "x", "2", &err);
	holder_set(h, 1);
	holder_wait(h, 2); /* store a is closed now */
	char *v = NULL;
	h->result |= store_kv_get(h->b, "x", &v, &err);
	if (!v || strcmp(v, "2"))
		h->result = -1;
	free(v);
	return NULL;
}

static void test_two_stores_and_close(void **state)
{
	struct fx *f = *state;
	char path2[160];
	struct holder h = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	pthread_t th;
	snprintf(path2, sizeof(path2), "%s/second.db", f->dir);
	OK(store_open(path2, &h.b, E));
	h.a = f->st;
	assert_int_equal(pthread_create(&th, NULL, holder_main, &h), 0);
	holder_wait(&h, 1);
	char *v = NULL;
	OK(store_kv_get(h.a, "x", &v, E));
	assert_string_equal(v, "1");
	free(v);
	store_close(f->st);
	f->st = NULL;
	holder_set(&h, 2);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(h.result, 0);
	store_close(h.b);
	OK(store_open(f->path, &f->st, E)); /* for teardown */
}

/* ---- speed ---- */

#define BIG 10000

struct fill {
	struct fx *f;
	int n;
};

static int fill_fn(struct store *st, void *arg, struct error *err)
{
	struct fill *fl = arg;
	struct fx *f = fl->f;
	for (int i = 0; i < fl->n; i++) {
		struct container c;
		char name[32];
		snprintf(name, sizeof(name), "c%05d", (i * 7919) % fl->n);
		container_init(&c, f, f->user, i % 2 ? f->proj : f->proj2, name);
		c.created_at = 1700000000000LL + i;
		c.status = i % 3 ? CS_RUNNING : CS_STOPPED;
		c.prespawn = i % 50 == 0;
		c.realm_ids = i % 10 != 1 ? "[]" : "[\"dddddddddddddddddddddddd\"]";
		c.environment_vars = "{\"A\":\"some value that makes the row bigger\"}";
		if (store_container_insert(st, &c, err) < 0)
			return -1;
	}
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Median of 5 runs of one page query, in microseconds. */
static int64_t time_page(struct fx *f, struct container_query *q, size_t want)
{
	int64_t t[5];
	for (int r = 0; r < 5; r++) {
		struct container *arr = NULL;
		size_t n = 0;
		int64_t total = 0, t0 = mono_ns();
		OK(store_container_list(f->st, q, &arr, &n, &total, E));
		t[r] = (mono_ns() - t0) / 1000;
		assert_int_equal(n, want);
		free_containers(arr, n);
	}
	qsort(t, 5, sizeof(t[0]), cmp_i64);
	return t[2];
}

/* Every SELECT a list runs, with its bound values, checked with EXPLAIN
 * QUERY PLAN on a second connection: an index walk in sort order, never a
 * full scan or a sort of the matching rows. Deterministic, unlike timing. */
struct traced {
	char *sql[8];
	int n;
};

static int trace_cb(unsigned type, void *ctx, void *p, void *x)
{
	struct traced *t = ctx;
	char *sql = sqlite3_expanded_sql(p);
	if (sql && !strncmp(sql, "SELECT", 6) && t->n < 8)
		t->sql[t->n++] = xstrdup(sql);
	sqlite3_free(sql);
	return 0;
}

static void check_plans(struct fx *f, struct container_query *q)
{
	struct traced tr = {0};
	struct error err = {0};
	struct container *arr = NULL;
	size_t n = 0;
	int64_t total = 0;
	sqlite3 *db = db_handle(db_conn(f->st, &err)), *raw;
	sqlite3_trace_v2(db, SQLITE_TRACE_STMT, trace_cb, &tr);
	OK(store_container_list(f->st, q, &arr, &n, &total, E));
	sqlite3_trace_v2(db, 0, NULL, NULL);
	free_containers(arr, n);
	assert_int_equal(tr.n, 2); /* the total and the page */
	assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
	for (int i = 0; i < tr.n; i++) {
		char *eqp = xasprintf("EXPLAIN QUERY PLAN %s", tr.sql[i]);
		sqlite3_stmt *s;
		assert_int_equal(sqlite3_prepare_v2(raw, eqp, -1, &s, NULL), SQLITE_OK);
		while (sqlite3_step(s) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(s, 3);
			if (strstr(d, "TEMP B-TREE") || !strncmp(d, "SCAN", 4) ||
			    !strstr(d, "INDEX"))
				fail_msg("plan \"%s\" for %s", d, tr.sql[i]);
		}
		sqlite3_finalize(s);
		free(eqp);
		free(tr.sql[i]);
	}
	sqlite3_close(raw);
}

static void test_list_plans(void **state)
{
	struct fx *f = *state;
	int64_t have = 0;
	OK(store_container_count_user(f->st, f->user, &have, E));
	if (!have) /* the pages checked must exist, or no page query runs */
		OK(store_tx(f->st, fill_fn, &(struct fill){f, 100}, E));
	static const char *const sorts[] = {"created_at", "updated_at", "id", "name", "status"};
	for (size_t s = 0; s < ARRAY_SIZE(sorts); s++) {
		for (int v = 0; v < 16; v++) {
			struct container_query q = {
			    .base = {.user_id = f->user,
				     .sort_by = sorts[s],
				     .desc = v & 1,
				     .realm_id = v & 2 ? "dddddddddddddddddddddddd" : NULL,
				     .page = 2,
				     .limit = 3},
			    .project_id = v & 4 ? f->proj : NULL,
			    .include_prespawn = v & 8,
			    .include_deleting = v & 8,
			};
			check_plans(f, &q);
		}
	}
}

static void test_list_speed(void **state)
{
	struct fx *f = *state;
	int64_t t0 = mono_ns();
	OK(store_tx(f->st, fill_fn, &(struct fill){f, BIG}, E));
	printf("# inserted %d containers in %lld ms\n", BIG,
	       (long long)((mono_ns() - t0) / 1000000));
	test_list_plans(state); /* again, with statistics of a full table */

	static const char *const sorts[] = {"created_at", "updated_at", "id", "name", "status"};
	int64_t worst = 0;
	for (size_t s = 0; s < ARRAY_SIZE(sorts); s++) {
		for (int desc = 0; desc < 2; desc++) {
			struct container_query q = {.base = {.user_id = f->user,
							     .sort_by = sorts[s],
							     .desc = desc,
							     .page = 98,
							     .limit = 100}};
			int64_t us = time_page(f, &q, 100); /* 9800 visible rows: page 98 is full */
			q.project_id = f->proj;
			q.base.page = 49;
			int64_t us_p = time_page(f, &q, 100); /* 4900 visible rows */
			printf("# page of 100 by %-10s %-4s: user %4lld us, project %4lld us\n",
			       sorts[s], desc ? "desc" : "asc", (long long)us, (long long)us_p);
			worst = us > worst ? us : worst;
			worst = us_p > worst ? us_p : worst;
		}
	}
	struct container_query q = {.base = {.user_id = f->user,
					     .realm_id = "dddddddddddddddddddddddd",
					     .page = 5,
					     .limit = 100}};
	int64_t us_realm = time_page(f, &q, 100);
	printf("# page of 100 with a realm filter: %lld us; worst sorted page %lld us\n",
	       (long long)us_realm, (long long)worst);
	/* No wall-clock bound here: on a shared machine it fails for reasons
	 * that are not ours. A lost index is caught by test_list_plans above
	 * (run again with the statistics of a full table); the timing target
	 * lives in bench/api_bench.py. */

	struct container one;
	container_init(&one, f, f->user, f->proj, "lookup");
	OK(store_container_insert(f->st, &one, E));
	int64_t t1 = mono_ns();
	for (int i = 0; i < 1000; i++) {
		struct container got = {0};
		OK(store_container_get_owned(f->st, f->user, one.id, &got, E));
		container_clear(&got);
	}
	printf("# 1000 get_owned lookups: %lld us\n", (long long)((mono_ns() - t1) / 1000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_migrate_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_newer_schema, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_users, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_projects, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_servers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_container_crud, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_container_null_strings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_container_uniqueness, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_container_find_ssh_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_container_ownership, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_status_cas, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_container_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_logs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kv, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_stores_and_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_plans, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_speed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
