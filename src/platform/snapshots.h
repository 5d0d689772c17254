/* Filesystem snapshots of containers (reference §6): list, create, restore,
 * delete, alias, and the automatic removal of expired ones. Snapshots are
 * always stateless (files only). Decisions: docs/SNAPSHOTS.md. */
#ifndef HOODY_PLATFORM_SNAPSHOTS_H
#define HOODY_PLATFORM_SNAPSHOTS_H

#include <jansson.h>

#include "platform/platform.h"

struct snapshot;

#define SNAPSHOTS_MAX 100 /* per container: max_snapshots */
#define SNAPSHOT_ALIAS_MAX 100
#define SNAPSHOT_EXPIRY_MAX_DAYS 3650
#define SNAPSHOT_SWEEP_S 60 /* how often expired snapshots are looked for */

int snapshots_list(struct platform *pf, const struct principal *who, const char *container_id,
		   json_t **data_new, struct error *err);
/* Body {alias?, expiry?}; 201 data {container_id, project_id, snapshot}. */
int snapshots_create(struct platform *pf, const struct principal *who, const char *container_id,
		     const json_t *body, json_t **data_new, struct error *err);
/* Stops a running container, rolls its layer back and starts it again. */
int snapshots_restore(struct platform *pf, const struct principal *who, const char *container_id,
		      const char *name, json_t **data_new, struct error *err);
int snapshots_delete(struct platform *pf, const struct principal *who, const char *container_id,
		     const char *name, json_t **data_new, struct error *err);
/* Body {alias: string|null}. */
int snapshots_set_alias(struct platform *pf, const struct principal *who, const char *container_id,
			const char *name, const json_t *body, json_t **data_new, struct error *err);

/* The snapshot, if it is who's and who sees its realms (its container's
 * while a row of the container exists, else its own): the one realm check
 * for every path that reaches a snapshot without its container. */
int snapshots_find_visible(struct platform *pf, const struct principal *who,
			   const char *container_id, const char *name, struct snapshot *out,
			   struct error *err);
/* Snapshots of who's deleted containers: {snapshot_count, snapshots[{container_id,
 * project_id, name, ...}]}. */
int snapshots_list_orphaned(struct platform *pf, const struct principal *who, json_t **data_new,
			    struct error *err);
/* Deletes one of them; E_STATE_CONFLICT while its container exists. */
int snapshots_delete_orphaned(struct platform *pf, const struct principal *who,
			      const char *container_id, const char *name, json_t **data_new,
			      struct error *err);
/* `hoodyd purge`: removes every snapshot whose container is gone (files and
 * rows), for every user, through the runtime backend ops. */
int snapshots_purge_orphans(struct store *st, struct runtime *rt, const struct rt_ops *ops,
			    int64_t *removed, struct error *err);

/* Removes every expired snapshot (files and row); returns how many. */
int snapshots_sweep(struct platform *pf);
/* The background sweeper, started by platform_open, stopped by
 * platform_close. */
void snapshots_janitor_start(struct platform *pf);
void snapshots_janitor_stop(struct platform *pf);

#endif
