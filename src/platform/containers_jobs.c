/* Container jobs and recovery: the background work that does the host side
 * of create, copy, sync, delete, autostart and exit reports, and keeping the
 * database true to the host at start (re-adoption, interrupted work, host
 * leftovers). Decisions: docs/CONTAINERS.md. */
#include <stdlib.h>
#include <string.h>

#include "platform/platform_int.h"
#include "common/log.h"
#include "common/util.h"
#include "common/workq.h"
#include "platform/containers_int.h"
#include "platform/events.h"
#include "platform/limits.h"
#include "platform/oplocks.h"

/* ------------------------------------------------------------ background jobs */

struct job {
	struct platform *pf;
	enum job_kind kind;
	char id[ID_LEN + 1];
	int exit_status;
	char snapshot[72]; /* JOB_COPY from a snapshot of the source */
};

static const char *const job_names[] = {"create", "delete", "start", "exit",
					"purge",  "copy",   "sync"};

static void run_job(void *arg);

void containers_submit_job(struct platform *pf, enum job_kind kind, const char *id, int exit_status,
			   const char *snapshot)
{
	struct job *j = xcalloc(1, sizeof(*j));
	j->pf = pf;
	j->kind = kind;
	j->exit_status = exit_status;
	snprintf(j->id, sizeof(j->id), "%s", id);
	snprintf(j->snapshot, sizeof(j->snapshot), "%s", snapshot ? snapshot : "");
	workq_submit(pf->wq, run_job, j);
}

static void submit_job(struct platform *pf, enum job_kind kind, const char *id, int exit_status)
{
	containers_submit_job(pf, kind, id, exit_status, NULL);
}

/* Loads id when move m acts on it; false (nothing to do) otherwise. */
static bool load_for(struct platform *pf, const char *id, enum container_move m,
		     struct container *c)
{
	struct error err = {0};
	if (store_container_get(pf->store, id, c, &err) < 0)
		return false;
	if (container_move_check(m, c->status) == E_OK)
		return true;
	container_clear(c);
	return false;
}

static void create_failed(struct platform *pf, const char *id, const struct error *why)
{
	struct error ignored = {0};
	log_warn("container %s: create failed: %s", id, why->msg);
	/* Nothing of a failed container stays on the host. */
	if (pf->rto->remove(pf->rt, id, &ignored) < 0)
		log_warn("container %s: cleanup after failed create: %s", id, ignored.msg);
	struct container_transition t = {.move = MOVE_CREATE_FAILED, .reason = why->msg};
	containers_system_transition(pf, id, &t);
}

/* Brings a copy up to date with its source: stop, replace the layer, start. */
static void job_sync(struct platform *pf, const char *id)
{
	_cleanup_container_ struct container c = {0};
	struct error err = {0};
	if (!load_for(pf, id, MOVE_SYNCED, &c))
		return;
	if (pf->rto->stop(pf->rt, id, 10, &err) < 0 ||
	    pf->rto->layer_copy(pf->rt, c.source_container_id, NULL, id, &err) < 0 ||
	    containers_run_spec(pf, &c, pf->rto->start, &err) < 0) {
		log_warn("container %s: sync failed: %s", id, err.msg);
		_cleanup_free_ char *why = xasprintf("Sync failed: %s", err.msg);
		struct container_transition t = {.move = MOVE_SYNC_FAILED, .reason = why};
		containers_system_transition(pf, id, &t);
	} else {
		containers_system_started(pf, &c, MOVE_SYNCED);
	}
}

/* A new container, or a copy: then first its source's layer (or a snapshot
 * of it). The source is read frozen, not locked, so copies never wait on
 * each other. */
static void job_create(struct platform *pf, const char *id, const char *snapshot)
{
	_cleanup_container_ struct container c = {0};
	struct error err = {0};
	/* Gone or deleting meanwhile: the delete wins. */
	if (!load_for(pf, id, MOVE_CREATED, &c))
		return;
	bool copy = c.status == CS_COPYING;
	if (copy && !c.source_container_id)
		err_set(&err, E_INTERNAL, "copy without a source");
	if (err.code ||
	    (copy && pf->rto->layer_copy(pf->rt, c.source_container_id,
					 snapshot[0] ? snapshot : NULL, id, &err) < 0) ||
	    containers_run_spec(pf, &c, pf->rto->create_start, &err) < 0)
		create_failed(pf, id, &err);
	else
		containers_system_started(pf, &c, MOVE_CREATED);
}

int containers_remove_locked(struct platform *pf, const char *id, struct error *err)
{
	if (pf->rto->remove(pf->rt, id, err) < 0)
		return -1;
	if (store_container_delete(pf->store, id, err) < 0 && err->code != E_CONTAINER_NOT_FOUND)
		return -1;
	return 0;
}

void containers_deleted_event(struct platform *pf, const struct container *c)
{
	limits_container_gone(pf, c);
	json_t *p = json_pack("{s:s}", "status", container_status_name(CS_DELETED));
	events_container(pf, c, "container.deleted", p);
	json_decref(p);
}

static void job_delete(struct platform *pf, const char *id)
{
	_cleanup_container_ struct container c = {0};
	struct error err = {0};
	if (!load_for(pf, id, MOVE_REMOVED, &c))
		return;
	if (containers_remove_locked(pf, id, &err) < 0) {
		log_warn("container %s: delete failed: %s", id, err.msg);
		_cleanup_free_ char *why = xasprintf("Delete failed: %s", err.msg);
		struct container_transition t = {.move = MOVE_DELETE_FAILED, .reason = why};
		containers_system_transition(pf, id, &t);
	} else {
		log_info("container %s (%s): deleted", id, c.name);
		containers_deleted_event(pf, &c);
	}
}

/* The row takes what the host has. One that stays as it was (still
 * stopped, or the host could not be read) gets a status-log note with the
 * reason, since no transition tells why it is not running (failure_reason
 * is only a failed container's). */
static void autostart_failed(struct platform *pf, const struct container *c,
			     const struct error *why)
{
	struct error err = {0};
	_cleanup_free_ char *reason = xasprintf("autostart failed: %.250s", why->msg);
	json_t *meta = json_pack("{s:s, s:s}", "event", "autostart_failed", "reason", reason);
	enum container_status st = containers_record_truth(pf, c, "autostart", why, meta);
	if ((st == CS_NONE || st == c->status) &&
	    containers_note(pf, c->id, "container.autostart_failed", meta, &err) < 0)
		log_warn("container %s: not recorded: %s", c->id, err.msg);
	json_decref(meta);
}

/* Autostart after a host reboot or an unclean stop of hoodyd. */
static void job_start(struct platform *pf, const char *id)
{
	_cleanup_container_ struct container c = {0};
	struct error err = {0};
	if (!load_for(pf, id, MOVE_AUTOSTART, &c))
		return;
	if (containers_run_spec(pf, &c, pf->rto->start, &err) < 0) {
		log_warn("container %s: autostart failed: %s", id, err.msg);
		autostart_failed(pf, &c, &err);
	} else
		containers_system_started(pf, &c, MOVE_AUTOSTART);
}

/* The runtime saw init exit without being asked to stop it. */
static void job_exit(struct platform *pf, const char *id, int exit_status)
{
	_cleanup_container_ struct container c = {0};
	struct error err = {0};
	enum rt_state st = RT_ABSENT;
	if (!load_for(pf, id, MOVE_EXITED, &c))
		return;
	/* Started again since the report: nothing to record. */
	if (pf->rto->state(pf->rt, id, &st, &err) == 0 && (st == RT_RUNNING || st == RT_PAUSED))
		return;
	/* Init killed at the memory limit: say so (the cgroup is still there
	 * until the runtime forgets the container). */
	struct rt_stats rs = {0};
	bool oom =
	    exit_status < 0 && pf->rto->stats(pf->rt, id, &rs, &err) == 0 && rs.oom_kills > 0;
	json_t *meta =
	    json_pack("{s:s, s:o}", "reason",
		      oom ? "out of memory: init killed at the memory limit" : "init exited",
		      "exit_status", exit_status >= 0 ? json_integer(exit_status) : json_null());
	if (oom)
		json_object_set_new(meta, "oom_kills_total",
				    json_integer((json_int_t)rs.oom_kills));
	struct container_transition t = {.move = MOVE_EXITED, .metadata = meta};
	containers_system_transition(pf, id, &t);
	json_decref(meta);
}

/* Host leftovers of a container the database no longer has. */
static void job_purge(struct platform *pf, const char *id)
{
	_cleanup_container_ struct container c = {0};
	struct error err = {0};
	if (store_container_get(pf->store, id, &c, &err) == 0)
		return;
	if (err.code != E_CONTAINER_NOT_FOUND)
		return;
	if (pf->rto->remove(pf->rt, id, &err) < 0)
		log_warn("container %s: removing host leftovers failed: %s", id, err.msg);
	else
		log_info("container %s: host leftovers removed (no database row)", id);
}

static void run_job(void *arg)
{
	struct job *j = arg;
	struct platform *pf = j->pf;
	/* Only the thread doing the work holds the lock (see oplocks.h). */
	oplock_wait(pf->locks, j->id, job_names[j->kind]);
	switch (j->kind) {
	case JOB_CREATE:
	case JOB_COPY:
		job_create(pf, j->id, j->snapshot);
		break;
	case JOB_DELETE:
		job_delete(pf, j->id);
		break;
	case JOB_START:
		job_start(pf, j->id);
		break;
	case JOB_EXIT:
		job_exit(pf, j->id, j->exit_status);
		break;
	case JOB_PURGE:
		job_purge(pf, j->id);
		break;
	case JOB_SYNC:
		job_sync(pf, j->id);
		break;
	}
	oplock_release(pf->locks, j->id);
	free(j);
}

/* From the runtime's reaper thread: must not call the runtime, so queue. */
static void container_exited(const char *id, int exit_status, void *arg)
{
	struct platform *pf = arg;
	log_info("container %s: init exited (status %d)", id, exit_status);
	submit_job(pf, JOB_EXIT, id, exit_status);
}

/* ------------------------------------------------------------ recovery */

enum container_status container_host_status(enum rt_state st)
{
	switch (st) {
	case RT_RUNNING:
		return CS_RUNNING;
	case RT_PAUSED:
		return CS_PAUSED;
	case RT_CREATED:
	case RT_STOPPED:
		return CS_STOPPED;
	case RT_ABSENT:
		break;
	}
	return CS_NONE;
}

static void reconcile_settled(struct platform *pf, const struct container *c, enum rt_state st)
{
	enum container_status truth = container_host_status(st);
	struct container_transition t = {
	    .move = MOVE_RECOVER,
	    .from = CS_SET(c->status),
	    .to = truth != CS_NONE ? truth : CS_FAILED,
	    .reason = truth != CS_NONE ? NULL : "The container's files are missing on this host"};
	if (t.to != c->status)
		containers_system_transition(pf, c->id, &t);
	if (t.to == CS_STOPPED && c->autostart && c->desired == CS_RUNNING)
		submit_job(pf, JOB_START, c->id, 0);
}

/* Brings one row in line with the host; slow host work goes to the queue. */
static void reconcile_one(struct platform *pf, const struct container *c)
{
	struct error err = {0};
	enum rt_state st = RT_ABSENT;
	if (c->status == CS_DELETING) {
		submit_job(pf, JOB_DELETE, c->id, 0);
		return;
	}
	/* Create is idempotent: an interrupted one is simply run again. */
	if (c->status == CS_CREATING) {
		submit_job(pf, JOB_CREATE, c->id, 0);
		return;
	}
	if (c->status == CS_FAILED)
		return;
	if (pf->rto->state(pf->rt, c->id, &st, &err) < 0) {
		log_warn("container %s: state unknown: %s", c->id, err.msg);
		return;
	}
	if (container_move_check(MOVE_RECOVER, c->status) == E_OK) {
		reconcile_settled(pf, c, st);
		return;
	}
	_cleanup_free_ char *why = xasprintf("Interrupted while %s by a restart of hoodyd",
					     container_status_name(c->status));
	struct container_transition t = {.move = MOVE_RECOVER_INTERRUPTED,
					 .from = CS_SET(c->status),
					 .to = st == RT_RUNNING ? CS_RUNNING : CS_FAILED,
					 .reason = st == RT_RUNNING ? NULL : why};
	containers_system_transition(pf, c->id, &t);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Containers on the host without a row: leftovers of a crash. */
static void purge_orphans(struct platform *pf, const struct container *rows, size_t n)
{
	struct error err = {0};
	char **ids = NULL;
	size_t count = 0;
	if (pf->rto->list_ids(pf->rt, &ids, &count, &err) < 0) {
		log_warn("listing host containers failed: %s", err.msg);
		return;
	}
	const char **known = xcalloc(n + 1, sizeof(*known));
	for (size_t i = 0; i < n; i++)
		known[i] = rows[i].id;
	qsort(known, n, sizeof(*known), cmp_str);
	for (size_t i = 0; i < count; i++) {
		const char *key = ids[i];
		if (!bsearch(&key, known, n, sizeof(*known), cmp_str))
			submit_job(pf, JOB_PURGE, ids[i], 0);
		free(ids[i]);
	}
	free(ids);
	free(known);
}

static void adopted(const char *id, enum rt_state st, void *arg)
{
	log_debug("container %s: adopted (%s)", id, rt_state_name(st));
}

int platform_containers_init(struct platform *pf, struct error *err)
{
	struct container *rows = NULL;
	size_t n = 0;
	struct error e = {0};
	if (!pf->locks)
		pf->locks = oplocks_new();
	if (!pf->rt)
		return 0;
	pf->rto->set_exit_cb(pf->rt, container_exited, pf);
	if (pf->rto->adopt(pf->rt, adopted, pf, &e) < 0)
		log_warn("re-adopting containers: %s", e.msg);
	if (store_container_list_all(pf->store, &rows, &n, err) < 0)
		return err_wrap(err, "containers recovery");
	for (size_t i = 0; i < n; i++)
		reconcile_one(pf, &rows[i]);
	purge_orphans(pf, rows, n);
	log_info("containers: %zu known, recovery done", n);
	container_list_free(rows, n);
	return 0;
}
