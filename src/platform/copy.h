/* POST /containers/{id}/copy (reference §7.1): a new container in a target
 * project from the source's current files or from one of its snapshots
 * (which also works after the source was deleted). Decisions:
 * docs/COPY.md. */
#ifndef HOODY_PLATFORM_COPY_H
#define HOODY_PLATFORM_COPY_H

#include <jansson.h>

#include "platform/platform.h"

int containers_copy(struct platform *pf, const struct principal *who, const char *source_id,
		    const json_t *body, json_t **data_new, struct error *err);

#endif
