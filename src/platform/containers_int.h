/* What the container files share, inside the platform only:
 * containers_state.c (statuses, transitions, specs, the "started" step),
 * containers_jobs.c (background jobs, recovery), containers_create.c
 * (create, claim), containers.c (lookups, get, list, update, delete), and
 * the modules that start containers themselves (operations.c, snapshots.c:
 * the spec and the host status). It names the runtime's types, so no edge
 * can include it. The job queue and the status log in a transaction, which
 * the pool members in prespawn.c use too, are in container_int.h. */
#ifndef HOODY_PLATFORM_CONTAINERS_INT_H
#define HOODY_PLATFORM_CONTAINERS_INT_H

#include "platform/container_int.h"
#include "platform/container_rules.h"
#include "platform/containers.h"
#include "platform/platform_int.h"

#define NAME_RETRIES 8 /* fresh random names tried when one is taken */

/* ---- containers_state.c: after host work (the moves and transitions:
 * container_int.h) ---- */

/* The one bookkeeping step after the host did an operation on c (the
 * caller holds c's operation lock): the lock is marked finishing (a client
 * acting on the status it just read waits for the commit instead of being
 * refused, oplocks.h) and t is committed. containers_started first applies
 * the environment of c's revision, for a host start or restart with c's
 * spec. Jobs, operations and snapshot restore all end through these. */
int containers_settled(struct platform *pf, const struct container *c,
		       const struct container_transition *t, struct error *err);
int containers_started(struct platform *pf, const struct container *c,
		       const struct container_transition *t, struct error *err);

/* After a host call on c failed (the caller holds c's operation lock): the
 * row moves to what the host really has, so that the user can retry or
 * delete, with "<what> failed: <why>" as the reason of a failed one.
 * Returns that status, or CS_NONE when the host could not be read (the
 * row is left for recovery to check). Operations, snapshot restore and autostart
 * end a failure through it. */
enum container_status containers_record_truth(struct platform *pf, const struct container *c,
					      const char *what, const struct error *why,
					      json_t *meta);

/* ---- containers_state.c: specs and the "started" step ---- */

/* What the runtime needs to start c (name as hostname, image, environment,
 * ramdisk). Valid while c lives; clear it after use. */
struct container_spec {
	struct rt_spec spec;
	struct rt_env *env;
	json_t *env_json;
	char ramdisk_group[ID_LEN + 2]; /* ramdisk_scope "project" */
};
/* With the limits c gets now (platform/limits.h). */
int container_spec_init(struct platform *pf, const struct container *c, struct container_spec *out,
			struct error *err);
void container_spec_clear(struct container_spec *s);

/* The status a host state means: running, paused, stopped; CS_NONE when
 * the container is not on the host at all. */
enum container_status container_host_status(enum rt_state st);

/* A transition the system makes on its own: failures are logged, not returned. */
void containers_system_transition(struct platform *pf, const char *id,
				  const struct container_transition *t);
/* The system's own start of c (jobs: create, sync, autostart) by move m,
 * from the status c was loaded in: containers_started, logged. */
void containers_system_started(struct platform *pf, const struct container *c,
			       enum container_move m);

typedef int (*rt_spec_fn)(struct runtime *rt, const struct rt_spec *spec, struct error *err);
/* Starts c (rt_create_start or rt_start) with its current spec. */
int containers_run_spec(struct platform *pf, const struct container *c, rt_spec_fn fn,
			struct error *err);
/* A running container sees new values in /etc/environment at once; the
 * process environment follows at the next start. Caller holds the op lock. */
bool containers_push_env(struct platform *pf, struct container *row);

void containers_set_str(char **dst, const char *src);
int containers_refuse_expired(struct error *err);

/* ---- containers_jobs.c ---- */

/* Host first, then the row: a crash in between leaves a "deleting" row that
 * recovery deletes again. Caller holds the op lock. */
int containers_remove_locked(struct platform *pf, const char *id, struct error *err);
/* After the row is gone: the event, and the shared ramdisk if c was the
 * last of its project to use it. */
void containers_deleted_event(struct platform *pf, const struct container *c);

/* ---- containers_create.c ---- */

/* Setting an SSH key with an auth token needs resources.ssh_keys (reference §10). */
int containers_check_ssh_permission(const struct principal *who, const struct container_input *in,
				    struct error *err);

#endif
