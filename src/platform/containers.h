/* Containers: the domain side of the Containers API (owned by the containers work).
 *
 * Every call acts for a principal: another user's container, or one outside
 * the principal's realms, is E_CONTAINER_NOT_FOUND (never E_FORBIDDEN); a
 * token lacking the containers.* leaf is E_FORBIDDEN. Slow host work (create,
 * delete, recovery) runs as background jobs on pf->wq; the status column
 * always says what the host has or is about to have. */
#ifndef HOODY_PLATFORM_CONTAINERS_H
#define HOODY_PLATFORM_CONTAINERS_H

#include <jansson.h>
#include <stdbool.h>

#include "platform/container.h"
#include "platform/platform.h"

struct container;

/* Called once by platform_open: registers the runtime exit callback and
 * reconciles the database with the host (re-adopts running containers). */
int platform_containers_init(struct platform *pf, struct error *err);

/* Deletes (for real) every container of a project; used by project delete.
 * E_FORBIDDEN, deleting nothing, when who cannot see one of them (realms).
 * *deleted_new: JSON array of {id, name}. */
int containers_delete_for_project(struct platform *pf, const struct principal *who,
				  const char *project_id, json_t **deleted_new, struct error *err);

/* ---- the API calls ---- */

struct container_list_opts {
	struct list_query q; /* page, limit, sort, realm filter (req_list_query) */
	bool include_prespawn, include_expired, include_deleting;
	bool include_proxy_domains;
	bool include_proxy_permissions;
	const char *runtime; /* raw ?runtime value; NULL = absent */
};

struct container_get_opts {
	bool include_proxy_domains;
	bool include_proxy_permissions;
	const char *runtime; /* raw ?runtime value; NULL = absent */
};

/* POST /projects/{id}/containers: data is the new container (status
 * "creating"); it becomes "running" (or "failed", with failure_reason) in
 * the background. */
int containers_create(struct platform *pf, const struct principal *who, const char *project_id,
		      const json_t *body, json_t **data_new, struct error *err);
/* A copy (platform/copy.c): the new container starts as "copying" with
 * source_container_id set, and a background job copies the source's layer
 * (or one of its snapshots) before starting it. */
struct copy_source {
	const char *source_id;
	const char *snapshot; /* NULL: the source's current layer */
};
int containers_create_ex(struct platform *pf, const struct principal *who, const char *project_id,
			 const json_t *body, const struct copy_source *src, json_t **data_new,
			 struct error *err);
/* POST /containers/{id}/sync: E_NOT_COPIED unless the container is a copy,
 * E_SOURCE_NOT_FOUND when its source is gone; the copy turns "copying" and
 * a job replaces its layer with the source's and starts it again. */
int containers_sync(struct platform *pf, const struct principal *who, const char *id,
		    json_t **data_new, struct error *err);

/* project_id NULL: every project of the user. data {containers, pagination}. */
int containers_list(struct platform *pf, const struct principal *who, const char *project_id,
		    const struct container_list_opts *o, json_t **data_new, struct error *err);
int containers_get(struct platform *pf, const struct principal *who, const char *id,
		   const struct container_get_opts *o, json_t **data_new, struct error *err);
/* PUT/PATCH: same semantics (every field optional). */
int containers_update(struct platform *pf, const struct principal *who, const char *id,
		      const json_t *body, json_t **data_new, struct error *err);
/* Marks the container "deleting" and removes it in the background. */
int containers_delete(struct platform *pf, const struct principal *who, const char *id,
		      struct error *err);

/* PUT|PATCH /containers/{id}/kvm, body {kvm|dev_kvm|enabled: bool} (absent =
 * enable). This server offers no /dev/kvm: enabling is E_FORBIDDEN, like
 * create's kvm; disabling succeeds with {container_id, project_id, kvm}. */
int containers_set_kvm(struct platform *pf, const struct principal *who, const char *id,
		       const json_t *body, json_t **data_new, struct error *err);

/* ?runtime= : "true", "false" or a JSON object selector such as
 * {"displays":true} ({} = everything; keys displays, services,
 * network_services, terminals, processes). *mask is 0 when runtime_info is
 * not wanted. E_VALIDATION otherwise. */
int containers_runtime_param(const char *value, unsigned *mask, struct error *err);

/* ---- for the other container modules (operations, env, copy); the lookups
 * are in container.h, the transitions in container_int.h ---- */

/* After c was started with its current spec: writes /etc/environment (an
 * empty environment leaves the image's file alone) and records the revision
 * as applied. Failures are logged: the container runs either way. */
void containers_env_after_start(struct platform *pf, const struct container *c);

/* Edits the environment of a container under its operation lock: edit gets
 * the current variables (an object it may change) and returns -1 with err
 * to refuse. A running container sees the result in /etc/environment at
 * once. *row_out (may be NULL) receives the updated row; *pushed whether a
 * running container got the new values. containers.update permission. */
typedef int (*env_edit_fn)(json_t *env, void *arg, struct error *err);
int containers_env_edit(struct platform *pf, const struct principal *who, const char *id,
			env_edit_fn edit, void *arg, struct container *row_out, bool *pushed,
			struct error *err);

/* Records that the environment of revision rev reached the host (after a
 * start with the current spec, or rt_set_env). */
int containers_env_applied(struct platform *pf, const char *id, int64_t rev, struct error *err);

#endif
