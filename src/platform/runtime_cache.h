/* The 2-second cache of ?runtime= answers that the seeds promise ("cached
 * for 2 seconds to prevent abuse"): reading procfs of a busy container is
 * the costly part of a get, and an agent polling in a loop must not turn it
 * into a load on the host. Process-wide, thread-safe, bounded. */
#ifndef HOODY_PLATFORM_RUNTIME_CACHE_H
#define HOODY_PLATFORM_RUNTIME_CACHE_H

#include <jansson.h>
#include <stdint.h>

#define RUNTIME_CACHE_TTL_MS 2000
#define RUNTIME_CACHE_MAX 1024 /* containers; the oldest entry makes room */

/* A new reference to id's cached document if it is younger than the TTL. */
json_t *runtime_cache_get(const char *id);
/* Stores (a reference to) doc for id. */
void runtime_cache_put(const char *id, json_t *doc);

#endif
