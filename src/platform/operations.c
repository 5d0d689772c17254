/* Container operations and status logs. Decisions: docs/OPERATIONS.md. */
#include "platform/platform_int.h"
#include "platform/operations.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "platform/containers_int.h"
#include "platform/events.h"
#include "platform/kit.h"
#include "platform/oplocks.h"
#include "platform/validate.h"

enum host_op { HOST_START, HOST_STOP, HOST_RESTART, HOST_PAUSE, HOST_RESUME };

struct op_def {
	const char *name;
	enum host_op host;
	bool force;	  /* stop without a grace period */
	const char *leaf; /* token permission */
	const char *from; /* statuses the operation acts on */
	const char *noop; /* statuses where it has nothing to do */
	const char *noop_msg;
	const char *to;
	const char *desired; /* what autostart should bring back, NULL = unchanged */
	const char *done_msg;
};

/* pause and resume need the stop and start leaves: the reference names only
 * start, stop and restart, and a pause is a kind of stop. */
static const struct op_def ops[] = {
    {"start", HOST_START, false, "containers.actions.start", "stopped", "running",
     "Container is already running", "running", "running", "Container started successfully"},
    {"stop", HOST_STOP, false, "containers.actions.stop", "running|paused", "stopped",
     "Container is already stopped", "stopped", "stopped", "Container stopped successfully"},
    {"force-stop", HOST_STOP, true, "containers.actions.stop", "running|paused", "stopped",
     "Container is already stopped", "stopped", "stopped", "Container force-stopped successfully"},
    {"restart", HOST_RESTART, false, "containers.actions.restart", "running|stopped", NULL, NULL,
     "running", "running", "Container restarted successfully"},
    {"pause", HOST_PAUSE, false, "containers.actions.stop", "running", "paused",
     "Container is already paused", "paused", NULL, "Container paused successfully"},
    {"resume", HOST_RESUME, false, "containers.actions.start", "paused", "running",
     "Container is not paused (it is running)", "running", NULL, "Container resumed successfully"},
};

static const struct op_def *op_find(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(ops); i++)
		if (strcmp(ops[i].name, name) == 0)
			return &ops[i];
	return NULL;
}

bool containers_operation_known(const char *name)
{
	return op_find(name) != NULL;
}

static json_t *op_data_new(const struct op_def *op, const struct container *c, bool error,
			   const char *message, const char *status, const char *op_id)
{
	return json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s}", "error", error, "operation",
			 op->name, "container_id", c->id, "project_id", c->project_id, "message",
			 message, "status", status, "operation_id", op_id);
}

/* Fails with code and message, and data describing the container. */
static int refuse(const struct op_def *op, const struct container *c, const char *status,
		  const char *op_id, json_t **data_new, struct error *err, enum err_code code,
		  const char *fmt, ...) __attribute__((format(printf, 8, 9)));
static int refuse(const struct op_def *op, const struct container *c, const char *status,
		  const char *op_id, json_t **data_new, struct error *err, enum err_code code,
		  const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(err, code, "%s", msg);
	*data_new = op_data_new(op, c, true, msg, status, op_id);
	return -1;
}

static int parse_timeout(const json_t *body, int *timeout_s, struct error *err)
{
	static const char *const allowed[] = {"timeout", NULL};
	int64_t t = 0;
	bool is_null = false;
	if (json_is_null(body))
		body = NULL;
	if (fields_object(body, err) < 0 || fields_allowed(body, allowed, err) < 0)
		return -1;
	int rc = field_int(body, "timeout", 1, OP_TIMEOUT_MAX_S, true, &t, &is_null, err);
	if (rc < 0)
		return -1;
	*timeout_s = rc == 1 && !is_null ? (int)t : 0;
	return 0;
}

/* The host side of the operation; the container's row is not touched. */
static int run_host(struct platform *pf, const struct op_def *op, const struct container *c,
		    int timeout_s, struct error *err)
{
	int grace = op->force ? 0 : (timeout_s ? timeout_s : OP_TIMEOUT_DEFAULT_S);
	struct container_spec s;
	int rc;
	switch (op->host) {
	case HOST_STOP:
		return pf->rto->stop(pf->rt, c->id, grace, err);
	case HOST_PAUSE:
		return pf->rto->pause(pf->rt, c->id, err);
	case HOST_RESUME:
		return pf->rto->resume(pf->rt, c->id, err);
	case HOST_START:
	case HOST_RESTART:
		break;
	}
	if (container_spec_init(pf, c, &s, err) < 0)
		return -1;
	rc = op->host == HOST_START ? pf->rto->start(pf->rt, &s.spec, err)
				    : pf->rto->restart(pf->rt, &s.spec, grace, err);
	container_spec_clear(&s);
	return rc;
}

/* Runs op on c, which the caller has locked and checked. */
static int operate_locked(struct platform *pf, const struct op_def *op, const struct container *c,
			  int timeout_s, const char *op_id, json_t **data_new, struct error *err)
{
	json_t *meta = json_pack("{s:s, s:s}", "operation", op->name, "operation_id", op_id);
	int rc = run_host(pf, op, c, timeout_s, err);
	if (rc < 0) {
		log_warn("container %s: %s failed: %s", c->id, op->name, err->msg);
		const char *status = containers_record_truth(pf, c, op->name, err, meta);
		if (!status)
			status = c->status;
		*data_new = op_data_new(op, c, true, err->msg, status, op_id);
		json_object_set_new(meta, "error", json_string(err->msg));
		json_object_set_new(meta, "status", json_string(status));
		events_container(pf, c, "container.operation.failed", meta);
		json_decref(meta);
		return -1;
	}
	struct container_transition t = {.from = c->status,
					 .to = op->to,
					 .triggered_by = "user",
					 .metadata = meta,
					 .desired = op->desired,
					 .always = op->host == HOST_RESTART};
	rc = op->host == HOST_START || op->host == HOST_RESTART
		 ? containers_started(pf, c, &t, err)
		 : containers_settled(pf, c, &t, err);
	if (rc == 0) {
		*data_new = op_data_new(op, c, false, op->done_msg, op->to, op_id);
		json_object_set_new(meta, "status", json_string(op->to));
		events_container(pf, c, "container.operation.completed", meta);
	}
	json_decref(meta);
	return rc;
}

int containers_operate(struct platform *pf, const struct principal *who, const char *id,
		       const char *operation, const json_t *body, json_t **data_new,
		       struct error *err)
{
	const struct op_def *op = op_find(operation);
	struct container c = {0};
	char op_id[OP_ID_LEN + 1];
	int timeout_s = 0, rc = -1;
	*data_new = NULL;
	if (!op)
		return err_set(err, E_VALIDATION,
			       "operation must be one of start, stop, force-stop, restart, pause, "
			       "resume");
	if (parse_timeout(body, &timeout_s, err) < 0)
		return -1;
	op_id_new(op_id);
	if (containers_find_writable(pf, who, id, op->leaf, &c, err) < 0)
		goto out;
	if (oplock_try(pf->locks, id, op->name, err) < 0) {
		rc =
		    refuse(op, &c, c.status, op_id, data_new, err, E_OP_IN_PROGRESS,
			   "Cannot perform %s operation. Container is currently being operated on.",
			   op->name);
		goto out;
	}
	/* Read again under the lock: the operation that held it may have moved it. */
	container_clear(&c);
	if (store_container_get(pf->store, id, &c, err) < 0)
		goto unlock;
	if (op->noop && container_status_in(c.status, op->noop))
		rc = refuse(op, &c, c.status, op_id, data_new, err, E_NOOP_STATE, "%s",
			    op->noop_msg);
	else if (!container_status_in(c.status, op->from))
		rc = refuse(op, &c, c.status, op_id, data_new, err, E_STATE_CONFLICT,
			    "Cannot %s a container that is %s", op->name, c.status);
	else
		rc = operate_locked(pf, op, &c, timeout_s, op_id, data_new, err);
unlock:
	oplock_release(pf->locks, id);
out:
	container_clear(&c);
	return rc;
}

/* ------------------------------------------------------------ status logs */

static json_t *log_json_new(const struct status_log *l)
{
	json_t *meta = l->metadata ? json_loads(l->metadata, 0, NULL) : NULL;
	return json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:s, s:o}", "id", l->id, "container_id",
			 l->container_id, "from_status",
			 l->from_status ? json_string(l->from_status) : json_null(), "to_status",
			 l->to_status ? l->to_status : "", "transition_time",
			 json_time_new(l->transition_time), "duration_ms",
			 l->duration_ms >= 0 ? json_integer(l->duration_ms) : json_null(),
			 "triggered_by", l->triggered_by ? l->triggered_by : "system", "metadata",
			 meta ? meta : json_null());
}

int containers_status_logs(struct platform *pf, const struct principal *who, const char *id,
			   const struct status_log_query *q, json_t **data_new, struct error *err)
{
	struct container c = {0};
	struct status_log *logs = NULL;
	size_t n = 0;
	int64_t total = 0;
	if (containers_find(pf, who, id, "containers.read", &c, err) < 0)
		return -1;
	if (c.hoody_kit)
		kit_events_ingest(pf, c.id);
	container_clear(&c);
	if (store_status_log_list(pf->store, id, q->sort_by, q->desc, q->page, q->limit, &logs, &n,
				  &total, err) < 0)
		return -1;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(arr, log_json_new(&logs[i]));
		status_log_clear(&logs[i]);
	}
	free(logs);
	*data_new = json_pack("{s:o, s:o}", "logs", arr, "pagination",
			      pagination_json_new(total, q->page, q->limit));
	return 0;
}
