/* Live resource statistics of containers, read from the host (cgroups,
 * procfs, the container's network namespace) at each call, in the shape of
 * reference section 8. The API runs these deferred: they read the host. */
#ifndef HOODY_PLATFORM_STATS_H
#define HOODY_PLATFORM_STATS_H

#include <jansson.h>

#include "platform/platform.h"

/* GET /containers/{id}/stats. containers.read permission. */
int containers_stats(struct platform *pf, const struct principal *who, const char *id,
		     json_t **data_new, struct error *err);
/* GET /projects/{id}/stats: {stats: [...], summary}. */
int projects_stats(struct platform *pf, const struct principal *who, const char *project_id,
		   json_t **data_new, struct error *err);

#endif
