/* The state store. One interface; the SQLite backend (WAL mode, one
 * connection per thread, versioned migrations) implements it, and a
 * PostgreSQL backend can follow behind the same functions.
 *
 * Conventions:
 *  - ids are 24 lowercase hex (common/ids.h); times are ms since epoch;
 *  - variable-length fields are malloc'ed char* owned by the record and freed
 *    by its *_clear(); JSON-valued columns (realm_ids, env, permissions,
 *    payload, metadata) travel as JSON text;
 *  - "not found" is E_NOT_FOUND; a unique-constraint hit is E_CONFLICT
 *    (or the specific code named on the function); anything else E_INTERNAL.
 *  - Ownership: every lookup a user makes goes through a *_get_owned()
 *    variant that filters by user_id, so another user's row is E_NOT_FOUND.
 *  - Write-once columns and timestamp stamping: docs/STORE.md "Records". */
#ifndef HOODY_STORE_H
#define HOODY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/ids.h"
#include "common/query.h"

struct store;

int store_open(const char *path, struct store **out_new, struct error *err);
void store_close(struct store *st);
/* Runs fn inside one write transaction (BEGIN IMMEDIATE ... COMMIT); any
 * negative return rolls back. Nested calls join the outer transaction. */
int store_tx(struct store *st, int (*fn)(struct store *st, void *arg, struct error *err), void *arg,
	     struct error *err);

/* Whether the calling thread is inside store_tx. */
bool store_in_tx(struct store *st);
/* Called after every outermost commit (events wake their streams then). */
void store_set_commit_hook(void (*hook)(void));
/* Changes after every commit of this process (any connection, any
 * statement), once the commit is visible to readers: what was read before
 * may be stale when it differs. */
uint64_t store_write_generation(struct store *st);

/* ---- key/value (server identity, signing key metadata, settings) ---- */
int store_kv_get(struct store *st, const char *key, char **value_new, struct error *err);
/* A NULL value deletes the key. */
int store_kv_set(struct store *st, const char *key, const char *value, struct error *err);

/* ---- users ---- */
struct user {
	char id[ID_LEN + 1];
	char *username;
	char *email;	     /* may be NULL */
	char *alias;	     /* may be NULL */
	char *password_hash; /* argon2id encoded string */
	bool is_admin;
	bool is_banned;
	int64_t session_generation; /* bumped by logout: older JWTs stop working */
	int64_t max_containers;	    /* account quota, -1 = unlimited */
	char *metadata;		    /* JSON object text, may be NULL */
	char *public_key;	    /* 64 hex (Ed25519), may be NULL */
	int64_t created_at, updated_at;
};
void user_clear(struct user *u);
int store_user_insert(struct store *st, const struct user *u,
		      struct error *err); /* E_CONFLICT on username/email */
int store_user_get(struct store *st, const char *id, struct user *out, struct error *err);
/* login: matches username exactly or email case-insensitively */
int store_user_find_login(struct store *st, const char *login, struct user *out, struct error *err);
int store_user_update(struct store *st, const struct user *u, struct error *err);
int store_user_bump_session(struct store *st, const char *id, struct error *err);
int store_user_count(struct store *st, int64_t *out, struct error *err);

/* ---- refresh-token families: one per login; a refresh token works once ---- */
/* Also drops the families whose refresh tokens have all expired. */
int store_refresh_family_insert(struct store *st, const char *id, const char *user_id,
				const char *jti, int64_t expires_at, struct error *err);
/* Moves the family from jti to next_jti; *rotated is false when jti is not
 * the family's current one (a reuse) or the family is revoked or gone. */
int store_refresh_family_rotate(struct store *st, const char *id, const char *jti,
				const char *next_jti, int64_t expires_at, bool *rotated,
				struct error *err);
int store_refresh_family_revoke(struct store *st, const char *id, struct error *err);
/* Whether the family exists and is not revoked (false on a store error). */
bool store_refresh_family_live(struct store *st, const char *id);

/* ---- long-lived auth tokens (hdy_...) ---- */
struct auth_token {
	char id[ID_LEN + 1];
	char user_id[ID_LEN + 1];
	char *alias;
	char token_hash[65]; /* sha256 hex of the secret; the secret is never stored */
	char *permissions;   /* JSON object, the permission tree */
	char *realm_ids;     /* JSON array */
	bool allow_no_realm;
	char *ip_whitelist; /* JSON array */
	bool is_enabled;
	bool vault_access;
	bool event_access;
	char *public_key;     /* may be NULL */
	char *public_storage; /* JSON text, may be NULL */
	int64_t expires_at;   /* 0 = never */
	int64_t last_used_at; /* 0 = never */
	char *last_used_ip;   /* may be NULL */
	int64_t created_at, updated_at;
};
void auth_token_clear(struct auth_token *t);
int store_token_insert(struct store *st, const struct auth_token *t, struct error *err);
int store_token_get_owned(struct store *st, const char *user_id, const char *id,
			  struct auth_token *out, struct error *err);
int store_token_find_hash(struct store *st, const char *token_hash, struct auth_token *out,
			  struct error *err);
int store_token_update(struct store *st, const struct auth_token *t, struct error *err);
int store_token_touch(struct store *st, const char *id, int64_t when, const char *ip,
		      struct error *err);
int store_token_delete_owned(struct store *st, const char *user_id, const char *id,
			     struct error *err);
/* newest first; caller frees each with auth_token_clear and the array */
int store_token_list(struct store *st, const char *user_id, struct auth_token **out_new,
		     size_t *count, struct error *err);

/* ---- projects ---- */
struct project {
	char id[ID_LEN + 1];
	char user_id[ID_LEN + 1];
	char *alias;
	char *color;		/* "#RRGGBB" */
	int64_t max_containers; /* -1 = unlimited (null on the wire) */
	char *realm_ids;	/* JSON array */
	bool is_default;
	int64_t created_at, updated_at;
};
void project_clear(struct project *p);

int store_project_insert(struct store *st, const struct project *p,
			 struct error *err); /* E_CONFLICT on alias */
int store_project_get_owned(struct store *st, const char *user_id, const char *id,
			    struct project *out, struct error *err);
/* Any owner's (admin routes); E_NOT_FOUND like get_owned. */
int store_project_get(struct store *st, const char *id, struct project *out, struct error *err);
int store_project_update(struct store *st, const struct project *p, struct error *err);
int store_project_delete(struct store *st, const char *id, struct error *err);
int store_project_list(struct store *st, const struct list_query *q, struct project **out_new,
		       size_t *count, int64_t *total, struct error *err);

/* ---- servers (this host registers itself) ---- */
struct server {
	char id[ID_LEN + 1];
	char *name; /* e.g. "node-local" */
	char *country, *city, *region, *datacenter;
	bool is_free;
	int64_t max_containers; /* -1 = unlimited */
	int64_t created_at, updated_at;
};
void server_clear(struct server *s);
int store_server_upsert(struct store *st, const struct server *s, struct error *err);
int store_server_get(struct store *st, const char *id, struct server *out, struct error *err);
int store_server_list(struct store *st, struct server **out_new, size_t *count, struct error *err);

/* ---- containers ---- */

/* A container's status. The TEXT columns keep the API's names
 * (docs/CONTAINERS.md "States"); records carry the enum, converted by the
 * store when it reads and writes a row. CS_NONE is SQL NULL: no status (the
 * from of a first status log, a container without a desired state). Which
 * transitions are legal: platform/containers_int.h. */
enum container_status {
	CS_NONE,
	CS_CREATING,
	CS_RUNNING,
	CS_PAUSED,
	CS_STOPPED,
	CS_FAILED,
	CS_DELETED,
	CS_COPYING,
	CS_DELETING,
	CS_CLAIMING,
	CS_COUNT
};
/* A set of statuses, one bit each: CS_SET(CS_RUNNING) | CS_SET(CS_PAUSED). */
typedef unsigned container_status_set;
#define CS_SET(s) (1u << (s))
/* Every status a row can have. */
#define CS_ANY ((CS_SET(CS_COUNT) - 1) & ~CS_SET(CS_NONE))
/* Has processes: running or paused. */
#define CS_UP (CS_SET(CS_RUNNING) | CS_SET(CS_PAUSED))
/* In the middle of nothing: up or stopped. */
#define CS_SETTLED (CS_UP | CS_SET(CS_STOPPED))
/* On its way out or out: deleting or deleted. */
#define CS_GONE (CS_SET(CS_DELETING) | CS_SET(CS_DELETED))

/* The API's name ("running"); "unknown" for CS_NONE (and out of range). */
const char *container_status_name(enum container_status s);
/* The status named name; CS_NONE when name (may be NULL) names none. */
enum container_status container_status_from_name(const char *name);

static inline bool container_status_in(enum container_status s, container_status_set set)
{
	return s > CS_NONE && s < CS_COUNT && (set & CS_SET(s)) != 0;
}

struct container {
	char id[ID_LEN + 1];
	char project_id[ID_LEN + 1];
	char user_id[ID_LEN + 1]; /* empty for prespawn pool members */
	char server_id[ID_LEN + 1];
	char *name;
	char *color;
	char *container_image;
	bool ai, hoody_kit, dev_kit, autostart, ramdisk, prespawn;
	enum container_status status;
	/* what the user last asked for, running or stopped (autostart, recovery) */
	enum container_status desired;
	char *environment_vars;	   /* JSON object */
	char *ssh_public_key;	   /* NULL = none; globally unique (E_SSH_KEY_IN_USE) */
	char *comment;		   /* NULL = none */
	char *realm_ids;	   /* JSON array */
	char *source_container_id; /* NULL unless a copy */
	char *pool_key;		   /* prespawn pool key, NULL otherwise */
	char *failure_reason;	   /* NULL unless failed */
	bool server_expired;
	int64_t server_expired_at;
	int64_t started_at; /* last start, 0 when never started */
	int64_t env_revision, env_applied_revision;
	int64_t created_at, updated_at;
};
void container_clear(struct container *c);

struct container_query {
	struct list_query base;
	const char *project_id; /* NULL = all of the user's projects */
	bool include_prespawn, include_expired, include_deleting;
};

/* Every container call that finds no row (get, get_owned, update,
 * set_status, delete) fails with E_CONTAINER_NOT_FOUND. */
/* E_NAME_IN_USE when (project_id, name) is taken; E_SSH_KEY_IN_USE on the key. */
int store_container_insert(struct store *st, const struct container *c, struct error *err);
int store_container_get(struct store *st, const char *id, struct container *out, struct error *err);
/* E_CONTAINER_NOT_FOUND when missing or owned by someone else. */
int store_container_get_owned(struct store *st, const char *user_id, const char *id,
			      struct container *out, struct error *err);
/* Writes every mutable column; E_NAME_IN_USE / E_SSH_KEY_IN_USE as insert. */
int store_container_update(struct store *st, const struct container *c, struct error *err);
/* Compare-and-set of status: succeeds only if the current status is `from`
 * (CS_NONE = any); E_STATE_CONFLICT otherwise. */
int store_container_set_status(struct store *st, const char *id, enum container_status from,
			       enum container_status to, const char *failure_reason,
			       struct error *err);
int store_container_delete(struct store *st, const char *id, struct error *err);
int store_container_list(struct store *st, const struct container_query *q,
			 struct container **out_new, size_t *count, int64_t *total,
			 struct error *err);
/* Every container row of this server, whatever its owner (recovery, autostart). */
int store_container_list_all(struct store *st, struct container **out_new, size_t *count,
			     struct error *err);
/* Live containers whose key is "type blob" whatever its comment: one per
 * user at most (migration 8), but several users may hold the same key; at
 * most 16, oldest first. */
int store_container_find_ssh_key(struct store *st, const char *type_blob,
				 struct container **out_new, size_t *count, struct error *err);
/* Counts live (not deleting/deleted) non-prespawn containers. */
int store_container_count_project(struct store *st, const char *project_id, int64_t *out,
				  struct error *err);
int store_container_count_user(struct store *st, const char *user_id, int64_t *out,
			       struct error *err);
int store_container_count_server(struct store *st, const char *server_id, int64_t *out,
				 struct error *err);
/* One user's share of the above. */
int store_container_count_server_user(struct store *st, const char *server_id, const char *user_id,
				      int64_t *out, struct error *err);
void container_list_free(struct container *arr, size_t count);
/* Members of a prespawn pool: ready (running), creating, and the total of
 * live ones. */
int store_container_pool_count(struct store *st, const char *pool_key, int64_t *ready,
			       int64_t *creating, struct error *err);
/* The oldest ready member of a pool; E_NOT_FOUND when there is none. */
int store_container_pool_pick(struct store *st, const char *pool_key, struct container *out,
			      struct error *err);
/* Every member of every pool, creating, running or failed, oldest first. */
int store_container_pool_members(struct store *st, struct container **out_new, size_t *count,
				 struct error *err);
/* Marks every container of server_id expired at `at` (ms), or live again
 * when at is 0; *changed: rows touched. */
int store_container_expire_server(struct store *st, const char *server_id, int64_t at,
				  int64_t *changed, struct error *err);

/* ---- status logs ---- */
struct status_log {
	char id[ID_LEN + 1];
	char container_id[ID_LEN + 1];
	enum container_status from_status; /* CS_NONE for the first */
	enum container_status to_status;
	int64_t transition_time;
	int64_t duration_ms; /* -1 = null */
	char *triggered_by;  /* "user", "system", "autostart", ... */
	char *metadata;	     /* JSON or NULL */
};
void status_log_clear(struct status_log *l);
int store_status_log_insert(struct store *st, const struct status_log *l, struct error *err);
int store_status_log_list(struct store *st, const char *container_id, const char *sort_by,
			  bool desc, int64_t page, int64_t limit, struct status_log **out_new,
			  size_t *count, int64_t *total, struct error *err);

/* ---- snapshots ---- */
struct snapshot {
	char id[ID_LEN + 1];
	char container_id[ID_LEN + 1];
	char project_id[ID_LEN + 1];
	char user_id[ID_LEN + 1];
	char *name;	       /* snap-YYYYMMDD-HHMMSS-<8 random hex> */
	char *alias;	       /* may be NULL */
	char *container_image; /* the container's image: a copy from the snapshot needs it */
	int64_t size;	       /* bytes not shared with other snapshots */
	int64_t created_at;
	int64_t last_used_at; /* 0 = never restored or copied from */
	int64_t expires_at;   /* 0 = never */
	char *realm_ids;      /* the container's realms when taken (JSON array text) */
};
void snapshot_clear(struct snapshot *s);
void snapshot_list_free(struct snapshot *arr, size_t n);
/* E_CONFLICT when the container already has a snapshot of that name. */
int store_snapshot_insert(struct store *st, const struct snapshot *s, struct error *err);
/* E_NOT_FOUND when the container has no snapshot of that name. */
int store_snapshot_get(struct store *st, const char *container_id, const char *name,
		       struct snapshot *out, struct error *err);
int store_snapshot_update(struct store *st, const struct snapshot *s, struct error *err);
/* Snapshots whose container has no row or only a tombstone, of user_id
 * (NULL = every user), oldest first. */
int store_snapshot_list_orphaned(struct store *st, const char *user_id, struct snapshot **out_new,
				 size_t *count, struct error *err);
int store_snapshot_delete(struct store *st, const char *id, struct error *err);
/* Oldest first. */
int store_snapshot_list(struct store *st, const char *container_id, struct snapshot **out_new,
			size_t *count, struct error *err);
/* How many snapshots a container has, and the name of the one restored
 * last (*last_used_new NULL when none was). */
int store_snapshot_summary(struct store *st, const char *container_id, int64_t *count,
			   char **last_used_new, struct error *err);
/* Snapshots whose expires_at is in (0, now]: the cleanup's work. */
int store_snapshot_list_expired(struct store *st, int64_t now, struct snapshot **out_new,
				size_t *count, struct error *err);

/* ---- events ---- */
struct event {
	int64_t seq; /* set by insert; orders events, resumes streams */
	char id[ID_LEN + 1];
	char *event_type;    /* "container.running", ... */
	char *resource_type; /* "container", "project", ... */
	char *resource_id;
	char user_id[ID_LEN + 1];	 /* "" for system events */
	char *project_id, *container_id; /* may be NULL */
	char *payload;			 /* JSON object text */
	char *realm_ids;		 /* JSON array text */
	int64_t created_at;
};
void event_clear(struct event *e);
void event_list_free(struct event *arr, size_t n);

/* Filters; NULL / 0 = any. user_id is required. */
struct event_query {
	const char *user_id;
	const char *event_type, *resource_type, *resource_id, *project_id, *container_id;
	const char *realm_id;
	int64_t start_ms, end_ms; /* created_at within [start, end] */
	int64_t after_seq;	  /* seq > after_seq (streams) */
	const char *sort_by;	  /* created_at (default) | event_type | resource_type */
	bool desc;
	int64_t offset, limit; /* limit 1..500 */
};

/* Fills e->seq (and e->id when empty). */
int store_event_insert(struct store *st, struct event *e, struct error *err);
/* total (may be NULL: not counted) is how many match in all. */
int store_event_list(struct store *st, const struct event_query *q, struct event **out_new,
		     size_t *count, int64_t *total, struct error *err);
int store_event_get(struct store *st, const char *user_id, const char *id, struct event *out,
		    struct error *err);
/* Deletes what q matches (offset, limit and sort ignored); end_ms is the
 * "before" bound. */
int store_event_delete(struct store *st, const struct event_query *q, int64_t *deleted,
		       struct error *err);
/* One event of user_id; E_NOT_FOUND when there is none. */
int store_event_delete_one(struct store *st, const char *user_id, const char *id,
			   struct error *err);
/* Counts per event_type or resource_type (column), as parallel arrays. */
int store_event_counts(struct store *st, const struct event_query *q, const char *column,
		       char ***keys_new, int64_t **counts_new, size_t *n, struct error *err);
/* Retention: every user's events created before before_ms. */
int store_event_purge_before(struct store *st, int64_t before_ms, int64_t *deleted,
			     struct error *err);
/* The highest seq so far (0 when none). */
int store_event_last_seq(struct store *st, int64_t *out, struct error *err);

/* ---- proxy aliases (kit-api.md §3.1) ---- */
struct proxy_alias {
	char id[ID_LEN + 1];
	char user_id[ID_LEN + 1];
	char project_id[ID_LEN + 1];
	char container_id[ID_LEN + 1];
	char server_id[ID_LEN + 1];
	char *alias;	   /* unique per server */
	char *program;	   /* "terminal", "http", ... */
	int64_t idx;	   /* instance (kit programs), 0 = none */
	int64_t port;	   /* http/https/ssh backend port, 0 = none */
	char *target_path; /* NULL = none; always starts with '/' */
	bool allow_path_override;
	int64_t expires_at; /* 0 = never */
	bool enabled;
	int64_t created_at, updated_at;
};
void proxy_alias_clear(struct proxy_alias *a);
void proxy_alias_list_free(struct proxy_alias *arr, size_t n);
/* E_CONFLICT when the server already has an alias of that name. */
int store_proxy_alias_insert(struct store *st, const struct proxy_alias *a, struct error *err);
int store_proxy_alias_update(struct store *st, const struct proxy_alias *a, struct error *err);
/* E_NOT_FOUND when missing or owned by someone else. */
int store_proxy_alias_get_owned(struct store *st, const char *user_id, const char *id,
				struct proxy_alias *out, struct error *err);
int store_proxy_alias_get_name(struct store *st, const char *server_id, const char *alias,
			       struct proxy_alias *out, struct error *err);
int store_proxy_alias_delete(struct store *st, const char *id, struct error *err);
struct proxy_alias_query {
	const char *user_id;		       /* required */
	const char *project_id, *container_id; /* NULL = any */
	int enabled;			       /* -1 any, 0, 1 */
	int expired;			       /* -1 any, 0, 1 (against now_ms) */
	int64_t now_ms;
};
/* Oldest first, at most PROXY_ALIASES_LIST_MAX. */
#define PROXY_ALIASES_LIST_MAX 1000
int store_proxy_alias_list(struct store *st, const struct proxy_alias_query *q,
			   struct proxy_alias **out_new, size_t *count, struct error *err);
/* How many aliases point at a container. */
int store_proxy_alias_count(struct store *st, const char *container_id, int64_t *out,
			    struct error *err);

/* ---- proxy permission documents (kit-api.md §2.2, §3.2-3.3) ---- */
/* One row per container or project that ever had a document; the version
 * counter survives a DELETE (document NULL) so a stale If-Match stays stale. */
struct proxy_doc {
	char id[ID_LEN + 1]; /* the container's or the project's id */
	char *scope;	     /* "container" | "project" */
	char user_id[ID_LEN + 1];
	char *document; /* JSON object text, NULL = no document */
	int64_t file_version;
	int64_t created_at, updated_at;
};
void proxy_doc_clear(struct proxy_doc *d);
/* E_NOT_FOUND when no row (= version 0, no document). */
int store_proxy_doc_get(struct store *st, const char *id, struct proxy_doc *out, struct error *err);
/* Writes document (NULL deletes) as version expect + 1 when the stored
 * version is expect (0 = no row): E_CONFLICT otherwise. */
int store_proxy_doc_put(struct store *st, const struct proxy_doc *d, int64_t expect,
			struct error *err);

/* Records held on the stack and cleared at scope end, like _cleanup_free_:
 * `_cleanup_container_ struct container c = {0};`. The _clear functions
 * accept a zeroed record, so an early return before the fill is safe. */
#define _cleanup_user_ __attribute__((cleanup(user_clear)))
#define _cleanup_auth_token_ __attribute__((cleanup(auth_token_clear)))
#define _cleanup_project_ __attribute__((cleanup(project_clear)))
#define _cleanup_server_ __attribute__((cleanup(server_clear)))
#define _cleanup_container_ __attribute__((cleanup(container_clear)))
#define _cleanup_snapshot_ __attribute__((cleanup(snapshot_clear)))
#define _cleanup_event_ __attribute__((cleanup(event_clear)))
#define _cleanup_proxy_alias_ __attribute__((cleanup(proxy_alias_clear)))
#define _cleanup_proxy_doc_ __attribute__((cleanup(proxy_doc_clear)))

#endif
