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

/* An operation's statuses (from, no-op, to, desired) are its row of the
 * transition table, container_moves (containers_state.c). */
struct op_def {
	enum container_move move;
	enum host_op host;
	bool force;	  /* stop without a grace period */
	const char *leaf; /* token permission */
	const char *noop_msg;
	const char *done_msg;
};

/* pause and resume need the stop and start leaves: the reference names only
 * start, stop and restart, and a pause is a kind of stop. */
static const struct op_def ops[] = {
    {MOVE_START, HOST_START, false, "containers.actions.start", "Container is already running",
     "Container started successfully"},
    {MOVE_STOP, HOST_STOP, false, "containers.actions.stop", "Container is already stopped",
     "Container stopped successfully"},
    {MOVE_FORCE_STOP, HOST_STOP, true, "containers.actions.stop", "Container is already stopped",
     "Container force-stopped successfully"},
    {MOVE_RESTART, HOST_RESTART, false, "containers.actions.restart", NULL,
     "Container restarted successfully"},
    {MOVE_PAUSE, HOST_PAUSE, false, "containers.actions.stop", "Container is already paused",
     "Container paused successfully"},
    {MOVE_RESUME, HOST_RESUME, false, "containers.actions.start",
     "Container is not paused (it is running)", "Container resumed successfully"},
};

static const char *op_name(const struct op_def *op)
{
	return container_moves[op->move].name;
}

static const struct op_def *op_find(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(ops); i++)
		if (strcmp(op_name(&ops[i]), name) == 0)
			return &ops[i];
	return NULL;
}

bool containers_operation_known(const char *name)
{
	return op_find(name) != NULL;
}

static json_t *op_data_new(const struct op_def *op, const struct container *c, bool error,
			   const char *message, enum container_status status, const char *op_id)
{
	return json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s}", "error", error, "operation",
			 op_name(op), "container_id", c->id, "project_id", c->project_id, "message",
			 message, "status", container_status_name(status), "operation_id", op_id);
}

/* Fails with code and message, and data describing the container. */
static int refuse(const struct op_def *op, const struct container *c, const char *op_id,
		  json_t **data_new, struct error *err, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static int refuse(const struct op_def *op, const struct container *c, const char *op_id,
		  json_t **data_new, struct error *err, enum err_code code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(err, code, "%s", msg);
	*data_new = op_data_new(op, c, true, msg, c->status, op_id);
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
	json_t *meta = json_pack("{s:s, s:s}", "operation", op_name(op), "operation_id", op_id);
	int rc = run_host(pf, op, c, timeout_s, err);
	if (rc < 0) {
		log_warn("container %s: %s failed: %s", c->id, op_name(op), err->msg);
		enum container_status status =
		    containers_record_truth(pf, c, op_name(op), err, meta);
		if (status == CS_NONE)
			status = c->status;
		*data_new = op_data_new(op, c, true, err->msg, status, op_id);
		json_object_set_new(meta, "error", json_string(err->msg));
		json_object_set_new(meta, "status", json_string(container_status_name(status)));
		events_container(pf, c, "container.operation.failed", meta);
		json_decref(meta);
		return -1;
	}
	struct container_transition t = {
	    .move = op->move, .from = CS_SET(c->status), .metadata = meta};
	enum container_status to = container_move_to(op->move);
	rc = op->host == HOST_START || op->host == HOST_RESTART
		 ? containers_started(pf, c, &t, err)
		 : containers_settled(pf, c, &t, err);
	if (rc == 0) {
		*data_new = op_data_new(op, c, false, op->done_msg, to, op_id);
		json_object_set_new(meta, "status", json_string(container_status_name(to)));
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
	_cleanup_container_ struct container c = {0};
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
	if (oplock_try(pf->locks, id, op_name(op), err) < 0) {
		rc =
		    refuse(op, &c, op_id, data_new, err, E_OP_IN_PROGRESS,
			   "Cannot perform %s operation. Container is currently being operated on.",
			   op_name(op));
		goto out;
	}
	/* Read again under the lock: the operation that held it may have moved it. */
	container_clear(&c);
	if (store_container_get(pf->store, id, &c, err) < 0)
		goto unlock;
	enum err_code code = container_move_check(op->move, c.status);
	if (code == E_NOOP_STATE)
		rc = refuse(op, &c, op_id, data_new, err, code, "%s", op->noop_msg);
	else if (code != E_OK)
		rc = refuse(op, &c, op_id, data_new, err, code, "Cannot %s a container that is %s",
			    op_name(op), container_status_name(c.status));
	else
		rc = operate_locked(pf, op, &c, timeout_s, op_id, data_new, err);
unlock:
	oplock_release(pf->locks, id);
out:
	return rc;
}

/* ------------------------------------------------------------ status logs */

static json_t *log_json_new(const struct status_log *l)
{
	json_t *meta = l->metadata ? json_loads(l->metadata, 0, NULL) : NULL;
	return json_pack(
	    "{s:s, s:s, s:o, s:s, s:o, s:o, s:s, s:o}", "id", l->id, "container_id",
	    l->container_id, "from_status",
	    l->from_status != CS_NONE ? json_string(container_status_name(l->from_status))
				      : json_null(),
	    "to_status", l->to_status != CS_NONE ? container_status_name(l->to_status) : "",
	    "transition_time", json_time_new(l->transition_time), "duration_ms",
	    l->duration_ms >= 0 ? json_integer(l->duration_ms) : json_null(), "triggered_by",
	    l->triggered_by ? l->triggered_by : "system", "metadata", meta ? meta : json_null());
}

int containers_status_logs(struct platform *pf, const struct principal *who, const char *id,
			   const struct status_log_query *q, json_t **data_new, struct error *err)
{
	_cleanup_container_ struct container c = {0};
	struct status_log *logs = NULL;
	size_t n = 0;
	int64_t total = 0;
	if (containers_find(pf, who, id, "containers.read", &c, err) < 0)
		return -1;
	if (c.hoody_kit)
		kit_events_ingest(pf, c.id);
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
