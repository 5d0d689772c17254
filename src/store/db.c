/* Connections, the prepared-statement cache, binding, error mapping and
 * transactions of the SQLite store.
 *
 * Each thread gets its own connection per store, opened lazily: SQLite
 * connections are not meant to be shared by concurrent threads, and WAL lets
 * every connection read beside the one writer. A thread's connections hang
 * off one pthread key whose destructor closes them when the thread exits;
 * the store also links them so store_close can close those of threads that
 * are still alive. A closed connection of another thread is only marked dead
 * and freed by its owner (next lookup or thread exit), so no thread ever
 * edits another thread's list. */
#include "store/db.h"

#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define BUSY_TIMEOUT_MS 5000
#define CACHE_MIN 64
#define CACHE_MAX 4096 /* distinct statements kept per connection */

/* Per connection: synchronous=NORMAL is durable against a crash of hoodyd in
 * WAL mode (see docs/STORE.md); journal_size_limit truncates the WAL after
 * checkpoints so it does not keep its high-water size. */
static const char CONN_PRAGMAS[] = "PRAGMA foreign_keys=ON;"
				   "PRAGMA synchronous=NORMAL;"
				   "PRAGMA journal_size_limit=67108864;"
				   "PRAGMA mmap_size=268435456;";

struct store {
	char *path;
	uint64_t serial;    /* keys connections: a freed store's address may be reused */
	struct conn *conns; /* every open connection, under g_mu */
	uint64_t writes;    /* commits so far (atomic), store_write_generation */
};

struct slot {
	uint64_t hash;
	char *sql;
	sqlite3_stmt *s;
};

struct conn {
	struct conn *tnext;	    /* the owning thread's list */
	struct conn *snext, *sprev; /* the store's list (g_mu) */
	struct store *st;	    /* valid while !dead */
	uint64_t serial;
	int dead; /* atomic; set by store_close */
	sqlite3 *db;
	int depth;	    /* store_tx nesting */
	struct slot *slots; /* open addressing, cap a power of two */
	size_t cap, used;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;
static uint64_t g_serial;

static void cache_clear(struct conn *c)
{
	for (size_t i = 0; i < c->cap; i++) {
		if (c->slots[i].sql) {
			sqlite3_finalize(c->slots[i].s);
			free(c->slots[i].sql);
		}
	}
	free(c->slots);
	c->slots = NULL;
	c->cap = c->used = 0;
}

/* g_mu held. Closes the database and detaches c from its store; the struct
 * itself belongs to the owning thread. */
static void conn_shutdown(struct conn *c)
{
	if (c->sprev)
		c->sprev->snext = c->snext;
	else
		c->st->conns = c->snext;
	if (c->snext)
		c->snext->sprev = c->sprev;
	c->snext = c->sprev = NULL;
	cache_clear(c);
	if (sqlite3_close_v2(c->db) != SQLITE_OK)
		log_warn("store: closing a connection: %s", sqlite3_errmsg(c->db));
	c->db = NULL;
	__atomic_store_n(&c->dead, 1, __ATOMIC_RELEASE);
}

static void thread_exit(void *head)
{
	for (struct conn *c = head, *next; c; c = next) {
		next = c->tnext;
		pthread_mutex_lock(&g_mu);
		if (!__atomic_load_n(&c->dead, __ATOMIC_ACQUIRE))
			conn_shutdown(c);
		pthread_mutex_unlock(&g_mu);
		free(c);
	}
}

static void key_init(void)
{
	if (pthread_key_create(&g_key, thread_exit) != 0)
		HOODY_PANIC("pthread_key_create: out of thread keys at start");
}

/* Runs after every commit, once it is visible to other connections: the
 * moment memoized reads (platform/proxy_memo.c) become stale. Replaces
 * SQLite's default WAL hook, so it also checkpoints as that one did. */
static int wal_committed(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store *st = arg;
	__atomic_add_fetch(&st->writes, 1, __ATOMIC_RELEASE);
	if (frames >= 1000)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

uint64_t store_write_generation(struct store *st)
{
	return __atomic_load_n(&st->writes, __ATOMIC_ACQUIRE);
}

static struct conn *conn_open(struct store *st, struct error *err)
{
	sqlite3 *db = NULL;
	char *emsg = NULL;
	int rc = sqlite3_open_v2(
	    st->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		err_set(err, E_IO, "open database %s: %s", st->path,
			db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	if (sqlite3_exec(db, CONN_PRAGMAS, NULL, NULL, &emsg) != SQLITE_OK) {
		err_set(err, E_IO, "configure database %s: %s", st->path, emsg ? emsg : "?");
		sqlite3_free(emsg);
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_wal_hook(db, wal_committed, st);
	struct conn *c = xcalloc(1, sizeof(*c));
	c->db = db;
	c->st = st;
	c->serial = st->serial;
	pthread_mutex_lock(&g_mu);
	c->snext = st->conns;
	if (st->conns)
		st->conns->sprev = c;
	st->conns = c;
	pthread_mutex_unlock(&g_mu);
	c->tnext = pthread_getspecific(g_key);
	pthread_setspecific(g_key, c);
	return c;
}

/* Frees this thread's connections that store_close has closed; returns the
 * live one of st, if any. */
static struct conn *thread_find(const struct store *st)
{
	struct conn *head = pthread_getspecific(g_key), **pp = &head, *found = NULL;
	bool pruned = false;
	while (*pp) {
		struct conn *c = *pp;
		if (__atomic_load_n(&c->dead, __ATOMIC_ACQUIRE)) {
			*pp = c->tnext;
			free(c);
			pruned = true;
			continue;
		}
		if (st && c->serial == st->serial) {
			found = c;
			break;
		}
		pp = &c->tnext;
	}
	if (pruned)
		pthread_setspecific(g_key, head);
	return found;
}

struct conn *db_conn(struct store *st, struct error *err)
{
	if (!st) {
		err_set(err, E_INTERNAL, "store not open");
		return NULL;
	}
	pthread_once(&g_once, key_init);
	struct conn *c = thread_find(st);
	return c ? c : conn_open(st, err);
}

sqlite3 *db_handle(struct conn *c)
{
	return c->db;
}

/* ---- statement cache ---- */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The slot holding sql, or the empty slot where it belongs. */
static struct slot *cache_find(struct conn *c, const char *sql, uint64_t h)
{
	for (size_t i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
		struct slot *sl = &c->slots[i];
		if (!sl->sql || (sl->hash == h && !strcmp(sl->sql, sql)))
			return sl;
	}
}

/* Keeps the load at most 3/4 so a probe always reaches an empty slot. */
static void cache_reserve(struct conn *c)
{
	if (4 * (c->used + 1) <= 3 * c->cap || 2 * c->cap > CACHE_MAX)
		return;
	struct conn old = *c;
	c->cap = c->cap ? 2 * c->cap : CACHE_MIN;
	c->slots = xcalloc(c->cap, sizeof(*c->slots));
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].sql)
			*cache_find(c, old.slots[i].sql, old.slots[i].hash) = old.slots[i];
	free(old.slots);
}

static int conn_prepare(struct conn *c, struct db_q *q, const char *sql, struct error *err)
{
	uint64_t h = fnv1a(sql);
	cache_reserve(c);
	struct slot *sl = cache_find(c, sql, h);
	q->c = c;
	/* A statement still stepping (a caller nesting the same query) gets a
	 * private copy instead. */
	if (sl->sql && !sqlite3_stmt_busy(sl->s)) {
		q->s = sl->s;
		q->cached = true;
		return 0;
	}
	bool keep = !sl->sql && 4 * (c->used + 1) <= 3 * c->cap;
	int rc =
	    sqlite3_prepare_v3(c->db, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, &q->s, NULL);
	if (rc != SQLITE_OK)
		return err_set(err, E_INTERNAL, "sqlite prepare: %s", sqlite3_errmsg(c->db));
	q->cached = keep;
	if (keep) {
		sl->sql = xstrdup(sql);
		sl->hash = h;
		sl->s = q->s;
		c->used++;
	}
	return 0;
}

static int bind_args(struct db_q *q, const char *fmt, va_list ap, struct error *err)
{
	int n = sqlite3_bind_parameter_count(q->s);
	for (int i = 1; fmt && fmt[i - 1]; i++) {
		int rc = SQLITE_OK;
		switch (fmt[i - 1]) {
		case 's':
		case 'e': {
			const char *v = va_arg(ap, const char *);
			if (i > n)
				break;
			if (!v || (fmt[i - 1] == 'e' && !*v))
				rc = sqlite3_bind_null(q->s, i);
			else
				rc = sqlite3_bind_text(q->s, i, v, -1, SQLITE_STATIC);
			break;
		}
		case 'I': {
			int64_t v = va_arg(ap, int64_t);
			if (i <= n)
				rc = sqlite3_bind_int64(q->s, i, v);
			break;
		}
		case 'b': {
			int v = va_arg(ap, int);
			if (i <= n)
				rc = sqlite3_bind_int(q->s, i, v != 0);
			break;
		}
		default:
			return err_set(err, E_INTERNAL, "store: bad bind format '%c'", fmt[i - 1]);
		}
		if (rc != SQLITE_OK)
			return err_set(err, E_INTERNAL, "sqlite bind ?%d: %s", i,
				       sqlite3_errstr(rc));
	}
	return 0;
}

int db_queryv(struct store *st, struct db_q *q, const char *sql, struct error *err, const char *fmt,
	      va_list ap)
{
	*q = (struct db_q){0};
	struct conn *c = db_conn(st, err);
	if (!c || conn_prepare(c, q, sql, err) < 0)
		return -1;
	if (bind_args(q, fmt, ap, err) < 0) {
		db_done(q);
		return -1;
	}
	return 0;
}

int db_query(struct store *st, struct db_q *q, const char *sql, struct error *err, const char *fmt,
	     ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = db_queryv(st, q, sql, err, fmt, ap);
	va_end(ap);
	return rc;
}

int db_bind_int(struct db_q *q, int idx, int64_t v, struct error *err)
{
	if (idx > sqlite3_bind_parameter_count(q->s))
		return 0;
	int rc = sqlite3_bind_int64(q->s, idx, v);
	if (rc != SQLITE_OK)
		return err_set(err, E_INTERNAL, "sqlite bind ?%d: %s", idx, sqlite3_errstr(rc));
	return 0;
}

static int db_fail(struct conn *c, int rc, const struct db_unique *uniq, struct error *err)
{
	const char *msg = sqlite3_errmsg(c->db);
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY: {
		for (; uniq && uniq->needle; uniq++)
			if (strstr(msg, uniq->needle))
				return err_set(err, uniq->code, "%s", uniq->msg);
		const char *cols = strstr(msg, ": ");
		return err_set(err, E_CONFLICT, "%s already in use", cols ? cols + 2 : msg);
	}
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return err_set(err, E_NOT_FOUND,
			       "a referenced user, project, server or container does not exist");
	case SQLITE_CONSTRAINT_NOTNULL:
	case SQLITE_CONSTRAINT_CHECK:
		return err_set(err, E_VALIDATION, "%s", msg);
	}
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		return err_set(err, E_INTERNAL, "database busy: %s", msg);
	return err_set(err, E_INTERNAL, "sqlite: %s", msg);
}

int db_step(struct db_q *q, const struct db_unique *uniq, struct error *err)
{
	int rc = sqlite3_step(q->s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return db_fail(q->c, rc, uniq, err);
}

void db_done(struct db_q *q)
{
	if (!q->s)
		return;
	if (q->cached) {
		sqlite3_reset(q->s);
		sqlite3_clear_bindings(q->s);
	} else {
		sqlite3_finalize(q->s);
	}
	q->s = NULL;
}

int db_execv(struct store *st, const struct db_unique *uniq, struct error *err, const char *sql,
	     const char *fmt, va_list ap)
{
	_cleanup_db_q_ struct db_q q = {0};
	if (db_queryv(st, &q, sql, err, fmt, ap) < 0)
		return -1;
	int rc;
	while ((rc = db_step(&q, uniq, err)) == 1)
		;
	if (rc == 0)
		rc = sqlite3_changes(q.c->db);
	return rc;
}

int db_exec(struct store *st, const struct db_unique *uniq, struct error *err, const char *sql,
	    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = db_execv(st, uniq, err, sql, fmt, ap);
	va_end(ap);
	return rc;
}

int db_intv(struct store *st, int64_t *out, struct error *err, const char *sql, const char *fmt,
	    va_list ap)
{
	_cleanup_db_q_ struct db_q q = {0};
	if (db_queryv(st, &q, sql, err, fmt, ap) < 0)
		return -1;
	int rc = db_step(&q, NULL, err);
	if (rc >= 0)
		*out = rc == 1 ? sqlite3_column_int64(q.s, 0) : 0;
	return rc < 0 ? -1 : 0;
}

int db_int(struct store *st, int64_t *out, struct error *err, const char *sql, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = db_intv(st, out, err, sql, fmt, ap);
	va_end(ap);
	return rc;
}

char *db_col_strdup(sqlite3_stmt *s, int col)
{
	const unsigned char *v = sqlite3_column_text(s, col);
	return v ? xstrdup((const char *)v) : NULL;
}

/* ---- transactions ---- */

static int conn_run(struct conn *c, const char *sql, struct error *err)
{
	_cleanup_db_q_ struct db_q q = {0};
	if (conn_prepare(c, &q, sql, err) < 0)
		return -1;
	int rc = db_step(&q, NULL, err);
	return rc < 0 ? -1 : 0;
}

static void (*commit_hook)(void);

void store_set_commit_hook(void (*hook)(void))
{
	__atomic_store_n(&commit_hook, hook, __ATOMIC_RELEASE);
}

bool store_in_tx(struct store *st)
{
	struct conn *c = thread_find(st);
	return c && c->depth > 0;
}

int store_tx(struct store *st, int (*fn)(struct store *st, void *arg, struct error *err), void *arg,
	     struct error *err)
{
	struct conn *c = db_conn(st, err);
	if (!c)
		return -1;
	if (!fn)
		return err_set(err, E_INTERNAL, "store_tx: no function");
	/* A nested call is a savepoint of the outer transaction: its failure
	 * undoes only its own writes and the outer function decides. */
	bool outer = c->depth == 0;
	if (conn_run(c, outer ? "BEGIN IMMEDIATE" : "SAVEPOINT tx", err) < 0)
		return -1;
	c->depth++;
	int rc = fn(st, arg, err);
	c->depth--;
	if (rc >= 0 && conn_run(c, outer ? "COMMIT" : "RELEASE tx", err) == 0) {
		void (*hook)(void) = __atomic_load_n(&commit_hook, __ATOMIC_ACQUIRE);
		if (outer && hook)
			hook();
		return rc;
	}
	struct error scratch = {0};
	if (!sqlite3_get_autocommit(c->db)) {
		if (outer)
			conn_run(c, "ROLLBACK", &scratch);
		else if (conn_run(c, "ROLLBACK TO tx", &scratch) == 0)
			conn_run(c, "RELEASE tx", &scratch);
	}
	if (scratch.code)
		log_warn("store: rollback: %s", scratch.msg);
	return rc < 0 ? rc : -1;
}

int db_read_begin(struct store *st, struct error *err)
{
	struct conn *c = db_conn(st, err);
	return c ? conn_run(c, "SAVEPOINT rd", err) : -1;
}

void db_read_end(struct store *st)
{
	struct error err = {0};
	struct conn *c = db_conn(st, &err);
	if (c && conn_run(c, "RELEASE rd", &err) < 0)
		log_warn("store: ending a read: %s", err.msg);
}

/* ---- open / close ---- */

static int set_wal(struct store *st, struct error *err)
{
	struct db_q q;
	if (db_query(st, &q, "PRAGMA journal_mode=WAL", err, NULL) < 0)
		return -1;
	int rc = db_step(&q, NULL, err);
	const unsigned char *mode = rc == 1 ? sqlite3_column_text(q.s, 0) : NULL;
	if (rc >= 0 && (!mode || strcmp((const char *)mode, "wal")))
		rc = err_set(err, E_IO, "database %s: cannot enable WAL (journal mode %s)",
			     st->path, mode ? (const char *)mode : "?");
	db_done(&q);
	return rc < 0 ? -1 : 0;
}

int store_open(const char *path, struct store **out_new, struct error *err)
{
	if (!path || !*path || !out_new)
		return err_set(err, E_INTERNAL, "store_open: database path required");
	/* Every thread opens its own connection, so all must reach one file. */
	if (path[0] == ':' || !strncmp(path, "file:", 5))
		return err_set(err, E_INTERNAL, "store_open: %s is not a plain file path", path);
	/* Created 0600 before SQLite sees it: the WAL and shm files copy the
	 * mode, and the file holds password and token hashes. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, E_IO, "open database %s", path);
	close(fd);
	pthread_once(&g_once, key_init);
	record_tables_init();
	struct store *st = xcalloc(1, sizeof(*st));
	st->path = xstrdup(path);
	st->serial = __atomic_add_fetch(&g_serial, 1, __ATOMIC_RELAXED);
	struct conn *c = db_conn(st, err);
	if (!c || set_wal(st, err) < 0 || schema_migrate(c->db, err) < 0) {
		err_wrap(err, "store %s", path);
		store_close(st);
		return -1;
	}
	*out_new = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&g_mu);
	while (st->conns)
		conn_shutdown(st->conns);
	pthread_mutex_unlock(&g_mu);
	thread_find(NULL); /* frees the caller's own, now dead, connections */
	free(st->path);
	free(st);
}
