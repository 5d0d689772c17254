/* Versioned schema. PRAGMA user_version holds how many steps of `steps` a
 * database has applied; store_open applies the rest, each in its own
 * transaction. Steps are append-only: a released step is never edited (a
 * database that already ran it would not see the edit); change the schema by
 * adding a step. The columns a step leaves must match the field lists of
 * the table files (users.c, ...), which generate every statement. */
#include "store/db.h"

#include <stdio.h>

#include "common/log.h"
#include "common/util.h"

/* Conventions: ids TEXT (24 hex); times INTEGER ms since epoch; booleans
 * INTEGER 0/1; JSON-valued columns TEXT; optional references NULL. */
static const char *const steps[] = {
    /* 1: the initial schema */
    "CREATE TABLE kv ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL"
    ") WITHOUT ROWID;"

    "CREATE TABLE users ("
    "  id TEXT PRIMARY KEY,"
    "  username TEXT NOT NULL UNIQUE,"
    "  email TEXT UNIQUE COLLATE NOCASE,"
    "  alias TEXT,"
    "  password_hash TEXT NOT NULL,"
    "  is_admin INTEGER NOT NULL DEFAULT 0,"
    "  is_banned INTEGER NOT NULL DEFAULT 0,"
    "  session_generation INTEGER NOT NULL DEFAULT 0,"
    "  max_containers INTEGER NOT NULL DEFAULT -1,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"

    "CREATE TABLE auth_tokens ("
    "  id TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  alias TEXT,"
    "  token_hash TEXT NOT NULL UNIQUE,"
    "  permissions TEXT,"
    "  realm_ids TEXT,"
    "  allow_no_realm INTEGER NOT NULL DEFAULT 1,"
    "  ip_whitelist TEXT,"
    "  is_enabled INTEGER NOT NULL DEFAULT 1,"
    "  vault_access INTEGER NOT NULL DEFAULT 0,"
    "  event_access INTEGER NOT NULL DEFAULT 1,"
    "  public_key TEXT,"
    "  expires_at INTEGER NOT NULL DEFAULT 0,"
    "  last_used_at INTEGER NOT NULL DEFAULT 0,"
    "  last_used_ip TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX auth_tokens_user ON auth_tokens(user_id, created_at, id);"

    "CREATE TABLE projects ("
    "  id TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  alias TEXT NOT NULL,"
    "  color TEXT,"
    "  max_containers INTEGER NOT NULL DEFAULT -1,"
    "  realm_ids TEXT,"
    "  is_default INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  UNIQUE (user_id, alias)"
    ");"
    "CREATE INDEX projects_user_id ON projects(user_id, id);"
    "CREATE INDEX projects_user_created ON projects(user_id, created_at, id);"
    "CREATE INDEX projects_user_updated ON projects(user_id, updated_at, id);"

    "CREATE TABLE servers ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  country TEXT, city TEXT, region TEXT, datacenter TEXT,"
    "  is_free INTEGER NOT NULL DEFAULT 0,"
    "  max_containers INTEGER NOT NULL DEFAULT -1,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"

    /* user_id and project_id are NULL for prespawn pool members. */
    "CREATE TABLE containers ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,"
    "  user_id TEXT REFERENCES users(id) ON DELETE CASCADE,"
    "  server_id TEXT REFERENCES servers(id),"
    "  name TEXT NOT NULL,"
    "  color TEXT,"
    "  container_image TEXT,"
    "  ai INTEGER NOT NULL DEFAULT 0,"
    "  hoody_kit INTEGER NOT NULL DEFAULT 0,"
    "  dev_kit INTEGER NOT NULL DEFAULT 0,"
    "  autostart INTEGER NOT NULL DEFAULT 0,"
    "  ramdisk INTEGER NOT NULL DEFAULT 0,"
    "  prespawn INTEGER NOT NULL DEFAULT 0,"
    "  status TEXT NOT NULL,"
    "  desired TEXT,"
    "  environment_vars TEXT,"
    "  ssh_public_key TEXT,"
    "  comment TEXT,"
    "  realm_ids TEXT,"
    "  source_container_id TEXT,"
    "  pool_key TEXT,"
    "  failure_reason TEXT,"
    "  server_expired INTEGER NOT NULL DEFAULT 0,"
    "  server_expired_at INTEGER NOT NULL DEFAULT 0,"
    "  started_at INTEGER NOT NULL DEFAULT 0,"
    "  env_revision INTEGER NOT NULL DEFAULT 0,"
    "  env_applied_revision INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    /* Why a row is hidden from default lists, one bit per include_* flag
     * (containers.c HIDE_*): 1 prespawn, 2 server expired, 4 deleting or
     * deleted. STORED, so the list indexes below can carry it. */
    "  hidden INTEGER GENERATED ALWAYS AS (prespawn | (server_expired << 1)"
    "    | ((status IN ('deleting', 'deleted')) << 2)) STORED"
    ");"
    /* A deleted (tombstoned) row releases its name and its SSH key. */
    "CREATE UNIQUE INDEX containers_project_name ON containers(project_id, name)"
    "  WHERE status <> 'deleted';"
    "CREATE UNIQUE INDEX containers_ssh_key ON containers(ssh_public_key)"
    "  WHERE ssh_public_key IS NOT NULL AND status <> 'deleted';"
    /* One index per list sort, by user and by project, in sort order with
     * id as tie-breaker. They end with the filter columns (hidden,
     * realm_ids) so OFFSET rows and the page total are counted inside the
     * index without reading the (large) rows. */
    "CREATE INDEX containers_user_id ON containers(user_id, id, hidden, realm_ids);"
    "CREATE INDEX containers_user_name ON containers(user_id, name, id, hidden, realm_ids);"
    "CREATE INDEX containers_user_status ON containers"
    "  (user_id, status, id, hidden, realm_ids);"
    "CREATE INDEX containers_user_created ON containers"
    "  (user_id, created_at, id, hidden, realm_ids);"
    "CREATE INDEX containers_user_updated ON containers"
    "  (user_id, updated_at, id, hidden, realm_ids);"
    "CREATE INDEX containers_project_id ON containers"
    "  (project_id, user_id, id, hidden, realm_ids);"
    "CREATE INDEX containers_project_name_sort ON containers"
    "  (project_id, user_id, name, id, hidden, realm_ids);"
    "CREATE INDEX containers_project_status ON containers"
    "  (project_id, user_id, status, id, hidden, realm_ids);"
    "CREATE INDEX containers_project_created ON containers"
    "  (project_id, user_id, created_at, id, hidden, realm_ids);"
    "CREATE INDEX containers_project_updated ON containers"
    "  (project_id, user_id, updated_at, id, hidden, realm_ids);"
    "CREATE INDEX containers_server ON containers(server_id, hidden);"

    "CREATE TABLE status_logs ("
    "  id TEXT PRIMARY KEY,"
    "  container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,"
    "  from_status TEXT,"
    "  to_status TEXT NOT NULL,"
    "  transition_time INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL DEFAULT -1,"
    "  triggered_by TEXT,"
    "  metadata TEXT"
    ");"
    "CREATE INDEX status_logs_container ON status_logs(container_id, transition_time, id);",

    /* 2: snapshots. No foreign key to containers: a snapshot outlives its
     * container (the seeds: "snapshots are kept after deletion"). */
    "CREATE TABLE snapshots ("
    "  id TEXT PRIMARY KEY,"
    "  container_id TEXT NOT NULL,"
    "  project_id TEXT NOT NULL,"
    "  user_id TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  alias TEXT,"
    "  container_image TEXT,"
    "  size INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  last_used_at INTEGER NOT NULL DEFAULT 0,"
    "  expires_at INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (container_id, name)"
    ");"
    "CREATE INDEX snapshots_expiry ON snapshots(expires_at) WHERE expires_at > 0;",

    /* 3: events. seq orders them and resumes streams (Last-Event-ID); rows
     * outlive the resources they are about. */
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  event_type TEXT NOT NULL,"
    "  resource_type TEXT NOT NULL,"
    "  resource_id TEXT,"
    "  user_id TEXT,"
    "  project_id TEXT,"
    "  container_id TEXT,"
    "  payload TEXT,"
    "  realm_ids TEXT,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX events_user ON events(user_id, seq);"
    "CREATE INDEX events_user_created ON events(user_id, created_at, seq);"
    "CREATE INDEX events_user_type ON events(user_id, event_type, seq);"
    "CREATE INDEX events_container ON events(container_id, seq);"
    "CREATE INDEX events_created ON events(created_at);",

    /* 4: prespawn claims pick the oldest ready member of a pool. */
    "CREATE INDEX containers_pool ON containers(pool_key, status, created_at, id)"
    "  WHERE prespawn = 1;",

    /* 5: usernames are unique without regard to ASCII case (an older
     * database may hold "alice" and "Alice": the later one is renamed to
     * "<name>-<id>" so the index can be built); snapshots carry their
     * container's realms, so that the realm check still applies once the
     * container is gone; refresh-token families (one per login), so a
     * refresh token works once and its reuse ends the family. */
    "UPDATE users SET username = username || '-' || id WHERE EXISTS ("
    "  SELECT 1 FROM users o WHERE o.username = users.username COLLATE NOCASE"
    "  AND (o.created_at < users.created_at"
    "       OR (o.created_at = users.created_at AND o.id < users.id)));"
    "CREATE UNIQUE INDEX users_username_nocase ON users(username COLLATE NOCASE);"
    "ALTER TABLE snapshots ADD COLUMN realm_ids TEXT;"
    "UPDATE snapshots SET realm_ids ="
    "  (SELECT realm_ids FROM containers WHERE containers.id = snapshots.container_id);"
    "CREATE INDEX snapshots_user ON snapshots(user_id, container_id);"
    "CREATE TABLE refresh_families ("
    "  id TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  current_jti TEXT NOT NULL,"
    "  revoked INTEGER NOT NULL DEFAULT 0,"
    "  expires_at INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX refresh_families_expiry ON refresh_families(expires_at);",

    /* 6: proxy aliases and proxy permission documents. Neither references
     * its container: an alias outlives it (the seeds delete the container,
     * then the alias) and resolves to 404 meanwhile. */
    "CREATE TABLE proxy_aliases ("
    "  id TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL,"
    "  project_id TEXT NOT NULL,"
    "  container_id TEXT NOT NULL,"
    "  server_id TEXT NOT NULL,"
    "  alias TEXT NOT NULL,"
    "  program TEXT NOT NULL,"
    "  idx INTEGER NOT NULL DEFAULT 0,"
    "  port INTEGER NOT NULL DEFAULT 0,"
    "  target_path TEXT,"
    "  allow_path_override INTEGER NOT NULL DEFAULT 1,"
    "  expires_at INTEGER NOT NULL DEFAULT 0,"
    "  enabled INTEGER NOT NULL DEFAULT 1,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  UNIQUE (server_id, alias)"
    ");"
    "CREATE INDEX proxy_aliases_user ON proxy_aliases(user_id, created_at, id);"
    "CREATE INDEX proxy_aliases_container ON proxy_aliases(container_id);"
    "CREATE TABLE proxy_documents ("
    "  id TEXT PRIMARY KEY,"
    "  scope TEXT NOT NULL,"
    "  user_id TEXT NOT NULL,"
    "  document TEXT,"
    "  file_version INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ") WITHOUT ROWID;",

    /* 7: fields of the public API stored as given (JSON text): a token's
     * public_storage, a user's metadata and public key. */
    "ALTER TABLE auth_tokens ADD COLUMN public_storage TEXT;"
    "ALTER TABLE users ADD COLUMN metadata TEXT;"
    "ALTER TABLE users ADD COLUMN public_key TEXT;",

    /* 8: an SSH key is unique per user, not across users (a tenant could
     * squat another's key, and learn whether it is in use), and compared by
     * its "type base64" part: the same key with another comment is the same
     * key. Keys are stored normalized ("type blob[ comment]", single spaces,
     * container_rules.c), so the blob ends at the second space. */
    "DROP INDEX containers_ssh_key;"
    "CREATE UNIQUE INDEX containers_user_ssh_key ON containers(user_id,"
    "  CASE WHEN instr(substr(ssh_public_key, instr(ssh_public_key, ' ') + 1), ' ') > 0"
    "  THEN substr(ssh_public_key, 1, instr(ssh_public_key, ' ')"
    "    + instr(substr(ssh_public_key, instr(ssh_public_key, ' ') + 1), ' ') - 1)"
    "  ELSE ssh_public_key END)"
    "  WHERE ssh_public_key IS NOT NULL AND status <> 'deleted';",
};

int schema_version_latest(void)
{
	return (int)ARRAY_SIZE(steps);
}

static int exec(sqlite3 *db, const char *sql, struct error *err)
{
	char *emsg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &emsg) == SQLITE_OK)
		return 0;
	err_set(err, E_INTERNAL, "%s", emsg ? emsg : sqlite3_errmsg(db));
	sqlite3_free(emsg);
	return -1;
}

static int read_version(sqlite3 *db, int *out, struct error *err)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		*out = sqlite3_column_int(s, 0);
		rc = 0;
	} else {
		err_set(err, E_INTERNAL, "read schema version: %s", sqlite3_errmsg(db));
	}
	sqlite3_finalize(s);
	return rc;
}

/* Fails if the step left a dangling reference: steps run with foreign keys
 * off (see schema_migrate), so this is the only check. */
static int fk_check(sqlite3 *db, struct error *err)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		err_set(err, E_INTERNAL, "foreign key violation in table %s",
			(const char *)sqlite3_column_text(s, 0));
	else if (rc != SQLITE_DONE)
		err_set(err, E_INTERNAL, "foreign key check: %s", sqlite3_errmsg(db));
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Applies step `v` (0-based) if the database is still at version v. The
 * version is read inside the write transaction, so two processes opening
 * the same file cannot both apply a step. Returns 1 when done, 0 when a
 * step ran, -1 on error. */
static int migrate_one(sqlite3 *db, struct error *err)
{
	int v = -1, latest = schema_version_latest();
	char bump[64];
	if (exec(db, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	if (read_version(db, &v, err) < 0)
		goto fail;
	if (v > latest) {
		err_set(err, E_INTERNAL,
			"database schema version %d is newer than this hoodyd (%d)", v, latest);
		goto fail;
	}
	if (v == latest)
		return exec(db, "COMMIT", err) < 0 ? -1 : 1;
	snprintf(bump, sizeof(bump), "PRAGMA user_version=%d", v + 1);
	if (exec(db, steps[v], err) < 0 || fk_check(db, err) < 0 || exec(db, bump, err) < 0 ||
	    exec(db, "COMMIT", err) < 0) {
		err_wrap(err, "schema migration %d", v + 1);
		goto fail;
	}
	log_info("store: schema migrated to version %d", v + 1);
	return 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Foreign keys are off while steps run: a step that rebuilds a table
 * (create new, copy, drop old, rename) must not cascade the drop into the
 * child tables. The pragma cannot change inside a transaction, hence here. */
int schema_migrate(sqlite3 *db, struct error *err)
{
	int rc;
	if (exec(db, "PRAGMA foreign_keys=OFF", err) < 0)
		return -1;
	while ((rc = migrate_one(db, err)) == 0)
		;
	struct error scratch = {0};
	if (exec(db, "PRAGMA foreign_keys=ON", rc < 0 ? &scratch : err) < 0)
		rc = -1;
	return rc < 0 ? -1 : 0;
}
