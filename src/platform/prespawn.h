/* Prespawn pools (reference §12): ready, running containers kept per
 * (server, image, hoody_kit, dev_kit), claimed by creates that match, and
 * refilled in the background. Decisions: docs/PRESPAWN.md. */
#ifndef HOODY_PLATFORM_PRESPAWN_H
#define HOODY_PLATFORM_PRESPAWN_H

#include <jansson.h>
#include <stdbool.h>

#include "platform/platform.h"

#define PRESPAWN_POOLS_MAX 32
#define PRESPAWN_TARGET_MAX 1000
#define PRESPAWN_PARALLEL 2 /* pool members created at once: user creates go first */
#define PRESPAWN_TICK_MS 500
#define PRESPAWN_KEY_MAX 200

/* Parses the pools of the config ("busybox=2,debian/13+kit=1"), restores
 * the ones an admin set (they win) and starts the filler. */
int prespawn_start(struct platform *pf, struct error *err);
void prespawn_stop(struct platform *pf);

/* The pool key of a create; false when no pool with a target above 0
 * exists for it. */
bool prespawn_pool_for(struct platform *pf, const char *image, bool hoody_kit, bool dev_kit,
		       char key[PRESPAWN_KEY_MAX]);
/* Wakes the filler (after a claim). */
void prespawn_kick(struct platform *pf);

/* Admin: GET -> {pools: [{image, hoody_kit, dev_kit, target, ready, creating}]};
 * PUT body {pools: [{image, hoody_kit?, dev_kit?, target}]} replaces them. */
int prespawn_get(struct platform *pf, const struct principal *who, json_t **data_new,
		 struct error *err);
int prespawn_put(struct platform *pf, const struct principal *who, const json_t *body,
		 json_t **data_new, struct error *err);

#endif
