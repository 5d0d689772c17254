/* Key/value settings (server identity, signing key metadata, ...). */
#include "store/db.h"

#include "common/util.h"

int store_kv_get(struct store *st, const char *key, char **value_new, struct error *err)
{
	_cleanup_db_q_ struct db_q q = {0};
	*value_new = NULL;
	if (db_query(st, &q, "SELECT value FROM kv WHERE key = ?1", err, "s", key) < 0)
		return -1;
	int rc = db_step(&q, NULL, err);
	if (rc == 1)
		*value_new = db_col_strdup(q.s, 0);
	else if (rc == 0)
		err_set(err, E_NOT_FOUND, "Setting %s not found", key ? key : "(null)");
	return rc == 1 ? 0 : -1;
}

/* A NULL value removes the key. */
int store_kv_set(struct store *st, const char *key, const char *value, struct error *err)
{
	if (!key)
		return err_set(err, E_INTERNAL, "kv: no key");
	int n = value ? db_exec(st, NULL, err,
				"INSERT INTO kv(key, value) VALUES(?1, ?2) "
				"ON CONFLICT(key) DO UPDATE SET value = excluded.value",
				"ss", key, value)
		      : db_exec(st, NULL, err, "DELETE FROM kv WHERE key = ?1", "s", key);
	return n < 0 ? -1 : 0;
}
