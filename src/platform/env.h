/* /containers/{id}/env: the environment variables of one container, read and
 * changed one by one or in bulk. Keys follow the create rules; the HOODY_
 * prefix is reserved for the platform (E_RESERVED_ENV_PREFIX), a malformed
 * key is E_INVALID_ENV_KEY. Every answer is
 * {container_id, environment_vars, synced, env_sync}: synced says whether the
 * running container already sees these values (/etc/environment and every
 * later exec); a stopped one gets them at its next start. */
#ifndef HOODY_PLATFORM_ENV_H
#define HOODY_PLATFORM_ENV_H

#include <jansson.h>

#include "platform/platform.h"

#define ENV_RESERVED_PREFIX "HOODY_"

int containers_env_get(struct platform *pf, const struct principal *who, const char *id,
		       json_t **data_new, struct error *err);
/* PUT /env: body {KEY: "value", ...}, merged into the current set. */
int containers_env_put_all(struct platform *pf, const struct principal *who, const char *id,
			   const json_t *body, json_t **data_new, struct error *err);
/* PUT /env/{key}: body {"value": "..."}. */
int containers_env_put_key(struct platform *pf, const struct principal *who, const char *id,
			   const char *key, const json_t *body, json_t **data_new,
			   struct error *err);
/* DELETE /env/{key}: idempotent. */
int containers_env_delete_key(struct platform *pf, const struct principal *who, const char *id,
			      const char *key, json_t **data_new, struct error *err);

#endif
