/* A project as the modules below the projects module see it: the lookup
 * for a principal. projects.c implements it; the containers module and the
 * proxy decisions include this header and not projects.h, whose project
 * delete deletes containers (docs/ARCHITECTURE.md, "Inside the platform"). */
#ifndef HOODY_PLATFORM_PROJECT_H
#define HOODY_PLATFORM_PROJECT_H

#include "platform/platform.h"

struct project;

/* Loads a project the principal may see (owner and realms); E_NOT_FOUND
 * otherwise. No permission check: callers check their own leaf. */
int projects_get_visible(struct platform *pf, const struct principal *who, const char *id,
			 struct project *out, struct error *err);

#endif
