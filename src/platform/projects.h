/* Projects (a user's folders of containers) and the realms list derived from
 * the user's resources. Every call acts for a principal: another user's
 * project, or one outside the principal's realms, is E_NOT_FOUND (never
 * E_FORBIDDEN), and a token lacking the projects.* leaf is E_FORBIDDEN. */
#ifndef HOODY_PLATFORM_PROJECTS_H
#define HOODY_PLATFORM_PROJECTS_H

#include <jansson.h>
#include <stdbool.h>

#include "platform/platform.h"
#include "platform/project.h"

#define PROJECT_ALIAS_MAX 100

/* The wire object {id, user_id, alias, color, max_containers, realm_ids,
 * is_default, container_count, created_at, updated_at}. */
json_t *project_json_new(const struct project *p, int64_t container_count);

/* Body {alias*, color?, max_containers?, realm_ids?}; unknown fields are
 * E_VALIDATION, a taken alias E_CONFLICT. */
int projects_create(struct platform *pf, const struct principal *who, const json_t *body,
		    json_t **project_new, struct error *err);
/* q from req_list_query (sort by id|alias|created_at|updated_at, realm_id):
 * data {projects: [...], pagination}. */
int projects_list(struct platform *pf, const struct principal *who, const struct list_query *q,
		  json_t **data_new, struct error *err);
int projects_get(struct platform *pf, const struct principal *who, const char *id,
		 json_t **project_new, struct error *err);
/* partial=false (PUT): alias is required; partial=true (PATCH): every field
 * optional. Same fields as create. */
int projects_update(struct platform *pf, const struct principal *who, const char *id,
		    const json_t *body, bool partial, json_t **project_new, struct error *err);
/* Deletes the project's containers for real, then the project. Slow: run it
 * off the HTTP threads. data {deleted: {containers, permissions, aliases},
 * deleted_items?: {containers: [{id, name}]}}. */
int projects_delete(struct platform *pf, const struct principal *who, const char *id,
		    bool include_items, json_t **data_new, struct error *err);

/* The user's default project ("default", is_default true), created when
 * missing (signup / first use). */
int projects_ensure_default(struct platform *pf, const char *user_id, struct project *out,
			    struct error *err);

/* GET /realms: data {realm_ids, total[, usage: {<realm>: {projects,
 * containers, servers, auth_tokens}}]} — the de-duplicated union of the realm
 * ids on the caller's projects, containers and tokens it may see. Needs
 * resources.realms for tokens. */
int realms_list(struct platform *pf, const struct principal *who, bool include_usage,
		json_t **data_new, struct error *err);

#endif
