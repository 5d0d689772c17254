/* Container state: statuses, transitions with their status log and event,
 * the runtime spec of a container, and the one bookkeeping step after a
 * container started (jobs, operations and restore all go through it).
 * Decisions: docs/CONTAINERS.md. */
#include <stdlib.h>
#include <string.h>

#include "platform/platform_int.h"
#include "common/log.h"
#include "common/util.h"
#include "platform/containers_int.h"
#include "platform/events.h"
#include "platform/limits.h"
#include "platform/oplocks.h"
#include "platform/revoke.h"

/* ------------------------------------------------------------ statuses */

#define S(x) CS_SET(CS_##x)
#define NEW S(NONE)  /* from: a row that does not exist yet */
#define GONE S(NONE) /* to: the row is removed */

/* The legal transitions. docs/CONTAINERS.md "States" renders this table
 * (unit/test_transitions compares them); the first six are the user's
 * operations (docs/OPERATIONS.md). */
const struct container_move_def container_moves[MOVE_COUNT] = {
    [MOVE_START] = {"start", "user", S(STOPPED), S(RUNNING), S(RUNNING), CS_RUNNING, false},
    [MOVE_STOP] = {"stop", "user", CS_UP, S(STOPPED), S(STOPPED), CS_STOPPED, false},
    [MOVE_FORCE_STOP] = {"force-stop", "user", CS_UP, S(STOPPED), S(STOPPED), CS_STOPPED, false},
    [MOVE_RESTART] = {"restart", "user", S(RUNNING) | S(STOPPED), 0, S(RUNNING), CS_RUNNING, true},
    [MOVE_PAUSE] = {"pause", "user", S(RUNNING), S(PAUSED), S(PAUSED), CS_NONE, false},
    [MOVE_RESUME] = {"resume", "user", S(PAUSED), S(RUNNING), S(RUNNING), CS_NONE, false},
    [MOVE_CREATE] = {"create", "user", NEW, 0, S(CREATING), CS_RUNNING, false},
    [MOVE_COPY] = {"copy", "user", NEW, 0, S(COPYING), CS_RUNNING, false},
    /* a ready pool member becomes the user's: its log starts again */
    [MOVE_CLAIM] = {"claim", "user", S(RUNNING), 0, S(RUNNING), CS_RUNNING, false},
    [MOVE_SYNC] = {"sync", "user", S(RUNNING) | S(STOPPED), 0, S(COPYING), CS_NONE, false},
    /* wins over a create in progress; copies and claims finish first */
    [MOVE_DELETE] = {"delete", "user", S(CREATING) | CS_SETTLED | S(FAILED), 0, S(DELETING),
		     CS_NONE, false},
    /* waits for the container's operation, then removes it at once */
    [MOVE_PROJECT_DELETE] = {"project delete", "user", CS_ANY, 0, S(DELETING), CS_NONE, false},
    [MOVE_RESTORE_STOP] = {"restore: stop", "user", CS_UP, 0, S(STOPPED), CS_NONE, false},
    [MOVE_RESTORE_START] = {"restore: start", "user", S(STOPPED), 0, S(RUNNING), CS_NONE, false},
    [MOVE_CREATED] = {"create job", "system", S(CREATING) | S(COPYING), 0, S(RUNNING), CS_NONE,
		      false},
    [MOVE_CREATE_FAILED] = {"create job failed", "system", S(CREATING) | S(COPYING), 0, S(FAILED),
			    CS_NONE, false},
    [MOVE_SYNCED] = {"sync job", "system", S(COPYING), 0, S(RUNNING), CS_NONE, false},
    [MOVE_SYNC_FAILED] = {"sync job failed", "system", S(COPYING), 0, S(FAILED), CS_NONE, false},
    [MOVE_REMOVED] = {"delete job", "system", S(DELETING), 0, GONE, CS_NONE, false},
    [MOVE_DELETE_FAILED] = {"delete job failed", "system", S(DELETING), 0, S(FAILED), CS_NONE,
			    false},
    /* a container the host stopped while the user wanted it running */
    [MOVE_AUTOSTART] = {"autostart", "autostart", S(STOPPED), 0, S(RUNNING), CS_NONE, false},
    [MOVE_EXITED] = {"exit", "system", CS_UP, 0, S(STOPPED), CS_NONE, false},
    /* after a host call failed: what the host really has */
    [MOVE_HOST_TRUTH] = {"host failure", "system", CS_ANY, 0, CS_SETTLED | S(FAILED), CS_NONE,
			 false},
    [MOVE_RECOVER] = {"recovery", "system", CS_SETTLED, 0, CS_SETTLED | S(FAILED), CS_NONE, false},
    /* interrupted by a restart of hoodyd (and tombstones, which recovery
     * reads like any row) */
    [MOVE_RECOVER_INTERRUPTED] = {"recovery: interrupted", "system",
				  S(COPYING) | S(CLAIMING) | S(DELETED), 0, S(RUNNING) | S(FAILED),
				  CS_NONE, false},
    [MOVE_POOL_MEMBER] = {"pool member", "system", NEW, 0, S(CREATING), CS_RUNNING, false},
    [MOVE_POOL_TRIM] = {"pool trim", "system", S(CREATING) | S(RUNNING) | S(STOPPED) | S(FAILED), 0,
			S(DELETING), CS_NONE, false},
};

#undef S
#undef NEW
#undef GONE

enum err_code container_move_check(enum container_move m, enum container_status s)
{
	const struct container_move_def *d = &container_moves[m];
	if (s == CS_NONE && d->from == CS_SET(CS_NONE))
		return E_OK;
	if (container_status_in(s, d->noop))
		return E_NOOP_STATE;
	return container_status_in(s, d->from) ? E_OK : E_STATE_CONFLICT;
}

enum container_status container_move_to(enum container_move m)
{
	container_status_set to = container_moves[m].to;
	/* one bit: that status */
	if (to && (to & (to - 1)) == 0)
		return (enum container_status)__builtin_ctz(to);
	return CS_NONE;
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

int containers_log_transition(struct store *st, const char *id, enum container_status from,
			      enum container_status to, const char *by, const json_t *metadata,
			      struct error *err)
{
	int64_t prev, now = now_ms();
	if (last_transition_ms(st, id, &prev, err) < 0)
		return -1;
	_cleanup_free_ char *meta = metadata ? json_dumps(metadata, JSON_COMPACT) : NULL;
	struct status_log l = {
	    .from_status = from,
	    .to_status = to,
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

/* The status t leads to (the move's own, or the host's choice among them). */
static enum container_status transition_to(const struct container_transition *t)
{
	enum container_status to = t->to != CS_NONE ? t->to : container_move_to(t->move);
	HOODY_ASSERT(container_status_in(to, container_moves[t->move].to));
	return to;
}

static void apply_transition(struct container *c, const struct container_transition *t,
			     enum container_status to)
{
	const struct container_move_def *d = &container_moves[t->move];
	bool was_up = container_status_in(c->status, CS_UP);
	c->status = to;
	free(c->failure_reason);
	c->failure_reason = to == CS_FAILED && t->reason ? xstrdup(t->reason) : NULL;
	/* Kept when the container stops: stats show the last start. */
	if (to == CS_RUNNING && (!was_up || d->relog))
		c->started_at = now_ms();
	if (d->desired != CS_NONE)
		c->desired = d->desired;
}

/* container.<new status>, in the transition's transaction. */
static void transition_event(struct platform *pf, const struct container *c,
			     enum container_status from, const struct container_transition *t)
{
	char type[64];
	const char *to = container_status_name(c->status);
	snprintf(type, sizeof(type), "container.%s", to);
	json_t *p = json_pack("{s:s, s:s, s:s}", "from_status", container_status_name(from),
			      "to_status", to, "triggered_by", container_moves[t->move].by);
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
	const struct container_move_def *d = &container_moves[x->t->move];
	enum container_status to = transition_to(x->t);
	_cleanup_container_ struct container c = {0};
	if (store_container_get(st, x->id, &c, err) < 0)
		return -1;
	int rc = -1;
	enum container_status from = c.status;
	container_status_set legal = x->t->from ? x->t->from & d->from : d->from;
	if (!container_status_in(from, legal)) {
		err_set(err, E_STATE_CONFLICT,
			"Operation not allowed in the container's current state (%s)",
			container_status_name(from));
		goto out;
	}
	if (from != to || d->relog) {
		apply_transition(&c, x->t, to);
		if (store_container_update(st, &c, err) < 0 ||
		    containers_log_transition(st, x->id, from, to, d->by, x->t->metadata, err) < 0)
			goto out;
		transition_event(x->pf, &c, from, x->t);
	}
	rc = 0;
	if (x->out) {
		*x->out = c;
		memset(&c, 0, sizeof(c));
	}
out:
	return rc;
}

int containers_transition(struct platform *pf, const char *id, const struct container_transition *t,
			  struct container *out, struct error *err)
{
	struct tx_transition x = {.pf = pf, .id = id, .t = t, .out = out};
	if (store_tx(pf->store, transition_tx, &x, err) < 0)
		return -1;
	/* Its programs end, but a tunnel may not end with them: a CONNECT of
	 * its egress proxy leaves from its namespace, which a stop keeps. */
	if (container_status_in(transition_to(t), CS_SET(CS_STOPPED) | CS_SET(CS_FAILED) |
						      CS_SET(CS_DELETING) | CS_SET(CS_DELETED)))
		revoke_note(REVOKE_CONTAINER, id, true);
	return 0;
}

struct tx_note {
	struct platform *pf;
	const char *id, *type;
	json_t *meta;
};

static int note_tx(struct store *st, void *arg, struct error *err)
{
	struct tx_note *x = arg;
	_cleanup_container_ struct container c = {0};
	if (store_container_get(st, x->id, &c, err) < 0)
		return -1;
	int rc = containers_log_transition(st, x->id, c.status, c.status, "system", x->meta, err);
	if (rc == 0)
		events_container(x->pf, &c, x->type, x->meta);
	return rc;
}

int containers_note(struct platform *pf, const char *id, const char *type, json_t *meta,
		    struct error *err)
{
	struct tx_note x = {.pf = pf, .id = id, .type = type, .meta = meta};
	return store_tx(pf->store, note_tx, &x, err);
}

void containers_system_transition(struct platform *pf, const char *id,
				  const struct container_transition *t)
{
	struct error err = {0};
	const char *to = container_status_name(transition_to(t));
	if (containers_transition(pf, id, t, NULL, &err) < 0)
		log_info("container %s: not marked %s: %s", id, to, err.msg);
	else
		log_info("container %s: %s%s%s", id, to, t->reason ? ": " : "",
			 t->reason ? t->reason : "");
}

/* ------------------------------------------------------------ specs */

int container_spec_init(struct platform *pf, const struct container *c, struct container_spec *out,
			struct error *err)
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
	_cleanup_container_ struct container c = {0};
	if (store_container_get(st, x->id, &c, err) < 0)
		return -1;
	int rc = 0;
	if (c.env_applied_revision < x->rev && x->rev <= c.env_revision) {
		c.env_applied_revision = x->rev;
		rc = store_container_update(st, &c, err);
	}
	return rc;
}

int containers_env_applied(struct platform *pf, const char *id, int64_t rev, struct error *err)
{
	struct tx_env x = {.id = id, .rev = rev};
	return store_tx(pf->store, env_applied_tx, &x, err);
}

int containers_run_spec(struct platform *pf, const struct container *c, rt_spec_fn fn,
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
	int rc = pf->rto->set_env(pf->rt, c->id, s.env, s.spec.env_count, err);
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

int containers_settled(struct platform *pf, const struct container *c,
		       const struct container_transition *t, struct error *err)
{
	oplock_finishing(pf->locks, c->id);
	return containers_transition(pf, c->id, t, NULL, err);
}

int containers_started(struct platform *pf, const struct container *c,
		       const struct container_transition *t, struct error *err)
{
	containers_env_after_start(pf, c);
	return containers_settled(pf, c, t, err);
}

enum container_status containers_record_truth(struct platform *pf, const struct container *c,
					      const char *what, const struct error *why,
					      json_t *meta)
{
	struct error e = {0};
	enum rt_state st = RT_ABSENT;
	if (pf->rto->state(pf->rt, c->id, &st, &e) < 0) {
		log_warn("container %s: state after failed %s unknown: %s", c->id, what, e.msg);
		return CS_NONE;
	}
	enum container_status truth = container_host_status(st);
	if (truth == CS_NONE)
		truth = CS_FAILED;
	char reason[300];
	snprintf(reason, sizeof(reason), "%s failed: %.250s", what, why->msg);
	/* From whatever the row says now: a restore may have moved it already. */
	struct container_transition t = {
	    .move = MOVE_HOST_TRUTH, .to = truth, .reason = reason, .metadata = meta};
	if (containers_transition(pf, c->id, &t, NULL, &e) < 0)
		log_warn("container %s: state after failed %s not recorded: %s", c->id, what,
			 e.msg);
	return truth;
}

void containers_system_started(struct platform *pf, const struct container *c,
			       enum container_move m)
{
	struct container_transition t = {.move = m, .from = CS_SET(c->status)};
	struct error err = {0};
	if (containers_started(pf, c, &t, &err) < 0)
		log_info("container %s: not marked running: %s", c->id, err.msg);
	else
		log_info("container %s: running", c->id);
}

bool containers_push_env(struct platform *pf, struct container *row)
{
	struct error err = {0};
	if (!container_status_in(row->status, CS_UP))
		return false;
	if (write_etc_environment(pf, row, &err) < 0 ||
	    containers_env_applied(pf, row->id, row->env_revision, &err) < 0) {
		log_warn("container %s: environment not pushed: %s", row->id, err.msg);
		return false;
	}
	row->env_applied_revision = row->env_revision;
	return true;
}

void containers_set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? xstrdup(src) : NULL;
}

int containers_refuse_expired(struct error *err)
{
	return err_set(err, E_EXPIRED_READONLY,
		       "This container has expired with its server and is read-only");
}
