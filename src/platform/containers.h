/* Containers: the domain side of the Containers API (owned by the containers work). */
#ifndef HOODY_PLATFORM_CONTAINERS_H
#define HOODY_PLATFORM_CONTAINERS_H

#include <jansson.h>

#include "platform/platform.h"

/* Called once by platform_open: registers the runtime exit callback and
 * reconciles the database with the host (re-adopts running containers). */
int platform_containers_init(struct platform *pf, struct error *err);

/* Deletes (for real) every container of a project; used by project delete.
 * *deleted_new: JSON array of {id, name}. */
int containers_delete_for_project(struct platform *pf, const char *project_id,
				  json_t **deleted_new, struct error *err);

#endif
