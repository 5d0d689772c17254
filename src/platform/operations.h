/* Container operations (start, stop, force-stop, restart, pause, resume) and
 * their history (status logs). The state machine: docs/OPERATIONS.md.
 *
 * An operation runs on the calling thread (the API runs it deferred, on a
 * worker) under the container's operation lock: a second operation on the
 * same container is refused at once, operations on different containers run
 * in parallel. */
#ifndef HOODY_PLATFORM_OPERATIONS_H
#define HOODY_PLATFORM_OPERATIONS_H

#include <jansson.h>
#include <stdbool.h>

#include "platform/platform.h"

#define OP_TIMEOUT_DEFAULT_S 10 /* stop grace period when the body names none */
#define OP_TIMEOUT_MAX_S 600

/* POST /containers/{id}/{operation}, body NULL or {"timeout": 1..600}.
 * *data_new is set on success and on refusals that concern the container's
 * state ({error, operation, container_id, project_id, message, status,
 * operation_id}): E_NOOP_STATE (nothing to do), E_STATE_CONFLICT (not
 * allowed from the current state), E_OP_IN_PROGRESS, E_RUNTIME/E_TIMEOUT
 * (the host failed; status is then what the host really is). */
int containers_operate(struct platform *pf, const struct principal *who, const char *id,
		       const char *operation, const json_t *body, json_t **data_new,
		       struct error *err);

/* Whether name is one of the operations above. */
bool containers_operation_known(const char *name);

struct status_log_query {
	const char *sort_by; /* transition_time|created_at|to_status|from_status */
	bool desc;
	int64_t page, limit;
};

/* GET /containers/{id}/status-logs: {logs: [...], pagination}. */
int containers_status_logs(struct platform *pf, const struct principal *who, const char *id,
			   const struct status_log_query *q, json_t **data_new, struct error *err);

#endif
