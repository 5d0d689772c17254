/* What the container files share, inside the platform only:
 * containers_state.c (statuses, transitions, specs, the "started" step),
 * containers_jobs.c (background jobs, recovery), containers_create.c
 * (create, claim), containers.c (lookups, get, list, update, delete), the
 * pool members in prespawn.c, and the modules that start containers
 * themselves (operations.c, snapshots.c: the spec and the host status). It
 * names the runtime's types, so no edge can include it. */
#ifndef HOODY_PLATFORM_CONTAINERS_INT_H
#define HOODY_PLATFORM_CONTAINERS_INT_H

#include "platform/container_rules.h"
#include "platform/containers.h"
#include "platform/platform_int.h"

#define NAME_RETRIES 8 /* fresh random names tried when one is taken */

/* ---- containers_state.c ---- */

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

/* The status a host state means: running, paused, stopped; NULL when the
 * container is not on the host at all. */
const char *container_host_status(enum rt_state st);


/* A status_log row for a transition inside the caller's transaction. */
int containers_log_transition(struct store *st, const char *id, const char *from, const char *to,
			      const char *by, const json_t *metadata, struct error *err);
/* A transition the system makes on its own: failures are logged, not returned. */
void containers_system_transition(struct platform *pf, const char *id, const char *from,
				  const char *to, const char *reason, const char *by, json_t *meta);
/* The system's own start (jobs): containers_started from `from`, logged. */
void containers_system_started(struct platform *pf, const struct container *c, const char *from,
			       const char *by);

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

enum job_kind { JOB_CREATE, JOB_DELETE, JOB_START, JOB_EXIT, JOB_PURGE, JOB_COPY, JOB_SYNC };
/* Host work for id on the platform's job queue, under its operation lock;
 * snapshot: JOB_COPY from a snapshot of the source (NULL: its layer). */
void containers_submit_job(struct platform *pf, enum job_kind kind, const char *id, int exit_status,
			   const char *snapshot);
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
