/* Containers: create, list, get, update and delete, the background jobs that
 * do the host work, and keeping the database true to the host (recovery at
 * start, the runtime's exit reports). Decisions: docs/CONTAINERS.md. */
#include "platform/containers.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/workq.h"
#include "platform/container_rules.h"
#include "platform/events.h"
#include "platform/kit.h"
#include "platform/limits.h"
#include "platform/oplocks.h"
#include "platform/prespawn.h"
#include "platform/projects.h"
#include "platform/proxy.h"
#include "platform/render.h"
#include "platform/runtime_cache.h"
#include "platform/servers.h"
#include "platform/validate.h"

#define NAME_RETRIES 8	  /* fresh random names tried when one is taken */
#define IMAGE_LIST_MAX 12 /* images named in the "not available" message */
#define RUNTIME_PARAM_MAX 1024
#define RUNTIME_PROCS_MAX 256

/* ?runtime selector bits; RTI_WANTED alone is "runtime_info with nothing". */
enum {
	RTI_DISPLAYS = 1,
	RTI_SERVICES = 2,
	RTI_NETWORK = 4,
	RTI_TERMINALS = 8,
	RTI_PROCESSES = 16,
	RTI_ALL = 31,
	RTI_WANTED = 1u << 30,
};

/* ------------------------------------------------------------ statuses */

/* status is one of the '|'-separated names in list. */
static bool status_in(const char *status, const char *list)
{
	size_t n = status ? strlen(status) : 0;
	for (const char *p = list; p && *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (n && len == n && strncmp(p, status, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

bool container_status_in(const char *status, const char *list)
{
	return status_in(status, list);
}

static void status_logs_free(struct status_log *logs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		status_log_clear(&logs[i]);
	free(logs);
}

/* Time of the container's latest transition, 0 when it has none. */
static int last_transition_ms(struct store *st, const char *id, int64_t *out, struct error *err)
{
	struct status_log *logs = NULL;
	size_t n = 0;
	int64_t total = 0;
	*out = 0;
	if (store_status_log_list(st, id, "transition_time", true, 1, 1, &logs, &n, &total, err) <
	    0)
		return -1;
	if (n)
		*out = logs[0].transition_time;
	status_logs_free(logs, n);
	return 0;
}

static int log_transition(struct store *st, const char *id, const char *from, const char *to,
			  const char *by, const json_t *metadata, struct error *err)
{
	int64_t prev, now = now_ms();
	if (last_transition_ms(st, id, &prev, err) < 0)
		return -1;
	_cleanup_free_ char *meta = metadata ? json_dumps(metadata, JSON_COMPACT) : NULL;
	struct status_log l = {
	    .from_status = (char *)from,
	    .to_status = (char *)to,
	    .transition_time = now,
	    .duration_ms = prev ? (now > prev ? now - prev : 0) : -1,
	    .triggered_by = (char *)by,
	    .metadata = meta,
	};
	id_new(l.id);
	snprintf(l.container_id, sizeof(l.container_id), "%s", id);
	return store_status_log_insert(st, &l, err);
}

struct tx_transition {
	struct platform *pf;
	const char *id;
	const struct container_transition *t;
	struct container *out;
};

static void apply_transition(struct container *c, const struct container_transition *t)
{
	bool was_up = status_in(c->status, "running|paused");
	free(c->status);
	c->status = xstrdup(t->to);
	free(c->failure_reason);
	c->failure_reason = strcmp(t->to, "failed") == 0 && t->reason ? xstrdup(t->reason) : NULL;
	/* Kept when the container stops: stats show the last start. */
	if (strcmp(t->to, "running") == 0 && (!was_up || t->always))
		c->started_at = now_ms();
	if (t->desired) {
		free(c->desired);
		c->desired = xstrdup(t->desired);
	}
}

/* container.<new status>, in the transition's transaction. */
static void transition_event(struct platform *pf, const struct container *c, const char *from,
			     const struct container_transition *t)
{
	char type[64];
	snprintf(type, sizeof(type), "container.%s", t->to);
	json_t *p = json_pack("{s:s, s:s, s:s}", "from_status", from, "to_status", t->to,
			      "triggered_by", t->triggered_by ? t->triggered_by : "system");
	if (t->reason)
		json_object_set_new(p, "reason", json_string(t->reason));
	if (t->metadata)
		json_object_set(p, "metadata", t->metadata);
	events_container(pf, c, type, p);
	json_decref(p);
}

static int transition_tx(struct store *st, void *arg, struct error *err)
{
	struct tx_transition *x = arg;
	struct container c = {0};
	if (store_container_get(st, x->id, &c, err) < 0)
		return -1;
	int rc = -1;
	_cleanup_free_ char *from = xstrdup(c.status);
	if (x->t->from && !status_in(from, x->t->from)) {
		err_set(err, E_STATE_CONFLICT,
			"Operation not allowed in the container's current state (%s)", from);
		goto out;
	}
	if (strcmp(from, x->t->to) != 0 || x->t->always) {
		apply_transition(&c, x->t);
		if (store_container_update(st, &c, err) < 0 ||
		    log_transition(st, x->id, from, x->t->to, x->t->triggered_by, x->t->metadata,
				   err) < 0)
			goto out;
		transition_event(x->pf, &c, from, x->t);
	}
	rc = 0;
	if (x->out) {
		*x->out = c;
		memset(&c, 0, sizeof(c));
	}
out:
	container_clear(&c);
	return rc;
}

int containers_transition(struct platform *pf, const char *id, const struct container_transition *t,
			  struct container *out, struct error *err)
{
	struct tx_transition x = {.pf = pf, .id = id, .t = t, .out = out};
	return store_tx(pf->store, transition_tx, &x, err);
}

struct tx_note {
	struct platform *pf;
	const char *id, *type;
	json_t *meta;
};

static int note_tx(struct store *st, void *arg, struct error *err)
{
	struct tx_note *x = arg;
	struct container c = {0};
	if (store_container_get(st, x->id, &c, err) < 0)
		return -1;
	int rc = log_transition(st, x->id, c.status, c.status, "system", x->meta, err);
	if (rc == 0)
		events_container(x->pf, &c, x->type, x->meta);
	container_clear(&c);
	return rc;
}

int containers_note(struct platform *pf, const char *id, const char *type, json_t *meta,
		    struct error *err)
{
	struct tx_note x = {.pf = pf, .id = id, .type = type, .meta = meta};
	return store_tx(pf->store, note_tx, &x, err);
}

/* A transition the system makes on its own: failures are logged, not returned. */
static void system_transition(struct platform *pf, const char *id, const char *from, const char *to,
			      const char *reason, const char *by, json_t *meta)
{
	struct container_transition t = {
	    .from = from, .to = to, .reason = reason, .triggered_by = by, .metadata = meta};
	struct error err = {0};
	if (containers_transition(pf, id, &t, NULL, &err) < 0)
		log_info("container %s: not marked %s: %s", id, to, err.msg);
	else
		log_info("container %s: %s%s%s", id, to, reason ? ": " : "", reason ? reason : "");
}

/* ------------------------------------------------------------ specs */

int container_spec_init(struct platform *pf, const struct container *c,
			struct container_spec *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	out->env_json = c->environment_vars ? json_loads(c->environment_vars, 0, NULL) : NULL;
	if (!json_is_object(out->env_json)) {
		json_decref(out->env_json);
		out->env_json = json_object();
	}
	out->env = xcalloc(json_object_size(out->env_json) + 1, sizeof(*out->env));
	size_t n = 0;
	const char *k;
	json_t *v;
	json_object_foreach(out->env_json, k, v)
	{
		out->env[n].key = k;
		out->env[n].value = json_string_value(v) ? json_string_value(v) : "";
		n++;
	}
	out->spec = (struct rt_spec){
	    .id = c->id,
	    .hostname = c->name,
	    .image = c->container_image,
	    .env = out->env,
	    .env_count = n,
	    .ramdisk = c->ramdisk,
	    .kit = c->hoody_kit,
	    /* The network rule: containers of one project reach each other,
	     * nothing else on the bridge; a pool member belongs to none yet. */
	    .net_group = c->prespawn || !c->project_id[0] ? NULL : c->project_id,
	};
	struct limits l;
	if (limits_resolve(pf, c->user_id, c->project_id, &l, err) < 0) {
		container_spec_clear(out);
		return -1;
	}
	limits_apply(pf, &l, &out->spec);
	if (c->project_id[0] && limits_ramdisk_shared(pf, c->id)) {
		limits_ramdisk_group(c->project_id, out->ramdisk_group);
		out->spec.ramdisk_group = out->ramdisk_group;
	}
	return 0;
}

void container_spec_clear(struct container_spec *s)
{
	free(s->env);
	json_decref(s->env_json);
	memset(s, 0, sizeof(*s));
}

struct tx_env {
	const char *id;
	int64_t rev;
};

static int env_applied_tx(struct store *st, void *arg, struct error *err)
{
	struct tx_env *x = arg;
	struct container c = {0};
	if (store_container_get(st, x->id, &c, err) < 0)
		return -1;
	int rc = 0;
	if (c.env_applied_revision < x->rev && x->rev <= c.env_revision) {
		c.env_applied_revision = x->rev;
		rc = store_container_update(st, &c, err);
	}
	container_clear(&c);
	return rc;
}

int containers_env_applied(struct platform *pf, const char *id, int64_t rev, struct error *err)
{
	struct tx_env x = {.id = id, .rev = rev};
	return store_tx(pf->store, env_applied_tx, &x, err);
}

typedef int (*rt_spec_fn)(struct runtime *rt, const struct rt_spec *spec, struct error *err);

/* Starts c (rt_create_start or rt_start) with its current spec. */
static int run_spec(struct platform *pf, const struct container *c, rt_spec_fn fn,
		    struct error *err)
{
	struct container_spec s;
	if (container_spec_init(pf, c, &s, err) < 0)
		return -1;
	int rc = fn(pf->rt, &s.spec, err);
	container_spec_clear(&s);
	return rc;
}

/* /etc/environment inside the container, for logins and execs. */
static int write_etc_environment(struct platform *pf, const struct container *c, struct error *err)
{
	struct container_spec s;
	if (container_spec_init(pf, c, &s, err) < 0)
		return -1;
	int rc = rt_set_env(pf->rt, c->id, s.env, s.spec.env_count, err);
	container_spec_clear(&s);
	return rc;
}

/* After a start with c's spec: the environment of its revision is applied
 * (an empty one leaves the image's /etc/environment alone), and the status
 * moves from `from` to running. */
void containers_env_after_start(struct platform *pf, const struct container *c)
{
	struct error err = {0};
	if (strcmp(c->environment_vars ? c->environment_vars : "{}", "{}") != 0 &&
	    write_etc_environment(pf, c, &err) < 0)
		log_warn("container %s: /etc/environment not written: %s", c->id, err.msg);
	if (containers_env_applied(pf, c->id, c->env_revision, &err) < 0)
		log_warn("container %s: %s", c->id, err.msg);
}

static void started(struct platform *pf, const struct container *c, const char *from,
		    const char *by)
{
	containers_env_after_start(pf, c);
	oplock_finishing(pf->locks, c->id);
	system_transition(pf, c->id, from, "running", NULL, by, NULL);
}

/* ------------------------------------------------------------ background jobs */

enum job_kind { JOB_CREATE, JOB_DELETE, JOB_START, JOB_EXIT, JOB_PURGE, JOB_COPY, JOB_SYNC };

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

static void submit_job_snap(struct platform *pf, enum job_kind kind, const char *id,
			    int exit_status, const char *snapshot)
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
	submit_job_snap(pf, kind, id, exit_status, NULL);
}

/* Loads id when its status is in `want`; false (nothing to do) otherwise. */
static bool load_in(struct platform *pf, const char *id, const char *want, struct container *c)
{
	struct error err = {0};
	if (store_container_get(pf->store, id, c, &err) < 0)
		return false;
	if (status_in(c->status, want))
		return true;
	container_clear(c);
	return false;
}

static void create_failed(struct platform *pf, const char *id, const struct error *why)
{
	struct error ignored = {0};
	log_warn("container %s: create failed: %s", id, why->msg);
	/* Nothing of a failed container stays on the host. */
	if (rt_delete(pf->rt, id, &ignored) < 0)
		log_warn("container %s: cleanup after failed create: %s", id, ignored.msg);
	system_transition(pf, id, "creating|copying", "failed", why->msg, "system", NULL);
}

/* Brings a copy up to date with its source: stop, replace the layer, start. */
static void job_sync(struct platform *pf, const char *id)
{
	struct container c = {0};
	struct error err = {0};
	if (!load_in(pf, id, "copying", &c))
		return;
	if (rt_stop(pf->rt, id, 10, &err) < 0 ||
	    rt_layer_copy(pf->rt, c.source_container_id, NULL, id, &err) < 0 ||
	    run_spec(pf, &c, rt_start, &err) < 0) {
		log_warn("container %s: sync failed: %s", id, err.msg);
		_cleanup_free_ char *why = xasprintf("Sync failed: %s", err.msg);
		system_transition(pf, id, "copying", "failed", why, "system", NULL);
	} else {
		started(pf, &c, "copying", "system");
	}
	container_clear(&c);
}

/* A new container, or a copy: then first its source's layer (or a snapshot
 * of it). The source is read frozen, not locked, so copies never wait on
 * each other. */
static void job_create(struct platform *pf, const char *id, const char *snapshot)
{
	struct container c = {0};
	struct error err = {0};
	/* Gone or deleting meanwhile: the delete wins. */
	if (!load_in(pf, id, "creating|copying", &c))
		return;
	bool copy = strcmp(c.status, "copying") == 0;
	if (copy && !c.source_container_id)
		err_set(&err, E_INTERNAL, "copy without a source");
	if (err.code ||
	    (copy && rt_layer_copy(pf->rt, c.source_container_id, snapshot[0] ? snapshot : NULL, id,
				   &err) < 0) ||
	    run_spec(pf, &c, rt_create_start, &err) < 0)
		create_failed(pf, id, &err);
	else
		started(pf, &c, c.status, "system");
	container_clear(&c);
}

/* Host first, then the row: a crash in between leaves a "deleting" row that
 * recovery deletes again. Caller holds the op lock. */
static int remove_locked(struct platform *pf, const char *id, struct error *err)
{
	if (rt_delete(pf->rt, id, err) < 0)
		return -1;
	if (store_container_delete(pf->store, id, err) < 0 && err->code != E_CONTAINER_NOT_FOUND)
		return -1;
	return 0;
}

/* After the row is gone: the event, and the shared ramdisk if c was the
 * last of its project to use it. */
static void deleted_event(struct platform *pf, const struct container *c)
{
	limits_container_gone(pf, c);
	json_t *p = json_pack("{s:s}", "status", "deleted");
	events_container(pf, c, "container.deleted", p);
	json_decref(p);
}

static void job_delete(struct platform *pf, const char *id)
{
	struct container c = {0};
	struct error err = {0};
	if (!load_in(pf, id, "deleting", &c))
		return;
	if (remove_locked(pf, id, &err) < 0) {
		log_warn("container %s: delete failed: %s", id, err.msg);
		_cleanup_free_ char *why = xasprintf("Delete failed: %s", err.msg);
		system_transition(pf, id, "deleting", "failed", why, "system", NULL);
	} else {
		log_info("container %s (%s): deleted", id, c.name);
		deleted_event(pf, &c);
	}
	container_clear(&c);
}

/* Autostart after a host reboot or an unclean stop of hoodyd. */
static void job_start(struct platform *pf, const char *id)
{
	struct container c = {0};
	struct error err = {0};
	if (!load_in(pf, id, "stopped", &c))
		return;
	if (run_spec(pf, &c, rt_start, &err) < 0)
		log_warn("container %s: autostart failed: %s", id, err.msg);
	else
		started(pf, &c, "stopped", "autostart");
	container_clear(&c);
}

/* The runtime saw init exit without being asked to stop it. */
static void job_exit(struct platform *pf, const char *id, int exit_status)
{
	struct container c = {0};
	struct error err = {0};
	enum rt_state st = RT_ABSENT;
	if (!load_in(pf, id, "running|paused", &c))
		return;
	/* Started again since the report: nothing to record. */
	if (rt_state(pf->rt, id, &st, &err) == 0 && (st == RT_RUNNING || st == RT_PAUSED)) {
		container_clear(&c);
		return;
	}
	/* Init killed at the memory limit: say so (the cgroup is still there
	 * until the runtime forgets the container). */
	struct rt_stats rs = {0};
	bool oom = exit_status < 0 && rt_stats(pf->rt, id, &rs, &err) == 0 && rs.oom_kills > 0;
	json_t *meta = json_pack("{s:s, s:o}", "reason",
				 oom ? "out of memory: init killed at the memory limit"
				     : "init exited",
				 "exit_status",
				 exit_status >= 0 ? json_integer(exit_status) : json_null());
	if (oom)
		json_object_set_new(meta, "oom_kills_total", json_integer((json_int_t)rs.oom_kills));
	system_transition(pf, id, "running|paused", "stopped", NULL, "system", meta);
	json_decref(meta);
	container_clear(&c);
}

/* Host leftovers of a container the database no longer has. */
static void job_purge(struct platform *pf, const char *id)
{
	struct container c = {0};
	struct error err = {0};
	if (store_container_get(pf->store, id, &c, &err) == 0) {
		container_clear(&c);
		return;
	}
	if (err.code != E_CONTAINER_NOT_FOUND)
		return;
	if (rt_delete(pf->rt, id, &err) < 0)
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

const char *container_host_status(enum rt_state st)
{
	switch (st) {
	case RT_RUNNING:
		return "running";
	case RT_PAUSED:
		return "paused";
	case RT_CREATED:
	case RT_STOPPED:
		return "stopped";
	case RT_ABSENT:
		break;
	}
	return NULL;
}

static void reconcile_settled(struct platform *pf, const struct container *c, enum rt_state st)
{
	const char *truth = container_host_status(st);
	const char *to = truth ? truth : "failed";
	if (strcmp(to, c->status) != 0)
		system_transition(pf, c->id, c->status, to,
				  truth ? NULL : "The container's files are missing on this host",
				  "system", NULL);
	if (strcmp(to, "stopped") == 0 && c->autostart && c->desired &&
	    strcmp(c->desired, "running") == 0)
		submit_job(pf, JOB_START, c->id, 0);
}

/* Brings one row in line with the host; slow host work goes to the queue. */
static void reconcile_one(struct platform *pf, const struct container *c)
{
	struct error err = {0};
	enum rt_state st = RT_ABSENT;
	if (strcmp(c->status, "deleting") == 0) {
		submit_job(pf, JOB_DELETE, c->id, 0);
		return;
	}
	/* Create is idempotent: an interrupted one is simply run again. */
	if (strcmp(c->status, "creating") == 0) {
		submit_job(pf, JOB_CREATE, c->id, 0);
		return;
	}
	if (strcmp(c->status, "failed") == 0)
		return;
	if (rt_state(pf->rt, c->id, &st, &err) < 0) {
		log_warn("container %s: state unknown: %s", c->id, err.msg);
		return;
	}
	if (status_in(c->status, "running|paused|stopped")) {
		reconcile_settled(pf, c, st);
	} else if (st == RT_RUNNING) {
		system_transition(pf, c->id, c->status, "running", NULL, "system", NULL);
	} else {
		_cleanup_free_ char *why =
		    xasprintf("Interrupted while %s by a restart of hoodyd", c->status);
		system_transition(pf, c->id, c->status, "failed", why, "system", NULL);
	}
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
	if (rt_list_ids(pf->rt, &ids, &count, &err) < 0) {
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
	runtime_set_exit_cb(pf->rt, container_exited, pf);
	if (rt_adopt(pf->rt, adopted, pf, &e) < 0)
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

/* ------------------------------------------------------------ lookups */

int containers_find(struct platform *pf, const struct principal *who, const char *id,
		    const char *leaf, struct container *out, struct error *err)
{
	if (principal_require(who, leaf, err) < 0)
		return -1;
	if (!id_valid(id))
		return err_set(err, E_INVALID_ID, "Invalid ID format");
	if (store_container_get_owned(pf->store, who->user_id, id, out, err) < 0)
		return -1;
	if (!principal_sees_realms(who, out->realm_ids)) {
		container_clear(out);
		return err_set(err, E_CONTAINER_NOT_FOUND, "Container not found");
	}
	return 0;
}

static int refuse_expired(struct error *err)
{
	return err_set(err, E_EXPIRED_READONLY,
		       "This container has expired with its server and is read-only");
}

int containers_find_writable(struct platform *pf, const struct principal *who, const char *id,
			     const char *leaf, struct container *out, struct error *err)
{
	if (containers_find(pf, who, id, leaf, out, err) < 0)
		return -1;
	return out->server_expired ? refuse_expired(err) : 0;
}

/* Project aliases and server objects, fetched once per request. */
struct named {
	char id[ID_LEN + 1];
	char *name;
	json_t *json;
};

struct render_cache {
	struct platform *pf;
	const char *user_id;
	struct named *projects, *servers;
	size_t nprojects, nservers;
};

static struct named *cache_find(struct named *v, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].id, id) == 0)
			return &v[i];
	return NULL;
}

static struct named *cache_add(struct named **v, size_t *n, const char *id)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	struct named *e = &(*v)[(*n)++];
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	return e;
}

static const char *project_alias(struct render_cache *rc, const char *project_id)
{
	if (!project_id[0])
		return NULL;
	struct named *e = cache_find(rc->projects, rc->nprojects, project_id);
	if (!e) {
		struct project p = {0};
		struct error err = {0};
		e = cache_add(&rc->projects, &rc->nprojects, project_id);
		if (store_project_get_owned(rc->pf->store, rc->user_id, project_id, &p, &err) ==
			0 &&
		    p.alias)
			e->name = xstrdup(p.alias);
		project_clear(&p);
	}
	return e->name;
}

static struct named *server_entry(struct render_cache *rc, const char *server_id)
{
	if (!server_id[0])
		return NULL;
	struct named *e = cache_find(rc->servers, rc->nservers, server_id);
	if (!e) {
		struct server s = {0};
		struct error err = {0};
		e = cache_add(&rc->servers, &rc->nservers, server_id);
		if (store_server_get(rc->pf->store, server_id, &s, &err) == 0) {
			e->name = s.name ? xstrdup(s.name) : NULL;
			e->json = server_summary_json_new(rc->pf, server_id);
		}
		server_clear(&s);
	}
	return e;
}

static void named_free(struct named *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		json_decref(v[i].json);
	}
	free(v);
}

static void render_cache_clear(struct render_cache *rc)
{
	named_free(rc->projects, rc->nprojects);
	named_free(rc->servers, rc->nservers);
	memset(rc, 0, sizeof(*rc));
}

/* The proxy fields are true to the documents and aliases (platform/proxy_docs.c). */
static void add_proxy_fields(struct platform *pf, json_t *o, const struct container *c,
			     bool domains, bool permissions)
{
	struct proxy_summary ps;
	proxy_summary_of(pf, c->id, c->project_id, &ps);
	json_object_set_new(o, "has_proxy_permissions", json_boolean(strcmp(ps.scope, "none") != 0));
	json_object_set_new(o, "proxy_permissions_scope", json_string(ps.scope));
	json_object_set_new(o, "has_proxy_domains", json_boolean(ps.aliases > 0));
	json_object_set_new(o, "proxy_domains_count", json_integer((json_int_t)ps.aliases));
	if (domains)
		json_object_set_new(o, "proxy_domains", proxy_domains_new(pf, c->id));
	if (permissions) {
		json_object_set_new(o, "proxy_permissions",
				    proxy_doc_json_new(pf, PROXY_SCOPE_CONTAINER, c->id, c->project_id));
		json_object_set_new(o, "project_proxy_permissions",
				    proxy_doc_json_new(pf, PROXY_SCOPE_PROJECT, c->project_id,
						       c->project_id));
	}
}

static json_t *render_cached(struct render_cache *rc, const struct container *c, bool proxy_domains,
			     bool proxy_permissions)
{
	struct named *srv = server_entry(rc, c->server_id);
	struct render_ctx ctx = {
	    .pf = rc->pf,
	    .project_alias = project_alias(rc, c->project_id),
	    .server_name = srv ? srv->name : NULL,
	    .server = srv ? srv->json : NULL,
	    .proxy_domains = proxy_domains,
	};
	json_t *o = render_container_new(&ctx, c);
	int64_t snaps = 0;
	char *last = NULL;
	struct error err = {0};
	if (store_snapshot_summary(rc->pf->store, c->id, &snaps, &last, &err) == 0) {
		json_object_set_new(o, "snapshot_count", json_integer(snaps));
		json_object_set_new(o, "last_used_snapshot", last ? json_string(last) : json_null());
	}
	free(last);
	add_proxy_fields(rc->pf, o, c, proxy_domains, proxy_permissions);
	return o;
}

/* ------------------------------------------------------------ runtime info */

int containers_runtime_param(const char *v, unsigned *mask, struct error *err)
{
	static const char *const keys[] = {"displays", "services", "network_services", "terminals",
					   "processes"};
	*mask = 0;
	if (!v || strcmp(v, "false") == 0)
		return 0;
	if (strcmp(v, "true") == 0) {
		*mask = RTI_WANTED | RTI_ALL;
		return 0;
	}
	json_t *sel = strlen(v) <= RUNTIME_PARAM_MAX ? json_loads(v, 0, NULL) : NULL;
	int rc = 0;
	if (!json_is_object(sel)) {
		rc = err_set(err, E_VALIDATION,
			     "runtime must be true, false or a JSON object such as "
			     "{\"displays\":true}");
		goto out;
	}
	*mask = RTI_WANTED | (json_object_size(sel) ? 0 : RTI_ALL);
	const char *k;
	json_t *b;
	json_object_foreach(sel, k, b)
	{
		size_t i = 0;
		while (i < ARRAY_SIZE(keys) && strcmp(keys[i], k) != 0)
			i++;
		if (i == ARRAY_SIZE(keys) || !json_is_boolean(b)) {
			rc = err_set(err, E_VALIDATION,
				     "runtime selector: %.64s is not one of displays, services, "
				     "network_services, terminals, processes with a boolean value",
				     k);
			goto out;
		}
		if (json_is_true(b))
			*mask |= 1u << i;
	}
out:
	json_decref(sel);
	return rc;
}

static json_t *network_services(const struct rt_runtime_info *info)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < info->sock_count; i++) {
		const struct rt_socket *s = &info->socks[i];
		json_array_append_new(arr,
				      json_pack("{s:s, s:i, s:s, s:o, s:n, s:s, s:n, s:n}",
						"protocol", s->proto, "port", s->port, "ip", s->ip,
						"pid", s->pid ? json_integer(s->pid) : json_null(),
						"user", "program", s->program, "path", "args"));
	}
	return arr;
}

static json_t *processes(const struct rt_runtime_info *info)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < info->proc_count && i < RUNTIME_PROCS_MAX; i++) {
		const struct rt_process *p = &info->procs[i];
		json_array_append_new(arr, json_pack("{s:i, s:s, s:s}", "pid", p->pid, "name",
						     p->comm, "cmdline", p->cmdline));
	}
	return arr;
}

/* Everything ?runtime can select, read from procfs and, for terminals, from
 * the container's Kit agent; NULL when the container is not up. Displays
 * and services (systemd units) are not provided: empty lists. */
static json_t *runtime_info_read(struct platform *pf, const struct container *c)
{
	struct rt_runtime_info info = {0};
	struct error err = {0};
	if (rt_runtime_info(pf->rt, c->id, &info, &err) < 0)
		return NULL;
	json_t *o = json_pack("{s:[], s:[], s:o, s:o, s:o}", "displays", "services",
			      "network_services", network_services(&info), "terminals",
			      c->hoody_kit ? kit_terminals_new(pf, c->id) : json_array(), "processes",
			      processes(&info));
	rt_runtime_info_free(&info);
	return o;
}

/* runtime_info of a running container, narrowed to the selector; one
 * reading serves every request for RUNTIME_CACHE_TTL_MS (the seeds). */
static json_t *runtime_info_new(struct platform *pf, const struct container *c, unsigned mask)
{
	static const char *const keys[] = {"displays", "services", "network_services",
					   "terminals", "processes"};
	if (!status_in(c->status, "running|paused"))
		return json_null();
	json_t *full = runtime_cache_get(c->id);
	if (!full) {
		if (!(full = runtime_info_read(pf, c)))
			return json_null();
		runtime_cache_put(c->id, full);
	}
	json_t *o = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (mask & (1u << i))
			json_object_set(o, keys[i], json_object_get(full, keys[i]));
	json_decref(full);
	return o;
}

/* ------------------------------------------------------------ get and list */

int containers_get(struct platform *pf, const struct principal *who, const char *id,
		   const struct container_get_opts *o, json_t **data_new, struct error *err)
{
	struct container c = {0};
	unsigned mask = 0;
	if (containers_runtime_param(o->runtime, &mask, err) < 0 ||
	    (o->include_proxy_permissions &&
	     principal_require(who, "resources.proxy_aliases", err) < 0) ||
	    containers_find(pf, who, id, "containers.read", &c, err) < 0)
		return -1;
	struct render_cache rc = {.pf = pf, .user_id = who->user_id};
	json_t *data = render_cached(&rc, &c, o->include_proxy_domains, o->include_proxy_permissions);
	if (mask)
		json_object_set_new(data, "runtime_info", runtime_info_new(pf, &c, mask));
	render_cache_clear(&rc);
	container_clear(&c);
	*data_new = data;
	return 0;
}

/* A token restricted to exactly one realm lists that realm: exact pages.
 * Several realms are filtered after the query (see docs/CONTAINERS.md). */
static void narrow_realm(const struct principal *who, struct list_query *q)
{
	if (!q->realm_id && who->via_token && json_array_size(who->token_realm_ids) == 1)
		q->realm_id = json_string_value(json_array_get(who->token_realm_ids, 0));
}

static json_t *pagination(int64_t total, int64_t page, int64_t limit)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "total", (json_int_t)total, "page",
			 (json_int_t)page, "limit", (json_int_t)limit, "totalPages",
			 (json_int_t)(limit > 0 ? (total + limit - 1) / limit : 0));
}

int containers_list(struct platform *pf, const struct principal *who, const char *project_id,
		    const struct container_list_opts *o, json_t **data_new, struct error *err)
{
	unsigned mask = 0;
	struct project p = {0};
	if (principal_require(who, "containers.read", err) < 0 ||
	    (o->include_proxy_permissions &&
	     principal_require(who, "resources.proxy_aliases", err) < 0) ||
	    containers_runtime_param(o->runtime, &mask, err) < 0)
		return -1;
	if (project_id && projects_get_visible(pf, who, project_id, &p, err) < 0)
		return -1;
	project_clear(&p);
	struct container_query q = {
	    .base = o->q,
	    .project_id = project_id,
	    .include_prespawn = o->include_prespawn,
	    .include_expired = o->include_expired,
	    .include_deleting = o->include_deleting,
	};
	q.base.user_id = who->user_id;
	narrow_realm(who, &q.base);
	struct container *rows = NULL;
	size_t n = 0;
	int64_t total = 0;
	if (store_container_list(pf->store, &q, &rows, &n, &total, err) < 0)
		return -1;
	struct render_cache rc = {.pf = pf, .user_id = who->user_id};
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		if (!principal_sees_realms(who, rows[i].realm_ids)) {
			total--;
			continue;
		}
		json_t *obj = render_cached(&rc, &rows[i], o->include_proxy_domains,
					    o->include_proxy_permissions);
		if (mask)
			json_object_set_new(obj, "runtime_info",
					    runtime_info_new(pf, &rows[i], mask));
		json_array_append_new(arr, obj);
	}
	render_cache_clear(&rc);
	container_list_free(rows, n);
	*data_new = json_pack("{s:o, s:o}", "containers", arr, "pagination",
			      pagination(total, q.base.page, q.base.limit));
	return 0;
}

/* ------------------------------------------------------------ create */

static bool realm_restricted(const struct principal *who)
{
	return who->via_token && json_array_size(who->token_realm_ids) > 0;
}

/* Realm membership of a new container (seeds: "The scoped realm is merged
 * into container realm_ids. Realm-restricted auth tokens are forced to the
 * active scoped realm only."). Off a realm host, a restricted token may only
 * name its own realms and by default gets those it shares with the project. */
static int creation_realms(const struct principal *who, const struct project *p, json_t *realms,
			   struct error *err)
{
	if (who->scoped_realm[0]) {
		if (realm_restricted(who))
			json_array_clear(realms);
		realm_ids_add(realms, who->scoped_realm);
		return 0;
	}
	if (!realm_restricted(who))
		return 0;
	size_t i;
	json_t *it;
	json_array_foreach(
	    realms, i, it) if (!realm_ids_has(who->token_realm_ids,
					      json_string_value(
						  it))) return err_set(err, E_FORBIDDEN,
								       "realm_ids: this auth token "
								       "may not use realm %s",
								       json_string_value(it));
	if (json_array_size(realms))
		return 0;
	json_t *prealms = realm_ids_parse(p->realm_ids);
	json_array_foreach(prealms, i,
			   it) if (realm_ids_has(who->token_realm_ids, json_string_value(it)))
	    realm_ids_add(realms, json_string_value(it));
	json_decref(prealms);
	return 0;
}

static void list_images(struct platform *pf, char *buf, size_t len)
{
	struct rt_image *imgs = NULL;
	size_t n = 0;
	struct error err = {0};
	buf[0] = '\0';
	if (rt_image_list(pf->rt, &imgs, &n, &err) < 0)
		return;
	for (size_t i = 0; i < n && i < IMAGE_LIST_MAX; i++) {
		size_t used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s", i ? ", " : "", imgs[i].name);
	}
	free(imgs);
}

static int resolve_image(struct platform *pf, const struct container_input *in, char *out,
			 size_t len, struct error *err)
{
	const char *img = in->image ? in->image : pf->cfg.default_image;
	if (rt_image_normalize(img, out, len, err) < 0) {
		err->code = E_VALIDATION;
		return err_wrap(err, "container_image");
	}
	if (rt_image_exists(pf->rt, out))
		return 0;
	char avail[512];
	list_images(pf, avail, sizeof(avail));
	return err_set(err, E_VALIDATION,
		       "container_image \"%s\" is not available on this server (available: %s)",
		       out, avail[0] ? avail : "none");
}

/* server_id, or the only server when omitted. */
static int resolve_server(struct platform *pf, const struct container_input *in, struct server *out,
			  struct error *err)
{
	if (in->has_server_id) {
		if (store_server_get(pf->store, in->server_id, out, err) < 0)
			return err->code == E_NOT_FOUND
				   ? err_set(err, E_NOT_FOUND, "Server not found")
				   : -1;
		return 0;
	}
	struct server *all = NULL;
	size_t n = 0;
	if (store_server_list(pf->store, &all, &n, err) < 0)
		return -1;
	int rc = 0;
	if (n == 1) {
		*out = all[0];
		memset(&all[0], 0, sizeof(all[0]));
	} else {
		rc = err_set(err, E_VALIDATION, "server_id is required");
	}
	for (size_t i = 0; i < n; i++)
		server_clear(&all[i]);
	free(all);
	return rc;
}

struct tx_create {
	struct platform *pf;
	const char *user_id;
	const struct project *project;
	const struct server *server;
	struct container *c;
	bool random_name;
};

static int64_t limit_or(int64_t explicit_limit, int64_t dflt)
{
	return explicit_limit >= 0 ? explicit_limit : dflt;
}

typedef int (*count_fn)(struct store *st, const char *id, int64_t *out, struct error *err);

/* code when id already has max (>= 0) live containers. */
static int check_cap(struct store *st, count_fn count, const char *id, int64_t max,
		     enum err_code code, const char *what, struct error *err)
{
	int64_t n = 0;
	if (max < 0)
		return 0;
	if (count(st, id, &n, err) < 0)
		return -1;
	if (n < max)
		return 0;
	return err_set(err, code, "%s (limit %lld).", what, (long long)max);
}

static int check_limits(struct store *st, const struct tx_create *x, struct error *err)
{
	struct user u = {0};
	/* The configured default caps this host when its row sets none. */
	bool self = strcmp(x->server->id, x->pf->server_id) == 0;
	int64_t server_max =
	    limit_or(x->server->max_containers, self ? x->pf->cfg.server_max_containers : -1);
	if (check_cap(st, store_container_count_project, x->project->id, x->project->max_containers,
		      E_PROJECT_LIMIT, "This project has reached its container limit", err) < 0 ||
	    check_cap(st, store_container_count_server, x->server->id, server_max, E_SERVER_LIMIT,
		      "This server has reached its container limit", err) < 0 ||
	    store_user_get(st, x->user_id, &u, err) < 0)
		return -1;
	int64_t user_max = limit_or(u.max_containers, x->pf->cfg.user_max_containers);
	user_clear(&u);
	return check_cap(st, store_container_count_user, x->user_id, user_max, E_QUOTA,
			 "Quota exceeded: this account has reached its container quota", err);
}

/* Limits, uniqueness and the first status log in one write transaction, so
 * concurrent creates cannot overshoot a limit. */
static int create_tx(struct store *st, void *arg, struct error *err)
{
	struct tx_create *x = arg;
	if (check_limits(st, x, err) < 0)
		return -1;
	for (int attempt = 0;; attempt++) {
		if (store_container_insert(st, x->c, err) == 0)
			break;
		if (err->code != E_NAME_IN_USE || !x->random_name || attempt >= NAME_RETRIES)
			return -1;
		char name[CONTAINER_NAME_MAX + 1];
		crules_random_name(name);
		free(x->c->name);
		x->c->name = xstrdup(name);
	}
	return log_transition(st, x->c->id, NULL, x->c->status, "user", NULL, err);
}

static void fill_container(struct platform *pf, const struct principal *who,
			   const struct project *p, const struct server *s,
			   const struct container_input *in, const char *image, struct container *c)
{
	id_new(c->id);
	snprintf(c->project_id, sizeof(c->project_id), "%s", p->id);
	snprintf(c->user_id, sizeof(c->user_id), "%s", who->user_id);
	snprintf(c->server_id, sizeof(c->server_id), "%s", s->id);
	c->name = xstrdup(in->name);
	c->color = xstrdup(in->color);
	c->container_image = xstrdup(image);
	c->ai = in->ai;
	c->hoody_kit = in->hoody_kit;
	c->dev_kit = in->dev_kit;
	c->autostart = in->autostart;
	c->ramdisk = in->ramdisk;
	c->status = xstrdup("creating");
	c->desired = xstrdup("running");
	c->environment_vars = json_dumps(in->env, JSON_COMPACT);
	c->ssh_public_key = in->ssh_key ? xstrdup(in->ssh_key) : NULL;
	c->comment = in->comment ? xstrdup(in->comment) : NULL;
	c->realm_ids = realm_ids_dump_new(in->realm_ids);
	c->created_at = c->updated_at = now_ms();
}

/* Setting an SSH key with an auth token needs resources.ssh_keys (reference §10). */
static int check_ssh_permission(const struct principal *who, const struct container_input *in,
				struct error *err)
{
	if (in->has_ssh_key && in->ssh_key)
		return principal_require(who, "resources.ssh_keys", err);
	return 0;
}

/* ------------------------------------------------------------ prespawn */

static void set_str(char **dst, const char *src);
static bool push_env(struct platform *pf, struct container *row);

/* Gives the pool member m the user's container x->c: owner, project, name,
 * color, flags, environment, key, comment and realms. */
static void reown(struct container *m, const struct container *u)
{
	memcpy(m->project_id, u->project_id, sizeof(m->project_id));
	memcpy(m->user_id, u->user_id, sizeof(m->user_id));
	set_str(&m->name, u->name);
	set_str(&m->color, u->color);
	m->ai = u->ai;
	m->autostart = u->autostart;
	set_str(&m->environment_vars, u->environment_vars);
	m->env_revision = strcmp(u->environment_vars, "{}") != 0 ? m->env_revision + 1 : 0;
	set_str(&m->ssh_public_key, u->ssh_public_key);
	set_str(&m->comment, u->comment);
	set_str(&m->realm_ids, u->realm_ids);
	set_str(&m->desired, "running");
	set_str(&m->pool_key, NULL);
	m->prespawn = false;
	m->created_at = m->updated_at = now_ms();
}

struct tx_claim {
	struct tx_create *x;
	const char *member_id;
	struct container m;
};

/* The claim as one write: limits, the member still ready, the re-own. */
static int claim_tx(struct store *st, void *arg, struct error *err)
{
	struct tx_claim *t = arg;
	if (check_limits(st, t->x, err) < 0 ||
	    store_container_get(st, t->member_id, &t->m, err) < 0)
		return -1;
	if (!t->m.prespawn || strcmp(t->m.status, "running") != 0)
		return err_set(err, E_CONFLICT, "pool member taken");
	reown(&t->m, t->x->c);
	for (int attempt = 0;; attempt++) {
		if (store_container_update(st, &t->m, err) == 0)
			break;
		if (err->code != E_NAME_IN_USE || !t->x->random_name || attempt >= NAME_RETRIES)
			return -1;
		char name[CONTAINER_NAME_MAX + 1];
		crules_random_name(name);
		set_str(&t->m.name, name);
	}
	json_t *meta = json_pack("{s:b}", "prespawn", true);
	int rc = log_transition(st, t->m.id, NULL, "running", "user", meta, err);
	json_decref(meta);
	return rc;
}

/* After the claim committed: the container answers to its new name and
 * has the user's environment in /etc/environment. */
static void claimed(struct platform *pf, struct container *m)
{
	struct error err = {0};
	if (rt_set_hostname(pf->rt, m->id, m->name, &err) < 0)
		log_warn("container %s: hostname after claim: %s", m->id, err.msg);
	if (rt_set_net_group(pf->rt, m->id, m->project_id, &err) < 0)
		log_warn("container %s: network group after claim: %s", m->id, err.msg);
	if (m->env_revision)
		push_env(pf, m);
	json_t *ev = json_pack("{s:n, s:s, s:s, s:b}", "from_status", "to_status", "running",
			       "triggered_by", "user", "prespawn", true);
	events_container(pf, m, "container.running", ev);
	json_decref(ev);
}

/* 1: x->c is now a claimed, running pool member; 0: no member was ready
 * (create normally); -1: refused (limits, name). */
static int claim(struct platform *pf, struct tx_create *x, const char *key, struct error *err)
{
	struct container pick = {0};
	struct error e = {0};
	if (store_container_pool_pick(pf->store, key, &pick, &e) < 0) {
		container_clear(&pick);
		return 0;
	}
	struct tx_claim t = {.x = x, .member_id = pick.id};
	/* A ready member's lock is held at most by the end of its own create
	 * job or by a trim that deletes it (then claim_tx refuses it): short. */
	oplock_wait(pf->locks, pick.id, "claim");
	int rc = store_tx(pf->store, claim_tx, &t, err) == 0 ? 1 : -1;
	if (rc == 1)
		claimed(pf, &t.m);
	oplock_release(pf->locks, pick.id);
	/* Someone else took it first: a normal create. */
	if (rc < 0 && err->code == E_CONFLICT) {
		err_clear(err);
		rc = 0;
	}
	if (rc == 1) {
		container_clear(x->c);
		*x->c = t.m;
		memset(&t.m, 0, sizeof(t.m));
		prespawn_kick(pf);
	}
	container_clear(&t.m);
	container_clear(&pick);
	return rc;
}

static int pool_insert_tx(struct store *st, void *arg, struct error *err)
{
	struct container *c = arg;
	if (store_container_insert(st, c, err) < 0)
		return -1;
	return log_transition(st, c->id, NULL, "creating", "system", NULL, err);
}

int containers_pool_member_new(struct platform *pf, const char *image, bool hoody_kit,
			       bool dev_kit, const char *pool_key, struct error *err)
{
	struct container c = {0};
	char color[COLOR_LEN];
	id_new(c.id);
	snprintf(c.server_id, sizeof(c.server_id), "%s", pf->server_id);
	c.name = xasprintf("prespawn-%s", c.id + 12);
	color_random(color);
	c.color = xstrdup(color);
	c.container_image = xstrdup(image);
	c.hoody_kit = hoody_kit;
	c.dev_kit = dev_kit;
	c.autostart = c.ramdisk = c.prespawn = true;
	c.pool_key = xstrdup(pool_key);
	c.status = xstrdup("creating");
	c.desired = xstrdup("running");
	c.environment_vars = xstrdup("{}");
	c.realm_ids = xstrdup("[]");
	c.created_at = c.updated_at = now_ms();
	int rc = store_tx(pf->store, pool_insert_tx, &c, err);
	if (rc == 0)
		submit_job(pf, JOB_CREATE, c.id, 0);
	container_clear(&c);
	return rc;
}

void containers_pool_member_remove(struct platform *pf, const char *id)
{
	struct container_transition t = {.from = "creating|running|stopped|failed",
					 .to = "deleting",
					 .triggered_by = "system"};
	struct error err = {0};
	if (containers_transition(pf, id, &t, NULL, &err) == 0)
		submit_job(pf, JOB_DELETE, id, 0);
}

int containers_create(struct platform *pf, const struct principal *who, const char *project_id,
		      const json_t *body, json_t **data_new, struct error *err)
{
	return containers_create_ex(pf, who, project_id, body, NULL, data_new, err);
}

int containers_create_ex(struct platform *pf, const struct principal *who, const char *project_id,
			 const json_t *body, const struct copy_source *src, json_t **data_new,
			 struct error *err)
{
	struct container_input in = {0};
	struct project p = {0};
	struct server s = {0};
	struct container c = {0};
	char image[128];
	int rc = -1;
	if (principal_require(who, "containers.create", err) < 0 ||
	    crules_parse_create(body, &in, err) < 0 || check_ssh_permission(who, &in, err) < 0)
		goto out;
	if (projects_get_visible(pf, who, project_id, &p, err) < 0) {
		if (err->code == E_NOT_FOUND)
			err_set(err, E_NOT_FOUND, "Project not found");
		goto out;
	}
	if (creation_realms(who, &p, in.realm_ids, err) < 0 ||
	    resolve_image(pf, &in, image, sizeof(image), err) < 0 ||
	    resolve_server(pf, &in, &s, err) < 0)
		goto out;
	fill_container(pf, who, &p, &s, &in, image, &c);
	if (src) {
		set_str(&c.status, "copying");
		set_str(&c.source_container_id, src->source_id);
		in.bypass_prespawn = true;
	}
	struct tx_create x = {.pf = pf,
			      .user_id = who->user_id,
			      .project = &p,
			      .server = &s,
			      .c = &c,
			      .random_name = in.random_name};
	char key[PRESPAWN_KEY_MAX];
	int got = 0;
	if (!in.bypass_prespawn && in.ramdisk && strcmp(s.id, pf->server_id) == 0 &&
	    prespawn_pool_for(pf, image, in.hoody_kit, in.dev_kit, key) &&
	    (got = claim(pf, &x, key, err)) < 0)
		goto out;
	if (got == 1) {
		log_info("container %s (%s): claimed from pool in project %s", c.id, c.name, p.id);
		struct render_cache rcache = {.pf = pf, .user_id = who->user_id};
		*data_new = render_cached(&rcache, &c, false, false);
		render_cache_clear(&rcache);
		rc = 0;
		goto out;
	}
	if (store_tx(pf->store, create_tx, &x, err) < 0)
		goto out;
	log_info("container %s (%s): %s in project %s", c.id, c.name, c.status, p.id);
	char type[32];
	snprintf(type, sizeof(type), "container.%s", c.status);
	json_t *ev = json_pack("{s:n, s:s, s:s, s:s, s:o}", "from_status", "to_status", c.status,
			       "triggered_by", "user", "container_image", c.container_image,
			       "source_container_id",
			       src ? json_string(src->source_id) : json_null());
	events_container(pf, &c, type, ev);
	json_decref(ev);
	struct render_cache rcache = {.pf = pf, .user_id = who->user_id};
	*data_new = render_cached(&rcache, &c, false, false);
	render_cache_clear(&rcache);
	if (src)
		submit_job_snap(pf, JOB_COPY, c.id, 0, src->snapshot);
	else
		submit_job(pf, JOB_CREATE, c.id, 0);
	rc = 0;
out:
	container_input_clear(&in);
	project_clear(&p);
	server_clear(&s);
	container_clear(&c);
	return rc;
}

/* ------------------------------------------------------------ update */

struct tx_update {
	const char *id;
	const struct container_input *in;
	struct container row;
	bool env_changed;
};

static void set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? xstrdup(src) : NULL;
}

static bool env_differs(const char *old_text, const json_t *new_env)
{
	json_t *old = old_text ? json_loads(old_text, 0, NULL) : NULL;
	bool differs = !json_equal(old ? old : json_object(), (json_t *)new_env);
	json_decref(old);
	return differs;
}

static void apply_input(struct container *c, const struct container_input *in, bool *env_changed)
{
	if (in->has_name)
		set_str(&c->name, in->name);
	if (in->has_color)
		set_str(&c->color, in->color);
	if (in->has_ai)
		c->ai = in->ai;
	if (in->has_autostart)
		c->autostart = in->autostart;
	if (in->has_ramdisk)
		c->ramdisk = in->ramdisk;
	if (in->has_env && env_differs(c->environment_vars, in->env)) {
		free(c->environment_vars);
		c->environment_vars = json_dumps(in->env, JSON_COMPACT);
		c->env_revision++;
		*env_changed = true;
	}
	/* Re-sending the container's own key is a no-op. */
	if (in->has_ssh_key &&
	    !(in->ssh_key && c->ssh_public_key && strcmp(in->ssh_key, c->ssh_public_key) == 0))
		set_str(&c->ssh_public_key, in->ssh_key);
	if (in->has_comment)
		set_str(&c->comment, in->comment);
	if (in->has_realm_ids) {
		free(c->realm_ids);
		c->realm_ids = realm_ids_dump_new(in->realm_ids);
	}
}

/* The row of id inside a write transaction, if a user may still change it. */
static int load_changeable(struct store *st, const char *id, const char *what,
			   struct container *row, struct error *err)
{
	if (store_container_get(st, id, row, err) < 0)
		return -1;
	if (row->server_expired)
		return refuse_expired(err);
	if (status_in(row->status, "deleting|deleted"))
		return err_set(err, E_OP_IN_PROGRESS,
			       "Cannot perform %s operation. Container is being deleted.", what);
	return 0;
}

static int update_tx(struct store *st, void *arg, struct error *err)
{
	struct tx_update *x = arg;
	if (load_changeable(st, x->id, "update", &x->row, err) < 0)
		return -1;
	apply_input(&x->row, x->in, &x->env_changed);
	x->row.updated_at = now_ms();
	if (x->in->has_ramdisk_scope &&
	    limits_ramdisk_scope_set(st, x->id, x->in->ramdisk_shared, err) < 0)
		return -1;
	return store_container_update(st, &x->row, err);
}

/* A running container sees new values in /etc/environment at once; the
 * process environment follows at the next start. Caller holds the op lock. */
static bool push_env(struct platform *pf, struct container *row)
{
	struct error err = {0};
	if (!status_in(row->status, "running|paused"))
		return false;
	if (write_etc_environment(pf, row, &err) < 0 ||
	    containers_env_applied(pf, row->id, row->env_revision, &err) < 0) {
		log_warn("container %s: environment not pushed: %s", row->id, err.msg);
		return false;
	}
	row->env_applied_revision = row->env_revision;
	return true;
}

static bool str_changed(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* container.updated with the changed fields, plus the specific events of
 * the reference for a rename, autostart, the environment and the SSH key. */
static void update_events(struct platform *pf, const struct container *old,
			  const struct container *now, bool env_changed)
{
	json_t *fields = json_array();
	if (str_changed(old->name, now->name)) {
		json_array_append_new(fields, json_string("name"));
		json_t *p = json_pack("{s:s, s:s}", "old_name", old->name, "name", now->name);
		events_container(pf, now, "container.renamed", p);
		json_decref(p);
	}
	if (old->autostart != now->autostart)
		events_container(pf, now,
				 now->autostart ? "container.autostart_enabled"
						: "container.autostart_disabled",
				 NULL);
	if (env_changed) {
		json_array_append_new(fields, json_string("environment_vars"));
		events_container(pf, now, "container.env.updated", NULL);
	}
	if (str_changed(old->ssh_public_key, now->ssh_public_key))
		events_container(pf, now,
				 now->ssh_public_key ? "container.ssh_key.added"
						     : "container.ssh_key.removed",
				 NULL);
	/* what the container may use: the /ramdisk today, limits when they change */
	if (old->ramdisk != now->ramdisk) {
		json_array_append_new(fields, json_string("ramdisk"));
		json_t *p = json_pack("{s:[s], s:b}", "resources", "ramdisk", "ramdisk", now->ramdisk);
		events_container(pf, now, "container.resource_updated", p);
		json_decref(p);
	}
	if (str_changed(old->color, now->color))
		json_array_append_new(fields, json_string("color"));
	if (str_changed(old->comment, now->comment))
		json_array_append_new(fields, json_string("comment"));
	json_t *p = json_pack("{s:o}", "fields", fields);
	events_container(pf, now, "container.updated", p);
	json_decref(p);
}

static int check_update_rights(const struct principal *who, const struct container_input *in,
			       struct error *err)
{
	if (in->has_realm_ids && realm_restricted(who))
		return err_set(err, E_FORBIDDEN,
			       "realm_ids can only be changed by tokens without a realm "
			       "restriction");
	return check_ssh_permission(who, in, err);
}

int containers_update(struct platform *pf, const struct principal *who, const char *id,
		      const json_t *body, json_t **data_new, struct error *err)
{
	struct container_input in = {0};
	struct container c = {0};
	struct tx_update x = {.id = id, .in = &in};
	int rc = -1;
	if (containers_find_writable(pf, who, id, "containers.update", &c, err) < 0)
		goto out;
	if (crules_parse_update(body, &in, err) < 0 || check_update_rights(who, &in, err) < 0 ||
	    oplock_try(pf->locks, id, "update", err) < 0)
		goto out;
	rc = store_tx(pf->store, update_tx, &x, err);
	if (rc == 0 && x.env_changed)
		push_env(pf, &x.row);
	oplock_release(pf->locks, id);
	if (rc < 0)
		goto out;
	update_events(pf, &c, &x.row, x.env_changed);
	struct render_cache rcache = {.pf = pf, .user_id = who->user_id};
	*data_new = render_cached(&rcache, &x.row, false, false);
	render_cache_clear(&rcache);
out:
	container_input_clear(&in);
	container_clear(&c);
	container_clear(&x.row);
	return rc;
}

struct tx_env_edit {
	const char *id;
	env_edit_fn edit;
	void *arg;
	struct container row;
	bool changed;
};

static int env_edit_tx(struct store *st, void *arg, struct error *err)
{
	struct tx_env_edit *x = arg;
	if (load_changeable(st, x->id, "env", &x->row, err) < 0)
		return -1;
	json_t *env = x->row.environment_vars ? json_loads(x->row.environment_vars, 0, NULL) : NULL;
	if (!json_is_object(env)) {
		json_decref(env);
		env = json_object();
	}
	json_t *checked = NULL;
	int rc = x->edit(env, x->arg, err);
	/* The edited set obeys the same rules as environment_vars on update. */
	if (rc == 0)
		rc = crules_env_check(env, &checked, err);
	if (rc == 0 && env_differs(x->row.environment_vars, checked)) {
		free(x->row.environment_vars);
		x->row.environment_vars = json_dumps(checked, JSON_COMPACT);
		x->row.env_revision++;
		x->row.updated_at = now_ms();
		x->changed = true;
		rc = store_container_update(st, &x->row, err);
	}
	json_decref(checked);
	json_decref(env);
	return rc;
}

int containers_env_edit(struct platform *pf, const struct principal *who, const char *id,
			env_edit_fn edit, void *arg, struct container *row_out, bool *pushed,
			struct error *err)
{
	struct container c = {0};
	struct tx_env_edit x = {.id = id, .edit = edit, .arg = arg};
	*pushed = false;
	if (containers_find(pf, who, id, "containers.update", &c, err) < 0)
		return -1;
	container_clear(&c);
	if (oplock_try(pf->locks, id, "env", err) < 0)
		return -1;
	int rc = store_tx(pf->store, env_edit_tx, &x, err);
	if (rc == 0 && x.changed)
		*pushed = push_env(pf, &x.row);
	oplock_release(pf->locks, id);
	if (rc == 0 && row_out) {
		*row_out = x.row;
		memset(&x.row, 0, sizeof(x.row));
	}
	container_clear(&x.row);
	return rc;
}

/* ------------------------------------------------------------ sync */

int containers_sync(struct platform *pf, const struct principal *who, const char *id,
		    json_t **data_new, struct error *err)
{
	struct container c = {0}, s = {0};
	char op_id[OP_ID_LEN + 1];
	int rc = -1;
	if (containers_find_writable(pf, who, id, "containers.update", &c, err) < 0)
		goto out;
	if (!c.source_container_id) {
		err_set(err, E_NOT_COPIED,
			"Container was not created from a copy, sync is not possible.");
		goto out;
	}
	/* the source is read: the same owner and realm check as any read */
	if (containers_find(pf, who, c.source_container_id, "containers.read", &s, err) < 0) {
		if (err->code == E_CONTAINER_NOT_FOUND || err->code == E_NOT_FOUND)
			err_set(err, E_SOURCE_NOT_FOUND, "Source container not found");
		goto out;
	}
	op_id_new(op_id);
	json_t *meta = json_pack("{s:s, s:s}", "operation", "sync", "operation_id", op_id);
	struct container_transition t = {.from = "running|stopped",
					 .to = "copying",
					 .triggered_by = "user",
					 .metadata = meta};
	if (oplock_try(pf->locks, id, "sync", err) == 0) {
		rc = containers_transition(pf, id, &t, NULL, err);
		oplock_release(pf->locks, id);
	}
	json_decref(meta);
	if (rc < 0)
		goto out;
	submit_job(pf, JOB_SYNC, id, 0);
	*data_new = json_pack("{s:s, s:s, s:s, s:s}", "container_id", id, "source_container_id",
			      c.source_container_id, "status", "copying", "operation_id", op_id);
out:
	container_clear(&s);
	container_clear(&c);
	return rc;
}

/* ------------------------------------------------------------ delete */

int containers_delete(struct platform *pf, const struct principal *who, const char *id,
		      struct error *err)
{
	struct container c = {0};
	int rc = containers_find_writable(pf, who, id, "containers.delete", &c, err);
	container_clear(&c);
	if (rc < 0)
		return -1;
	/* Delete wins over a create in progress: the create job sees "deleting"
	 * and stops; copies and prespawn claims must finish first. */
	struct container_transition t = {.from = "creating|running|paused|stopped|failed",
					 .to = "deleting",
					 .triggered_by = "user"};
	if (containers_transition(pf, id, &t, NULL, err) < 0)
		return -1;
	submit_job(pf, JOB_DELETE, id, 0);
	return 0;
}

static int delete_now(struct platform *pf, const struct container *c, struct error *err)
{
	struct container_transition t = {.to = "deleting", .triggered_by = "user"};
	if (containers_transition(pf, c->id, &t, NULL, err) < 0)
		return err->code == E_CONTAINER_NOT_FOUND ? 0 : -1;
	oplock_wait(pf->locks, c->id, "delete");
	int rc = remove_locked(pf, c->id, err);
	oplock_release(pf->locks, c->id);
	if (rc == 0)
		deleted_event(pf, c);
	return rc;
}

/* A project goes with all its containers, so a caller who cannot see one of
 * them (a token of other realms) may not delete it: the same realm check as
 * for one container. Refused before anything is deleted. */
static int project_all_visible(const struct principal *who, const char *project_id,
			       const struct container *rows, size_t n, struct error *err)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].project_id, project_id) == 0 &&
		    strcmp(rows[i].status, "deleted") != 0 &&
		    !principal_sees_realms(who, rows[i].realm_ids))
			return err_set(err, E_FORBIDDEN,
				       "This project holds containers outside the realms this "
				       "auth token may use; it cannot delete the project");
	return 0;
}

int containers_delete_for_project(struct platform *pf, const struct principal *who,
				  const char *project_id, json_t **deleted_new, struct error *err)
{
	struct container *rows = NULL;
	size_t n = 0;
	*deleted_new = NULL;
	if (store_container_list_all(pf->store, &rows, &n, err) < 0)
		return -1;
	if (project_all_visible(who, project_id, rows, n, err) < 0) {
		container_list_free(rows, n);
		return -1;
	}
	json_t *gone = json_array();
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (strcmp(rows[i].project_id, project_id) != 0)
			continue;
		rc = delete_now(pf, &rows[i], err);
		if (rc == 0)
			json_array_append_new(
			    gone, json_pack("{s:s, s:s}", "id", rows[i].id, "name", rows[i].name));
	}
	container_list_free(rows, n);
	if (rc < 0) {
		json_decref(gone);
		return err_wrap(err, "deleting the project's containers");
	}
	*deleted_new = gone;
	return 0;
}

int containers_set_kvm(struct platform *pf, const struct principal *who, const char *id,
		       const json_t *body, json_t **data_new, struct error *err)
{
	static const char *const allowed[] = {"kvm", "dev_kvm", "enabled", NULL};
	struct container c = {0};
	bool on = true, set = false;
	int a, b, e;
	if (fields_object(body, err) < 0 || fields_allowed(body, allowed, err) < 0 ||
	    (a = field_bool(body, "kvm", &on, err)) < 0 ||
	    (b = field_bool(body, "dev_kvm", &set, err)) < 0 ||
	    (e = field_bool(body, "enabled", &set, err)) < 0)
		return -1;
	if (b || e) {
		if (a && set != on)
			return err_set(err, E_VALIDATION, "kvm, dev_kvm and enabled must agree");
		on = set;
	}
	if (containers_find_writable(pf, who, id, "containers.features.kvm", &c, err) < 0)
		return -1;
	*data_new = json_pack("{s:s, s:s, s:b}", "container_id", c.id, "project_id", c.project_id,
			      "kvm", 0);
	container_clear(&c);
	if (!on)
		return 0;
	json_decref(*data_new);
	*data_new = NULL;
	return err_set(err, E_FORBIDDEN, "KVM is not available on this server");
}
