/* The containers module's own calls that other platform modules make
 * inside the platform only (the pool members of prespawn.c): a status-log
 * row inside a transaction and the job queue. Implemented by containers*.c
 * (container.h says why it is apart). */
#ifndef HOODY_PLATFORM_CONTAINER_INT_H
#define HOODY_PLATFORM_CONTAINER_INT_H

#include "platform/container.h"
#include "platform/platform_int.h"

/* Every way a container's status changes: the user's operations and
 * actions, then the platform's own jobs. One table, container_moves, says
 * from which statuses each acts and where it leads; containers_transition
 * refuses anything else, the operations and jobs take their guards from it,
 * and docs/CONTAINERS.md "States" is the same table (unit/test_transitions
 * renders it and compares). */
enum container_move {
	MOVE_START,
	MOVE_STOP,
	MOVE_FORCE_STOP,
	MOVE_RESTART,
	MOVE_PAUSE,
	MOVE_RESUME,
	MOVE_CREATE,
	MOVE_COPY,
	MOVE_CLAIM,
	MOVE_SYNC,
	MOVE_DELETE,
	MOVE_PROJECT_DELETE,
	MOVE_RESTORE_STOP,
	MOVE_RESTORE_START,
	MOVE_CREATED,
	MOVE_CREATE_FAILED,
	MOVE_SYNCED,
	MOVE_SYNC_FAILED,
	MOVE_REMOVED,
	MOVE_DELETE_FAILED,
	MOVE_AUTOSTART,
	MOVE_EXITED,
	MOVE_HOST_TRUTH,
	MOVE_RECOVER,
	MOVE_RECOVER_INTERRUPTED,
	MOVE_POOL_MEMBER,
	MOVE_POOL_TRIM,
	MOVE_COUNT
};

struct container_move_def {
	const char *name;
	const char *by;		       /* triggered_by of its status log */
	container_status_set from;     /* acts on these; CS_SET(CS_NONE): makes a new row */
	container_status_set noop;     /* nothing to do here: E_NOOP_STATE (400), not a conflict */
	container_status_set to;       /* one status, or several when the host decides;
					* CS_SET(CS_NONE): the row is removed */
	enum container_status desired; /* recorded as what the user wants; CS_NONE: unchanged */
	bool relog;		       /* logged (started_at restamped) even to the same status */
};
extern const struct container_move_def container_moves[MOVE_COUNT];

/* E_OK when m acts on a container in status s; E_NOOP_STATE when there is
 * nothing to do; E_STATE_CONFLICT otherwise. */
enum err_code container_move_check(enum container_move m, enum container_status s);
/* Where m leads when that is one status; CS_NONE when the host decides. */
enum container_status container_move_to(enum container_move m);

/* A status change with its status_log row and event, in one transaction:
 * the row must be in the move's from set, narrowed by `from` (a status the
 * caller read, 0 = the move's set), else E_STATE_CONFLICT. to: the host's
 * choice for a move that has several, CS_NONE for the move's one. Sets
 * started_at when entering running and keeps it after (the last start);
 * failure_reason is kept only for failed. out (may be NULL) receives the
 * updated row. */
struct container_transition {
	enum container_move move;
	container_status_set from;
	enum container_status to;
	const char *reason; /* failure_reason, or NULL */
	json_t *metadata;   /* borrowed, may be NULL */
};
int containers_transition(struct platform *pf, const char *id, const struct container_transition *t,
			  struct container *out, struct error *err);

/* A status_log row for a transition inside the caller's transaction. */
int containers_log_transition(struct store *st, const char *id, enum container_status from,
			      enum container_status to, const char *by, const json_t *metadata,
			      struct error *err);

enum job_kind { JOB_CREATE, JOB_DELETE, JOB_START, JOB_EXIT, JOB_PURGE, JOB_COPY, JOB_SYNC };
/* Host work for id on the platform's job queue, under its operation lock;
 * snapshot: JOB_COPY from a snapshot of the source (NULL: its layer). */
void containers_submit_job(struct platform *pf, enum job_kind kind, const char *id, int exit_status,
			   const char *snapshot);

#endif
